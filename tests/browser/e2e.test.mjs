// SPDX-License-Identifier: MIT
// One end-to-end flow of the web console (issue 13, tests/browser/run.sh),
// two people in two browser contexts, each finding controls by role and
// label: the operator signs in, creates a community and issues a key pair;
// the integrator signs in with it and registers a webhook from the trigger
// catalog; the operator publishes an event from the Events page and the
// delivery shows on the operator's Live page and in the integrator's log
// within 2 s; the receiver answers 500, the failed attempt and its retry
// show; the receiver recovers and the integrator's Replay succeeds; the
// operator revokes the key pair and the integrator's next action lands them
// on the sign-in page with a readable sentence.  A real airhook (loopback
// receivers allowed, a 1 s retry) and a real receiver in this process.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { harness, shot } from './harness.mjs';

const ADMIN = 'browser-e2e-admin-token';
const TRIGGER = 'trigger.airmeet.created';
let answer = 200; // what the receiver answers
const received = [];
const h = harness({
  admin: ADMIN, prefix: 'airhook-e2e-',
  // Two attempts: the first at once, its retry 1 s later (+-10 %).
  flags: ['--auth-fail-limit', '1000', '--allow-private-targets', '--retry-schedule', '0,1s'],
  receiver: (req, res) => {
    received.push({ path: req.url, answered: answer });
    res.writeHead(answer, { 'Content-Type': 'text/plain' });
    res.end(`answered ${answer}`);
  },
});

// One person's browser context: console errors, page errors, CSP violations,
// 5xx answers and native dialogs on any of its pages are problems.
const person = (problems, who) => h.watchedPage({ problems, who, alerts: false });

// Refreshes the page (reloads it, or what refresh() does) until the locator
// shows, by a deadline: pages that do not refresh themselves.
async function reloadUntil(page, locator, deadline, what, refresh = () => page.reload({ waitUntil: 'domcontentloaded' })) {
  for (;;) {
    const left = deadline - Date.now();
    try {
      await locator.first().waitFor({ timeout: Math.max(1, Math.min(left, 250)) });
      return;
    } catch (e) {
      if (Date.now() >= deadline) {
        const main = await page.locator('main').textContent().catch(() => '?');
        throw new Error(`timed out waiting for ${what}; the page shows: ${main.slice(0, 600)}`);
      }
    }
    await refresh();
  }
}

const nav = (page, name) => page.getByRole('navigation').getByRole('link', { name, exact: true }).click();

