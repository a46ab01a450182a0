/* Messages that change after they are sent: the actions of a message (a "⋯" button, shown on
   hover and focus, always on touch screens, and a long press) with edit in place, delete after a
   confirmation, the reaction picker and reply; reaction chips that toggle; the `edited`, `deleted`
   and `reactions` frames applied live; and the "alice is typing…" line of the open conversation.
   Edits, deletions, reactions and typing go over the socket as client frames; refusals come back
   as `error` or `warning` frames, which app.js shows in the log. */

import { h } from './api.js';
import { $, announce, confirmDialog } from './ui.js';
import { state, current, isMe, on, toReactions } from './store.js';
import { openReport } from './reports.js';
import {
  rebuildMessage, removeMessage, revealMessage, quotedChanged,
} from './conversation.js';
import { startReply, messageGone } from './composer.js';
import { moderates } from './roommod.js';

/** @typedef {import('./store.js').Message} Message */
/** @typedef {import('./socket.js').ChatSocket} ChatSocket */

/** Unless the server says otherwise (`edit_window_secs` in /me), edits are allowed for 24 h. */
const DEFAULT_EDIT_WINDOW_S = 24 * 3600;
export const QUICK_EMOJI = ['👍', '❤️', '😂', '🎉', '😮', '😢', '👀', '🙏'];
const LONG_PRESS_MS = 500;
const TYPING_TTL_MS = 5000;

const log = $('log');

/** @type {() => ChatSocket|null} */
let getSocket = () => null;

/** @param {() => ChatSocket|null} fn where client frames go */
export function setLivingSocket(fn) {
  getSocket = fn;
}

/**
 * Sends a client frame; says so when there is no connection to carry it.
 * @param {object} frame
 */
function sendFrame(frame) {
  if (getSocket()?.sendFrame(frame)) return true;
  announce('Not connected. Try again once the chat has reconnected.');
  return false;
}

/** @param {HTMLElement} el an element inside a message */
function messageOf(el) {
  const msgEl = /** @type {HTMLElement|null} */ (el.closest('.msg'));
  const r = current();
  if (!msgEl || !r) return null;
  return r.messages.get(Number(msgEl.dataset.id)) || null;
}

/** @param {Message} m */
function canEdit(m) {
  if (!isMe(m.user)) return false;
  const me = /** @type {{edit_window_secs?: number}} */ (state.me || {});
  const windowS = Number.isFinite(me.edit_window_secs) ? me.edit_window_secs : DEFAULT_EDIT_WINDOW_S;
  return Date.now() - m.date.getTime() < windowS * 1000;
}

/** @param {Message} m */
function canDelete(m) {
  return isMe(m.user) || !!state.me?.is_admin || moderates(m.room);
}

/* ------------------------------------------------------------------ the actions menu */

/**
 * Shows a popup (menu or picker) under its message, or above it when there is no room below in
 * the message list (the newest messages sit at the bottom).
 * @param {HTMLElement} popup
 * @param {HTMLElement} msgEl
 */
function place(popup, msgEl) {
  popup.classList.remove('up');
  msgEl.append(popup);
  popup.hidden = false;
  const view = $('log-scroller').getBoundingClientRect();
  const box = popup.getBoundingClientRect();
  if (box.bottom > view.bottom && msgEl.getBoundingClientRect().top - box.height > view.top) popup.classList.add('up');
}

const menu = h('div', { cls: 'menu msg-menu', attrs: { role: 'menu', id: 'msg-menu', hidden: true } });
/** @type {{m: Message, opener: HTMLElement}|null} */
let menuFor = null;

/**
 * @param {string} label
 * @param {string} action
 */
function menuItem(label, action) {
  return h('button', { text: label, attrs: { type: 'button', role: 'menuitem', tabindex: -1, 'data-action': action } });
}

/**
 * Opens the actions of a message under it, focusing the first item (keyboard and touch users
 * get the same menu as the mouse).
 * @param {Message} m
 * @param {HTMLElement} opener the "⋯" button
 */
