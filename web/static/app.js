/* Chatterbox end-user app: boots the page, signs in or creates an account, runs the session's
   socket and hands its frames to the conversation modules (store.js holds the state they share),
   and shows the blocked-account page. Every piece of user data reaches the DOM as text. */

import {
  api, ApiError, getToken, setToken, clearToken, takeNote, SESSION_EXPIRED,
} from './api.js';
import { ChatSocket } from './socket.js';
import {
  $, $input, announce, setAuthHandler, formBanner, fieldError as setFieldError,
} from './ui.js';
import {
  state, room, on, emit, select, mergeSummary, removeRoom, applyRead, fallbackRoom, GENERAL_ID,
} from './store.js';
import {
  addMessage, addNotice, resetConversation, syncDone, setEnded, PAGE,
} from './conversation.js';
import { updateComposer, resetComposer, setSocketSource } from './composer.js';
import { resetSidebar, closeDrawer } from './sidebar.js';
import {
  setLivingSocket, resetLiving, onEdited, onDeleted, onReactions, onTyping, stoppedTyping,
} from './living.js';
import { resetSearch } from './search.js';
import { setPeopleStale } from './people.js';
import './roomheader.js';
import { showStanding, refreshStanding, onMuteFrame } from './standing.js';
import { onModFrame, onModError, resetRoomMod } from './roommod.js';
import './notify.js';
import { addAccountButtons, offerAppeal, onReportFrame, showAppealAnswer } from './reports.js';

/** @typedef {import('./store.js').RoomSummary} RoomSummary */
/** @typedef {import('./socket.js').SocketState} SocketState */

const VIEWS = ['view-loading', 'view-auth', 'view-chat', 'view-blocked'];

/** @type {ChatSocket|null} */
let socket = null;
let ended = false; // true once the session ended (signed out, blocked, expired): late socket events are ignored

/** @param {string} view */
function show(view) {
  for (const v of VIEWS) $(v).hidden = v !== view;
  document.body.dataset.view = view;
}

function endSession() {
  ended = true;
  setEnded(true);
  stopSocket();
  closeDrawer(false);
  for (const d of document.querySelectorAll('dialog[open]')) /** @type {HTMLDialogElement} */ (d).close();
  document.title = 'Chatterbox';
}

// Other modules report 401 / 403 answers here: the session is over (expired or blocked).
setAuthHandler((e) => {
  if (ended) return true;
  if (e.status === 401) expireSession();
  else showBlocked(null);
  return true;
});
setSocketSource(() => socket);
setLivingSocket(() => socket);

/* ------------------------------------------------------------------ start-up */

let loadRetry = 0;

