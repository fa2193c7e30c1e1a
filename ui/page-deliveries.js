// SPDX-License-Identifier: MIT
// The operator's deliveries: the log filtered by webhook or event, status
// and time (GET /admin/v1/deliveries, a page at a time), one delivery's
// attempt timeline (GET /admin/v1/deliveries/{id}) with Retry, and, for the
// webhook filtered on, Recover (its failed deliveries since a time) and
// Rotate secret (the new secret shown once).  Receivers' answers are shown
// as text: a body full of HTML stays characters.

import { isoOf, copyButton, table, pager, statusBadge, attemptList } from './kit.js';

const STATUSES = ['pending', 'succeeded', 'failed', 'cancelled'];

function localInput(d) {
  const p = (x) => String(x).padStart(2, '0');
  return `${d.getFullYear()}-${p(d.getMonth() + 1)}-${p(d.getDate())}T${p(d.getHours())}:${p(d.getMinutes())}`;
}

// Recover and rotate: the actions on one webhook.
function webhookPanel(c, w, reload) {
  const { h, field, admin, errorBox, when } = c;
  const status = h('div', { 'aria-live': 'polite' });
  const dead = !!w.deregisteredAt;
  const st = dead ? 'deregistered' : w.isActive ? 'active' : 'disabled';
  const since = field('Recover failed deliveries since', { type: 'datetime-local', name: 'since', required: true });
  since.input.value = localInput(new Date(Date.now() - 24 * 3600 * 1000));
  const recover = h('form', { class: 'inline narrow', 'aria-label': 'Recover failed deliveries' }, since.el,
    h('button', { type: 'submit' }, 'Recover failed deliveries'));
  recover.addEventListener('submit', async (ev) => {
    ev.preventDefault();
    status.replaceChildren();
    const t = isoOf(since.input.value);
    if (!t) { status.append(h('p', { class: 'error', role: 'alert' }, 'Enter the time to recover from.')); return; }
    try {
      const r = await admin('POST', `/webhooks/${encodeURIComponent(w.id)}/recover`, { since: t });
      status.append(h('p', { class: 'notice', role: 'status' }, r.requeued
        ? `Re-queued ${r.requeued} failed ${r.requeued === 1 ? 'delivery' : 'deliveries'} of “${w.name}”${w.isActive ? '' : ': they wait until the webhook is enabled'}.`
        : `No failed delivery of “${w.name}” since ${when(t)}: nothing to re-queue.`));
      await reload();
    } catch (e) { status.append(errorBox(e)); }
  });
  const rotate = h('button', { class: 'secondary', type: 'button' }, 'Rotate signing secret');
  rotate.addEventListener('click', async () => {
    status.replaceChildren();
    try {
      const r = await admin('POST', `/webhooks/${encodeURIComponent(w.id)}/rotate-secret`);
      status.append(h('div', { class: 'warning', role: 'status' },
        h('p', {}, h('strong', {}, 'Copy the new signing secret now: it is shown only this once.'),
          ` Until ${when(r.previousSecretValidUntil)} deliveries carry signatures with both the old and the new secret; give the new one to the receiver before then.`),
        h('div', { class: 'secret' }, h('span', {}, 'New signing secret'), h('code', { 'data-testid': 'new-secret' }, r.secret), copyButton(r.secret, 'new secret'))));
    } catch (e) { status.append(errorBox(e)); }
  });
  return h('section', { class: 'panel hook', 'aria-label': `Webhook ${w.name}` },
    h('h2', {}, `Webhook “${w.name}”`),
    h('p', { class: 'muted mono wrap' }, `${w.triggerMetaInfoId} → ${w.url}`),
    h('p', {}, statusBadge(st), w.disabledReason ? ` ${w.disabledReason}` : '', w.failingSince ? ` · failing since ${when(w.failingSince)}` : '',
      ' · community ', h('a', { href: `/ui/communities/${encodeURIComponent(w.communityId)}` }, w.communityId)),
    dead ? h('p', { class: 'muted' }, 'Deregistered: its deliveries can no longer be sent.') : h('div', { class: 'stack' }, recover, h('div', {}, rotate)),
    status);
}

