// The dashboard's controller: loads the services, keeps them fresh from the
// WebSocket and a periodic refresh, and renders the filtered, sorted table.

import * as api from './api.js';
import { LiveFeed } from './live.js';
import { STATES, normalState, createRow, updateRow, drawSpark, flash, refreshTimes } from './view.js';

const REFRESH_MS = 10000; // list refresh for the latency and last-check columns
const CLOCK_MS = 5000; // relative times ("12 s ago")
const SPARK_POINTS = 30;
const SPARK_CONCURRENCY = 4;
const ANNOUNCE_KEEP = 5;

const STATE_ORDER = { DOWN: 0, UNKNOWN: 1, UP: 2, PAUSED: 3 };

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
  tableStatus: $('table-status'),
  announcer: $('announcer'),
  updated: $('updated'),
};

const model = {
  services: new Map(), // id -> service JSON
  rows: new Map(), // id -> row (view.js)
  spark: new Map(), // id -> last_checked_at the sparkline was fetched for
  filter: { q: '', state: '', tag: '' },
  sort: { key: 'state', dir: 1 },
  readOnly: false,
  loaded: false,
  authNeeded: false,
};

// ---- loading ---------------------------------------------------------

let refreshing = null;
let refreshAgain = false;

/** Reloads the list; concurrent calls coalesce into one more load. */
function refresh() {
  if (refreshing) {
    refreshAgain = true;
    return refreshing;
  }
  refreshing = (async () => {
    try {
      do {
        refreshAgain = false;
        const items = await api.listServices();
        applyList(items);
      } while (refreshAgain);
      hideBanner('load');
      ui.updated.textContent = `Updated ${new Date().toLocaleTimeString()}`;
    } catch (err) {
      handleError(err, 'load');
    } finally {
      refreshing = null;
    }
  })();
  return refreshing;
}

function applyList(items) {
  const seen = new Set();
  for (const svc of items) {
    if (!svc || typeof svc.id !== 'string') continue;
    seen.add(svc.id);
    model.services.set(svc.id, svc);
  }
  for (const id of [...model.services.keys()]) {
    if (!seen.has(id)) {
      model.services.delete(id);
      model.spark.delete(id);
      const row = model.rows.get(id);
      if (row) {
        sparkObserver.unobserve(row.tr);
        row.tr.remove();
        model.rows.delete(id);
      }
    }
  }
  model.loaded = true;
  showDashboard();
  render();
}

/** Refetches one service after a transition, then its sparkline. */
async function refreshService(id) {
  try {
    const svc = await api.getService(id);
    model.services.set(svc.id, svc);
    render();
    model.spark.delete(id);
    queueSpark(id);
  } catch (err) {
    if (err instanceof api.ApiError && err.status === 404) {
      // Deleted meanwhile: the list refresh drops the row.
      refresh();
      return;
    }
    handleError(err, 'load');
  }
}

// ---- sparklines ------------------------------------------------------
// Results are fetched only for rows on screen and only when the service
// was checked since the last fetch, so a large registry costs a handful of
// requests per refresh rather than one per service.

const visible = new Set();
const sparkQueue = [];
const sparkQueued = new Set();
let sparkActive = 0;

const sparkObserver =
  'IntersectionObserver' in window
    ? new IntersectionObserver((entries) => {
        for (const e of entries) {
          const id = e.target.dataset.id;
          if (e.isIntersecting) {
            visible.add(id);
            queueSpark(id);
          } else {
            visible.delete(id);
          }
        }
      })
    : { observe: (tr) => visible.add(tr.dataset.id), unobserve: () => {} };

function sparkStale(id) {
  const svc = model.services.get(id);
  if (!svc) return false;
  const want = svc.last_checked_at || '';
  return !model.spark.has(id) || model.spark.get(id) !== want;
}

function queueSpark(id) {
  if (!visible.has(id) || sparkQueued.has(id) || !sparkStale(id)) return;
  sparkQueued.add(id);
  sparkQueue.push(id);
  pumpSparks();
}

