/* The open conversation: its message list (day dividers, grouping, the "new since you last read"
   line, mentions of the reader highlighted, the "edited" mark, reply quotes and reaction chips),
   scrolling, older history from GET /rooms/{id}/messages?before=, jumping to a message (loading
   older pages until it is there), edits and deletions applied in place, and the read marker
   (POST /rooms/{id}/read once the newest message is on screen in a visible tab). Every piece of
   user data reaches the DOM as text. */

import {
  api, ApiError, h, formatTime, formatFull, formatDay, dayKey,
} from './api.js';
import { $, avatar, hueClass, authFailed } from './ui.js';
import {
  state, room, current, on, emit, isMe, mentionsMe, toMessage, applyRead, select,
} from './store.js';

/** @typedef {import('./store.js').Room} Room */
/** @typedef {import('./store.js').Message} Message */
/** @typedef {import('./store.js').MessageData} MessageData */

export const PAGE = 50; // the server's default history page, also what the socket replays first
const GROUP_GAP_MS = 5 * 60 * 1000;
const NEAR_BOTTOM_PX = 60;
const NEAR_TOP_PX = 150;
const QUOTE_CHARS = 80;
/** How many older pages a jump to a message may load before giving up. */
const JUMP_MAX_PAGES = 100;
const FLASH_MS = 2500;

const log = $('log');
const scroller = $('log-scroller');

let unseen = 0; // live messages below the reader's view in the open conversation
/** Messages after this id get the "new since you last read" line (set when a room is opened). */
let readMark = 0;
/** True while the first history burst of a session arrives (not news for screen readers). */
let syncing = true;
/** Whether the session is over (signed out, blocked): late answers are dropped. */
let ended = false;

/** @param {boolean} value */
export function setEnded(value) {
  ended = value;
}

/* ------------------------------------------------------------------ storing messages */

/**
 * Stores a message from the socket or from history, and shows it when its conversation is open.
 * `live` is set for messages that arrive as they are written (not history or a resume burst),
 * which count as unread and may move the view.
 * @param {MessageData} data
 * @param {boolean} live
 * @returns {Message|null} null for a duplicate
 */
export function addMessage(data, live) {
  const m = toMessage(data);
  if (!Number.isInteger(m.id)) return null;
  const r = room(m.room);
  if (r.messages.has(m.id)) return null; // never show a message twice
  r.messages.set(m.id, m);
  if (r.newestId === null || m.id > r.newestId) r.newestId = m.id;
  if (r.oldestId === null || m.id < r.oldestId) r.oldestId = m.id;
  const s = r.summary;
  if (s) {
    s.last_message_id = Math.max(s.last_message_id || 0, m.id);
    if (live && !isMe(m.user) && m.id > (s.last_read_id || 0)) {
      s.unread = (s.unread || 0) + 1;
      if (mentionsMe(m)) s.mentions = (s.mentions || 0) + 1;
    }
  }
  if (state.selected === m.room) {
    showMessage(m, live);
    // Replies shown before this message was loaded can quote it now.
    if (live || r.historyState !== 'loading') refreshQuotes(m.id);
  }
  emit('message', { message: m, live });
  if (live) emit('rooms');
  return m;
}

/* ------------------------------------------------------------------ rendering */

/**
 * The text with every @mention of the reader wrapped in <mark>, as DOM nodes.
 * @param {Message} m
 */
function messageText(m) {
  const div = h('div', { cls: 'msg-text' });
  if (!state.me || !mentionsMe(m)) {
    div.textContent = m.text;
    return div;
  }
  const name = state.me.username.replace(/[.*+?^${}()|[\]\\]/g, '\\$&');
  const re = new RegExp(`@${name}(?![\\p{L}\\p{N}_.-]*[\\p{L}\\p{N}_])`, 'giu');
  let at = 0;
  for (const match of m.text.matchAll(re)) {
    if (match.index > at) div.append(m.text.slice(at, match.index));
    div.append(h('mark', { cls: 'mention-me', text: match[0] }));
    at = match.index + match[0].length;
  }
  if (at < m.text.length) div.append(m.text.slice(at));
  return div;
}

