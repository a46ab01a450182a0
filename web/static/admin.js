/* Chatterbox admin dashboard: gatekeeping, stats, users (search, filters, block/unblock,
   grant/revoke admin with an in-page confirmation), rooms (archive/unarchive), the live view of
   one public room at a time (where a message can be deleted, with an optional reason; edits and
   deletions show live), moderation log and CSV exports. */

import {
  api, ApiError, getToken, clearToken, setNote, SESSION_EXPIRED,
  h, parseTime, formatTime, formatFull, formatShort,
} from './api.js';
import { ChatSocket } from './socket.js';
import { $, $input, $dialog, $button } from './ui.js';
import { mountDashboard } from './dash-reports.js';
import { actionLabel, auditQuery, auditExtra, mutedNote, muteButton, watchAuditFilters } from './dash-audit.js';
import { startTerms } from './dash-terms.js';

/** @typedef {import('./store.js').Me & {id: number}} Me  the account as `GET /me` describes it */
/** @typedef {import('./store.js').MessageData} MessageData */
/** @typedef {import('./socket.js').SocketState} SocketState */

/**
 * `GET /admin/stats`.
 * @typedef {object} Stats
 * @property {number} users
 * @property {number} online
 * @property {number} messages_today
 * @property {number} blocked
 */

/**
 * The latest block of a blocked account.
 * @typedef {object} BlockInfo
 * @property {string|null} reason  the operator's, when one was given
 * @property {string} by  `moderation`, the acting admin's username, or `cli`
 * @property {string|null} term  the moderated term behind an automatic block
 * @property {string} at
 */

/**
 * An account as `GET /admin/users` lists it.
 * @typedef {object} AdminUser
 * @property {number} id
 * @property {string} username
 * @property {string} email
 * @property {boolean} is_admin
 * @property {boolean} is_blocked
 * @property {number} warning_count
 * @property {string} created_at
 * @property {string|null} [muted_until]  the end of a running account mute
 * @property {BlockInfo} [block]  blocked accounts only
 */

/**
 * A room as `GET /admin/rooms` lists it: public and private rooms only, which always have a name.
 * @typedef {object} AdminRoom
 * @property {number} id
 * @property {string} name
 * @property {'public'|'private'} kind
 * @property {string|null} topic
 * @property {number} members
 * @property {number} messages
 * @property {string|null} last_activity
 * @property {boolean} archived
 */

/**
 * One entry of the moderation log (`GET /admin/violations`).
 * @typedef {object} AuditEntry
 * @property {number} id
 * @property {number|null} user_id  null for acts that concern no account
 * @property {string|null} username
 * @property {string} action  warning, mute, unmute, block, unblock, delete, report, appeal, terms, moderator, slow_mode
 * @property {string|null} text
 * @property {string|null} term
 * @property {string|null} reason
 * @property {string} actor
 * @property {string} timestamp
 * @property {boolean} [strike]
 * @property {string|null} [until]
 * @property {number|null} [room_id]
 * @property {number|null} [message_id]
 */

/**
 * A socket frame as the live view reads it: presence (`online`, `count`), join / leave (`user`),
 * error (`detail`), expired, messages, and edits and deletions of them; every other type is ignored.
 * @typedef {{type: string, online?: unknown, count?: number, detail?: string} & Partial<MessageData>} LiveFrame
 */

/**
 * A confirmed action on a user or a room: the dialog's sentences, its request and the outcome.
 * @template T
 * @typedef {object} Action
 * @property {(subject: T) => string} title
 * @property {(subject: T) => string} text
 * @property {string} ok  the confirm button, also the verb of the error sentence
 * @property {boolean} [danger]
 * @property {boolean} [askReason]
 * @property {(subject: T) => ['POST'|'DELETE', string]} request  method and path
 * @property {(subject: T) => string} done
 * @property {(subject: T) => void} [after]  what the page changes once the server agreed
 */

const STATS_EVERY_MS = 10000;
const AUDIT_EVERY_MS = 30000;
const AUDIT_PAGE = 50;
const LIVE_MAX = 500;

/** @type {Me|null} */
let me = null;
/** @type {AdminUser[]} */
let users = [];
/** @type {AdminRoom[]} */
let rooms = [];
/** @type {AuditEntry[]} */
let violations = [];
let auditDone = false;
/** @type {LiveSocket|null} */
let live = null;
/** @type {ReturnType<typeof setInterval>[]} */
let timers = [];
let closed = false;

/* ------------------------------------------------------------------ gate */

/**
 * Closes the dashboard and says why, with a way on (a link) or a retry.
 * @param {{title: string, text?: string, link?: string, linkText?: string, retry?: boolean}} o
 */