async function listPage(c) {
  const { h, field, show, when, admin, errorBox } = c;
  const q0 = new URLSearchParams(location.search);
  const status = h('div', { 'aria-live': 'polite' });
  const hookBox = h('div');
  const listBox = h('div');
  const wh = field('Webhook id', { type: 'text', name: 'webhookId', spellcheck: 'false', list: 'webhook-choices', placeholder: 'pick or paste' });
  const choices = h('datalist', { id: 'webhook-choices' });
  const evf = field('Event id', { type: 'text', name: 'eventId', spellcheck: 'false' });
  const stf = field('Status', { tag: 'select', name: 'status' });
  stf.input.append(h('option', { value: '' }, 'any'), ...STATUSES.map((s) => h('option', { value: s }, s)));
  const sincef = field('From', { type: 'datetime-local', name: 'since' });
  const untilf = field('Until', { type: 'datetime-local', name: 'until' });
  wh.input.value = q0.get('webhookId') || '';
  evf.input.value = q0.get('eventId') || '';
  stf.input.value = STATUSES.includes(q0.get('status')) ? q0.get('status') : '';
  const filters = h('form', { class: 'filters', 'aria-label': 'Filter deliveries' }, wh.el, choices, evf.el, stf.el, sincef.el, untilf.el,
    h('button', { type: 'submit' }, 'Show deliveries'));
  let cursors = [''];
  let shown = 0; // the page on screen
  function query(cursor) {
    const q = new URLSearchParams({ limit: '20' });
    if (wh.input.value.trim()) q.set('webhookId', wh.input.value.trim());
    if (evf.input.value.trim()) q.set('eventId', evf.input.value.trim());
    if (stf.input.value) q.set('status', stf.input.value);
    if (isoOf(sincef.input.value)) q.set('since', isoOf(sincef.input.value));
    if (isoOf(untilf.input.value)) q.set('until', isoOf(untilf.input.value));
    if (cursor) q.set('cursor', cursor);
    return q;
  }
  async function retry(d) {
    status.replaceChildren();
    try {
      await admin('POST', `/deliveries/${encodeURIComponent(d.id)}/retry`);
      status.append(h('p', { class: 'notice', role: 'status' }, `Delivery ${d.id} is queued to be sent again.`));
      await load(shown);
    } catch (e) { status.append(errorBox(e)); }
  }
  async function load(i) {
    if (!wh.input.value.trim() && !evf.input.value.trim()) {
      hookBox.replaceChildren();
      listBox.replaceChildren(h('p', { class: 'hint' },
        'Pick a webhook (or paste an event id) above, then Show deliveries: the log is kept per webhook and per event. ',
        'Find webhooks on the ', h('a', { href: '/ui/webhooks' }, 'Webhooks'), ' page and events on the ', h('a', { href: '/ui/events' }, 'Events'), ' page.'));
      return;
    }
    const page = await admin('GET', '/deliveries?' + query(cursors[i]));
    shown = i;
    if (!page.deliveries.length && i === 0) {
      listBox.replaceChildren(h('p', { class: 'muted' }, 'No delivery matches. Widen the time range or the status, or publish an event on the Events page to make one.'));
      return;
    }
    const rows = page.deliveries.map((d) => h('tr', {},
      h('td', {}, when(d.createdAt)),
      h('td', { class: 'mono optional' }, d.triggerMetaInfoId),
      h('td', {}, statusBadge(d.status)),
      h('td', {}, String(d.attemptCount)),
      h('td', {}, d.lastStatusCode === null ? '—' : String(d.lastStatusCode)),
      h('td', { class: 'wrap optional' }, d.lastError || '—'),
      h('td', {}, h('div', { class: 'row' },
        h('a', { href: `/ui/deliveries/${encodeURIComponent(d.id)}`, 'aria-label': `Attempts of delivery ${d.id}` }, 'Attempts'),
        d.status === 'cancelled' ? null : h('button', { class: 'secondary', type: 'button', 'aria-label': `Retry delivery ${d.id}`, onclick: () => retry(d) }, 'Retry')))));
    listBox.replaceChildren(table(`Page ${i + 1}, newest first`, ['Published', 'Trigger', 'Status', 'Attempts', 'Last answer', 'Last error', 'Actions'], rows, [1, 5]),
      pager(cursors, i, page.nextCursor, (j) => load(j).catch((e) => status.replaceChildren(errorBox(e)))));
  }
  async function loadHook() {
    const id = wh.input.value.trim();
    if (!id) { hookBox.replaceChildren(); return; }
    const w = await admin('GET', `/webhooks/${encodeURIComponent(id)}`);
    hookBox.replaceChildren(webhookPanel(c, w, () => load(0)));
  }
  async function apply() {
    status.replaceChildren();
    cursors = [''];
    try {
      await loadHook();
      await load(0);
    } catch (e) { listBox.replaceChildren(errorBox(e)); }
  }
  filters.addEventListener('submit', (ev) => {
    ev.preventDefault();
    const q = new URLSearchParams();
    if (wh.input.value.trim()) q.set('webhookId', wh.input.value.trim());
    if (evf.input.value.trim()) q.set('eventId', evf.input.value.trim());
    if (stf.input.value) q.set('status', stf.input.value);
    history.replaceState(null, '', '/ui/deliveries' + (q.toString() ? '?' + q : ''));
    apply();
  });
  // The picker offers the first 100 webhooks by name; any id can be pasted.
  admin('GET', '/webhooks?limit=100').then((p) => {
    choices.replaceChildren(...p.webhooks.map((w) => h('option', { value: w.id }, `${w.name} · ${w.triggerMetaInfoId}`)));
  }).catch(() => {});
  show(h('h1', {}, 'Deliveries'), filters, status, hookBox, h('h2', {}, 'Log'), listBox);
  await apply();
}

