// SPDX-License-Identifier: MIT
// The Live page: delivery attempts and webhook state changes as they happen,
// from GET /admin/v1/live (operator: every community) or
// {base}/airhook/v1/live (integrator: their community), an EventSource on
// the same origin (the session cookie).  Newest on top, at most MAX_ROWS
// rows; pause keeps the stream and counts what arrives meanwhile; filters by
// webhook and trigger apply to what comes next and to the rows shown.  Text
// only: every value goes in as a text node.  The EventSource is closed as
// soon as the router replaces this page (its root leaves the document).

const MAX_ROWS = 200;

export async function livePage(path, ctx) {
  const { h, field, show, when, session } = ctx;
  const url = session.role === 'operator' ? '/admin/v1/live' : session.basePath + '/airhook/v1/live';

  const webhook = field('Webhook id', { type: 'search', name: 'webhook', spellcheck: 'false', placeholder: 'any' });
  const trigger = field('Trigger', { type: 'search', name: 'trigger', spellcheck: 'false', placeholder: 'any' });
  const pause = h('button', { type: 'button', class: 'secondary', 'aria-pressed': 'false' }, 'Pause');
  const clear = h('button', { type: 'button', class: 'secondary' }, 'Clear');
  const state = h('p', { class: 'muted', role: 'status', 'aria-live': 'polite' }, 'Connecting…');
  const notes = h('div', { 'aria-live': 'polite' });
  const tbody = h('tbody');
  const empty = h('p', { class: 'muted' },
    session.role === 'operator'
      ? 'Nothing yet. Attempts appear here as this node makes them: publish an event (Events page) to see one.'
      : 'Nothing yet. Attempts to your webhooks appear here as they are made: send a test event to one of your webhooks.');
  const table = h('div', { class: 'table-wrap' }, h('table', {},
    h('caption', { class: 'muted' }, `Newest first; the last ${MAX_ROWS} are kept.`),
    h('thead', {}, h('tr', {},
      h('th', { scope: 'col' }, 'Time'), h('th', { scope: 'col' }, 'What'), h('th', { scope: 'col' }, 'Status'),
      h('th', { scope: 'col' }, 'Trigger'), h('th', { scope: 'col', class: 'optional' }, 'Webhook'),
      h('th', { scope: 'col', class: 'optional' }, 'Delivery'), h('th', { scope: 'col', class: 'optional' }, 'Duration'),
      h('th', { scope: 'col' }, 'Detail'))),
    tbody));
  table.hidden = true;
  const root = h('div', { class: 'live' },
    h('h1', {}, 'Live'),
    h('p', { class: 'muted' }, session.role === 'operator'
      ? 'Every delivery attempt and webhook change this node makes, as it happens (each node streams its own).'
      : 'Delivery attempts to your webhooks and changes to them, as they happen.'),
    h('form', { class: 'inline', role: 'search', onsubmit: (ev) => ev.preventDefault() },
      webhook.el, trigger.el, pause, clear),
    state, notes, empty, table);
  show(root);

  let paused = false;
  let held = 0; // events that came while paused (not shown)

  // The time of day (the page shows the last few minutes); the full date on hover.
  function at(iso) {
    const t = new Date(iso);
    return isNaN(t) ? when(iso) : h('time', { datetime: iso, title: t.toLocaleString() }, t.toLocaleTimeString());
  }

  function matches(d) {
    const w = webhook.input.value.trim();
    const t = trigger.input.value.trim();
    return (!w || (d.webhookId || '').includes(w)) && (!t || (d.trigger || '').includes(t));
  }
  function refilter() {
    for (const tr of tbody.children) tr.hidden = !matches(tr.liveData);
  }
  webhook.input.addEventListener('input', refilter);
  trigger.input.addEventListener('input', refilter);

  function addRow(d, cells) {
    const tr = h('tr', {}, cells);
    tr.liveData = d;
    tr.hidden = !matches(d);
    tbody.prepend(tr);
    while (tbody.children.length > MAX_ROWS) tbody.lastElementChild.remove();
    empty.hidden = true;
    table.hidden = false;
  }
  function note(text) {
    notes.prepend(h('p', { class: 'notice' }, `${new Date().toLocaleTimeString()}: ${text}`));
    while (notes.children.length > 3) notes.lastElementChild.remove();
  }

  function attempt(d) {
    const ok = d.outcome === 'succeeded';
    const status = d.statusCode ? `HTTP ${d.statusCode}` : 'no answer';
    addRow(d, [
      h('td', {}, at(d.time)),
      h('td', {}, `attempt ${d.attempt}`),
      h('td', {}, h('span', { class: ok ? 'badge on' : 'badge off' }, d.outcome), ' ', status),
      h('td', { class: 'mono' }, d.trigger),
      h('td', { class: 'mono optional' }, d.webhookId),
      h('td', { class: 'mono optional' }, h('a', { href: `/ui/deliveries/${encodeURIComponent(d.deliveryId)}` }, d.deliveryId)),
      h('td', { class: 'optional' }, `${d.durationMs} ms`),
      h('td', {}, d.error || ''),
    ]);
  }
  function webhookChange(d) {
    addRow(d, [
      h('td', {}, at(d.time)),
      h('td', {}, 'webhook'),
      h('td', {}, h('span', { class: d.state === 'enabled' ? 'badge on' : 'badge off' }, d.state)),
      h('td', { class: 'mono' }, d.trigger),
      h('td', { class: 'mono optional' }, d.webhookId),
      h('td', { class: 'optional' }, ''),
      h('td', { class: 'optional' }, ''),
      h('td', {}, d.reason || ''),
    ]);
  }

  const es = new EventSource(url, { withCredentials: true });
  function stop() {
    es.close();
    observer.disconnect();
    window.removeEventListener('pagehide', stop);
  }
  // The router replaces main's children for the next page: then this page's root is gone.
  const observer = new MutationObserver(() => { if (!root.isConnected) stop(); });
  observer.observe(root.parentNode || document.body, { childList: true });
  window.addEventListener('pagehide', stop);

  function handle(kind, ev) {
    let d;
    try { d = JSON.parse(ev.data); } catch (e) { return; }
    if (paused) { held++; pause.textContent = `Resume (${held} waiting not shown)`; return; }
    if (kind === 'attempt') attempt(d);
    else webhookChange(d);
  }
  es.addEventListener('attempt', (ev) => handle('attempt', ev));
  es.addEventListener('webhook', (ev) => handle('webhook', ev));
  es.addEventListener('ready', () => { state.textContent = 'Connected: showing events as they come.'; });
  es.addEventListener('skipped', (ev) => {
    let n = '?';
    try { n = JSON.parse(ev.data).skipped; } catch (e) { /* keep '?' */ }
    note(`${n} events skipped: they came faster than this page read them.`);
  });
  es.addEventListener('reset', (ev) => {
    let n = '?';
    try { n = JSON.parse(ev.data).missed; } catch (e) { /* keep '?' */ }
    note(`${n} events missed while disconnected (older than the server keeps).`);
  });
  es.addEventListener('bye', () => { state.textContent = 'The server is stopping; reconnecting…'; });
  es.onerror = () => {
    if (!root.isConnected) return;
    state.textContent = es.readyState === EventSource.CLOSED
      ? 'Disconnected. Reload the page to try again.'
      : 'Connection lost; reconnecting…';
  };

  pause.addEventListener('click', () => {
    paused = !paused;
    pause.setAttribute('aria-pressed', String(paused));
    if (!paused && held) note(`${held} events arrived while paused and were not shown.`);
    held = 0;
    pause.textContent = paused ? 'Resume' : 'Pause';
  });
  clear.addEventListener('click', () => {
    tbody.replaceChildren();
    table.hidden = true;
    empty.hidden = false;
  });
}