function gate({ title, text, link, linkText, retry = false }) {
  closed = true;
  for (const t of timers) clearInterval(t);
  timers = [];
  if (live) {
    const l = live;
    live = null;
    l.stop();
  }
  const dialog = $dialog('confirm');
  if (dialog.open) dialog.close('cancel');
  $('dash').hidden = true;
  $('gate').hidden = false;
  $('gate-title').textContent = title;
  $('gate-text').textContent = text || '';
  const a = /** @type {HTMLAnchorElement} */ ($('gate-link'));
  a.hidden = !link;
  if (link) {
    a.href = link;
    a.textContent = linkText;
  }
  $('gate-retry').hidden = !retry;
  document.title = `${title} · Chatterbox`;
  $('gate-title').focus();
}

function expired() {
  clearToken();
  setNote(SESSION_EXPIRED); // the sign-in page repeats why the reader is there
  gate({ title: 'Your session expired', text: SESSION_EXPIRED, link: '/', linkText: 'Sign in' });
}

/** @param {string} [detail] the server's sentence, shown when the account is not known yet */
function notAdmin(detail) {
  const who = me ? `You are signed in as ${me.username}, which is not an administrator account.` : (detail || '');
  gate({
    title: 'Administrators only',
    text: `The dashboard is only available to administrators. ${who}`.trim(),
    link: '/',
    linkText: 'Back to the chat',
  });
}

/**
 * Central handling of auth failures from any admin call; returns true when the page was closed.
 * @param {unknown} e
 */
function handleAuthError(e) {
  if (!(e instanceof ApiError)) return false;
  if (e.status === 401) {
    expired();
    return true;
  }
  if (e.status === 403) {
    notAdmin(e.detail);
    return true;
  }
  return false;
}

async function boot() {
  if (!getToken()) {
    gate({
      title: 'Please sign in',
      text: 'The dashboard is only available to administrators. Sign in with an administrator account first.',
      link: '/',
      linkText: 'Go to sign in',
    });
    return;
  }
  try {
    me = await api('/me');
  } catch (e) {
    if (e instanceof ApiError && e.status === 401) { expired(); return; }
    if (e instanceof ApiError && e.status === 403) {
      gate({ title: 'Account blocked', text: e.detail, link: '/', linkText: 'Back to Chatterbox' });
      return;
    }
    gate({ title: 'Cannot reach the server', text: e.message, retry: true });
    return;
  }
  if (!me.is_admin) {
    notAdmin();
    return;
  }
  openDashboard();
}

$('gate-retry').addEventListener('click', () => {
  $('gate-title').textContent = 'Loading the dashboard…';
  $('gate-retry').hidden = true;
  boot();
});

function openDashboard() {
  closed = false;
  $('me-name').textContent = me.username;
  $('gate').hidden = true;
  $('dash').hidden = false;
  document.title = 'Admin dashboard · Chatterbox';
  loadStats();
  loadUsers();
  loadRooms();
  loadAudit(true);
  mountDashboard();
  startTerms();
  startLive();
  timers.push(setInterval(() => { loadStats(); loadRooms(); }, STATS_EVERY_MS));
  timers.push(setInterval(() => loadAudit(true), AUDIT_EVERY_MS));
}

$('signout').addEventListener('click', () => {
  clearToken();
  location.href = '/';
});

/* ------------------------------------------------------------------ messages to the admin */

/** @param {string} message */
function showError(message) {
  $('dash-error-text').textContent = message;
  $('dash-error').hidden = false;
  $('dash-status').hidden = true;
}

/** @param {string} message */
function showStatus(message) {
  $('dash-status').textContent = message;
  $('dash-status').hidden = false;
  $('dash-error').hidden = true;
}

$('dash-error-close').addEventListener('click', () => { $('dash-error').hidden = true; });

/* ------------------------------------------------------------------ stats */

const nf = new Intl.NumberFormat();

async function loadStats() {
  if (closed) return;
  try {
    /** @type {Stats} */
    const s = await api('/admin/stats');
    $('stat-users').textContent = nf.format(s.users ?? 0);
    // While the live view is connected its presence count is the number shown: a request
    // answered before the dashboard's own socket joined would count one fewer.
    if (liveTotal === null) $('stat-online').textContent = nf.format(s.online ?? 0);
    $('stat-messages').textContent = nf.format(s.messages_today ?? 0);
    $('stat-blocked').textContent = nf.format(s.blocked ?? 0);
    $('stat-blocked').closest('.stat').classList.toggle('nonzero', (s.blocked ?? 0) > 0);
    $('stats-updated').textContent = `Counts updated at ${formatTime(new Date())}`;
  } catch (e) {
    if (handleAuthError(e)) return;
    $('stats-updated').textContent = `Counts could not be refreshed: ${e.message}`;
  }
}

/* ------------------------------------------------------------------ users */

