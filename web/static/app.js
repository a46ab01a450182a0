/* Chatterbox end-user app: authentication, the live chat room and the blocked-account page.
   Every piece of user data reaches the DOM through textContent, never as HTML. */

import {
  api, ApiError, getToken, setToken, clearToken, takeNote, SESSION_EXPIRED,
  h, parseTime, formatTime, formatFull, formatDay, dayKey, charCount,
} from './api.js';
import { ChatSocket } from './socket.js';

const MAX_CHARS = 2000;
const COUNTER_FROM = 1800; // the counter only appears when the limit is close
const PAGE = 50; // the server's default history page, also what the socket replays first
const GROUP_GAP_MS = 5 * 60 * 1000;
const NEAR_BOTTOM_PX = 60;
const NEAR_TOP_PX = 150;

const $ = (id) => document.getElementById(id);
const VIEWS = ['view-loading', 'view-auth', 'view-chat', 'view-blocked'];

let me = null;
let socket = null;
let ended = false; // true once the session ended (signed out, blocked, expired): late socket events are ignored

function show(view) {
  for (const v of VIEWS) $(v).hidden = v !== view;
  document.body.dataset.view = view;
}

function announce(text) {
  const a = $('announcer');
  a.textContent = '';
  // A fresh text node after a tick makes screen readers announce repeated identical warnings too.
  setTimeout(() => { a.textContent = text; }, 50);
}

/* ------------------------------------------------------------------ start-up */

let loadRetry = null;

async function boot() {
  const note = takeNote();
  if (!getToken()) {
    showAuth(note);
    return;
  }
  show('view-loading');
  try {
    me = await api('/me');
  } catch (e) {
    if (e instanceof ApiError && e.status === 401) {
      clearToken();
      showAuth(SESSION_EXPIRED);
    } else if (e instanceof ApiError && e.status === 403) {
      showBlocked(null);
    } else {
      showLoadError(e);
    }
    return;
  }
  if (me.is_blocked) showBlocked(null);
  else startChat();
}

function showLoadError(err) {
  show('view-loading');
  $('loading-text').textContent = `${err.message} Retrying in a few seconds…`;
  $('loading-retry').hidden = false;
  clearTimeout(loadRetry);
  loadRetry = setTimeout(boot, 5000);
}

$('loading-retry').addEventListener('click', () => {
  clearTimeout(loadRetry);
  $('loading-text').textContent = 'Loading Chatterbox…';
  $('loading-retry').hidden = true;
  boot();
});

/* ------------------------------------------------------------------ sign in / create account */

const forms = {
  signin: { tab: $('tab-signin'), form: $('form-signin'), prefix: 'signin' },
  register: { tab: $('tab-register'), form: $('form-register'), prefix: 'register' },
};

function selectTab(name, focus = false) {
  for (const [key, f] of Object.entries(forms)) {
    const on = key === name;
    f.tab.setAttribute('aria-selected', String(on));
    f.tab.tabIndex = on ? 0 : -1;
    f.form.hidden = !on;
  }
  if (focus) forms[name].tab.focus();
}

for (const [name, f] of Object.entries(forms)) {
  f.tab.addEventListener('click', () => {
    selectTab(name);
    f.form.querySelector('input').focus();
  });
  // Arrow keys move between tabs, as the ARIA tabs pattern expects.
  f.tab.addEventListener('keydown', (e) => {
    if (!['ArrowLeft', 'ArrowRight', 'Home', 'End'].includes(e.key)) return;
    e.preventDefault();
    const other = name === 'signin' ? 'register' : 'signin';
    const target = e.key === 'Home' ? 'signin' : e.key === 'End' ? 'register' : other;
    selectTab(target, true);
  });
}

function showAuth(note) {
  ended = true;
  me = null;
  const n = $('auth-note');
  n.textContent = note || '';
  n.hidden = !note;
  for (const f of Object.values(forms)) {
    clearErrors(f);
    f.form.reset();
  }
  selectTab('signin');
  show('view-auth');
  $('signin-username').focus();
}

function clearErrors(f) {
  const formError = f.form.querySelector('.form-error');
  formError.hidden = true;
  formError.textContent = '';
  for (const input of f.form.querySelectorAll('input')) {
    input.removeAttribute('aria-invalid');
    const err = $(`${input.id}-error`);
    err.hidden = true;
    err.textContent = '';
    setDescribedBy(input, false);
  }
}