function openMenu(m, opener) {
  closeMenu(false);
  closePicker(false);
  const items = [menuItem('Reply', 'reply'), menuItem('React…', 'react')];
  if (canEdit(m)) items.push(menuItem('Edit', 'edit'));
  if (canDelete(m)) items.push(menuItem('Delete…', 'delete'));
  if (!isMe(m.user)) items.push(menuItem('Report…', 'report'));
  menu.replaceChildren(...items);
  menu.setAttribute('aria-label', `Message from ${isMe(m.user) ? 'you' : m.user}`);
  place(menu, m.el);
  opener.setAttribute('aria-expanded', 'true');
  m.el.classList.add('menu-open');
  menuFor = { m, opener };
  /** @type {HTMLElement} */ (items[0]).focus();
}

/** @param {boolean} [restoreFocus] */
function closeMenu(restoreFocus = true) {
  if (!menuFor) return;
  const { m, opener } = menuFor;
  menuFor = null;
  menu.hidden = true;
  menu.remove();
  opener.setAttribute('aria-expanded', 'false');
  m.el?.classList.remove('menu-open');
  if (restoreFocus && opener.isConnected) opener.focus();
}

menu.addEventListener('keydown', (e) => {
  const items = /** @type {HTMLElement[]} */ ([...menu.querySelectorAll('[role=menuitem]')]);
  const at = items.indexOf(/** @type {HTMLElement} */ (document.activeElement));
  let next = -1;
  if (e.key === 'ArrowDown') next = (at + 1) % items.length;
  else if (e.key === 'ArrowUp') next = (at - 1 + items.length) % items.length;
  else if (e.key === 'Home') next = 0;
  else if (e.key === 'End') next = items.length - 1;
  else if (e.key === 'Escape') {
    e.preventDefault();
    e.stopPropagation();
    closeMenu();
    return;
  } else if (e.key === 'Tab') {
    closeMenu(false);
    return;
  }
  if (next >= 0) {
    e.preventDefault();
    items[next].focus();
  }
});

menu.addEventListener('click', (e) => {
  const item = /** @type {HTMLElement|null} */ (/** @type {HTMLElement} */ (e.target).closest('[data-action]'));
  if (!item || !menuFor) return;
  e.stopPropagation();
  const { m, opener } = menuFor;
  const action = item.dataset.action;
  if (action === 'react') {
    closeMenu(false);
    openPicker(m, opener);
    return;
  }
  closeMenu(action !== 'reply' && action !== 'edit');
  if (action === 'reply') startReply(m);
  else if (action === 'edit') startEdit(m);
  else if (action === 'delete') askDelete(m);
  else if (action === 'report') openReport(m);
});

/* ------------------------------------------------------------------ reactions */

const picker = h('div', {
  cls: 'emoji-picker',
  attrs: { role: 'group', id: 'emoji-picker', 'aria-label': 'Pick a reaction', hidden: true },
});
/** @type {{m: Message, opener: HTMLElement}|null} */
let pickerFor = null;

/**
 * @param {Message} m
 * @param {HTMLElement} opener
 */
function openPicker(m, opener) {
  closePicker(false);
  picker.replaceChildren(...QUICK_EMOJI.map((emoji) => {
    const mine = m.reactions.some((r) => r.emoji === emoji && r.users.some((u) => isMe(u)));
    return h('button', {
      cls: 'emoji-choice',
      text: emoji,
      attrs: { type: 'button', 'data-emoji': emoji, 'aria-pressed': String(mine), 'aria-label': `React with ${emoji}` },
    });
  }));
  place(picker, m.el);
  pickerFor = { m, opener };
  m.el.classList.add('menu-open');
  /** @type {HTMLElement} */ (picker.firstElementChild).focus();
}

/** @param {boolean} [restoreFocus] */
function closePicker(restoreFocus = true) {
  if (!pickerFor) return;
  const { m, opener } = pickerFor;
  pickerFor = null;
  picker.hidden = true;
  picker.remove();
  m.el?.classList.remove('menu-open');
  if (restoreFocus && opener.isConnected) opener.focus();
}

