// REST client for the dashboard. Every URL is relative to the page, so the
// dashboard keeps working behind a proxy that serves Vigil under a prefix.

const TOKEN_KEY = 'vigil.token';

/** The API answered 401: the caller should ask for a token. */
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
// dashboard then simply works without remembering the token.
export function getToken() {
  try {
    return sessionStorage.getItem(TOKEN_KEY) || '';
  } catch {
    return '';
  }
}

export function setToken(token) {
  try {
    sessionStorage.setItem(TOKEN_KEY, token);
  } catch {
    /* not remembered; see getToken */
  }
}

export function clearToken() {
  try {
    sessionStorage.removeItem(TOKEN_KEY);
  } catch {
    /* nothing stored */
  }
}

function url(path) {
  return new URL(path, document.baseURI);
}

async function request(path, { method = 'GET', signal } = {}) {
  const headers = { Accept: 'application/json' };
  const token = getToken();
  if (token) headers.Authorization = `Bearer ${token}`;
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

/** Every registered service with its current state. */
export async function listServices(signal) {
  const body = await request('api/v1/services', { signal });
  return Array.isArray(body && body.items) ? body.items : [];
}

/** One service with its current state. */
export function getService(id, signal) {
  return request(servicePath(id), { signal });
}

/** The newest results of one service, newest first. */
export async function recentResults(id, limit, signal) {
  const body = await request(`${servicePath(id)}/results?limit=${limit}`, { signal });
  return Array.isArray(body && body.items) ? body.items : [];
}

/** Pauses (paused=true) or resumes a service; resolves to the service. */
export function setPaused(id, paused) {
  return request(`${servicePath(id)}/${paused ? 'pause' : 'resume'}`, { method: 'POST' });
}

/**
 * The WebSocket URL. Browsers cannot set headers on a WebSocket, so the
 * token travels as access_token; since resumes after the last event seen.
 */
export function eventsURL(since) {
  const u = url('ws');
  u.protocol = u.protocol === 'https:' ? 'wss:' : 'ws:';
  if (since > 0) u.searchParams.set('since', String(since));
  const token = getToken();
  if (token) u.searchParams.set('access_token', token);
  return u.href;
}