function setDescribedBy(input, withError) {
  const ids = (input.getAttribute('aria-describedby') || '').split(/\s+/).filter(Boolean)
    .filter((id) => id !== `${input.id}-error`);
  if (withError) ids.push(`${input.id}-error`);
  if (ids.length) input.setAttribute('aria-describedby', ids.join(' '));
  else input.removeAttribute('aria-describedby');
}

function fieldError(f, fieldName, message) {
  // The API names the field; on the sign-in form "email" is the same box as "username".
  let name = fieldName;
  if (f.prefix === 'signin' && name === 'email') name = 'username';
  const input = $(`${f.prefix}-${name}`);
  if (!input) return null;
  const err = $(`${input.id}-error`);
  err.textContent = message;
  err.hidden = false;
  input.setAttribute('aria-invalid', 'true');
  setDescribedBy(input, true);
  return input;
}

function formError(f, message) {
  const el = f.form.querySelector('.form-error');
  el.textContent = message;
  el.hidden = false;
}

function describeError(e, action) {
  if (e instanceof ApiError && e.status === 429) {
    const wait = e.retryAfter ? ` Try again in ${e.retryAfter} second${e.retryAfter === 1 ? '' : 's'}.` : ' Please wait a moment and try again.';
    return `Too many ${action} attempts.${wait}`;
  }
  return e.message;
}

async function submitAuth(f, endpoint, body, required) {
  clearErrors(f);
  $('auth-note').hidden = true;
  let firstInvalid = null;
  for (const [field, label] of required) {
    if (!String(body[field] || '').trim()) {
      const input = fieldError(f, field, `Enter your ${label}.`);
      firstInvalid = firstInvalid || input;
    }
  }
  if (firstInvalid) {
    firstInvalid.focus();
    return;
  }
  const button = f.form.querySelector('button[type=submit]');
  const label = button.textContent;
  button.disabled = true;
  button.textContent = endpoint === '/login' ? 'Signing in…' : 'Creating account…';
  try {
    const res = await api(endpoint, { method: 'POST', body, token: null });
    setToken(res.access_token);
    me = { ...res.user, is_blocked: false };
    try {
      me = await api('/me'); // the full profile (warning count, e-mail); the login body is enough if this fails
    } catch {
      /* keep the login body */
    }
    startChat();
  } catch (e) {
    const input = e instanceof ApiError && e.field ? fieldError(f, e.field, e.detail) : null;
    if (input) input.focus();
    else formError(f, describeError(e, endpoint === '/login' ? 'sign-in' : 'sign-up'));
  } finally {
    button.disabled = false;
    button.textContent = label;
  }
}

forms.signin.form.addEventListener('submit', (e) => {
  e.preventDefault();
  submitAuth(forms.signin, '/login', {
    username: $('signin-username').value.trim(),
    password: $('signin-password').value,
  }, [['username', 'username or e-mail'], ['password', 'password']]);
});

forms.register.form.addEventListener('submit', (e) => {
  e.preventDefault();
  submitAuth(forms.register, '/register', {
    username: $('register-username').value.trim(),
    email: $('register-email').value.trim(),
    password: $('register-password').value,
  }, [['username', 'username'], ['email', 'e-mail address'], ['password', 'password']]);
});

/* ------------------------------------------------------------------ session end */

function stopSocket() {
  if (socket) {
    const s = socket;
    socket = null;
    s.stop();
  }
}

function expireSession() {
  stopSocket();
  clearToken();
  showAuth(SESSION_EXPIRED);
}

function signOut() {
  stopSocket();
  clearToken();
  showAuth('You have signed out.');
}

function showBlocked(serverText) {
  ended = true;
  stopSocket();
  const q = $('blocked-server-text');
  q.textContent = serverText || '';
  q.hidden = !serverText;
  show('view-blocked');
  document.title = 'Account blocked · Chatterbox';
  $('blocked-title').focus();
}

$('signout').addEventListener('click', signOut);
$('blocked-signout').addEventListener('click', () => {
  clearToken();
  document.title = 'Chatterbox';
  showAuth('You have signed out.');
});

