// The ficus dashboard: polls the admin API every second and renders it.
// Every value from the API goes into the page as text (textContent), never
// as markup: answers recorded from services may contain anything.
'use strict';

const POLL_MS = 1000;
const HISTORY = 300; // points kept per chart: five minutes at one a second
const REPORT_EVERY = 5; // polls between two reads of the mismatch report
const MAX_FINDINGS = 10; // open data findings listed per comparison

const state = {
  token: sessionStorage.getItem('ficus-token') || '',
  overview: null,
  history: {}, // route -> [{t, match, error}]
  prev: {}, // route -> {req, err} of the previous poll, for the error rate
  prevEvents: {}, // source -> {t, events}
  report: null,
  recordings: null,
  selected: null, // signature shown in the diff view: route + '\u0000' + signature
  polls: 0,
};

// A token may come in the URL fragment (#token=…): it never reaches a
// server log that way. It is kept for the tab only.
(function tokenFromFragment() {
  const m = location.hash.match(/token=([^&]+)/);
  if (m) {
    state.token = decodeURIComponent(m[1]);
    sessionStorage.setItem('ficus-token', state.token);
    history.replaceState(null, '', location.pathname);
  }
})();

class Unauthorized extends Error {}

async function api(path, opts = {}) {
  const headers = Object.assign({}, opts.headers || {});
  if (state.token) headers['Authorization'] = 'Bearer ' + state.token;
  // The admin listener takes changes only as JSON (a cross-site form cannot
  // send that without a preflight ficus never approves), even without a body.
  // The browser adds Origin itself: this page's own.
  const method = (opts.method || 'GET').toUpperCase();
  if (method !== 'GET' && method !== 'HEAD') headers['Content-Type'] = 'application/json';
  const r = await fetch(path, Object.assign({}, opts, { headers, cache: 'no-store' }));
  if (r.status === 401) throw new Unauthorized('the admin token is missing or wrong');
  if (r.status === 404) return null;
  const body = await r.json().catch(() => null);
  if (!r.ok) throw new Error(path + ': ' + ((body && body.error) || r.status));
  return body;
}

function el(tag, attrs = {}, ...children) {
  const e = document.createElement(tag);
  for (const [k, v] of Object.entries(attrs)) {
    if (k === 'class') e.className = v;
    else if (k.startsWith('on')) e.addEventListener(k.slice(2), v);
    else e.setAttribute(k, v);
  }
  for (const c of children) e.append(c instanceof Node ? c : document.createTextNode(String(c)));
  return e;
}

function td(value, field, num = true) {
  return el('td', { class: num ? 'num' : '', 'data-field': field }, value);
}

const pct = (x) => (x * 100).toFixed(2);
const fmt = (x) => (Number.isInteger(x) ? String(x) : x.toFixed(2));

function sum(obj) {
  return Object.values(obj || {}).reduce((a, b) => a + b, 0);
}

async function poll() {
  try {
    if (!state.overview) state.overview = await api('/api/dashboard');
    const [routes, rollout, capture, ready] = await Promise.all([
      api('/api/routes'),
      api('/api/rollout'),
      api('/api/capture'),
      fetch('/readyz', { cache: 'no-store', headers: state.token ? { Authorization: 'Bearer ' + state.token } : {} })
        .then((r) => r.json().catch(() => ({ ready: r.ok }))),
    ]);
    const shadow = {};
    await Promise.all((routes || []).map(async (r) => {
      shadow[r.name] = await api('/api/shadow/' + encodeURIComponent(r.name));
    }));
    const data = {};
    await Promise.all(state.overview.data.map(async (n) => {
      data[n] = await api('/api/data/' + encodeURIComponent(n));
    }));
    if (state.overview.recorded && state.polls % REPORT_EVERY === 0) {
      // Mismatch signatures and open data findings.
      state.report = await api('/api/report?since=15m');
    }
    if (state.overview.recordings && state.polls % REPORT_EVERY === 0) {
      state.recordings = await api('/api/recordings');
    }
    state.polls++;
    renderReady(ready);
    renderRoutes(routes || [], rollout || [], shadow);
    renderGates(rollout || []);
    renderCharts();
    renderSignatures();
    renderCapture(capture || []);
    renderRecordings();
    renderData(data);
    document.getElementById('error').hidden = true;
    document.getElementById('login').hidden = true;
    document.getElementById('updated').textContent = 'updated ' + new Date().toLocaleTimeString();
  } catch (e) {
    showError(e);
  }
}

