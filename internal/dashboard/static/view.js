// DOM building for the services table. Server strings only ever reach the
// page through textContent and attributes, never as markup.

const SVG_NS = 'http://www.w3.org/2000/svg';

export const STATES = ['DOWN', 'UNKNOWN', 'UP', 'PAUSED'];

const STATE_LABEL = { UP: 'Up', DOWN: 'Down', UNKNOWN: 'Unknown', PAUSED: 'Paused' };

export function normalState(s) {
  return STATES.includes(s) ? s : 'UNKNOWN';
}

export function el(tag, className, text) {
  const node = document.createElement(tag);
  if (className) node.className = className;
  if (text !== undefined) node.textContent = text;
  return node;
}

export function svg(tag, attrs) {
  const node = document.createElementNS(SVG_NS, tag);
  for (const [k, v] of Object.entries(attrs || {})) node.setAttribute(k, String(v));
  return node;
}

/** 0.42 ms, 4.2 ms, 123 ms, 1.23 s */
export function formatLatency(ms) {
  if (ms === null || ms === undefined || !Number.isFinite(ms)) return '—';
  if (ms < 1) return `${ms.toFixed(2)} ms`;
  if (ms < 10) return `${ms.toFixed(1)} ms`;
  if (ms < 1000) return `${Math.round(ms)} ms`;
  return `${(ms / 1000).toFixed(2)} s`;
}

/** "just now", "12 s ago", "3 min ago", "2 h ago", "4 d ago" */
export function formatAgo(iso, now = Date.now()) {
  if (!iso) return 'never';
  const t = Date.parse(iso);
  if (Number.isNaN(t)) return '—';
  const s = Math.max(0, Math.round((now - t) / 1000));
  if (s < 5) return 'just now';
  if (s < 60) return `${s} s ago`;
  const m = Math.floor(s / 60);
  if (m < 60) return `${m} min ago`;
  const h = Math.floor(m / 60);
  if (h < 48) return `${h} h ago`;
  return `${Math.floor(h / 24)} d ago`;
}

export function setTime(node, iso) {
  node.textContent = formatAgo(iso);
  if (iso) {
    node.dateTime = iso;
    const t = new Date(iso);
    node.title = Number.isNaN(t.getTime()) ? iso : t.toLocaleString();
  } else {
    node.removeAttribute('datetime');
    node.removeAttribute('title');
  }
}

/** Refreshes every relative time under root, e.g. once every few seconds. */
export function refreshTimes(root) {
  for (const node of root.querySelectorAll('time[datetime]')) {
    node.textContent = formatAgo(node.dateTime);
  }
}

/**
 * A check's regions with their states: [{ name, state }]. states (a
 * service's region_states or a transition's regions) says which regions
 * there are, as they may have changed since regions (the check's list, as
 * loaded) was read; regions gives their order, and any it lacks follow in
 * name order. Without states, every listed region is UNKNOWN. Empty for a
 * check without regions.
 */
export function regionStates(regions, states) {
  const listed = Array.isArray(regions) ? regions.filter((r) => typeof r === 'string') : [];
  const known = states && typeof states === 'object' ? states : {};
  const names = listed.filter((r) => Object.keys(known).length === 0 || r in known);
  for (const r of Object.keys(known).sort()) if (!names.includes(r)) names.push(r);
  return names.map((name) => ({ name, state: REGION_STATES.includes(known[name]) ? known[name] : 'UNKNOWN' }));
}

const REGION_STATES = ['UP', 'DOWN', 'UNKNOWN'];

/**
 * Fills list with one item per region: a dot whose colour and shape tell
 * the state, the region's name, and the state as text, visible or (with
 * compact, for the table's rows) for screen readers only, so the state is
 * never told by colour alone. Returns whether there is any region.
 */
export function renderRegions(list, regions, { compact = false } = {}) {
  list.replaceChildren(
    ...regions.map(({ name, state }) => {
      const li = el('li', 'region');
      li.dataset.region = name;
      li.dataset.state = state;
      li.title = `${name}: ${state}`;
      const dot = el('span', 'region-dot');
      dot.setAttribute('aria-hidden', 'true');
      const text = el('span', compact ? 'region-state visually-hidden' : 'region-state', ` ${state}`);
      li.append(dot, el('span', 'region-name', name), text);
      return li;
    }),
  );
  list.hidden = regions.length === 0;
  return regions.length > 0;
}