/* ------------------------------------------------------------------ chat: state */

const log = $('log');
const scroller = $('log-scroller');
const messages = new Map(); // id -> { id, user, text, date, el }
let oldestId = null;
let newestId = null;
let historyState = 'idle'; // 'idle' | 'loading' | 'done' | 'error'
let firstSync = true; // until the first presence frame of this session
let firstSyncCount = 0;
let unseen = 0;
let unreadWhileHidden = 0;
let online = new Set();
let unlisted = 0; // online users the server's presence frame counted but did not name
let wasConnected = false;

function isOwn(user) {
  return !!me && String(user).toLowerCase() === String(me.username).toLowerCase();
}

function resetChat() {
  log.replaceChildren();
  // The first history burst is not news: screen readers should not read fifty old messages aloud.
  log.setAttribute('aria-busy', 'true');
  messages.clear();
  oldestId = null;
  newestId = null;
  historyState = 'idle';
  firstSync = true;
  firstSyncCount = 0;
  unseen = 0;
  unreadWhileHidden = 0;
  online = new Set();
  wasConnected = false;
  renderPeople();
  updateJump();
  updateHistoryStatus();
  $('empty-state').hidden = true;
  $('composer-input').value = '';
  updateComposer();
}

function startChat() {
  clearTimeout(loadRetry);
  stopSocket();
  ended = false;
  resetChat();
  $('me-name').textContent = me.username;
  $('admin-link').hidden = !me.is_admin;
  document.title = 'Chatterbox';
  show('view-chat');
  setConn({ state: 'connecting' });
  socket = new ChatSocket({
    token: getToken,
    onFrame: (f) => { if (!ended) onFrame(f); },
    onState: (s) => { if (!ended) setConn(s); },
    onClose,
  });
  socket.start();
  $('composer-input').focus();
}

async function onClose({ code, opened }) {
  if (ended) return false;
  // A refused handshake (401/403) reaches the browser only as a failed connection, and a 1008
  // close may mean blocked or merely "too slow": /me tells which.
  if (code === 1008 || !opened) {
    try {
      const profile = await api('/me');
      if (profile.is_blocked) {
        showBlocked(null);
        return false;
      }
    } catch (e) {
      if (e instanceof ApiError && e.status === 401) {
        expireSession();
        return false;
      }
      if (e instanceof ApiError && e.status === 403) {
        showBlocked(null);
        return false;
      }
    }
  }
  return !ended;
}

/* ------------------------------------------------------------------ chat: frames */

function onFrame(frame) {
  switch (frame.type) {
    case 'message':
      addMessage(frame, !firstSync);
      if (firstSync) firstSyncCount += 1;
      break;
    case 'presence':
      online = new Set(Array.isArray(frame.online) ? frame.online.map(String) : []);
      // Big rooms get only the first names; the count covers everyone.
      unlisted = Number.isInteger(frame.count) ? Math.max(0, frame.count - online.size) : 0;
      renderPeople();
      if (firstSync) {
        firstSync = false;
        log.removeAttribute('aria-busy');
        // Fewer than a page of history means the room has nothing older.
        if (firstSyncCount < PAGE) historyState = 'done';
        updateHistoryStatus();
        scrollToBottom();
        fillViewport();
      }
      break;
    case 'join':
      if (frame.user) online.add(String(frame.user));
      renderPeople();
      break;
    case 'leave':
      if (frame.user && !online.delete(String(frame.user)) && unlisted > 0) unlisted -= 1;
      renderPeople();
      break;
    case 'warning':
      addNotice('warning', frame.text || `Warning ${frame.warnings} of ${Math.max(1, (frame.limit || 3) - 1)}: your message broke the chat rules and was not posted.`);
      break;
    case 'blocked':
      showBlocked(frame.text || null);
      break;
    case 'expired':
      // The sign-in ran out; the server closes the socket next (1008 "token expired").
      ended = true;
      expireSession();
      break;
    case 'error':
      addNotice('error', frame.detail || 'The server could not accept that message.');
      break;
    default:
      break; // unknown frame types from a newer server are ignored
  }
}

/* ------------------------------------------------------------------ chat: rendering */