async function boot() {
  const note = takeNote();
  if (!getToken()) {
    showAuth(note);
    return;
  }
  show('view-loading');
  try {
    state.me = await api('/me');
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
  if (state.me.is_blocked) showBlocked(null);
  else startChat();
}

/** @param {Error} err */
function showLoadError(err) {
  show('view-loading');
  $('loading-text').textContent = `${err.message} Retrying in a few seconds…`;
  $('loading-retry').hidden = false;
  clearTimeout(loadRetry);
  loadRetry = window.setTimeout(boot, 5000);
}

$('loading-retry').addEventListener('click', () => {
  clearTimeout(loadRetry);
  $('loading-text').textContent = 'Loading Chatterbox…';
  $('loading-retry').hidden = true;
  boot();
});

/* ------------------------------------------------------------------ sign in / create account */

/** @typedef {{tab: HTMLElement, panel: HTMLElement, form: HTMLFormElement, prefix: string}} AuthForm */

/** @type {Record<'signin'|'register', AuthForm>} */
const forms = {
  signin: { tab: $('tab-signin'), panel: $('panel-signin'), form: /** @type {HTMLFormElement} */ ($('form-signin')), prefix: 'signin' },
  register: { tab: $('tab-register'), panel: $('panel-register'), form: /** @type {HTMLFormElement} */ ($('form-register')), prefix: 'register' },
};

/**
 * @param {'signin'|'register'} name
 * @param {boolean} [focus]
 */
function selectTab(name, focus = false) {
  for (const [key, f] of Object.entries(forms)) {
    const on = key === name;
    f.tab.setAttribute('aria-selected', String(on));
    f.tab.tabIndex = on ? 0 : -1;
    f.panel.hidden = !on;
  }
  if (focus) forms[name].tab.focus();
}

for (const [key, f] of Object.entries(forms)) {
  const name = /** @type {'signin'|'register'} */ (key);
  f.tab.addEventListener('click', () => {
    selectTab(name);
    f.form.querySelector('input').focus();
  });
  // Arrow keys move between tabs, as the ARIA tabs pattern expects.
  f.tab.addEventListener('keydown', (e) => {
    if (!['ArrowLeft', 'ArrowRight', 'Home', 'End'].includes(e.key)) return;
    e.preventDefault();
    const other = name === 'signin' ? 'register' : 'signin';
    /** @type {'signin'|'register'} */
    const target = e.key === 'Home' ? 'signin' : e.key === 'End' ? 'register' : other;
    selectTab(target, true);
  });
}

/** @param {string|null} [note] */
function showAuth(note) {
  endSession();
  state.me = null;
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

/** @param {AuthForm} f */
function clearErrors(f) {
  formBanner(f.form);
  for (const input of f.form.querySelectorAll('input')) setFieldError(input);
}

/**
 * @param {AuthForm} f
 * @param {string} fieldName as the API names it
 * @param {string} message
 */
function fieldError(f, fieldName, message) {
  // The API names the field; on the sign-in form "email" is the same box as "username".
  let name = fieldName;
  if (f.prefix === 'signin' && name === 'email') name = 'username';
  const input = $input(`${f.prefix}-${name}`);
  if (!input) return null;
  setFieldError(input, message);
  return input;
}

/**
 * @param {AuthForm} f
 * @param {string} message
 */
function formError(f, message) {
  formBanner(f.form, message);
}

/**
 * @param {Error} e
 * @param {string} action
 */
function describeError(e, action) {
  if (e instanceof ApiError && e.status === 429) {
    const wait = e.retryAfter ? ` Try again in ${e.retryAfter} second${e.retryAfter === 1 ? '' : 's'}.` : ' Please wait a moment and try again.';
    return `Too many ${action} attempts.${wait}`;
  }
  return e.message;
}

/**
 * @param {AuthForm} f
 * @param {string} endpoint
 * @param {Record<string, string>} body
 * @param {[string, string][]} required field and how to name it
 */
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
  const button = /** @type {HTMLButtonElement} */ (f.form.querySelector('button[type=submit]'));
  const label = button.textContent;
  button.disabled = true;
  button.textContent = endpoint === '/login' ? 'Signing in…' : 'Creating account…';
  try {
    const res = await api(endpoint, { method: 'POST', body, token: null });
    setToken(res.access_token);
    showAppealAnswer(res.appeal_answer);
    state.me = { ...res.user, is_blocked: false };
    try {
      state.me = await api('/me'); // the full profile (warning count, e-mail); the login body is enough if this fails
    } catch {
      /* keep the login body */
    }
    startChat();
  } catch (e) {
    if (e instanceof ApiError && e.status === 403 && e.body?.appeal) {
      showBlocked(null);
      offerAppeal(e.body.appeal, /** @type {HTMLElement} */ ($('blocked-title').parentElement));
      return;
    }
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
    username: $input('signin-username').value.trim(),
    password: $input('signin-password').value,
  }, [['username', 'username or e-mail'], ['password', 'password']]);
});

