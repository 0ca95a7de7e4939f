// The page of one service (#/services/<id>): its state, uptime over 24 h
// and 7 d, a latency chart of its recent results drawn here in SVG (no
// charting library), its recent results and its transitions. It is kept
// live by the same WebSocket as the table: a transition of this service
// refetches its history once, nothing polls. A check probed from several
// regions also shows each region's state and its quorum, which region
// each result came from, and a choice of one region's history.

import * as api from './api.js';
import { el, svg, normalState, formatLatency, setTime, regionStates, renderRegions, eventRegions } from './view.js';

const RESULTS = 120; // points in the chart
const LIST = 20; // rows in the results and transitions lists

const $ = (id) => document.getElementById(id);

let current = ''; // the id on screen, '' when the page is closed
let controller = null;
let report = () => {}; // the open page's onError
let regionStatesShown = null; // region_states on screen, null without regions
let multiRegion = false; // the check lists regions: results name theirs
let regionNames = []; // the check's regions, in its order
let region = ''; // the region whose history is shown, '' for all
let historySeq = 0; // the latest history load; older answers are dropped
let bound = false;

/** Shows the page of service id; onError gets load failures. */
export async function open(id, onError) {
  close();
  bind();
  current = id;
  report = onError;
  controller = new AbortController();
  const { signal } = controller;
  region = '';
  $('detail-region').value = '';
  $('detail').hidden = false;
  $('detail-title').textContent = 'Loading…';
  // Another service's history (its regions' results, say) must not show
  // under this one's name while this one's loads.
  $('detail-results').replaceChildren();
  $('detail-transitions').replaceChildren();
  try {
    const svc = await api.getService(id, signal);
    if (current !== id) return;
    showService(svc);
    await loadHistory(id, signal);
  } catch (err) {
    if (err && err.name === 'AbortError') return;
    onError(err);
  }
}

export function close() {
  if (controller) controller.abort();
  controller = null;
  current = '';
  $('detail').hidden = true;
}

export function openId() {
  return current;
}

function bind() {
  if (bound) return;
  bound = true;
  // Another region's history: results and transitions are read again
  // with ?region=, the rest of the page stays.
  $('detail-region').addEventListener('change', (e) => {
    region = e.target.value;
    if (!current) return;
    loadHistory(current, controller.signal).catch((err) => {
      if (!(err && err.name === 'AbortError')) report(err);
    });
  });
}

/** Applies a transition of the service on screen, then refetches its history. */
export function applyTransition(ev, onError) {
  if (!current || ev.service_id !== current) return;
  setBadge(ev.to);
  setTime($('detail-changed'), ev.at);
  const e = $('detail-error');
  e.textContent = ev.to === 'DOWN' ? ev.error || '' : '';
  e.hidden = e.textContent === '';
  if (regionStatesShown) showRegionStates(eventRegions(ev, regionStatesShown));
  // The event does not say which region caused it: with one region chosen,
  // the refetch below tells whether it belongs in the list.
  if (!region) prependTransition(ev);
  const { signal } = controller;
  Promise.all([loadHistory(current, signal), reloadService(current, signal)]).catch((err) => {
    if (!(err && err.name === 'AbortError')) onError(err);
  });
}

function setBadge(status) {
  const state = normalState(status);
  const badge = $('detail-badge');
  badge.dataset.state = state;
  badge.querySelector('.badge-text').textContent = state;
}

function showService(svc) {
  $('detail-title').textContent = svc.name;
  $('detail-url').textContent = svc.url || '';
  setBadge(svc.status);
  const e = $('detail-error');
  e.textContent = normalState(svc.status) === 'DOWN' ? svc.last_error || '' : '';
  e.hidden = e.textContent === '';
  $('detail-tags').replaceChildren(...(svc.tags || []).map((t) => el('li', 'tag', t)));
  renderConditions(svc);
  renderRegionsCard(svc);
  $('detail-latency').textContent = formatLatency(svc.last_latency_ms);
  setTime($('detail-changed'), svc.last_change_at);
  document.title = `${svc.name} · Vigil`;
}

/**
 * Lists the check's conditions (all must hold for UP) and what the latest
 * result made of them: they are judged in order and the first false one
 * decides, so those before it held and those after it were not reached.
 * The server says which failed (failed_condition); the page never reads
 * the error text for it. The latest result, not the state, decides: with
 * a failure threshold above 1 an UP service can have a failed last probe.
 * Every string is set as text: expressions and errors come from API
 * callers and probe targets.
 */
