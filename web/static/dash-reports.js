/* The report queue and the appeals, for whoever handles them: the admin dashboard (every
   conversation, `/admin/...`) and a room moderator's "Reports" view in the chat (`/moderation/...`,
   their rooms, without "block"). Each report shows the message, its neighbours, the reporter (or
   the classifier with its score) and the decisions. Every piece of user data reaches the DOM as
   text. */

import { api, h, ApiError } from './api.js';

/**
 * @typedef {object} QueuedReport
 * @property {number} id
 * @property {string} created_at
 * @property {string} status
 * @property {string} reason
 * @property {string|null} text
 * @property {string} source
 * @property {number|null} score
 * @property {{id: number, username: string}|null} reporter
 * @property {{id: number, room: {id: number, name: string|null, kind: string}, sender: {id: number, username: string}, text: string, timestamp: string, deleted: boolean}} message
 * @property {{id: number, user: string, text: string, timestamp: string}[]} context
 * @property {string|null} handled_by
 * @property {string|null} note
 */

/**
 * @typedef {object} Appeal
 * @property {number} id
 * @property {{id: number, username: string}} user
 * @property {string} text
 * @property {string} created_at
 * @property {string} status
 * @property {string|null} answer
 */

const DURATIONS = [['10m', '10 minutes'], ['1h', '1 hour'], ['24h', '24 hours'], ['7d', '7 days']];

/** @param {unknown} e */
function describe(e) {
  return e instanceof ApiError ? e.detail : 'Something went wrong; try again.';
}

/** @param {QueuedReport} r */
function who(r) {
  if (r.reporter) return `Reported by ${r.reporter.username}`;
  const score = r.score === null ? '' : ` (score ${r.score.toFixed(2)})`;
  return `Flagged by the ${r.source}${score}`;
}

/**
 * One report: what was said, around it, by whom, and the decisions (open reports only).
 * @param {QueuedReport} r
 * @param {string} base `/admin` or `/moderation`
 * @param {() => void} refresh
 */
function reportCard(r, base, refresh) {
  const room = r.message.room.kind === 'dm' ? 'a direct message' : `#${r.message.room.name}`;
  const quote = (/** @type {string} */ user, /** @type {string} */ text, /** @type {boolean} */ main) =>
    h('li', { cls: main ? 'report-msg report-main' : 'report-msg', children: [h('strong', { text: `${user}: ` }), h('span', { text })] });
  const before = r.context.filter((m) => m.id < r.message.id).map((m) => quote(m.user, m.text, false));
  const after = r.context.filter((m) => m.id > r.message.id).map((m) => quote(m.user, m.text, false));
  const main = quote(r.message.sender.username, r.message.deleted ? '(deleted)' : r.message.text, true);
  const status = h('p', { cls: 'form-error', attrs: { role: 'alert' } });
  status.hidden = true;
  const card = h('li', {
    cls: 'report-card',
    attrs: { 'data-report': r.id },
    children: [
      h('p', { cls: 'report-head', text: `#${r.id} · ${r.reason} · in ${room} · ${who(r)}` }),
      r.text ? h('p', { cls: 'muted', text: `“${r.text}”` }) : null,
      h('ol', { cls: 'report-context', attrs: { 'aria-label': 'The message and its neighbours' }, children: [...before, main, ...after] }),
      r.status === 'open' ? null : h('p', { cls: 'muted', text: `${r.status} by ${r.handled_by || '?'}${r.note ? `: ${r.note}` : ''}` }),
      status,
    ],
  });
  if (r.status !== 'open') return card;
  const actions = ['dismiss', 'delete', 'warn', 'mute'];
  if (base === '/admin') actions.push('block');
  const durationId = `report-${r.id}-duration`;
  const duration = /** @type {HTMLSelectElement} */ (h('select', {
    attrs: { id: durationId },
    children: DURATIONS.map(([v, label]) => h('option', { text: label, attrs: { value: v } })),
  }));
  const noteId = `report-${r.id}-note`;
  const note = /** @type {HTMLInputElement} */ (h('input', { attrs: { id: noteId, type: 'text', maxlength: 500 } }));
  const bar = h('div', {
    cls: 'report-actions',
    children: [
      h('label', { text: 'Note', attrs: { for: noteId } }), note,
      h('label', { text: 'Mute for', attrs: { for: durationId } }), duration,
      ...actions.map((a) => h('button', {
        cls: a === 'block' || a === 'delete' ? 'btn btn-danger btn-small' : 'btn btn-secondary btn-small',
        text: a[0].toUpperCase() + a.slice(1),
        attrs: { type: 'button', 'data-decide': a },
      })),
    ],
  });
  bar.addEventListener('click', async (e) => {
    const b = /** @type {HTMLElement} */ (e.target).closest('[data-decide]');
    if (!(b instanceof HTMLButtonElement)) return;
    const action = b.dataset.decide;
    /** @type {Record<string, string>} */
    const body = { action: action || '' };
    if (action === 'mute') body.duration = duration.value;
    if (note.value.trim()) body.note = note.value.trim();
    b.disabled = true;
    try {
      await api(`${base}/reports/${r.id}`, { method: 'POST', body });
      refresh();
    } catch (err) {
      status.textContent = describe(err);
      status.hidden = false;
      b.disabled = false;
    }
  });
  card.append(bar);
  return card;
}

