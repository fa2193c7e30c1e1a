// SPDX-License-Identifier: MIT
// The operator's overview: the server's health (GET /admin/v1/overview) and
// per-minute charts (GET /admin/v1/stats/series) drawn as inline SVG with
// DOM calls: no chart library, nothing inserted as HTML, no inline style
// (colours come from app.css classes).  Each chart answers the value under
// the pointer, or under its cursor moved with the arrow keys, in a line of
// text below it.

const SVG = 'http://www.w3.org/2000/svg';

function svg(tag, attrs, ...kids) {
  const el = document.createElementNS(SVG, tag);
  for (const [k, v] of Object.entries(attrs || {})) if (v !== null && v !== undefined) el.setAttribute(k, String(v));
  for (const c of kids) el.append(c instanceof Node ? c : document.createTextNode(String(c)));
  return el;
}

// 1, 2, 5 × 10^n at or above v: axis maxima people read at a glance.
function niceCeil(v) {
  if (!(v > 0)) return 1;
  const p = Math.pow(10, Math.floor(Math.log10(v)));
  for (const m of [1, 2, 5, 10]) if (m * p >= v) return m * p;
  return 10 * p;
}

function num(v, digits = 2) {
  if (v === null || v === undefined) return '—';
  if (Math.abs(v) >= 100 || Number.isInteger(v)) return String(Math.round(v));
  return String(Number(v.toFixed(digits)));
}

function hhmm(t) {
  const d = new Date(t * 1000);
  return `${String(d.getHours()).padStart(2, '0')}:${String(d.getMinutes()).padStart(2, '0')}`;
}

// A line chart of parallel series over the same minutes.  null is a gap.
export function lineChart(h, { title, unit, ts, series, max, fmt = num }) {
  // Narrow screens get a narrower drawing, so that its text stays readable.
  const W = window.innerWidth < 600 ? 360 : 640, H = 230, L = 50, R = 12, T = 26, B = 30;
  const n = ts.length;
  let top = max;
  if (top === undefined) {
    top = 0;
    for (const s of series) for (const v of s.values) if (v !== null && v > top) top = v;
    top = niceCeil(top);
  }
  const x = (i) => L + (n > 1 ? i / (n - 1) : 0.5) * (W - L - R);
  const y = (v) => T + (1 - v / top) * (H - T - B);
  const g = svg('g', {});
  for (const f of [0, 0.5, 1]) {
    const v = top * f;
    g.append(svg('line', { class: 'grid', x1: L, x2: W - R, y1: y(v), y2: y(v) }),
      svg('text', { class: 'tick', x: L - 6, y: y(v) + 4, 'text-anchor': 'end' }, fmt(v)));
  }
  g.append(svg('text', { class: 'tick', x: 4, y: 12 }, unit));
  const ticks = W < 600 ? 2 : 4;
  for (let k = 0; k <= ticks && n; k++) {
    const i = Math.round((k / ticks) * (n - 1));
    g.append(svg('text', { class: 'tick', x: x(i), y: H - 8, 'text-anchor': k === 0 ? 'start' : k === ticks ? 'end' : 'middle' }, hhmm(ts[i])));
  }
  g.append(svg('line', { class: 'axis', x1: L, x2: W - R, y1: y(0), y2: y(0) }),
    svg('line', { class: 'axis', x1: L, x2: L, y1: T, y2: y(0) }));
  series.forEach((s, k) => {
    let d = '';
    let pen = false;
    s.values.forEach((v, i) => {
      if (v === null || v === undefined) { pen = false; return; }
      d += `${pen ? 'L' : 'M'}${x(i).toFixed(1)} ${y(Math.min(v, top)).toFixed(1)}`;
      pen = true;
    });
    // A lone point (one minute of data between gaps) still shows.
    s.values.forEach((v, i) => {
      const alone = v !== null && v !== undefined && (i === 0 || s.values[i - 1] === null) && (i === n - 1 || s.values[i + 1] === null);
      if (alone) g.append(svg('circle', { class: `dot s${k}`, cx: x(i), cy: y(Math.min(v, top)), r: 2.5 }));
    });
    if (d) g.append(svg('path', { class: `line s${k}`, d }));
  });
  const cursor = svg('line', { class: 'cursor', x1: 0, x2: 0, y1: T, y2: y(0), visibility: 'hidden' });
  g.append(cursor);
  const chart = svg('svg', { viewBox: `0 0 ${W} ${H}`, class: 'chart', role: 'img', tabindex: 0,
    'aria-label': `${title} (${unit}), last ${n} minutes. Move the pointer over it, or use the arrow keys, to read a minute's values.` },
  svg('title', {}, `${title} (${unit})`), g);
  const readout = h('p', { class: 'readout muted', 'aria-live': 'polite' }, 'Point at the chart (or focus it and use ← →) to read a minute.');
  let at = -1;
  function showAt(i) {
    if (!n) return;
    at = Math.max(0, Math.min(n - 1, i));
    cursor.setAttribute('x1', x(at));
    cursor.setAttribute('x2', x(at));
    cursor.setAttribute('visibility', 'visible');
    readout.textContent = `${hhmm(ts[at])}: ` + series.map((s) => `${s.name} ${fmt(s.values[at])}`).join(' · ') + ` (${unit})`;
  }
  chart.addEventListener('mousemove', (ev) => {
    const r = chart.getBoundingClientRect();
    const px = ((ev.clientX - r.left) / r.width) * W;
    showAt(Math.round(((px - L) / (W - L - R)) * (n - 1)));
  });
  chart.addEventListener('keydown', (ev) => {
    const step = { ArrowLeft: -1, ArrowRight: 1, PageUp: -10, PageDown: 10 }[ev.key];
    if (step) showAt((at < 0 ? n - 1 : at) + step);
    else if (ev.key === 'Home') showAt(0);
    else if (ev.key === 'End') showAt(n - 1);
    else return;
    ev.preventDefault();
  });
  chart.addEventListener('focus', () => { if (at < 0) showAt(n - 1); });
  const legend = h('ul', { class: 'legend' }, series.map((s, k) => h('li', {}, h('span', { class: `swatch s${k}`, 'aria-hidden': 'true' }), s.name)));
  return h('figure', { class: 'panel chart-box' }, h('figcaption', {}, h('h3', {}, title), legend), chart, readout);
}