forms.register.form.addEventListener('submit', (e) => {
  e.preventDefault();
  submitAuth(forms.register, '/register', {
    username: $input('register-username').value.trim(),
    email: $input('register-email').value.trim(),
    password: $input('register-password').value,
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

/** @param {string|null} serverText */
function showBlocked(serverText) {
  endSession();
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


/* ------------------------------------------------------------------ chat session */

let wasConnected = false;
/** Message frames of the current connection before its `rooms` frame (a fresh history burst). */
let burst = 0;

function startChat() {
  clearTimeout(loadRetry);
  addAccountButtons($('signout'));
  stopSocket();
  ended = false;
  setEnded(false);
  state.rooms.clear();
  state.selected = null;
  state.online = new Set();
  state.unlisted = 0;
  state.awaitingRooms = true;
  wasConnected = false;
  resetConversation();
  resetComposer();
  resetRoomMod();
  resetLiving();
  resetSearch();
  resetSidebar();
  emit('presence');
  emit('select', null);
  $('me-name').textContent = state.me.username;
  showStanding(state.me);
  $('admin-link').hidden = !state.me.is_admin;
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

/** @param {{code: number, reason: string, opened: boolean}} info */
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

/** The conversation to open first: the one in the address (#room-7), else `general`. */
function initialRoom() {
  const m = /^#room-(\d+)$/.exec(location.hash);
  const wanted = m ? Number(m[1]) : null;
  if (wanted !== null && state.rooms.get(wanted)?.summary) return wanted;
  return fallbackRoom();
}

/**
 * The full list of the user's conversations (on every connect): it replaces what was known.
 * @param {RoomSummary[]} list
 */
function applyRooms(list) {
  const ids = new Set();
  for (const s of list) {
    if (!s || !Number.isInteger(s.id)) continue;
    ids.add(s.id);
    mergeSummary(s);
  }
  for (const id of [...state.rooms.keys()]) if (!ids.has(id)) state.rooms.delete(id);
  // A fresh connection replays the newest page of `general`: that room needs no REST fetch.
  if (socket && !socket.resumed && state.rooms.has(GENERAL_ID)) {
    const g = room(GENERAL_ID);
    if (!g.loaded) {
      g.loaded = true;
      if (g.historyState === 'idle' && burst < PAGE) g.historyState = 'done';
    }
  }
  const first = state.awaitingRooms;
  const keep = !first && state.selected !== null && state.rooms.has(state.selected);
  const target = first ? initialRoom() : keep ? state.selected : fallbackRoom();
  // The selection changes before anyone hears of the new list, so no module ever sees a list
  // without an open conversation (the composer would disable itself and lose the focus).
  const changed = first || target !== state.selected;
  state.awaitingRooms = false;
  state.selected = target;
  emit('rooms');
  if (changed) emit('select', target);
}

/** @type {Set<number>} conversations whose summary is being fetched */
const fetching = new Set();

/**
 * A message for a conversation the app does not know (a hidden DM that came back, a room joined
 * on another device before its `room` frame): ask for its summary.
 * @param {number} id
 */
async function fetchRoom(id) {
  if (fetching.has(id)) return;
  fetching.add(id);
  try {
    const s = await api(`/rooms/${id}`);
    if (!ended && s && Number.isInteger(s.id)) {
      mergeSummary(s);
      emit('rooms');
    }
  } catch (e) {
    if (e instanceof ApiError && e.status === 404) state.rooms.delete(id);
  } finally {
    fetching.delete(id);
  }
}

/** Without a `rooms` frame (an older server), the list comes from GET /rooms. */
async function loadRoomsOnce() {
  try {
    const list = await api('/rooms');
    if (!ended && state.awaitingRooms) applyRooms(Array.isArray(list) ? list : []);
  } catch {
    if (!ended && state.awaitingRooms) applyRooms([{ id: GENERAL_ID, kind: 'public', name: 'general' }]);
  }
}

/** @param {any} frame */
function onFrame(frame) {
  const live = socket?.state === 'connected';
  switch (frame.type) {
    case 'message': {
      if (!live) burst += 1;
      const m = addMessage(frame, live);
      if (m && !state.awaitingRooms && !state.rooms.get(m.room)?.summary) fetchRoom(m.room);
      if (m && live) stoppedTyping(m.room, m.user);
      break;
    }
    case 'edited':
      onEdited(frame);
      break;
    case 'deleted':
      onDeleted(frame);
      break;
    case 'reactions':
      onReactions(frame);
      break;
    case 'typing':
      onTyping(frame);
      break;
    case 'rooms':
      applyRooms(Array.isArray(frame.rooms) ? frame.rooms : []);
      break;
    case 'room':
      if (frame.room && Number.isInteger(frame.room.id)) {
        mergeSummary(frame.room);
        emit('rooms');
        if (state.selected === null) select(frame.room.id);
      }
      break;
    case 'room_removed':
      if (Number.isInteger(frame.room)) removeRoom(frame.room);
      break;
    case 'read':
      if (Number.isInteger(frame.room) && Number.isInteger(frame.message_id)) applyRead(frame.room, frame.message_id);
      break;
    case 'presence':
      state.online = new Set(Array.isArray(frame.online) ? frame.online.map(String) : []);
      // Big servers send only the first names; the count covers everyone.
      state.unlisted = Number.isInteger(frame.count) ? Math.max(0, frame.count - state.online.size) : 0;
      emit('presence');
      if (state.awaitingRooms) loadRoomsOnce().then(syncDone);
      else syncDone();
      break;
    case 'join':
      if (frame.user) state.online.add(String(frame.user));
      emit('presence');
      break;
    case 'leave':
      if (frame.user && !state.online.delete(String(frame.user)) && state.unlisted > 0) state.unlisted -= 1;
      emit('presence');
      break;
    case 'warning': {
      const text = frame.text || `Warning ${frame.warnings} of ${Math.max(1, (frame.limit || 3) - 1)}: your message broke the chat rules and was not posted.`;
      addNotice('warning', text);
      announce(text);
      refreshStanding();
      break;
    }
    case 'muted':
    case 'unmuted':
      // A room's mute names its room and is the room's business; the account's does not.
      if (Number.isInteger(frame.room)) onModFrame(frame);
      else onMuteFrame(frame);
      break;
    case 'blocked':
      showBlocked(frame.text || null);
      break;
    case 'report':
      onReportFrame(frame);
      break;
    case 'expired':
      // The sign-in ran out; the server closes the socket next (1008 "token expired").
      expireSession();
      break;
    case 'role':
      onModFrame(frame);
      break;
    case 'error':
      onModError(frame);
      addNotice('error', frame.detail || 'The server could not accept that message.');
      break;
    default:
      break; // unknown frame types from a newer server are ignored
  }
}

// The open conversation is kept in the address, so a reload comes back to it.
on('select', (id) => {
  if (ended || document.body.dataset.view !== 'view-chat') return;
  const hash = id === null ? '' : `#room-${id}`;
  if (location.hash !== hash) history.replaceState(null, '', `${location.pathname}${location.search}${hash}`);
});

window.addEventListener('hashchange', () => {
  const m = /^#room-(\d+)$/.exec(location.hash);
  if (m && state.rooms.get(Number(m[1]))?.summary && state.selected !== Number(m[1])) select(Number(m[1]));
});

/* ------------------------------------------------------------------ connection state */

/** @param {SocketState} s */
function setConn({ state: st, retryIn }) {
  const conn = $('conn');
  const banner = $('conn-banner');
  const bannerText = $('conn-banner-text');
  let text;
  let bannerMsg = null;
  switch (st) {
    case 'connected':
      text = 'Connected';
      wasConnected = true;
      break;
    case 'connecting':
    case 'syncing':
      burst = 0;
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
  conn.dataset.state = st === 'syncing' ? 'connecting' : st;
  // Presence is only known while connected; the list is marked out of date in between.
  setPeopleStale(st !== 'connected');
  conn.querySelector('.conn-text').textContent = text;
  banner.hidden = bannerMsg === null;
  if (bannerMsg !== null) bannerText.textContent = bannerMsg;
  $('conn-retry').hidden = st === 'connecting' || st === 'syncing';
  updateComposer();
}

$('conn-retry').addEventListener('click', () => socket?.connectNow());

/* ------------------------------------------------------------------ go */

boot();