picker.addEventListener('click', (e) => {
  const b = /** @type {HTMLElement|null} */ (/** @type {HTMLElement} */ (e.target).closest('[data-emoji]'));
  if (!b || !pickerFor) return;
  e.stopPropagation();
  const { m } = pickerFor;
  closePicker();
  sendFrame({ type: 'react', id: m.id, emoji: b.dataset.emoji });
});

picker.addEventListener('keydown', (e) => {
  const items = /** @type {HTMLElement[]} */ ([...picker.querySelectorAll('button')]);
  const at = items.indexOf(/** @type {HTMLElement} */ (document.activeElement));
  if (e.key === 'Escape') {
    e.preventDefault();
    e.stopPropagation();
    closePicker();
  } else if (e.key === 'ArrowRight' || e.key === 'ArrowLeft') {
    e.preventDefault();
    items[(at + (e.key === 'ArrowRight' ? 1 : items.length - 1)) % items.length].focus();
  }
});

/* ------------------------------------------------------------------ edit in place */

/** @type {{m: Message, form: HTMLFormElement}|null} */
let editing = null;

/** @param {Message} m */
function startEdit(m) {
  cancelEdit();
  const text = /** @type {HTMLElement|null} */ (m.el.querySelector('.msg-text'));
  if (!text) return;
  const box = h('textarea', { cls: 'edit-box', attrs: { 'aria-label': 'Edit your message', rows: 2 } });
  box.value = m.text;
  const form = h('form', {
    cls: 'edit-form',
    attrs: { novalidate: true },
    children: [
      box,
      h('div', {
        cls: 'edit-actions',
        children: [
          h('span', { cls: 'edit-hint', text: 'Enter to save, Escape to cancel' }),
          h('button', { cls: 'btn btn-secondary btn-small', text: 'Cancel', attrs: { type: 'button', 'data-edit': 'cancel' } }),
          h('button', { cls: 'btn btn-primary btn-small', text: 'Save', attrs: { type: 'submit' } }),
        ],
      }),
    ],
  });
  text.hidden = true;
  text.after(form);
  m.el.classList.add('editing');
  editing = { m, form };
  form.addEventListener('submit', (e) => {
    e.preventDefault();
    saveEdit();
  });
  form.querySelector('[data-edit=cancel]').addEventListener('click', () => cancelEdit(true));
  box.addEventListener('keydown', (e) => {
    if (e.key === 'Enter' && !e.shiftKey && !e.isComposing && e.keyCode !== 229) {
      e.preventDefault();
      saveEdit();
    } else if (e.key === 'Escape') {
      e.preventDefault();
      e.stopPropagation();
      cancelEdit(true);
    }
  });
  box.focus();
  box.setSelectionRange(box.value.length, box.value.length);
}

function saveEdit() {
  if (!editing) return;
  const { m, form } = editing;
  const text = /** @type {HTMLTextAreaElement} */ (form.querySelector('textarea')).value.trim();
  if (!text) {
    announce('A message cannot be empty: delete it instead.');
    return;
  }
  if (text === m.text) {
    cancelEdit(true);
    return;
  }
  if (!sendFrame({ type: 'edit', id: m.id, text })) return;
  // The `edited` frame brings the new text (for every reader alike); until then the old one shows.
  cancelEdit(true);
}

/** @param {boolean} [focusMessage] give the focus back to the message's "⋯" button */
function cancelEdit(focusMessage = false) {
  if (!editing) return;
  const { m, form } = editing;
  editing = null;
  form.remove();
  const text = /** @type {HTMLElement|null} */ (m.el?.querySelector('.msg-text'));
  if (text) text.hidden = false;
  m.el?.classList.remove('editing');
  if (focusMessage) /** @type {HTMLElement|null} */ (m.el?.querySelector('.msg-actions-btn'))?.focus();
}

/* ------------------------------------------------------------------ delete */

/** @param {Message} m */
async function askDelete(m) {
  const own = isMe(m.user);
  const ok = await confirmDialog({
    title: 'Delete this message?',
    text: own
      ? 'It disappears for everyone in the conversation. This cannot be undone.'
      : `The message from ${m.user} disappears for everyone in the conversation. This cannot be undone.`,
    ok: 'Delete',
  });
  if (ok) sendFrame({ type: 'delete', id: m.id });
}