async function timelinePage(c, id) {
  const { h, show, when, admin, errorBox } = c;
  const status = h('div', { 'aria-live': 'polite' });
  const box = h('div');
  async function load() {
    const d = await admin('GET', `/deliveries/${encodeURIComponent(id)}`);
    let hookName = d.webhookId;
    try { hookName = (await admin('GET', `/webhooks/${encodeURIComponent(d.webhookId)}`)).name; } catch (e) { /* deleted: the id will do */ }
    const retry = h('button', { type: 'button' }, 'Retry delivery');
    retry.disabled = d.status === 'cancelled';
    retry.addEventListener('click', async () => {
      status.replaceChildren();
      try {
        const r = await admin('POST', `/deliveries/${encodeURIComponent(d.id)}/retry`);
        status.append(h('p', { class: 'notice', role: 'status' }, `Queued again: now ${r.status}. Refresh the timeline to see the new attempt.`));
      } catch (e) { status.append(errorBox(e)); }
    });
    const refresh = h('button', { class: 'secondary', type: 'button' }, 'Refresh');
    refresh.addEventListener('click', () => load().catch((e) => status.replaceChildren(errorBox(e))));
    box.replaceChildren(
      h('p', {}, h('a', { href: `/ui/deliveries?webhookId=${encodeURIComponent(d.webhookId)}` }, `← Deliveries of “${hookName}”`)),
      h('h1', {}, 'Delivery'),
      h('dl', { class: 'facts' },
        h('dt', {}, 'Webhook'), h('dd', { 'data-testid': 'webhook-name' }, hookName),
        h('dt', {}, 'Status'), h('dd', {}, statusBadge(d.status), d.nextAttemptAt ? ` next attempt ${when(d.nextAttemptAt)}` : ''),
        h('dt', {}, 'Trigger'), h('dd', { class: 'mono' }, d.triggerMetaInfoId),
        h('dt', {}, 'Event'), h('dd', { class: 'mono wrap' }, h('a', { href: `/ui/deliveries?eventId=${encodeURIComponent(d.eventId)}` }, d.eventId)),
        h('dt', {}, 'Published'), h('dd', {}, when(d.createdAt)),
        h('dt', {}, 'Id'), h('dd', { class: 'mono wrap' }, d.id)),
      h('div', { class: 'row' }, retry, refresh), status,
      h('h2', {}, `Attempts (${d.attempts.length})`), attemptList(d, 'operator'));
  }
  show(box);
  await load();
}

export async function deliveriesPage(path, c) {
  const rest = path.slice('/ui/deliveries'.length).replace(/^\//, '');
  if (rest) return timelinePage(c, decodeURIComponent(rest));
  return listPage(c);
}
