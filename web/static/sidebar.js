/* The conversation list: rooms and DMs with unread and mention badges, the page title with the
   total unread, the buttons opening the directory and the create / DM dialogs, and on a phone the
   drawer that holds it all. */

import { h } from './api.js';
import { $, $button } from './ui.js';
import { state, on, select, sortRooms, roomLabel } from './store.js';
import { openCreateRoom, openDirectory, openDm } from './dialogs.js';

/** @typedef {import('./store.js').Room} Room */

const APP_TITLE = 'Chatterbox';
const toggle = $button('sidebar-toggle');
const sidebar = $('sidebar');
const backdrop = $('sidebar-backdrop');

/**
 * @param {number} n
 * @param {string} one
 * @param {string} many
 */
const plural = (n, one, many) => `${n} ${n === 1 ? one : many}`;

/** @param {Room} r */
function item(r) {
  const s = r.summary;
  const unread = s.unread || 0;
  const mentions = s.mentions || 0;
  const muted = s.notify === 'none';
  const label = roomLabel(s);
  const mark = s.kind === 'dm' ? '@' : s.kind === 'private' ? '🔒' : '#';
  const kind = s.kind === 'dm' ? 'direct message' : s.kind === 'private' ? 'private room' : null;
  const extra = [
    kind,
    s.archived ? 'archived' : null,
    muted ? 'muted' : null,
    unread ? plural(unread, 'unread message', 'unread messages') : null,
    mentions ? plural(mentions, 'mention', 'mentions') : null,
  ].filter(Boolean).join(', ');
  const link = h('a', {
    cls: `conv${unread && !muted ? ' unread' : ''}${muted ? ' muted-room' : ''}${s.archived ? ' archived' : ''}`,
    attrs: {
      href: `#room-${r.id}`,
      'aria-current': state.selected === r.id ? 'page' : null,
      'data-room-id': r.id,
    },
    children: [
      h('span', { cls: 'conv-mark', text: mark, attrs: { 'aria-hidden': 'true' } }),
      h('span', { cls: 'conv-name', text: label }),
      extra ? h('span', { cls: 'visually-hidden', text: `, ${extra}` }) : null,
      mentions ? h('span', { cls: 'badge badge-mention', text: `@${mentions}`, attrs: { 'aria-hidden': 'true' } }) : null,
      unread ? h('span', { cls: `badge${muted ? ' badge-muted' : ''}`, text: unread > 99 ? '99+' : unread, attrs: { 'aria-hidden': 'true' } }) : null,
    ],
  });
  link.addEventListener('click', (e) => {
    e.preventDefault();
    if (state.selected === r.id) closeDrawer(false);
    else select(r.id);
  });
  return h('li', { attrs: { 'data-room-id': r.id, 'data-unread': unread, 'data-mentions': mentions }, children: [link] });
}

function render() {
  const known = sortRooms([...state.rooms.values()].filter((r) => r.summary));
  const rooms = known.filter((r) => r.summary.kind !== 'dm');
  const dms = known.filter((r) => r.summary.kind === 'dm');
  // The lists are rebuilt on every change: a keyboard user's focus must survive that.
  const focused = /** @type {HTMLElement|null} */ (document.activeElement?.closest('#sidebar a[data-room-id]') || null);
  $('room-list').replaceChildren(...rooms.map(item));
  $('dm-list').replaceChildren(...dms.map(item));
  if (focused && !focused.isConnected) {
    /** @type {HTMLElement|null} */ (sidebar.querySelector(`a[data-room-id="${focused.dataset.roomId}"]`))?.focus();
  }
  $('room-list-empty').hidden = rooms.length > 0 || state.awaitingRooms;
  $('dm-list-empty').hidden = dms.length > 0 || state.awaitingRooms;

  // Muted conversations do not count: they asked not to be bothered.
  let total = 0;
  for (const r of known) if (r.summary.notify !== 'none') total += r.summary.unread || 0;
  if (document.body.dataset.view === 'view-chat') {
    document.title = total ? `(${total}) ${APP_TITLE}` : APP_TITLE;
  }
  const badge = $('sidebar-toggle-badge');
  badge.textContent = total ? String(total) : '';
  badge.hidden = !total;
  toggle.querySelector('.visually-hidden').textContent = total
    ? `Conversations, ${plural(total, 'unread message', 'unread messages')}`
    : 'Conversations';
}

on('rooms', render);
on('select', () => {
  render();
  closeDrawer(false); // on a phone, picking a conversation (anywhere) shows it
});

$('new-room').addEventListener('click', () => openCreateRoom());
$('browse-rooms').addEventListener('click', () => openDirectory());
$('new-dm').addEventListener('click', () => openDm());

/* ------------------------------------------------------------------ phone drawer */

function openDrawer() {
  toggle.setAttribute('aria-expanded', 'true');
  sidebar.classList.add('open');
  backdrop.hidden = false;
  const currentLink = /** @type {HTMLElement|null} */ (sidebar.querySelector('[aria-current=page]') || sidebar.querySelector('a, button'));
  currentLink?.focus();
}

/** @param {boolean} [focusToggle] */
export function closeDrawer(focusToggle = true) {
  if (toggle.getAttribute('aria-expanded') !== 'true') return;
  toggle.setAttribute('aria-expanded', 'false');
  sidebar.classList.remove('open');
  backdrop.hidden = true;
  if (focusToggle) toggle.focus();
}

toggle.addEventListener('click', () => {
  if (toggle.getAttribute('aria-expanded') === 'true') closeDrawer();
  else openDrawer();
});
backdrop.addEventListener('click', () => closeDrawer());
document.addEventListener('keydown', (e) => {
  if (e.key === 'Escape' && toggle.getAttribute('aria-expanded') === 'true' && !document.querySelector('dialog[open]')) {
    closeDrawer();
  }
});

/** The signed-out title, and the drawer closed, for the next session. */
export function resetSidebar() {
  closeDrawer(false);
  $('room-list').replaceChildren();
  $('dm-list').replaceChildren();
  render();
}