async function loadUsers() {
  if (closed) return;
  try {
    /** @type {AdminUser[]} */
    const list = await api('/admin/users');
    users = Array.isArray(list) ? list : [];
    renderUsers();
  } catch (e) {
    if (handleAuthError(e)) return;
    showError(`The user list could not be loaded: ${e.message}`);
  }
}

/**
 * @param {string} text
 * @param {string} kind
 */
function badge(text, kind) {
  return h('span', { cls: `badge badge-${kind}`, text });
}

/**
 * A row's button; `who` completes its accessible name ("Block alice").
 * @param {string} label
 * @param {string} who
 * @param {string} kind  its button class
 * @param {string} key  keeps the focus on it across re-renders
 * @param {() => void} onClick
 * @param {string|null} [disabledWhy]  disables it, with this tooltip
 */
function actionButton(label, who, kind, key, onClick, disabledWhy) {
  const b = h('button', {
    cls: `btn btn-small ${kind}`,
    attrs: { type: 'button', 'data-focus-key': key },
    children: [document.createTextNode(label), h('span', { cls: 'visually-hidden', text: ` ${who}` })],
  });
  if (disabledWhy) {
    b.disabled = true;
    b.title = disabledWhy;
  } else {
    b.addEventListener('click', onClick);
  }
  return b;
}

/**
 * Why an account is blocked, in words: the operator's reason, or how it came about.
 * @param {BlockInfo|undefined} b
 */
function blockReason(b) {
  if (!b) return null;
  if (b.reason) return b.reason;
  if (b.by === 'moderation') return b.term ? `Automatic: repeated rule violations (last: “${b.term}”)` : 'Automatic: repeated rule violations';
  return 'No reason given';
}

/** @param {AdminUser} u */
function statusOf(u) {
  if (!u.is_blocked) return badge('Active', 'success');
  const b = u.block;
  const by = b && b.by !== 'moderation' ? `by ${b.by}` : null;
  return h('div', {
    cls: 'status-cell',
    children: [
      badge('Blocked', 'danger'),
      b ? h('span', { cls: 'block-reason', text: blockReason(b) }) : null,
      by ? h('span', { cls: 'block-by muted', text: by }) : null,
    ],
  });
}

function renderUsers() {
  const q = $input('user-search').value.trim().toLowerCase();
  const blockedOnly = $input('blocked-only').checked;
  const shown = users
    .filter((u) => !blockedOnly || u.is_blocked)
    .filter((u) => !q || String(u.username).toLowerCase().includes(q) || String(u.email || '').toLowerCase().includes(q));

  // Re-rendering must not throw the keyboard user back to the top of the page.
  const focusKey = focusedKey();

  const rows = shown.map((u) => {
    const self = me && u.id === me.id;
    const joined = u.created_at ? parseTime(u.created_at) : null;
    const name = h('div', {
      cls: 'user-cell',
      children: [
        h('span', { cls: 'user-name', text: u.username }),
        self ? badge('you', 'muted') : null,
      ],
    });
    const actions = h('div', {
      cls: 'row-actions',
      children: [
        u.is_blocked
          ? actionButton('Unblock', u.username, 'btn-secondary', `unblock-${u.id}`, () => act(u, 'unblock'))
          : actionButton('Block', u.username, 'btn-danger-outline', `block-${u.id}`, () => act(u, 'block'),
            self ? 'You cannot block your own account' : null),
        u.is_blocked ? null : muteButton(u, (ok, message) => {
          if (!ok) { showError(message); return; }
          showStatus(message);
          loadUsers();
          loadAudit(true);
        }),
        u.is_admin
          ? actionButton('Revoke admin', u.username, 'btn-secondary', `revoke-${u.id}`, () => act(u, 'revoke'),
            self ? 'You cannot remove your own admin rights' : null)
          : actionButton('Make admin', u.username, 'btn-secondary', `grant-${u.id}`, () => act(u, 'grant')),
      ],
    });
    return h('tr', {
      cls: u.is_blocked ? 'is-blocked' : '',
      attrs: { 'data-user': u.username },
      children: [
        cell('User', name, 'cell-user'),
        cell('E-mail', h('span', { cls: 'email', text: u.email || '' })),
        cell('Role', u.is_admin ? badge('Admin', 'accent') : badge('User', 'muted')),
        cell('Status', h('div', { children: [statusOf(u), mutedNote(u)] })),
        cell('Warnings', h('span', { text: String(u.warning_count ?? 0) }), 'num'),
        cell('Joined', joined
          ? h('time', { text: formatShort(joined), attrs: { datetime: joined.toISOString(), title: formatFull(joined) } })
          : document.createTextNode('')),
        cell('Actions', actions, 'cell-actions'),
      ],
    });
  });
  $('users-body').replaceChildren(...rows);
  $('users-count').textContent = shown.length === users.length ? String(users.length) : `${shown.length} of ${users.length}`;
  const empty = $('users-empty');
  empty.hidden = shown.length > 0;
  empty.textContent = users.length === 0 ? 'No users yet.' : 'No users match this search.';
  if (focusKey) byFocusKey(focusKey)?.focus();
}

