// The dashboard's controller. The server does the filtering, searching and
// paging (GET /api/v1/services pages in name order), and its per-state
// counts head the table (GET /api/v1/services/counts). Only the rows in
// view exist in the DOM (virtual scrolling over the pages loaded so far),
// further pages load as the view nears their end, and the WebSocket's
// transitions are applied as deltas: to the counts, to a loaded row, and
// by fetching the one service a transition brings into the current
// filter. Nothing re-fetches on a timer.

import * as api from './api.js';
import { LiveFeed } from './live.js';
import * as detail from './detail.js';
import { STATES, normalState, createRow, updateRow, drawSpark, flash, refreshTimes, eventRegions } from './view.js';

const PAGE = 200; // services per request
const OVERSCAN = 10; // rows rendered beyond each edge of the view
const NEAR_END = 60; // rows from the end of what is loaded that fetch the next page
const CLOCK_MS = 5000; // relative times ("12 s ago")
const SEARCH_DELAY_MS = 250;
const SPARK_POINTS = 30;
const SPARK_CONCURRENCY = 4;
const SPARK_KEEP = 400; // sparklines cached, newest use first
const ANNOUNCE_KEEP = 5;

const $ = (id) => document.getElementById(id);

const ui = {
  connection: $('connection'),
  connectionText: $('connection-text'),
  logout: $('logout'),
  banner: $('banner'),
  login: $('login'),
  loginForm: $('login-form'),
  loginMessage: $('login-message'),
  user: $('user'),
  secret: $('secret'),
  dashboard: $('dashboard'),
  search: $('search'),
  tagFilter: $('tag-filter'),
  stateFilter: $('state-filter'),
  table: $('services'),
  rows: $('rows'),
  padTop: $('pad-top').querySelector('td'),
  padBottom: $('pad-bottom').querySelector('td'),
  tableStatus: $('table-status'),
  announcer: $('announcer'),
  updated: $('updated'),
};

const model = {
  list: [], // services loaded so far, in the server's order
  byId: new Map(), // id -> service JSON, for the loaded ones
  next: null, // cursor of the next page, null when all are loaded
  generation: 0, // bumps on every filter change; stale answers are dropped
  loading: false,
  firstLoading: false, // the first page of a filter is on its way
  pending: [], // transitions held until it arrives
  counts: null, // { total, by_status }
  countsHeld: null, // transitions that came while the counts loaded
  filter: { q: '', state: '', tag: '' },
  tags: new Set(),
  readOnly: false,
  loaded: false,
  authNeeded: false,
};

// ---- loading ---------------------------------------------------------

/** Starts the list over for the current filter. */
async function reload() {
  model.generation += 1;
  model.list = [];
  model.byId.clear();
  model.next = null;
  model.loading = false;
  model.firstLoading = true;
  model.pending = [];
  window.scrollTo(0, 0);
  await loadPage(true);
}

/** Loads the next page (the first when first is set). */
async function loadPage(first = false) {
  if (model.loading || (!first && !model.next)) return;
  const gen = model.generation;
  model.loading = true;
  try {
    const page = await api.listServices({ ...model.filter, limit: PAGE, cursor: first ? '' : model.next });
    if (gen !== model.generation) return;
    for (const svc of page.items) {
      if (!svc || typeof svc.id !== 'string' || model.byId.has(svc.id)) continue;
      model.list.push(svc);
      model.byId.set(svc.id, svc);
      for (const t of svc.tags || []) model.tags.add(t);
    }
    model.next = page.next;
    model.loaded = true;
    hideBanner('load');
    ui.updated.textContent = `Loaded ${new Date().toLocaleTimeString()}`;
    showDashboard();
  } catch (err) {
    if (gen === model.generation) handleError(err, 'load');
  } finally {
    if (gen === model.generation) model.loading = false;
  }
  if (gen === model.generation) {
    renderTagOptions();
    render();
    if (first) {
      // Transitions that came while the page loaded: rows only, the
      // timestamps keep an already counted one from moving a row back.
      model.firstLoading = false;
      const held = model.pending;
      model.pending = [];
      for (const ev of held) applyToRows(ev);
    }
  }
}

