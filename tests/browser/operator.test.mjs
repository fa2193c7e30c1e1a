// SPDX-License-Identifier: MIT
// The operator's Overview, Deliveries and Airmeets pages, end to end, in
// Debian's chromium (tests/browser/run.sh).  One airhook for the file
// (SQLite in a temporary directory, port 0, deliveries to loopback allowed,
// one attempt per delivery) and one receiver on 127.0.0.1 that answers 500
// with an HTML body until told otherwise.  Controls are found by role and
// visible label; an uncaught error, a console.error, a CSP violation or a
// 5xx answer to the page fails the test.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { harness, shot, shotAndPhone, until, PHONE } from './harness.mjs';

const ADMIN = 'browser-test-admin-token';
const EVIL = '<img src=x onerror=alert(1)>';
const HTML_BODY = '<!doctype html><h1>Boom</h1><img src=x onerror=alert(2)><script>alert(3)</script>';
let answer = 500; // what the receiver answers next
const h = harness({
  admin: ADMIN, prefix: 'airhook-browser-op-',
  flags: ['--auth-fail-limit', '1000', '--allow-private-targets', '--retry-schedule', '0'],
  receiver: (req, res) => {
    if (answer === 200) { res.writeHead(200, { 'Content-Type': 'application/json' }); res.end('{"ok":true}'); return; }
    res.writeHead(answer, { 'Content-Type': 'text/html', 'X-Evil': '<b>bold</b>' });
    res.end(HTML_BODY);
  },
});
const { adminApi } = h;

const watchedPage = () => h.watchedPage({ ignore5xx: (url) => url.startsWith(`${h.rbase}/hooks`) });
const FULL = { top: false, fullPage: true }; // its screenshots: the whole page, as it is scrolled

async function signInOperator(page) {
  await h.signInOperator(page);
  await page.getByRole('heading', { name: 'Communities' }).waitFor();
}

let community, webhookId, sample;

async function publish() {
  const r = await adminApi('POST', '/events', { communityId: community.id, triggerMetaInfoId: 'trigger.airmeet.created', data: sample });
  assert.equal(r.status, 202, JSON.stringify(r.body));
  return r.body.eventId;
}

async function failedDeliveries() {
  const r = await adminApi('GET', `/deliveries?webhookId=${webhookId}&status=failed`);
  return r.body.deliveries;
}

test('setup: a community with a webhook named like HTML whose receiver answers 500 with HTML', async () => {
  community = (await adminApi('POST', '/communities', { name: 'Deliveries Co' })).body;
  const key = (await adminApi('POST', `/communities/${community.id}/access-keys`, { label: 'k' })).body;
  webhookId = (await h.registerWebhook(key, EVIL, `${h.rbase}/hooks`)).id;
  const { triggers } = (await adminApi('GET', '/triggers')).body;
  sample = triggers.find((t) => t.id === 'trigger.airmeet.created').samplePayload;
  await publish();
  await until('a failed delivery', async () => (await failedDeliveries()).length === 1);
});

