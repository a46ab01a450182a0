/* Room moderation in the chat page: a "Members" dialog from the room header (moderator badges
   for everyone; for the room's moderators: slow mode, mute and unmute, remove from a private
   room, and, for its creator and admins, naming moderators), the composer's slow-mode line and
   its countdown, and a room mute that closes the composer until it ends. The server decides
   (`GET /rooms/{id}`: `can_moderate`, `can_name_moderators`, `member_list[].role`) and checks
   every act again. */

import { api, h, parseTime, formatTime } from './api.js';
import { $, announce, authFailed, avatar, openDialog } from './ui.js';
import { current, on, emit, isMe, roomLabel, mergeSummary, room } from './store.js';

/**
 * The moderation side of a room, from `GET /rooms/{id}`.
 * @typedef {object} ModInfo
 * @property {boolean} canModerate
 * @property {boolean} canName
 * @property {{username: string, role?: string, muted_until?: string|null}[]} members
 */

/** @type {Map<number, ModInfo>} */
const info = new Map();
/** @type {Map<number, Date>} rooms the reader is muted in, until then */
const mutedIn = new Map();
/** @type {Map<number, number>} rooms where slow mode holds the reader back, until this time (ms) */
const waitUntil = new Map();
let ticker = 0;
/** @type {() => void} */
let refreshComposer = () => {};

/** @param {() => void} fn how the composer redraws itself */
export function setComposerRefresh(fn) {
  refreshComposer = fn;
}

/**
 * Whether the reader moderates the room (and so deletes any message of it).
 * @param {number} id
 */
export function moderates(id) {
  return !!info.get(id)?.canModerate;
}

const SLOW_CHOICES = [[0, 'Off'], [5, '5 seconds'], [10, '10 seconds'], [30, '30 seconds'], [60, '1 minute'],
  [300, '5 minutes'], [900, '15 minutes'], [3600, '1 hour']];
const MUTE_CHOICES = [['10m', '10 minutes'], ['1h', '1 hour'], ['24h', '24 hours'], ['7d', '7 days']];

/** @param {number} secs */
function slowText(secs) {
  const choice = SLOW_CHOICES.find(([s]) => s === secs);
  return secs >= 60 && choice ? String(choice[1]) : `${secs} s`;
}

/**
 * Why the reader cannot post in the open room now (a room mute, or slow mode's wait), and the
 * slow-mode line shown while they can. Called by the composer on every redraw.
 * @returns {{closed: string|null, note: string|null}}
 */
export function composerState() {
  const r = current();
  if (!r) return { closed: null, note: null };
  const until = mutedIn.get(r.id);
  if (until && until.getTime() > Date.now()) {
    return { closed: `A moderator muted you in this room until ${formatTime(until)}: you can read, but not post.`, note: null };
  }
  const secs = Number(r.summary?.slow_mode_secs || 0);
  if (secs <= 0 || moderates(r.id)) return { closed: null, note: null };
  const left = Math.ceil(((waitUntil.get(r.id) || 0) - Date.now()) / 1000);
  if (left > 0) return { closed: `Slow mode: you can write again in ${left} s.`, note: null };
  return { closed: null, note: `Slow mode: 1 message per ${slowText(secs)}` };
}

/** Redraws the composer every second while a wait or a mute runs out. */
function tick() {
  const running = [...waitUntil.values()].some((t) => t > Date.now())
    || [...mutedIn.values()].some((d) => d.getTime() > Date.now());
  refreshComposer();
  if (running && !ticker) ticker = window.setInterval(tick, 1000);
  if (!running && ticker) {
    window.clearInterval(ticker);
    ticker = 0;
  }
}

/**
 * Reads the room's moderation side (not for DMs: nobody moderates them).
 * @param {number} id
 */
async function load(id) {
  const s = room(id)?.summary;
  if (!s || s.kind === 'dm') return;
  try {
    const d = await api(`/rooms/${id}`);
    if (!d || !Number.isInteger(d.id)) return;
    /** @type {ModInfo['members']} */
    const members = Array.isArray(d.member_list) ? d.member_list : [];
    info.set(id, { canModerate: !!d.can_moderate, canName: !!d.can_name_moderators, members });
    const mine = members.find((/** @type {{username: string}} */ m) => isMe(m.username));
    const until = mine?.muted_until ? parseTime(mine.muted_until) : null;
    if (until && until.getTime() > Date.now()) mutedIn.set(id, until);
    else mutedIn.delete(id);
    if (Number.isInteger(d.slow_mode_secs) && room(id)?.summary) room(id).summary.slow_mode_secs = d.slow_mode_secs;
    render();
    tick();
  } catch {
    // The header shows what it knew; the server checks every act anyway.
  }
}

