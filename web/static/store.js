/* The chat app's shared state: the signed-in user, every conversation the user is in (with its
   loaded messages), the selection and presence. Screens subscribe to its events instead of calling
   each other, so sidebar, conversation and dialogs stay independent modules. */

/**
 * A conversation as the server summarises it (`GET /rooms`, `rooms` and `room` frames).
 * @typedef {object} RoomSummary
 * @property {number} id
 * @property {'public'|'private'|'dm'} kind
 * @property {string|null} name
 * @property {string|null} [topic]
 * @property {string[]} [people]   DMs: the other members
 * @property {number} [members]
 * @property {number} [last_message_id]
 * @property {number} [last_read_id]
 * @property {number} [unread]
 * @property {number} [mentions]
 * @property {'all'|'mentions'|'none'} [notify]
 * @property {boolean} [archived]
 * @property {boolean} [joined]
 * @property {string|null} [created_by]
 * @property {number} [slow_mode_secs]  one message per this many seconds per member (0: off)
 * @property {boolean} [moderator]  the reader created it or was named its moderator
 * @property {{username: string, joined_at?: string, role?: string, muted_until?: string|null}[]} [member_list]  only from `GET /rooms/{id}`
 */

/**
 * A chat message as the server sends it (a `message` frame or a history entry).
 * @typedef {object} MessageData
 * @property {number} id
 * @property {number} [room]
 * @property {string} user
 * @property {string} text
 * @property {string} timestamp
 * @property {string[]} [mentions]
 * @property {number|null} [reply_to]   the message this one answers (same conversation)
 * @property {string|null} [edited_at]  set once the text was edited
 * @property {Reaction[]} [reactions]   from history (REST); frames send them as `reactions` frames
 */

/**
 * One emoji's reactions on a message.
 * @typedef {object} Reaction
 * @property {string} emoji
 * @property {number} count
 * @property {string[]} users
 */

/**
 * A message as the app keeps it.
 * @typedef {object} Message
 * @property {number} id
 * @property {number} room
 * @property {string} user
 * @property {string} text
 * @property {Date} date
 * @property {string[]} mentions
 * @property {number|null} replyTo
 * @property {Date|null} editedAt
 * @property {Reaction[]} reactions
 * @property {HTMLElement} [el]  its rendered element, built once (rebuilt when it changes)
 */

/**
 * @typedef {object} Me
 * @property {string} username
 * @property {boolean} [is_admin]
 * @property {boolean} [is_blocked]
 * @property {number} [strikes]  moderation strikes that count now
 * @property {string} [next_step]  what the next strike does: warn, mute:10m or block
 * @property {string|null} [muted_until]  the end of a running account mute
 */

/** @typedef {'idle'|'loading'|'done'|'error'} HistoryState */

/** Room `general`: public, always there, the room of clients that name none. */
export const GENERAL_ID = 1;

/** One conversation: its summary (null until the server described it) and its loaded messages. */
export class Room {
  /** @param {number} id */
  constructor(id) {
    this.id = id;
    /** @type {RoomSummary|null} */
    this.summary = null;
    /** @type {Map<number, Message>} */
    this.messages = new Map();
    /** @type {number|null} */
    this.oldestId = null;
    /** @type {number|null} */
    this.newestId = null;
    /** @type {HistoryState} */
    this.historyState = 'idle';
    /** Whether the newest page of history is here (from the socket's first burst or REST). */
    this.loaded = false;
    /** Ids of messages deleted while this page was open: replies to them quote "deleted message". */
    this.deleted = new Set();
  }
}

export const state = {
  /** @type {Me|null} */
  me: null,
  /** @type {Map<number, Room>} */
  rooms: new Map(),
  /** @type {number|null} the open conversation */
  selected: null,
  /** @type {Set<string>} */
  online: new Set(),
  /** online users the presence frame counted but did not name */
  unlisted: 0,
  /** true until the first `rooms` frame of this session arrived */
  awaitingRooms: true,
};

/** @param {string|null|undefined} name */
export function isMe(name) {
  return !!state.me && String(name).toLowerCase() === String(state.me.username).toLowerCase();
}

/** @param {number} id */
export function room(id) {
  let r = state.rooms.get(id);
  if (!r) {
    r = new Room(id);
    state.rooms.set(id, r);
  }
  return r;
}

/** The open conversation, if any. */
export function current() {
  return state.selected === null ? null : state.rooms.get(state.selected) || null;
}

/**
 * How a conversation is called in lists and titles: `general`, or a DM's other members.
 * @param {RoomSummary|null} s
 */
export function roomLabel(s) {
  if (!s) return 'Conversation';
  if (s.kind === 'dm') {
    const people = Array.isArray(s.people) ? [...s.people].sort((a, b) => a.localeCompare(b)) : [];
    return people.length ? people.join(', ') : 'Only you';
  }
  return s.name || `Room ${s.id}`;
}