/** @param {Message} m */
function buildMessage(m) {
  const own = isMe(m.user);
  const mentioned = !own && mentionsMe(m);
  const time = h('time', {
    cls: 'msg-time',
    text: formatTime(m.date),
    attrs: { datetime: m.date.toISOString(), title: formatFull(m.date) },
  });
  const author = h('span', { cls: `msg-author ${hueClass(m.user)}`, text: own ? 'You' : m.user });
  const meta = h('div', {
    cls: 'msg-meta',
    children: [
      author,
      h('span', { cls: 'visually-hidden', text: ', ' }),
      time,
      m.editedAt ? editedMark(m.editedAt) : null,
      mentioned ? h('span', { cls: 'visually-hidden', text: ', mentions you' }) : null,
    ],
  });
  const quote = m.replyTo === null ? null : h('button', {
    cls: 'msg-quote',
    attrs: { type: 'button', 'data-reply-to': m.replyTo },
  });
  if (quote) fillQuote(quote, room(m.room));
  const bubble = h('div', { cls: 'bubble', children: [meta, quote, messageText(m)] });
  const actions = h('button', {
    cls: 'btn btn-ghost msg-actions-btn',
    text: '⋯',
    attrs: {
      type: 'button',
      'aria-haspopup': 'menu',
      'aria-expanded': 'false',
      'aria-label': `Actions for the message from ${own ? 'you' : m.user}`,
      title: 'Edit, delete, react or reply',
    },
  });
  const row = h('div', { cls: 'msg-row', children: [own ? null : avatar(m.user, 'msg-avatar'), bubble, actions] });
  return h('div', {
    cls: `msg ${own ? 'own' : 'other'}${mentioned ? ' mention' : ''}`,
    attrs: { 'data-id': m.id, 'data-user': m.user },
    children: [row, reactionChips(m)],
  });
}

/**
 * "edited", with when in a tooltip and for screen readers.
 * @param {Date} at
 */
function editedMark(at) {
  return h('span', {
    cls: 'msg-edited',
    attrs: { title: `Edited ${formatFull(at)}` },
    children: [
      h('span', { text: 'edited', attrs: { 'aria-hidden': 'true' } }),
      h('span', { cls: 'visually-hidden', text: `, edited ${formatFull(at)}` }),
    ],
  });
}

/**
 * The chips under a message: emoji and count, pressed when the reader is among who reacted
 * (named in the tooltip); a click toggles (living.js listens on the log). Empty without reactions.
 * @param {Message} m
 */
function reactionChips(m) {
  const own = isMe(m.user);
  return h('div', {
    cls: 'msg-reactions',
    attrs: { role: 'group', 'aria-label': `Reactions to the message from ${own ? 'you' : m.user}`, hidden: m.reactions.length === 0 },
    children: m.reactions.map((r) => {
      const mine = r.users.some((u) => isMe(u));
      const who = r.users.map((u) => (isMe(u) ? 'you' : u)).join(', ');
      return h('button', {
        cls: 'chip',
        attrs: { type: 'button', 'aria-pressed': String(mine), 'data-emoji': r.emoji, title: `${r.emoji} by ${who}` },
        children: [
          h('span', { cls: 'chip-emoji', text: r.emoji }),
          h('span', { cls: 'chip-count', text: r.count }),
          h('span', { cls: 'visually-hidden', text: ` (${who})` }),
        ],
      });
    }),
  });
}

/**
 * Whether a message of `r` is known to be gone: deleted while open, or missing from a loaded
 * stretch of history (history never shows deleted messages).
 * @param {Room} r
 * @param {number} id
 */
