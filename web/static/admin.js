/* Chatterbox admin dashboard: gatekeeping, stats, users (search, filters, block/unblock,
   grant/revoke admin with an in-page confirmation), live chat, moderation log and CSV exports. */

import {
  api, ApiError, getToken, clearToken, setNote, SESSION_EXPIRED,
  h, parseTime, formatTime, formatFull, formatShort,
} from './api.js';
import { ChatSocket } from './socket.js';

const STATS_EVERY_MS = 10000;
const AUDIT_EVERY_MS = 30000;
const AUDIT_PAGE = 50;
const LIVE_MAX = 500;

const $ = (id) => document.getElementById(id);

let me = null;
let users = [];
let violations = [];
let auditDone = false;
let live = null;
let timers = [];
let closed = false;

/* ------------------------------------------------------------------ gate */

function gate({ title, text, link, linkText, retry = false }) {
  closed = true;
  for (const t of timers) clearInterval(t);
  timers = [];
  if (live) {
    const l = live;
    live = null;
    l.stop();
  }
  const dialog = $('confirm');
  if (dialog.open) dialog.close('cancel');
  $('dash').hidden = true;
  $('gate').hidden = false;
  $('gate-title').textContent = title;
  $('gate-text').textContent = text || '';
  const a = $('gate-link');
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

function notAdmin(detail) {
  const who = me ? `You are signed in as ${me.username}, which is not an administrator account.` : (detail || '');
  gate({
    title: 'Administrators only',
    text: `The dashboard is only available to administrators. ${who}`.trim(),
    link: '/',
    linkText: 'Back to the chat',
  });
}

/** Central handling of auth failures from any admin call; returns true when the page was closed. */
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
  loadAudit(true);
  startLive();
  timers.push(setInterval(loadStats, STATS_EVERY_MS));
  timers.push(setInterval(() => loadAudit(true), AUDIT_EVERY_MS));
}

$('signout').addEventListener('click', () => {
  clearToken();
  location.href = '/';
});

/* ------------------------------------------------------------------ messages to the admin */

function showError(message) {
  $('dash-error-text').textContent = message;
  $('dash-error').hidden = false;
  $('dash-status').hidden = true;
}

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
    const list = await api('/admin/users');
    users = Array.isArray(list) ? list : [];
    renderUsers();
  } catch (e) {
    if (handleAuthError(e)) return;
    showError(`The user list could not be loaded: ${e.message}`);
  }
}

function badge(text, kind) {
  return h('span', { cls: `badge badge-${kind}`, text });
}

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

