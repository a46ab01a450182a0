// @ts-check
/**
 * The user's standing: strikes and what the next one does (shown beside the user's name), and
 * an account mute: the composer is locked with "Muted until HH:MM" and a live countdown, and
 * unlocks by itself when the mute ends. `muted` / `unmuted` frames and `GET /me` feed it.
 */

import { api, parseTime, formatTime } from './api.js';
import { $, announce } from './ui.js';
import { addNotice } from './conversation.js';

/** @type {Date|null} the end of a running mute */
let mutedUntil = null;
/** @type {ReturnType<typeof setInterval>|null} */
let ticker = null;
/** @type {() => void} redraws the composer (set by composer.js, which imports this module) */
let redraw = () => {};

/** @param {() => void} fn */
export function setStandingRedraw(fn) {
  redraw = fn;
}

/**
 * Seconds as "1 h 05 min", "4 min 09 s" or "12 s".
 * @param {number} secs
 */
function left(secs) {
  const h = Math.floor(secs / 3600);
  const m = Math.floor((secs % 3600) / 60);
  const s = secs % 60;
  if (h > 0) return `${h} h ${String(m).padStart(2, '0')} min`;
  if (m > 0) return `${m} min ${String(s).padStart(2, '0')} s`;
  return `${s} s`;
}

/** Why the composer is locked by a mute, or null. */
export function mutedReason() {
  if (!mutedUntil) return null;
  const secs = Math.ceil((mutedUntil.getTime() - Date.now()) / 1000);
  if (secs <= 0) return null;
  return `Muted until ${formatTime(mutedUntil)} (${left(secs)} left): you can read, but not post.`;
}

/** @param {string|null|undefined} until RFC 3339, or null: not muted */
export function setMuted(until) {
  const when = until ? parseTime(until) : null;
  mutedUntil = when && when.getTime() > Date.now() ? when : null;
  if (ticker) clearInterval(ticker);
  ticker = null;
  if (mutedUntil) {
    ticker = setInterval(() => {
      if (!mutedReason()) {
        setMuted(null);
        announce('Your mute has ended: you can post again.');
      }
      redraw();
    }, 1000);
  }
  redraw();
}

/**
 * Shows the standing beside the user's name.
 * @param {{strikes?: number, next_step?: string, muted_until?: string|null}} me
 */
export function showStanding(me) {
  const el = $('standing');
  if (!el) return;
  const strikes = Number(me.strikes) || 0;
  el.hidden = strikes === 0;
  const next = String(me.next_step || 'warn').replace(/^mute:/, 'a mute of ');
  const step = next === 'warn' ? 'a warning' : next === 'block' ? 'a block' : next;
  el.textContent = `${strikes} strike${strikes === 1 ? '' : 's'}`;
  el.title = `Your standing: ${strikes} strike${strikes === 1 ? '' : 's'}; the next violation brings ${step}.`;
  el.setAttribute('aria-label', el.title);
  setMuted(me.muted_until);
}

/** Reads the standing again (after a warning or a mute). */
export async function refreshStanding() {
  try {
    showStanding(await api('/me'));
  } catch {
    // The standing is a courtesy: the next frame or reload shows it.
  }
}

/**
 * A `muted` or `unmuted` frame.
 * @param {{type: string, until?: string, text?: string}} frame
 */
export function onMuteFrame(frame) {
  if (frame.type === 'muted') {
    setMuted(frame.until);
    // The server names the end in UTC; the notice shows the reader's local time.
    const local = frame.until ? formatTime(parseTime(frame.until)) : '';
    const text = (frame.text || `You are muted until ${frame.until}.`).replace(frame.until || '\u0000', local);
    addNotice('warning', text);
    announce(text);
  } else {
    setMuted(null);
    addNotice('warning', frame.text || 'Your mute was lifted.');
  }
  refreshStanding();
}

/** Signed out: forget the mute. */
export function resetStanding() {
  setMuted(null);
  const el = $('standing');
  if (el) el.hidden = true;
}
