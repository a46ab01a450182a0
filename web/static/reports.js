/* Reports and appeals in the chat: "Report…" on others' messages (a reason, optional words, a
   confirmation), "My reports" with their statuses (kept current by `report` frames), the
   "Reports" queue of the rooms one moderates, and, for a blocked account at sign-in, the appeal
   form and later the answer. Every piece of user data reaches the DOM as text. */

import { api, h, ApiError } from './api.js';
import { announce } from './ui.js';
import { mountQueue } from './dash-reports.js';
import { on, state } from './store.js';

/** @typedef {import('./store.js').Message} Message */

const REASONS = [
  ['spam', 'Spam'], ['harassment', 'Harassment'], ['hate', 'Hate'],
  ['sexual', 'Sexual content'], ['violence', 'Violence'], ['other', 'Something else'],
];

/**
 * A modal dialog built on demand, removed when closed.
 * @param {string} id
 * @param {string} title
 * @param {HTMLElement[]} body
 */
function modal(id, title, body) {
  const dialog = /** @type {HTMLDialogElement} */ (h('dialog', {
    cls: 'modal report-dialog',
    attrs: { id, 'aria-labelledby': `${id}-title` },
    children: [
      h('h2', { text: title, attrs: { id: `${id}-title` } }),
      ...body,
      h('button', { cls: 'btn btn-secondary', text: 'Close', attrs: { type: 'button', 'data-close': true } }),
    ],
  }));
  dialog.addEventListener('click', (e) => {
    const t = /** @type {HTMLElement} */ (e.target);
    if (t === dialog || t.closest('[data-close]')) dialog.close();
  });
  dialog.addEventListener('close', () => dialog.remove());
  document.body.append(dialog);
  dialog.showModal();
  return dialog;
}

/** @param {unknown} e */
function describe(e) {
  return e instanceof ApiError ? e.detail : 'Something went wrong; try again.';
}

/**
 * The report dialog of a message.
 * @param {Message} m
 */
export function openReport(m) {
  const reason = /** @type {HTMLSelectElement} */ (h('select', {
    attrs: { id: 'report-reason' },
    children: REASONS.map(([v, t]) => h('option', { text: t, attrs: { value: v } })),
  }));
  const text = /** @type {HTMLTextAreaElement} */ (h('textarea', { attrs: { id: 'report-text', maxlength: 500, rows: 3 } }));
  const error = h('p', { cls: 'form-error', attrs: { role: 'alert' } });
  error.hidden = true;
  const form = h('form', {
    children: [
      h('p', { cls: 'muted', text: `${m.user}: ${m.text}` }),
      h('label', { text: 'Why?', attrs: { for: 'report-reason' } }), reason,
      h('label', { text: 'Anything the moderators should know (optional)', attrs: { for: 'report-text' } }), text,
      error,
      h('button', { cls: 'btn btn-primary', text: 'Send report', attrs: { type: 'submit' } }),
    ],
  });
  const dialog = modal('dlg-report', 'Report this message', [form]);
  reason.focus();
  form.addEventListener('submit', async (e) => {
    e.preventDefault();
    try {
      await api(`/messages/${m.id}/report`, { method: 'POST', body: { reason: reason.value, text: text.value.trim() || undefined } });
      form.replaceChildren(h('p', { cls: 'report-sent', text: 'Thank you: the moderators will look at it.', attrs: { role: 'status' } }));
      announce('Report sent');
      /** @type {HTMLElement} */ (dialog.querySelector('[data-close]')).focus();
    } catch (err) {
      error.textContent = describe(err);
      error.hidden = false;
    }
  });
}

/** @type {HTMLOListElement|null} the open "My reports" list */
let mine = null;

/** The caller's reports and their statuses. */
export async function openMyReports() {
  const list = /** @type {HTMLOListElement} */ (h('ol', { cls: 'report-list', attrs: { 'aria-label': 'My reports, newest first' } }));
  modal('dlg-my-reports', 'My reports', [list]).addEventListener('close', () => { mine = null; });
  mine = list;
  try {
    /** @type {{id: number, message_id: number, reason: string, status: string}[]} */
    const reports = await api('/reports');
    list.replaceChildren(...reports.map((r) => h('li', {
      attrs: { 'data-report': r.id },
      children: [h('span', { text: `#${r.id} · message ${r.message_id} · ${r.reason} · ` }), h('strong', { cls: 'report-status', text: r.status })],
    })));
    if (!reports.length) list.append(h('li', { cls: 'muted', text: 'You have not reported anything.' }));
  } catch (e) {
    list.replaceChildren(h('li', { cls: 'form-error', text: describe(e) }));
  }
}

/** A `report` frame: one of the user's reports was handled.
 * @param {{id: number, status: string}} frame */
