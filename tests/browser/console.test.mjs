// SPDX-License-Identifier: MIT
// The web console, end to end, in Debian's chromium (tests/browser/run.sh).
// One airhook (SQLite in a temporary directory, port 0) for the file; each
// test drives a fresh browser context as a person would: controls are found
// by their role and visible label.  Every page is watched: an uncaught
// error, a console.error, a Content-Security-Policy violation or a 5xx
// answer fails the test.  (Chromium logs "Failed to load resource" for the
// 4xx answers the flows expect, a wrong token say; those are not counted.)
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { harness, shot, PHONE } from './harness.mjs';

const ADMIN = 'browser-test-admin-token';
const h = harness({ admin: ADMIN, flags: ['--auth-fail-limit', '1000'] });
const { adminApi, watchedPage, signInOperator, signInIntegrator } = h;

test('a newcomer lands on the sign-in page, which says which token to use', async () => {
  const { context, page, problems } = await watchedPage();
  const res = await page.goto(h.base + '/');
  assert.equal(new URL(page.url()).pathname, '/ui/');
  assert.equal(res.headers()['content-security-policy'].includes("default-src 'self'"), true);
  await page.getByRole('heading', { name: 'Sign in to the airhook console' }).waitFor();
  const hint = await page.locator('.hint').first().textContent();
  assert.match(hint, /admin token/);
  assert.match(hint, /AIRHOOK_ADMIN_TOKEN/);
  assert.match(hint, /make run/);
  // Only the chosen kind of sign-in shows its fields.
  assert.equal(await page.getByLabel('Admin token').isVisible(), true);
  assert.equal(await page.getByLabel('Access key').isVisible(), false);
  await page.getByLabel('an integrator with a key pair').check();
  assert.equal(await page.getByLabel('Access key').isVisible(), true);
  assert.equal(await page.getByLabel('Admin token').isVisible(), false);
  await page.getByLabel('the operator of this server').check();
  await shot(page, 'sign-in');
  // The keyboard alone reaches the token field and signs in.
  await page.getByLabel('Admin token').focus();
  await page.keyboard.type(ADMIN);
  await page.keyboard.press('Enter');
  await page.getByRole('heading', { name: 'Communities' }).waitFor();
  assert.deepEqual(problems, []);
  await context.close();
});

