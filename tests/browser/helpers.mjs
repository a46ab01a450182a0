// Shared harness for the chatterbox browser tests: runs the real server binary ($CHATTERBOX_BIN) on
// a throw-away database, creates accounts, and drives the system Chromium through playwright-core.

import { spawn, spawnSync } from 'node:child_process';
import { mkdtempSync, mkdirSync, rmSync } from 'node:fs';
import { readFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join, dirname } from 'node:path';
import { fileURLToPath } from 'node:url';
import { setTimeout as sleep } from 'node:timers/promises';
import { chromium } from 'playwright-core';

const HERE = dirname(fileURLToPath(import.meta.url));
export const OUTPUT_DIR = join(HERE, 'output');

export const DESKTOP = { width: 1280, height: 800 };
export const PHONE = { width: 390, height: 844 };

const CHROMIUM_ARGS = [
  '--headless', '--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run',
  // Without these Chromium keeps trying to reach Google services, which floods a closed network.
  '--disable-background-networking', '--disable-component-update', '--disable-sync',
];

function bin() {
  const b = process.env.CHATTERBOX_BIN;
  if (!b) throw new Error('CHATTERBOX_BIN is not set: point it at a built chatterbox binary');
  return b;
}

// Every server we start is killed when the test process exits, whatever happened.
const running = new Set();
process.on('exit', () => {
  for (const p of running) {
    try { p.kill('SIGKILL'); } catch { /* already gone */ }
  }
});