test('deliveries: filters, the attempt timeline as text, retry, recover and rotate secret', async () => {
  const { context, page, problems } = await watchedPage();
  await signInOperator(page);
  await page.getByRole('navigation').getByRole('link', { name: 'Deliveries' }).click();
  await page.getByRole('heading', { name: 'Deliveries', exact: true }).waitFor();
  // Without a webhook or an event the page says what to do.
  await page.getByText('Pick a webhook (or paste an event id) above').waitFor();
  // The webhook's row on the Webhooks page leads here.
  await page.getByRole('navigation').getByRole('link', { name: 'Webhooks' }).click();
  await page.getByLabel('Community id').fill(community.id);
  await page.getByRole('button', { name: 'Apply filters' }).click();
  await page.getByRole('link', { name: `Deliveries of webhook ${EVIL}: recover, rotate secret` }).click();
  await page.getByRole('heading', { name: `Webhook “${EVIL}”` }).waitFor();
  assert.equal(await page.getByLabel('Webhook id').inputValue(), webhookId);
  await page.getByLabel('Status').selectOption('failed');
  await page.getByRole('button', { name: 'Show deliveries' }).click();
  await page.getByRole('cell', { name: 'failed', exact: true }).waitFor();
  await page.getByRole('cell', { name: '500', exact: true }).waitFor();
  assert.equal(await page.locator('main img').count(), 0);
  // A status with nothing in it says so.
  await page.getByLabel('Status').selectOption('cancelled');
  await page.getByRole('button', { name: 'Show deliveries' }).click();
  await page.getByText('No delivery matches.').waitFor();
  await page.getByLabel('Status').selectOption('');
  await page.getByRole('button', { name: 'Show deliveries' }).click();
  await shot(page, 'deliveries', FULL);

  // The timeline: the HTML body and headers of the answer, and the webhook's name, as text.
  await page.getByRole('link', { name: /^Attempts of delivery / }).first().click();
  await page.getByRole('heading', { name: 'Delivery', exact: true }).waitFor();
  await page.getByRole('heading', { name: 'Attempt 1 · HTTP 500' }).waitFor();
  assert.equal(await page.getByTestId('webhook-name').textContent(), EVIL);
  assert.equal(await page.getByTestId('response-body').textContent(), HTML_BODY);
  await page.getByText('Response headers').click();
  await page.getByText('X-Evil: <b>bold</b>').waitFor();
  await page.getByText('Request headers').click();
  await page.getByRole('rowheader', { name: 'x-airmeet-attempt' }).waitFor();
  assert.equal(await page.locator('main img, main script, main b').count(), 0);
  assert.equal(await page.locator('main h1').count(), 1);
  await shotAndPhone(page, 'delivery', FULL);

  // Retry: the receiver now accepts, and a second attempt shows up.
  answer = 200;
  await page.getByRole('button', { name: 'Retry delivery' }).click();
  await page.getByText(/^Queued again/).waitFor();
  await until('the second attempt on the timeline', async () => {
    await page.getByRole('button', { name: 'Refresh' }).click();
    return page.getByRole('heading', { name: 'Attempt 2 · HTTP 200' }).isVisible();
  });

  // Recover: another failed delivery is re-queued and succeeds.
  answer = 500;
  await publish();
  await until('a new failed delivery', async () => (await failedDeliveries()).length === 1);
  answer = 200;
  await page.getByRole('link', { name: `← Deliveries of “${EVIL}”` }).click();
  await page.getByLabel('Recover failed deliveries since').waitFor();
  await page.getByRole('button', { name: 'Recover failed deliveries' }).click();
  await page.getByText(`Re-queued 1 failed delivery of “${EVIL}”.`).waitFor();
  await until('the recovered delivery to succeed', async () => (await failedDeliveries()).length === 0);
  await page.getByRole('button', { name: 'Recover failed deliveries' }).click();
  await page.getByText(/nothing to re-queue/).waitFor();

  // Rotate: the new secret once, with a copy button and a warning.
  await page.getByRole('button', { name: 'Rotate signing secret' }).click();
  await page.getByText('Copy the new signing secret now: it is shown only this once.').waitFor();
  assert.match(await page.getByTestId('new-secret').textContent(), /^whsec_/);
  await page.getByRole('button', { name: 'Copy new secret' }).waitFor();
  await shot(page, 'webhook-rotated', FULL);
  assert.equal(await page.locator('main img').count(), 0);
  assert.deepEqual(problems, []);
  await context.close();
});

