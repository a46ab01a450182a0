/* The conversation dialogs: create a room (public or private), browse the directory of public
   rooms and join one, start a DM (picked from who is online or found with GET /users?q=), and add
   people to a private room. Each ends by opening the conversation it made or joined. */

import { api, ApiError, h, charCount } from './api.js';
import {
  $, $input, $dialog, $button, announce, authFailed, openDialog, formBanner, fieldError, avatar,
} from './ui.js';
import { state, room, isMe, select, mergeSummary, roomLabel, emit } from './store.js';
import { moderates } from './roommod.js';

/** @typedef {import('./store.js').RoomSummary} RoomSummary */

const SEARCH_DELAY_MS = 200;

/**
 * Keeps a conversation the server just described and opens it.
 * @param {RoomSummary} s
 * @param {boolean} [empty] a room made just now: it has no history to load
 */
function adopt(s, empty = false) {
  const r = mergeSummary(s);
  if (empty && !r.loaded) {
    r.loaded = true;
    r.historyState = 'done';
  }
  emit('rooms');
  select(r.id);
  return r;
}

/**
 * Usernames starting with `q` (never the reader).
 * @param {string} q
 * @returns {Promise<string[]>}
 */
async function findUsers(q) {
  const list = await api(`/users?q=${encodeURIComponent(q)}`);
  return (Array.isArray(list) ? list : []).map((u) => String(u.username ?? u)).filter((u) => !isMe(u));
}

/**
 * A "find people" box: a moment after the last keystroke, `show` gets the matching usernames
 * (none for an empty box) and `status` says how many; answers to older queries are dropped.
 * @param {HTMLInputElement} input
 * @param {HTMLElement} status
 * @param {(names: string[]) => void} show
 */
function userSearch(input, status, show) {
  let timer = 0;
  input.addEventListener('input', () => {
    clearTimeout(timer);
    timer = window.setTimeout(async () => {
      const q = input.value.trim();
      if (!q) {
        status.textContent = '';
        show([]);
        return;
      }
      try {
        const found = await findUsers(q);
        if (input.value.trim() !== q) return;
        status.textContent = found.length ? `${found.length} found` : 'Nobody found.';
        show(found);
      } catch (e) {
        if (!authFailed(e)) status.textContent = `Search failed: ${e.message}`;
      }
    }, SEARCH_DELAY_MS);
  });
}

/* ------------------------------------------------------------------ create a room */

const createDialog = $dialog('dlg-create-room');
const createForm = $('form-create-room');
const createName = $input('create-room-name');
const createTopic = $input('create-room-topic');

export function openCreateRoom() {
  if (directoryDialog.open) directoryDialog.close();
  /** @type {HTMLFormElement} */ (createForm).reset();
  formBanner(createForm);
  fieldError(createName);
  fieldError(createTopic);
  openDialog(createDialog, createName);
}

createForm.addEventListener('submit', async (e) => {
  e.preventDefault();
  formBanner(createForm);
  fieldError(createName);
  fieldError(createTopic);
  const name = createName.value.trim();
  const topic = createTopic.value.trim();
  const checked = /** @type {HTMLInputElement|null} */ (createForm.querySelector('input[name=visibility]:checked'));
  const visibility = checked ? checked.value : 'public';
  if (!name) {
    fieldError(createName, 'Enter a name for the room.');
    createName.focus();
    return;
  }
  if (charCount(name) > 40) {
    fieldError(createName, 'The name can have at most 40 characters.');
    createName.focus();
    return;
  }
  const submit = /** @type {HTMLButtonElement} */ (createForm.querySelector('button[type=submit]'));
  submit.disabled = true;
  try {
    /** @type {{name: string, visibility: string, topic?: string}} */
    const body = { name, visibility };
    if (topic) body.topic = topic;
    const s = await api('/rooms', { method: 'POST', body });
    createDialog.close('ok');
    adopt(s, true);
    announce(`Room ${roomLabel(s)} created.`);
    $('composer-input').focus();
  } catch (err) {
    if (authFailed(err)) return;
    if (err instanceof ApiError && (err.status === 409 || err.field === 'name')) {
      fieldError(createName, err.status === 409 ? `A room called “${name}” already exists.` : err.detail);
      createName.focus();
    } else if (err instanceof ApiError && err.field === 'topic') {
      fieldError(createTopic, err.detail);
      createTopic.focus();
    } else {
      formBanner(createForm, err.message);
    }
  } finally {
    submit.disabled = false;
  }
});

/* ------------------------------------------------------------------ directory */

const directoryDialog = $dialog('dlg-directory');
const directoryFilter = $input('directory-filter');
/** @type {{id: number, name: string, topic?: string|null, members?: number, joined?: boolean, archived?: boolean}[]} */
let directory = [];

export async function openDirectory() {
  directoryFilter.value = '';
  directory = [];
  renderDirectory();
  $('directory-status').textContent = 'Loading rooms…';
  openDialog(directoryDialog, directoryFilter);
  try {
    const list = await api('/rooms/directory');
    directory = Array.isArray(list) ? list : [];
    $('directory-status').textContent = '';
    renderDirectory();
  } catch (e) {
    if (!authFailed(e)) $('directory-status').textContent = `The rooms could not be loaded: ${e.message}`;
  }
}