function renderConditions(svc) {
  const conds = Array.isArray(svc.conditions) ? svc.conditions.filter((c) => typeof c === 'string') : [];
  $('detail-conditions-card').hidden = conds.length === 0;
  const failed = Number.isInteger(svc.failed_condition) && svc.failed_condition < conds.length ? svc.failed_condition : -1;
  const lastError = typeof svc.last_error === 'string' ? svc.last_error : '';
  let judged = 0; // conditions the latest result judged
  let note = 'Not judged yet.';
  if (failed >= 0) {
    judged = failed + 1;
    note = 'The latest check failed the marked condition.';
  } else if (lastError) {
    note = 'The latest check failed before the conditions were judged.';
  } else if (svc.last_checked_at) {
    judged = conds.length;
    note = 'All held in the latest check.';
  }
  $('detail-conditions-note').textContent = note;
  $('detail-conditions').replaceChildren(
    ...conds.map((expr, i) => {
      const result = i === failed ? 'failed' : i < judged ? 'held' : 'unjudged';
      const li = el('li', 'condition');
      li.dataset.result = result;
      const mark = el('span', 'condition-mark', { held: 'held', failed: 'failed', unjudged: 'not reached' }[result]);
      li.append(el('code', 'condition-expr', expr), mark);
      if (result === 'failed') li.append(el('p', 'condition-why', lastError));
      return li;
    }),
  );
}

/** Refetches the service, for what a transition does not carry. */
async function reloadService(id, signal) {
  const svc = await api.getService(id, signal);
  if (current !== id) return;
  renderConditions(svc);
  renderRegionsCard(svc);
}

/**
 * The regions card of a check with regions: each region's state as the
 * vote counts it, the quorum, and the region picker. A check without
 * regions shows none of it, and its results table no region column.
 */
function renderRegionsCard(svc) {
  const listed = Array.isArray(svc.regions) ? svc.regions.filter((r) => typeof r === 'string') : [];
  multiRegion = listed.length > 0 || Boolean(svc.region_states);
  $('detail-regions-card').hidden = !multiRegion;
  $('detail-region-col').hidden = !multiRegion;
  if (!multiRegion) {
    regionStatesShown = null;
    regionNames = [];
    return;
  }
  const n = listed.length || Object.keys(svc.region_states || {}).length;
  const quorum = Number.isInteger(svc.quorum) && svc.quorum > 0 ? svc.quorum : Math.floor(n / 2) + 1;
  $('detail-quorum').textContent =
    `DOWN when ${quorum} of ${n} ${n === 1 ? 'region' : 'regions'} ${quorum === 1 ? 'is' : 'are'} DOWN.`;
  regionNames = listed;
  showRegionStates(svc.region_states || {});

  // The picker offers the listed regions; a chosen one the check no
  // longer lists stays chosen (its history is still readable).
  const select = $('detail-region');
  const names = [...listed];
  if (region && !names.includes(region)) names.push(region);
  const have = [...select.options].slice(1).map((o) => o.value);
  if (JSON.stringify(have) !== JSON.stringify(names)) {
    select.replaceChildren(select.options[0], ...names.map((r) => new Option(r, r)));
  }
  select.value = region;
}

function showRegionStates(states) {
  regionStatesShown = states;
  const regions = regionStates(regionNames, states);
  renderRegions($('detail-regions'), regions);
  const down = regions.filter((r) => r.state === 'DOWN').length;
  $('detail-regions').setAttribute('aria-label', `State in each region: ${down} of ${regions.length} DOWN`);
}

async function loadHistory(id, signal) {
  historySeq += 1;
  const seq = historySeq;
  const [results, trs, day, week] = await Promise.all([
    api.recentResults(id, RESULTS, signal, region),
    api.transitions(id, LIST, signal, region),
    api.uptime(id, '24h', signal),
    api.uptime(id, '7d', signal),
  ]);
  // A later load (another region chosen, or a newer transition) owns the page.
  if (current !== id || seq !== historySeq) return;
  $('uptime-24h').textContent = ratio(day);
  $('uptime-7d').textContent = ratio(week);
  if (results.length > 0) $('detail-latency').textContent = formatLatency(results[0].latency_ms);
  drawChart($('chart'), results);
  $('chart-count').textContent = String(results.length);
  $('detail-results').replaceChildren(...results.slice(0, LIST).map(resultRow));
  $('detail-transitions').replaceChildren(...trs.map(transitionItem));
}

function ratio(u) {
  if (!u || typeof u.uptime_ratio !== 'number') return '—';
  return `${(u.uptime_ratio * 100).toFixed(u.uptime_ratio === 1 ? 0 : 2)} %`;
}