test('a delivery that does not exist gets a readable error', async () => {
  const { context, page, problems } = await watchedPage();
  await signInOperator(page);
  await page.goto(h.base + '/ui/deliveries/3fa85f64-5717-4562-b3fc-2c963f66afa6');
  const text = await page.getByRole('alert').textContent();
  assert.match(text, /no delivery with id/);
  assert.doesNotMatch(text, /[{}"]/);
  // So does a webhook id that is not one.
  await page.goto(h.base + '/ui/deliveries?webhookId=nope');
  const bad = await page.getByRole('alert').textContent();
  assert.match(bad, /webhook/);
  assert.doesNotMatch(bad, /[{}"]/);
  await page.getByLabel('Webhook id').waitFor();
  assert.deepEqual(problems, []);
  await context.close();
});

test('overview: the server\'s health and per-minute charts with values on hover and by keyboard', async () => {
  const { context, page, problems } = await watchedPage();
  await signInOperator(page);
  await page.getByRole('navigation').getByRole('link', { name: 'Overview' }).click();
  await page.getByRole('heading', { name: 'Overview' }).waitFor();
  const store = page.getByRole('region', { name: 'Store' });
  await store.getByText('answering').waitFor();
  await page.getByRole('region', { name: 'Backlog' }).getByText('Pending deliveries').waitFor();
  await page.getByRole('region', { name: 'Webhooks' }).getByText('Active webhooks').waitFor();
  const charts = page.getByRole('img', { name: /last 60 minutes/ });
  await until('four charts', async () => (await charts.count()) === 4);
  for (const name of ['Deliveries per second, by outcome', 'Success rate', 'Latency', 'Backlog over time'])
    await page.getByRole('heading', { name, exact: true }).waitFor();
  // Hover: the readout names the minute and each series' value.
  const first = charts.first();
  const box = await first.boundingBox();
  await page.mouse.move(box.x + box.width - 20, box.y + box.height / 2);
  const readout = page.locator('.readout').first();
  assert.match(await readout.textContent(), /^\d\d:\d\d: succeeded [\d.]+ · retry [\d.]+ · failed [\d.]+ \(attempts\/s\)$/);
  // The attempts this test file made show in one of the last minutes (by keyboard).
  await first.focus();
  await page.keyboard.press('End');
  const seen = [];
  for (let k = 0; k < 5; k++) {
    seen.push(await readout.textContent());
    await page.keyboard.press('ArrowLeft');
  }
  assert.ok(seen.some((t) => /succeeded 0\.0\d+|failed 0\.0\d+/.test(t)), seen.join('\n'));
  // Keyboard: focus a chart, move its cursor with the arrow keys.
  await page.getByRole('img', { name: /^Success rate/ }).focus();
  await page.keyboard.press('End');
  const rate = page.locator('.readout').nth(1);
  assert.match(await rate.textContent(), /^\d\d:\d\d: succeeded (—|[\d.]+) \(%\)$/);
  const before = await rate.textContent();
  await page.keyboard.press('ArrowLeft');
  assert.notEqual(await rate.textContent(), before);
  await shot(page, 'overview', FULL);
  await page.getByLabel('Time range').selectOption('1440');
  await until('the 24-hour charts', async () => (await page.getByRole('img', { name: /last 1440 minutes/ }).count()) === 4);
  await page.setViewportSize(PHONE);
  // The charts are redrawn for the narrow screen (fewer time ticks).
  await until('the narrow charts', async () => (await page.locator('svg.chart').first().getAttribute('viewBox')) === '0 0 360 230');
  await shot(page, 'overview-phone', FULL);
  assert.deepEqual(problems, []);
  await context.close();
});

test('airmeets and sessions of a community, from its page', async () => {
  const c = (await adminApi('POST', '/communities', { name: 'Airmeet Co' })).body;
  const { context, page, problems } = await watchedPage();
  await signInOperator(page);
  await page.getByRole('link', { name: 'Airmeet Co' }).click();
  await page.getByRole('link', { name: 'Airmeets and sessions' }).click();
  await page.getByRole('heading', { name: 'Airmeets of Airmeet Co' }).waitFor();
  await page.getByText('No airmeets yet.').waitFor();
  // An error answer reads as a sentence.
  await page.getByLabel('Airmeet name').fill('Backwards');
  await page.getByLabel('Starts (optional)').fill('2026-12-02T10:00');
  await page.getByLabel('Ends (optional)').fill('2026-12-01T10:00');
  await page.getByRole('button', { name: 'Create airmeet' }).click();
  const err = await page.getByRole('alert').textContent();
  assert.match(err, /endTime is before startTime/);
  assert.doesNotMatch(err, /[{}"]/);
  await page.getByLabel('Airmeet name').fill(EVIL);
  await page.getByLabel('Starts (optional)').fill('2026-12-01T09:00');
  await page.getByLabel('Ends (optional)').fill('');
  await page.getByRole('button', { name: 'Create airmeet' }).click();
  await page.getByText(`Created airmeet “${EVIL}”.`).waitFor();
  await page.getByLabel('Airmeet name').fill('Launch day');
  await page.getByRole('button', { name: 'Create airmeet' }).click();
  await page.getByRole('link', { name: 'Launch day' }).waitFor();
  assert.equal(await page.locator('main img').count(), 0);
  await shot(page, 'airmeets', FULL);
  await page.getByRole('link', { name: 'Launch day' }).click();
  await page.getByRole('heading', { name: 'Launch day' }).waitFor();
  await page.getByText('No sessions yet.').waitFor();
  // An airmeet created without a description shows none (not the word "null").
  assert.doesNotMatch(await page.locator('main').innerText(), /\b(null|undefined)\b/);
  // Keyboard alone: the name field, then Enter.
  await page.getByLabel('Session name').focus();
  await page.keyboard.type('Opening keynote');
  await page.keyboard.press('Enter');
  await page.getByRole('cell', { name: 'Opening keynote', exact: true }).waitFor();
  await shot(page, 'sessions', FULL);
  await page.getByRole('link', { name: '← Airmeets of its community' }).click();
  await page.getByRole('heading', { name: 'Airmeets of Airmeet Co' }).waitFor();
  // The navigation's Airmeets page lets one pick the community.
  await page.getByRole('navigation').getByRole('link', { name: 'Airmeets' }).click();
  await page.getByLabel('Community id').fill(c.id);
  await page.getByRole('button', { name: 'Show airmeets' }).click();
  await page.getByRole('link', { name: 'Launch day' }).waitFor();
  assert.deepEqual(problems, []);
  await context.close();
});

test('communities: a long list goes by pages of 20, forward and back, each community once', async () => {
  const made = [];
  for (let i = 1; i <= 45; i++) {
    const name = `Paged ${String(i).padStart(2, '0')}`;
    assert.equal((await adminApi('POST', '/communities', { name })).status, 201);
    made.push(name);
  }
  const { context, page, problems } = await watchedPage();
  await signInOperator(page);
  const rowsOf = async () => page.locator('main tbody tr td:first-child').allInnerTexts();
  const pages = [];
  for (let i = 1; i <= 10; i++) { // bounded: 45 and the other tests' communities make 3 or 4 pages
    await page.locator('main caption', { hasText: `Page ${i}` }).waitFor();
    const rows = await rowsOf();
    pages.push(rows);
    if (i === 2) await shot(page, 'communities-pages', FULL);
    const next = page.getByRole('button', { name: 'Next page' });
    if (!(await next.count())) break;
    assert.equal(rows.length, 20, `page ${i} is full while another follows`);
    await next.click();
  }
  assert.ok(pages.length >= 3, `${pages.length} pages`);
  const seen = pages.flat().filter((n) => n.startsWith('Paged '));
  assert.deepEqual([...seen].sort(), made, 'each of the 45 on exactly one page');
  // Back one page: the same rows as when it was first shown.
  await page.getByRole('button', { name: 'Previous page' }).click();
  await page.locator('main caption', { hasText: `Page ${pages.length - 1}` }).waitFor();
  assert.deepEqual(await rowsOf(), pages[pages.length - 2]);
  assert.deepEqual(problems, []);
  await context.close();
});
