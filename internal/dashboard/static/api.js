// REST client for the dashboard. Every URL is relative to the page, so the
// dashboard keeps working behind a proxy that serves Vigil under a prefix.

// The Authorization header value ("Bearer …" or "Basic …") lives in
// sessionStorage: it survives a reload but not the tab.
const AUTH_KEY = 'vigil.auth';

/** The API answered 401: the caller should ask for credentials. */
export class AuthError extends Error {
  constructor(message) {
    super(message || 'authentication required');
    this.name = 'AuthError';
  }
}

/** The API answered with an error other than 401. */
export class ApiError extends Error {
  constructor(status, code, message) {
    super(message || `HTTP ${status}`);
    this.name = 'ApiError';
    this.status = status;
    this.code = code || '';
  }
}

// sessionStorage can throw (disabled storage, sandboxed frames); the
// dashboard then simply works without remembering the credentials.
function authorization() {
  try {
    return sessionStorage.getItem(AUTH_KEY) || '';
  } catch {
    return '';
  }
}

/** Whether credentials are stored for this tab. */
export function signedIn() {
  return authorization() !== '';
}

/**
 * Stores the credentials to send: a bearer token, or a user name and
 * password for HTTP basic authentication when user is not empty.
 */
export function signIn(user, secret) {
  const value = user ? `Basic ${base64(`${user}:${secret}`)}` : `Bearer ${secret}`;
  try {
    sessionStorage.setItem(AUTH_KEY, value);
  } catch {
    /* not remembered; see authorization */
  }
}

export function signOut() {
  try {
    sessionStorage.removeItem(AUTH_KEY);
  } catch {
    /* nothing stored */
  }
}

// btoa takes Latin-1 only; user names and passwords may be any UTF-8.
function base64(text) {
  let bin = '';
  for (const b of new TextEncoder().encode(text)) bin += String.fromCharCode(b);
  return btoa(bin);
}

function url(path) {
  return new URL(path, document.baseURI);
}

async function request(path, { method = 'GET', signal } = {}) {
  // X-Requested-With keeps the server from adding a Basic challenge,
  // which would make the browser pop up its own login over ours.
  const headers = { Accept: 'application/json', 'X-Requested-With': 'XMLHttpRequest' };
  const auth = authorization();
  if (auth) headers.Authorization = auth;
  const res = await fetch(url(path), { method, headers, signal, cache: 'no-store', credentials: 'same-origin' });
  let body = null;
  try {
    body = await res.json();
  } catch {
    body = null;
  }
  const err = body && body.error ? body.error : null;
  if (res.status === 401) throw new AuthError(err && err.message);
  if (!res.ok) throw new ApiError(res.status, err && err.code, err && err.message);
  return body;
}

const servicePath = (id) => `api/v1/services/${encodeURIComponent(id)}`;

/**
 * One page of services in name order, filtered on the server:
 * { items, next } where next is the cursor of the next page or null.
 */
export async function listServices({ q = '', state = '', tag = '', limit = 200, cursor = '' } = {}, signal) {
  const p = new URLSearchParams({ limit: String(limit) });
  if (q) p.set('q', q);
  if (state) p.set('status', state);
  if (tag) p.set('tag', tag);
  if (cursor) p.set('cursor', cursor);
  const body = await request(`api/v1/services?${p}`, { signal });
  return {
    items: Array.isArray(body && body.items) ? body.items : [],
    next: body && typeof body.next_cursor === 'string' && body.next_cursor ? body.next_cursor : null,
  };
}

/** Active services per status: { total, by_status: { UP, DOWN, UNKNOWN, PAUSED } }. */
export function counts(signal) {
  return request('api/v1/services/counts', { signal });
}

/** Uptime of one service over window ("24h", "7d"). */
export function uptime(id, window, signal) {
  return request(`${servicePath(id)}/uptime?window=${encodeURIComponent(window)}`, { signal });
}

/** Query string of a history read: limit, and region when one is chosen. */
function historyQuery(limit, region) {
  const p = new URLSearchParams({ limit: String(limit) });
  if (region) p.set('region', region);
  return p;
}

/** The newest state changes of one service (those region caused, when set), newest first. */
export async function transitions(id, limit, signal, region = '') {
  const body = await request(`${servicePath(id)}/transitions?${historyQuery(limit, region)}`, { signal });
  return Array.isArray(body && body.items) ? body.items : [];
}

/** One service with its current state. */
export function getService(id, signal) {
  return request(servicePath(id), { signal });
}

/** The newest results of one service (of region alone, when set), newest first. */
export async function recentResults(id, limit, signal, region = '') {
  const body = await request(`${servicePath(id)}/results?${historyQuery(limit, region)}`, { signal });
  return Array.isArray(body && body.items) ? body.items : [];
}

/** Pauses (paused=true) or resumes a service; resolves to the service. */
export function setPaused(id, paused) {
  return request(`${servicePath(id)}/${paused ? 'pause' : 'resume'}`, { method: 'POST' });
}

/**
 * The WebSocket URL. Browsers cannot set headers on a WebSocket, so a
 * bearer token travels as access_token (the server strips it before
 * logging); since resumes after the last event seen.
 */
export function eventsURL(since) {
  const u = url('ws');
  u.protocol = u.protocol === 'https:' ? 'wss:' : 'ws:';
  // since=0 replays the whole log, which is right for a client whose
  // counts include none; null (no since) starts with the next live event.
  if (Number.isSafeInteger(since) && since >= 0) u.searchParams.set('since', String(since));
  const auth = authorization();
  if (auth.startsWith('Bearer ')) u.searchParams.set('access_token', auth.slice('Bearer '.length));
  return u.href;
}