const HUES = 8;
function hueClass(name) {
  let hash = 0;
  for (const ch of String(name).toLowerCase()) hash = (hash * 31 + ch.codePointAt(0)) >>> 0;
  return `hue-${hash % HUES}`;
}

function initial(name) {
  const first = [...String(name)][0] || '?';
  return first.toUpperCase();
}

function avatar(name, extra = '') {
  return h('span', { cls: `avatar ${hueClass(name)} ${extra}`.trim(), text: initial(name), attrs: { 'aria-hidden': 'true' } });
}

function buildMessage(m) {
  const own = isOwn(m.user);
  const time = h('time', {
    cls: 'msg-time',
    text: formatTime(m.date),
    attrs: { datetime: m.date.toISOString(), title: formatFull(m.date) },
  });
  const author = h('span', { cls: `msg-author ${hueClass(m.user)}`, text: own ? 'You' : m.user });
  const meta = h('div', { cls: 'msg-meta', children: [author, h('span', { cls: 'visually-hidden', text: ', ' }), time] });
  const text = h('div', { cls: 'msg-text', text: m.text });
  const bubble = h('div', { cls: 'bubble', children: [meta, text] });
  const row = h('div', { cls: 'msg-row', children: [own ? null : avatar(m.user, 'msg-avatar'), bubble] });
  return h('div', {
    cls: `msg ${own ? 'own' : 'other'}`,
    attrs: { 'data-id': m.id, 'data-user': m.user },
    children: [row],
  });
}

const isMsg = (el) => !!el && el.classList.contains('msg');

function prevMsgEl(el) {
  let p = el.previousElementSibling;
  while (p && !isMsg(p)) p = p.previousElementSibling;
  return p;
}

function nextMsgEl(el) {
  let n = el.nextElementSibling;
  while (n && !isMsg(n)) n = n.nextElementSibling;
  return n;
}

/** Day dividers and grouping of consecutive messages depend on the neighbour above. */
function decorate(el) {
  if (!isMsg(el)) return;
  const m = messages.get(Number(el.dataset.id));
  const prevEl = prevMsgEl(el);
  const pm = prevEl ? messages.get(Number(prevEl.dataset.id)) : null;
  const newDay = !pm || dayKey(pm.date) !== dayKey(m.date);
  const continues = !newDay && prevEl === el.previousElementSibling && pm.user === m.user
    && m.date - pm.date < GROUP_GAP_MS;
  el.classList.toggle('continues', continues);
  let divider = el.querySelector(':scope > .day-divider');
  if (newDay) {
    if (!divider) {
      divider = h('div', { cls: 'day-divider', children: [h('span')] });
      el.prepend(divider);
    }
    divider.firstChild.textContent = formatDay(m.date);
  } else if (divider) {
    divider.remove();
  }
}

function addMessage(frame, live) {
  const id = Number(frame.id);
  if (!Number.isInteger(id) || messages.has(id)) return; // never show a message twice
  const m = { id, user: String(frame.user ?? ''), text: String(frame.text ?? ''), date: parseTime(frame.timestamp) };
  const own = isOwn(m.user);
  const stick = isNearBottom();
  m.el = buildMessage(m);
  messages.set(id, m);

  if (newestId === null || id > newestId) {
    log.append(m.el);
    newestId = id;
    if (oldestId === null) oldestId = id;
  } else if (id < oldestId) {
    const first = log.querySelector('.msg');
    log.insertBefore(m.el, first);
    oldestId = id;
  } else {
    // A gap being filled: place it after the newest message that is older than it.
    let node = log.lastElementChild;
    while (node && !(isMsg(node) && Number(node.dataset.id) < id)) node = node.previousElementSibling;
    let at = node ? node.nextElementSibling : log.firstElementChild;
    while (at && !isMsg(at)) at = at.nextElementSibling;
    log.insertBefore(m.el, at);
  }
  decorate(m.el);
  decorate(nextMsgEl(m.el));
  $('empty-state').hidden = true;

  if (!live) return;
  if (stick || own) {
    scrollToBottom();
  } else {
    unseen += 1;
    updateJump();
  }
  if (!own && document.hidden) {
    unreadWhileHidden += 1;
    document.title = `(${unreadWhileHidden}) Chatterbox`;
  }
}