function resultRow(r) {
  const tr = el('tr');
  const when = el('time');
  setTime(when, r.scheduled_at);
  const at = el('td');
  at.append(when);
  tr.append(at);
  if (multiRegion) tr.append(el('td', 'result-region', typeof r.region === 'string' ? r.region : ''));
  const res = el('td', 'result', r.status);
  res.dataset.state = r.status === 'UP' ? 'UP' : 'DOWN';
  const detail = r.error || (r.http_status ? `HTTP ${r.http_status}` : '');
  tr.append(res, el('td', 'num', formatLatency(r.latency_ms)), el('td', 'result-detail', detail));
  return tr;
}

function transitionItem(t) {
  const li = el('li');
  const when = el('time');
  setTime(when, t.at);
  const to = el('span', 'result', t.to);
  to.dataset.state = normalState(t.to);
  li.append(when, el('span', '', ` ${t.from} → `), to);
  if (t.error) li.append(el('span', 'result-detail', ` ${t.error}`));
  // Each region's state at the change, for a check with regions.
  const regions = t.regions && typeof t.regions === 'object' ? regionStates(regionNames, t.regions) : [];
  if (regions.length > 0) {
    const list = el('ul', 'regions regions-inline');
    list.setAttribute('role', 'list');
    list.setAttribute('aria-label', 'Regions at the change');
    renderRegions(list, regions);
    li.append(list);
  }
  return li;
}

function prependTransition(ev) {
  const list = $('detail-transitions');
  list.prepend(transitionItem(ev));
  while (list.childElementCount > LIST) list.lastElementChild.remove();
}

/**
 * Draws results (newest first, as the API returns them) as a latency line
 * over time, failed checks as marks on the DOWN colour, with the maximum
 * and the time span as labels. Scales are computed here: the baseline is
 * zero so a small wobble never looks like an outage.
 */
export function drawChart(root, results) {
  const W = 720;
  const H = 200;
  const L = 56; // room for the axis labels
  const B = 22;
  const T = 10;
  const R = 10;
  const node = svg('svg', { class: 'chart-svg', viewBox: `0 0 ${W} ${H}`, role: 'img', preserveAspectRatio: 'none' });
  const points = results.slice().reverse();
  if (points.length === 0) {
    node.setAttribute('aria-label', 'No results yet');
    const tx = svg('text', { x: W / 2, y: H / 2, 'text-anchor': 'middle', class: 'chart-label' });
    tx.textContent = 'No results yet';
    node.append(tx);
    root.replaceChildren(node);
    return;
  }
  const times = points.map((p) => Date.parse(p.scheduled_at));
  const t0 = Math.min(...times);
  const t1 = Math.max(...times);
  const lat = points.map((p) => (Number.isFinite(p.latency_ms) ? p.latency_ms : 0));
  const max = Math.max(...lat) || 1;
  const x = (t) => (t1 > t0 ? L + ((t - t0) / (t1 - t0)) * (W - L - R) : (L + W - R) / 2);
  const y = (v) => H - B - (v / max) * (H - B - T);
  const failed = points.filter((p) => p.status !== 'UP').length;
  const label = `Latency of the last ${points.length} checks, up to ${formatLatency(max)}; ${failed} failed`;
  node.setAttribute('aria-label', label);
  const title = svg('title');
  title.textContent = label;
  node.append(title);
  for (const v of [0, max / 2, max]) {
    node.append(svg('line', { class: 'chart-grid', x1: L, x2: W - R, y1: y(v).toFixed(1), y2: y(v).toFixed(1) }));
    const tx = svg('text', { class: 'chart-label', x: L - 6, y: (y(v) + 4).toFixed(1), 'text-anchor': 'end' });
    tx.textContent = formatLatency(v);
    node.append(tx);
  }
  const coords = points.map((p, i) => `${x(times[i]).toFixed(1)},${y(lat[i]).toFixed(1)}`).join(' ');
  node.append(svg('polyline', { class: 'chart-line', points: coords }));
  points.forEach((p, i) => {
    if (p.status !== 'UP') {
      node.append(svg('circle', { class: 'chart-fail', cx: x(times[i]).toFixed(1), cy: y(lat[i]).toFixed(1), r: 3.5 }));
    }
  });
  for (const [t, anchor] of [
    [t0, 'start'],
    [t1, 'end'],
  ]) {
    const tx = svg('text', { class: 'chart-label', x: x(t).toFixed(1), y: H - 4, 'text-anchor': anchor });
    tx.textContent = new Date(t).toLocaleTimeString();
    node.append(tx);
  }
  root.replaceChildren(node);
}