/* ------------------------------------------------------------------ clicks and long presses in the log */

log.addEventListener('click', (e) => {
  const t = /** @type {HTMLElement} */ (e.target);
  const more = /** @type {HTMLElement|null} */ (t.closest('.msg-actions-btn'));
  if (more) {
    const m = messageOf(more);
    if (!m) return;
    if (menuFor && menuFor.m === m) closeMenu();
    else openMenu(m, more);
    return;
  }
  const chip = /** @type {HTMLElement|null} */ (t.closest('.msg-reactions .chip'));
  if (chip) {
    const m = messageOf(chip);
    if (m) sendFrame({ type: 'react', id: m.id, emoji: chip.dataset.emoji });
    return;
  }
  const quote = /** @type {HTMLElement|null} */ (t.closest('.msg-quote'));
  if (quote) {
    const m = messageOf(quote);
    if (m) revealMessage(m.room, Number(quote.dataset.replyTo));
  }
});

// A long press on a message (touch screens) opens its actions, as a right click would not.
let pressTimer = 0;
log.addEventListener('pointerdown', (e) => {
  if (e.pointerType !== 'touch') return;
  const t = /** @type {HTMLElement} */ (e.target);
  if (t.closest('button, a, textarea, .menu, .emoji-picker')) return;
  const m = messageOf(t);
  if (!m) return;
  clearTimeout(pressTimer);
  pressTimer = window.setTimeout(() => {
    const opener = /** @type {HTMLElement|null} */ (m.el.querySelector('.msg-actions-btn'));
    if (opener) openMenu(m, opener);
  }, LONG_PRESS_MS);
});
for (const type of ['pointerup', 'pointercancel', 'pointermove']) {
  log.addEventListener(type, (e) => {
    if (type === 'pointermove' && /** @type {PointerEvent} */ (e).pointerType !== 'touch') return;
    clearTimeout(pressTimer);
  });
}
log.addEventListener('contextmenu', (e) => {
  // The long press already opened the actions: no browser menu on top of them.
  if (menuFor && menuFor.m.el.contains(/** @type {Node} */ (e.target))) e.preventDefault();
});

// A click elsewhere closes the menu and the picker.
document.addEventListener('click', (e) => {
  const t = /** @type {HTMLElement} */ (e.target);
  if (menuFor && !menu.contains(t) && !menuFor.opener.contains(t)) closeMenu(false);
  if (pickerFor && !picker.contains(t)) closePicker(false);
});

on('select', () => {
  closeMenu(false);
  closePicker(false);
  cancelEdit();
  renderTyping();
});

/* ------------------------------------------------------------------ frames */

/**
 * Renders a changed message again, carrying over its open menu, picker or edit box (and the
 * focus inside them), so another reader's reaction does not throw away what the reader is doing.
 * @param {Message} m
 */
function rebuild(m) {
  const active = /** @type {HTMLElement|null} */ (document.activeElement);
  const focusIn = active && m.el?.contains(active) ? active : null;
  rebuildMessage(m);
  const opener = /** @type {HTMLElement} */ (m.el.querySelector('.msg-actions-btn'));
  if (menuFor && menuFor.m === m) {
    m.el.append(menu);
    menuFor.opener = opener;
    opener.setAttribute('aria-expanded', 'true');
    m.el.classList.add('menu-open');
  }
  if (pickerFor && pickerFor.m === m) {
    m.el.append(picker);
    pickerFor.opener = opener;
    m.el.classList.add('menu-open');
  }
  if (editing && editing.m === m) {
    const text = /** @type {HTMLElement} */ (m.el.querySelector('.msg-text'));
    text.hidden = true;
    text.after(editing.form);
    m.el.classList.add('editing');
  }
  if (!focusIn) return;
  if (focusIn.isConnected) focusIn.focus();
  else if (focusIn.dataset.emoji && focusIn.classList.contains('chip')) {
    // A chip toggled from the keyboard keeps the focus on its new self (or the row's button).
    const chip = /** @type {HTMLElement|null} */ (m.el.querySelector(`.chip[data-emoji="${CSS.escape(focusIn.dataset.emoji)}"]`));
    (chip || opener).focus();
  } else opener.focus();
}