/** Loads the per-state counts that head the table. */
async function loadCounts() {
  const held = [];
  model.countsHeld = held;
  try {
    const counts = await api.counts();
    // A later load owns the counts now.
    if (model.countsHeld !== held) return;
    model.counts = counts;
    // The counts include every transition up to last_transition_id (one
    // snapshot on the server); those held meanwhile count only above it.
    for (const ev of held) applyCounts(ev);
    renderCounts();
    renderStatus();
  } catch (err) {
    if (model.countsHeld === held) handleError(err, 'load');
  } finally {
    if (model.countsHeld === held) model.countsHeld = null;
  }
}

// ---- virtual scrolling ------------------------------------------------
// Rows are drawn only for the slice of the loaded list in view; two
// padding rows stand for the rest. Row height is measured from the rows on
// screen (cards on a phone are taller than table rows).

const rows = new Map(); // id -> row (view.js), only for rows in the DOM
let rowHeight = 49;
let frame = 0;

function scheduleRender() {
  if (frame) return;
  frame = requestAnimationFrame(() => {
    frame = 0;
    render();
  });
}

function viewRange() {
  const top = ui.rows.getBoundingClientRect().top - ui.padTop.offsetHeight;
  const first = Math.floor(Math.max(0, -top) / rowHeight);
  const count = Math.ceil(window.innerHeight / rowHeight) + 1;
  return [Math.max(0, first - OVERSCAN), Math.min(model.list.length, first + count + OVERSCAN)];
}

function render() {
  if (detail.openId()) return;
  const [from, to] = viewRange();
  const shown = model.list.slice(from, to);
  const wanted = new Set(shown.map((s) => s.id));
  for (const [id, row] of rows) {
    if (!wanted.has(id)) {
      row.tr.remove();
      rows.delete(id);
    }
  }
  let prev = null;
  for (const svc of shown) {
    let row = rows.get(svc.id);
    if (!row) {
      row = createRow(rowHandlers);
      rows.set(svc.id, row);
    }
    updateRow(row, svc, { readOnly: model.readOnly });
    const expected = prev ? prev.nextSibling : ui.rows.firstChild;
    if (expected !== row.tr) ui.rows.insertBefore(row.tr, expected);
    prev = row.tr;
    // A cached sparkline, even one a newer check made stale, beats none
    // while the fresh one loads.
    const spark = sparks.get(svc.id);
    if (spark) drawSpark(row, spark.results);
  }
  if (rows.size > 0) {
    const h = ui.rows.getBoundingClientRect().height / rows.size;
    if (h > 8 && Math.abs(h - rowHeight) > 1) rowHeight = h;
  }
  // CSSOM, not a style attribute: the CSP forbids inline styles in markup.
  ui.padTop.style.height = `${from * rowHeight}px`;
  ui.padBottom.style.height = `${(model.list.length - to) * rowHeight}px`;
  ui.table.classList.toggle('read-only', model.readOnly);
  renderStatus();
  if (model.next && to >= model.list.length - NEAR_END) loadPage();
  queueSparks(shown);
}

function renderStatus() {
  const n = model.list.length;
  const total = model.counts ? model.counts.total : null;
  const fmt = (v) => v.toLocaleString();
  const filtered = model.filter.q || model.filter.state || model.filter.tag;
  if (!model.loaded) {
    ui.tableStatus.textContent = 'Loading services…';
  } else if (n === 0 && !filtered) {
    ui.tableStatus.textContent = 'No services registered yet. Register one with POST /api/v1/services or a ServiceCheck resource.';
  } else if (n === 0) {
    ui.tableStatus.textContent = `No services match the filters${total !== null ? ` (${fmt(total)} in total)` : ''}.`;
  } else if (model.next) {
    ui.tableStatus.textContent = `Showing the first ${fmt(n)}${total !== null ? ` of ${fmt(total)}` : ''} services; scroll for more.`;
  } else if (filtered && total !== null) {
    ui.tableStatus.textContent = `Showing ${fmt(n)} of ${fmt(total)} services.`;
  } else {
    ui.tableStatus.textContent = `${fmt(n)} ${n === 1 ? 'service' : 'services'}.`;
  }
}

