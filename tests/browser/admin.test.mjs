// Browser scenarios for the admin dashboard: an admin blocks and unblocks a user, grants and
// revokes admin rights, watches the live chat and the moderation log, downloads both CSV files;
// lists rooms, archives and unarchives one, switches the live view between public rooms (never
// showing a private room's or a DM's text); non-admins and signed-out visitors are turned away.

import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { readFile } from 'node:fs/promises';
import {
  startServerWithAdmin, blockUserCli, launchBrowser, newPage, registerApi, openSignedIn,
  signInUi, loginApi, send, waitForMessage, shot, removeDir, PHONE, sleep,
} from './helpers.mjs';

let server;
let browser;
const users = {};
const ADMIN_PASSWORD = 'admin password 123';

before(async () => {
  server = await startServerWithAdmin(ADMIN_PASSWORD);
  browser = await launchBrowser();
  for (const name of ['erin', 'frank', 'grace']) users[name] = await registerApi(server.url, name);
});

after(async () => {
  await browser?.close();
  await server?.stop();
  if (server) removeDir(server.dir);
});

const row = (page, username) => page.locator(`#users-body tr[data-user="${username}"]`);

async function confirm(page, title, button) {
  const dialog = page.locator('dialog#confirm');
  await dialog.waitFor({ state: 'visible' });
  assert.equal(await page.locator('#confirm-title').textContent(), title);
  await dialog.getByRole('button', { name: button, exact: true }).click();
  await dialog.waitFor({ state: 'hidden' });
}

