/* Message search: the pane opened from the top bar, GET /search?q= (newest first, `next` pages
   through as `before`), each result with its conversation, author, time and the matched parts
   marked; choosing one opens its conversation at the message (conversation.js loads older history
   until it is there) and highlights it. The server's `highlight` is HTML-escaped text with <mark>
   tags: it is split on those two tags and unescaped into text nodes, never parsed as HTML. */

import {
  api, h, formatShort, formatFull, parseTime,
} from './api.js';
import { $, $input, $button, authFailed } from './ui.js';
import { state, roomLabel, isMe } from './store.js';
import { revealMessage } from './conversation.js';

/**
 * @typedef {object} SearchHit
 * @property {number} id
 * @property {number} room
 * @property {string} user
 * @property {string} text
 * @property {string} timestamp
 * @property {string} [highlight]
 */

const PAGE = 20;
const pane = $('search-pane');
const toggle = $button('search-toggle');
const input = $input('search-input');
const status = $('search-status');
const results = $('search-results');
const more = $button('search-more');
/** Narrow screens: the pane covers the conversation, so it closes once a result is chosen. */
const narrow = window.matchMedia('(max-width: 1100px)');

/** The query shown and where its next page starts (null: no more). */
let shown = { q: '', next: /** @type {number|string|null} */ (null) };
/** Counts searches, so an answer to an older one is dropped. */
let generation = 0;

/** @param {boolean} open */
function setOpen(open) {
  pane.hidden = !open;
  toggle.setAttribute('aria-expanded', String(open));
  document.body.classList.toggle('searching', open);
  if (open) input.focus();
}

toggle.addEventListener('click', () => {
  if (pane.hidden) setOpen(true);
  else {
    setOpen(false);
    toggle.focus();
  }
});

$('search-close').addEventListener('click', () => {
  setOpen(false);
  toggle.focus();
});

pane.addEventListener('keydown', (e) => {
  if (e.key === 'Escape') {
    e.preventDefault();
    setOpen(false);
    toggle.focus();
  }
});

$('search-form').addEventListener('submit', (e) => {
  e.preventDefault();
  const q = input.value.trim();
  if (!q) {
    status.textContent = 'Type a word or part of one to search for.';
    return;
  }
  search(q, null);
});

more.addEventListener('click', () => {
  if (shown.next !== null) search(shown.q, shown.next);
});

/**
 * Asks the server for a page of results: the first (a new query) or the one after `before`.
 * @param {string} q
 * @param {number|string|null} before
 */
async function search(q, before) {
  const gen = ++generation;
  const first = before === null;
  if (first) {
    results.replaceChildren();
    shown = { q, next: null };
  }
  more.hidden = true;
  status.textContent = first ? 'Searching…' : 'Loading more results…';
  let page;
  try {
    const params = new URLSearchParams({ q, limit: String(PAGE) });
    if (!first) params.set('before', String(before));
    page = await api(`/search?${params}`);
  } catch (e) {
    if (gen !== generation || authFailed(e)) return;
    status.textContent = `The search failed: ${e.message} Try again.`;
    more.hidden = first || shown.next === null;
    return;
  }
  if (gen !== generation) return;
  /** @type {SearchHit[]} */
  const hits = Array.isArray(page?.results) ? page.results : [];
  const next = page?.next ?? null;
  shown = { q, next: hits.length ? next : null };
  results.append(...hits.map(resultItem));
  const total = results.children.length;
  if (!total) status.textContent = `No messages match “${q}”.`;
  else status.textContent = `${total} result${total === 1 ? '' : 's'} for “${q}”${shown.next !== null ? ', more available' : ''}.`;
  more.hidden = shown.next === null;
  if (!first && hits.length) /** @type {HTMLElement} */ (results.children[total - hits.length].querySelector('button'))?.focus();
}

/** @param {SearchHit} hit */
function resultItem(hit) {
  const r = state.rooms.get(hit.room);
  const where = r?.summary ? roomLabel(r.summary) : `Conversation ${hit.room}`;
  const when = parseTime(hit.timestamp);
  const button = h('button', {
    cls: 'search-hit',
    attrs: { type: 'button', 'data-room': hit.room, 'data-id': hit.id },
    children: [
      h('span', {
        cls: 'search-hit-meta',
        children: [
          h('span', { cls: 'search-hit-room', text: r?.summary?.kind === 'dm' ? where : `# ${where}` }),
          h('span', { cls: 'visually-hidden', text: ', ' }),
          h('span', { cls: 'search-hit-user', text: isMe(hit.user) ? 'You' : hit.user }),
          h('span', { cls: 'visually-hidden', text: ', ' }),
          h('time', { cls: 'search-hit-time', text: formatShort(when), attrs: { datetime: when.toISOString(), title: formatFull(when) } }),
        ],
      }),
      highlighted(hit),
    ],
  });
  button.addEventListener('click', async () => {
    if (narrow.matches) setOpen(false);
    await revealMessage(hit.room, hit.id);
  });
  return h('li', { children: [button] });
}

const ENTITIES = /** @type {Record<string, string>} */ ({ amp: '&', lt: '<', gt: '>', quot: '"', apos: "'" });

/**
 * Undoes HTML escaping in a piece of the server's highlight (text only, no tags).
 * @param {string} s
 */
function unescapeHtml(s) {
  return s.replace(/&(#x[0-9a-f]+|#[0-9]+|[a-z]+);/gi, (all, name) => {
    if (name[0] === '#') {
      const code = name[1] === 'x' || name[1] === 'X' ? Number.parseInt(name.slice(2), 16) : Number.parseInt(name.slice(1), 10);
      return Number.isFinite(code) && code > 0 && code <= 0x10ffff ? String.fromCodePoint(code) : all;
    }
    return ENTITIES[name.toLowerCase()] ?? all;
  });
}

/**
 * The result's text with the matched parts in <mark>, built as nodes.
 * @param {SearchHit} hit
 */
function highlighted(hit) {
  const el = h('span', { cls: 'search-hit-text' });
  if (typeof hit.highlight !== 'string') {
    el.textContent = String(hit.text ?? '');
    return el;
  }
  // "a <mark>b</mark> c": after splitting on the opening tag, every piece but the first starts
  // with a marked part that runs to the closing tag.
  const pieces = hit.highlight.split('<mark>');
  el.append(unescapeHtml(pieces[0]));
  for (const piece of pieces.slice(1)) {
    const end = piece.indexOf('</mark>');
    const marked = end < 0 ? piece : piece.slice(0, end);
    el.append(h('mark', { text: unescapeHtml(marked) }));
    if (end >= 0) el.append(unescapeHtml(piece.slice(end + '</mark>'.length)));
  }
  return el;
}

/** A new session: a closed, empty pane. */
export function resetSearch() {
  generation += 1;
  setOpen(false);
  input.value = '';
  status.textContent = '';
  results.replaceChildren();
  more.hidden = true;
  shown = { q: '', next: null };
}
