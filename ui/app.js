// SPDX-License-Identifier: MIT
// The airhook console: a small router over the admin and public APIs.
// Every piece of data goes into the page as text (textContent, DOM nodes),
// never as HTML; the server's Content-Security-Policy allows no inline
// script or style.  The session cookie is HttpOnly: this code never sees
// it, only the CSRF token GET /ui/api/session answers, which it sends with
// every request that changes something.

import { overviewPage } from './page-overview.js';
import { deliveriesPage } from './page-deliveries.js';
import { airmeetsPage } from './page-airmeets.js';
import { webhooksPage } from './page-webhooks.js';
import { portalDeliveriesPage } from './page-portal-deliveries.js';
import { verifyPage } from './page-verify.js';
import { livePage } from './page-live.js';
import { h, when, copyButton, confirmDialog, table, pager, statusBadge } from './kit.js';

const main = document.getElementById('main');
const nav = document.getElementById('nav');
const who = document.getElementById('who');
let session = null; // GET /ui/api/session's answer, or null when signed out

// ---- DOM helpers: text only (h, when and the rest are in kit.js) ----

let ids = 0;
// A labelled input: the label is visible and names the control.
function field(label, attrs) {
  const id = 'f' + (++ids);
  const input = h(attrs.tag || 'input', { id, ...attrs, tag: null });
  return { el: h('div', { class: 'field' }, h('label', { for: id }, label), input), input };
}

// The page's content: nodes or text; null, undefined and false are left
// out (as h() does), so an absent optional part shows nothing, not "null".
function show(...nodes) {
  main.replaceChildren(...nodes.filter((n) => n !== null && n !== undefined && n !== false));
}

// ---- the APIs ----

class ApiError extends Error {
  constructor(status, message) {
    super(message);
    this.status = status;
  }
}

// A sentence for an error answer: the API's message, never its raw JSON.
function readable(status, body) {
  const msg = body && (body.message || body.statusMessage || body.error);
  if (msg) return String(msg);
  if (status === 0) return 'The server did not answer. Is airhook running?';
  return `The server answered ${status}.`;
}

async function api(method, path, body) {
  const headers = { Accept: 'application/json' };
  if (body !== undefined) headers['Content-Type'] = 'application/json';
  if (method !== 'GET' && session) headers['X-CSRF-Token'] = session.csrfToken;
  let res;
  try {
    res = await fetch(path, {
      method, headers, credentials: 'same-origin',
      body: body === undefined ? undefined : JSON.stringify(body),
    });
  } catch (e) {
    throw new ApiError(0, readable(0));
  }
  let data = null;
  if (res.status !== 204) {
    try { data = await res.json(); } catch (e) { data = null; }
  }
  if (!res.ok) {
    if (res.status === 401 && session && path !== '/ui/api/session') {
      session = null;
      go('/ui/', { message: readable(res.status, data) });
    }
    throw new ApiError(res.status, readable(res.status, data));
  }
  return data;
}

const admin = (method, path, body) => api(method, '/admin/v1' + path, body);
const pub = (method, path, body) => api(method, session.basePath + path, body);

function errorBox(e) {
  return h('p', { class: 'error', role: 'alert' }, e instanceof ApiError ? e.message : String(e));
}

// A create form's submit: the status cleared, the `missing` sentence when
// the required text is blank, else create(text), whose error shows instead.
function onCreate(form, input, status, missing, create) {
  form.addEventListener('submit', async (ev) => {
    ev.preventDefault();
    status.replaceChildren();
    const text = input.value.trim();
    if (!text) {
      status.append(h('p', { class: 'error', role: 'alert' }, missing));
      return;
    }
    try { await create(text); } catch (e) { status.append(errorBox(e)); }
  });
}

// What a page in a module of its own (ui/page-*.js) gets: the helpers above
// and the current session, so that each page can live in its own file.
function ctx() {
  return { h, field, show, when, admin, pub, errorBox, onCreate, go, ApiError, session };
}