test('admin dashboard: block/unblock, grant/revoke, live view, audit log, CSV downloads', async () => {
  const erin = await newPage(browser);
  const admin = await newPage(browser, { acceptDownloads: true });
  try {
    await openSignedIn(erin.page, server.url, users.erin.token);
    await send(erin.page, 'hello from erin');
    await waitForMessage(erin.page, 'hello from erin');
    await send(erin.page, 'you idiot'); // one warning, for the moderation log
    await erin.page.locator('#log .notice-warning').waitFor();

    // The admin signs in through the normal form and follows the dashboard link.
    await signInUi(admin.page, server.url, 'root', ADMIN_PASSWORD);
    const link = admin.page.getByRole('link', { name: 'Dashboard' });
    await link.waitFor();
    await link.click();
    await admin.page.waitForURL(`${server.url}/admin`);
    const page = admin.page;
    await page.locator('#dash').waitFor({ state: 'visible' });
    await row(page, 'erin').waitFor();
    await page.locator('#stat-users').filter({ hasText: '4' }).waitFor();
    assert.equal(await page.locator('#stat-blocked').textContent(), '0');
    assert.match(await row(page, 'erin').textContent(), /erin@example\.com/);

    // "Online now" is the live view's count (erin and the dashboard itself), not a count
    // fetched before the dashboard's own socket joined.
    await page.locator('#live-online').filter({ hasText: 'Online (2)' }).waitFor();
    assert.equal(await page.locator('#stat-online').textContent(), '2');

    // The live view shows history and new messages as they happen.
    await page.locator('#live-log').getByText('hello from erin').waitFor();
    await send(erin.page, 'erin says something new');
    await page.locator('#live-log').getByText('erin says something new').waitFor();

    // The moderation log lists erin's warning with the matched term.
    const audit = page.locator('#audit-body');
    await audit.locator('tr', { hasText: 'erin' }).filter({ hasText: 'Warning' }).waitFor();
    assert.match(await audit.textContent(), /idiot/);
    assert.match(await audit.textContent(), /moderation/);
    assert.equal(await row(page, 'erin').locator('td[data-label=Warnings]').textContent(), '1');

    // Search and the blocked-only filter work on the client.
    await page.getByLabel('Search users by name or e-mail').fill('FRA');
    assert.equal(await page.locator('#users-body tr').count(), 1);
    await row(page, 'frank').waitFor();
    await page.getByLabel('Search users by name or e-mail').fill('example.com');
    assert.equal(await page.locator('#users-body tr').count(), 4);
    await page.getByLabel('Search users by name or e-mail').fill('');
    await page.getByLabel('Blocked only').check();
    assert.equal(await page.locator('#users-body tr').count(), 0);
    await page.locator('#users-empty').waitFor({ state: 'visible' });
    await page.getByLabel('Blocked only').uncheck();

    await shot(page, 'admin-desktop', { fullPage: true });

    // Cancelling the confirmation changes nothing.
    await row(page, 'erin').getByRole('button', { name: 'Block erin' }).click();
    await page.locator('dialog#confirm').waitFor({ state: 'visible' });
    await shot(page, 'admin-confirm-desktop');
    await page.locator('dialog#confirm').getByRole('button', { name: 'Cancel' }).click();
    await sleep(300);
    assert.match(await row(page, 'erin').textContent(), /Active/);

    // Block erin, with a reason: her open chat page ends on the blocked page at once.
    await row(page, 'erin').getByRole('button', { name: 'Block erin' }).click();
    await page.getByLabel('Reason (optional)').fill('Keeps insulting people');
    await confirm(page, 'Block erin?', 'Block user');
    await page.locator('#dash-status').filter({ hasText: 'erin is now blocked.' }).waitFor();
    await row(page, 'erin').filter({ hasText: 'Blocked' }).waitFor();
    assert.match(await row(page, 'erin').locator('td[data-label=Status]').textContent(), /Keeps insulting people\s*by root/);
    await audit.locator('tr', { hasText: 'erin' }).filter({ hasText: 'Reason: Keeps insulting people' }).waitFor();
    await erin.page.locator('#view-blocked').waitFor({ state: 'visible' });
    await page.locator('#stat-blocked').filter({ hasText: '1' }).waitFor();
    await page.getByLabel('Blocked only').check();
    assert.equal(await page.locator('#users-body tr').count(), 1);
    await page.getByLabel('Blocked only').uncheck();
    await audit.locator('tr', { hasText: 'erin' }).filter({ hasText: 'Blocked' }).filter({ hasText: 'root' }).waitFor();

    // Unblock her again.
    await row(page, 'erin').getByRole('button', { name: 'Unblock erin' }).click();
    await confirm(page, 'Unblock erin?', 'Unblock user');
    await row(page, 'erin').filter({ hasText: 'Active' }).waitFor();
    await page.locator('#stat-blocked').filter({ hasText: '0' }).waitFor();
    await audit.locator('tr', { hasText: 'erin' }).filter({ hasText: 'Unblocked' }).waitFor();
    // ...and she can chat again after a reload.
    await erin.page.reload();
    await erin.page.locator('#conn[data-state=connected]').waitFor({ state: 'attached' });

    // Grant and revoke admin rights.
    await row(page, 'frank').getByRole('button', { name: 'Make admin frank' }).click();
    await confirm(page, 'Make frank an administrator?', 'Make admin');
    await row(page, 'frank').locator('td[data-label=Role]').filter({ hasText: 'Admin' }).waitFor();
    await row(page, 'frank').getByRole('button', { name: 'Revoke admin frank' }).click();
    await confirm(page, 'Remove admin rights from frank?', 'Remove admin');
    await row(page, 'frank').locator('td[data-label=Role]').filter({ hasText: 'User' }).waitFor();

    // Both CSV files download through the bearer-authenticated fetch.
    const [usersDl] = await Promise.all([page.waitForEvent('download'), page.getByRole('button', { name: 'users.csv' }).click()]);
    assert.equal(usersDl.suggestedFilename(), 'users.csv');
    const usersCsv = await readFile(await usersDl.path(), 'utf8');
    assert.equal(usersCsv.replace(/^\uFEFF/, '').split(/\r?\n/)[0], 'id,username,email,role,blocked,warnings,created_at');
    for (const name of ['root', 'erin', 'frank', 'grace']) assert.match(usersCsv, new RegExp(`\\b${name}\\b`));
    assert.doesNotMatch(usersCsv, /\$2[aby]\$/, 'no password hashes in the export');

    const [msgDl] = await Promise.all([page.waitForEvent('download'), page.getByRole('button', { name: 'messages.csv' }).click()]);
    assert.equal(msgDl.suggestedFilename(), 'messages.csv');
    const msgCsv = await readFile(await msgDl.path(), 'utf8');
    assert.equal(msgCsv.replace(/^\uFEFF/, '').split(/\r?\n/)[0], 'id,sender_id,sender_username,content,timestamp,room,edited_at');
    assert.match(msgCsv, /hello from erin/);
    assert.match(msgCsv, /erin says something new/);
    assert.doesNotMatch(msgCsv, /you idiot/, 'a moderated message was never stored');
    await page.locator('#dash-status').filter({ hasText: 'messages.csv downloaded.' }).waitFor();

    await shot(page, 'admin-after-actions-desktop', { fullPage: true });
    assert.deepEqual(admin.problems, []);
    assert.deepEqual(erin.problems, []);
  } finally {
    await erin.context.close();
    await admin.context.close();
  }
});