function ago(seconds) {
  if (seconds === null || seconds === undefined) return '—';
  if (seconds < 120) return `${Math.round(seconds)} s`;
  if (seconds < 7200) return `${Math.round(seconds / 60)} min`;
  if (seconds < 172800) return `${Math.round(seconds / 3600)} h`;
  return `${Math.round(seconds / 86400)} days`;
}

function healthCards(h, when, o) {
  const st = o.store;
  const card = (title, ...body) => h('section', { class: 'panel', 'aria-label': title }, h('h2', {}, title), ...body);
  const dl = (pairs) => h('dl', { class: 'facts' }, pairs.flatMap(([k, v]) => [h('dt', {}, k), h('dd', {}, v)]));
  const disabled = o.webhooks ? o.webhooks.recentlyDisabled : [];
  return h('div', { class: 'cards' },
    card('Store',
      h('p', {}, h('span', { class: st.ok ? 'badge on' : 'badge off' }, st.ok ? 'answering' : 'not answering'), ` ${st.name}`),
      dl([['Ping', st.pingMs === null ? '—' : `${num(st.pingMs, 3)} ms`]]),
      st.error ? h('p', { class: 'error' }, st.error) : null),
    card('Backlog',
      o.backlog ? dl([
        ['Pending deliveries', String(o.backlog.pending)],
        ['Oldest pending', o.backlog.oldestPendingAt ? `${when(o.backlog.oldestPendingAt)} (${ago(o.backlog.oldestPendingAgeSeconds)} ago)` : 'none pending'],
      ]) : h('p', { class: 'muted' }, 'Unknown while the store does not answer.')),
    card('Webhooks',
      o.webhooks ? dl([['Communities', String(o.communities)], ['Active webhooks', String(o.webhooks.active)], ['Disabled webhooks', String(o.webhooks.disabled)]])
        : h('p', { class: 'muted' }, 'Unknown while the store does not answer.'),
      disabled.length ? h('div', {}, h('h3', {}, 'Disabled last'), h('ul', { class: 'plain' }, disabled.map((w) => h('li', {},
        h('a', { href: `/ui/deliveries?webhookId=${encodeURIComponent(w.id)}` }, w.name),
        h('div', { class: 'muted' }, w.disabledReason || 'disabled', ' · ', when(w.updatedAt)))))) : null),
    card('Last hour',
      dl([['Events published', o.lastHour && o.lastHour.events !== null ? String(o.lastHour.events) : '—'],
        ['Deliveries', o.lastHour && o.lastHour.deliveries !== null ? String(o.lastHour.deliveries) : '—'],
        ['Attempts (this node)', o.lastHour ? `${o.lastHour.attempts.succeeded} succeeded, ${o.lastHour.attempts.retry} to retry, ${o.lastHour.attempts.failed} failed` : '—']])),
    card('This node',
      dl([['Version', o.node.version], ['Region', o.node.region], ['Role', o.node.role], ['Up for', ago(o.node.uptimeSeconds)]])));
}

