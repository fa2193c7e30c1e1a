// SPDX-License-Identifier: MIT
// The delivery log of the integrator's webhooks, newest first, a page at a
// time with filters; one delivery with every attempt (time, duration,
// answer, error, headers, the start of the body, all as text), and Replay.
import { isoOf, table, pager, statusBadge, attemptList } from './kit.js';

const REPLAY_WAIT_MS = 20000;

export async function portalDeliveriesPage(path, c) {
  const rest = path.slice('/ui/deliveries'.length).replace(/^\//, '');
  if (rest) return deliveryPage(decodeURIComponent(rest), c);
  const { h, field, show, when, pub, errorBox } = c;
  const status = h('div', { 'aria-live': 'polite' });
  const listBox = h('div');
  const hook = field('Webhook', { tag: 'select', name: 'webhookId' });
  hook.input.append(h('option', { value: '' }, 'all webhooks'));
  const names = new Map();
  const { webhooks } = await pub('GET', '/airhook/v1/webhooks?limit=200');
  for (const w of webhooks) {
    names.set(w.id, w.name);
    hook.input.append(h('option', { value: w.id }, w.status === 'active' ? w.name : `${w.name} (${w.status})`));
  }
  const st = field('Status', { tag: 'select', name: 'status' });
  for (const [v, t] of [['', 'any'], ['pending', 'pending'], ['succeeded', 'succeeded'], ['failed', 'failed'], ['cancelled', 'cancelled']]) st.input.append(h('option', { value: v }, t));
  const since = field('Since', { type: 'datetime-local', name: 'since' });
  const until = field('Until', { type: 'datetime-local', name: 'until' });
  const wanted = new URLSearchParams(location.search).get('webhookId');
  if (wanted) {
    if (!names.has(wanted)) hook.input.append(h('option', { value: wanted }, wanted));
    hook.input.value = wanted;
  }
  const filters = h('form', { class: 'inline', 'aria-label': 'Filter deliveries' }, hook.el, st.el, since.el, until.el,
    h('button', { type: 'submit' }, 'Apply filters'));
  let cursors = [''];
  async function load(i) {
    const q = new URLSearchParams({ limit: '25' });
    if (hook.input.value) q.set('webhookId', hook.input.value);
    if (st.input.value) q.set('status', st.input.value);
    if (isoOf(since.input.value)) q.set('since', isoOf(since.input.value));
    if (isoOf(until.input.value)) q.set('until', isoOf(until.input.value));
    if (cursors[i]) q.set('cursor', cursors[i]);
    const page = await pub('GET', '/airhook/v1/deliveries?' + q);
    if (!page.deliveries.length && i === 0) {
      const filtered = hook.input.value || st.input.value || since.input.value || until.input.value;
      listBox.replaceChildren(h('p', { class: 'muted' }, filtered
        ? 'No deliveries match these filters. Clear them to see every delivery of your webhooks.'
        : webhooks.length
          ? 'No deliveries yet. Send a test event from the Webhooks page, or wait for an event of your webhooks\' triggers.'
          : 'No deliveries yet: register a webhook on the Webhooks page first, then send it a test event.'));
      return;
    }
    const rows = page.deliveries.map((d) => h('tr', {},
      h('td', {}, h('a', { href: `/ui/deliveries/${encodeURIComponent(d.id)}`, 'aria-label': `Delivery ${d.id}` }, when(d.createdAt))),
      h('td', { class: 'wrap' }, names.get(d.webhookId) || h('span', { class: 'mono' }, d.webhookId)),
      h('td', { class: 'mono wrap optional' }, d.triggerMetaInfoId),
      h('td', {}, statusBadge(d.status)),
      h('td', {}, String(d.attemptCount)),
      h('td', { class: 'wrap' }, d.lastStatusCode === null ? '' : `answered ${d.lastStatusCode}`, d.lastError ? h('div', { class: 'error-text' }, d.lastError) : null)));
    listBox.replaceChildren(table(`Page ${i + 1}, newest first`, ['Created', 'Webhook', 'Trigger', 'Status', 'Attempts', 'Last answer'], rows, [2]),
      pager(cursors, i, page.nextCursor, load));
  }
  filters.addEventListener('submit', async (ev) => {
    ev.preventDefault();
    status.replaceChildren();
    cursors = [''];
    try { await load(0); } catch (e) { status.replaceChildren(errorBox(e)); }
  });
  show(h('h1', {}, 'Deliveries'),
    h('p', { class: 'muted' }, 'Every delivery to your webhooks, newest first. Open one to see its attempts and replay it.'),
    filters, status, listBox);
  try {
    await load(0);
  } catch (e) {
    // Another community's webhook id in the address, say: a sentence, and the filters stay usable.
    status.replaceChildren(errorBox(e));
  }
}

async function deliveryPage(id, c) {
  const { h, show, when, pub, errorBox, ApiError, session } = c;
  const back = h('p', {}, h('a', { href: '/ui/deliveries' }, '← All deliveries'));
  let d;
  try {
    d = await pub('GET', `/airhook/v1/deliveries/${encodeURIComponent(id)}`);
  } catch (e) {
    if (e instanceof ApiError && e.status === 404) {
      show(h('h1', {}, 'Delivery not found'), back,
        h('p', { class: 'error', role: 'alert' }, `There is no delivery ${id} among your community's deliveries. Pick one from the delivery log.`));
      return;
    }
    throw e;
  }
  const status = h('div', { 'aria-live': 'polite' });
  const attemptsBox = h('div');
  const facts = h('dl', { class: 'facts' });
  function render() {
    facts.replaceChildren(
      h('dt', {}, 'Status'), h('dd', {}, statusBadge(d.status)),
      h('dt', {}, 'Trigger'), h('dd', { class: 'mono wrap' }, d.triggerMetaInfoId),
      h('dt', {}, 'Webhook'), h('dd', { class: 'mono wrap' }, d.webhookId),
      h('dt', {}, 'Event (webhook-id header)'), h('dd', { class: 'mono wrap' }, d.eventId),
      h('dt', {}, 'Created'), h('dd', {}, when(d.createdAt)),
      h('dt', {}, 'Attempts'), h('dd', {}, String(d.attemptCount)),
      h('dt', {}, 'Next attempt'), h('dd', {}, d.nextAttemptAt ? when(d.nextAttemptAt) : '—'));
    attemptsBox.replaceChildren(attemptList(d, 'integrator'));
  }
  render();
  let replay = null;
  if (!session.readOnly) {
    replay = h('button', { type: 'button' }, 'Replay delivery');
    replay.addEventListener('click', async () => {
      replay.disabled = true;
      const before = d.attempts.length;
      try {
        await pub('POST', `/airhook/v1/deliveries/${encodeURIComponent(d.id)}/retry`);
        status.replaceChildren(h('p', { class: 'notice', role: 'status' }, 'Replay queued: it is sent now. Waiting for the attempt…'));
        const deadline = Date.now() + REPLAY_WAIT_MS;
        while (Date.now() < deadline) {
          await new Promise((res) => setTimeout(res, 400));
          d = await pub('GET', `/airhook/v1/deliveries/${encodeURIComponent(d.id)}`);
          if (d.attempts.length > before) break;
        }
        render();
        status.replaceChildren(h('p', { class: 'notice', role: 'status' }, d.attempts.length > before
          ? `Replayed: attempt ${d.attempts.length} ${d.attempts[d.attempts.length - 1].statusCode === null ? 'got no answer' : 'answered ' + d.attempts[d.attempts.length - 1].statusCode}.`
          : 'Replay queued; its attempt is not in yet. Reload this page to see it.'));
      } catch (e) {
        status.replaceChildren(errorBox(e));
      } finally {
        replay.disabled = false;
      }
    });
  }
  show(h('h1', {}, 'Delivery'), back, h('p', { class: 'mono wrap muted' }, d.id), facts,
    replay ? h('div', { class: 'row' }, replay, h('span', { class: 'muted' }, 'Sends the same event again now, as a new attempt.')) : null,
    status, h('h2', {}, 'Attempts, newest first'), attemptsBox);
}