/** @param {MessageData} data */
export function toMessage(data) {
  return {
    id: Number(data.id),
    room: Number.isInteger(data.room) ? data.room : GENERAL_ID,
    user: String(data.user ?? ''),
    text: String(data.text ?? ''),
    date: parseDate(data.timestamp),
    mentions: Array.isArray(data.mentions) ? data.mentions.map(String) : [],
    replyTo: Number.isInteger(data.reply_to) ? data.reply_to : null,
    editedAt: data.edited_at ? parseDate(data.edited_at) : null,
    reactions: toReactions(data.reactions),
  };
}

/**
 * The reactions as the server lists them, keeping only well-formed entries.
 * @param {unknown} list
 * @returns {Reaction[]}
 */
export function toReactions(list) {
  if (!Array.isArray(list)) return [];
  return list.filter((r) => r && typeof r.emoji === 'string' && Array.isArray(r.users))
    .map((r) => ({ emoji: r.emoji, users: r.users.map(String), count: Number.isInteger(r.count) ? r.count : r.users.length }))
    .filter((r) => r.count > 0);
}

/** @param {string} iso */
function parseDate(iso) {
  const d = new Date(iso);
  return Number.isNaN(d.getTime()) ? new Date() : d;
}

/** @param {Message} m */
export function mentionsMe(m) {
  return m.mentions.some((u) => isMe(u));
}

/* ------------------------------------------------------------------ events */

/**
 * rooms:    the list or a summary changed (badges, names, membership)
 * select:   another conversation was opened (detail: its id or null)
 * message:  a message was stored (detail: { message, live })
 * presence: who is online changed
 * @typedef {'rooms'|'select'|'message'|'presence'} EventName
 */

/** @type {Map<EventName, Set<(detail: any) => void>>} */
const listeners = new Map();

/**
 * @param {EventName} name
 * @param {(detail: any) => void} fn
 */
export function on(name, fn) {
  if (!listeners.has(name)) listeners.set(name, new Set());
  listeners.get(name).add(fn);
}

/**
 * @param {EventName} name
 * @param {any} [detail]
 */
export function emit(name, detail) {
  for (const fn of listeners.get(name) || []) fn(detail);
}

/* ------------------------------------------------------------------ changes */

/**
 * Opens a conversation (null: none).
 * @param {number|null} id
 */
export function select(id) {
  state.selected = id;
  emit('select', id);
}

/**
 * Stores a summary from the server, keeping fields it did not send.
 * @param {RoomSummary} s
 */
export function mergeSummary(s) {
  const r = room(Number(s.id));
  const { member_list: _members, ...rest } = s;
  r.summary = { ...(r.summary || {}), ...rest };
  return r;
}

/**
 * Forgets a conversation the user left or was removed from; opens another if it was open.
 * @param {number} id
 */
export function removeRoom(id) {
  if (!state.rooms.delete(id)) return;
  if (state.selected === id) select(fallbackRoom());
  emit('rooms');
}

/** The conversation to open when none is chosen: `general`, else the first one listed. */
export function fallbackRoom() {
  const known = [...state.rooms.values()].filter((r) => r.summary);
  if (known.some((r) => r.id === GENERAL_ID)) return GENERAL_ID;
  const ordered = sortRooms(known);
  return ordered.length ? ordered[0].id : null;
}

/**
 * Sidebar order: rooms by name, then DMs newest activity first.
 * @param {Room[]} list
 */
export function sortRooms(list) {
  const rooms = list.filter((r) => r.summary.kind !== 'dm')
    .sort((a, b) => roomLabel(a.summary).localeCompare(roomLabel(b.summary)));
  const dms = list.filter((r) => r.summary.kind === 'dm')
    .sort((a, b) => (b.summary.last_message_id || 0) - (a.summary.last_message_id || 0) || a.id - b.id);
  return [...rooms, ...dms];
}

/**
 * The read marker moved (here or on another device): recount what is still unread.
 * @param {number} id
 * @param {number} messageId
 */
export function applyRead(id, messageId) {
  const r = state.rooms.get(id);
  if (!r || !r.summary) return;
  const s = r.summary;
  s.last_read_id = Math.max(s.last_read_id || 0, messageId);
  if (s.last_read_id >= (s.last_message_id || 0)) {
    s.unread = 0;
    s.mentions = 0;
  } else if (r.oldestId !== null && r.oldestId <= s.last_read_id) {
    // Everything after the marker is loaded, so it can be counted here.
    let unread = 0;
    let mentions = 0;
    for (const m of r.messages.values()) {
      if (m.id <= s.last_read_id || isMe(m.user)) continue;
      unread += 1;
      if (mentionsMe(m)) mentions += 1;
    }
    s.unread = unread;
    s.mentions = mentions;
  }
  emit('rooms');
}