export async function overviewPage(path, { h, field, show, when, admin, errorBox }) {
  const range = field('Time range', { tag: 'select', name: 'minutes' });
  for (const [v, t] of [['60', 'last 60 minutes'], ['1440', 'last 24 hours']]) range.input.append(h('option', { value: v }, t));
  const healthBox = h('div');
  const chartsBox = h('div', { class: 'charts' });
  async function loadCharts() {
    const s = await admin('GET', `/stats/series?minutes=${range.input.value}`);
    const perS = (a) => a.map((c) => c / 60);
    const pct = (v) => (v === null || v === undefined ? '—' : `${num(v * 100, 1)}`);
    chartsBox.replaceChildren(
      lineChart(h, { title: 'Deliveries per second, by outcome', unit: 'attempts/s', ts: s.timestamps, fmt: (v) => num(v, 3), series: [
        { name: 'succeeded', values: perS(s.attempts.succeeded) },
        { name: 'retry', values: perS(s.attempts.retry) },
        { name: 'failed', values: perS(s.attempts.failed) }] }),
      lineChart(h, { title: 'Success rate', unit: '%', ts: s.timestamps, max: 1, fmt: pct, series: [
        { name: 'succeeded', values: s.successRate }] }),
      lineChart(h, { title: 'Latency', unit: 'ms', ts: s.timestamps, series: [
        { name: 'p50', values: s.latencyP50Ms }, { name: 'p99', values: s.latencyP99Ms }] }),
      lineChart(h, { title: 'Backlog over time', unit: 'pending deliveries', ts: s.timestamps, series: [
        { name: 'pending', values: s.backlog }] }));
    chartsBox.append(h('p', { class: 'muted' },
      `Per minute, for the attempts this node made since it started (${when(s.nodeStartedAt)}); minutes before that are empty.`));
  }
  range.input.addEventListener('change', async () => {
    try { await loadCharts(); } catch (e) { chartsBox.replaceChildren(errorBox(e)); }
  });
  // Crossing the phone width redraws the charts at the other drawing width.
  const narrow = window.matchMedia('(max-width: 599px)');
  narrow.addEventListener('change', function redraw() {
    if (!chartsBox.isConnected) { narrow.removeEventListener('change', redraw); return; }
    loadCharts().catch((e) => chartsBox.replaceChildren(errorBox(e)));
  });
  const o = await admin('GET', '/overview');
  healthBox.replaceChildren(healthCards(h, when, o));
  const rangeForm = h('form', { class: 'inline narrow', 'aria-label': 'Chart range' }, range.el);
  rangeForm.addEventListener('submit', (ev) => ev.preventDefault());
  show(h('h1', {}, 'Overview'),
    o.communities === 0 ? h('p', { class: 'hint' }, 'Nothing here yet: create a community, issue it a key pair, and hand the pair (or a portal link) to its integrator. ',
      h('a', { href: '/ui/communities' }, 'Go to Communities')) : '',
    healthBox, h('h2', {}, 'Deliveries'), rangeForm, chartsBox);
  try { await loadCharts(); } catch (e) { chartsBox.replaceChildren(errorBox(e)); }
}