function renderDirectory() {
  const q = directoryFilter.value.trim().toLowerCase();
  const shown = directory.filter((d) => !q || String(d.name).toLowerCase().includes(q)
    || String(d.topic || '').toLowerCase().includes(q));
  $('directory-list').replaceChildren(...shown.map((d) => {
    const joined = !!d.joined || !!state.rooms.get(d.id)?.summary;
    const action = h('button', {
      cls: `btn btn-small ${joined ? 'btn-secondary' : 'btn-primary'}`,
      text: joined ? 'Open' : 'Join',
      attrs: { type: 'button', 'aria-label': `${joined ? 'Open' : 'Join'} ${d.name}`, disabled: !joined && d.archived },
    });
    action.addEventListener('click', () => joinRoom(d.id, joined, action));
    const members = Number.isInteger(d.members) ? `${d.members} member${d.members === 1 ? '' : 's'}` : '';
    return h('li', {
      cls: 'pick',
      attrs: { 'data-room-id': d.id },
      children: [
        h('div', {
          cls: 'pick-main',
          children: [
            h('span', { cls: 'pick-name', text: `# ${d.name}` }),
            d.topic ? h('span', { cls: 'pick-hint muted', text: d.topic }) : null,
            h('span', { cls: 'pick-hint muted', text: [members, d.archived ? 'archived' : ''].filter(Boolean).join(' · ') }),
          ],
        }),
        action,
      ],
    });
  }));
  if (directory.length && !shown.length) $('directory-status').textContent = 'No room matches.';
  else if (directory.length) $('directory-status').textContent = `${shown.length} room${shown.length === 1 ? '' : 's'}`;
}

directoryFilter.addEventListener('input', renderDirectory);
$('directory-create').addEventListener('click', () => openCreateRoom());

/**
 * @param {number} id
 * @param {boolean} joined
 * @param {HTMLButtonElement} button
 */
async function joinRoom(id, joined, button) {
  if (joined && state.rooms.get(id)?.summary) {
    directoryDialog.close();
    select(id);
    return;
  }
  button.disabled = true;
  try {
    const s = await api(`/rooms/${id}/join`, { method: 'POST' });
    directoryDialog.close('ok');
    adopt(s);
    announce(`You joined ${roomLabel(s)}.`);
    $('composer-input').focus();
  } catch (e) {
    if (authFailed(e)) return;
    button.disabled = false;
    $('directory-status').textContent = `Could not join: ${e.message}`;
  }
}

/* ------------------------------------------------------------------ direct messages */

const dmDialog = $dialog('dlg-dm');
const dmForm = $('form-dm');
const dmSearch = $input('dm-search');
/** @type {Set<string>} */
const picked = new Set();

/**
 * A person to pick: a toggle button (pressed = in the conversation).
 * @param {string} name
 */
function pickButton(name) {
  const on = picked.has(name);
  const b = h('button', {
    cls: 'pick-person',
    attrs: { type: 'button', 'aria-pressed': String(on), 'data-user': name },
    children: [avatar(name), h('span', { cls: 'pick-name', text: name }), h('span', { cls: 'pick-check', text: on ? '✓' : '', attrs: { 'aria-hidden': 'true' } })],
  });
  b.addEventListener('click', () => {
    if (picked.has(name)) picked.delete(name);
    else if (picked.size < 8) picked.add(name);
    else announce('A direct message can have at most 8 other people.');
    renderDmPicks();
  });
  return h('li', { children: [b] });
}

/** @type {string[]} */
let dmResults = [];

function renderDmPicks() {
  const focused = /** @type {HTMLElement|null} */ (document.activeElement);
  const focusUser = focused?.dataset?.user;
  const focusList = focused?.closest('ul')?.id;
  $('dm-results').replaceChildren(...dmResults.map(pickButton));
  const others = [...state.online].filter((u) => !isMe(u)).sort((a, b) => a.localeCompare(b));
  $('dm-online').replaceChildren(...others.map(pickButton));
  $('dm-online-title').hidden = others.length === 0;
  const names = [...picked];
  $('dm-selected').textContent = names.length ? `With: ${names.join(', ')}` : 'Nobody selected yet.';
  $button('dm-start').disabled = names.length === 0;
  if (focusUser && focusList) {
    /** @type {HTMLElement|null} */ (document.querySelector(`#${focusList} [data-user="${CSS.escape(focusUser)}"]`))?.focus();
  }
}

/**
 * Opens the DM dialog, with `preset` already picked.
 * @param {string[]} [preset]
 */
export function openDm(preset = []) {
  picked.clear();
  for (const p of preset) picked.add(p);
  dmResults = [];
  dmSearch.value = '';
  $('dm-search-status').textContent = '';
  formBanner(dmForm);
  renderDmPicks();
  openDialog(dmDialog, dmSearch);
}