/**
 * Finds a loaded message by room and id.
 * @param {any} f
 */
function loaded(f) {
  if (!Number.isInteger(f.id) || !Number.isInteger(f.room)) return null;
  return state.rooms.get(f.room)?.messages.get(f.id) || null;
}

/**
 * An `edited` frame: new text and mentions, and the mark.
 * @param {any} f
 */
export function onEdited(f) {
  const m = loaded(f);
  if (!m) {
    if (Number.isInteger(f.id)) quotedChanged(f.id, String(f.text ?? ''));
    return;
  }
  m.text = String(f.text ?? '');
  if (Array.isArray(f.mentions)) m.mentions = f.mentions.map(String);
  const at = new Date(f.edited_at);
  m.editedAt = Number.isNaN(at.getTime()) ? new Date() : at;
  if (editing && editing.m === m) cancelEdit();
  rebuild(m);
}

/**
 * A `deleted` frame: the message vanishes (as it is gone from history after a reload).
 * @param {any} f
 */
export function onDeleted(f) {
  if (!Number.isInteger(f.id) || !Number.isInteger(f.room)) return;
  const m = loaded(f);
  if (m && editing && editing.m === m) cancelEdit();
  if (m && menuFor && menuFor.m === m) closeMenu(false);
  if (m && pickerFor && pickerFor.m === m) closePicker(false);
  const hadFocus = !!m?.el?.contains(document.activeElement);
  removeMessage(f.room, f.id);
  quotedChanged(f.id, null);
  messageGone(f.id);
  // The focus was on the message that went away: the message box is the natural place to go on.
  if (hadFocus) $('composer-input').focus();
}

/**
 * A `reactions` frame: the message's whole list of reactions.
 * @param {any} f
 */
export function onReactions(f) {
  const m = loaded(f);
  if (!m) return;
  m.reactions = toReactions(f.reactions);
  rebuild(m);
}

/* ------------------------------------------------------------------ typing */

/** @type {Map<number, Map<string, number>>} room -> who -> the timer that forgets them */
const typists = new Map();

/**
 * A `typing` frame: `user` types in `room` (never shown for the reader themself).
 * @param {any} f
 */
export function onTyping(f) {
  if (!Number.isInteger(f.room) || typeof f.user !== 'string' || isMe(f.user)) return;
  let who = typists.get(f.room);
  if (!who) {
    who = new Map();
    typists.set(f.room, who);
  }
  const known = who.has(f.user);
  clearTimeout(who.get(f.user));
  who.set(f.user, window.setTimeout(() => stoppedTyping(f.room, f.user), TYPING_TTL_MS));
  if (!known && f.room === state.selected) renderTyping();
}

/**
 * Someone's typing expired, or their message arrived.
 * @param {number} roomId
 * @param {string} user
 */
export function stoppedTyping(roomId, user) {
  const who = typists.get(roomId);
  if (!who || !who.has(user)) return;
  clearTimeout(who.get(user));
  who.delete(user);
  if (roomId === state.selected) renderTyping();
}

/** The line under the open conversation; its text changes only when who types changes. */
function renderTyping() {
  const names = [...(typists.get(state.selected ?? -1)?.keys() || [])].sort((a, b) => a.localeCompare(b));
  let text = '';
  if (names.length === 1) text = `${names[0]} is typing…`;
  else if (names.length === 2) text = `${names[0]} and ${names[1]} are typing…`;
  else if (names.length > 2) text = 'Several people are typing…';
  const line = $('typing');
  if (line.textContent !== text) line.textContent = text;
}

/** A new session: nobody is typing, nothing is open. */
export function resetLiving() {
  for (const who of typists.values()) for (const t of who.values()) clearTimeout(t);
  typists.clear();
  closeMenu(false);
  closePicker(false);
  cancelEdit();
  renderTyping();
}