function renderCounts() {
  const c = model.counts;
  if (!c) return;
  const by = c.by_status || {};
  const counts = { '': c.total, UP: by.UP || 0, DOWN: by.DOWN || 0, UNKNOWN: by.UNKNOWN || 0, PAUSED: by.PAUSED || 0 };
  for (const node of ui.stateFilter.querySelectorAll('[data-count]')) {
    node.textContent = (counts[node.dataset.count] ?? 0).toLocaleString();
  }
  // The tab title tells at a glance, even from another tab.
  if (!detail.openId()) document.title = counts.DOWN > 0 ? `(${counts.DOWN} down) Vigil` : 'Vigil';
}

function renderPressed() {
  for (const b of ui.stateFilter.querySelectorAll('button')) {
    b.setAttribute('aria-pressed', String(b.dataset.state === model.filter.state));
  }
}

let tagKey = '';

// Tags offered are those of the services seen so far (and the one in the
// URL): a registry of 50,000 is never listed whole just to fill a menu.
function renderTagOptions() {
  const tags = new Set(model.tags);
  if (model.filter.tag) tags.add(model.filter.tag);
  const sorted = [...tags].sort((a, b) => a.localeCompare(b));
  const key = JSON.stringify(sorted);
  if (key !== tagKey) {
    tagKey = key;
    const first = ui.tagFilter.options[0];
    ui.tagFilter.replaceChildren(first, ...sorted.map((t) => new Option(t, t)));
  }
  ui.tagFilter.value = model.filter.tag;
}

const rowHandlers = {
  onTag(tag) {
    setFilter({ tag: model.filter.tag === tag ? '' : tag });
  },
  onToggle(id, paused) {
    togglePause(id, paused);
  },
};

// ---- sparklines ------------------------------------------------------
// Fetched for rows in view only, once per check seen (keyed by the
// service's last_checked_at), and kept for the most recent SPARK_KEEP
// services so scrolling back costs nothing and memory stays bounded.

const sparks = new Map(); // id -> { checked, results }, in use order
const sparkQueue = [];
const sparkQueued = new Set();
let sparkActive = 0;
let sparkTimer = 0;

let lastScroll = 0;

function queueSparks(shown) {
  clearTimeout(sparkTimer);
  const ids = shown.map((s) => s.id);
  const run = () => ids.forEach(queueSpark);
  // Wait for scrolling to settle: a fling past thousands of rows fetches nothing.
  if (performance.now() - lastScroll > 150) run();
  else sparkTimer = setTimeout(run, 150);
}

function sparkStale(id) {
  const svc = model.byId.get(id);
  if (!svc || !rows.has(id)) return false;
  const spark = sparks.get(id);
  return !spark || spark.checked !== (svc.last_checked_at || '');
}

function queueSpark(id) {
  if (sparkQueued.has(id) || !sparkStale(id)) return;
  sparkQueued.add(id);
  sparkQueue.push(id);
  pumpSparks();
}

function pumpSparks() {
  while (sparkActive < SPARK_CONCURRENCY && sparkQueue.length > 0) {
    const id = sparkQueue.shift();
    sparkQueued.delete(id);
    if (!sparkStale(id)) continue;
    const want = model.byId.get(id).last_checked_at || '';
    sparkActive += 1;
    api
      .recentResults(id, SPARK_POINTS)
      .then((results) => {
        sparks.delete(id);
        sparks.set(id, { checked: want, results });
        while (sparks.size > SPARK_KEEP) sparks.delete(sparks.keys().next().value);
        const row = rows.get(id);
        if (row) drawSpark(row, results);
      })
      .catch((err) => handleError(err, 'spark'))
      .finally(() => {
        sparkActive -= 1;
        pumpSparks();
      });
  }
}

// ---- filters and routes ------------------------------------------------