export function onReportFrame(frame) {
  announce(`Your report #${frame.id} was handled: ${frame.status}`);
  const row = mine?.querySelector(`[data-report="${frame.id}"] .report-status`);
  if (row) row.textContent = frame.status;
}

/** The queue of the rooms the user moderates. */
export function openModeration() {
  const box = h('div', { attrs: { id: 'moderation-queue' } });
  modal('dlg-moderation', 'Reports in rooms you moderate', [box]);
  mountQueue(box, '/moderation');
}

/** Adds "My reports" and "Reports" to the account bar (next to `anchor`).
 * @param {HTMLElement} anchor */
export function addAccountButtons(anchor) {
  if (document.getElementById('my-reports')) return;
  // An icon with its label, which narrow screens hide (and screen readers still read), as the
  // other buttons of the top bar do.
  /** @param {string} id @param {string} label @param {string} path */
  const button = (id, label, path) => {
    const b = h('button', { cls: 'btn btn-ghost', attrs: { id, type: 'button' } });
    b.innerHTML = `<svg class="icon" viewBox="0 0 24 24" aria-hidden="true" width="20" height="20"><path fill="none" stroke="currentColor" stroke-width="2" stroke-linecap="round" stroke-linejoin="round" d="${path}"/></svg>`;
    b.append(h('span', { cls: 'label-wide', text: label }));
    return b;
  };
  const my = button('my-reports', 'My reports', 'M4 22V4h12l-2 4 2 4H4');
  const queue = button('moderation-reports', 'Reports', 'M12 2l8 4v6c0 5-3.5 8.5-8 10-4.5-1.5-8-5-8-10V6z');
  my.addEventListener('click', openMyReports);
  queue.addEventListener('click', openModeration);
  anchor.before(my, queue);
  // The queue is for admins and the moderators of a room; it comes and goes with the role.
  const update = () => {
    queue.hidden = !(state.me?.is_admin || [...state.rooms.values()].some((r) => r.summary?.moderator));
  };
  update();
  on('rooms', update);
}

/**
 * The blocked page's appeal part, from the refused sign-in's `appeal`.
 * @param {{allowed?: boolean, token?: string, status?: string, answer?: string|null}|undefined} appeal
 * @param {HTMLElement} place
 */
export function offerAppeal(appeal, place) {
  document.getElementById('appeal-box')?.remove();
  if (!appeal) return;
  const box = h('section', { cls: 'appeal-box', attrs: { id: 'appeal-box', 'aria-labelledby': 'appeal-title' } });
  box.append(h('h2', { text: 'Appeal', attrs: { id: 'appeal-title' } }));
  if (appeal.allowed && appeal.token) {
    const token = appeal.token;
    const text = /** @type {HTMLTextAreaElement} */ (h('textarea', { attrs: { id: 'appeal-text', maxlength: 2000, rows: 4, required: true } }));
    const error = h('p', { cls: 'form-error', attrs: { role: 'alert' } });
    error.hidden = true;
    const form = h('form', {
      children: [
        h('label', { text: 'Why should the block be lifted?', attrs: { for: 'appeal-text' } }), text, error,
        h('button', { cls: 'btn btn-primary', text: 'Send appeal', attrs: { type: 'submit' } }),
      ],
    });
    form.addEventListener('submit', async (e) => {
      e.preventDefault();
      try {
        await api('/appeals', { method: 'POST', body: { text: text.value }, token });
        form.replaceChildren(h('p', { cls: 'appeal-sent', text: 'Appeal sent. You will see the answer when you next sign in.', attrs: { role: 'status', tabindex: -1 } }));
        /** @type {HTMLElement} */ (form.firstElementChild).focus();
      } catch (err) {
        error.textContent = describe(err);
        error.hidden = false;
      }
    });
    box.append(form);
  } else if (appeal.status === 'open') {
    box.append(h('p', { text: 'Your appeal is waiting for an answer.' }));
  } else if (appeal.status === 'kept') {
    box.append(h('p', { text: 'Your appeal was answered: the block stays.' }));
    if (appeal.answer) box.append(h('blockquote', { cls: 'appeal-answer', text: appeal.answer }));
  } else {
    return;
  }
  place.append(box);
}

/** The answer of the appeal that unblocked the account, shown once after signing in.
 * @param {string|undefined} note */
export function showAppealAnswer(note) {
  if (!note) return;
  const banner = h('div', {
    cls: 'appeal-banner',
    attrs: { id: 'appeal-answer', role: 'status' },
    children: [
      h('p', { text: 'Your appeal was accepted: your account is unblocked.' }),
      h('blockquote', { cls: 'appeal-answer', text: note }),
    ],
  });
  const close = h('button', { cls: 'btn btn-secondary btn-small', text: 'Dismiss', attrs: { type: 'button' } });
  close.addEventListener('click', () => banner.remove());
  banner.append(close);
  document.body.prepend(banner);
}