/**
 * The region states a transition leaves a check in: those it carries, or,
 * for a pause or resume of a check with regions (which carry none, and
 * forget the regions' states), every region UNKNOWN. Null for a check
 * without regions.
 */
export function eventRegions(ev, before) {
  if (ev.regions && typeof ev.regions === 'object') return ev.regions;
  if (!before || typeof before !== 'object') return null;
  return Object.fromEntries(Object.keys(before).map((r) => [r, 'UNKNOWN']));
}

/**
 * A table row for one service. The returned object keeps the cells so
 * updates touch text, not structure, and never steal focus.
 */
export function createRow(handlers) {
  const tr = el('tr', 'row');

  const nameCell = el('th', 'cell-name');
  nameCell.scope = 'row';
  nameCell.dataset.label = 'Service';
  // The name opens the service's page (a hash route: no server round trip).
  const name = el('a', 'service-name');
  const url = el('span', 'service-url');
  nameCell.append(name, url);

  const stateCell = el('td', 'cell-state');
  stateCell.dataset.label = 'State';
  const badge = el('span', 'badge');
  const dot = el('span', 'badge-dot');
  dot.setAttribute('aria-hidden', 'true');
  const badgeText = el('span', 'badge-text');
  badge.append(dot, badgeText);
  const error = el('span', 'service-error');
  // Each region's state, for a check probed from several (hidden otherwise).
  const regions = el('ul', 'regions');
  regions.setAttribute('role', 'list');
  regions.setAttribute('aria-label', 'Regions');
  regions.hidden = true;
  stateCell.append(badge, error, regions);

  const latencyCell = el('td', 'cell-latency num');
  latencyCell.dataset.label = 'Latency';

  const checkedCell = el('td', 'cell-checked');
  checkedCell.dataset.label = 'Last check';
  const checked = el('time');
  checkedCell.append(checked);

  const changedCell = el('td', 'cell-changed');
  changedCell.dataset.label = 'Last change';
  const changed = el('time');
  changedCell.append(changed);

  const tagsCell = el('td', 'cell-tags');
  tagsCell.dataset.label = 'Tags';
  const tags = el('ul', 'tags');
  tags.setAttribute('role', 'list');
  tagsCell.append(tags);

  const sparkCell = el('td', 'cell-spark');
  sparkCell.dataset.label = 'Recent latency';

  const actionsCell = el('td', 'cell-actions');
  const toggle = el('button', 'button button-small');
  toggle.type = 'button';
  toggle.addEventListener('click', () => handlers.onToggle(row.id, row.paused));
  actionsCell.append(toggle);

  tr.append(nameCell, stateCell, latencyCell, checkedCell, changedCell, tagsCell, sparkCell, actionsCell);

  const row = {
    id: '',
    paused: false,
    tr,
    name,
    url,
    badge,
    badgeText,
    error,
    regions,
    regionKey: '[]',
    latencyCell,
    checked,
    changed,
    tags,
    tagKey: null,
    sparkCell,
    sparkKey: null,
    toggle,
    handlers,
  };
  return row;
}

/** Brings a row in line with svc (one item of GET /api/v1/services). */
export function updateRow(row, svc, { readOnly }) {
  const state = normalState(svc.status);
  row.id = svc.id;
  row.paused = Boolean(svc.paused) || state === 'PAUSED';
  row.tr.dataset.id = svc.id;
  row.tr.dataset.state = state;
  row.name.textContent = svc.name;
  row.name.href = `#/services/${encodeURIComponent(svc.id)}`;
  row.url.textContent = svc.url || '';
  row.url.title = svc.url || '';

  row.badge.dataset.state = state;
  row.badgeText.textContent = state;
  row.badge.title = STATE_LABEL[state];
  const err = state === 'DOWN' ? svc.last_error || '' : '';
  row.error.textContent = err;
  row.error.title = err;
  row.error.hidden = err === '';

  const regions = regionStates(svc.regions, svc.region_states);
  const regionKey = JSON.stringify(regions);
  if (regionKey !== row.regionKey) {
    row.regionKey = regionKey;
    renderRegions(row.regions, regions, { compact: true });
  }

  row.latencyCell.textContent = formatLatency(svc.last_latency_ms);
  setTime(row.checked, svc.last_checked_at);
  setTime(row.changed, svc.last_change_at);

  const tags = Array.isArray(svc.tags) ? svc.tags : [];
  const tagKey = JSON.stringify(tags);
  if (tagKey !== row.tagKey) {
    row.tagKey = tagKey;
    row.tags.replaceChildren(
      ...tags.map((tag) => {
        const li = el('li');
        const b = el('button', 'tag', tag);
        b.type = 'button';
        b.title = `Show only services tagged ${tag}`;
        b.addEventListener('click', () => row.handlers.onTag(tag));
        li.append(b);
        return li;
      }),
    );
  }

  row.toggle.textContent = row.paused ? 'Resume' : 'Pause';
  row.toggle.setAttribute('aria-label', `${row.paused ? 'Resume' : 'Pause'} ${svc.name}`);
  row.toggle.hidden = readOnly;
}