function showError(e) {
  const p = document.getElementById('error');
  p.textContent = e.message;
  p.hidden = false;
  if (e instanceof Unauthorized) document.getElementById('login').hidden = false;
}

function renderReady(ready) {
  const s = document.getElementById('ready');
  s.textContent = ready && ready.ready ? 'ready' : 'not ready';
  s.className = 'pill ' + (ready && ready.ready ? 'ok' : 'bad');
}

function renderRoutes(routes, rollout, shadow) {
  const byName = {};
  for (const r of rollout) byName[r.name] = r;
  const body = document.querySelector('#routes tbody');
  const rows = [];
  const now = Date.now();
  for (const r of routes) {
    const ro = byName[r.name];
    const sh = shadow[r.name];
    const newReq = r.counts.new.requests;
    const new5xx = r.counts.new.status['5xx'] || 0;
    // The chart's error rate is per interval; the table's since start.
    const prev = state.prev[r.name] || { req: newReq, err: new5xx };
    const dReq = newReq - prev.req;
    state.prev[r.name] = { req: newReq, err: new5xx };
    const h = (state.history[r.name] = state.history[r.name] || []);
    h.push({ t: now, match: sh && sh.compared > 0 ? sh.match_rate : null, error: dReq > 0 ? (new5xx - prev.err) / dReq : null });
    if (h.length > HISTORY) h.shift();

    let step = '—';
    if (ro && ro.rollout) {
      step = (ro.step >= 0 ? 'step ' + (ro.step + 1) + '/' + ro.rollout.steps.length : 'not started') + (ro.phase ? ' · ' + ro.phase : '');
    } else if (ro && ro.phase) {
      step = ro.phase;
    }
    if (ro && ro.manual) step += ' · manual';
    // A step of approve_at waits for an operator: the bucket says since when.
    const waiting = ro && ro.awaiting_approval > 0 && !ro.approved_at;
    if (waiting) {
      step += ' · awaiting approval of ' + fmt(ro.awaiting_approval) + ' % since ' + new Date(ro.awaiting_since).toLocaleTimeString();
    } else if (ro && ro.awaiting_approval > 0) {
      step += ' · ' + fmt(ro.awaiting_approval) + ' % approved, to be set';
    }
    const action = (name) => el('button', {
      'data-action': name,
      onclick: () => act(r.name, name),
    }, name);
    const actions = el('td', {}, action('rollback'));
    if (ro && ro.rollout) actions.prepend(action('promote'), ' ', action('pause'), ' ', action('resume'), ' ');
    // The same guarded POST as every action: the token in a header and
    // JSON, which no other site's page can send (guard.go).
    if (waiting) actions.prepend(action('approve'), ' ');
    rows.push(el('tr', { 'data-route': r.name },
      td(r.name, 'name', false),
      td(fmt(r.weight), 'weight'),
      td(step, 'rollout', false),
      td(r.counts.legacy.requests, 'legacy_requests'),
      td(newReq, 'new_requests'),
      td(newReq > 0 ? pct(new5xx / newReq) : '—', 'new_5xx'),
      td(sh && sh.compared > 0 ? pct(sh.match_rate) + ' %' : '—', 'match_rate'),
      td(sh ? sh.compared : '—', 'compared'),
      actions));
  }
  body.replaceChildren(...rows);
}

// renderGates lists every rollout gate's last result (GET /api/rollout:
// gates, gates_at): what it measured against what, and why.
function renderGates(rollout) {
  const rows = [];
  for (const ro of rollout) {
    for (const g of ro.gates || []) {
      rows.push(el('tr', { 'data-gate': ro.name + '/' + g.name, class: 'verdict-' + g.verdict },
        td(ro.name, 'route', false),
        td(g.name, 'name', false),
        td(g.kind, 'kind', false),
        td(g.verdict + (g.dry_run ? ' (dry run)' : ''), 'verdict', false),
        td(fmt(g.value), 'value'),
        td(g.threshold, 'threshold', false),
        td(ro.gates_at ? new Date(ro.gates_at).toLocaleTimeString() : '—', 'at', false),
        td(g.reason || '', 'reason', false)));
    }
  }
  document.querySelector('#gate-results tbody').replaceChildren(...rows);
  document.getElementById('gates').hidden = rows.length === 0;
}

