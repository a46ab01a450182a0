// Browser scenario: the original implementation's own, unmodified web client against chatterbox.
// Its pages are not in this repository (licence); point CHATTERBOX_ORIGINAL_FRONTEND at a copy of
// its `frontend/` folder. They are served from another origin, as its dev server would, with only
// js/config.js rewritten on the fly to name this server instead of http://127.0.0.1:8000.
// Covers: register, sign in, chat both ways with readable times, a warning, the block that signs
// the user out, and the admin dashboard.

import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { createServer } from 'node:http';
import { readFile } from 'node:fs/promises';
import { existsSync } from 'node:fs';
import { join, normalize, extname } from 'node:path';
import {
  startServer, launchBrowser, registerApi, createUserCli, shot, removeDir, DESKTOP,
} from './helpers.mjs';

const FRONTEND = process.env.CHATTERBOX_ORIGINAL_FRONTEND;
const SKIP = !FRONTEND
  ? 'CHATTERBOX_ORIGINAL_FRONTEND is not set: point it at the original implementation\'s frontend/ folder to run this test'
  : false;
const PASSWORD = 'correct horse battery';
const ORIGINAL_API = 'http://127.0.0.1:8000';
const ORIGINAL_WS = 'ws://127.0.0.1:8000';
const TYPES = {
  '.html': 'text/html; charset=utf-8', '.js': 'text/javascript', '.css': 'text/css', '.svg': 'image/svg+xml',
};

let pages; // the static server for the original's pages
let server; // chatterbox
let browser;

/** Serves FRONTEND; js/config.js gets chatterbox's address instead of the original's. */
function servePages(apiUrl) {
  const http = createServer(async (req, res) => {
    const path = normalize(decodeURIComponent(new URL(req.url, 'http://x').pathname)).replace(/^(\.\.[/\\])+/, '');
    const file = join(FRONTEND, path.endsWith('/') ? `${path}index.html` : path);
    try {
      let body = await readFile(file);
      if (path === '/js/config.js') {
        const text = body.toString('utf8');
        if (!text.includes(ORIGINAL_API) || !text.includes(ORIGINAL_WS)) {
          throw new Error(`js/config.js no longer names ${ORIGINAL_API}; update this test`);
        }
        body = text.replaceAll(ORIGINAL_API, apiUrl()).replaceAll(ORIGINAL_WS, apiUrl().replace(/^http/, 'ws'));
      }
      res.writeHead(200, { 'content-type': TYPES[extname(file)] ?? 'application/octet-stream', 'cache-control': 'no-store' });
      res.end(body);
    } catch (e) {
      res.writeHead(e.code === 'ENOENT' ? 404 : 500, { 'content-type': 'text/plain' });
      res.end(String(e.message));
    }
  });
  return new Promise((resolve) => {
    http.listen(0, '127.0.0.1', () => resolve({ http, url: `http://127.0.0.1:${http.address().port}` }));
  });
}

/** A page whose alert() boxes are accepted and recorded (the original reports with alerts). */
async function originalPage() {
  const context = await browser.newContext({ viewport: DESKTOP, locale: 'en-GB', timezoneId: 'Europe/Berlin' });
  context.setDefaultTimeout(15000);
  const page = await context.newPage();
  const alerts = [];
  const errors = [];
  page.on('dialog', async (d) => {
    alerts.push(d.message());
    await d.accept().catch(() => {});
  });
  page.on('pageerror', (e) => errors.push(e.message));
  page.on('console', (m) => { if (m.type() === 'error') errors.push(m.text()); });
  return { context, page, alerts, errors };
}

async function signIn(page, email) {
  await page.goto(`${pages.url}/index.html`);
  await page.locator('#email').fill(email);
  await page.locator('#password').fill(PASSWORD);
  await page.getByRole('button', { name: 'Login' }).click();
  await page.waitForURL(/chat\.html$/);
  await page.locator('#messageInput').waitFor();
}

async function say(page, text) {
  await page.locator('#messageInput').fill(text);
  await page.locator('#messageInput').press('Enter');
}

/** Bubbles as { sender, text, time }. */
async function bubbles(page) {
  return page.$$eval('#messages .message', (els) => els.map((el) => ({
    sender: el.querySelector('.msg-sender').textContent.trim(),
    text: el.querySelector('.msg-content').textContent,
    time: el.querySelector('.msg-time').textContent,
  })));
}

async function waitForBubble(page, text) {
  await page.waitForFunction(
    (t) => [...document.querySelectorAll('#messages .msg-content')].some((el) => el.textContent === t),
    text,
  );
}

/** The clock time the page should show for a message, from our own RFC 3339 timestamp. */
function expectedTime(rfc3339) {
  return new Date(rfc3339).toLocaleTimeString('en-GB', { timeZone: 'Europe/Berlin', hour: '2-digit', minute: '2-digit' });
}

before(async () => {
  if (SKIP) return;
  assert.ok(existsSync(join(FRONTEND, 'js', 'chat.js')), `${FRONTEND} is not the original's frontend/ folder`);
  pages = await servePages(() => server.url);
  server = await startServer({ extraArgs: ['--cors-origin', pages.url] });
  browser = await launchBrowser();
});

after(async () => {
  await browser?.close();
  await server?.stop();
  pages?.http.close();
  if (server) removeDir(server.dir);
});