function readFilterFromURL() {
  const p = new URLSearchParams(location.search);
  const state = (p.get('state') || '').toUpperCase();
  model.filter = {
    q: (p.get('q') || '').slice(0, 200),
    state: STATES.includes(state) ? state : '',
    tag: p.get('tag') || '',
  };
  ui.search.value = model.filter.q;
}

function setFilter(change) {
  Object.assign(model.filter, change);
  const p = new URLSearchParams(location.search);
  for (const [k, v] of Object.entries(model.filter)) {
    if (v) p.set(k, v);
    else p.delete(k);
  }
  const qs = p.toString();
  // Filters live in the URL so a filtered view can be bookmarked or shared.
  history.replaceState(null, '', (qs ? `?${qs}` : location.pathname) + location.hash);
  renderPressed();
  renderTagOptions();
  reload();
}

/** Shows the table or a service's page, after the hash. */
function route() {
  const m = /^#\/services\/([^/]+)$/.exec(location.hash);
  if (m) {
    ui.dashboard.hidden = true;
    detail.open(decodeURIComponent(m[1]), (err) => handleError(err, 'load'));
    return;
  }
  detail.close();
  if (!model.authNeeded) ui.dashboard.hidden = false;
  renderCounts();
  scheduleRender();
}

// ---- live updates ------------------------------------------------------

const byNameThenId = (a, b) => (a.name < b.name ? -1 : a.name > b.name ? 1 : a.id < b.id ? -1 : a.id > b.id ? 1 : 0);

function matchesFilter(svc) {
  const f = model.filter;
  if (f.state && normalState(svc.status) !== f.state) return false;
  if (f.tag && !(svc.tags || []).includes(f.tag)) return false;
  if (f.q && !String(svc.name).toLowerCase().includes(f.q.toLowerCase())) return false;
  return true;
}

/** Whether svc sorts within what is loaded (past it, its page brings it). */
function withinLoaded(svc) {
  if (!model.next || model.list.length === 0) return true;
  return byNameThenId(svc, model.list[model.list.length - 1]) <= 0;
}

function applyCounts(ev) {
  const by = model.counts && model.counts.by_status;
  if (!by || !(ev.from in by) || !(ev.to in by) || ev.from === ev.to) return;
  if (!(Number(ev.id) > (Number(model.counts.last_transition_id) || 0))) return;
  by[ev.from] = Math.max(0, by[ev.from] - 1);
  by[ev.to] += 1;
  renderCounts();
}

function onTransition(ev) {
  announce(ev);
  if (model.countsHeld) model.countsHeld.push(ev);
  else applyCounts(ev);
  detail.applyTransition(ev, (err) => handleError(err, 'load'));
  if (model.firstLoading) {
    model.pending.push(ev);
    return;
  }
  applyToRows(ev);
}

/** Moves a loaded row, or admits the service into the view. */
function applyToRows(ev) {
  const svc = model.byId.get(ev.service_id);
  if (!svc) {
    admit(ev);
    return;
  }
  // A replayed event older than what the row shows must not move it back.
  if (svc.last_change_at && Date.parse(ev.at) < Date.parse(svc.last_change_at)) return;
  const next = { ...svc, status: ev.to, last_change_at: ev.at, paused: ev.to === 'PAUSED' };
  if (ev.to === 'UP' || ev.to === 'DOWN') {
    next.last_checked_at = ev.at;
    next.last_latency_ms = ev.latency_ms;
    next.last_error = ev.error || '';
  }
  const regions = eventRegions(ev, svc.region_states);
  if (regions) next.region_states = regions;
  const i = model.list.indexOf(svc);
  if (!matchesFilter(next)) {
    // The row left the filter (say, UP under "Down"): the view stays true to it.
    model.list.splice(i, 1);
    model.byId.delete(svc.id);
  } else {
    model.list[i] = next;
    model.byId.set(svc.id, next);
  }
  render();
  const row = rows.get(svc.id);
  if (row) flash(row);
}

/**
 * A transition of a service this view has not loaded: it may have just
 * entered the filter (a DOWN under "Down") or been registered. The one
 * service is fetched and placed in order; nothing else is reloaded.
 */
