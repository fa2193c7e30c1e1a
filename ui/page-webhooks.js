// SPDX-License-Identifier: MIT
// The integrator's webhooks: register one, and for each its state (why it
// was disabled, the last answer or error, the share of attempts that
// succeeded in 24 h); send it a test event and watch the attempt land,
// rotate its signing secret, deregister it.  A read-only session sees the
// same list with no control that changes anything.
import { copyButton, confirmDialog, table, pager, statusBadge, attemptList } from './kit.js';

const TEST_WAIT_MS = 20000; // how long "Send test event" watches for the attempt

function rate(w) {
  if (w.successRate24h === null || w.successRate24h === undefined) return 'no attempts in 24 h';
  return `${Math.round(w.successRate24h * 100)} % of ${w.attempts24h}`;
}

export async function webhooksPage(path, c) {
  const { h, field, show, when, pub, errorBox, session } = c;
  const ro = session.readOnly;
  const { triggers } = await pub('GET', '/airhook/v1/triggers');
  const status = h('div', { 'aria-live': 'polite' });
  const listBox = h('div');
  const trigger = field('Trigger', { tag: 'select', name: 'triggerMetaInfoId', required: true });
  for (const t of triggers) trigger.input.append(h('option', { value: t.id }, t.id));
  const wanted = new URLSearchParams(location.search).get('trigger');
  if (wanted) trigger.input.value = wanted;
  const name = field('Name', { type: 'text', name: 'name', required: true, maxlength: 255, placeholder: 'e.g. New registrants to CRM' });
  const url = field('URL', { type: 'url', name: 'url', required: true, placeholder: 'https://example.com/hooks/airhook' });
  const airmeet = field('Airmeet id (when the trigger needs one)', { type: 'text', name: 'airmeetId', spellcheck: 'false' });
  const form = h('form', { class: 'stack', 'aria-label': 'Register a webhook' }, trigger.el, name.el, url.el, airmeet.el,
    h('div', {}, h('button', { type: 'submit' }, 'Register webhook')));
  // Folded once there are webhooks to look at; open when there are none or a trigger was picked.
  const register = h('details', { class: 'panel register' }, h('summary', {}, h('h2', {}, 'Register a webhook')), form);
  const showing = field('Show', { tag: 'select', name: 'status' });
  for (const [v, t] of [['', 'active and disabled'], ['active', 'active'], ['disabled', 'disabled'], ['deregistered', 'deregistered'], ['all', 'all, deregistered too']]) {
    showing.input.append(h('option', { value: v }, t));
  }
  const filter = h('form', { class: 'inline narrow', 'aria-label': 'Which webhooks' }, showing.el, h('button', { type: 'submit', class: 'secondary' }, 'Show webhooks'));
  let cursors = [''];

  // POST …/test, then GET the delivery until its first attempt is in.
  async function sendTest(w, box) {
    box.replaceChildren(h('p', { class: 'muted', role: 'status' }, `Sending a test event to “${w.name}”…`));
    let r;
    try {
      r = await pub('POST', `/airhook/v1/webhooks/${encodeURIComponent(w.id)}/test`);
    } catch (e) { box.replaceChildren(errorBox(e)); return; }
    const link = h('a', { href: `/ui/deliveries/${encodeURIComponent(r.deliveryId)}` }, 'Open the delivery');
    box.replaceChildren(h('p', { class: 'notice', role: 'status' }, `Test event sent to “${w.name}”. Waiting for the attempt…`), link);
    const deadline = Date.now() + TEST_WAIT_MS;
    for (;;) {
      let d;
      try {
        d = await pub('GET', `/airhook/v1/deliveries/${encodeURIComponent(r.deliveryId)}`);
      } catch (e) { box.replaceChildren(errorBox(e), link); return; }
      if (d.attempts.length) {
        box.replaceChildren(h('p', { class: 'notice', role: 'status' },
          `Test delivery to “${w.name}”: ${d.status}.`), attemptList(d, 'integrator'), link);
        return;
      }
      if (Date.now() > deadline) {
        box.replaceChildren(h('p', { class: 'warning', role: 'status' },
          `The test delivery to “${w.name}” has no attempt after ${TEST_WAIT_MS / 1000} s (it is ${d.status}). The delivery log shows it when it is made.`), link);
        return;
      }
      await new Promise((res) => setTimeout(res, 400));
    }
  }

  async function rotate(w, box) {
    if (!await confirmDialog(`Rotate the signing secret of “${w.name}”? Deliveries are signed with the new secret and, for an overlap, with the old one too.`, 'Rotate signing secret')) return;
    try {
      const r = await pub('POST', `/airhook/v1/webhooks/${encodeURIComponent(w.id)}/rotate-secret`);
      box.replaceChildren(h('div', { class: 'warning', role: 'status' },
        h('h3', {}, `New signing secret for “${w.name}”`),
        h('p', {}, h('strong', {}, 'Copy it now: it is shown only this once.'),
          ` The old secret stays valid until ${when(r.previousSecretValidUntil)}: each delivery carries a signature with each of them until then, so put the new one in your receiver before that.`),
        h('div', { class: 'secret' }, h('span', {}, 'Signing secret'), h('code', { 'data-testid': 'rotated-secret' }, r.secret), copyButton(r.secret, 'signing secret'))));
    } catch (e) { box.replaceChildren(errorBox(e)); }
  }

  async function deregister(w) {
    if (!await confirmDialog(`Deregister the webhook “${w.name}”? Its pending deliveries are cancelled.`, 'Deregister webhook')) return;
    try {
      await pub('POST', '/platform-integration/v1/webhook-deregister', { id: w.id });
      status.replaceChildren(h('p', { class: 'notice', role: 'status' }, `Deregistered “${w.name}”.`));
      await load(0);
    } catch (e) { status.replaceChildren(errorBox(e)); }
  }

  async function load(i) {
    const q = new URLSearchParams({ limit: '20' });
    const want = showing.input.value;
    if (want && want !== 'all') q.set('status', want);
    if (cursors[i]) q.set('cursor', cursors[i]);
    const page = await pub('GET', '/airhook/v1/webhooks?' + q);
    // "active and disabled": the API filters one state at a time, so the
    // deregistered ones are left out here.
    const hooks = want ? page.webhooks : page.webhooks.filter((w) => w.status !== 'deregistered');
    if (i === 0 && !want && (!hooks.length || wanted)) register.open = true;
    if (!hooks.length && i === 0 && !page.nextCursor) {
      listBox.replaceChildren(h('p', { class: 'muted' }, want && want !== 'all'
        ? `No ${want} webhooks. Choose “active and disabled” to see the others.`
        : ro ? 'No webhooks are registered for this community yet.'
          : 'No webhooks yet. Pick a trigger above (or on the Triggers page) and register the URL that should receive it.'));
      return;
    }
    const items = hooks.map((w) => {
      const box = h('div', { 'aria-live': 'polite' });
      const actions = h('div', { class: 'actions' });
      if (!ro && w.status === 'active') {
        actions.append(h('button', { class: 'secondary', type: 'button', 'aria-label': `Send test event to ${w.name}`, onclick: () => sendTest(w, box) }, 'Send test event'));
      }
      if (!ro && w.status !== 'deregistered') {
        actions.append(
          h('button', { class: 'secondary', type: 'button', 'aria-label': `Rotate signing secret of ${w.name}`, onclick: () => rotate(w, box) }, 'Rotate signing secret'),
          h('button', { class: 'danger', type: 'button', 'aria-label': `Deregister webhook ${w.name}`, onclick: () => deregister(w) }, 'Deregister'));
      }
      const last = w.lastAttemptAt
        ? [when(w.lastAttemptAt), ' · ', w.lastStatusCode === null ? 'no answer' : `answered ${w.lastStatusCode}`]
        : ['no attempt yet'];
      return h('tr', {},
        h('td', { class: 'name' }, w.name),
        h('td', { class: 'mono wrap optional' }, w.triggerMetaInfoId, h('div', { class: 'muted' }, w.url)),
        h('td', {}, statusBadge(w.status), w.disabledReason ? h('div', { class: 'error-text' }, w.disabledReason) : null),
        h('td', { class: 'optional' }, h('div', {}, ...last), w.lastError ? h('div', { class: 'wrap error-text' }, w.lastError) : null),
        h('td', {}, rate(w)),
        h('td', {}, actions, h('a', { href: `/ui/deliveries?webhookId=${encodeURIComponent(w.id)}`, 'aria-label': `Deliveries of ${w.name}` }, 'Deliveries'), box));
    });
    listBox.replaceChildren(table(null, ['Name', 'Trigger and URL', 'State', 'Last attempt', 'Success (24 h)', 'Actions'], items, [1, 3]),
      pager(cursors, i, page.nextCursor, load));
  }

  filter.addEventListener('submit', async (ev) => {
    ev.preventDefault();
    cursors = [''];
    try { await load(0); } catch (e) { status.replaceChildren(errorBox(e)); }
  });
  form.addEventListener('submit', async (ev) => {
    ev.preventDefault();
    status.replaceChildren();
    if (!name.input.value.trim() || !url.input.value.trim()) {
      status.append(h('p', { class: 'error', role: 'alert' }, 'Enter a name and the URL that should receive the deliveries.'));
      return;
    }
    const q = airmeet.input.value.trim() ? `?airmeetId=${encodeURIComponent(airmeet.input.value.trim())}` : '';
    try {
      const r = await pub('POST', `/platform-integration/v1/webhook-register${q}`, {
        name: name.input.value.trim(), url: url.input.value.trim(),
        triggerMetaInfoId: trigger.input.value, platformName: 'airhook console',
      });
      const w = r.payload;
      name.input.value = url.input.value = '';
      status.append(h('div', { class: 'warning', role: 'status' },
        h('h2', {}, `Webhook “${w.name}” registered`),
        h('p', {}, h('strong', {}, 'Copy its signing secret now: it is shown only this once.'),
          ' Your receiver verifies each delivery\'s signature with it (see ', h('a', { href: '/ui/verify' }, 'Verify signatures'), ').'),
        h('div', { class: 'secret' }, h('span', {}, 'Signing secret'), h('code', { 'data-testid': 'signing-secret' }, w.secret), copyButton(w.secret, 'signing secret'))));
      cursors = [''];
      await load(0);
    } catch (e) {
      status.append(errorBox(e));
    }
  });
  show(h('h1', {}, 'Webhooks'),
    h('p', { class: 'muted' }, `The webhooks of ${session.communityName || 'your community'}.`),
    ro ? h('p', { class: 'notice' }, 'This session is read-only: it can look, not change.') : register,
    status, h('h2', {}, 'Registered'), filter, listBox);
  await load(0);
}
