/* Who is online (presence stays global): the list beside the conversation, a phone popover, and
   a "Message" button per person that opens a DM with them. */

import { h } from './api.js';
import { $, avatar } from './ui.js';
import { state, on, isMe } from './store.js';
import { startDm } from './dialogs.js';

const toggle = $('people-toggle');

function render() {
  const list = $('people-list');
  // Rebuilt on every join and leave: a keyboard user's focus must survive that.
  const focused = /** @type {HTMLElement|null} */ (document.activeElement?.closest('#people-list [data-user]') || null);
  const names = [...state.online].sort((a, b) => a.localeCompare(b));
  list.replaceChildren(...names.map((name) => {
    let dm = null;
    if (!isMe(name)) {
      dm = h('button', {
        cls: 'btn btn-ghost btn-icon person-dm',
        attrs: { type: 'button', title: `Message ${name}`, 'aria-label': `Message ${name}`, 'data-user': name },
        children: [h('span', { cls: 'person-dm-icon', text: '✉', attrs: { 'aria-hidden': 'true' } })],
      });
      dm.addEventListener('click', () => {
        closePeople(false);
        startDm([name]);
      });
    }
    return h('li', {
      cls: 'person',
      children: [
        avatar(name),
        h('span', { cls: 'person-name', text: name }),
        isMe(name) ? h('span', { cls: 'person-you', text: '(you)' }) : null,
        dm,
      ],
    });
  }));
  if (state.unlisted > 0) list.append(h('li', { cls: 'person person-more', text: `and ${state.unlisted} more` }));
  if (focused && !focused.isConnected) {
    /** @type {HTMLElement|null} */ (list.querySelector(`[data-user="${CSS.escape(focused.dataset.user)}"]`))?.focus();
  }
  const count = String(names.length + state.unlisted);
  $('people-count').textContent = count;
  $('people-toggle-count').textContent = count;
}

on('presence', render);

toggle.addEventListener('click', () => {
  const open = toggle.getAttribute('aria-expanded') !== 'true';
  toggle.setAttribute('aria-expanded', String(open));
  $('people').classList.toggle('open', open);
});

/** @param {boolean} [focusToggle] */
function closePeople(focusToggle = true) {
  if (toggle.getAttribute('aria-expanded') !== 'true') return;
  toggle.setAttribute('aria-expanded', 'false');
  $('people').classList.remove('open');
  if (focusToggle) toggle.focus();
}

document.addEventListener('keydown', (e) => {
  if (e.key === 'Escape' && !document.querySelector('dialog[open]')) closePeople();
});

/** @param {boolean} stale presence is only known while connected */
export function setPeopleStale(stale) {
  $('people').classList.toggle('stale', stale);
}