function renderUsers() {
  const q = $('user-search').value.trim().toLowerCase();
  const blockedOnly = $('blocked-only').checked;
  const shown = users
    .filter((u) => !blockedOnly || u.is_blocked)
    .filter((u) => !q || String(u.username).toLowerCase().includes(q) || String(u.email || '').toLowerCase().includes(q));

  // Re-rendering must not throw the keyboard user back to the top of the page.
  const focusKey = document.activeElement?.dataset?.focusKey;

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
        u.is_admin
          ? actionButton('Revoke admin', u.username, 'btn-secondary', `revoke-${u.id}`, () => act(u, 'revoke'),
            self ? 'You cannot remove your own admin rights' : null)
          : actionButton('Make admin', u.username, 'btn-secondary', `grant-${u.id}`, () => act(u, 'grant')),
      ],
    });
    const cell = (label, child, cls) => h('td', { cls, attrs: { 'data-label': label }, children: [child] });
    return h('tr', {
      cls: u.is_blocked ? 'is-blocked' : '',
      attrs: { 'data-user': u.username },
      children: [
        cell('User', name, 'cell-user'),
        cell('E-mail', h('span', { cls: 'email', text: u.email || '' })),
        cell('Role', u.is_admin ? badge('Admin', 'accent') : badge('User', 'muted')),
        cell('Status', u.is_blocked ? badge('Blocked', 'danger') : badge('Active', 'success')),
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
  if (focusKey) document.querySelector(`[data-focus-key="${CSS.escape(focusKey)}"]`)?.focus();
}

$('user-search').addEventListener('input', renderUsers);
$('blocked-only').addEventListener('change', renderUsers);
$('users-refresh').addEventListener('click', () => { loadUsers(); loadStats(); });

const ACTIONS = {
  block: {
    title: (u) => `Block ${u.username}?`,
    text: (u) => `${u.username} will be signed out at once and will not be able to sign in or chat until unblocked.`,
    ok: 'Block user',
    danger: true,
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

async function act(user, kind) {
  const a = ACTIONS[kind];
  const ok = await confirmDialog({ title: a.title(user), text: a.text(user), ok: a.ok, danger: !!a.danger });
  if (!ok || closed) return;
  const [method, path] = a.request(user);
  try {
    await api(path, { method });
    showStatus(a.done(user));
  } catch (e) {
    if (e instanceof ApiError && e.status === 401) { expired(); return; }
    // 403 here may be "you cannot do that to yourself" rather than "not an admin": ask /me which.
    if (e instanceof ApiError && e.status === 403) {
      try {
        const fresh = await api('/me');
        if (!fresh.is_admin) { me = fresh; notAdmin(); return; }
      } catch (e2) {
        if (handleAuthError(e2)) return;
      }
    }
    showError(`Could not ${a.ok.toLowerCase()} ${user.username}: ${e.message}`);
  }
  await loadUsers();
  loadStats();
  loadAudit(true);
}

/* ------------------------------------------------------------------ confirmation dialog */

function confirmDialog({ title, text, ok, danger }) {
  const dialog = $('confirm');
  $('confirm-title').textContent = title;
  $('confirm-text').textContent = text;
  const okBtn = $('confirm-ok');
  okBtn.textContent = ok;
  okBtn.className = `btn ${danger ? 'btn-danger' : 'btn-primary'}`;
  const opener = document.activeElement;
  dialog.returnValue = '';
  return new Promise((resolve) => {
    dialog.addEventListener('close', () => {
      resolve(dialog.returnValue === 'ok');
      if (opener && opener.isConnected) opener.focus();
    }, { once: true });
    dialog.showModal();
  });
}

// A click on the backdrop (outside the form box) cancels, as people expect from a modal.
$('confirm').addEventListener('click', (e) => {
  if (e.target === $('confirm')) $('confirm').close('cancel');
});

/* ------------------------------------------------------------------ moderation log */

const ACTION_LABEL = { warning: ['Warning', 'warning'], block: ['Blocked', 'danger'], unblock: ['Unblocked', 'success'] };

async function loadAudit(fresh) {
  if (closed) return;
  const before = !fresh && violations.length ? `&before=${violations[violations.length - 1].id}` : '';
  try {
    const page = await api(`/admin/violations?limit=${AUDIT_PAGE}${before}`);
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
    const [label, kind] = ACTION_LABEL[v.action] || [String(v.action), 'muted'];
    const termCell = h('td', { attrs: { 'data-label': 'Matched term' } });
    if (v.term) termCell.append(h('code', { cls: 'term', text: v.term }));
    else termCell.append(h('span', { cls: 'muted', text: '—' }));
    if (v.text) termCell.append(h('div', { cls: 'audit-text muted', text: v.text, attrs: { title: v.text } }));
    return h('tr', {
      children: [
        h('td', { attrs: { 'data-label': 'When' }, children: [h('time', { text: formatShort(when), attrs: { datetime: when.toISOString(), title: formatFull(when) } })] }),
        h('td', { attrs: { 'data-label': 'User' }, children: [h('span', { cls: 'user-name', text: v.username ?? `#${v.user_id}` })] }),
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
$('audit-more').addEventListener('click', () => loadAudit(false));

/* ------------------------------------------------------------------ live chat */

const liveIds = new Set();

function startLive() {
  live = new ChatSocket({
    token: getToken,
    onFrame: onLiveFrame,
    onState: ({ state, retryIn }) => {
      // Not connected: the live count is stale, so the periodic stats show theirs again.
      if (state !== 'connected') liveTotal = null;
      const conn = $('live-conn');
      const text = {
        connecting: 'Connecting…',
        syncing: 'Connecting…',
        connected: 'Live',
        waiting: `Reconnecting in ${retryIn}s`,
        offline: 'Offline',
        stopped: 'Stopped',
      }[state];
      if (!text) return;
      conn.dataset.state = state === 'syncing' ? 'connecting' : state;
      conn.querySelector('.conn-text').textContent = text;
    },
    onClose: async ({ code, opened }) => {
      if (closed) return false;
      if (code === 1008 || !opened) {
        try {
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

let liveOnline = new Set();
let liveUnlisted = 0; // online users the presence frame counted but did not name
let liveTotal = null; // the live view's online count, once its presence frame arrived

function renderLiveOnline() {
  const names = [...liveOnline].sort((a, b) => a.localeCompare(b));
  const total = names.length + liveUnlisted;
  const more = liveUnlisted > 0 ? ` and ${liveUnlisted} more` : '';
  $('live-online').textContent = total ? `Online (${total}): ${names.join(', ')}${more}` : 'Nobody online.';
  liveTotal = total;
  $('stat-online').textContent = nf.format(total);
}

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
  if (f.type !== 'message' || !Number.isInteger(f.id) || liveIds.has(f.id)) return;
  liveIds.add(f.id);
  const scroller = $('live-scroller');
  const stick = scroller.scrollHeight - scroller.scrollTop - scroller.clientHeight < 40;
  const when = parseTime(f.timestamp);
  const item = h('li', {
    cls: 'live-item',
    attrs: { 'data-id': f.id },
    children: [
      h('time', { cls: 'live-time', text: formatTime(when), attrs: { datetime: when.toISOString(), title: formatFull(when) } }),
      h('span', { cls: 'live-user', text: f.user }),
      h('span', { cls: 'live-text', text: f.text }),
    ],
  });
  const logEl = $('live-log');
  logEl.append(item);
  while (logEl.children.length > LIVE_MAX) logEl.firstElementChild.remove();
  $('live-empty').hidden = true;
  if (stick) scroller.scrollTop = scroller.scrollHeight;
}

/* ------------------------------------------------------------------ CSV downloads */

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

$('dl-users').addEventListener('click', (e) => download('/admin/download/users', 'users.csv', e.currentTarget));
$('dl-messages').addEventListener('click', (e) => download('/admin/download/messages', 'messages.csv', e.currentTarget));

boot();