function knownGone(r, id) {
  if (r.messages.has(id)) return false;
  if (r.deleted.has(id)) return true;
  if (r.historyState === 'loading') return false;
  return r.historyState === 'done' || (r.oldestId !== null && id > r.oldestId);
}

/**
 * Originals of replies that are not loaded, from GET /messages/{id}: who wrote what, null when
 * deleted, 'loading' while asked.
 * @type {Map<number, {user: string, text: string}|null|'loading'>}
 */
const quoted = new Map();

/** @param {number} id */
async function fetchQuoted(id) {
  quoted.set(id, 'loading');
  try {
    const m = await api(`/messages/${id}`);
    quoted.set(id, { user: String(m?.user ?? ''), text: String(m?.text ?? '') });
  } catch (e) {
    if (e instanceof ApiError && e.status === 404) quoted.set(id, null);
    else quoted.delete(id); // asked again the next time the quote is drawn
    if (ended || authFailed(e)) return;
  }
  refreshQuotes(id);
}

/**
 * A message that is not loaded was edited or deleted: its quotes follow.
 * @param {number} id
 * @param {string|null} text the new text, null when deleted
 */
export function quotedChanged(id, text) {
  const known = quoted.get(id);
  if (text === null) quoted.set(id, null);
  else if (known && known !== 'loading') quoted.set(id, { ...known, text });
  else return;
  refreshQuotes(id);
}

/**
 * A reply's quote: who and the start of what they wrote, or "deleted message"; a button that
 * jumps to the original.
 * @param {HTMLElement} btn
 * @param {Room} r
 */
function fillQuote(btn, r) {
  const id = Number(btn.dataset.replyTo);
  let orig = /** @type {{user: string, text: string}|null|undefined} */ (r.messages.get(id));
  let gone = false;
  if (!orig) {
    const known = quoted.get(id);
    if (knownGone(r, id) || known === null) gone = true;
    else if (known && known !== 'loading') orig = known;
    else if (known === undefined && !ended) fetchQuoted(id);
  }
  let who = '';
  let what;
  if (orig) {
    who = isMe(orig.user) ? 'You' : orig.user;
    const chars = [...orig.text.replace(/\s+/g, ' ')];
    what = chars.length > QUOTE_CHARS ? `${chars.slice(0, QUOTE_CHARS).join('')}…` : chars.join('');
  } else {
    what = gone ? 'deleted message' : 'an earlier message';
  }
  btn.classList.toggle('gone', gone);
  btn.replaceChildren(
    h('span', { cls: 'visually-hidden', text: 'Reply to ' }),
    who ? h('span', { cls: 'quote-user', text: who }) : null,
    who ? h('span', { cls: 'visually-hidden', text: ': ' }) : '',
    h('span', { cls: 'quote-text', text: what }),
  );
  btn.title = gone ? '' : 'Show the original message';
}

/**
 * Brings the quotes in the open conversation up to date (a message loaded, edited or deleted).
 * @param {number} [id] only quotes of this message; all without
 */
function refreshQuotes(id) {
  const r = current();
  if (!r) return;
  const sel = id === undefined ? '.msg-quote' : `.msg-quote[data-reply-to="${id}"]`;
  for (const q of log.querySelectorAll(sel)) fillQuote(/** @type {HTMLElement} */ (q), r);
}

/**
 * Renders a stored message again after it changed (edited, reactions): same place, new element.
 * @param {Message} m
 */
export function rebuildMessage(m) {
  const old = m.el;
  // New chips or a longer text grow the log: a reader at the bottom stays there.
  const stick = state.selected === m.room && !!old?.isConnected && isNearBottom();
  m.el = buildMessage(m);
  if (old && old.isConnected) {
    // Keep the classes decorate() set, and the day divider.
    const divider = old.querySelector(':scope > .day-divider');
    if (divider) m.el.prepend(divider);
    m.el.classList.toggle('continues', old.classList.contains('continues'));
    old.replaceWith(m.el);
  }
  if (state.selected === m.room) refreshQuotes(m.id);
  if (stick) scroller.scrollTop = scroller.scrollHeight;
}

