/* The message box: sends {"type":"message","room":ID,"text"} over the socket to the open
   conversation (with `reply_to` while "Replying to…" shows above it), tells the others the reader
   is typing (a `typing` frame at most every 2 s while keys are pressed), counts characters near
   the limit, and is disabled with a note where nobody can post (an archived room) or while there
   is no connection. */

import { charCount } from './api.js';
import { $, $button, announce } from './ui.js';
import { state, current, on, isMe } from './store.js';
import { isNearBottom, scrollToBottom } from './conversation.js';
import { mutedReason, setStandingRedraw } from './standing.js';
import { composerState, setComposerRefresh } from './roommod.js';

/** @typedef {import('./socket.js').ChatSocket} ChatSocket */

const MAX_CHARS = 2000;
const COUNTER_FROM = 1800; // the counter only appears when the limit is close
const TYPING_EVERY_MS = 2000; // the server throttles too; more often would be dropped
const QUOTE_CHARS = 60;

const input = /** @type {HTMLTextAreaElement} */ (document.getElementById('composer-input'));
const scroller = $('log-scroller');

/** @type {() => ChatSocket|null} */
let getSocket = () => null;

/** @param {() => ChatSocket|null} fn where to send */
export function setSocketSource(fn) {
  getSocket = fn;
}

function autoGrow() {
  // A growing composer shrinks the log; a reader at the bottom should stay there.
  const stick = isNearBottom();
  input.style.height = 'auto';
  input.style.height = `${Math.min(input.scrollHeight, 200)}px`;
  if (stick) scroller.scrollTop = scroller.scrollHeight;
}

/** Why nothing can be posted in the open conversation, if so. */
function closedReason() {
  const muted = mutedReason();
  if (muted) return muted;
  const r = current();
  // Before the list of conversations arrives the box stays usable (and focusable): `general`
  // normally opens a moment later.
  if (!r) return state.awaitingRooms ? null : 'Open a conversation to write.';
  if (r.summary?.archived) return 'This room is archived: you can read it, but nobody can post in it.';
  return composerState().closed;
}

export function updateComposer() {
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
  const connected = getSocket()?.state === 'connected';
  const closed = closedReason();
  const note = $('composer-note');
  const slow = closed ? null : composerState().note;
  note.textContent = closed || slow || '';
  note.hidden = !closed && !slow;
  input.disabled = !!closed;
  input.placeholder = closed ? '' : 'Write a message…';
  $button('send').disabled = over || !connected || !!closed;
  $('composer').classList.toggle('over', over);
  $('composer').classList.toggle('closed', !!closed);
}

/** @type {{room: number, id: number}|null} the message being answered */
let reply = null;
let lastTyping = 0;

/**
 * Shows "Replying to alice: quote… ✕" above the box; the next message sent answers `m`.
 * @param {import('./store.js').Message} m
 */
export function startReply(m) {
  reply = { room: m.room, id: m.id };
  const chars = [...m.text.replace(/\s+/g, ' ')];
  const quote = chars.length > QUOTE_CHARS ? `${chars.slice(0, QUOTE_CHARS).join('')}…` : chars.join('');
  $('reply-bar-who').textContent = `Replying to ${isMe(m.user) ? 'yourself' : m.user}:`;
  $('reply-bar-quote').textContent = quote;
  showReplyBar(true);
  input.focus();
}

export function cancelReply() {
  reply = null;
  showReplyBar(false);
}

/**
 * The bar takes room from the log: a reader at the bottom stays there.
 * @param {boolean} show
 */
function showReplyBar(show) {
  const bar = $('reply-bar');
  if (bar.hidden !== show) return;
  const stick = isNearBottom();
  bar.hidden = !show;
  if (stick) scroller.scrollTop = scroller.scrollHeight;
}

/** The answered message was deleted, or another conversation opened: no reply any more. */
function dropStaleReply() {
  if (reply && reply.room !== state.selected) cancelReply();
}

/**
 * A message went away: a reply being written to it is cancelled.
 * @param {number} id
 */
export function messageGone(id) {
  if (reply && reply.id === id) {
    cancelReply();
    announce('The message you were replying to was deleted.');
  }
}

$('reply-cancel').addEventListener('click', () => {
  cancelReply();
  input.focus();
});

/** Tells the conversation's members the reader is typing, at most every TYPING_EVERY_MS. */
function typing() {
  const r = current();
  if (!r || !input.value.trim() || closedReason()) return;
  const now = Date.now();
  if (now - lastTyping < TYPING_EVERY_MS) return;
  if (getSocket()?.sendFrame({ type: 'typing', room: r.id })) lastTyping = now;
}

input.addEventListener('input', () => {
  autoGrow();
  updateComposer();
  typing();
});

input.addEventListener('keydown', (e) => {
  // isComposing: Enter that confirms an IME candidate (Chinese, Japanese…) must not send.
  if (e.key === 'Enter' && !e.shiftKey && !e.isComposing && e.keyCode !== 229) {
    e.preventDefault();
    sendCurrent();
  } else if (e.key === 'Escape' && reply) {
    e.preventDefault();
    cancelReply();
  }
});

$('composer').addEventListener('submit', (e) => {
  e.preventDefault();
  sendCurrent();
});

function sendCurrent() {
  const text = input.value.trim();
  const r = current();
  if (!text || !r || closedReason()) return;
  if (charCount(text) > MAX_CHARS) {
    announce(`Your message is too long: the limit is ${MAX_CHARS} characters.`);
    return;
  }
  const socket = getSocket();
  const replyTo = reply && reply.room === r.id ? reply.id : null;
  if (!socket || !socket.send(text, r.id, replyTo)) {
    announce('Not connected. Your message is kept here and can be sent once the chat reconnects.');
    return;
  }
  input.value = '';
  lastTyping = 0; // the next message's typing is news again
  cancelReply();
  autoGrow();
  updateComposer();
  scrollToBottom();
}

/** A new session: an empty box. */
export function resetComposer() {
  cancelReply();
  input.value = '';
  autoGrow();
  updateComposer();
}

on('select', updateComposer);
on('select', dropStaleReply);
on('rooms', updateComposer);

setStandingRedraw(updateComposer);
setComposerRefresh(updateComposer);
