// @ts-check
/**
 * The dashboard's part of users' standing: the audit log's filters (action, user) and the words
 * for every audited act, and the users table's mute state with its Mute (a duration choice) and
 * Unmute buttons. admin.js draws the tables and calls these.
 */

import { api, h, parseTime, formatTime, formatFull } from './api.js';
import { $, $input } from './ui.js';

/** Every action of the audit log: its label and badge kind. */
const LABELS = {
  warning: ['Warning', 'warning'],
  mute: ['Muted', 'warning'],
  unmute: ['Unmuted', 'success'],
  block: ['Blocked', 'danger'],
  unblock: ['Unblocked', 'success'],
  delete: ['Deleted a message', 'muted'],
  report: ['Report decided', 'accent'],
  appeal: ['Appeal', 'accent'],
  terms: ['Term list', 'muted'],
  moderator: ['Moderator', 'accent'],
  slow_mode: ['Slow mode', 'muted'],
};

/**
 * @param {string} action
 * @returns {[string, string]} label and badge kind
 */
export function actionLabel(action) {
  const found = /** @type {Record<string, string[]>} */ (LABELS)[action];
  return found ? [found[0], found[1]] : [action, 'muted'];
}

/** The query string of the audit filters (`&action=...&user=...`), empty when none is set. */
export function auditQuery() {
  const action = /** @type {HTMLSelectElement|null} */ (document.getElementById('audit-action'))?.value || '';
  const user = /** @type {HTMLInputElement|null} */ (document.getElementById('audit-user'))?.value.trim() || '';
  let q = '';
  if (action) q += `&action=${encodeURIComponent(action)}`;
  if (user) q += `&user=${encodeURIComponent(user)}`;
  return q;
}

/**
 * Calls `reload` when an audit filter changes (the user box: on Enter or when it loses focus).
 * @param {() => void} reload
 */
export function watchAuditFilters(reload) {
  const action = document.getElementById('audit-action');
  const user = document.getElementById('audit-user');
  action?.addEventListener('change', reload);
  user?.addEventListener('change', reload);
}

/**
 * What an audit row adds beyond term, text and reason: a strike, a mute's end, the room and the
 * message concerned.
 * @param {{strike?: boolean, until?: string|null, room_id?: number|null, message_id?: number|null}} v
 * @returns {HTMLElement[]}
 */
export function auditExtra(v) {
  /** @type {HTMLElement[]} */
  const out = [];
  if (v.strike) out.push(h('span', { cls: 'badge badge-warning', text: 'strike' }));
  if (v.until) {
    const until = parseTime(v.until);
    out.push(h('div', {
      cls: 'audit-until',
      children: [
        document.createTextNode('Until '),
        h('time', { text: formatFull(until), attrs: { datetime: until.toISOString() } }),
      ],
    }));
  }
  const where = [];
  if (v.room_id) where.push(`room #${v.room_id}`);
  if (v.message_id) where.push(`message #${v.message_id}`);
  if (where.length) out.push(h('div', { cls: 'muted', text: where.join(', ') }));
  return out;
}

/**
 * "Muted until 14:05" for a muted account, else null.
 * @param {{muted_until?: string|null}} u
 */
export function mutedNote(u) {
  if (!u.muted_until) return null;
  const until = parseTime(u.muted_until);
  if (until.getTime() <= Date.now()) return null;
  return h('span', {
    cls: 'badge badge-warning',
    text: `Muted until ${formatTime(until)}`,
    attrs: { title: `Muted until ${formatFull(until)}` },
  });
}

/** @type {HTMLDialogElement|null} */
let dialog = null;

/** The mute dialog: a duration choice and an optional reason (made once). */
function muteDialog() {
  if (dialog) return dialog;
  const select = h('select', {
    attrs: { id: 'mute-for', name: 'for' },
    children: [['10m', '10 minutes'], ['1h', '1 hour'], ['24h', '24 hours'], ['7d', '7 days']].map(([value, text]) =>
      h('option', { text, attrs: { value } })),
  });
  /** @type {HTMLSelectElement} */ (select).value = '1h';
  dialog = /** @type {HTMLDialogElement} */ (h('dialog', {
    cls: 'dialog',
    attrs: { id: 'mute-dialog', 'aria-labelledby': 'mute-title' },
    children: [
      h('form', {
        attrs: { method: 'dialog' },
        children: [
          h('h2', { attrs: { id: 'mute-title' }, text: 'Mute' }),
          h('p', { cls: 'muted', text: 'A muted user reads everything but cannot post, edit or react until the mute ends.' }),
          h('div', {
            cls: 'field dialog-field',
            children: [h('label', { attrs: { for: 'mute-for' }, text: 'For how long' }), select],
          }),
          h('div', {
            cls: 'field dialog-field',
            children: [
              h('label', { attrs: { for: 'mute-reason' }, text: 'Reason (optional)' }),
              h('input', { attrs: { id: 'mute-reason', name: 'reason', type: 'text', maxlength: '500', autocomplete: 'off' } }),
            ],
          }),
          h('div', {
            cls: 'dialog-actions',
            children: [
              h('button', { cls: 'btn btn-secondary', text: 'Cancel', attrs: { type: 'submit', value: 'cancel' } }),
              h('button', { cls: 'btn btn-primary', text: 'Mute user', attrs: { type: 'submit', value: 'ok', id: 'mute-ok' } }),
            ],
          }),
        ],
      }),
    ],
  }));
  document.body.append(dialog);
  return dialog;
}

/**
 * Asks how long, then mutes `u`; resolves with whether it was done.
 * @param {{id: number, username: string}} u
 */
async function mute(u) {
  const d = muteDialog();
  /** @type {HTMLElement} */ (d.querySelector('#mute-title')).textContent = `Mute ${u.username}`;
  $input('mute-reason').value = '';
  d.returnValue = '';
  d.showModal();
  await new Promise((resolve) => d.addEventListener('close', resolve, { once: true }));
  if (d.returnValue !== 'ok') return false;
  const reason = $input('mute-reason').value.trim();
  const span = /** @type {HTMLSelectElement} */ ($('mute-for')).value;
  await api(`/admin/users/${u.id}/mute`, { method: 'POST', body: reason ? { for: span, reason } : { for: span } });
  return true;
}

/**
 * The Mute or Unmute button of a user's row; `done` runs after a change (with what to say), or
 * with the error.
 * @param {{id: number, username: string, muted_until?: string|null, is_blocked?: boolean}} u
 * @param {(ok: boolean, message: string) => void} done
 */
export function muteButton(u, done) {
  const muted = !!mutedNote(u);
  const b = h('button', {
    cls: 'btn btn-small btn-secondary',
    text: muted ? 'Unmute' : 'Mute',
    attrs: {
      type: 'button',
      'data-focus-key': `${muted ? 'unmute' : 'mute'}-${u.id}`,
      'aria-label': `${muted ? 'Unmute' : 'Mute'} ${u.username}`,
    },
  });
  b.addEventListener('click', async () => {
    try {
      if (muted) {
        await api(`/admin/users/${u.id}/unmute`, { method: 'POST' });
        done(true, `${u.username} is no longer muted.`);
      } else if (await mute(u)) {
        done(true, `${u.username} is muted.`);
      }
    } catch (e) {
      done(false, `Could not ${muted ? 'unmute' : 'mute'} ${u.username}: ${e instanceof Error ? e.message : e}`);
    }
  });
  return b;
}