/** A REST call as a user; resolves with the JSON answer, failing on any other status. */
async function apiAs(token, method, path, body, status = 200) {
  const res = await fetch(`${server.url}${path}`, {
    method,
    headers: { Authorization: `Bearer ${token}`, 'Content-Type': 'application/json' },
    body: body === undefined ? undefined : JSON.stringify(body),
  });
  const json = await res.json().catch(() => null);
  assert.equal(res.status, status, `${method} ${path}: ${JSON.stringify(json)}`);
  return json;
}

/**
 * A user's chat socket without the chat UI, opened from a page of the server's origin (the socket
 * checks the origin). `post(room, text)` resolves with the server's answer: the message frame of
 * the stored message, or an error frame.
 */
async function chatSocket(token) {
  const { context, page, problems } = await newPage(browser);
  await page.goto(`${server.url}/static/logo.svg`);
  await page.evaluate((t) => new Promise((resolve, reject) => {
    const ws = new WebSocket(`ws://${location.host}/ws?token=${encodeURIComponent(t)}`);
    ws.addEventListener('error', () => reject(new Error('the chat socket failed')));
    // The presence frame ends what the server sends on connect.
    ws.addEventListener('message', function ready(ev) {
      if (JSON.parse(ev.data).type !== 'presence') return;
      ws.removeEventListener('message', ready);
      resolve();
    });
    window.chatPost = (room, text) => new Promise((done) => {
      ws.addEventListener('message', function answer(ev) {
        const f = JSON.parse(ev.data);
        if (f.type === 'error' || (f.type === 'message' && f.room === room && f.text === text)) {
          ws.removeEventListener('message', answer);
          done(f);
        }
      });
      ws.send(JSON.stringify({ type: 'message', room, text }));
    });
  }), token);
  return {
    post: (room, text) => page.evaluate(([r, t]) => window.chatPost(r, t), [room, text]),
    close: () => context.close(),
    problems,
  };
}