async function act(route, action) {
  if (!confirm(action + ' route ' + route + '?')) return;
  try {
    await api('/api/routes/' + encodeURIComponent(route) + '/' + action, { method: 'POST' });
    await poll();
  } catch (e) {
    showError(e);
  }
}

// renderCharts draws match rate and new-side error rate over time, per
// route, as inline SVG: nothing is loaded from anywhere.
function renderCharts() {
  const box = document.getElementById('charts');
  const W = 320, H = 120;
  const charts = [];
  for (const [route, h] of Object.entries(state.history)) {
    const t0 = h[0].t, span = Math.max(h[h.length - 1].t - t0, 1);
    const line = (key, cls) => {
      const pts = h.filter((p) => p[key] !== null).map((p) =>
        ((p.t - t0) / span * (W - 10) + 5).toFixed(1) + ',' + (H - 5 - p[key] * (H - 10)).toFixed(1));
      const pl = document.createElementNS('http://www.w3.org/2000/svg', 'polyline');
      pl.setAttribute('points', pts.join(' '));
      pl.setAttribute('fill', 'none');
      pl.setAttribute('stroke', cls === 'match' ? '#2f7d4f' : '#b3361e');
      pl.setAttribute('stroke-width', '2');
      pl.setAttribute('data-series', cls);
      return pl;
    };
    const svg = document.createElementNS('http://www.w3.org/2000/svg', 'svg');
    svg.setAttribute('width', W);
    svg.setAttribute('height', H);
    svg.setAttribute('viewBox', `0 0 ${W} ${H}`);
    const frame = document.createElementNS('http://www.w3.org/2000/svg', 'rect');
    frame.setAttribute('x', 5); frame.setAttribute('y', 5);
    frame.setAttribute('width', W - 10); frame.setAttribute('height', H - 10);
    frame.setAttribute('fill', '#fafcfb'); frame.setAttribute('stroke', '#d8dfdb');
    svg.append(frame, line('match', 'match'), line('error', 'error'));
    charts.push(el('div', { class: 'chart', 'data-chart': route },
      el('div', { class: 'title' }, route + ' — ',
        el('span', { class: 'legend-match' }, 'match rate'), ' / ',
        el('span', { class: 'legend-error' }, 'new 5xx rate'), ' (0–100 %)'),
      svg));
  }
  box.replaceChildren(...charts);
}

function renderSignatures() {
  const body = document.querySelector('#signatures tbody');
  if (!state.report) return;
  const rows = [];
  for (const rr of state.report.routes) {
    for (const g of rr.groups) {
      const key = rr.route + '\u0000' + g.signature;
      const tr = el('tr', { class: 'sig' + (state.selected === key ? ' selected' : ''), 'data-signature': g.signature },
        td(rr.route, 'route', false), td(g.signature, 'signature', false), td(g.count, 'count'), td(pct(g.share) + ' %', 'share'));
      tr.addEventListener('click', () => { state.selected = key; showDiff(rr.route, g); renderSignatures(); });
      rows.push(tr);
    }
  }
  body.replaceChildren(...rows);
}

function pretty(body) {
  try { return JSON.stringify(JSON.parse(body), null, 2); } catch { return body || ''; }
}

function showDiff(route, g) {
  const ex = g.example;
  document.getElementById('diffview').hidden = false;
  document.getElementById('diff-title').textContent = route + ': ' + ex.method + ' ' + ex.path + ' — ' + g.signature;
  document.getElementById('diff-legacy').textContent = 'HTTP ' + ex.legacy.status + '\n\n' + pretty(ex.legacy.body);
  document.getElementById('diff-new').textContent = 'HTTP ' + ex.new.status + '\n\n' + pretty(ex.new.body);
  const show = (v) => (v === undefined ? '' : JSON.stringify(v));
  document.querySelector('#diff-paths tbody').replaceChildren(...(ex.diffs || []).map((d) =>
    el('tr', {}, td(d.path, 'path', false), td(d.kind, 'kind', false), td(show(d.legacy), 'legacy', false), td(show(d.new), 'new', false))));
}