// ---- the router ----

const operatorPages = [
  ['/ui/overview', 'Overview', overviewPage],
  ['/ui/communities', 'Communities', communitiesPage],
  ['/ui/airmeets', 'Airmeets', airmeetsPage],
  ['/ui/webhooks', 'Webhooks', operatorWebhooksPage],
  ['/ui/events', 'Events', eventsPage],
  ['/ui/deliveries', 'Deliveries', deliveriesPage],
  ['/ui/live', 'Live', livePage],
];
const integratorPages = [
  ['/ui/triggers', 'Triggers', triggersPage],
  ['/ui/webhooks', 'Webhooks', webhooksPage],
  ['/ui/deliveries', 'Deliveries', portalDeliveriesPage],
  ['/ui/verify', 'Verify signatures', verifyPage],
  ['/ui/live', 'Live', livePage],
];

function pages() {
  return !session ? [] : session.role === 'operator' ? operatorPages : integratorPages;
}

function go(path, state) {
  history.pushState(state || null, '', path);
  route();
}

document.addEventListener('click', (ev) => {
  const a = ev.target.closest && ev.target.closest('a[href^="/ui/"]');
  if (!a || ev.defaultPrevented || ev.button !== 0 || ev.metaKey || ev.ctrlKey || ev.shiftKey) return;
  ev.preventDefault();
  go(a.getAttribute('href'));
});
window.addEventListener('popstate', () => route());

function renderChrome(path) {
  const list = h('ul');
  for (const [href, label] of pages()) {
    const current = path === href || path.startsWith(href + '/');
    list.append(h('li', {}, h('a', { href, 'aria-current': current ? 'page' : null }, label)));
  }
  nav.replaceChildren(pages().length ? list : '');
  if (!session) {
    who.replaceChildren();
    return;
  }
  const label = session.role === 'operator'
    ? 'Operator'
    : `Integrator · ${session.communityName || session.communityId}${session.readOnly ? ' (read-only)' : ''}`;
  who.replaceChildren(
    h('span', { class: 'muted' }, label),
    h('button', { class: 'secondary', type: 'button', onclick: signOut }, 'Sign out'));
}

async function route() {
  let path = location.pathname.replace(/\/+$/, '') || '/ui';
  if (path === '/ui/portal') return portalSignIn();
  if (!session) {
    try { session = await api('GET', '/ui/api/session'); } catch (e) { session = null; }
  }
  if (!session) {
    renderChrome(path);
    return signInPage(history.state && history.state.message);
  }
  const list = pages();
  let page = list.find(([href]) => path === href || path.startsWith(href + '/'));
  if (!page) {
    page = list[session.role === 'operator' ? 1 : 0];
    history.replaceState(null, '', page[0]);
    path = page[0];
  }
  renderChrome(path);
  document.title = `${page[1]} · airhook console`;
  show(h('p', { class: 'muted' }, 'Loading…'));
  try {
    await page[2](path, ctx());
  } catch (e) {
    if (!session) return; // signed out meanwhile (a 401): the sign-in page says why
    show(h('h1', {}, page[1]), errorBox(e));
  }
  main.focus();
}

// ---- signing in and out ----