/** Plays the highlight that marks a row a transition just changed. */
export function flash(row) {
  row.tr.classList.remove('flash');
  // Reading layout restarts the CSS animation on the same element.
  void row.tr.offsetWidth;
  row.tr.classList.add('flash');
  // Drop the class when done: a row moved by a re-sort would otherwise
  // replay the animation as if it had changed again.
  row.tr.addEventListener('animationend', () => row.tr.classList.remove('flash'), { once: true });
}

/**
 * Draws the latency sparkline of results (newest first, as the API returns
 * them) into the row. Failed checks are marked with a dot in the DOWN colour.
 */
export function drawSpark(row, results) {
  const key = results.map((r) => `${r.scheduled_at}|${r.latency_ms}|${r.status}`).join(',');
  if (key === row.sparkKey) return;
  row.sparkKey = key;

  const W = 120;
  const H = 28;
  const PAD = 3;
  const points = results.slice().reverse();
  const node = svg('svg', {
    class: 'spark',
    viewBox: `0 0 ${W} ${H}`,
    width: W,
    height: H,
    role: 'img',
    focusable: 'false',
  });
  if (points.length === 0) {
    node.setAttribute('aria-label', 'No results yet');
    node.append(svg('line', { class: 'spark-empty', x1: PAD, y1: H / 2, x2: W - PAD, y2: H / 2 }));
    row.sparkCell.replaceChildren(node);
    return;
  }
  const lat = points.map((p) => (Number.isFinite(p.latency_ms) ? p.latency_ms : 0));
  const max = Math.max(...lat);
  const min = Math.min(...lat);
  // The baseline is zero, not the minimum: a 1 ms wobble on a 5 ms service
  // must not look like an outage.
  const floor = 0;
  const failed = points.filter((p) => p.status !== 'UP').length;
  const label =
    `Latency of the last ${points.length} checks: ${formatLatency(min)} to ${formatLatency(max)}` +
    (failed ? `, ${failed} failed` : ', all passed');
  node.setAttribute('aria-label', label);
  const title = svg('title');
  title.textContent = label;
  node.append(title);

  const span = max - floor || 1;
  const step = points.length > 1 ? (W - 2 * PAD) / (points.length - 1) : 0;
  const xy = lat.map((v, i) => [
    points.length > 1 ? PAD + i * step : W / 2,
    H - PAD - ((v - floor) / span) * (H - 2 * PAD),
  ]);
  const coords = xy.map(([x, y]) => `${x.toFixed(1)},${y.toFixed(1)}`).join(' ');
  if (points.length > 1) {
    const area = `${xy[0][0].toFixed(1)},${H - PAD} ${coords} ${xy[xy.length - 1][0].toFixed(1)},${H - PAD}`;
    node.append(svg('polygon', { class: 'spark-area', points: area }));
    node.append(svg('polyline', { class: 'spark-line', points: coords }));
  }
  points.forEach((p, i) => {
    const last = i === points.length - 1;
    if (p.status !== 'UP' || last) {
      const [x, y] = xy[i];
      node.append(svg('circle', { class: p.status === 'UP' ? 'spark-last' : 'spark-fail', cx: x.toFixed(1), cy: y.toFixed(1), r: 2.2 }));
    }
  });
  row.sparkCell.replaceChildren(node);
}