/**
 * A message was deleted: it leaves the store and the page (history no longer has it either).
 * @param {number} roomId
 * @param {number} id
 * @returns {Message|null} the removed message, if it was loaded
 */
export function removeMessage(roomId, id) {
  const r = state.rooms.get(roomId);
  if (!r) return null;
  r.deleted.add(id);
  const m = r.messages.get(id) || null;
  if (m) {
    r.messages.delete(id);
    if (m.el && m.el.isConnected) {
      const next = nextMsgEl(m.el);
      m.el.remove();
      decorate(next);
    }
    if (r.newestId === id) r.newestId = Math.max(0, ...r.messages.keys()) || null;
    if (r.oldestId === id) r.oldestId = r.messages.size ? Math.min(...r.messages.keys()) : r.oldestId;
  }
  if (state.selected === roomId) {
    refreshQuotes(id);
    updateHistoryStatus();
  }
  return m;
}

/** @param {Element|null} el */
const isMsg = (el) => !!el && el.classList.contains('msg');

/** @param {Element} el */
function prevMsgEl(el) {
  let p = el.previousElementSibling;
  while (p && !isMsg(p)) p = p.previousElementSibling;
  return /** @type {HTMLElement|null} */ (p);
}

/** @param {Element} el */
function nextMsgEl(el) {
  let n = el.nextElementSibling;
  while (n && !isMsg(n)) n = n.nextElementSibling;
  return /** @type {HTMLElement|null} */ (n);
}

/**
 * Day dividers and grouping of consecutive messages depend on the neighbour above.
 * @param {HTMLElement|null} el
 */