userSearch(dmSearch, $('dm-search-status'), (found) => {
  dmResults = found;
  renderDmPicks();
});

dmForm.addEventListener('submit', async (e) => {
  e.preventDefault();
  if (!picked.size) return;
  const ok = await startDm([...picked], dmForm);
  if (ok) dmDialog.close('ok');
});

/**
 * Opens (creating if needed) the DM with these people.
 * @param {string[]} usernames
 * @param {HTMLElement} [form] where to show an error; none: announce it
 * @returns {Promise<boolean>}
 */
export async function startDm(usernames, form) {
  try {
    const s = await api('/dms', { method: 'POST', body: { usernames } });
    if (dmDialog.open) dmDialog.close('ok');
    adopt(s);
    $('composer-input').focus();
    return true;
  } catch (err) {
    if (authFailed(err)) return false;
    const text = `Could not start the conversation: ${err.message}`;
    if (form) formBanner(form, text);
    else announce(text);
    return false;
  }
}

/* ------------------------------------------------------------------ add people */

const addDialog = $dialog('dlg-add-people');
const addForm = $('form-add-people');
const addSearch = $input('add-people-search');
let addRoomId = 0;
/** @type {string[]} */
let members = [];
/** @type {string[]} */
let addResults = [];

/** @param {number} id a private room */
export async function openAddPeople(id) {
  addRoomId = id;
  members = [];
  addResults = [];
  addSearch.value = '';
  $('add-people-status').textContent = '';
  formBanner(addForm);
  $('dlg-add-people-title').textContent = `Add people to ${roomLabel(room(id).summary)}`;
  renderAdd();
  openDialog(addDialog, addSearch);
  try {
    /** @type {RoomSummary} */
    const s = await api(`/rooms/${id}`);
    members = (Array.isArray(s?.member_list) ? s.member_list : []).map((m) => String(m.username));
    renderAdd();
  } catch (e) {
    if (!authFailed(e)) formBanner(addForm, `The member list could not be loaded: ${e.message}`);
  }
}

function renderAdd() {
  const lower = new Set(members.map((m) => m.toLowerCase()));
  $('add-people-results').replaceChildren(...addResults.map((name) => {
    const member = lower.has(name.toLowerCase());
    const b = h('button', {
      cls: 'btn btn-small btn-secondary',
      text: member ? 'Member' : 'Add',
      attrs: { type: 'button', 'aria-label': member ? `${name} is a member` : `Add ${name}`, disabled: member },
    });
    b.addEventListener('click', () => addMember(name, b));
    return h('li', { cls: 'pick', children: [avatar(name), h('span', { cls: 'pick-name', text: name }), b] });
  }));
  // The room's creator and admins may remove people (the server checks it again).
  const s = room(addRoomId).summary;
  const mayRemove = !!state.me && (!!state.me.is_admin || isMe(s?.created_by) || moderates(addRoomId));
  $('add-people-members').replaceChildren(...members.map((name) => h('li', {
    cls: 'member',
    children: [
      avatar(name),
      h('span', { cls: 'member-name', text: name }),
      isMe(name) ? h('span', { cls: 'muted', text: '(you)' }) : null,
      mayRemove && !isMe(name) ? removeButton(name) : null,
    ],
  })));
}

/** @param {string} name */
function removeButton(name) {
  const b = h('button', {
    cls: 'btn btn-small btn-ghost member-remove',
    text: 'Remove',
    attrs: { type: 'button', 'aria-label': `Remove ${name}` },
  });
  b.addEventListener('click', () => removeMember(name, b));
  return b;
}

/**
 * @param {string} name
 * @param {HTMLButtonElement} button
 */
async function removeMember(name, button) {
  button.disabled = true;
  formBanner(addForm);
  try {
    await api(`/rooms/${addRoomId}/members/${encodeURIComponent(name)}`, { method: 'DELETE' });
    members = members.filter((m) => m !== name);
    renderAdd();
    $('add-people-status').textContent = `${name} was removed.`;
    addSearch.focus();
  } catch (e) {
    if (authFailed(e)) return;
    button.disabled = false;
    formBanner(addForm, `Could not remove ${name}: ${e.message}`);
  }
}

userSearch(addSearch, $('add-people-status'), (found) => {
  addResults = found;
  renderAdd();
});

addForm.addEventListener('submit', (e) => e.preventDefault());

/**
 * @param {string} name
 * @param {HTMLButtonElement} button
 */
async function addMember(name, button) {
  button.disabled = true;
  formBanner(addForm);
  try {
    const s = await api(`/rooms/${addRoomId}/members`, { method: 'POST', body: { username: name } });
    if (s && Number.isInteger(s.id)) {
      mergeSummary(s);
      emit('rooms');
    }
    members = [...members, name].sort((a, b) => a.localeCompare(b));
    renderAdd();
    $('add-people-status').textContent = `${name} was added.`;
    addSearch.focus();
  } catch (e) {
    if (authFailed(e)) return;
    button.disabled = false;
    formBanner(addForm, `Could not add ${name}: ${e.message}`);
  }
}