/**
 * A table cell with the label the phone layout shows beside its value.
 * @param {string} label
 * @param {Node} child
 * @param {string} [cls]
 */
function cell(label, child, cls) {
  return h('td', { cls, attrs: { 'data-label': label }, children: [child] });
}

/** The focus key of the focused element, if it has one. */
function focusedKey() {
  return /** @type {HTMLElement|null} */ (document.activeElement)?.dataset?.focusKey;
}

/** @param {string} key */
function byFocusKey(key) {
  return /** @type {HTMLElement|null} */ (document.querySelector(`[data-focus-key="${CSS.escape(key)}"]`));
}

$('user-search').addEventListener('input', renderUsers);
$('blocked-only').addEventListener('change', renderUsers);
$('users-refresh').addEventListener('click', () => { loadUsers(); loadStats(); });

/** @type {Record<'block'|'unblock'|'grant'|'revoke', Action<AdminUser>>} */
const ACTIONS = {
  block: {
    title: (u) => `Block ${u.username}?`,
    text: (u) => `${u.username} will be signed out at once and will not be able to sign in or chat until unblocked.`,
    ok: 'Block user',
    danger: true,
    askReason: true,
    request: (u) => ['POST', `/admin/users/${u.id}/block`],
    done: (u) => `${u.username} is now blocked.`,
  },
  unblock: {
    title: (u) => `Unblock ${u.username}?`,
    text: (u) => `${u.username} will be able to sign in and chat again.`,
    ok: 'Unblock user',
    request: (u) => ['POST', `/admin/users/${u.id}/unblock`],
    done: (u) => `${u.username} is unblocked.`,
  },
  grant: {
    title: (u) => `Make ${u.username} an administrator?`,
    text: (u) => `${u.username} will be able to open this dashboard, block users and download every message.`,
    ok: 'Make admin',
    request: (u) => ['POST', `/admin/users/${u.id}/admin`],
    done: (u) => `${u.username} is now an administrator.`,
  },
  revoke: {
    title: (u) => `Remove admin rights from ${u.username}?`,
    text: (u) => `${u.username} will keep their account but lose access to this dashboard.`,
    ok: 'Remove admin',
    danger: true,
    request: (u) => ['DELETE', `/admin/users/${u.id}/admin`],
    done: (u) => `${u.username} is no longer an administrator.`,
  },
};

/**
 * @param {AdminUser} user
 * @param {keyof typeof ACTIONS} kind
 */
async function act(user, kind) {
  if (!(await perform(ACTIONS[kind], user, user.username))) return;
  await loadUsers();
  loadStats();
  loadAudit(true);
}

/**
 * Asks for confirmation, then sends the action's request and says how it went. Resolves with
 * false when nothing was attempted (cancelled) or the page closed (session gone, no longer admin).
 * @template T
 * @param {Action<T>} a
 * @param {T} subject
 * @param {string} name  the subject, as the error sentence names it
 */
async function perform(a, subject, name) {
  const ok = await confirmDialog({ title: a.title(subject), text: a.text(subject), ok: a.ok, danger: !!a.danger, askReason: !!a.askReason });
  if (!ok || closed) return false;
  const [method, path] = a.request(subject);
  const reason = a.askReason ? $input('confirm-reason').value.trim() : '';
  try {
    await api(path, { method, ...(reason ? { body: { reason } } : {}) });
    showStatus(a.done(subject));
    a.after?.(subject);
  } catch (e) {
    if (e instanceof ApiError && e.status === 401) { expired(); return false; }
    // 403 here may be "you cannot do that to yourself" rather than "not an admin": ask /me which.
    if (e instanceof ApiError && e.status === 403) {
      try {
        /** @type {Me} */
        const fresh = await api('/me');
        if (!fresh.is_admin) { me = fresh; notAdmin(); return false; }
      } catch (e2) {
        if (handleAuthError(e2)) return false;
      }
    }
    showError(`Could not ${a.ok.toLowerCase()} ${name}: ${e.message}`);
  }
  return !closed;
}

/* ------------------------------------------------------------------ rooms */

const rtf = new Intl.RelativeTimeFormat(undefined, { numeric: 'auto' });
/** @type {[number, Intl.RelativeTimeFormatUnit, number][]} up to how many seconds, unit, its seconds */
const RELATIVE_STEPS = [[60, 'second', 1], [3600, 'minute', 60], [86400, 'hour', 3600], [7 * 86400, 'day', 86400]];

/**
 * "5 minutes ago" for the last week, the local date and time before that.
 * @param {Date} d
 */