test('rooms: the table, archive and unarchive, and the live view of one public room at a time', async () => {
  const kate = await registerApi(server.url, 'kate');
  const lobby = await apiAs(kate.token, 'POST', '/rooms', { name: 'lobby', topic: 'Say hello', visibility: 'public' }, 201);
  const secret = await apiAs(kate.token, 'POST', '/rooms', { name: 'secret-plans', visibility: 'private' }, 201);
  // The admin is a member of the private room and of a DM: their text reaches the dashboard's
  // socket, and the dashboard must still not show it.
  await apiAs(kate.token, 'POST', `/rooms/${secret.id}/members`, { username: 'root' });
  const dm = await apiAs(kate.token, 'POST', '/dms', { usernames: ['root'] });
  const general = (await apiAs(kate.token, 'GET', '/rooms')).find((r) => r.name === 'general');

  const chat = await chatSocket(kate.token);
  const admin = await newPage(browser, { acceptDownloads: true });
  const page = admin.page;
  const posted = async (room, text) => {
    const f = await chat.post(room, text);
    assert.equal(f.type, 'message', `posting "${text}": ${JSON.stringify(f)}`);
  };
  try {
    await posted(general.id, 'kate in general');
    await posted(lobby.id, 'lobby before the switch');

    const { token } = await loginApi(server.url, 'root', ADMIN_PASSWORD);
    await openSignedIn(page, server.url, token, { path: '/admin' });

    // The table lists both rooms with their kind and members; no DM.
    const roomRow = (name) => page.locator(`#rooms-body tr[data-room="${name}"]`);
    const cellOf = (name, label) => roomRow(name).locator(`td[data-label="${label}"]`);
    await roomRow('secret-plans').waitFor();
    assert.equal(await cellOf('lobby', 'Kind').textContent(), 'Public');
    assert.equal(await cellOf('secret-plans', 'Kind').textContent(), 'Private');
    assert.equal(await cellOf('lobby', 'Members').textContent(), '1');
    assert.equal(await cellOf('secret-plans', 'Members').textContent(), '2');
    assert.match(await cellOf('lobby', 'Room').textContent(), /Say hello/);
    assert.equal(await cellOf('lobby', 'Status').textContent(), 'Open');
    assert.equal(await page.locator(`#rooms-body tr[data-room-id="${dm.id}"]`).count(), 0, 'no DM in the table');

    // The live view starts on general and offers public rooms only.
    const select = page.getByLabel('Room', { exact: true });
    const log = page.locator('#live-log');
    await log.getByText('kate in general').waitFor();
    assert.equal(await select.inputValue(), String(general.id));
    assert.deepEqual(await select.locator('option').allTextContents(), ['general', 'lobby']);

    // Switching shows the lobby's recent messages in place of general's, then its new ones.
    await select.selectOption({ label: 'lobby' });
    await log.getByText('lobby before the switch').waitFor();
    assert.equal(await log.getByText('kate in general').count(), 0, 'the list was cleared');
    await posted(lobby.id, 'lobby, live');
    await log.getByText('lobby, live').waitFor();

    // Private room and DM text posted in between never shows, though the admin is in both.
    await posted(secret.id, 'private words');
    await posted(dm.id, 'words for root only');
    await posted(lobby.id, 'lobby, after the private ones');
    await log.getByText('lobby, after the private ones').waitFor();
    const hidden = async () => {
      for (const text of ['private words', 'words for root only']) {
        assert.equal(await page.getByText(text).count(), 0, `"${text}" is not on the dashboard`);
      }
    };
    await hidden();
    await select.selectOption({ label: 'general' });
    await log.getByText('kate in general').waitFor();
    assert.equal(await log.getByText('lobby, live').count(), 0);
    await posted(general.id, 'general again');
    await log.getByText('general again').waitFor();
    await hidden();
    const shown = await log.locator('.live-text').allTextContents();
    for (const text of ['lobby before the switch', 'lobby, live', 'lobby, after the private ones']) {
      assert.ok(!shown.includes(text), `"${text}" is not in general's list: ${JSON.stringify(shown)}`);
    }

    // The counts follow a refresh.
    await page.getByRole('button', { name: 'Refresh rooms' }).click();
    await cellOf('lobby', 'Messages').filter({ hasText: /^3$/ }).waitFor();
    assert.equal(await cellOf('secret-plans', 'Messages').textContent(), '1');
    assert.notEqual(await cellOf('lobby', 'Last activity').textContent(), 'No messages yet');
    await shot(page, 'admin-rooms-desktop', { fullPage: true });

    // Archive the lobby: confirmed in the page, then nobody can post in it.
    await roomRow('lobby').getByRole('button', { name: 'Archive lobby' }).click();
    await confirm(page, 'Archive lobby?', 'Archive room');
    await page.locator('#dash-status').filter({ hasText: 'lobby is now archived.' }).waitFor();
    await cellOf('lobby', 'Status').filter({ hasText: 'Archived' }).waitFor();
    assert.deepEqual(await select.locator('option').allTextContents(), ['general', 'lobby (archived)']);
    const refused = await chat.post(lobby.id, 'into the archive');
    assert.equal(refused.type, 'error');
    assert.match(refused.detail, /archived/i);
    await shot(page, 'admin-rooms-archived-desktop', { fullPage: true });

    // Unarchive it: posting works again.
    await roomRow('lobby').getByRole('button', { name: 'Unarchive lobby' }).click();
    await confirm(page, 'Unarchive lobby?', 'Unarchive room');
    await cellOf('lobby', 'Status').filter({ hasText: 'Open' }).waitFor();
    await posted(lobby.id, 'the lobby is open again');

    // The messages download covers public rooms, with the room after the time (then when the
    // text was edited, empty here); private and DM text is left out.
    const [dl] = await Promise.all([page.waitForEvent('download'), page.getByRole('button', { name: 'messages.csv' }).click()]);
    const csv = await readFile(await dl.path(), 'utf8');
    assert.match(csv, /lobby, live.*,lobby,\r?$/m);
    assert.match(csv, /kate in general.*,general,\r?$/m);
    assert.doesNotMatch(csv, /private words|words for root only/);
    assert.match(await page.getByRole('button', { name: 'messages.csv' }).getAttribute('aria-describedby'), /\S/);
    assert.match(await page.locator('#dl-messages-note').textContent(), /public rooms/);

    await page.setViewportSize(PHONE);
    await roomRow('lobby').scrollIntoViewIfNeeded();
    await shot(page, 'admin-rooms-phone', { fullPage: true });
    const overflow = await page.evaluate(() => document.documentElement.scrollWidth - window.innerWidth);
    assert.ok(overflow <= 0, `no horizontal scrolling (${overflow}px)`);
    assert.deepEqual(admin.problems, []);
    assert.deepEqual(chat.problems, []);
  } finally {
    await chat.close();
    await admin.context.close();
  }
});