test('the original web client: register, chat, warnings, block, admin dashboard', { skip: SKIP }, async () => {
  const alice = await originalPage();
  const bob = await originalPage();
  const admin = await originalPage();
  try {
    // Alice registers and signs in through its pages (cross-origin: preflights included).
    await alice.page.goto(`${pages.url}/register.html`);
    await alice.page.locator('#username').fill('alice');
    await alice.page.locator('#email').fill('alice@example.com');
    await alice.page.locator('#password').fill(PASSWORD);
    await alice.page.getByRole('button', { name: 'Register' }).click();
    await alice.page.waitForURL(/index\.html$/);
    await signIn(alice.page, 'alice@example.com');

    await registerApi(server.url, 'bob', PASSWORD);
    await signIn(bob.page, 'bob@example.com');

    await say(alice.page, 'Hello from the original page');
    await waitForBubble(bob.page, 'Hello from the original page');
    await say(bob.page, '<b>hi</b> alice');
    await waitForBubble(alice.page, '<b>hi</b> alice');

    // Both see each message once, with a clock time that matches the server's UTC timestamp.
    const { token } = await registerApi(server.url, 'carol', PASSWORD);
    const history = await (await fetch(`${server.url}/messages`, { headers: { Authorization: `Bearer ${token}` } })).json();
    for (const { page } of [alice, bob]) {
      const seen = await bubbles(page);
      assert.deepEqual(seen.map((b) => b.text), ['Hello from the original page', '<b>hi</b> alice']);
      for (const [i, b] of seen.entries()) assert.equal(b.time, expectedTime(history[i].timestamp), JSON.stringify(b));
      const text = await page.locator('#messages').textContent();
      assert.doesNotMatch(text, /Invalid Date|undefined/);
      assert.equal(await page.locator('.date-separator').first().textContent(), 'Today');
    }
    assert.deepEqual((await bubbles(alice.page)).map((b) => b.sender), ['You', 'bob']);
    await shot(bob.page, 'original-chat-desktop');

    // A reload shows the history from /chat/messages once (the socket replays nothing).
    await bob.page.reload();
    await waitForBubble(bob.page, '<b>hi</b> alice');
    assert.equal((await bubbles(bob.page)).length, 2);

    // Moderation: two warnings as alerts, then the block, which signs her out.
    await say(alice.page, 'you idiot');
    await waitForAlerts(alice, 1);
    assert.match(alice.alerts[0], /^Warning 1/);
    await say(alice.page, 'you idiot');
    await waitForAlerts(alice, 2);
    assert.match(alice.alerts[1], /^Warning 2/);
    await shot(alice.page, 'original-chat-warned-desktop');
    await say(alice.page, 'you idiot');
    await alice.page.waitForURL(/index\.html$/);
    assert.match(alice.alerts[2], /blocked/);
    assert.equal(alice.alerts[3], 'You have been blocked.');
    assert.equal((await bubbles(bob.page)).length, 2, 'no violating message reached bob');

    // Signing in again is refused with the server's reason.
    await alice.page.locator('#email').fill('alice@example.com');
    await alice.page.locator('#password').fill(PASSWORD);
    await alice.page.getByRole('button', { name: 'Login' }).click();
    await alice.page.locator('#error').filter({ hasText: /blocked/i }).waitFor();

    // A message that would be markup in its admin table.
    await say(bob.page, '<img src=x onerror=alert(document.domain)>');
    await waitForBubble(bob.page, '<img src=x onerror=alert(document.domain)>');

    // The admin page. Its admin_login.html ships without its form (it is a copy of the
    // dashboard), so the test adds the three fields admin.js reads and calls its adminLogin().
    createUserCli(server.db, 'root', 'root@example.com', PASSWORD, { admin: true });
    await admin.page.goto(`${pages.url}/admin/admin_login.html`);
    await admin.page.evaluate(([email, password]) => {
      for (const [id, value] of [['adminEmail', email], ['adminPassword', password], ['adminError', '']]) {
        const input = document.createElement(id === 'adminError' ? 'div' : 'input');
        input.id = id;
        input.value = value;
        document.body.append(input);
      }
    }, ['root@example.com', PASSWORD]);
    await admin.page.evaluate(() => adminLogin()); // eslint-disable-line no-undef
    await admin.page.waitForURL(/admin_dashboard\.html$/);
    await admin.page.locator('#messageTable tr').nth(2).waitFor();
    assert.equal(await admin.page.locator('#totalUsers').textContent(), '4');
    assert.equal(await admin.page.locator('#totalMessages').textContent(), '3');
    assert.equal(await admin.page.locator('#blockedUsers').textContent(), '1');
    const rows = await admin.page.$$eval('#messageTable tr', (trs) => trs.map((tr) => [...tr.cells].map((td) => td.textContent.trim())));
    assert.deepEqual(rows.map((r) => [r[0], r[1], r[3]]), [
      ['bob', '<img src=x onerror=alert(document.domain)>', '✅ OK'],
      ['bob', '<b>hi</b> alice', '✅ OK'],
      ['alice', 'Hello from the original page', '🚫 Blocked'],
    ]);
    for (const r of rows) assert.match(r[2], /^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d(\.\d{6})?$/);
    assert.equal(await admin.page.locator('#messageTable img').count(), 0);
    await shot(admin.page, 'original-admin-dashboard-desktop');

    assert.deepEqual(admin.alerts, [], 'no script ran from a chat message');
    assert.deepEqual(bob.alerts, []);
    for (const p of [alice, bob, admin]) {
      assert.deepEqual(p.errors.filter((e) => !/favicon|Failed to load resource/.test(e)), []);
    }
  } finally {
    for (const p of [alice, bob, admin]) await p.context.close();
  }
});

async function waitForAlerts(p, n) {
  for (let i = 0; i < 150 && p.alerts.length < n; i += 1) await p.page.waitForTimeout(100);
  assert.ok(p.alerts.length >= n, `expected ${n} alert(s), got ${JSON.stringify(p.alerts)}`);
}