function addNotice(kind, text) {
  const icon = kind === 'warning' ? '⚠' : '!';
  const el = h('div', {
    cls: `notice notice-${kind}`,
    children: [
      h('span', { cls: 'notice-icon', text: icon, attrs: { 'aria-hidden': 'true' } }),
      h('span', { cls: 'notice-text', text }),
    ],
  });
  log.append(el);
  decorate(nextMsgEl(el));
  scrollToBottom();
  if (kind === 'warning') announce(text);
}

function renderPeople() {
  const list = $('people-list');
  const names = [...online].sort((a, b) => a.localeCompare(b));
  list.replaceChildren(...names.map((name) => h('li', {
    cls: 'person',
    children: [
      avatar(name),
      h('span', { cls: 'person-name', text: name }),
      isOwn(name) ? h('span', { cls: 'person-you', text: '(you)' }) : null,
    ],
  })));
  if (unlisted > 0) list.append(h('li', { cls: 'person person-more', text: `and ${unlisted} more` }));
  $('people-count').textContent = String(names.length + unlisted);
  $('people-toggle-count').textContent = String(names.length + unlisted);
}

/* ------------------------------------------------------------------ chat: scrolling & history */

function isNearBottom() {
  return scroller.scrollHeight - scroller.scrollTop - scroller.clientHeight < NEAR_BOTTOM_PX;
}

function scrollToBottom() {
  scroller.scrollTop = scroller.scrollHeight;
  unseen = 0;
  updateJump();
}

function updateJump() {
  const jump = $('jump');
  jump.hidden = unseen === 0;
  $('jump-text').textContent = unseen === 1 ? '1 new message' : `${unseen} new messages`;
}

$('jump').addEventListener('click', () => {
  scrollToBottom();
  $('composer-input').focus();
});

scroller.addEventListener('scroll', () => {
  if (unseen && isNearBottom()) {
    unseen = 0;
    updateJump();
  }
  if (scroller.scrollTop < NEAR_TOP_PX) loadOlder();
}, { passive: true });

function updateHistoryStatus() {
  const btn = $('load-older');
  const note = $('history-note');
  btn.hidden = historyState !== 'idle' && historyState !== 'error';
  btn.textContent = historyState === 'error' ? 'Try again' : 'Load older messages';
  if (historyState === 'loading') note.textContent = 'Loading older messages…';
  else if (historyState === 'error') note.textContent = 'Older messages could not be loaded.';
  else if (historyState === 'done' && messages.size) note.textContent = 'This is the beginning of the conversation.';
  else note.textContent = '';
  $('empty-state').hidden = !(historyState === 'done' && messages.size === 0 && !firstSync);
}

$('load-older').addEventListener('click', () => {
  if (historyState === 'error') historyState = 'idle';
  loadOlder();
});

async function loadOlder() {
  if (historyState !== 'idle' || firstSync || oldestId === null || ended) return;
  historyState = 'loading';
  updateHistoryStatus();
  let page;
  try {
    page = await api(`/messages?before=${oldestId}&limit=${PAGE}`);
  } catch (e) {
    if (ended) return;
    if (e instanceof ApiError && e.status === 401) { expireSession(); return; }
    if (e instanceof ApiError && e.status === 403) { showBlocked(null); return; }
    historyState = 'error';
    updateHistoryStatus();
    return;
  }
  if (ended) return;
  // Keep the reader's place: the content grows above them, so move the scroll position by as much.
  const before = scroller.scrollHeight;
  const top = scroller.scrollTop;
  log.setAttribute('aria-busy', 'true');
  const list = Array.isArray(page) ? page : [];
  for (const m of list) addMessage(m, false);
  log.removeAttribute('aria-busy');
  scroller.scrollTop = top + (scroller.scrollHeight - before);
  historyState = list.length < PAGE ? 'done' : 'idle';
  updateHistoryStatus();
  fillViewport();
}

/** A tall window may show the whole first page without a scrollbar, so scrolling up can't ask for more. */
function fillViewport() {
  if (historyState === 'idle' && scroller.scrollHeight <= scroller.clientHeight + NEAR_TOP_PX) {
    setTimeout(loadOlder, 0);
  }
}

