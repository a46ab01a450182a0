/* Browser notifications (the Notification API) while the tab is hidden, for direct messages and
   mentions of the reader, respecting each conversation's level: "none" never notifies,
   "mentions" only for a mention, "all" for every DM message and every mention. Permission is only
   asked from the "Enable notifications" button, never on page load. */

import { $, $button } from './ui.js';
import { state, on, isMe, mentionsMe, roomLabel, select } from './store.js';

/** @typedef {import('./store.js').Message} Message */

const supported = typeof window.Notification === 'function';
const button = $button('enable-notifications');
const note = $('notifications-note');

function render() {
  const permission = supported ? Notification.permission : 'denied';
  button.hidden = !supported || permission !== 'default';
  note.hidden = !supported || permission !== 'denied';
  note.textContent = 'Notifications are blocked in this browser’s settings.';
}

button.addEventListener('click', async () => {
  if (!supported) return;
  try {
    await Notification.requestPermission();
  } catch {
    /* an old browser with the callback form: the state is read below either way */
  }
  render();
});

/**
 * Whether this message deserves a notification by its conversation's level.
 * @param {Message} m
 */
export function wantsNotification(m) {
  const r = state.rooms.get(m.room);
  const s = r?.summary;
  if (!s || isMe(m.user)) return false;
  const level = s.notify || 'all';
  const mentioned = mentionsMe(m);
  if (level === 'none') return false;
  if (level === 'mentions') return mentioned;
  return mentioned || s.kind === 'dm';
}

/** @param {Message} m */
function show(m) {
  if (!wantsNotification(m)) return;
  const s = state.rooms.get(m.room)?.summary;
  const title = s?.kind === 'dm' ? m.user : `${m.user} in ${roomLabel(s)}`;
  try {
    const n = new Notification(title, { body: m.text.slice(0, 200), tag: `room-${m.room}` });
    n.addEventListener('click', () => {
      window.focus();
      select(m.room);
      n.close();
    });
  } catch {
    /* some browsers only allow notifications from a service worker: nothing to do */
  }
}

/** Messages of conversations not described yet (a DM that just came back): decided once they are. */
/** @type {Message[]} */
let waiting = [];

on('message', (/** @type {{message: Message, live: boolean}} */ { message: m, live }) => {
  if (!live || !document.hidden || !supported || Notification.permission !== 'granted') return;
  if (state.rooms.get(m.room)?.summary) show(m);
  else if (waiting.length < 20) waiting.push(m);
});

on('rooms', () => {
  if (!waiting.length) return;
  const ready = waiting.filter((m) => state.rooms.get(m.room)?.summary);
  waiting = waiting.filter((m) => !ready.includes(m) && state.rooms.has(m.room));
  for (const m of ready) show(m);
});

render();