function relativeTime(d) {
  const secs = (d.getTime() - Date.now()) / 1000;
  if (Math.abs(secs) < 45) return rtf.format(0, 'second');
  for (const [limit, unit, size] of RELATIVE_STEPS) {
    if (Math.abs(secs) < limit) return rtf.format(Math.round(secs / size), unit);
  }
  return formatShort(d);
}

async function loadRooms() {
  if (closed) return;
  try {
    /** @type {AdminRoom[]} */
    const list = await api('/admin/rooms');
    if (closed) return;
    rooms = Array.isArray(list) ? list.filter((r) => r.kind === 'public' || r.kind === 'private') : [];
    renderRooms();
    renderLiveRooms();
  } catch (e) {
    if (handleAuthError(e)) return;
    showError(`The room list could not be loaded: ${e.message}`);
  }
}

function renderRooms() {
  const focusKey = focusedKey();
  const rows = rooms.map((r) => {
    const last = r.last_activity ? parseTime(r.last_activity) : null;
    const name = h('div', {
      cls: 'room-cell',
      children: [
        h('span', { cls: 'room-name', text: r.name }),
        r.topic ? h('span', { cls: 'room-topic muted', text: r.topic }) : null,
      ],
    });
    const action = r.archived
      ? actionButton('Unarchive', r.name, 'btn-secondary', `unarchive-${r.id}`, () => actRoom(r, 'unarchive'))
      : actionButton('Archive', r.name, 'btn-danger-outline', `archive-${r.id}`, () => actRoom(r, 'archive'));
    return h('tr', {
      cls: r.archived ? 'is-archived' : '',
      attrs: { 'data-room': r.name, 'data-room-id': r.id },
      children: [
        cell('Room', name, 'cell-user'),
        cell('Kind', r.kind === 'private' ? badge('Private', 'warning') : badge('Public', 'accent')),
        cell('Members', h('span', { text: nf.format(r.members ?? 0) }), 'num'),
        cell('Messages', h('span', { text: nf.format(r.messages ?? 0) }), 'num'),
        cell('Last activity', last
          ? h('time', { text: relativeTime(last), attrs: { datetime: last.toISOString(), title: formatFull(last) } })
          : h('span', { cls: 'muted', text: 'No messages yet' })),
        cell('Status', r.archived ? badge('Archived', 'muted') : badge('Open', 'success')),
        cell('Actions', h('div', { cls: 'row-actions', children: [action] }), 'cell-actions'),
      ],
    });
  });
  $('rooms-body').replaceChildren(...rows);
  $('rooms-count').textContent = String(rooms.length);
  $('rooms-empty').hidden = rooms.length > 0;
  if (focusKey) byFocusKey(focusKey)?.focus();
}

/** @type {Record<'archive'|'unarchive', Action<AdminRoom>>} */
const ROOM_ACTIONS = {
  archive: {
    title: (r) => `Archive ${r.name}?`,
    text: (r) => `Members can still read ${r.name}, but nobody can post in it until it is unarchived.`,
    ok: 'Archive room',
    danger: true,
    request: (r) => ['POST', `/admin/rooms/${r.id}/archive`],
    done: (r) => `${r.name} is now archived.`,
  },
  unarchive: {
    title: (r) => `Unarchive ${r.name}?`,
    text: (r) => `Members of ${r.name} will be able to post in it again.`,
    ok: 'Unarchive room',
    request: (r) => ['POST', `/admin/rooms/${r.id}/unarchive`],
    done: (r) => `${r.name} is open again.`,
  },
};

/** A message of the live view, as its delete button knows it. @typedef {{id: number, user: string, text: string}} LiveMessage */

/** @type {Action<LiveMessage>} */
const DELETE_MESSAGE = {
  title: (m) => `Delete the message from ${m.user}?`,
  text: (m) => `“${m.text.length > 120 ? `${m.text.slice(0, 120)}…` : m.text}” disappears for everyone in the room. This cannot be undone.`,
  ok: 'Delete message',
  danger: true,
  askReason: true,
  request: (m) => ['DELETE', `/messages/${m.id}`],
  done: (m) => `The message from ${m.user} was deleted.`,
  // Gone for sure once the server said so; the `deleted` frame may come too.
  after: (m) => removeLive(m.id),
};

/**
 * @param {AdminRoom} room
 * @param {keyof typeof ROOM_ACTIONS} kind
 */
async function actRoom(room, kind) {
  if (!(await perform(ROOM_ACTIONS[kind], room, room.name))) return;
  await loadRooms();
}

$('rooms-refresh').addEventListener('click', loadRooms);

/* ------------------------------------------------------------------ confirmation dialog */

/**
 * Asks in the page's dialog; resolves with true on its OK button.
 * @param {{title: string, text: string, ok: string, danger: boolean, askReason?: boolean}} o
 * @returns {Promise<boolean>}
 */
