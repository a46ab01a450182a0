/* DOM helpers shared by the chat app's modules: typed element lookup (the dashboard's too), the
   screen-reader announcer, avatars, modal dialogs and the hook that ends the session on an auth
   error. */

import { ApiError, h } from './api.js';

/** @param {string} id */
export const $ = (id) => /** @type {HTMLElement} */ (document.getElementById(id));
/** @param {string} id */
export const $input = (id) => /** @type {HTMLInputElement} */ (document.getElementById(id));
/** @param {string} id */
export const $dialog = (id) => /** @type {HTMLDialogElement} */ (document.getElementById(id));
/** @param {string} id */
export const $button = (id) => /** @type {HTMLButtonElement} */ (document.getElementById(id));

/** @param {string} text */
export function announce(text) {
  const a = $('announcer');
  a.textContent = '';
  // A fresh text node after a tick makes screen readers announce repeated identical texts too.
  setTimeout(() => { a.textContent = text; }, 50);
}

const HUES = 8;
/** @param {string} name */
export function hueClass(name) {
  let hash = 0;
  for (const ch of String(name).toLowerCase()) hash = (hash * 31 + ch.codePointAt(0)) >>> 0;
  return `hue-${hash % HUES}`;
}

/** @param {string} name */
function initial(name) {
  const first = [...String(name)][0] || '?';
  return first.toUpperCase();
}

/**
 * @param {string} name
 * @param {string} [extra] more classes
 */
export function avatar(name, extra = '') {
  return h('span', { cls: `avatar ${hueClass(name)} ${extra}`.trim(), text: initial(name), attrs: { 'aria-hidden': 'true' } });
}

/* ------------------------------------------------------------------ session errors */

/** @type {(e: ApiError) => boolean} */
let authHandler = () => false;

/** app.js decides what a 401 / 403 means (expired or blocked); the other modules just ask. */
export function setAuthHandler(/** @type {(e: ApiError) => boolean} */ fn) {
  authHandler = fn;
}

/**
 * True when the error ended the session (and the caller should stop).
 * @param {unknown} e
 */
export function authFailed(e) {
  return e instanceof ApiError && (e.status === 401 || e.status === 403) && authHandler(e);
}

/* ------------------------------------------------------------------ dialogs */

/**
 * Opens a modal dialog and focuses `focus` (or its first field); focus returns to the opener
 * when it closes.
 * @param {HTMLDialogElement} dialog
 * @param {HTMLElement} [focus]
 */
export function openDialog(dialog, focus) {
  const opener = /** @type {HTMLElement|null} */ (document.activeElement);
  dialog.addEventListener('close', () => {
    if (opener && opener.isConnected && typeof opener.focus === 'function') opener.focus();
  }, { once: true });
  dialog.returnValue = '';
  dialog.showModal();
  const target = focus || /** @type {HTMLElement|null} */ (dialog.querySelector('input, button'));
  target?.focus();
}

// Every dialog: buttons marked data-close close it, and so does a click on the backdrop.
for (const dialog of document.querySelectorAll('dialog.modal')) {
  const dlg = /** @type {HTMLDialogElement} */ (dialog);
  dlg.addEventListener('click', (e) => {
    const t = /** @type {HTMLElement} */ (e.target);
    if (t === dlg || t.closest('[data-close]')) dlg.close('cancel');
  });
}

/**
 * A yes/no question in the page (native confirm() boxes are not allowed).
 * @param {{title: string, text: string, ok: string}} o
 * @returns {Promise<boolean>}
 */
export function confirmDialog({ title, text, ok }) {
  const dialog = $dialog('dlg-confirm');
  $('dlg-confirm-title').textContent = title;
  $('dlg-confirm-text').textContent = text;
  $('dlg-confirm-ok').textContent = ok;
  return new Promise((resolve) => {
    dialog.addEventListener('close', () => resolve(dialog.returnValue === 'ok'), { once: true });
    openDialog(dialog, $('dlg-confirm-ok'));
  });
}

/**
 * Shows or clears the error banner at the top of a dialog's form.
 * @param {HTMLElement} form
 * @param {string} [message] none clears it
 */
export function formBanner(form, message) {
  const el = /** @type {HTMLElement} */ (form.querySelector('.form-error'));
  el.textContent = message || '';
  el.hidden = !message;
}

/**
 * Marks one input invalid with a message under it (or clears it when `message` is empty).
 * @param {HTMLInputElement} input
 * @param {string} [message]
 */
export function fieldError(input, message) {
  const err = $(`${input.id}-error`);
  if (!err) return;
  err.textContent = message || '';
  err.hidden = !message;
  const ids = (input.getAttribute('aria-describedby') || '').split(/\s+/).filter(Boolean)
    .filter((id) => id !== err.id);
  if (message) {
    ids.push(err.id);
    input.setAttribute('aria-invalid', 'true');
  } else {
    input.removeAttribute('aria-invalid');
  }
  if (ids.length) input.setAttribute('aria-describedby', ids.join(' '));
  else input.removeAttribute('aria-describedby');
}