function pumpSparks() {
  while (sparkActive < SPARK_CONCURRENCY && sparkQueue.length > 0) {
    const id = sparkQueue.shift();
    sparkQueued.delete(id);
    const svc = model.services.get(id);
    if (!svc) continue;
    const want = svc.last_checked_at || '';
    sparkActive += 1;
    api
      .recentResults(id, SPARK_POINTS)
      .then((results) => {
        const row = model.rows.get(id);
        model.spark.set(id, want);
        if (row) drawSpark(row, results);
      })
      .catch((err) => handleError(err, 'spark'))
      .finally(() => {
        sparkActive -= 1;
        // Checked again while we fetched: go once more.
        if (sparkStale(id)) queueSpark(id);
        pumpSparks();
      });
  }
}

// ---- rendering -------------------------------------------------------

function matches(svc) {
  const f = model.filter;
  if (f.state && normalState(svc.status) !== f.state) return false;
  if (f.tag && !(svc.tags || []).includes(f.tag)) return false;
  if (f.q && !String(svc.name).toLowerCase().includes(f.q.toLowerCase())) return false;
  return true;
}

function compare(a, b) {
  const { key, dir } = model.sort;
  const byName = () => String(a.name).localeCompare(String(b.name), undefined, { numeric: true, sensitivity: 'base' });
  const time = (s) => (s ? Date.parse(s) || 0 : 0);
  let d = 0;
  switch (key) {
    case 'state':
      d = STATE_ORDER[normalState(a.status)] - STATE_ORDER[normalState(b.status)];
      break;
    case 'latency':
      d = (a.last_latency_ms ?? Infinity) - (b.last_latency_ms ?? Infinity);
      if (Number.isNaN(d)) d = 0;
      break;
    case 'checked':
      d = time(b.last_checked_at) - time(a.last_checked_at);
      break;
    case 'changed':
      d = time(b.last_change_at) - time(a.last_change_at);
      break;
    default:
      break;
  }
  return d * dir || byName() * (key === 'name' ? dir : 1);
}

const rowHandlers = {
  onTag(tag) {
    setFilter({ tag: model.filter.tag === tag ? '' : tag });
  },
  onToggle(id, paused) {
    togglePause(id, paused);
  },
};

function render() {
  const all = [...model.services.values()];
  renderCounts(all);
  renderTagOptions(all);

  const shown = all.filter(matches).sort(compare);
  const wanted = new Set(shown.map((s) => s.id));
  for (const [id, row] of model.rows) {
    if (!wanted.has(id) && row.tr.parentNode) {
      sparkObserver.unobserve(row.tr);
      visible.delete(id);
      row.tr.remove();
    }
  }
  // Appending in order moves existing rows without rebuilding them.
  let prev = null;
  for (const svc of shown) {
    let row = model.rows.get(svc.id);
    if (!row) {
      row = createRow(rowHandlers);
      model.rows.set(svc.id, row);
    }
    updateRow(row, svc, { readOnly: model.readOnly });
    const attached = row.tr.parentNode === ui.rows;
    const expected = prev ? prev.nextSibling : ui.rows.firstChild;
    if (expected !== row.tr) ui.rows.insertBefore(row.tr, expected);
    if (!attached) sparkObserver.observe(row.tr);
    prev = row.tr;
    queueSpark(svc.id);
  }
  ui.table.classList.toggle('read-only', model.readOnly);

  if (!model.loaded) {
    ui.tableStatus.textContent = 'Loading services…';
  } else if (all.length === 0) {
    ui.tableStatus.textContent = 'No services registered yet. Register one with POST /api/v1/services or a ServiceCheck resource.';
  } else if (shown.length === 0) {
    ui.tableStatus.textContent = `No services match the filters (${all.length} in total).`;
  } else if (shown.length === all.length) {
    ui.tableStatus.textContent = `${all.length} ${all.length === 1 ? 'service' : 'services'}.`;
  } else {
    ui.tableStatus.textContent = `Showing ${shown.length} of ${all.length} services.`;
  }
}

function renderCounts(all) {
  const counts = { '': all.length, UP: 0, DOWN: 0, UNKNOWN: 0, PAUSED: 0 };
  for (const s of all) counts[normalState(s.status)] += 1;
  for (const node of ui.stateFilter.querySelectorAll('[data-count]')) {
    node.textContent = String(counts[node.dataset.count] ?? 0);
  }
  for (const b of ui.stateFilter.querySelectorAll('button')) {
    b.setAttribute('aria-pressed', String(b.dataset.state === model.filter.state));
  }
  // The tab title tells at a glance, even from another tab.
  document.title = counts.DOWN > 0 ? `(${counts.DOWN} down) Vigil` : 'Vigil';
}

