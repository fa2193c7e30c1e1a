// SPDX-License-Identifier: MIT
// The console's DOM helpers, one definition each, for app.js and every
// ui/page-*.js: h, a time as text, a copy button, a confirmation dialog, a
// table, a pager, a status badge, and a delivery's attempts.  Everything goes in as
// text (DOM nodes, textContent), never as HTML.

export function h(tag, attrs, ...children) {
  const el = document.createElement(tag);
  for (const [k, v] of Object.entries(attrs || {})) {
    if (v === null || v === undefined || v === false) continue;
    if (k.startsWith('on')) el.addEventListener(k.slice(2), v);
    else if (k === 'text') el.textContent = v;
    else el.setAttribute(k, v === true ? '' : String(v));
  }
  for (const c of children.flat()) {
    if (c === null || c === undefined || c === false) continue;
    el.append(c instanceof Node ? c : document.createTextNode(String(c)));
  }
  return el;
}

export function when(ms) {
  if (!ms) return '—';
  const d = new Date(ms);
  return isNaN(d) ? String(ms) : d.toLocaleString();
}

// A datetime-local input's value (local time, no zone) as RFC 3339 UTC, or ''.
export function isoOf(v) {
  if (!v) return '';
  const d = new Date(v);
  return isNaN(d) ? '' : d.toISOString();
}

export function copyButton(text, what) {
  const b = h('button', { class: 'secondary', type: 'button' }, `Copy ${what}`);
  b.addEventListener('click', async () => {
    try {
      await navigator.clipboard.writeText(text);
      b.textContent = 'Copied';
    } catch (e) {
      b.textContent = 'Select it and copy by hand';
    }
  });
  return b;
}

export function confirmDialog(question, yes) {
  return new Promise((resolve) => {
    const d = h('dialog', { 'aria-labelledby': 'confirm-q' },
      h('p', { id: 'confirm-q' }, question),
      h('div', { class: 'row' },
        h('button', { class: 'danger', type: 'button', onclick: () => { d.close(); resolve(true); } }, yes),
        h('button', { class: 'secondary', type: 'button', onclick: () => { d.close(); resolve(false); } }, 'Cancel')));
    d.addEventListener('close', () => { d.remove(); resolve(false); });
    document.body.append(d);
    d.showModal();
  });
}

// A table that scrolls sideways when it must: a caption (or none), a header
// cell per name in head (the columns whose index is in optional hide on a
// phone), and the rows.
export function table(caption, head, rows, optional = []) {
  return h('div', { class: 'table-wrap' }, h('table', {},
    caption ? h('caption', { class: 'muted' }, caption) : null,
    h('thead', {}, h('tr', {}, head.map((t, k) => h('th', { scope: 'col', class: optional.includes(k) ? 'optional' : null }, t)))),
    h('tbody', {}, rows)));
}

// Previous / Next over cursor pages: cursors[i] is where page i starts.
export function pager(cursors, i, next, load) {
  const p = h('div', { class: 'pager' });
  if (i > 0) p.append(h('button', { class: 'secondary', type: 'button', onclick: () => load(i - 1) }, 'Previous page'));
  if (next) p.append(h('button', { class: 'secondary', type: 'button', onclick: () => { cursors[i + 1] = next; load(i + 1); } }, 'Next page'));
  return p;
}

export function statusBadge(status) {
  const ok = status === 'succeeded' || status === 'active';
  const bad = status === 'failed' || status === 'disabled' || status === 'deregistered' || status === 'cancelled'
    || status === 'revoked' || status === 'expired';
  return h('span', { class: ok ? 'badge on' : bad ? 'badge off' : 'badge' }, status);
}

// One delivery's attempts: time, duration, answer, error, the headers both
// ways and the start of the answer's body, all as text.  The two audiences
// read the same attempt JSON in their own words: the operator's timeline
// runs oldest first in HTTP terms with the request headers as a table; the
// integrator's list runs newest first in sentences, headers as sent.
const ATTEMPT_WORDS = {
  operator: {
    list: { class: 'timeline' },
    newestFirst: false,
    answer: (code) => (code === null ? ' · no HTTP answer' : ` · HTTP ${code}`),
    sent: 'Sent',
    requestHeaders: (hs) => h('div', { class: 'table-wrap' }, h('table', { class: 'headers' }, h('tbody', {},
      Object.entries(hs).map(([k, v]) => h('tr', {}, h('th', { scope: 'row', class: 'mono' }, k), h('td', { class: 'mono wrap' }, v)))))),
    missing: (text) => h('p', { class: 'muted' }, text),
    noResponseHeaders: 'None: there was no HTTP answer.',
    emptyBody: 'Empty.',
    pending: (d) => `No attempt yet: the first one is due ${when(d.nextAttemptAt)}. Refresh to see it.`,
  },
  integrator: {
    list: { class: 'attempts', reversed: true },
    newestFirst: true,
    answer: (code) => (code === null ? ': no answer' : `: answered ${code}`),
    sent: 'Started',
    requestHeaders: (hs) => h('pre', { class: 'wrap' }, Object.entries(hs).map(([k, v]) => `${k}: ${v}`).join('\n') || '—'),
    missing: (text, attrs) => h('pre', { class: 'wrap', ...attrs }, text),
    noResponseHeaders: '—',
    emptyBody: '(empty)',
    pending: () => 'No attempt yet: it is due now. This page shows it once it is made (reload to check).',
  },
};

export function attemptList(d, audience) {
  const w = ATTEMPT_WORDS[audience];
  if (!d.attempts || !d.attempts.length) {
    return h('p', { class: 'muted' }, d.status === 'pending' ? w.pending(d) : 'No attempt was made.');
  }
  const attempts = w.newestFirst ? [...d.attempts].reverse() : d.attempts;
  return h('ol', w.list, attempts.map((a) => h('li', { class: 'panel', 'aria-label': `Attempt ${a.attempt}` },
    h('h3', {}, `Attempt ${a.attempt}${w.answer(a.statusCode)}`),
    h('dl', { class: 'facts' },
      h('dt', {}, w.sent), h('dd', {}, when(a.startedAt)),
      h('dt', {}, 'Duration'), h('dd', {}, `${a.durationMs} ms`),
      h('dt', {}, 'Status'), h('dd', {}, a.statusCode === null ? '—' : String(a.statusCode)),
      h('dt', {}, 'Error'), h('dd', { class: 'wrap' }, a.error || '—')),
    h('details', {}, h('summary', {}, 'Request headers'), w.requestHeaders(a.requestHeaders || {})),
    h('details', {}, h('summary', {}, 'Response headers'),
      a.responseHeaders ? h('pre', { class: 'wrap' }, a.responseHeaders) : w.missing(w.noResponseHeaders)),
    h('h4', {}, 'Response body (first 1 KiB)'),
    a.responseBody ? h('pre', { class: 'wrap', 'data-testid': 'response-body' }, a.responseBody) : w.missing(w.emptyBody, { 'data-testid': 'response-body' }))));
}