document.addEventListener('visibilitychange', () => {
  if (!document.hidden && unreadWhileHidden) {
    unreadWhileHidden = 0;
    if (!ended) document.title = 'Chatterbox';
  }
});

/* ------------------------------------------------------------------ chat: people panel (phones) */

const peopleToggle = $('people-toggle');
peopleToggle.addEventListener('click', () => {
  const open = peopleToggle.getAttribute('aria-expanded') !== 'true';
  peopleToggle.setAttribute('aria-expanded', String(open));
  $('people').classList.toggle('open', open);
});

document.addEventListener('keydown', (e) => {
  if (e.key === 'Escape' && peopleToggle.getAttribute('aria-expanded') === 'true') {
    peopleToggle.setAttribute('aria-expanded', 'false');
    $('people').classList.remove('open');
    peopleToggle.focus();
  }
});

/* ------------------------------------------------------------------ chat: connection state */

function setConn({ state, retryIn }) {
  const conn = $('conn');
  const banner = $('conn-banner');
  const bannerText = $('conn-banner-text');
  let text;
  let bannerMsg = null;
  switch (state) {
    case 'connected':
      text = 'Connected';
      wasConnected = true;
      break;
    case 'connecting':
    case 'syncing':
      text = wasConnected ? 'Reconnecting…' : 'Connecting…';
      if (wasConnected) bannerMsg = 'Reconnecting…';
      break;
    case 'waiting':
      text = `Reconnecting in ${retryIn}s`;
      bannerMsg = `Connection lost. Reconnecting in ${retryIn}s…`;
      break;
    case 'offline':
      text = 'Offline';
      bannerMsg = 'You are offline. The chat will reconnect when your connection returns.';
      break;
    default:
      return;
  }
  conn.dataset.state = state === 'syncing' ? 'connecting' : state;
  // Presence is only known while connected; the list is marked out of date in between.
  $('people').classList.toggle('stale', state !== 'connected');
  conn.querySelector('.conn-text').textContent = text;
  banner.hidden = bannerMsg === null;
  if (bannerMsg !== null) bannerText.textContent = bannerMsg;
  $('conn-retry').hidden = state === 'connecting' || state === 'syncing';
  updateComposer();
}

$('conn-retry').addEventListener('click', () => socket?.connectNow());

/* ------------------------------------------------------------------ chat: composer */

const input = $('composer-input');

function autoGrow() {
  // A growing composer shrinks the log; a reader at the bottom should stay there.
  const stick = isNearBottom();
  input.style.height = 'auto';
  input.style.height = `${Math.min(input.scrollHeight, 200)}px`;
  if (stick) scroller.scrollTop = scroller.scrollHeight;
}

function updateComposer() {
  const n = charCount(input.value);
  const counter = $('composer-count');
  const over = n > MAX_CHARS;
  if (n >= COUNTER_FROM) {
    counter.textContent = over
      ? `${n} / ${MAX_CHARS}: ${n - MAX_CHARS} too many`
      : `${n} / ${MAX_CHARS}`;
  } else {
    counter.textContent = '';
  }
  counter.classList.toggle('over', over);
  const connected = socket?.state === 'connected';
  $('send').disabled = over || !connected;
  $('composer').classList.toggle('over', over);
}

input.addEventListener('input', () => {
  autoGrow();
  updateComposer();
});

input.addEventListener('keydown', (e) => {
  // isComposing: Enter that confirms an IME candidate (Chinese, Japanese…) must not send.
  if (e.key === 'Enter' && !e.shiftKey && !e.isComposing && e.keyCode !== 229) {
    e.preventDefault();
    sendCurrent();
  }
});

$('composer').addEventListener('submit', (e) => {
  e.preventDefault();
  sendCurrent();
});

function sendCurrent() {
  const text = input.value.trim();
  if (!text) return;
  if (charCount(text) > MAX_CHARS) {
    announce(`Your message is too long: the limit is ${MAX_CHARS} characters.`);
    return;
  }
  if (!socket || !socket.send(text)) {
    announce('Not connected. Your message is kept here and can be sent once the chat reconnects.');
    return;
  }
  input.value = '';
  autoGrow();
  updateComposer();
  scrollToBottom();
}

/* ------------------------------------------------------------------ go */

boot();
