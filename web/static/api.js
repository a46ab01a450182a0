/* Shared by the chat app and the admin dashboard: token storage, the JSON REST helper and
   small DOM/formatting utilities. Both pages must agree on the storage keys, so they live here. */

const TOKEN_KEY = 'chatterbox.token';
// A one-shot note carried across a page change (e.g. the dashboard sends an expired session back
// to the sign-in page, which must say why).
const NOTE_KEY = 'chatterbox.note';

/** @returns {string|null} */
export function getToken() {
  try {
    return localStorage.getItem(TOKEN_KEY);
  } catch {
    return null; // storage disabled (private mode in some browsers): behave as signed out
  }
}

/** @param {string} token */
export function setToken(token) {
  try {
    localStorage.setItem(TOKEN_KEY, token);
  } catch {
    /* the session then lasts only as long as the page */
  }
}

export function clearToken() {
  try {
    localStorage.removeItem(TOKEN_KEY);
  } catch {
    /* nothing stored */
  }
}

/** @param {string} text */
export function setNote(text) {
  try {
    sessionStorage.setItem(NOTE_KEY, text);
  } catch {
    /* best effort */
  }
}

export function takeNote() {
  try {
    const note = sessionStorage.getItem(NOTE_KEY);
    sessionStorage.removeItem(NOTE_KEY);
    return note;
  } catch {
    return null;
  }
}

export const SESSION_EXPIRED = 'Your session expired, please sign in again.';

/** An HTTP error with the server's sentence and, for form validation, the offending field. */
export class ApiError extends Error {
  /**
   * @param {number} status
   * @param {string} detail
   * @param {string|null} [field]
   * @param {number} [retryAfter]
   * @param {any} [body] the whole JSON answer (a blocked sign-in's `appeal`)
   */
  constructor(status, detail, field, retryAfter, body) {
    super(detail);
    this.body = body;
    this.status = status;
    this.detail = detail;
    this.field = field || null;
    this.retryAfter = retryAfter;
  }
}

/** Thrown when the server cannot be reached at all (distinct from an HTTP error). */
export class NetworkError extends Error {}

/** @param {number} status */
function fallbackDetail(status) {
  if (status === 401) return 'You are not signed in.';
  if (status === 403) return 'You are not allowed to do that.';
  if (status === 404) return 'Not found.';
  if (status === 429) return 'Too many requests. Please wait a moment and try again.';
  if (status >= 500) return 'The server had a problem. Please try again.';
  return `Request failed (HTTP ${status}).`;
}

/**
 * fetch() wrapper for the JSON API. Resolves with the parsed body (or the Response when
 * `raw` is set, for file downloads); rejects with ApiError or NetworkError.
 * @param {string} path
 * @param {{method?: string, body?: unknown, token?: string|null, raw?: boolean}} [options]
 * @returns {Promise<any>}
 */
export async function api(path, { method = 'GET', body, token = getToken(), raw = false } = {}) {
  /** @type {Record<string, string>} */
  const headers = { Accept: raw ? '*/*' : 'application/json' };
  if (token) headers.Authorization = `Bearer ${token}`;
  if (body !== undefined) headers['Content-Type'] = 'application/json';
  let res;
  try {
    res = await fetch(path, {
      method,
      headers,
      body: body === undefined ? undefined : JSON.stringify(body),
      cache: 'no-store',
      credentials: 'omit',
    });
  } catch {
    throw new NetworkError('Cannot reach the server. Check your connection and try again.');
  }
  if (!res.ok) {
    let detail = '';
    let field = null;
    let data = null;
    try {
      data = await res.json();
      if (data && typeof data.detail === 'string') detail = data.detail;
      else if (data && Array.isArray(data.detail) && data.detail[0]?.msg) detail = String(data.detail[0].msg);
      if (data && typeof data.field === 'string') field = data.field;
    } catch {
      /* not JSON: keep the generic sentence */
    }
    const retry = Number.parseInt(res.headers.get('Retry-After') || '', 10);
    throw new ApiError(res.status, detail || fallbackDetail(res.status), field, Number.isFinite(retry) ? retry : undefined, data);
  }
  if (raw) return res;
  if (res.status === 204) return null;
  const text = await res.text();
  return text ? JSON.parse(text) : null;
}

/**
 * createElement with classes, text and attributes; never parses HTML.
 * @template {keyof HTMLElementTagNameMap} K
 * @param {K} tag
 * @param {{cls?: string, text?: unknown, attrs?: Record<string, string|number|boolean|null|undefined>, children?: (Node|string|null|undefined|false)[]}} [options]
 * @returns {HTMLElementTagNameMap[K]}
 */
export function h(tag, { cls, text, attrs, children } = {}) {
  const el = document.createElement(tag);
  if (cls) el.className = cls;
  if (text !== undefined && text !== null) el.textContent = String(text);
  if (attrs) {
    for (const [k, v] of Object.entries(attrs)) {
      if (v === false || v === null || v === undefined) continue;
      el.setAttribute(k, v === true ? '' : String(v));
    }
  }
  if (children) for (const c of children) if (c) el.append(c);
  return el;
}

const timeFmt = new Intl.DateTimeFormat(undefined, { hour: 'numeric', minute: '2-digit' });
const fullFmt = new Intl.DateTimeFormat(undefined, { dateStyle: 'full', timeStyle: 'medium' });
const dayFmt = new Intl.DateTimeFormat(undefined, { weekday: 'long', month: 'long', day: 'numeric' });
const dayYearFmt = new Intl.DateTimeFormat(undefined, { weekday: 'long', year: 'numeric', month: 'long', day: 'numeric' });
const shortFmt = new Intl.DateTimeFormat(undefined, { dateStyle: 'medium', timeStyle: 'short' });

/** @param {string} iso */
export function parseTime(iso) {
  const d = new Date(iso);
  return Number.isNaN(d.getTime()) ? new Date() : d;
}

/** @param {Date} d */
export const formatTime = (d) => timeFmt.format(d);
/** @param {Date} d */
export const formatFull = (d) => fullFmt.format(d);
/** @param {Date} d */
export const formatShort = (d) => shortFmt.format(d);

/**
 * Local calendar day key, so day dividers follow the reader's time zone.
 * @param {Date} d
 */
export function dayKey(d) {
  return `${d.getFullYear()}-${d.getMonth()}-${d.getDate()}`;
}

/** @param {Date} d */
export function formatDay(d) {
  const today = new Date();
  const yesterday = new Date(today.getFullYear(), today.getMonth(), today.getDate() - 1);
  if (dayKey(d) === dayKey(today)) return 'Today';
  if (dayKey(d) === dayKey(yesterday)) return 'Yesterday';
  return d.getFullYear() === today.getFullYear() ? dayFmt.format(d) : dayYearFmt.format(d);
}

/**
 * Length as the server counts it (Unicode scalar values, not UTF-16 units).
 * @param {string} text
 */
export function charCount(text) {
  let n = 0;
  for (const _ of text) n += 1;
  return n;
}