const ANSI = /\x1b\[[0-9;]*[A-Za-z]/g;
const LISTENING = /listening on (http:\/\/[^\s"',]+)/;

/** A fresh temporary directory holding chat.db for one test file. */
export function makeDbDir() {
  const dir = mkdtempSync(join(tmpdir(), 'chatterbox-browser-'));
  return { dir, db: join(dir, 'chat.db') };
}

/**
 * Starts `chatterbox --db <db> serve` and resolves once it logs its URL.
 * Pass `port` to reuse a port (server restart); binding may need a moment after a kill.
 */
export async function startServer({ db, port = 0, attempts = 20, extraArgs = [] } = {}) {
  const where = db ? { db, dir: dirname(db) } : makeDbDir();
  let lastError;
  for (let i = 0; i < attempts; i += 1) {
    try {
      return await spawnServer(where, port, extraArgs);
    } catch (e) {
      lastError = e;
      if (!port) break; // only a fixed port is worth retrying (still held by the old process)
      await sleep(500);
    }
  }
  throw lastError;
}

function spawnServer({ db, dir }, port, extraArgs) {
  const args = ['--db', db, 'serve', '--listen', `127.0.0.1:${port}`, '--bcrypt-cost', '4', '--rate-limit-off', ...extraArgs];
  const proc = spawn(bin(), args, {
    stdio: ['ignore', 'pipe', 'pipe'],
    env: { ...process.env, NO_COLOR: '1', RUST_LOG: process.env.RUST_LOG || 'info' },
  });
  running.add(proc);
  let output = '';
  let exited = null;
  const exitPromise = new Promise((resolve) => {
    proc.on('exit', (code, signal) => {
      exited = { code, signal };
      running.delete(proc);
      resolve(exited);
    });
  });

  return new Promise((resolve, reject) => {
    const timer = setTimeout(() => {
      proc.kill('SIGKILL');
      reject(new Error(`server did not report its address within 30 s; output:\n${output}`));
    }, 30000);
    const onData = (chunk) => {
      output += chunk.toString('utf8');
      const m = output.replace(ANSI, '').match(LISTENING);
      if (m && !server.url) {
        clearTimeout(timer);
        server.url = m[1].replace(/\/+$/, '');
        server.port = Number(new URL(server.url).port);
        resolve(server);
      }
    };
    const server = {
      url: null,
      port: null,
      db,
      dir,
      proc,
      output: () => output,
      get exited() { return exited; },
      /** SIGTERM (graceful: clients get close code 1001), then SIGKILL if it lingers. */
      async stop({ signal = 'SIGTERM', graceMs = 8000 } = {}) {
        if (exited) return exited;
        proc.kill(signal);
        const res = await Promise.race([exitPromise, sleep(graceMs).then(() => null)]);
        if (res) return res;
        proc.kill('SIGKILL');
        return exitPromise;
      },
    };
    proc.stdout.on('data', onData);
    proc.stderr.on('data', onData);
    proc.on('exit', (code, signal) => {
      if (!server.url) {
        clearTimeout(timer);
        reject(new Error(`server exited (${code ?? signal}) before listening; output:\n${output}`));
      }
    });
  });
}

/** `chatterbox --db <db> user create NAME --email E --password-stdin [--admin]` */
export function createUserCli(db, username, email, password, { admin = false } = {}) {
  const args = ['--db', db, 'user', 'create', username, '--email', email, '--password-stdin'];
  if (admin) args.push('--admin');
  const res = spawnSync(bin(), args, { input: `${password}\n`, encoding: 'utf8', timeout: 30000, env: { ...process.env, NO_COLOR: '1' } });
  if (res.status !== 0) {
    throw new Error(`user create ${username} failed (${res.status ?? res.signal}): ${res.stderr}${res.stdout}`);
  }
}

/** `chatterbox --db <db> user block NAME [--reason TEXT]`; a running server picks it up at once. */
export function blockUserCli(db, username, reason) {
  const args = ['--db', db, 'user', 'block', username];
  if (reason) args.push('--reason', reason);
  const res = spawnSync(bin(), args, { encoding: 'utf8', timeout: 30000, env: { ...process.env, NO_COLOR: '1' } });
  if (res.status !== 0) {
    throw new Error(`user block ${username} failed (${res.status ?? res.signal}): ${res.stderr}${res.stdout}`);
  }
}

/**
 * A server on a fresh database whose first account is the admin `root` (only the operator CLI can
 * make the first admin, so it is created before the server starts).
 */
export async function startServerWithAdmin(password) {
  const { db } = makeDbDir();
  createUserCli(db, 'root', 'root@example.com', password, { admin: true });
  return startServer({ db });
}

/** Registers through the REST API; resolves with { token, user }. */
export async function registerApi(url, username, password = 'correct horse battery', email = `${username}@example.com`) {
  const res = await fetch(`${url}/register`, {
    method: 'POST',
    headers: { 'Content-Type': 'application/json' },
    body: JSON.stringify({ username, email, password }),
  });
  const body = await res.json().catch(() => null);
  if (res.status !== 201 && res.status !== 200) {
    throw new Error(`POST /register ${username}: HTTP ${res.status} ${JSON.stringify(body)}`);
  }
  return { token: body.access_token, user: body.user };
}

export async function loginApi(url, username, password = 'correct horse battery') {
  const res = await fetch(`${url}/login`, {
    method: 'POST',
    headers: { 'Content-Type': 'application/json' },
    body: JSON.stringify({ username, password }),
  });
  const body = await res.json().catch(() => null);
  if (res.status !== 200) throw new Error(`POST /login ${username}: HTTP ${res.status} ${JSON.stringify(body)}`);
  return { token: body.access_token, user: body.user };
}

export async function launchBrowser() {
  return chromium.launch({ executablePath: '/usr/bin/chromium', headless: true, args: CHROMIUM_ARGS });
}

/**
 * A new isolated browser context and page. `problems` collects uncaught page errors, CSP
 * violations and alert()/confirm() boxes, none of which a finished UI should produce.
 */
export async function newPage(browser, { viewport = DESKTOP, colorScheme = 'light', acceptDownloads = false } = {}) {
  const context = await browser.newContext({ viewport, colorScheme, acceptDownloads, locale: 'en-GB', timezoneId: 'Europe/Berlin' });
  context.setDefaultTimeout(15000);
  const page = await context.newPage();
  const problems = [];
  page.on('pageerror', (err) => problems.push(`page error: ${err.message}`));
  page.on('console', (msg) => {
    const text = msg.text();
    if (msg.type() === 'error' && /Content Security Policy|Refused to (execute|apply|load)/i.test(text)) {
      problems.push(`CSP: ${text}`);
    }
  });
  page.on('dialog', async (d) => {
    problems.push(`native ${d.type()} box: ${d.message()}`);
    await d.dismiss().catch(() => {});
  });
  return { context, page, problems };
}

/** Opens the app already signed in, the way a returning user arrives (token in localStorage). */
export async function openSignedIn(page, url, token, { path = '/', wait = path === '/' } = {}) {
  await page.goto(`${url}/`);
  await page.evaluate((t) => localStorage.setItem('chatterbox.token', t), token);
  await page.goto(`${url}${path}`);
  if (wait) await waitConnected(page);
}

export async function signInUi(page, url, username, password = 'correct horse battery') {
  await page.goto(`${url}/`);
  await page.locator('#signin-username').fill(username);
  await page.locator('#signin-password').fill(password);
  await page.getByRole('button', { name: 'Sign in', exact: true }).click();
  await waitConnected(page);
}

export async function waitConnected(page, timeout = 15000) {
  await page.locator('#view-chat').waitFor({ state: 'visible', timeout });
  await page.locator('#conn[data-state=connected]').waitFor({ state: 'attached', timeout });
}

export async function send(page, text) {
  const box = page.locator('#composer-input');
  await box.fill(text);
  await box.press('Enter');
}

/** Waits for a message with exactly this text in the page's log. */
export async function waitForMessage(page, text, timeout = 15000) {
  await page.waitForFunction(
    (t) => [...document.querySelectorAll('#log .msg .msg-text')].some((el) => el.textContent === t),
    text,
    { timeout },
  );
}

/** Every rendered message as { id, user, text, own }. */
export async function messagesIn(page) {
  return page.$$eval('#log .msg', (els) => els.map((el) => ({
    id: Number(el.dataset.id),
    user: el.dataset.user,
    text: el.querySelector('.msg-text').textContent,
    own: el.classList.contains('own'),
  })));
}

export async function shot(page, name, { fullPage = false } = {}) {
  mkdirSync(OUTPUT_DIR, { recursive: true });
  await page.screenshot({ path: join(OUTPUT_DIR, `${name}.png`), fullPage });
}

export function removeDir(dir) {
  try { rmSync(dir, { recursive: true, force: true }); } catch { /* best effort */ }
}

export { sleep };

const AXE_PATH = join(HERE, 'node_modules', 'axe-core', 'axe.min.js');
let axeSource;

/**
 * Runs axe-core on the page as it is now and fails on any violation whose impact is in `failOn`
 * (serious or critical unless told otherwise), listing each one (rule, impact, offending elements)
 * so the failure says what to fix. Resolves with every violation found, failing or not.
 */
export async function checkA11y(page, label, { failOn = ['serious', 'critical'] } = {}) {
  if (!(await page.evaluate(() => typeof window.axe === 'object'))) {
    // Not page.addScriptTag: that inserts an inline <script>, which the server's CSP refuses (and
    // newPage would report). Evaluating over the DevTools protocol is not subject to the CSP.
    axeSource ??= await readFile(AXE_PATH, 'utf8');
    await page.evaluate(axeSource);
  }
  const violations = await page.evaluate(async () => {
    const res = await window.axe.run(document, { resultTypes: ['violations'] });
    return res.violations.map((v) => ({
      id: v.id,
      impact: v.impact,
      help: v.help,
      targets: v.nodes.map((n) => `${n.target.join(' ')}${n.failureSummary ? ` (${n.failureSummary.replace(/\s+/g, ' ').trim()})` : ''}`),
    }));
  });
  const bad = violations.filter((v) => failOn.includes(v.impact));
  if (bad.length) {
    const text = bad.map((v) => `  ${v.id} [${v.impact}] ${v.help}\n${v.targets.map((t) => `    - ${t}`).join('\n')}`).join('\n');
    throw new Error(`accessibility violations on "${label}":\n${text}`);
  }
  return violations;
}

/* ------------------------------------------------------------------ conversations */

/** A JSON request to the REST API as `token`; resolves with { status, body }. */
export async function apiAs(url, token, path, { method = 'GET', body } = {}) {
  const headers = { Authorization: `Bearer ${token}` };
  if (body !== undefined) headers['Content-Type'] = 'application/json';
  const res = await fetch(`${url}${path}`, { method, headers, body: body === undefined ? undefined : JSON.stringify(body) });
  const text = await res.text();
  let json = null;
  try { json = text ? JSON.parse(text) : null; } catch { json = text; }
  return { status: res.status, body: json };
}

/** Like apiAs, but fails unless the answer is 2xx; resolves with the body. */
export async function apiOk(url, token, path, options) {
  const res = await apiAs(url, token, path, options);
  if (res.status < 200 || res.status > 299) {
    throw new Error(`${options?.method || 'GET'} ${path}: HTTP ${res.status} ${JSON.stringify(res.body)}`);
  }
  return res.body;
}

/**
 * Posts `text` into conversation `room` as the owner of `token`, over a WebSocket opened inside
 * `page` (Node has no WebSocket client of its own here); resolves with the message's id once the
 * server echoed it.
 */
export async function sendAs(page, token, room, text) {
  return page.evaluate(({ token: t, room: r, text: body }) => new Promise((resolve, reject) => {
    const ws = new WebSocket(`ws://${location.host}/ws?token=${encodeURIComponent(t)}`);
    const timer = setTimeout(() => { ws.close(); reject(new Error('no echo within 10 s')); }, 10000);
    ws.onmessage = (ev) => {
      const f = JSON.parse(ev.data);
      if (f.type === 'presence' && !ws.sent) {
        ws.sent = true;
        ws.send(JSON.stringify({ type: 'message', room: r, text: body }));
      } else if (f.type === 'message' && f.text === body && f.room === r) {
        clearTimeout(timer);
        ws.close();
        resolve(f.id);
      } else if (f.type === 'error') {
        clearTimeout(timer);
        ws.close();
        reject(new Error(f.detail));
      }
    };
    ws.onerror = () => reject(new Error('socket error'));
  }), { token, room, text });
}

/** The sidebar entry (the <li>) of the conversation called `label` (a room name or a DM's people). */
export function sidebarItem(page, label) {
  return page.locator('#sidebar li[data-room-id]').filter({
    has: page.locator('.conv-name', { hasText: new RegExp(`^${label.replace(/[.*+?^${}()|[\]\\]/g, '\\$&')}$`) }),
  });
}

/** Opens a conversation from the sidebar (through the drawer on a phone) and waits for its title. */
export async function openConversation(page, label) {
  const toggle = page.locator('#sidebar-toggle');
  if (await toggle.isVisible() && (await toggle.getAttribute('aria-expanded')) !== 'true') await toggle.click();
  await sidebarItem(page, label).locator('a').click();
  await page.locator('#chat-title', { hasText: label }).waitFor();
}
