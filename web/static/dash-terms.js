/* Chatterbox admin dashboard: the live moderation term lists. Admins add a blocked term or an
   allowed word and remove either; every server applies a change within a second. */

import { api, ApiError, h, parseTime, formatFull, formatShort } from './api.js';
import { $, $input, $button } from './ui.js';

/**
 * One term of the live lists (`GET /admin/terms`).
 * @typedef {object} TermEntry
 * @property {string} term
 * @property {'block'|'allow'} list
 * @property {string} added_by  `moderation` (seeded from --blocklist), `cli`, or an admin
 * @property {string} added_at
 */

/** @type {TermEntry[]} */
let terms = [];

/** @param {string} text @param {boolean} [error] */
function say(text, error = false) {
  const out = $('terms-status');
  out.textContent = text;
  out.classList.toggle('error-text', error);
}

async function load() {
  try {
    /** @type {TermEntry[]} */
    const list = await api('/admin/terms');
    terms = Array.isArray(list) ? list : [];
    render();
  } catch (e) {
    say(`The term lists could not be loaded: ${e instanceof Error ? e.message : String(e)}`, true);
  }
}

function render() {
  const shown = $input('terms-filter').value.trim().toLowerCase();
  const body = $('terms-body');
  body.replaceChildren();
  const rows = terms.filter((t) => !shown || t.term.includes(shown));
  for (const t of rows) {
    const at = parseTime(t.added_at);
    const remove = h('button', {
      cls: 'btn btn-secondary btn-small',
      text: 'Remove',
      attrs: { type: 'button', 'aria-label': `Remove ${t.term} from the ${t.list} list` },
    });
    remove.addEventListener('click', () => removeTerm(t));
    body.append(h('tr', {
      attrs: { 'data-term': t.term },
      children: [
        h('td', { text: t.term }),
        h('td', { text: t.list === 'allow' ? 'Allowed' : 'Blocked' }),
        h('td', { text: t.added_by }),
        h('td', { children: [h('time', { text: formatShort(at), attrs: { datetime: t.added_at, title: formatFull(at) } })] }),
        h('td', { children: [remove] }),
      ],
    }));
  }
  $('terms-count').textContent = String(terms.length);
  $('terms-empty').hidden = rows.length > 0;
}

/** @param {SubmitEvent} ev */
async function addTerm(ev) {
  ev.preventDefault();
  const input = $input('terms-term');
  const list = /** @type {HTMLSelectElement} */ ($('terms-list')).value;
  const button = $button('terms-add');
  button.disabled = true;
  try {
    /** @type {{term: string, list: string, result: string}} */
    const done = await api('/admin/terms', { method: 'POST', body: { term: input.value, list } });
    const where = done.list === 'allow' ? 'the allow list' : 'the block list';
    say(done.result === 'unchanged' ? `“${done.term}” was already on ${where}.` : `“${done.term}” is on ${where} now.`);
    input.value = '';
    input.removeAttribute('aria-invalid');
    await load();
  } catch (e) {
    if (e instanceof ApiError && e.field === 'term') input.setAttribute('aria-invalid', 'true');
    say(e instanceof Error ? e.message : String(e), true);
  } finally {
    button.disabled = false;
    input.focus();
  }
}

/** @param {TermEntry} t */
async function removeTerm(t) {
  try {
    await api(`/admin/terms/${encodeURIComponent(t.term)}`, { method: 'DELETE' });
    say(`“${t.term}” was removed from the ${t.list} list.`);
    await load();
    $input('terms-term').focus();
  } catch (e) {
    say(e instanceof Error ? e.message : String(e), true);
  }
}

/** Starts the view once the dashboard opens. */
export function startTerms() {
  $('terms-form').addEventListener('submit', (ev) => addTerm(/** @type {SubmitEvent} */ (ev)));
  $('terms-filter').addEventListener('input', render);
  $('terms-refresh').addEventListener('click', load);
  load();
}