async function admit(ev) {
  const f = model.filter;
  if (f.state && normalState(ev.to) !== f.state) return;
  if (f.q && !String(ev.service).toLowerCase().includes(f.q.toLowerCase())) return;
  if (!withinLoaded({ name: String(ev.service), id: ev.service_id })) return;
  const gen = model.generation;
  let svc;
  try {
    svc = await api.getService(ev.service_id);
  } catch (err) {
    if (!(err instanceof api.ApiError && err.status === 404)) handleError(err, 'load');
    return;
  }
  if (gen !== model.generation || model.byId.has(svc.id) || !matchesFilter(svc) || !withinLoaded(svc)) return;
  let i = model.list.findIndex((s) => byNameThenId(svc, s) < 0);
  if (i < 0) i = model.list.length;
  model.list.splice(i, 0, svc);
  model.byId.set(svc.id, svc);
  render();
  const row = rows.get(svc.id);
  if (row) flash(row);
}

function announce(ev) {
  const line = document.createElement('p');
  line.textContent = `${ev.service} is ${ev.to}, was ${ev.from}${ev.error ? `: ${ev.error}` : ''}.`;
  ui.announcer.append(line);
  while (ui.announcer.childElementCount > ANNOUNCE_KEEP) ui.announcer.firstElementChild.remove();
}

const CONNECTION_TEXT = { connecting: 'Connecting…', live: 'Live', offline: 'Offline', locked: 'Signed out' };

function setConnection(state, retryMs) {
  ui.connection.dataset.state = state;
  let text = CONNECTION_TEXT[state] || state;
  if (state === 'offline' && retryMs) text = `Offline, retrying in ${Math.max(1, Math.round(retryMs / 1000))} s`;
  ui.connectionText.textContent = text;
  ui.connection.title =
    state === 'live' ? 'Receiving state changes as they happen' : 'Live updates paused; they resume where they stopped';
}

let opened = 0;
let connected = () => {};

/**
 * Resolves when the feed is live, has failed once, or after 3 s. The list
 * loads after that, so a transition is either in what the list returns or
 * arrives over the socket: none falls in between. A failed socket (no
 * credentials yet) does not hold the page: the list's 401 asks for them.
 */
function feedReady() {
  return new Promise((resolve) => {
    const done = () => {
      connected = () => {};
      clearTimeout(timer);
      resolve();
    };
    const timer = setTimeout(done, 3000);
    connected = done;
  });
}

/**
 * Where a (re)connect resumes: after the last event the feed saw or, when
 * it has seen none yet, after the last transition the counts include.
 * Without the second, a socket dropped before the first event came back
 * without since= and lost whatever changed while it was down. Reads model
 * only (declared above), never feed: this runs inside feed's own connect.
 */
function resumePoint(lastSeen) {
  if (lastSeen > 0) return lastSeen;
  const counted = model.counts ? Number(model.counts.last_transition_id) : NaN;
  // Before the counts arrive there is nothing to resume: the first
  // connect starts with the next live event and the list loads after it.
  return Number.isSafeInteger(counted) && counted >= 0 ? counted : null;
}

const feed = new LiveFeed({
  url: (lastSeen) => api.eventsURL(resumePoint(lastSeen)),
  onEvent: onTransition,
  // The first connect follows the first load. After a reconnect the
  // missed transitions are replayed (since=), which moves rows and counts;
  // the counts are then fetched once more in case the replay fell short.
  onOpen: () => {
    opened += 1;
    if (opened > 1) loadCounts();
    connected();
  },
  onStatus: (state, retryMs) => {
    setConnection(state, retryMs);
    if (state === 'offline') connected();
  },
});

// ---- errors, auth, writes ---------------------------------------------

const banners = new Map(); // source -> message

function showBanner(source, message) {
  banners.set(source, message);
  ui.banner.textContent = [...banners.values()].join(' ');
  ui.banner.hidden = false;
}

function hideBanner(source) {
  banners.delete(source);
  ui.banner.textContent = [...banners.values()].join(' ');
  ui.banner.hidden = banners.size === 0;
}

