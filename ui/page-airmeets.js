// SPDX-License-Identifier: MIT
// Airmeets and sessions: a community's airmeets, 20 a page, with a create
// form (GET/POST /admin/v1/communities/{id}/airmeets, POST /admin/v1/airmeets),
// and one airmeet's sessions, 20 a page, with a create form
// (GET/POST /admin/v1/airmeets/{id}/sessions).  Reached from a community's
// page (/ui/airmeets?communityId=…) or the navigation.

import { isoOf, table, pager } from './kit.js';

async function pickCommunity(c) {
  const { h, field, show, admin, go } = c;
  const id = field('Community id', { type: 'text', name: 'communityId', spellcheck: 'false', required: true, list: 'community-choices' });
  const choices = h('datalist', { id: 'community-choices' });
  const form = h('form', { class: 'inline', 'aria-label': 'Choose a community' }, id.el, choices, h('button', { type: 'submit' }, 'Show airmeets'));
  const err = h('div', { 'aria-live': 'polite' });
  form.addEventListener('submit', (ev) => {
    ev.preventDefault();
    const v = id.input.value.trim();
    if (!v) { err.replaceChildren(h('p', { class: 'error', role: 'alert' }, 'Enter or pick a community id.')); return; }
    go(`/ui/airmeets?communityId=${encodeURIComponent(v)}`);
  });
  const { communities } = await admin('GET', '/communities?limit=100');
  choices.replaceChildren(...communities.map((x) => h('option', { value: x.id }, x.name)));
  show(h('h1', {}, 'Airmeets'),
    h('p', { class: 'muted' }, 'Airmeets and their sessions belong to a community. Pick one here, or open it on the Communities page and follow “Airmeets and sessions”.'),
    form, err,
    communities.length
      ? h('ul', { class: 'plain' }, communities.slice(0, 20).map((x) => h('li', {}, h('a', { href: `/ui/airmeets?communityId=${encodeURIComponent(x.id)}` }, x.name))))
      : h('p', { class: 'muted' }, 'No communities yet: create one on the Communities page first.'));
}

async function communityAirmeets(c, communityId) {
  const { h, field, show, when, admin, errorBox, onCreate } = c;
  const com = await admin('GET', `/communities/${encodeURIComponent(communityId)}`);
  const status = h('div', { 'aria-live': 'polite' });
  const listBox = h('div');
  const name = field('Airmeet name', { type: 'text', name: 'name', required: true, maxlength: 255, placeholder: 'e.g. Launch day' });
  const start = field('Starts (optional)', { type: 'datetime-local', name: 'startTime' });
  const end = field('Ends (optional)', { type: 'datetime-local', name: 'endTime' });
  const form = h('form', { class: 'inline', 'aria-label': 'Create an airmeet' }, name.el, start.el, end.el, h('button', { type: 'submit' }, 'Create airmeet'));
  const cursors = [''];
  async function load(i) {
    try {
      const q = new URLSearchParams({ limit: '20' });
      if (cursors[i]) q.set('cursor', cursors[i]);
      const page = await admin('GET', `/communities/${encodeURIComponent(com.id)}/airmeets?${q}`);
      if (!page.airmeets.length && i === 0) {
        listBox.replaceChildren(h('p', { class: 'muted' }, 'No airmeets yet. Create one above; then add its sessions. Webhooks of airmeet-scoped triggers name an airmeet.'));
        return;
      }
      listBox.replaceChildren(table(`Page ${i + 1}`, ['Name', 'Starts', 'Ends', 'Id'], page.airmeets.map((a) => h('tr', {},
        h('td', {}, h('a', { href: `/ui/airmeets/${encodeURIComponent(a.id)}` }, a.name)),
        h('td', {}, when(a.startTime)), h('td', { class: 'optional' }, when(a.endTime)),
        h('td', { class: 'mono wrap optional' }, a.id))), [2, 3]), pager(cursors, i, page.nextCursor, load));
    } catch (e) { listBox.replaceChildren(errorBox(e)); }
  }
  onCreate(form, name.input, status, 'Enter a name for the airmeet.', async (text) => {
    const body = { communityId: com.id, name: text };
    if (isoOf(start.input.value)) body.startTime = isoOf(start.input.value);
    if (isoOf(end.input.value)) body.endTime = isoOf(end.input.value);
    const a = await admin('POST', '/airmeets', body);
    name.input.value = start.input.value = end.input.value = '';
    status.append(h('p', { class: 'notice', role: 'status' }, `Created airmeet “${a.name}”.`));
    await load(0);
  });
  show(h('p', {}, h('a', { href: `/ui/communities/${encodeURIComponent(com.id)}` }, `← ${com.name}`)),
    h('h1', {}, `Airmeets of ${com.name}`), form, status, listBox);
  await load(0);
}

async function airmeetSessions(c, airmeetId) {
  const { h, field, show, when, admin, errorBox, onCreate } = c;
  const a = await admin('GET', `/airmeets/${encodeURIComponent(airmeetId)}`);
  const status = h('div', { 'aria-live': 'polite' });
  const listBox = h('div');
  const name = field('Session name', { type: 'text', name: 'name', required: true, maxlength: 255, placeholder: 'e.g. Opening keynote' });
  const form = h('form', { class: 'inline', 'aria-label': 'Create a session' }, name.el, h('button', { type: 'submit' }, 'Create session'));
  const cursors = [''];
  async function load(i) {
    try {
      const q = new URLSearchParams({ limit: '20' });
      if (cursors[i]) q.set('cursor', cursors[i]);
      const page = await admin('GET', `/airmeets/${encodeURIComponent(a.id)}/sessions?${q}`);
      if (!page.sessions.length && i === 0) {
        listBox.replaceChildren(h('p', { class: 'muted' }, 'No sessions yet. Create one above: webhooks of session-scoped triggers name a session.'));
        return;
      }
      listBox.replaceChildren(table(`Page ${i + 1}`, ['Name', 'Id', 'Created'], page.sessions.map((s) => h('tr', {},
        h('td', {}, s.name), h('td', { class: 'mono wrap' }, s.id), h('td', { class: 'optional' }, when(s.createdAt)))), [2]),
      pager(cursors, i, page.nextCursor, load));
    } catch (e) { listBox.replaceChildren(errorBox(e)); }
  }
  onCreate(form, name.input, status, 'Enter a name for the session.', async (text) => {
    const s = await admin('POST', `/airmeets/${encodeURIComponent(a.id)}/sessions`, { name: text });
    name.input.value = '';
    status.append(h('p', { class: 'notice', role: 'status' }, `Created session “${s.name}”.`));
    await load(0);
  });
  show(h('p', {}, h('a', { href: `/ui/airmeets?communityId=${encodeURIComponent(a.communityId)}` }, '← Airmeets of its community')),
    h('h1', {}, a.name),
    h('p', { class: 'muted mono wrap' }, `Id ${a.id}${a.startTime ? ' · starts ' + when(a.startTime) : ''}${a.endTime ? ' · ends ' + when(a.endTime) : ''}${a.status ? ' · ' + a.status : ''}`),
    a.description ? h('p', {}, a.description) : null,
    h('h2', {}, 'Sessions'), form, status, listBox);
  await load(0);
}

export async function airmeetsPage(path, c) {
  const rest = path.slice('/ui/airmeets'.length).replace(/^\//, '');
  if (rest) return airmeetSessions(c, decodeURIComponent(rest));
  const communityId = new URLSearchParams(location.search).get('communityId');
  return communityId ? communityAirmeets(c, communityId) : pickCommunity(c);
}