function decorate(el) {
  const r = current();
  if (!isMsg(el) || !r) return;
  const m = r.messages.get(Number(el.dataset.id));
  if (!m) return;
  const prevEl = prevMsgEl(el);
  const pm = prevEl ? r.messages.get(Number(prevEl.dataset.id)) : null;
  const newDay = !pm || dayKey(pm.date) !== dayKey(m.date);
  const continues = !newDay && prevEl === el.previousElementSibling && pm.user === m.user
    && m.date.getTime() - pm.date.getTime() < GROUP_GAP_MS;
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

/**
 * Puts a message of the open conversation in its place in the log.
 * @param {Message} m
 * @param {boolean} live
 */
function showMessage(m, live) {
  const r = current();
  const stick = isNearBottom();
  const own = isMe(m.user);
  m.el ??= buildMessage(m);
  const el = m.el;
  const msgs = log.querySelectorAll('.msg');
  const last = /** @type {HTMLElement|undefined} */ (msgs[msgs.length - 1]);
  if (!last || Number(last.dataset.id) < m.id) {
    log.append(el);
  } else {
    // Older than something shown: place it before the first shown message that is newer.
    let at = /** @type {Element|null} */ (msgs[0]);
    while (at && !(isMsg(at) && Number(/** @type {HTMLElement} */ (at).dataset.id) > m.id)) at = at.nextElementSibling;
    log.insertBefore(el, at);
  }
  decorate(el);
  decorate(nextMsgEl(el));
  $('empty-state').hidden = true;

  if (!live) return;
  if (document.hidden && !own && !log.querySelector('.unread-divider') && r?.summary) {
    // Coming back to the tab, the reader should see where the news starts.
    readMark = r.summary.last_read_id || 0;
    placeDivider();
  }
  if (stick || own) scrollToBottom();
  else {
    unseen += 1;
    updateJump();
  }
  maybeMarkRead();
}

/**
 * A note in the log (a moderation warning, a refused message); not kept across room switches.
 * @param {'warning'|'error'} kind
 * @param {string} text
 */
export function addNotice(kind, text) {
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
}

/** The "new since you last read" line before the first unread message of someone else. */
function placeDivider() {
  const old = log.querySelector('.unread-divider');
  if (old) {
    const after = nextMsgEl(old);
    old.remove();
    decorate(after);
  }
  const r = current();
  if (!r) return;
  // Only where the unread part starts within what is loaded: with older unread messages not
  // loaded yet, a line at the top of the page would claim a start it does not know.
  if (r.historyState !== 'done' && (r.oldestId === null || r.oldestId > readMark)) return;
  const first = [...r.messages.values()].filter((m) => m.id > readMark && !isMe(m.user))
    .sort((a, b) => a.id - b.id)[0];
  if (!first || !first.el || !first.el.isConnected) return;
  const line = h('div', {
    cls: 'unread-divider',
    attrs: { role: 'separator', 'aria-label': 'New since you last read' },
    children: [h('span', { text: 'New since you last read', attrs: { 'aria-hidden': 'true' } })],
  });
  log.insertBefore(line, first.el);
  decorate(first.el); // a message right after the line starts a new group
}

/** Shows the open conversation from scratch (a room was selected). */
function render() {
  const r = current();
  unseen = 0;
  updateJump();
  log.replaceChildren();
  $('no-conversation').hidden = !!r;
  if (!r) {
    updateHistoryStatus();
    return;
  }
  readMark = r.summary?.last_read_id || 0;
  const list = [...r.messages.values()].sort((a, b) => a.id - b.id);
  for (const m of list) {
    m.el ??= buildMessage(m);
    log.append(m.el);
  }
  for (const m of list) decorate(m.el);
  refreshQuotes();
  placeDivider();
  updateHistoryStatus();
  positionView();
  if (!r.loaded && !syncing) loadLatest(r);
  else fillViewport();
  maybeMarkRead();
}

/** At the "new since you last read" line if there is one, else at the newest message. */
function positionView() {
  const line = /** @type {HTMLElement|null} */ (log.querySelector('.unread-divider'));
  if (line) {
    scroller.scrollTop = Math.max(0, line.offsetTop - scroller.offsetTop - 48);
    unseen = 0;
    updateJump();
  } else {
    scrollToBottom();
  }
}

/* ------------------------------------------------------------------ history */

/**
 * The newest page of a conversation never loaded before.
 * @param {Room} r
 */
async function loadLatest(r) {
  if (r.historyState === 'loading' || ended) return;
  r.historyState = 'loading';
  if (r.id === state.selected) updateHistoryStatus();
  let page;
  try {
    page = await api(`/rooms/${r.id}/messages?limit=${PAGE}`);
  } catch (e) {
    if (ended || authFailed(e)) return;
    r.historyState = 'error';
    if (r.id === state.selected) updateHistoryStatus();
    return;
  }
  if (ended || !state.rooms.has(r.id)) return;
  const list = Array.isArray(page) ? page : [];
  const open = r.id === state.selected;
  if (open) log.setAttribute('aria-busy', 'true');
  for (const m of list) addMessage({ ...m, room: r.id }, false);
  if (open) log.removeAttribute('aria-busy');
  r.loaded = true;
  r.historyState = list.length < PAGE ? 'done' : 'idle';
  if (open) {
    refreshQuotes();
    placeDivider();
    updateHistoryStatus();
    positionView();
    fillViewport();
    maybeMarkRead();
  }
}

async function loadOlder() {
  const r = current();
  if (r) await loadOlderOf(r);
}

/**
 * The page of history before the oldest loaded message; resolves once it is stored (and shown,
 * keeping the reader's place, when the conversation is open).
 * @param {Room} r
 */
async function loadOlderOf(r) {
  if (r.historyState !== 'idle' || syncing || r.oldestId === null || ended) return;
  r.historyState = 'loading';
  updateHistoryStatus();
  let page;
  try {
    page = await api(`/rooms/${r.id}/messages?before=${r.oldestId}&limit=${PAGE}`);
  } catch (e) {
    if (ended || authFailed(e)) return;
    r.historyState = 'error';
    if (r.id === state.selected) updateHistoryStatus();
    return;
  }
  if (ended) return;
  const list = Array.isArray(page) ? page : [];
  const open = r.id === state.selected;
  // Keep the reader's place: the content grows above them, so move the scroll position by as much.
  const before = scroller.scrollHeight;
  const top = scroller.scrollTop;
  if (open) log.setAttribute('aria-busy', 'true');
  for (const m of list) addMessage({ ...m, room: r.id }, false);
  r.historyState = list.length < PAGE ? 'done' : 'idle';
  if (!open) return;
  log.removeAttribute('aria-busy');
  scroller.scrollTop = top + (scroller.scrollHeight - before);
  refreshQuotes();
  placeDivider();
  updateHistoryStatus();
  fillViewport();
}

/** A tall window may show the whole first page without a scrollbar, so scrolling up can't ask for more. */
function fillViewport() {
  const r = current();
  if (r && r.historyState === 'idle' && r.loaded && scroller.scrollHeight <= scroller.clientHeight + NEAR_TOP_PX) {
    setTimeout(loadOlder, 0);
  }
}

function updateHistoryStatus() {
  const r = current();
  const btn = $('load-older');
  const note = $('history-note');
  const hs = r ? r.historyState : 'done';
  btn.hidden = !r || (hs !== 'idle' && hs !== 'error') || !r.loaded;
  btn.textContent = hs === 'error' ? 'Try again' : 'Load older messages';
  if (!r) note.textContent = '';
  else if (hs === 'loading') note.textContent = r.loaded ? 'Loading older messages…' : 'Loading messages…';
  else if (hs === 'error') note.textContent = r.loaded ? 'Older messages could not be loaded.' : 'Messages could not be loaded.';
  else if (hs === 'done' && r.messages.size) note.textContent = 'This is the beginning of the conversation.';
  else note.textContent = '';
  $('empty-state').hidden = !(r && hs === 'done' && r.messages.size === 0 && !syncing);
}

$('load-older').addEventListener('click', () => {
  const r = current();
  if (!r) return;
  if (r.historyState === 'error') r.historyState = 'idle';
  if (r.loaded) loadOlder();
  else loadLatest(r);
});

/* ------------------------------------------------------------------ jumping to a message */

/** @type {HTMLElement|null} */
let flashed = null;
let flashTimer = 0;

/**
 * Opens a message's conversation, loads history until the message is there (older pages, as many
 * as it takes), scrolls it into the middle of the view, highlights it briefly and focuses it.
 * Resolves with false (and says so) when it is not there: deleted, or the conversation is gone.
 * @param {number} roomId
 * @param {number} id
 */
export async function revealMessage(roomId, id) {
  const r = state.rooms.get(roomId);
  if (!r || !r.summary) {
    announceHere('That conversation is not open to you.');
    return false;
  }
  if (state.selected !== roomId) select(roomId);
  for (let pages = 0; !r.messages.has(id) && pages < JUMP_MAX_PAGES && !ended; pages += 1) {
    if (r.deleted.has(id)) break;
    if (r.historyState === 'loading' || syncing) {
      await new Promise((resolve) => { setTimeout(resolve, 100); });
      continue;
    }
    if (!r.loaded || r.historyState === 'error') {
      if (r.historyState === 'error') r.historyState = 'idle';
      await loadLatest(r);
      if (!r.loaded) break;
      continue;
    }
    if (r.historyState === 'done' || (r.oldestId !== null && r.oldestId < id)) break;
    await loadOlderOf(r);
  }
  const m = r.messages.get(id);
  if (!m || state.selected !== roomId || !m.el || !m.el.isConnected) {
    announceHere('That message was deleted or cannot be found.');
    return false;
  }
  if (flashed) flashed.classList.remove('flash');
  clearTimeout(flashTimer);
  flashed = m.el;
  m.el.classList.add('flash');
  m.el.tabIndex = -1;
  m.el.scrollIntoView({ block: 'center' });
  m.el.focus({ preventScroll: true });
  flashTimer = window.setTimeout(() => m.el?.classList.remove('flash'), FLASH_MS);
  maybeMarkRead();
  return true;
}

/** @param {string} text */
function announceHere(text) {
  addNotice('error', text);
}

/* ------------------------------------------------------------------ scrolling */

export function isNearBottom() {
  return scroller.scrollHeight - scroller.scrollTop - scroller.clientHeight < NEAR_BOTTOM_PX;
}

export function scrollToBottom() {
  scroller.scrollTop = scroller.scrollHeight;
  unseen = 0;
  updateJump();
}

function updateJump() {
  $('jump').hidden = unseen === 0;
  $('jump-text').textContent = unseen === 1 ? '1 new message' : `${unseen} new messages`;
}

$('jump').addEventListener('click', () => {
  scrollToBottom();
  $('composer-input').focus();
  maybeMarkRead();
});

scroller.addEventListener('scroll', () => {
  if (unseen && isNearBottom()) {
    unseen = 0;
    updateJump();
  }
  if (scroller.scrollTop < NEAR_TOP_PX) loadOlder();
  maybeMarkRead();
}, { passive: true });

/* ------------------------------------------------------------------ read marker */

/** @type {Set<number>} rooms whose read marker is being saved */
const saving = new Set();

/** Whether the newest message of the open conversation is on screen. */
function newestVisible() {
  const msgs = log.querySelectorAll('.msg');
  const last = msgs[msgs.length - 1];
  if (!last) return false;
  const box = last.getBoundingClientRect();
  const view = scroller.getBoundingClientRect();
  return view.height > 0 && box.top < view.bottom - 4 && box.bottom > view.top;
}

/** Marks the open conversation read up to its newest message, once the reader can see it. */
export async function maybeMarkRead() {
  const r = current();
  if (!r || !r.summary || ended || syncing || document.hidden || r.newestId === null) return;
  if (document.body.dataset.view !== 'view-chat') return;
  const target = r.newestId;
  if (target <= (r.summary.last_read_id || 0) || saving.has(r.id) || !newestVisible()) return;
  saving.add(r.id);
  let ok = false;
  try {
    const res = await api(`/rooms/${r.id}/read`, { method: 'POST', body: { message_id: target } });
    applyRead(r.id, Number.isInteger(res?.last_read_id) ? res.last_read_id : target);
    ok = true;
  } catch (e) {
    authFailed(e); // otherwise: the next scroll or message tries again
  } finally {
    saving.delete(r.id);
  }
  // Newer messages may have come in meanwhile.
  if (ok && r.id === state.selected && (r.newestId || 0) > (r.summary?.last_read_id || 0)) maybeMarkRead();
}

document.addEventListener('visibilitychange', () => maybeMarkRead());
window.addEventListener('focus', () => maybeMarkRead());

/* ------------------------------------------------------------------ session */

/** A new session (or sign-in): forget what was shown. */
export function resetConversation() {
  log.replaceChildren();
  // The first history burst is not news: screen readers should not read fifty old messages aloud.
  log.setAttribute('aria-busy', 'true');
  syncing = true;
  unseen = 0;
  readMark = 0;
  updateJump();
  updateHistoryStatus();
  $('empty-state').hidden = true;
  $('no-conversation').hidden = true;
}

/** The socket's first burst (history, rooms, presence) is complete: show the open conversation. */
export function syncDone() {
  if (!syncing) return;
  syncing = false;
  log.removeAttribute('aria-busy');
  render();
}

on('select', () => {
  if (!syncing) render();
});
