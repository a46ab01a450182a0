/* The open conversation's header: its name and topic, "Add people" (private rooms), the
   per-room notification menu (PUT /rooms/{id}/notify) and leaving a room or hiding a DM. */

import { api, h } from './api.js';
import { $, $button, announce, authFailed, confirmDialog } from './ui.js';
import { current, on, emit, roomLabel, mergeSummary, removeRoom } from './store.js';
import { openAddPeople } from './dialogs.js';

/** @typedef {'all'|'mentions'|'none'} NotifyLevel */

/** @type {Record<NotifyLevel, string>} */
const LEVEL_TEXT = { all: 'All', mentions: 'Mentions', none: 'Muted' };

const button = $button('notify-button');
const menu = $('notify-menu');
const items = /** @type {HTMLButtonElement[]} */ ([...menu.querySelectorAll('[role=menuitemradio]')]);

function render() {
  const r = current();
  const s = r?.summary || null;
  const title = $('chat-title');
  if (!s) {
    title.replaceChildren(r ? 'Loading…' : 'No conversation');
  } else {
    const mark = s.kind === 'dm' ? '@' : s.kind === 'private' ? '🔒' : '#';
    const what = s.kind === 'dm' ? 'Direct message with ' : s.kind === 'private' ? 'Private room ' : 'Room ';
    title.replaceChildren(
      h('span', { cls: 'conv-mark', text: mark, attrs: { 'aria-hidden': 'true' } }),
      h('span', { cls: 'visually-hidden', text: what }),
      roomLabel(s),
    );
  }
  const topic = $('conv-topic');
  const topicText = s?.archived ? `Archived${s.topic ? ` · ${s.topic}` : ''}` : (s?.topic || '');
  topic.textContent = topicText;
  topic.hidden = !topicText;
  $('add-people').hidden = !(s && s.kind === 'private' && !s.archived);
  const leave = $('leave-room');
  leave.hidden = !s;
  $('leave-room-text').textContent = s?.kind === 'dm' ? 'Hide' : 'Leave';
  leave.title = s?.kind === 'dm' ? 'Hide this conversation' : 'Leave this room';
  button.hidden = !s;
  const level = /** @type {NotifyLevel} */ (s?.notify || 'all');
  $('notify-button-text').textContent = `Notifications: ${LEVEL_TEXT[level] || 'All'}`;
  for (const item of items) item.setAttribute('aria-checked', String(item.dataset.level === level));
}

on('select', () => {
  closeMenu(false);
  render();
});
on('rooms', render);

/* ------------------------------------------------------------------ notification menu */

/** @param {boolean} [focusButton] */
function closeMenu(focusButton = true) {
  if (menu.hidden) return;
  menu.hidden = true;
  button.setAttribute('aria-expanded', 'false');
  if (focusButton) button.focus();
}

function openMenu() {
  menu.hidden = false;
  button.setAttribute('aria-expanded', 'true');
  const checked = items.find((i) => i.getAttribute('aria-checked') === 'true') || items[0];
  checked.focus();
}

button.addEventListener('click', () => {
  if (menu.hidden) openMenu();
  else closeMenu();
});

button.addEventListener('keydown', (e) => {
  if (e.key === 'ArrowDown' || e.key === 'ArrowUp') {
    e.preventDefault();
    openMenu();
  }
});

menu.addEventListener('keydown', (e) => {
  const at = items.indexOf(/** @type {HTMLButtonElement} */ (document.activeElement));
  if (e.key === 'ArrowDown' || e.key === 'ArrowUp') {
    e.preventDefault();
    const step = e.key === 'ArrowDown' ? 1 : -1;
    items[(at + step + items.length) % items.length].focus();
  } else if (e.key === 'Home' || e.key === 'End') {
    e.preventDefault();
    items[e.key === 'Home' ? 0 : items.length - 1].focus();
  } else if (e.key === 'Escape') {
    e.preventDefault();
    e.stopPropagation();
    closeMenu();
  } else if (e.key === 'Tab') {
    closeMenu(false);
  }
});

document.addEventListener('click', (e) => {
  const t = /** @type {Node} */ (e.target);
  if (!menu.hidden && !menu.contains(t) && !button.contains(t)) closeMenu(false);
});

for (const item of items) {
  item.addEventListener('click', async () => {
    const r = current();
    const level = item.dataset.level;
    closeMenu();
    if (!r || !r.summary || r.summary.notify === level) return;
    try {
      const s = await api(`/rooms/${r.id}/notify`, { method: 'PUT', body: { level } });
      if (s && typeof s === 'object' && Number.isInteger(s.id)) mergeSummary(s);
      else r.summary.notify = /** @type {NotifyLevel} */ (level);
      emit('rooms');
      announce(`Notifications for ${roomLabel(r.summary)}: ${item.textContent}`);
    } catch (e) {
      if (!authFailed(e)) announce(`Could not change the notifications: ${e.message}`);
    }
  });
}

/* ------------------------------------------------------------------ add people, leave */

$('add-people').addEventListener('click', () => {
  const r = current();
  if (r) openAddPeople(r.id);
});

$('leave-room').addEventListener('click', async () => {
  const r = current();
  if (!r || !r.summary) return;
  const s = r.summary;
  const label = roomLabel(s);
  const ok = s.kind === 'dm' || await confirmDialog({
    title: `Leave ${label}?`,
    text: s.kind === 'private'
      ? 'This room is private: you can only come back if a member adds you again.'
      : 'You can join it again from the room directory.',
    ok: 'Leave room',
  });
  if (!ok) return;
  try {
    await api(`/rooms/${r.id}/leave`, { method: 'POST' });
    removeRoom(r.id);
    announce(s.kind === 'dm' ? `The conversation with ${label} is hidden.` : `You left ${label}.`);
    $('composer-input').focus();
  } catch (e) {
    if (!authFailed(e)) announce(`Could not leave ${label}: ${e.message}`);
  }
});