function handleError(err, source) {
  if (err instanceof api.AuthError) {
    askForToken();
    return;
  }
  if (source === 'spark') return; // a missing sparkline is not worth a banner
  const what = err instanceof api.ApiError ? err.message : 'the server is not reachable';
  const since = model.loaded ? ` Showing data as of the last update.` : '';
  showBanner(source, `Could not load services: ${what}.${since}`);
}

function askForToken() {
  const had = api.signedIn();
  // The list and the counts both answer 401: the second must not replace
  // the first's message.
  if (!had && model.authNeeded) return;
  if (had) api.signOut();
  model.authNeeded = true;
  feed.stop();
  setConnection('locked');
  ui.loginMessage.textContent = had
    ? 'Those credentials were not accepted. Try again.'
    : 'This Vigil asks for an API token, or a user name and password.';
  ui.login.hidden = false;
  ui.dashboard.hidden = true;
  ui.logout.hidden = true;
  hideBanner('load');
  ui.secret.focus();
}

function showDashboard() {
  model.authNeeded = false;
  ui.login.hidden = true;
  ui.dashboard.hidden = Boolean(detail.openId());
  ui.logout.hidden = !api.signedIn();
}

async function togglePause(id, paused) {
  try {
    const svc = await api.setPaused(id, !paused);
    // The transition reaches the counts through the WebSocket.
    const i = model.list.findIndex((s) => s.id === svc.id);
    if (i >= 0 && matchesFilter(svc)) {
      model.list[i] = svc;
      model.byId.set(svc.id, svc);
    } else if (i >= 0) {
      model.list.splice(i, 1);
      model.byId.delete(svc.id);
    }
    hideBanner('write');
    render();
  } catch (err) {
    if (err instanceof api.ApiError && err.status === 403) {
      // Kubernetes mode: ServiceCheck resources own the registry.
      model.readOnly = true;
      showBanner('write', `Read-only: ${err.message}.`);
      render();
      return;
    }
    if (err instanceof api.AuthError) {
      askForToken();
      return;
    }
    showBanner('write', `Could not ${paused ? 'resume' : 'pause'} the service: ${err.message}.`);
  }
}

// ---- wiring ------------------------------------------------------------

let searchTimer = 0;

function bind() {
  ui.search.addEventListener('input', () => {
    clearTimeout(searchTimer);
    searchTimer = setTimeout(() => setFilter({ q: ui.search.value.trim().slice(0, 200) }), SEARCH_DELAY_MS);
  });
  ui.tagFilter.addEventListener('change', () => setFilter({ tag: ui.tagFilter.value }));
  ui.stateFilter.addEventListener('click', (e) => {
    const b = e.target.closest('button[data-state]');
    if (b) setFilter({ state: b.dataset.state });
  });
  document.getElementById('filters').addEventListener('submit', (e) => e.preventDefault());
  window.addEventListener(
    'scroll',
    () => {
      lastScroll = performance.now();
      scheduleRender();
    },
    { passive: true },
  );
  window.addEventListener('resize', scheduleRender);
  window.addEventListener('hashchange', route);

  ui.loginForm.addEventListener('submit', async (e) => {
    e.preventDefault();
    const user = ui.user.value.trim();
    const secret = user ? ui.secret.value : ui.secret.value.trim();
    if (!secret) return;
    api.signIn(user, secret);
    ui.secret.value = '';
    model.authNeeded = false;
    const ready = feedReady();
    feed.restart();
    await ready;
    await Promise.all([reload(), loadCounts()]);
    if (!model.authNeeded) route();
  });
  ui.logout.addEventListener('click', () => {
    api.signOut();
    location.reload();
  });
  window.addEventListener('online', () => feed.reconnectNow());
  setInterval(() => refreshTimes(document.body), CLOCK_MS);
}

function start() {
  readFilterFromURL();
  renderPressed();
  bind();
  render();
  const ready = feedReady();
  feed.start();
  ready
    .then(() => Promise.all([reload(), loadCounts()]))
    .then(() => {
      if (!model.authNeeded) route();
    });
}

start();