/* ------------------------------------------------------------------ frames */

/**
 * The `muted` and `role` frames (app.js passes them on).
 * @param {any} frame
 */
export function onModFrame(frame) {
  const id = Number(frame.room);
  if (!Number.isInteger(id)) return;
  if (frame.type === 'muted') {
    const until = frame.until ? parseTime(frame.until) : null;
    if (until) mutedIn.set(id, until);
    else mutedIn.delete(id);
    const s = room(id)?.summary;
    announce(frame.text || (until ? 'You are muted in this room.' : 'You can post in this room again.'));
    if (s) emit('rooms');
    tick();
  } else if (frame.type === 'role') {
    const s = room(id)?.summary;
    if (s && isMe(String(frame.user))) {
      s.moderator = frame.role === 'moderator' || isMe(s.created_by || '');
      emit('rooms');
    }
    if (current()?.id === id || info.has(id)) load(id);
  }
}

/**
 * An `error` frame: slow mode's says how long to wait (`retry_after`), which starts the
 * composer's countdown in the open room.
 * @param {any} frame
 */
export function onModError(frame) {
  const r = current();
  if (!r || !Number.isInteger(frame.retry_after)) return;
  waitUntil.set(r.id, Date.now() + frame.retry_after * 1000);
  tick();
}

/**
 * The reader's own message was posted: in slow mode, the next one waits.
 * @param {{room: number, user: string}} m
 */
function posted(m) {
  const s = room(m.room)?.summary;
  const secs = Number(s?.slow_mode_secs || 0);
  if (secs > 0 && isMe(m.user) && !moderates(m.room)) {
    waitUntil.set(m.room, Date.now() + secs * 1000);
    tick();
  }
}

on('message', (d) => {
  if (d?.live && d.message) posted(d.message);
});
on('select', (id) => {
  render();
  if (Number.isInteger(id)) load(id);
});
on('rooms', () => {
  render();
  refreshComposer();
});

/* ------------------------------------------------------------------ the header button */

const membersButton = h('button', {
  cls: 'btn btn-ghost btn-small',
  attrs: { id: 'room-members', type: 'button', title: 'Members and moderation', hidden: true },
  children: [h('span', { cls: 'label-wide', text: 'Members' })],
});
$('leave-room').before(membersButton);

function render() {
  const r = current();
  const s = r?.summary;
  membersButton.hidden = !s || s.kind === 'dm';
  const label = membersButton.querySelector('.label-wide');
  if (label) label.textContent = r && moderates(r.id) ? 'Moderate' : 'Members';
  if (dialog.open && r) fill(r.id);
}

/* ------------------------------------------------------------------ the dialog */

const dialog = /** @type {HTMLDialogElement} */ (h('dialog', {
  cls: 'modal modal-wide',
  attrs: { id: 'dlg-roommod', 'aria-labelledby': 'dlg-roommod-title' },
}));
const status = h('p', { cls: 'field-hint', attrs: { id: 'roommod-status', role: 'status' } });
const body = h('div', { cls: 'roommod-body' });
const done = h('button', { cls: 'btn btn-primary', text: 'Done', attrs: { type: 'button' } });
dialog.append(h('div', {
  cls: 'modal-body',
  children: [
    h('h2', { text: 'Members', attrs: { id: 'dlg-roommod-title' } }),
    status,
    body,
    h('div', { cls: 'dialog-actions', children: [done] }),
  ],
}));
document.body.append(dialog);
done.addEventListener('click', () => dialog.close());
dialog.addEventListener('click', (e) => {
  if (e.target === dialog) dialog.close();
});

membersButton.addEventListener('click', async () => {
  const r = current();
  if (!r) return;
  status.textContent = '';
  fill(r.id);
  openDialog(dialog, done);
  await load(r.id);
});

/**
 * Builds the dialog for room `id`.
 * @param {number} id
 */
function fill(id) {
  const s = room(id)?.summary;
  const mod = info.get(id);
  $('dlg-roommod-title').textContent = `Members of ${s ? roomLabel(s) : 'this room'}`;
  const parts = [];
  if (mod?.canModerate) parts.push(slowControl(id, Number(s?.slow_mode_secs || 0)));
  const members = mod?.members || [];
  parts.push(h('ul', {
    cls: 'member-list roommod-members',
    attrs: { 'aria-label': 'Members' },
    children: members.map((m) => memberRow(id, m, mod, s?.created_by || null)),
  }));
  body.replaceChildren(...parts);
}

/**
 * @param {number} id
 * @param {number} secs
 */