test('the dashboard shows why an account is blocked, in the table and the moderation log', async () => {
  const ivan = await registerApi(server.url, 'ivan');
  await registerApi(server.url, 'henry');
  // henry: blocked by the operator with a reason; ivan: blocked automatically by moderation.
  blockUserCli(server.db, 'henry', 'Posted spam links');
  const ivanPage = await newPage(browser);
  const admin = await newPage(browser);
  try {
    await openSignedIn(ivanPage.page, server.url, ivan.token);
    for (let i = 0; i < 3; i += 1) await send(ivanPage.page, 'you idiot');
    await ivanPage.page.locator('#view-blocked').waitFor({ state: 'visible' });

    const { token } = await loginApi(server.url, 'root', ADMIN_PASSWORD);
    const page = admin.page;
    await openSignedIn(page, server.url, token, { path: '/admin' });
    const status = (name) => row(page, name).locator('td[data-label=Status]');
    await status('henry').filter({ hasText: 'Blocked' }).waitFor();
    assert.match(await status('henry').textContent(), /Posted spam links/);
    assert.match(await status('henry').textContent(), /by cli/);
    assert.match(await status('ivan').textContent(), /Automatic: repeated rule violations \(last: “idiot”\)/);
    assert.equal(await status('grace').textContent(), 'Active');
    await page.getByLabel('Blocked only').check();
    await status('henry').filter({ hasText: 'Posted spam links' }).waitFor();
    const audit = page.locator('#audit-body');
    await audit.locator('tr', { hasText: 'henry' }).filter({ hasText: 'Reason: Posted spam links' }).waitFor();
    await shot(page, 'admin-block-reasons-desktop', { fullPage: true });
    await page.setViewportSize(PHONE);
    await shot(page, 'admin-block-reasons-phone', { fullPage: true });
    assert.deepEqual(admin.problems, []);
  } finally {
    await ivanPage.context.close();
    await admin.context.close();
  }
});