function signInPage(message) {
  document.title = 'Sign in · airhook console';
  const err = h('div', { 'aria-live': 'polite' });
  if (message) err.append(h('p', { class: 'error', role: 'alert' }, message));
  const kind = h('fieldset', {}, h('legend', {}, 'I am'),
    h('div', { class: 'choices' },
      h('label', {}, h('input', { type: 'radio', name: 'kind', value: 'operator', checked: true }), 'the operator of this server'),
      h('label', {}, h('input', { type: 'radio', name: 'kind', value: 'integrator' }), 'an integrator with a key pair')));
  const token = field('Admin token', { type: 'password', name: 'adminToken', autocomplete: 'current-password', required: true });
  const ak = field('Access key', { type: 'text', name: 'accessKey', autocomplete: 'username', spellcheck: 'false' });
  const sk = field('Secret key', { type: 'password', name: 'secretKey', autocomplete: 'current-password' });
  const opBox = h('div', { class: 'stack' }, token.el,
    h('p', { class: 'hint' },
      'Use the admin token that ', h('code', {}, 'make run'), ' or ', h('code', {}, 'airhook serve'),
      ' printed when it started (the line “admin token: …”), or the value of ',
      h('code', {}, 'AIRHOOK_ADMIN_TOKEN'), ' / ', h('code', {}, '--admin-token'),
      ' if you chose your own. With ', h('code', {}, 'make run'), ' it is ', h('code', {}, 'dev-admin-token'), '.'));
  const inBox = h('div', { class: 'stack', hidden: true }, ak.el, sk.el,
    h('p', { class: 'hint' },
      'Use the access key and secret key your operator issued for your community (with ',
      h('code', {}, 'make run'), ': the “demo access key” and “demo secret key” it printed). ',
      'Got a portal link instead? Just open it: it signs you in.'));
  const button = h('button', { type: 'submit' }, 'Sign in');
  const form = h('form', { class: 'stack', novalidate: true }, kind, opBox, inBox, button);
  const kindOf = () => form.querySelector('input[name=kind]:checked').value;
  kind.addEventListener('change', () => {
    const op = kindOf() === 'operator';
    opBox.hidden = !op;
    inBox.hidden = op;
    token.input.required = op;
    ak.input.required = sk.input.required = !op;
  });
  form.addEventListener('submit', async (ev) => {
    ev.preventDefault();
    err.replaceChildren();
    const op = kindOf() === 'operator';
    const body = op
      ? { adminToken: token.input.value.trim() }
      : { accessKey: ak.input.value.trim(), secretKey: sk.input.value.trim() };
    if (op ? !body.adminToken : !body.accessKey || !body.secretKey) {
      err.append(h('p', { class: 'error', role: 'alert' },
        op ? 'Enter the admin token.' : 'Enter both the access key and the secret key.'));
      return;
    }
    button.disabled = true;
    try {
      session = await api('POST', '/ui/api/session', body);
      go('/ui/');
    } catch (e) {
      err.append(errorBox(e));
      (op ? token.input : ak.input).focus();
    } finally {
      button.disabled = false;
    }
  });
  show(h('section', { class: 'signin panel', 'aria-labelledby': 'signin-title' },
    h('h1', { id: 'signin-title' }, 'Sign in to the airhook console'),
    h('p', {}, 'Operators manage communities, key pairs and deliveries. Integrators see their own community: its triggers, webhooks and deliveries.'),
    err, form));
}

async function portalSignIn() {
  const token = new URLSearchParams(location.hash.slice(1)).get('token');
  // The token leaves the address bar (and the history) at once.
  history.replaceState(null, '', '/ui/portal');
  if (!token) return signInPage('This portal link has no token in it. Ask your operator for a new one.');
  try {
    session = await api('POST', '/ui/api/session', { portalToken: token });
    history.replaceState(null, '', '/ui/');
    route();
  } catch (e) {
    session = null;
    renderChrome('/ui/portal');
    signInPage(e.message);
  }
}

async function signOut() {
  try { await api('DELETE', '/ui/api/session'); } catch (e) { /* ended already */ }
  session = null;
  go('/ui/', { message: null });
}

// ---- pages ----