function confirmDialog({ title, text, ok, danger, askReason = false }) {
  const dialog = $dialog('confirm');
  $('confirm-title').textContent = title;
  $('confirm-text').textContent = text;
  $('confirm-reason-field').hidden = !askReason;
  $input('confirm-reason').value = '';
  const okBtn = $('confirm-ok');
  okBtn.textContent = ok;
  okBtn.className = `btn ${danger ? 'btn-danger' : 'btn-primary'}`;
  const opener = /** @type {HTMLElement|null} */ (document.activeElement);
  const openerKey = focusedKey();
  dialog.returnValue = '';
  return new Promise((resolve) => {
    dialog.addEventListener('close', () => {
      resolve(dialog.returnValue === 'ok');
      // A periodic refresh may have replaced the row meanwhile: its new button takes the focus.
      const back = opener && opener.isConnected ? opener : openerKey && byFocusKey(openerKey);
      if (back) back.focus();
    }, { once: true });
    dialog.showModal();
    if (askReason) $('confirm-reason').focus();
  });
}

// A click on the backdrop (outside the form box) cancels, as people expect from a modal.
$('confirm').addEventListener('click', (e) => {
  if (e.target === $('confirm')) $dialog('confirm').close('cancel');
});

/* ------------------------------------------------------------------ moderation log */


/** @param {boolean} fresh  reload the first page (else: the next older page) */
async function loadAudit(fresh) {
  if (closed) return;
  const before = !fresh && violations.length ? `&before=${violations[violations.length - 1].id}` : '';
  try {
    /** @type {AuditEntry[]} */
    const page = await api(`/admin/violations?limit=${AUDIT_PAGE}${before}${auditQuery()}`);
    const list = Array.isArray(page) ? page : [];
    if (fresh) {
      // Keep older pages already loaded below the refreshed first page.
      const minFresh = list.length ? Math.min(...list.map((v) => v.id)) : Infinity;
      const olderKept = violations.filter((v) => v.id < minFresh && list.length === AUDIT_PAGE);
      violations = [...list, ...olderKept];
      if (!olderKept.length) auditDone = list.length < AUDIT_PAGE;
    } else {
      const seen = new Set(violations.map((v) => v.id));
      violations = violations.concat(list.filter((v) => !seen.has(v.id)));
      auditDone = list.length < AUDIT_PAGE;
    }
    renderAudit();
  } catch (e) {
    if (handleAuthError(e)) return;
    showError(`The moderation log could not be loaded: ${e.message}`);
  }
}

function renderAudit() {
  const rows = violations.map((v) => {
    const when = parseTime(v.timestamp);
    const [label, kind] = actionLabel(v.action);
    // One block inside the cell, so the phone layout (label left, value right) keeps it together.
    const details = h('div', {
      cls: 'audit-details',
      children: [
        v.term ? h('code', { cls: 'term', text: v.term }) : null,
        v.text ? h('div', { cls: 'audit-text muted', text: v.text, attrs: { title: v.text } }) : null,
        v.reason ? h('div', { cls: 'audit-reason', text: `Reason: ${v.reason}` }) : null,
        ...auditExtra(v),
      ],
    });
    if (!details.childElementCount) details.append(h('span', { cls: 'muted', text: '—' }));
    const termCell = h('td', { attrs: { 'data-label': 'Details' }, children: [details] });
    return h('tr', {
      children: [
        h('td', { attrs: { 'data-label': 'When' }, children: [h('time', { text: formatShort(when), attrs: { datetime: when.toISOString(), title: formatFull(when) } })] }),
        h('td', { attrs: { 'data-label': 'User' }, children: [h('span', { cls: 'user-name', text: v.username ?? (v.user_id ? `#${v.user_id}` : '—') })] }),
        h('td', { attrs: { 'data-label': 'Action' }, children: [badge(label, kind)] }),
        termCell,
        h('td', { attrs: { 'data-label': 'By' }, text: v.actor ?? '' }),
      ],
    });
  });
  $('audit-body').replaceChildren(...rows);
  $('audit-empty').hidden = violations.length > 0;
  $('audit-more').hidden = auditDone || violations.length === 0;
}

$('audit-refresh').addEventListener('click', () => loadAudit(true));
watchAuditFilters(() => { violations = []; loadAudit(true); });
$('audit-more').addEventListener('click', () => loadAudit(false));

/* ------------------------------------------------------------------ live chat */

/**
 * The chat socket plus the admins' `watch` frame: the server then also sends that public room's
 * messages (its last 50 at once). The socket carries the admin's own conversations too, so the
 * view shows only frames of the room picked here: never a private room's or a DM's text.
 */
class LiveSocket extends ChatSocket {
  /** @param {number} room */
  watch(room) {
    if (!this.ws || this.ws.readyState !== WebSocket.OPEN) return false;
    this.ws.send(JSON.stringify({ type: 'watch', room }));
    return true;
  }
}