function renderCapture(sources) {
  const body = document.querySelector('#capture tbody');
  const now = Date.now();
  body.replaceChildren(...sources.map((s) => {
    const prev = state.prevEvents[s.name];
    state.prevEvents[s.name] = { t: now, events: s.events };
    const rate = prev && now > prev.t ? (s.events - prev.events) / ((now - prev.t) / 1000) : null;
    const snap = s.snapshot_rows_total > 0 ? pct(Math.min(s.snapshot_rows_done / s.snapshot_rows_total, 1)) + ' %' : '—';
    return el('tr', { 'data-source': s.name },
      td(s.failed ? s.name + ' — stopped: ' + s.error : s.name, 'name', false), td(s.type, 'type', false), td(s.events, 'events'),
      td(rate === null ? '—' : rate.toFixed(1), 'events_per_s'), td(s.lag_seconds.toFixed(1), 'lag_seconds'),
      td(s.slot_lag_bytes, 'slot_lag_bytes'), td(snap, 'snapshot'));
  }));
}

function bytes(n) {
  if (n >= 1 << 30) return (n / (1 << 30)).toFixed(1) + ' GiB';
  if (n >= 1 << 20) return (n / (1 << 20)).toFixed(1) + ' MiB';
  if (n >= 1 << 10) return (n / (1 << 10)).toFixed(1) + ' KiB';
  return n + ' B';
}

// renderRecordings shows each recorded route's exchanges on FICUS_TRAFFIC
// and the summary its last `ficus replay` published.
function renderRecordings() {
  document.getElementById('recordings-panel').hidden = !(state.overview && state.overview.recordings);
  const body = document.querySelector('#recordings tbody');
  body.replaceChildren(...(state.recordings || []).map((r) => {
    const last = r.last_replay;
    return el('tr', { 'data-recording': r.route },
      td(r.route, 'route', false), td(r.count, 'count'), td(bytes(r.bytes), 'bytes'),
      td(r.oldest ? new Date(r.oldest).toLocaleString() : '—', 'oldest', false),
      td(last ? (last.passed ? 'pass' : 'FAIL') : 'none yet', 'last_replay', false),
      td(last ? pct(last.match_rate) + ' %' : '—', 'match_rate'),
      td(last ? last.replayed : '—', 'replayed'),
      td(last ? new Date(last.finished).toLocaleString() : '—', 'finished', false));
  }));
}

// renderData shows each comparison's figures as the API gives them: its
// numbers, one per line, whatever they are named.
function renderData(data) {
  const box = document.getElementById('data');
  const parts = [];
  const reports = {};
  for (const dr of (state.report && state.report.data) || []) reports[dr.name] = dr;
  for (const [name, figs] of Object.entries(data)) {
    const dl = el('dl', { class: 'figures', 'data-comparison': name });
    for (const [k, v] of Object.entries(figs || {})) {
      if (typeof v === 'number' || typeof v === 'string') dl.append(el('dt', {}, k), el('dd', { 'data-field': k }, v));
    }
    parts.push(el('h3', {}, name), dl);
    // The open findings of the last 15 minutes (FICUS_DATA), by key.
    const open = (reports[name] && reports[name].examples) || [];
    if (open.length > 0) {
      const cols = (f) => (f.columns || []).map((c) =>
        c.legacy_column + ' ' + (c.legacy ?? 'NULL') + ' ≠ ' + c.new_column + ' ' + (c.new ?? 'NULL')).join('; ');
      parts.push(el('table', { class: 'findings', 'data-findings': name },
        el('thead', {}, el('tr', {}, el('th', {}, 'key'), el('th', {}, 'finding'), el('th', {}, 'columns'))),
        el('tbody', {}, ...open.slice(0, MAX_FINDINGS).map((f) => el('tr', {},
          // A key other than one integer column is the array of its canonical texts.
          td(Array.isArray(f.key) ? JSON.stringify(f.key) : f.key, 'key'), td(f.kind + (f.deleted_in ? ' (deleted in ' + f.deleted_in + ')' : ''), 'kind', false),
          td(cols(f), 'columns', false))))));
      const more = reports[name].open - Math.min(open.length, MAX_FINDINGS);
      if (more > 0) parts.push(el('p', { class: 'muted' }, '… and ' + more + ' more open findings (ficus report lists them all)'));
    }
  }
  if (parts.length === 0) parts.push(el('p', { class: 'muted' }, 'no data comparison configured'));
  box.replaceChildren(...parts);
}

document.getElementById('login').addEventListener('submit', (ev) => {
  ev.preventDefault();
  state.token = document.getElementById('token').value;
  sessionStorage.setItem('ficus-token', state.token);
  state.overview = null;
  poll();
});

poll();
setInterval(poll, POLL_MS);