test('a wrong token gets a readable error, not JSON', async () => {
  const { context, page, problems } = await watchedPage();
  await signInOperator(page, { token: 'not-the-token' });
  const alert = page.getByRole('alert');
  await alert.waitFor();
  const text = await alert.textContent();
  assert.match(text, /not this server's admin token/);
  assert.doesNotMatch(text, /[{}"]/);
  await shot(page, 'sign-in-error');
  assert.deepEqual(problems, []);
  await context.close();
});

let keyPair; // issued in the operator's test, used by the integrator's
let communityName;

test('the operator creates a community, issues a key pair (secret shown once) and signs out', async () => {
  const { context, page, problems } = await watchedPage();
  await signInOperator(page);
  await page.getByRole('heading', { name: 'Communities' }).waitFor();
  for (const name of ['Overview', 'Communities', 'Webhooks', 'Events', 'Deliveries', 'Live'])
    await page.getByRole('navigation').getByRole('link', { name, exact: true }).waitFor();
  await page.getByText('No communities yet').waitFor();
  communityName = 'Acme Events';
  await page.getByLabel('Community name').fill(communityName);
  await page.getByRole('button', { name: 'Create community' }).click();
  await page.getByRole('link', { name: communityName }).click();
  await page.getByRole('heading', { name: communityName }).waitFor();
  await page.getByLabel('Key pair label').fill('CRM sync');
  await page.getByRole('button', { name: 'Issue key pair' }).click();
  await page.getByText('it is shown only this once').waitFor();
  keyPair = {
    accessKey: await page.getByTestId('access-key').textContent(),
    secretKey: await page.getByTestId('secret-key').textContent(),
  };
  assert.match(keyPair.secretKey, /^ahs_[0-9a-f]{64}$/);
  await page.getByRole('button', { name: 'Copy secret key' }).waitFor();
  await page.getByRole('cell', { name: 'CRM sync', exact: true }).waitFor();
  await shot(page, 'community');
  // Revoking asks first; Cancel keeps the key, confirming revokes it.
  await page.getByLabel('Key pair label').fill('Old laptop');
  await page.getByRole('button', { name: 'Issue key pair' }).click();
  await page.getByRole('cell', { name: 'Old laptop', exact: true }).waitFor();
  await page.getByRole('button', { name: 'Revoke key pair Old laptop' }).click();
  await page.getByRole('dialog').getByRole('button', { name: 'Cancel' }).click();
  assert.equal(await page.getByRole('button', { name: 'Revoke key pair Old laptop' }).count(), 1);
  await page.getByRole('button', { name: 'Revoke key pair Old laptop' }).click();
  await page.getByRole('dialog').getByRole('button', { name: 'Revoke key pair' }).click();
  await page.getByText('Revoked “Old laptop”.').waitFor();
  // The notice comes before the list is loaded again: wait for the row's button to go.
  await page.getByRole('button', { name: 'Revoke key pair Old laptop' }).waitFor({ state: 'detached' });
  assert.equal(await page.getByRole('button', { name: 'Revoke key pair CRM sync' }).count(), 1);
  // Once: the page shown again no longer has the secret.
  await page.reload();
  await page.getByRole('cell', { name: 'CRM sync', exact: true }).waitFor();
  assert.equal(await page.getByText(keyPair.secretKey).count(), 0);
  await page.getByRole('link', { name: '← All communities' }).click();
  await page.getByRole('heading', { name: 'Communities' }).waitFor();
  await shot(page, 'communities');
  await page.setViewportSize(PHONE);
  await shot(page, 'communities-phone');
  await page.getByRole('button', { name: 'Sign out' }).click();
  await page.getByRole('heading', { name: 'Sign in to the airhook console' }).waitFor();
  // Signed out means the cookie no longer works.
  const status = await page.evaluate(async () => (await fetch('/admin/v1/communities')).status);
  assert.equal(status, 401);
  assert.deepEqual(problems, []);
  await context.close();
});

test('the integrator signs in with the key pair and sees the catalog of their community only', async () => {
  assert.ok(keyPair, 'the operator test issued a key pair');
  const { context, page, problems } = await watchedPage();
  await signInIntegrator(page, keyPair);
  for (const name of ['Triggers', 'Webhooks', 'Deliveries'])
    await page.getByRole('navigation').getByRole('link', { name, exact: true }).waitFor();
  assert.equal(await page.getByRole('navigation').getByRole('link', { name: 'Communities' }).count(), 0);
  await page.getByText(`Integrator · ${communityName}`).waitFor();
  await page.getByRole('heading', { name: 'registrant.added' }).waitFor();
  await page.getByText('Sample payload').first().click();
  await shot(page, 'triggers');
  // Register a webhook from the catalog: the trigger is picked, the secret shown once.
  await page.getByRole('link', { name: 'Register a webhook for trigger.airmeet.created' }).click();
  await page.getByRole('heading', { name: 'Webhooks', exact: true }).waitFor();
  await page.getByText('No webhooks yet').waitFor();
  assert.equal(await page.getByLabel('Trigger', { exact: true }).inputValue(), 'trigger.airmeet.created');
  await page.getByLabel('Name', { exact: true }).fill('New registrants');
  await page.getByLabel('URL', { exact: true }).fill('https://93.184.215.14/hooks/console');
  await page.getByRole('button', { name: 'Register webhook' }).click();
  await page.getByText('it is shown only this once').waitFor();
  assert.match(await page.getByTestId('signing-secret').textContent(), /^whsec_/);
  await page.getByRole('cell', { name: 'New registrants', exact: true }).waitFor();
  await shot(page, 'webhooks');
  await page.getByRole('button', { name: 'Deregister webhook New registrants' }).click();
  await page.getByRole('dialog').getByRole('button', { name: 'Deregister webhook' }).click();
  await page.getByText('Deregistered “New registrants”.').waitFor();
  await page.getByText('No webhooks yet').waitFor();
  // The admin API is not the integrator's; the public API acts for their community only.
  const probe = await page.evaluate(async () => {
    const s = await (await fetch('/ui/api/session')).json();
    const admin = (await fetch('/admin/v1/communities')).status;
    const noCsrf = (await fetch(`${s.basePath}/platform-integration/v1/webhook-register`, {
      method: 'POST', headers: { 'Content-Type': 'application/json' }, body: '{}' })).status;
    const withCsrf = (await fetch(`${s.basePath}/platform-integration/v1/webhook-register`, {
      method: 'POST', headers: { 'Content-Type': 'application/json', 'X-CSRF-Token': s.csrfToken }, body: '{}' })).status;
    return { admin, noCsrf, withCsrf, communityId: s.communityId };
  });
  assert.equal(probe.admin, 403);
  assert.equal(probe.noCsrf, 403);
  assert.equal(probe.withCsrf, 400); // past the CSRF check: the empty body is what is wrong
  await page.setViewportSize(PHONE);
  await shot(page, 'webhooks-empty-phone');
  await page.getByRole('navigation').getByRole('link', { name: 'Triggers' }).click();
  await page.getByRole('heading', { name: 'Triggers', exact: true }).waitFor();
  await shot(page, 'triggers-phone');
  // Revoking the key pair ends the session at its next request.
  const keys = await adminApi('GET', `/communities/${probe.communityId}/access-keys`);
  await adminApi('DELETE', `/access-keys/${keys.body.accessKeys[0].id}`);
  await page.getByRole('navigation').getByRole('link', { name: 'Webhooks' }).click();
  await page.getByText('the key pair of this session has been revoked').waitFor();
  assert.deepEqual(problems, []);
  await context.close();
});

test('a community named like HTML renders as text', async () => {
  const evil = '<img src=x onerror=alert(1)>';
  const made = await adminApi('POST', '/communities', { name: evil });
  assert.equal(made.status, 201);
  const { context, page, problems } = await watchedPage();
  await signInOperator(page);
  await page.getByRole('link', { name: evil }).waitFor();
  assert.equal(await page.locator('main img').count(), 0);
  await page.getByRole('link', { name: evil }).click();
  await page.getByRole('heading', { name: evil }).waitFor();
  assert.equal(await page.locator('main img').count(), 0);
  // A webhook named so, on the operator's Webhooks page: text too; then disabled and deleted.
  const key = await adminApi('POST', `/communities/${made.body.id}/access-keys`, { label: 'k' });
  await h.registerWebhook(key.body, evil, 'https://93.184.215.14/hooks/evil');
  await page.getByRole('navigation').getByRole('link', { name: 'Webhooks' }).click();
  await page.getByLabel('Community id').fill(made.body.id);
  await page.getByRole('button', { name: 'Apply filters' }).click();
  await page.getByRole('cell', { name: evil, exact: true }).waitFor();
  assert.equal(await page.locator('main img').count(), 0);
  await page.getByRole('button', { name: `Disable webhook ${evil}` }).click();
  await page.getByRole('button', { name: `Enable webhook ${evil}` }).waitFor();
  await shot(page, 'operator-webhooks');
  await page.getByRole('button', { name: `Delete webhook ${evil}` }).click();
  await page.getByRole('dialog').getByRole('button', { name: 'Delete webhook' }).click();
  await page.getByRole('cell', { name: 'deregistered', exact: true }).waitFor();
  assert.deepEqual(problems, []);
  await context.close();
});

test('a portal link signs an integrator in, read-only when it says so', async () => {
  const c = await adminApi('POST', '/communities', { name: 'Portal Co' });
  const { context, page, problems } = await watchedPage();
  await signInOperator(page);
  await page.getByRole('link', { name: 'Portal Co' }).click();
  await page.getByLabel('Read-only').check();
  await page.getByRole('button', { name: 'Create portal link' }).click();
  const url = await page.getByTestId('portal-url').textContent();
  assert.match(url, /\/ui\/portal#token=ahp_[0-9a-f]{64}$/);
  await page.getByRole('cell', { name: 'read-only', exact: true }).waitFor();
  await shot(page, 'portal-link');
  await context.close();

  const other = await watchedPage();
  await other.page.goto(url);
  await other.page.getByRole('heading', { name: 'Triggers' }).waitFor();
  await other.page.getByText('Integrator · Portal Co (read-only)').waitFor();
  assert.equal(new URL(other.page.url()).hash, '');
  const probe = await other.page.evaluate(async () => {
    const s = await (await fetch('/ui/api/session')).json();
    const r = await fetch(`${s.basePath}/platform-integration/v1/webhook-register`, {
      method: 'POST', headers: { 'Content-Type': 'application/json', 'X-CSRF-Token': s.csrfToken }, body: '{}' });
    return { status: r.status, body: await r.json(), communityId: s.communityId };
  });
  assert.equal(probe.status, 403);
  assert.match(probe.body.message, /read-only/);
  assert.equal(probe.communityId, c.body.id);
  assert.deepEqual(problems.concat(other.problems), []);
  await other.context.close();
});

test('the watch itself notices a CSP violation', async () => {
  const { context, page, problems } = await watchedPage();
  await page.goto(h.base + '/ui/');
  await page.getByRole('heading', { name: 'Sign in to the airhook console' }).waitFor();
  await page.evaluate(() => {
    const s = document.createElement('script');
    s.textContent = 'window.injected = 1';
    document.body.append(s);
  });
  const deadline = Date.now() + 2000;
  while (!problems.length && Date.now() < deadline) await new Promise((r) => setTimeout(r, 50));
  assert.match(problems.join('\n'), /Content Security Policy|CSP violation/);
  assert.equal(await page.evaluate(() => window.injected), undefined);
  await context.close();
});

test('the operator publishes an event from a trigger\'s sample and sees its deliveries', async () => {
  const c = await adminApi('POST', '/communities', { name: 'Publishing Co' });
  const key = await adminApi('POST', `/communities/${c.body.id}/access-keys`, { label: 'k' });
  const webhookId = (await h.registerWebhook(key.body, 'Created hook', 'https://93.184.215.14/hooks/created')).id;
  const { context, page, problems } = await watchedPage();
  await signInOperator(page);
  await page.getByRole('navigation').getByRole('link', { name: 'Events' }).click();
  await page.getByRole('heading', { name: 'Publish an event' }).waitFor();
  await page.getByLabel('Community id').first().fill(c.body.id);
  await page.getByLabel('Trigger', { exact: true }).first().selectOption('trigger.airmeet.created');
  assert.match(await page.getByLabel('Data (JSON)').inputValue(), /"triggerMetaInfoId": "trigger.airmeet.created"/);
  await page.getByRole('button', { name: 'Publish event' }).click();
  await page.getByText(/Published event [0-9a-f-]+: 1 delivery\./).waitFor();
  await page.getByRole('button', { name: /Deliveries of event/ }).first().click();
  await page.getByRole('cell', { name: webhookId, exact: true }).waitFor();
  await shot(page, 'events');
  assert.deepEqual(problems, []);
  await context.close();
});