/** @type {Set<number>} */
const liveIds = new Set();
/** @type {number|null} the id of the public room shown, once the room list has arrived */
let liveRoom = null;
/** @type {{ws: WebSocket|null, room: number|null}} what the current connection was last asked to watch */
let watched = { ws: null, room: null };

/** Asks the current connection for the chosen room, once per connection and choice. */
function syncWatch() {
  if (!live || live.state !== 'connected' || liveRoom === null) return;
  if (watched.ws === live.ws && watched.room === liveRoom) return;
  if (live.watch(liveRoom)) watched = { ws: live.ws, room: liveRoom };
}

/** Fills the room selector; the first time, or when the chosen room is gone, picks `general`. */
function renderLiveRooms() {
  const list = rooms.filter((r) => r.kind === 'public');
  const select = /** @type {HTMLSelectElement} */ ($('live-room'));
  /** @param {AdminRoom} r */
  const label = (r) => (r.archived ? `${r.name} (archived)` : r.name);
  const wanted = list.map((r) => `${r.id}\n${label(r)}`).join('\n');
  // Rebuilt only when it changed, so a periodic refresh does not close a list the admin has open.
  if (select.dataset.rooms !== wanted) {
    select.dataset.rooms = wanted;
    select.replaceChildren(...list.map((r) => h('option', { text: label(r), attrs: { value: r.id } })));
  }
  select.disabled = list.length === 0;
  if (!list.some((r) => r.id === liveRoom)) {
    const pick = list.find((r) => r.name === 'general') || list[0];
    showLiveRoom(pick ? pick.id : null);
  }
  if (liveRoom !== null) select.value = String(liveRoom);
}

/**
 * Switches the live view to another public room: a clean list, then that room's messages.
 * @param {number|null} id  none when there is no public room
 */
function showLiveRoom(id) {
  if (id === liveRoom) return;
  liveRoom = id;
  liveIds.clear();
  $('live-log').replaceChildren();
  const room = rooms.find((r) => r.id === id);
  $('live-empty').textContent = room ? `No messages in ${room.name} yet.` : 'No public rooms.';
  $('live-empty').hidden = false;
  $('live-scroller').setAttribute('aria-label', room ? `Live messages in ${room.name}` : 'Live chat messages');
  syncWatch();
}

$('live-room').addEventListener('change', (e) => {
  const id = Number.parseInt(/** @type {HTMLSelectElement} */ (e.currentTarget).value, 10);
  if (Number.isInteger(id)) showLiveRoom(id);
});

function startLive() {
  watched = { ws: null, room: null };
  live = new LiveSocket({
    token: getToken,
    onFrame: onLiveFrame,
    onState: ({ state, retryIn }) => {
      // Not connected: the live count is stale, so the periodic stats show theirs again.
      if (state !== 'connected') liveTotal = null;
      const conn = $('live-conn');
      const text = /** @type {Partial<Record<SocketState['state'], string>>} */ ({
        connecting: 'Connecting…',
        syncing: 'Connecting…',
        connected: 'Live',
        waiting: `Reconnecting in ${retryIn}s`,
        offline: 'Offline',
        stopped: 'Stopped',
      })[state];
      if (!text) return;
      conn.dataset.state = state === 'syncing' ? 'connecting' : state;
      conn.querySelector('.conn-text').textContent = text;
      // Each new connection (a reconnect too) is told again which room to show.
      if (state === 'connected') syncWatch();
    },
    onClose: async ({ code, opened }) => {
      if (closed) return false;
      if (code === 1008 || !opened) {
        try {
          /** @type {Me} */
          const fresh = await api('/me');
          if (!fresh.is_admin) { me = fresh; notAdmin(); return false; }
        } catch (e) {
          if (handleAuthError(e)) return false;
        }
      }
      return !closed;
    },
  });
  live.start();
}

/** @type {Set<string>} */
let liveOnline = new Set();
let liveUnlisted = 0; // online users the presence frame counted but did not name
/** @type {number|null} the live view's online count, once its presence frame arrived */
let liveTotal = null;

function renderLiveOnline() {
  const names = [...liveOnline].sort((a, b) => a.localeCompare(b));
  const total = names.length + liveUnlisted;
  const more = liveUnlisted > 0 ? ` and ${liveUnlisted} more` : '';
  $('live-online').textContent = total ? `Online (${total}): ${names.join(', ')}${more}` : 'Nobody online.';
  liveTotal = total;
  $('stat-online').textContent = nf.format(total);
}