function slowControl(id, secs) {
  const select = /** @type {HTMLSelectElement} */ (h('select', {
    attrs: { id: 'roommod-slow' },
    children: SLOW_CHOICES.map(([v, t]) => h('option', { text: String(t), attrs: { value: String(v) } })),
  }));
  select.value = String(SLOW_CHOICES.some(([v]) => v === secs) ? secs : 0);
  select.addEventListener('change', async () => {
    const want = Number(select.value);
    try {
      const r = await api(`/rooms/${id}`, { method: 'PATCH', body: { slow_mode_secs: want } });
      if (r && Number.isInteger(r.id)) mergeSummary(r);
      emit('rooms');
      status.textContent = want ? `Slow mode is on: 1 message per ${slowText(want)}.` : 'Slow mode is off.';
    } catch (e) {
      if (!authFailed(e)) status.textContent = `Could not change slow mode: ${e.message}`;
    }
  });
  return h('div', {
    cls: 'field',
    children: [h('label', { text: 'Slow mode (one message per member per…)', attrs: { for: 'roommod-slow' } }), select],
  });
}

/**
 * @param {number} id
 * @param {{username: string, role?: string, muted_until?: string|null}} m
 * @param {ModInfo|undefined} mod
 * @param {string|null} creator
 */
function memberRow(id, m, mod, creator) {
  const name = m.username;
  const isCreator = creator === name;
  const isMod = isCreator || m.role === 'moderator';
  const until = m.muted_until ? parseTime(m.muted_until) : null;
  const muted = !!until && until.getTime() > Date.now();
  const children = [
    avatar(name),
    h('span', { cls: 'member-name', text: name }),
    isMod ? h('span', { cls: 'roommod-badge', text: isCreator ? 'creator' : 'moderator' }) : null,
    muted ? h('span', { cls: 'muted roommod-muted', text: `muted until ${formatTime(until)}` }) : null,
  ];
  if (mod?.canModerate && !isMe(name) && !isMod) {
    if (muted) {
      children.push(act(`Unmute`, `Unmute ${name}`, () => api(`/rooms/${id}/mutes/${encodeURIComponent(name)}`, { method: 'DELETE' }), `${name} can post again.`, id));
    } else {
      const pick = /** @type {HTMLSelectElement} */ (h('select', {
        cls: 'roommod-duration',
        attrs: { 'aria-label': `How long to mute ${name}` },
        children: MUTE_CHOICES.map(([v, t]) => h('option', { text: t, attrs: { value: v } })),
      }));
      children.push(pick, act('Mute', `Mute ${name}`, () => api(`/rooms/${id}/mutes`, { method: 'POST', body: { user: name, for: pick.value } }), `${name} is muted in this room.`, id));
    }
    if (room(id)?.summary?.kind === 'private') {
      children.push(act('Remove', `Remove ${name} from this room`, () => api(`/rooms/${id}/members/${encodeURIComponent(name)}`, { method: 'DELETE' }), `${name} was removed.`, id));
    }
  }
  if (mod?.canName && !isCreator && !isMe(name)) {
    const naming = m.role !== 'moderator';
    const path = `/rooms/${id}/moderators/${encodeURIComponent(name)}`;
    children.push(act(naming ? 'Make moderator' : 'Unmake moderator', naming ? `Make moderator ${name}` : `Unmake moderator ${name}`,
      () => api(path, { method: naming ? 'PUT' : 'DELETE' }), naming ? `${name} moderates this room.` : `${name} no longer moderates this room.`, id));
  }
  return h('li', { cls: 'member', attrs: { 'data-user': name }, children });
}

/**
 * A member's action button: runs `call`, says `done`, and reloads the list.
 * @param {string} text
 * @param {string} label
 * @param {() => Promise<any>} call
 * @param {string} doneText
 * @param {number} id
 */
function act(text, label, call, doneText, id) {
  const b = /** @type {HTMLButtonElement} */ (h('button', {
    cls: 'btn btn-small btn-ghost roommod-act',
    text,
    attrs: { type: 'button', 'aria-label': label },
  }));
  b.addEventListener('click', async () => {
    b.disabled = true;
    try {
      await call();
      status.textContent = doneText;
      await load(id);
      done.focus();
    } catch (e) {
      b.disabled = false;
      if (!authFailed(e)) status.textContent = `${label} failed: ${e.message}`;
    }
  });
  return b;
}

/** Forgets everything at sign-out. */
export function resetRoomMod() {
  info.clear();
  mutedIn.clear();
  waitUntil.clear();
  if (dialog.open) dialog.close();
  tick();
}
