// SPDX-License-Identifier: MIT
// Verify signatures: what a delivery carries and a snippet per language
// (ui/verify-snippets.js, which tests/browser/snippets.test.mjs runs on a
// delivery airhook really sent).
import { copyButton } from './kit.js';
import { snippets } from './verify-snippets.js';

export async function verifyPage(path, c) {
  const { h, show } = c;
  const tabs = snippets.map((s) => h('section', { class: 'panel snippet', 'aria-labelledby': `snip-${s.lang}` },
    h('h2', { id: `snip-${s.lang}` }, s.lang),
    h('p', { class: 'muted' }, s.note),
    h('div', { class: 'row' }, h('span', { class: 'mono' }, s.file), copyButton(s.code, `${s.lang} snippet`)),
    h('pre', { tabindex: '0', 'aria-label': `${s.lang} snippet` }, h('code', {}, s.code))));
  show(h('h1', {}, 'Verify signatures'),
    h('p', {}, 'Every delivery is signed with your webhook\'s signing secret (', h('code', {}, 'whsec_…'),
      ', shown once when you register the webhook or rotate its secret), the ',
      h('a', { href: 'https://www.standardwebhooks.com/' }, 'Standard Webhooks'), ' way. Check it before you act on a delivery:'),
    h('ol', {},
      h('li', {}, 'Take the headers ', h('code', {}, 'webhook-id'), ', ', h('code', {}, 'webhook-timestamp'), ' and ', h('code', {}, 'webhook-signature'), ', and the raw body exactly as it arrived (before parsing the JSON).'),
      h('li', {}, 'Compute HMAC-SHA256 of ', h('code', {}, 'id.timestamp.body'), ' with the key that is the base64 after ', h('code', {}, 'whsec_'), '.'),
      h('li', {}, 'Compare it in constant time with each ', h('code', {}, 'v1,<base64>'), ' entry of the signature header (space-separated: two while a secret is being rotated; one match is enough).'),
      h('li', {}, 'Reject a timestamp more than 5 minutes away from your clock (a replay), and answer 401 to anything that fails.')),
    h('p', { class: 'muted' }, 'Try it: send a test event from the Webhooks page to a receiver running one of these.'),
    ...tabs);
}