test('"Online now" follows the live presence list at once', async () => {
  const admin = await newPage(browser);
  const visitor = await newPage(browser);
  try {
    const { token } = await loginApi(server.url, 'root', ADMIN_PASSWORD);
    await openSignedIn(admin.page, server.url, token, { path: '/admin' });
    const page = admin.page;
    const agree = async (n) => {
      await page.locator('#live-online').filter({ hasText: `Online (${n})` }).waitFor();
      // Read in the same moment as the list: the stats card must already agree, not on its next poll.
      const [list, stat] = await page.evaluate(() => [
        document.getElementById('live-online').textContent,
        document.getElementById('stat-online').textContent,
      ]);
      assert.match(list, new RegExp(`^Online \\(${n}\\)`));
      assert.equal(stat, String(n), `"Online now" ${stat} beside "${list}"`);
    };
    await agree(1);
    await openSignedIn(visitor.page, server.url, users.grace.token);
    await agree(2);
    await visitor.context.close();
    await agree(1);
    assert.deepEqual(admin.problems, []);
  } finally {
    await visitor.context.close().catch(() => {});
    await admin.context.close();
  }
});

test('admin dashboard on a phone and in dark mode', async () => {
  for (const [name, viewport, colorScheme] of [['admin-phone', PHONE, 'light'], ['admin-desktop-dark', undefined, 'dark']]) {
    const { context, page, problems } = await newPage(browser, { ...(viewport ? { viewport } : {}), colorScheme });
    try {
      const { token } = await loginApi(server.url, 'root', ADMIN_PASSWORD);
      await openSignedIn(page, server.url, token, { path: '/admin' });
      await row(page, 'grace').waitFor();
      await page.locator('#live-log li').first().waitFor();
      const overflow = await page.evaluate(() => document.documentElement.scrollWidth - window.innerWidth);
      assert.ok(overflow <= 0, `no horizontal scrolling (${overflow}px)`);
      await shot(page, name);
      await shot(page, `${name}-full`, { fullPage: true });
      assert.deepEqual(problems, []);
    } finally {
      await context.close();
    }
  }
});

test('a non-admin and a signed-out visitor are refused the dashboard', async () => {
  const { context, page, problems } = await newPage(browser);
  try {
    await page.goto(`${server.url}/admin`);
    await page.getByRole('heading', { name: 'Please sign in' }).waitFor();
    assert.equal(await page.getByRole('link', { name: 'Go to sign in' }).getAttribute('href'), '/');
    assert.equal(await page.locator('#dash').isVisible(), false);

    await openSignedIn(page, server.url, users.grace.token);
    assert.equal(await page.getByRole('link', { name: 'Dashboard' }).count(), 0, 'no dashboard link for a plain user');
    await page.goto(`${server.url}/admin`);
    await page.getByRole('heading', { name: 'Administrators only' }).waitFor();
    assert.match(await page.locator('#gate-text').textContent(), /grace/);
    assert.equal(await page.locator('#dash').isVisible(), false);
    assert.equal(await page.locator('#users-body tr').count(), 0, 'no user data rendered');
    await shot(page, 'admin-refused-desktop');
    await page.getByRole('link', { name: 'Back to the chat' }).click();
    await page.locator('#conn[data-state=connected]').waitFor({ state: 'attached' });
    assert.deepEqual(problems, []);
  } finally {
    await context.close();
  }
  const phone = await newPage(browser, { viewport: PHONE });
  try {
    await openSignedIn(phone.page, server.url, users.grace.token, { path: '/admin' });
    await phone.page.getByRole('heading', { name: 'Administrators only' }).waitFor();
    await shot(phone.page, 'admin-refused-phone');
  } finally {
    await phone.context.close();
  }
});