/** @param {LiveFrame} f */
function onLiveFrame(f) {
  if (closed) return;
  if (f.type === 'presence') {
    liveOnline = new Set(Array.isArray(f.online) ? f.online.map(String) : []);
    liveUnlisted = Number.isInteger(f.count) ? Math.max(0, f.count - liveOnline.size) : 0;
    renderLiveOnline();
    return;
  }
  if (f.type === 'join') { liveOnline.add(String(f.user)); renderLiveOnline(); return; }
  if (f.type === 'expired') { expired(); return; }
  if (f.type === 'leave') {
    if (!liveOnline.delete(String(f.user)) && liveUnlisted > 0) liveUnlisted -= 1;
    renderLiveOnline();
    return;
  }
  if (f.type === 'error') {
    // The dashboard never posts, so an error answers the watch (the room went away, say).
    showError(`The live view cannot show this room: ${f.detail}`);
    return;
  }
  if (f.type === 'deleted' && f.room === liveRoom && Number.isInteger(f.id)) {
    removeLive(f.id);
    return;
  }
  if (f.type === 'edited' && f.room === liveRoom && Number.isInteger(f.id)) {
    const text = $('live-log').querySelector(`li[data-id="${f.id}"] .live-text`);
    if (text) text.textContent = String(f.text ?? '');
    return;
  }
  // Only the chosen public room: the same socket also carries the admin's own conversations.
  if (f.type !== 'message' || !Number.isInteger(f.id) || liveIds.has(f.id)) return;
  if (liveRoom === null || f.room !== liveRoom) return;
  liveIds.add(f.id);
  const scroller = $('live-scroller');
  const stick = scroller.scrollHeight - scroller.scrollTop - scroller.clientHeight < 40;
  const when = parseTime(f.timestamp);
  const del = h('button', {
    cls: 'btn btn-ghost btn-small live-delete',
    text: 'Delete',
    attrs: { type: 'button', 'aria-label': `Delete the message from ${f.user} at ${formatTime(when)}` },
  });
  const textEl = h('span', { cls: 'live-text', text: f.text });
  const id = f.id;
  del.addEventListener('click', async () => {
    await perform(DELETE_MESSAGE, { id, user: String(f.user), text: textEl.textContent }, `the message from ${f.user}`);
  });
  const item = h('li', {
    cls: 'live-item',
    attrs: { 'data-id': f.id },
    children: [
      h('time', { cls: 'live-time', text: formatTime(when), attrs: { datetime: when.toISOString(), title: formatFull(when) } }),
      h('span', { cls: 'live-user', text: f.user }),
      textEl,
      del,
    ],
  });
  const logEl = $('live-log');
  // The watch's history and a live message can cross on the wire: keep the list in id order.
  const newest = /** @type {HTMLElement|null} */ (logEl.lastElementChild);
  const after = newest && Number(newest.dataset.id) > f.id
    ? [...logEl.children].find((li) => Number(/** @type {HTMLElement} */ (li).dataset.id) > f.id) : null;
  logEl.insertBefore(item, after);
  while (logEl.children.length > LIVE_MAX) logEl.firstElementChild.remove();
  $('live-empty').hidden = true;
  if (stick) scroller.scrollTop = scroller.scrollHeight;
}

/**
 * Takes a deleted message out of the live view, moving the focus to a neighbour when it was on it.
 * @param {number} id
 */
function removeLive(id) {
  const li = /** @type {HTMLElement|null} */ ($('live-log').querySelector(`li[data-id="${id}"]`));
  if (!li) return;
  const hadFocus = li.contains(document.activeElement) || document.activeElement === document.body;
  const near = /** @type {HTMLElement|null} */ (li.nextElementSibling || li.previousElementSibling);
  li.remove();
  $('live-empty').hidden = $('live-log').children.length > 0;
  if (hadFocus) /** @type {HTMLElement} */ (near?.querySelector('.live-delete') || $('live-scroller')).focus();
}

/* ------------------------------------------------------------------ CSV downloads */

/**
 * @param {string} path
 * @param {string} filename
 * @param {HTMLButtonElement} button  disabled while the download runs
 */
async function download(path, filename, button) {
  button.disabled = true;
  try {
    const res = await api(path, { raw: true });
    const blob = await res.blob();
    const url = URL.createObjectURL(blob);
    const a = h('a', { attrs: { href: url, download: filename }, cls: 'visually-hidden' });
    document.body.append(a);
    a.click();
    a.remove();
    // Revoking at once can cancel the download in some browsers.
    setTimeout(() => URL.revokeObjectURL(url), 60000);
    showStatus(`${filename} downloaded.`);
  } catch (e) {
    if (handleAuthError(e)) return;
    showError(`${filename} could not be downloaded: ${e.message}`);
  } finally {
    button.disabled = false;
  }
}

$('dl-users').addEventListener('click', () => download('/admin/download/users', 'users.csv', $button('dl-users')));
$('dl-messages').addEventListener('click', () => download('/admin/download/messages', 'messages.csv', $button('dl-messages')));

boot();
