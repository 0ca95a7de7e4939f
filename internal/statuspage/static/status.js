// Live updates for a status page. The page is complete without this
// script; it only keeps the states and the incident list current from the
// page's own WebSocket feed, which the server filters to the services
// this page shows. Every string is set as text, never parsed as HTML.

const AUTH_KEY = 'vigil.auth'; // the dashboard's stored credential, if any
const MAX_INCIDENTS = 20;

function bearerToken() {
  try {
    const v = sessionStorage.getItem(AUTH_KEY) || '';
    return v.startsWith('Bearer ') ? v.slice('Bearer '.length) : '';
  } catch {
    return '';
  }
}

function feedURL(slug, since) {
  const u = new URL(`../ws/status/${encodeURIComponent(slug)}`, document.baseURI);
  u.protocol = u.protocol === 'https:' ? 'wss:' : 'ws:';
  if (since > 0) u.searchParams.set('since', String(since));
  const token = bearerToken();
  if (token) u.searchParams.set('access_token', token);
  return u.href;
}

function setState(el, state) {
  el.textContent = state;
  el.className = `state state-${state}`;
}

function applyOverall() {
  const all = document.querySelectorAll('.service');
  const ids = new Set();
  const down = new Set();
  for (const s of all) {
    ids.add(s.dataset.id);
    if (s.dataset.state === 'DOWN') down.add(s.dataset.id);
  }
  const overall = document.getElementById('overall');
  if (ids.size === 0) return;
  overall.textContent = down.size === 0 ? 'All systems operational' : `${down.size} of ${ids.size} services down`;
}

function addIncident(ev) {
  const list = document.getElementById('incidents');
  const none = list.querySelector('.none');
  if (none) none.remove();
  const li = document.createElement('li');
  const time = document.createElement('time');
  time.dateTime = ev.at;
  time.textContent = ev.at.replace('T', ' ').replace(/\.\d+Z$/, ' UTC').replace(/Z$/, ' UTC');
  const name = document.createElement('span');
  name.className = 'name';
  name.textContent = ev.service;
  const to = document.createElement('span');
  setState(to, ev.to);
  li.append(time, ' ', name, `: ${ev.from} → `, to);
  list.prepend(li);
  while (list.children.length > MAX_INCIDENTS) list.lastElementChild.remove();
}

function apply(ev) {
  if (ev.type !== 'transition') return;
  let shown = false;
  for (const s of document.querySelectorAll('.service')) {
    if (s.dataset.id !== ev.service_id) continue;
    shown = true;
    s.dataset.state = ev.to;
    setState(s.querySelector('.state'), ev.to);
  }
  if (!shown) return; // not this page's: the server never sends one
  // Incidents as the server lists them (check.IsIncident): a service that
  // went DOWN or came back from DOWN, not a first verdict or a pause.
  if (ev.to === 'DOWN' || (ev.from === 'DOWN' && ev.to === 'UP')) addIncident(ev);
  applyOverall();
}

function connect(slug, since) {
  const live = document.getElementById('live');
  let last = since;
  let delay = 1000;
  const open = () => {
    const ws = new WebSocket(feedURL(slug, last));
    ws.addEventListener('open', () => {
      delay = 1000;
      live.dataset.state = 'live';
      live.textContent = 'Live';
    });
    ws.addEventListener('message', (m) => {
      let ev;
      try {
        ev = JSON.parse(m.data);
      } catch {
        return;
      }
      if (typeof ev.id === 'number' && ev.id > last) last = ev.id;
      apply(ev);
    });
    ws.addEventListener('close', () => {
      live.dataset.state = 'offline';
      live.textContent = 'Reconnecting…';
      setTimeout(open, delay);
      delay = Math.min(delay * 2, 30000);
    });
  };
  open();
}

const slug = document.body.dataset.slug;
if (slug) connect(slug, Number(document.body.dataset.since) || 0);