// Communities: a page of them, a create form, and one community's key pairs and portal links.
async function communitiesPage(path) {
  const rest = path.slice('/ui/communities'.length).replace(/^\//, '');
  if (rest) return communityPage(decodeURIComponent(rest));
  const status = h('div', { 'aria-live': 'polite' });
  const name = field('Community name', { type: 'text', name: 'name', required: true, maxlength: 255 });
  const create = h('form', { class: 'inline', 'aria-label': 'Create a community' }, name.el,
    h('button', { type: 'submit' }, 'Create community'));
  const listBox = h('div');
  const cursors = [''];
  async function load(i) {
    const cursor = cursors[i];
    const page = await admin('GET', `/communities?limit=20${cursor ? '&cursor=' + encodeURIComponent(cursor) : ''}`);
    if (!page.communities.length && i === 0) {
      listBox.replaceChildren(h('p', { class: 'muted' }, 'No communities yet. Create the first one above: each integrator works within one.'));
      return;
    }
    const rows = page.communities.map((c) => h('tr', {},
      h('td', {}, h('a', { href: `/ui/communities/${encodeURIComponent(c.id)}` }, c.name)),
      h('td', { class: 'mono wrap optional' }, c.id),
      h('td', { class: 'optional' }, when(c.createdAt))));
    listBox.replaceChildren(table(`Page ${i + 1}`, ['Name', 'Id', 'Created'], rows, [1, 2]), pager(cursors, i, page.nextCursor, load));
  }
  onCreate(create, name.input, status, 'Enter a name for the community.', async (text) => {
    const c = await admin('POST', '/communities', { name: text });
    name.input.value = '';
    status.append(h('p', { class: 'notice', role: 'status' }, `Created community “${c.name}”.`));
    await load(0);
  });
  show(h('h1', {}, 'Communities'), create, status, listBox);
  await load(0);
}

async function communityPage(id) {
  const c = await admin('GET', `/communities/${encodeURIComponent(id)}`);
  const status = h('div', { 'aria-live': 'polite' });
  const label = field('Key pair label', { type: 'text', name: 'label', required: true, maxlength: 255, placeholder: 'e.g. production CRM sync' });
  const issue = h('form', { class: 'inline', 'aria-label': 'Issue a key pair' }, label.el, h('button', { type: 'submit' }, 'Issue key pair'));
  const keysBox = h('div');
  const linkStatus = h('div', { 'aria-live': 'polite' });
  const linksBox = h('div');
  const expires = field('Link expires in', { tag: 'select', name: 'expiresIn' });
  for (const [v, t] of [['24h', '1 day'], ['7d', '7 days'], ['30d', '30 days']]) expires.input.append(h('option', { value: v }, t));
  expires.input.value = '7d';
  const ro = h('input', { type: 'checkbox', id: 'ro-' + c.id, name: 'readOnly' });
  const linkForm = h('form', { class: 'inline', 'aria-label': 'Create a portal link' }, expires.el,
    h('div', { class: 'check' }, ro, h('label', { for: 'ro-' + c.id }, 'Read-only')),
    h('button', { type: 'submit' }, 'Create portal link'));

  const cursors = [''];
  async function loadKeys(i) {
    const cur = cursors[i];
    const page = await admin('GET', `/communities/${encodeURIComponent(c.id)}/access-keys?limit=20${cur ? '&cursor=' + encodeURIComponent(cur) : ''}`);
    if (!page.accessKeys.length && i === 0) {
      keysBox.replaceChildren(h('p', { class: 'muted' }, 'No key pairs yet. Issue one above and give it to the community\'s integrator.'));
      return;
    }
    const rows = page.accessKeys.map((k) => {
      const revoke = k.isActive
        ? h('button', { class: 'danger', type: 'button', 'aria-label': `Revoke key pair ${k.label}` }, 'Revoke')
        : null;
      if (revoke) revoke.addEventListener('click', async () => {
        if (!await confirmDialog(`Revoke the key pair “${k.label}”? Programs and console sessions using it stop working at once.`, 'Revoke key pair')) return;
        try {
          await admin('DELETE', `/access-keys/${encodeURIComponent(k.id)}`);
          status.replaceChildren(h('p', { class: 'notice', role: 'status' }, `Revoked “${k.label}”.`));
          await loadKeys(i);
        } catch (e) { status.replaceChildren(errorBox(e)); }
      });
      return h('tr', {}, h('td', {}, k.label), h('td', { class: 'mono wrap' }, k.accessKey),
        h('td', {}, statusBadge(k.isActive ? 'active' : 'revoked')),
        h('td', { class: 'optional' }, when(k.createdAt)), h('td', {}, revoke));
    });
    keysBox.replaceChildren(table(null, ['Label', 'Access key', 'State', 'Created', h('span', { class: 'muted' }, 'Action')], rows, [3]),
      pager(cursors, i, page.nextCursor, loadKeys));
  }
  async function loadLinks() {
    const { portalLinks } = await admin('GET', `/communities/${encodeURIComponent(c.id)}/portal-links`);
    if (!portalLinks.length) {
      linksBox.replaceChildren(h('p', { class: 'muted' }, 'No portal links. A link signs an integrator into this community without a key pair.'));
      return;
    }
    linksBox.replaceChildren(table(null, ['Created', 'Expires', 'Access', 'State', h('span', { class: 'muted' }, 'Action')],
      portalLinks.map((l) => {
        const b = l.isActive ? h('button', { class: 'danger', type: 'button', 'aria-label': `Revoke portal link created ${when(l.createdAt)}` }, 'Revoke') : null;
        if (b) b.addEventListener('click', async () => {
          if (!await confirmDialog('Revoke this portal link? Whoever uses it is signed out at their next click.', 'Revoke link')) return;
          try { await admin('DELETE', `/portal-links/${encodeURIComponent(l.id)}`); await loadLinks(); } catch (e) { linkStatus.replaceChildren(errorBox(e)); }
        });
        return h('tr', {}, h('td', {}, when(l.createdAt)), h('td', {}, when(l.expiresAt)), h('td', {}, l.readOnly ? 'read-only' : 'full'),
          h('td', {}, statusBadge(l.isActive ? 'active' : l.revokedAt ? 'revoked' : 'expired')), h('td', {}, b));
      })));
  }
  onCreate(issue, label.input, status, 'Enter a label that says who or what will use the key pair.', async (text) => {
    const k = await admin('POST', `/communities/${encodeURIComponent(c.id)}/access-keys`, { label: text });
    label.input.value = '';
    status.append(h('div', { class: 'warning', role: 'status' },
      h('h2', {}, `Key pair “${k.label}” issued`),
      h('p', {}, h('strong', {}, 'Copy the secret key now: it is shown only this once.'), ' airhook keeps only its hash; if it is lost, revoke this pair and issue another.'),
      h('div', { class: 'secret' }, h('span', {}, 'Access key'), h('code', { 'data-testid': 'access-key' }, k.accessKey), copyButton(k.accessKey, 'access key')),
      h('div', { class: 'secret' }, h('span', {}, 'Secret key'), h('code', { 'data-testid': 'secret-key' }, k.secretKey), copyButton(k.secretKey, 'secret key'))));
    await loadKeys(0);
  });
  linkForm.addEventListener('submit', async (ev) => {
    ev.preventDefault();
    linkStatus.replaceChildren();
    try {
      const l = await admin('POST', `/communities/${encodeURIComponent(c.id)}/portal-links`, { expiresIn: expires.input.value, readOnly: ro.checked });
      linkStatus.append(h('div', { class: 'warning', role: 'status' },
        h('p', {}, h('strong', {}, 'Copy the link now: it is shown only this once.'), ` It signs its holder into “${c.name}” until ${when(l.expiresAt)}.`),
        h('div', { class: 'secret' }, h('code', { 'data-testid': 'portal-url' }, l.url), copyButton(l.url, 'link'))));
      await loadLinks();
    } catch (e) { linkStatus.append(errorBox(e)); }
  });
  show(h('p', {}, h('a', { href: '/ui/communities' }, '← All communities')),
    h('h1', {}, c.name),
    h('p', { class: 'muted mono wrap' }, `Id ${c.id} · ${c.activeWebhooks ?? 0} active webhooks`),
    h('p', {}, h('a', { href: `/ui/airmeets?communityId=${encodeURIComponent(c.id)}` }, 'Airmeets and sessions')),
    h('h2', {}, 'Key pairs'), issue, status, keysBox,
    h('h2', {}, 'Portal links'), linkForm, linkStatus, linksBox);
  await Promise.all([loadKeys(0), loadLinks()]);
}

// The integrator's catalog: each trigger with when it fires, its scope rules and a sample.
async function triggersPage() {
  const { triggers } = await pub('GET', '/airhook/v1/triggers');
  const scope = (s) => (s === 'required' ? 'required' : s === 'optional' ? 'optional' : 'not used');
  show(h('h1', {}, 'Triggers'),
    h('p', { class: 'muted' }, `The events your webhooks can subscribe to in ${session.communityName || 'your community'}. Each delivery's body looks like the sample.`),
    triggers.length
      ? h('div', {}, triggers.map((t) => h('section', { class: 'panel', 'aria-label': t.id },
        h('h2', { class: 'mono' }, t.id),
        h('p', {}, t.description),
        h('p', { class: 'muted' }, `airmeetId: ${scope(t.airmeetId)} · sessionId: ${scope(t.sessionId)}`),
        session.readOnly ? null : h('p', {}, h('a', { href: `/ui/webhooks?trigger=${encodeURIComponent(t.id)}` }, `Register a webhook for ${t.id}`)),
        h('details', {}, h('summary', {}, 'Sample payload'), h('pre', {}, JSON.stringify(t.samplePayload, null, 2))))))
      : h('p', { class: 'muted' }, 'This server offers no triggers yet. Ask your operator.'));
}

// The operator's webhooks across communities: filters, a page at a time,
// enable / disable, and delete (deregister) with a confirmation.
async function operatorWebhooksPage() {
  const status = h('div', { 'aria-live': 'polite' });
  const listBox = h('div');
  const community = field('Community id', { type: 'text', name: 'communityId', spellcheck: 'false', placeholder: 'any' });
  const trig = field('Trigger', { type: 'text', name: 'triggerMetaInfoId', spellcheck: 'false', placeholder: 'any' });
  const state = field('State', { tag: 'select', name: 'status' });
  for (const [v, t] of [['', 'any'], ['active', 'active'], ['disabled', 'disabled'], ['deregistered', 'deregistered']]) state.input.append(h('option', { value: v }, t));
  const url = field('URL contains', { type: 'text', name: 'url', spellcheck: 'false' });
  const filters = h('form', { class: 'inline', 'aria-label': 'Filter webhooks' }, community.el, trig.el, state.el, url.el,
    h('button', { type: 'submit' }, 'Apply filters'));
  let cursors = [''];
  function query(cursor) {
    const q = new URLSearchParams({ limit: '20' });
    if (community.input.value.trim()) q.set('communityId', community.input.value.trim());
    if (trig.input.value.trim()) q.set('triggerMetaInfoId', trig.input.value.trim());
    if (state.input.value) q.set('status', state.input.value);
    if (url.input.value) q.set('url', url.input.value);
    if (cursor) q.set('cursor', cursor);
    return q.toString();
  }
  async function act(w, what, method, path) {
    try {
      await admin(method, path);
      status.replaceChildren(h('p', { class: 'notice', role: 'status' }, `${what} “${w.name}”.`));
      await load(0);
    } catch (e) { status.replaceChildren(errorBox(e)); }
  }
  async function load(i) {
    const page = await admin('GET', '/webhooks?' + query(cursors[i]));
    if (!page.webhooks.length && i === 0) {
      listBox.replaceChildren(h('p', { class: 'muted' }, 'No webhooks match. Integrators register them with their key pair (or in the console); clear the filters to see all.'));
      return;
    }
    const rows = page.webhooks.map((w) => {
      const st = w.deregisteredAt ? 'deregistered' : w.isActive ? 'active' : 'disabled';
      const actions = h('div', { class: 'row' },
        h('a', { href: `/ui/deliveries?webhookId=${encodeURIComponent(w.id)}`, 'aria-label': `Deliveries of webhook ${w.name}: recover, rotate secret` }, 'Deliveries'));
      if (st === 'active') actions.append(h('button', { class: 'secondary', type: 'button', 'aria-label': `Disable webhook ${w.name}`, onclick: () => act(w, 'Disabled', 'POST', `/webhooks/${w.id}/disable`) }, 'Disable'));
      if (st === 'disabled') actions.append(h('button', { class: 'secondary', type: 'button', 'aria-label': `Enable webhook ${w.name}`, onclick: () => act(w, 'Enabled', 'POST', `/webhooks/${w.id}/enable`) }, 'Enable'));
      if (st !== 'deregistered') {
        actions.append(h('button', { class: 'danger', type: 'button', 'aria-label': `Delete webhook ${w.name}`, onclick: async () => {
          if (await confirmDialog(`Delete the webhook “${w.name}”? It is deregistered and its pending deliveries are cancelled.`, 'Delete webhook')) act(w, 'Deleted', 'DELETE', `/webhooks/${w.id}`);
        } }, 'Delete'));
      }
      return h('tr', {}, h('td', {}, w.name, w.disabledReason ? h('div', { class: 'muted' }, w.disabledReason) : null),
        h('td', { class: 'mono' }, w.triggerMetaInfoId), h('td', { class: 'mono wrap optional' }, w.url),
        h('td', { class: 'mono wrap optional' }, h('a', { href: `/ui/communities/${encodeURIComponent(w.communityId)}` }, w.communityId)),
        h('td', {}, statusBadge(st)), h('td', {}, actions));
    });
    listBox.replaceChildren(table(null, ['Name', 'Trigger', 'URL', 'Community', 'State', 'Actions'], rows, [2, 3]),
      pager(cursors, i, page.nextCursor, load));
  }
  filters.addEventListener('submit', async (ev) => {
    ev.preventDefault();
    status.replaceChildren();
    cursors = [''];
    try { await load(0); } catch (e) { status.replaceChildren(errorBox(e)); }
  });
  show(h('h1', {}, 'Webhooks'), filters, status, listBox);
  await load(0);
}

// Events: publish one (the trigger picker fills in its sample payload), the
// list newest first with filters, and each event's deliveries on demand.
async function eventsPage() {
  const { triggers } = await admin('GET', '/triggers');
  const usable = triggers.filter((t) => !t.hidden && !t.retired);
  const status = h('div', { 'aria-live': 'polite' });
  const listBox = h('div');
  const pc = field('Community id', { type: 'text', name: 'communityId', required: true, spellcheck: 'false' });
  const pt = field('Trigger', { tag: 'select', name: 'triggerMetaInfoId', required: true });
  for (const t of usable) pt.input.append(h('option', { value: t.id }, t.id));
  const pa = field('Airmeet id (when the trigger needs one)', { type: 'text', name: 'airmeetId', spellcheck: 'false' });
  const pd = field('Data (JSON)', { tag: 'textarea', name: 'data', rows: 10, spellcheck: 'false', class: 'mono' });
  const fill = () => {
    const t = usable.find((x) => x.id === pt.input.value);
    pd.input.value = t ? JSON.stringify(t.samplePayload, null, 2) : '{}';
  };
  pt.input.addEventListener('change', fill);
  fill();
  const publish = h('form', { class: 'stack panel', 'aria-label': 'Publish an event' },
    h('h2', {}, 'Publish an event'), pc.el, pt.el, pa.el, pd.el, h('div', {}, h('button', { type: 'submit' }, 'Publish event')));
  const fc = field('Community id', { type: 'text', name: 'filterCommunity', spellcheck: 'false', placeholder: 'any' });
  const ft = field('Trigger', { type: 'text', name: 'filterTrigger', spellcheck: 'false', placeholder: 'any' });
  const filters = h('form', { class: 'inline', 'aria-label': 'Filter events' }, fc.el, ft.el, h('button', { type: 'submit' }, 'Apply filters'));
  let cursors = [''];
  async function deliveriesOf(ev, box) {
    const { deliveries } = await admin('GET', `/events/${ev.id}/deliveries?limit=50`);
    box.replaceChildren(deliveries.length
      ? table(null, ['Webhook', 'Status', 'Attempts', 'Last answer', 'Last error'],
        deliveries.map((d) => h('tr', {}, h('td', { class: 'mono wrap' }, d.webhookId), h('td', {}, d.status),
          h('td', {}, String(d.attemptCount)), h('td', {}, d.lastStatusCode === null ? '—' : String(d.lastStatusCode)), h('td', { class: 'wrap' }, d.lastError || '—'))))
      : h('p', { class: 'muted' }, 'No deliveries: no active webhook of this community matched the trigger (and scope) when it was published.'));
  }
  async function load(i) {
    const q = new URLSearchParams({ limit: '20' });
    if (fc.input.value.trim()) q.set('communityId', fc.input.value.trim());
    if (ft.input.value.trim()) q.set('triggerMetaInfoId', ft.input.value.trim());
    if (cursors[i]) q.set('cursor', cursors[i]);
    const page = await admin('GET', '/events?' + q);
    if (!page.events.length && i === 0) {
      listBox.replaceChildren(h('p', { class: 'muted' }, 'No events yet. Publish one above: every active webhook of its community registered for its trigger gets a delivery.'));
      return;
    }
    const items = page.events.map((ev) => {
      const box = h('div');
      const b = h('button', { class: 'secondary', type: 'button', 'aria-label': `Deliveries of event ${ev.id}` }, 'Deliveries');
      b.addEventListener('click', async () => { try { await deliveriesOf(ev, box); } catch (e) { box.replaceChildren(errorBox(e)); } });
      return h('section', { class: 'panel', 'aria-label': `Event ${ev.id}` },
        h('p', { class: 'mono' }, ev.triggerMetaInfoId),
        h('p', { class: 'muted mono wrap' }, `${ev.id} · ${when(ev.createdAt)} · community ${ev.communityId}${ev.airmeetId ? ' · airmeet ' + ev.airmeetId : ''}`),
        b, box);
    });
    listBox.replaceChildren(...items, pager(cursors, i, page.nextCursor, load));
  }
  publish.addEventListener('submit', async (ev) => {
    ev.preventDefault();
    status.replaceChildren();
    let data;
    try { data = JSON.parse(pd.input.value); } catch (e) {
      status.append(h('p', { class: 'error', role: 'alert' }, `The data is not valid JSON: ${e.message}`));
      return;
    }
    const body = { communityId: pc.input.value.trim(), triggerMetaInfoId: pt.input.value, data };
    if (pa.input.value.trim()) body.airmeetId = pa.input.value.trim();
    try {
      const r = await admin('POST', '/events', body);
      status.append(h('p', { class: 'notice', role: 'status' }, `Published event ${r.eventId}: ${r.deliveries} ${r.deliveries === 1 ? 'delivery' : 'deliveries'}.`));
      cursors = [''];
      await load(0);
    } catch (e) { status.append(errorBox(e)); }
  });
  filters.addEventListener('submit', async (ev) => {
    ev.preventDefault();
    cursors = [''];
    try { await load(0); } catch (e) { status.replaceChildren(errorBox(e)); }
  });
  show(h('h1', {}, 'Events'), publish, status, h('h2', {}, 'Published'), filters, listBox);
  await load(0);
}

route();
