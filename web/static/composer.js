/* The message box: sends {"type":"message","room":ID,"text"} over the socket to the open
   conversation, counts characters near the limit, and is disabled with a note where nobody can
   post (an archived room) or while there is no connection. */

import { charCount } from './api.js';
import { $, $button, announce } from './ui.js';
import { state, current, on } from './store.js';
import { isNearBottom, scrollToBottom } from './conversation.js';

/** @typedef {import('./socket.js').ChatSocket} ChatSocket */

const MAX_CHARS = 2000;
const COUNTER_FROM = 1800; // the counter only appears when the limit is close

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
  const r = current();
  // Before the list of conversations arrives the box stays usable (and focusable): `general`
  // normally opens a moment later.
  if (!r) return state.awaitingRooms ? null : 'Open a conversation to write.';
  if (r.summary?.archived) return 'This room is archived: you can read it, but nobody can post in it.';
  return null;
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
  note.textContent = closed || '';
  note.hidden = !closed;
  input.disabled = !!closed;
  input.placeholder = closed ? '' : 'Write a message…';
  $button('send').disabled = over || !connected || !!closed;
  $('composer').classList.toggle('over', over);
  $('composer').classList.toggle('closed', !!closed);
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
  const r = current();
  if (!text || !r || closedReason()) return;
  if (charCount(text) > MAX_CHARS) {
    announce(`Your message is too long: the limit is ${MAX_CHARS} characters.`);
    return;
  }
  const socket = getSocket();
  if (!socket || !socket.send(text, r.id)) {
    announce('Not connected. Your message is kept here and can be sent once the chat reconnects.');
    return;
  }
  input.value = '';
  autoGrow();
  updateComposer();
  scrollToBottom();
}

/** A new session: an empty box. */
export function resetComposer() {
  input.value = '';
  autoGrow();
  updateComposer();
}

on('select', updateComposer);
on('rooms', updateComposer);