/**
 * Fills `container` with a queue and keeps it up to date on demand.
 * @param {HTMLElement} container
 * @param {string} base `/admin` or `/moderation`
 */
export function mountQueue(container, base) {
  const filter = /** @type {HTMLSelectElement} */ (h('select', {
    attrs: { id: `${container.id}-status` },
    children: [['open', 'Open'], ['handled', 'Handled'], ['all', 'All']].map(([v, t]) => h('option', { text: t, attrs: { value: v } })),
  }));
  const list = h('ol', { cls: 'report-list', attrs: { 'aria-label': 'Reports, newest first' } });
  const empty = h('p', { cls: 'table-empty muted', text: 'No reports.' });
  const refresh = async () => {
    try {
      const reports = /** @type {QueuedReport[]} */ (await api(`${base}/reports?status=${filter.value}`));
      list.replaceChildren(...reports.map((r) => reportCard(r, base, refresh)));
      empty.hidden = reports.length > 0;
    } catch (e) {
      empty.textContent = describe(e);
      empty.hidden = false;
    }
  };
  filter.addEventListener('change', refresh);
  container.replaceChildren(
    h('div', { cls: 'panel-head', children: [h('label', { text: 'Show', attrs: { for: filter.id } }), filter] }),
    list,
    empty,
  );
  refresh();
  return refresh;
}

/**
 * The appeals of blocked users, each with unblock / keep and a note.
 * @param {HTMLElement} container
 */
export function mountAppeals(container) {
  const list = h('ol', { cls: 'report-list', attrs: { 'aria-label': 'Open appeals, newest first' } });
  const empty = h('p', { cls: 'table-empty muted', text: 'No open appeals.' });
  const refresh = async () => {
    const appeals = /** @type {Appeal[]} */ (await api('/admin/appeals').catch(() => /** @type {Appeal[]} */ ([])));
    list.replaceChildren(...appeals.map((a) => {
      const noteId = `appeal-${a.id}-note`;
      const note = /** @type {HTMLInputElement} */ (h('input', { attrs: { id: noteId, type: 'text', maxlength: 1000 } }));
      const item = h('li', {
        cls: 'report-card',
        attrs: { 'data-appeal': a.id },
        children: [
          h('p', { cls: 'report-head', text: `${a.user.username} appeals their block` }),
          h('p', { text: a.text }),
          h('label', { text: 'Note to the user', attrs: { for: noteId } }), note,
          h('button', { cls: 'btn btn-primary btn-small', text: 'Unblock', attrs: { type: 'button', 'data-answer': 'unblock' } }),
          h('button', { cls: 'btn btn-secondary btn-small', text: 'Keep blocked', attrs: { type: 'button', 'data-answer': 'keep' } }),
        ],
      });
      item.addEventListener('click', async (e) => {
        const b = /** @type {HTMLElement} */ (e.target).closest('[data-answer]');
        if (!(b instanceof HTMLButtonElement)) return;
        b.disabled = true;
        await api(`/admin/appeals/${a.id}`, { method: 'POST', body: { decision: b.dataset.answer, note: note.value } }).catch(() => {});
        refresh();
      });
      return item;
    }));
    empty.hidden = appeals.length > 0;
  };
  container.replaceChildren(list, empty);
  refresh();
  return refresh;
}

/** The dashboard's panels, when the page has their places. */
export function mountDashboard() {
  const reports = document.getElementById('dash-reports');
  const appeals = document.getElementById('dash-appeals');
  if (reports) mountQueue(reports, '/admin');
  if (appeals) mountAppeals(appeals);
}