let tagKey = '';

function renderTagOptions(all) {
  const tags = new Set();
  for (const s of all) for (const t of s.tags || []) tags.add(t);
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

// ---- filters, sorting, URL --------------------------------------------

function readFilterFromURL() {
  const p = new URLSearchParams(location.search);
  const state = (p.get('state') || '').toUpperCase();
  model.filter = {
    q: p.get('q') || '',
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
  history.replaceState(null, '', qs ? `?${qs}` : location.pathname);
  render();
}

function setSort(key) {
  model.sort = model.sort.key === key ? { key, dir: -model.sort.dir } : { key, dir: 1 };
  for (const th of ui.table.querySelectorAll('th[data-sort-key]')) {
    const on = th.dataset.sortKey === key;
    th.setAttribute('aria-sort', on ? (model.sort.dir > 0 ? 'ascending' : 'descending') : 'none');
  }
  render();
}

// ---- live updates ------------------------------------------------------

function onTransition(ev) {
  announce(ev);
  const svc = model.services.get(ev.service_id);
  if (!svc) {
    // A service this page has not seen yet (just registered).
    refresh();
    return;
  }
  // A replayed event older than what the list already shows must not
  // move the row back; the refetch below settles the rest.
  const known = svc.last_change_at ? Date.parse(svc.last_change_at) : 0;
  const at = Date.parse(ev.at);
  if (!(at < known)) {
    const next = { ...svc, status: ev.to, last_change_at: ev.at, paused: ev.to === 'PAUSED' };
    if (ev.to === 'UP' || ev.to === 'DOWN') {
      next.last_checked_at = ev.at;
      next.last_latency_ms = ev.latency_ms;
      next.last_error = ev.error || '';
    }
    model.services.set(svc.id, next);
    render();
    const row = model.rows.get(svc.id);
    if (row) flash(row);
  }
  refreshService(ev.service_id);
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
    state === 'live' ? 'Receiving state changes as they happen' : 'Live updates paused; the table still refreshes periodically';
}

const feed = new LiveFeed({
  url: api.eventsURL,
  onEvent: onTransition,
  // Whatever happened while disconnected, the list is the truth.
  onOpen: () => refresh(),
  onStatus: setConnection,
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
  ui.dashboard.hidden = false;
  ui.logout.hidden = !api.signedIn();
}

async function togglePause(id, paused) {
  try {
    const svc = await api.setPaused(id, !paused);
    model.services.set(svc.id, svc);
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

function bind() {
  ui.search.addEventListener('input', () => setFilter({ q: ui.search.value.trim() }));
  ui.tagFilter.addEventListener('change', () => setFilter({ tag: ui.tagFilter.value }));
  ui.stateFilter.addEventListener('click', (e) => {
    const b = e.target.closest('button[data-state]');
    if (b) setFilter({ state: b.dataset.state });
  });
  document.getElementById('filters').addEventListener('submit', (e) => e.preventDefault());
  for (const th of ui.table.querySelectorAll('th[data-sort-key]')) {
    th.querySelector('button').addEventListener('click', () => setSort(th.dataset.sortKey));
  }

  ui.loginForm.addEventListener('submit', async (e) => {
    e.preventDefault();
    const user = ui.user.value.trim();
    const secret = user ? ui.secret.value : ui.secret.value.trim();
    if (!secret) return;
    api.signIn(user, secret);
    ui.secret.value = '';
    model.authNeeded = false;
    await refresh();
    if (!model.authNeeded) feed.restart();
  });
  ui.logout.addEventListener('click', () => {
    api.signOut();
    location.reload();
  });

  document.addEventListener('visibilitychange', () => {
    if (!document.hidden && !model.authNeeded) refresh();
  });
  window.addEventListener('online', () => feed.reconnectNow());

  setInterval(() => {
    if (!document.hidden && !model.authNeeded) refresh();
  }, REFRESH_MS);
  setInterval(() => refreshTimes(ui.rows), CLOCK_MS);
}

function start() {
  readFilterFromURL();
  bind();
  render();
  refresh().then(() => {
    if (!model.authNeeded) feed.start();
  });
}

start();