test('operator and integrator, end to end: key pair, webhook, live delivery, retry, replay, revocation', async (t) => {
  const problems = [];
  const op = await person(problems, 'operator');
  const it = await person(problems, 'integrator');
  const o = op.page;
  const i = it.page;
  try {
    // 1. The operator signs in, creates a community and issues a key pair.
    await h.signInOperator(o, { from: '/ui/' });
    await nav(o, 'Communities');
    await o.getByRole('heading', { name: 'Communities' }).waitFor();
    await o.getByLabel('Community name').fill('E2E Co');
    await o.getByRole('button', { name: 'Create community' }).click();
    await o.getByText('Created community “E2E Co”.').waitFor();
    await o.getByRole('link', { name: 'E2E Co' }).click();
    await o.getByRole('heading', { name: 'E2E Co', level: 1 }).waitFor();
    const communityId = /^Id (\S+)/.exec(await o.getByText(/^Id \S+ ·/).textContent())[1];
    await o.getByLabel('Key pair label').fill('CRM sync');
    await o.getByRole('button', { name: 'Issue key pair' }).click();
    await o.getByRole('heading', { name: 'Key pair “CRM sync” issued' }).waitFor();
    const accessKey = (await o.getByTestId('access-key').textContent()).trim();
    const secretKey = (await o.getByTestId('secret-key').textContent()).trim();
    assert.ok(accessKey && secretKey && accessKey !== secretKey);
    await o.getByRole('cell', { name: 'active' }).waitFor();

    // 2. The integrator signs in with it and registers a webhook from the trigger catalog.
    await h.signInIntegrator(i, { accessKey, secretKey });
    await i.getByText('Integrator · E2E Co').waitFor();
    await i.getByRole('link', { name: `Register a webhook for ${TRIGGER}` }).click();
    await i.getByRole('heading', { name: 'Webhooks', level: 1 }).waitFor();
    assert.equal(await i.getByLabel('Trigger', { exact: true }).inputValue(), TRIGGER);
    await i.getByLabel('Name', { exact: true }).fill('CRM hook');
    await i.getByLabel('URL', { exact: true }).fill(`${h.rbase}/hooks/crm`);
    await i.getByRole('button', { name: 'Register webhook' }).click();
    assert.match(await i.getByTestId('signing-secret').textContent(), /^whsec_/);
    await i.getByRole('cell', { name: 'CRM hook', exact: true }).waitFor();
    await nav(i, 'Deliveries');
    await i.getByText('No deliveries yet. Send a test event').waitFor();

    // 3. The operator, Live page open in a second tab, publishes from the Events page.
    const live = await op.context.newPage();
    await live.goto(h.base + '/ui/live');
    await live.getByRole('heading', { name: 'Live', exact: true }).waitFor();
    await live.getByText('Connected: showing events as they come.').waitFor({ timeout: 5000 });
    // The Events tab in front (a background tab's animation frames are throttled, and clicks wait for them).
    await o.bringToFront();
    await nav(o, 'Events');
    await o.getByRole('heading', { name: 'Events', level: 1 }).waitFor();
    const form = o.getByRole('form', { name: 'Publish an event' });
    await form.getByLabel('Community id', { exact: true }).fill(communityId);
    await form.getByLabel('Trigger', { exact: true }).selectOption(TRIGGER);
    const sample = JSON.parse(await form.getByLabel('Data (JSON)').inputValue());
    assert.ok(Object.keys(sample).length > 0, 'the trigger\'s sample fills the data');
    const t0 = Date.now();
    await form.getByRole('button', { name: 'Publish event' }).click();
    const liveRow = live.locator('tbody tr', { hasText: TRIGGER }).filter({ hasText: 'HTTP 200' });
    const logRow = i.getByRole('row').filter({ hasText: 'CRM hook' }).filter({ hasText: 'succeeded' });
    await Promise.all([
      liveRow.first().waitFor({ timeout: 2000 }),
      // The delivery log reads again on "Apply filters", as a person waiting for it would click.
      reloadUntil(i, logRow, t0 + 2000, 'the delivery in the integrator\'s log',
        () => i.getByRole('button', { name: 'Apply filters' }).click()),
    ]);
    const took = Date.now() - t0;
    assert.ok(took <= 2000, `the delivery took ${took} ms to show on both pages`);
    t.diagnostic(`the delivery showed on Live and in the log ${took} ms after the publish click`);
    assert.match(await liveRow.first().textContent(), /succeeded/);
    await o.getByText(/^Published event \S+: 1 delivery\.$/).waitFor();
    await shot(live, 'e2e-operator-live');
    await shot(i, 'e2e-integrator-deliveries');
    await live.close();

    // 4. The receiver answers 500: the failed attempt and its retry, on the integrator's delivery page.
    answer = 500;
    await form.getByRole('button', { name: 'Publish event' }).click();
    await o.getByText(/^Published event \S+: 1 delivery\.$/).nth(0).waitFor();
    const deliveryLinks = i.getByRole('link', { name: /^Delivery / });
    await reloadUntil(i, deliveryLinks.nth(1), Date.now() + 5000, 'the second delivery in the log');
    await deliveryLinks.first().click(); // newest first
    await i.getByRole('heading', { name: 'Delivery', exact: true }).waitFor();
    await reloadUntil(i, i.getByRole('heading', { name: 'Attempt 2: answered 500' }), Date.now() + 10000, 'the retry');
    await i.getByRole('heading', { name: 'Attempt 1: answered 500' }).waitFor();
    // Two attempts in the schedule: the delivery has given up (no third attempt will race the replay).
    await reloadUntil(i, i.getByRole('definition').filter({ hasText: /^failed$/ }), Date.now() + 5000, 'the delivery to be failed');
    await shot(i, 'e2e-integrator-delivery-failed');

    // 5. The receiver recovers; the integrator replays and sees the new attempt succeed.
    answer = 200;
    await i.getByRole('button', { name: 'Replay delivery' }).click();
    await i.getByText('Replayed: attempt 3 answered 200.').waitFor({ timeout: 25000 });
    await i.getByRole('heading', { name: 'Attempt 3: answered 200' }).waitFor();
    assert.deepEqual(received.map((r) => r.answered), [200, 500, 500, 200]);

    // 6. The operator revokes the key pair (confirming); the integrator's next click is refused.
    await nav(i, 'Webhooks');
    await i.getByRole('button', { name: 'Send test event to CRM hook' }).waitFor();
    await nav(o, 'Communities');
    await o.getByRole('link', { name: 'E2E Co' }).click();
    await o.getByRole('button', { name: 'Revoke key pair CRM sync' }).click();
    const dialog = o.getByRole('dialog');
    await dialog.getByText('Revoke the key pair “CRM sync”?').waitFor();
    await dialog.getByRole('button', { name: 'Revoke key pair' }).click();
    await o.getByText('Revoked “CRM sync”.').waitFor();
    await o.getByRole('cell', { name: 'revoked' }).waitFor();

    const before = received.length;
    await i.getByRole('button', { name: 'Send test event to CRM hook' }).click();
    await i.getByRole('heading', { name: 'Sign in to the airhook console' }).waitFor();
    const refusal = (await i.getByRole('alert').textContent()).trim();
    assert.match(refusal, /key pair .* revoked/);
    assert.doesNotMatch(refusal, /[{}"]/, `a sentence, not JSON: ${refusal}`);
    assert.equal(await i.getByRole('button', { name: 'Sign out' }).count(), 0);
    await shot(i, 'e2e-integrator-refused');
    // Nothing was sent, and reloading keeps them signed out.
    assert.equal(received.length, before);
    await i.goto(h.base + '/ui/webhooks');
    await i.getByRole('heading', { name: 'Sign in to the airhook console' }).waitFor();
    // And the old key pair no longer signs in: a readable refusal on the sign-in form.
    await i.getByLabel('an integrator with a key pair').check();
    await i.getByLabel('Access key').fill(accessKey);
    await i.getByLabel('Secret key').fill(secretKey);
    await i.getByRole('button', { name: 'Sign in' }).click();
    const again = i.getByRole('alert');
    await again.waitFor();
    assert.doesNotMatch(await again.textContent(), /[{}"]/);
    await i.getByRole('heading', { name: 'Sign in to the airhook console' }).waitFor();

    assert.deepEqual(problems, []);
  } finally {
    answer = 200;
    await op.context.close();
    await it.context.close();
  }
});
