// Accessibility: axe-core finds no serious or critical violation on any screen of the web UI:
// sign-in, create account, their error states (wrong input, expired session, server
// unreachable), the chat room (empty, with messages, with a warning, the people panel, offline),
// the conversations (sidebar with badges, phone drawer, a room with the unread line and a
// mention, the notification menu, the directory, the create-room, DM and add-people dialogs, an
// archived room), the blocked page and every view of the admin dashboard (with its rooms table,
// a room's archive confirmation and the live view of another room), the states of living
// messages (a message's actions open, edit mode, the delete dialog, the reaction picker and chips,
// the reply composer and a reply's quote, the typing line, the search pane with results, empty
// and failed), in light and dark, on a desktop and a phone. Each screen is also photographed for
// review.

import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import {
  startServerWithAdmin, blockUserCli, launchBrowser, newPage, registerApi, loginApi, openSignedIn,
  send, waitForMessage, shot, removeDir, checkA11y, apiOk, sendAs, sidebarItem, openConversation,
  DESKTOP, PHONE,
} from './helpers.mjs';

const VARIANTS = [
  ['light', 'desktop', DESKTOP],
  ['dark', 'desktop', DESKTOP],
  ['light', 'phone', PHONE],
  ['dark', 'phone', PHONE],
];
const ADMIN_PASSWORD = 'admin password 123';

let server;
let browser;
let adminToken;

before(async () => {
  server = await startServerWithAdmin(ADMIN_PASSWORD);
  browser = await launchBrowser();
  adminToken = (await loginApi(server.url, 'root', ADMIN_PASSWORD)).token;
});

after(async () => {
  await browser?.close();
  await server?.stop();
  if (server) removeDir(server.dir);
});

/**
 * Runs `scenario(page, variant, context)` once per colour scheme and device, each in a fresh
 * context; no scenario may leave page errors, CSP violations or native dialogs behind.
 */
async function eachVariant(scenario) {
  for (const [colorScheme, device, viewport] of VARIANTS) {
    const { context, page, problems } = await newPage(browser, { viewport });
    try {
      await page.emulateMedia({ colorScheme });
      await scenario(page, `${colorScheme}-${device}`, context);
      assert.deepEqual(problems, []);
    } finally {
      await context.close();
    }
  }
}

/**
 * Checks the screen as it is now, then keeps a screenshot of it. Stricter than checkA11y's
 * default: moderate violations (a missing landmark or heading, a role ARIA does not allow on an
 * element) fail here too, since every screen is at zero.
 */
async function screen(page, name, variant) {
  const label = `${name} (${variant})`;
  await checkA11y(page, label, { failOn: ['moderate', 'serious', 'critical'] });
  await shot(page, `a11y-${name}-${variant}`);
}

// The empty room first: every later test adds messages.
test('chat room without messages', async () => {
  await eachVariant(async (page, variant) => {
    const { token } = await registerApi(server.url, `empty_${variant.replace('-', '_')}`);
    await openSignedIn(page, server.url, token);
    await page.locator('#empty-state').waitFor({ state: 'visible' });
    await screen(page, 'chat-empty', variant);
  });
});

test('sign-in, create account and their error states', async () => {
  await eachVariant(async (page, variant) => {
    await page.goto(`${server.url}/`);
    await page.locator('#form-signin').waitFor({ state: 'visible' });
    await screen(page, 'signin', variant);

    // Empty fields: an error under each.
    await page.getByRole('button', { name: 'Sign in', exact: true }).click();
    await page.locator('#signin-password-error').waitFor({ state: 'visible' });
    await screen(page, 'signin-field-errors', variant);

    // Wrong password: the form's error banner.
    await page.locator('#signin-username').fill('root');
    await page.locator('#signin-password').fill('not the password');
    await page.getByRole('button', { name: 'Sign in', exact: true }).click();
    await page.locator('#form-signin .form-error').waitFor({ state: 'visible' });
    await screen(page, 'signin-wrong-password', variant);

    await page.getByRole('tab', { name: 'Create account' }).click();
    await page.locator('#form-register').waitFor({ state: 'visible' });
    await screen(page, 'register', variant);

    // Errors from the server beside their fields (a taken name, a short password).
    await page.locator('#register-username').fill('root');
    await page.locator('#register-email').fill(`taken-${variant}@example.com`);
    await page.locator('#register-password').fill('short');
    await page.getByRole('button', { name: 'Create account', exact: true }).click();
    await page.locator('#form-register .field-error:not([hidden])').first().waitFor();
    await screen(page, 'register-errors', variant);

    // An expired session comes back to sign-in with a note.
    await page.evaluate(() => localStorage.setItem('chatterbox.token', 'not-a-valid-token'));
    await page.goto(`${server.url}/`);
    await page.locator('#auth-note').waitFor({ state: 'visible' });
    await screen(page, 'session-expired', variant);

    // The server cannot be reached while the session is checked: the loading screen says so.
    const { token } = await loginApi(server.url, 'root', ADMIN_PASSWORD);
    await page.evaluate((t) => localStorage.setItem('chatterbox.token', t), token);
    await page.route('**/me', (route) => route.abort());
    await page.goto(`${server.url}/`);
    await page.locator('#loading-retry').waitFor({ state: 'visible' });
    await screen(page, 'loading-error', variant);
    await page.goto(`${server.url}/admin`);
    await page.getByRole('heading', { name: 'Cannot reach the server' }).waitFor();
    await screen(page, 'admin-unreachable', variant);
    await page.unroute('**/me');
  });
});

test('chat room with messages, a warning, the people list, offline, and the blocked page', async () => {
  const { token: bystander } = await registerApi(server.url, 'bystander');
  const other = await newPage(browser);
  try {
    await openSignedIn(other.page, server.url, bystander);
    await send(other.page, 'Hello, everyone 👋');
    await eachVariant(async (page, variant, context) => {
      const name = `chatter_${variant.replace('-', '_')}`;
      // The test holds the chat socket, so it can drop it the way a lost network would.
      let socket = null;
      await page.routeWebSocket(/\/ws/, (ws) => {
        socket = ws;
        ws.connectToServer();
      });
      const { token } = await registerApi(server.url, name);
      await openSignedIn(page, server.url, token);
      await send(page, `a message from ${variant}`);
      await waitForMessage(page, `a message from ${variant}`);
      await send(page, 'you idiot');
      await page.locator('#log .notice-warning').waitFor();
      await screen(page, 'chat-warning', variant);

      if (variant.endsWith('phone')) {
        await page.locator('#people-toggle').click();
        await page.locator('#people.open').waitFor();
        await screen(page, 'chat-people', variant);
        await page.locator('#people-toggle').click();
      }

      // The network goes away: the badge and the banner say so.
      await context.setOffline(true);
      await socket.close({ code: 1011 });
      await page.locator('#conn[data-state=offline]').waitFor({ state: 'attached' });
      await page.locator('#conn-banner').waitFor({ state: 'visible' });
      await screen(page, 'chat-offline', variant);
      await context.setOffline(false);
      await page.locator('#conn[data-state=connected]').waitFor({ state: 'attached' });

      blockUserCli(server.db, name, 'Spamming the room');
      await page.locator('#view-blocked').waitFor({ state: 'visible' });
      await screen(page, 'blocked', variant);
    });
  } finally {
    await other.context.close();
  }
});

/** POST as a user; resolves with the JSON answer. */
async function postAs(token, path, body) {
  const res = await fetch(`${server.url}${path}`, {
    method: 'POST',
    headers: { Authorization: `Bearer ${token}`, 'Content-Type': 'application/json' },
    body: JSON.stringify(body),
  });
  assert.ok(res.ok, `POST ${path}: HTTP ${res.status}`);
  return res.json();
}

test('every view of the admin dashboard', async () => {
  const { token: plain } = await registerApi(server.url, 'plain_user');
  await registerApi(server.url, 'troll');
  blockUserCli(server.db, 'troll', 'Insulted other users');
  // The rooms table with each kind and state: public with a topic, private, archived.
  await postAs(plain, '/rooms', { name: 'book-club', topic: 'What we are reading', visibility: 'public' });
  await postAs(plain, '/rooms', { name: 'plain-private', visibility: 'private' });
  const old = await postAs(plain, '/rooms', { name: 'old-news', visibility: 'public' });
  await postAs(adminToken, `/admin/rooms/${old.id}/archive`, {});
  await eachVariant(async (page, variant) => {
    await page.goto(`${server.url}/admin`);
    await page.getByRole('heading', { name: 'Please sign in' }).waitFor();
    await screen(page, 'admin-signed-out', variant);

    await openSignedIn(page, server.url, plain, { path: '/admin' });
    await page.getByRole('heading', { name: 'Administrators only' }).waitFor();
    await screen(page, 'admin-refused', variant);

    await openSignedIn(page, server.url, adminToken, { path: '/admin' });
    await page.locator('#users-body tr[data-user=plain_user]').waitFor();
    await page.locator('#live-log li').first().waitFor();
    await page.locator('#live-conn[data-state=connected]').waitFor({ state: 'attached' });
    await page.locator('#audit-body tr').first().waitFor();
    await page.locator('#rooms-body tr[data-room=old-news]').filter({ hasText: 'Archived' }).waitFor();
    await screen(page, 'admin', variant);
    await shot(page, `a11y-admin-full-${variant}`, { fullPage: true });

    await page.getByLabel('Blocked only').check();
    await page.locator('#users-body tr').first().waitFor();
    await screen(page, 'admin-blocked-only', variant);
    await page.getByLabel('Search users by name or e-mail').fill('nobody-matches-this');
    await page.locator('#users-empty').waitFor({ state: 'visible' });
    await screen(page, 'admin-no-match', variant);
    await page.getByLabel('Search users by name or e-mail').fill('');
    await page.getByLabel('Blocked only').uncheck();

    await page.locator('#users-body tr[data-user=plain_user]').getByRole('button', { name: 'Block plain_user' }).click();
    await page.locator('dialog#confirm').waitFor({ state: 'visible' });
    await screen(page, 'admin-confirm', variant);
    await page.locator('dialog#confirm').getByRole('button', { name: 'Cancel' }).click();

    await page.locator('#rooms-body tr[data-room=book-club]').getByRole('button', { name: 'Archive book-club' }).click();
    await page.locator('dialog#confirm').waitFor({ state: 'visible' });
    await screen(page, 'admin-room-confirm', variant);
    await page.locator('dialog#confirm').getByRole('button', { name: 'Cancel' }).click();
    await page.locator('dialog#confirm').waitFor({ state: 'hidden' });

    // The live view on another public room (empty), then back on general.
    await page.getByLabel('Room', { exact: true }).selectOption({ label: 'book-club' });
    await page.locator('#live-empty').filter({ hasText: 'No messages in book-club yet.' }).waitFor();
    await page.locator('#live-scroller').scrollIntoViewIfNeeded();
    await screen(page, 'admin-live-room', variant);
    await page.getByLabel('Room', { exact: true }).selectOption({ label: 'general' });
    await page.locator('#live-log li').first().waitFor();

    // A refused action: the error banner (nobody can block their own account).
    await page.evaluate(() => {
      document.getElementById('dash-error-text').textContent = 'Could not block user root: You cannot block your own account';
      document.getElementById('dash-error').hidden = false;
    });
    await screen(page, 'admin-error', variant);
    await page.getByRole('button', { name: 'Dismiss' }).click();

    await page.getByRole('button', { name: 'users.csv' }).click();
    await page.locator('#dash-status').waitFor({ state: 'visible' });
    await screen(page, 'admin-status', variant);
  });
});

/** Clicks a button of the conversation list, opening the drawer first on a phone. */
async function sidebarButton(page, name) {
  const toggle = page.locator('#sidebar-toggle');
  if (await toggle.isVisible() && (await toggle.getAttribute('aria-expanded')) !== 'true') await toggle.click();
  await page.locator('#sidebar').getByRole('button', { name, exact: true }).click();
}

test('conversations: sidebar, drawer, unread line, notification menu, directory, dialogs, archived room', async () => {
  const { token: owner } = await registerApi(server.url, 'room_owner');
  const lobby = await apiOk(server.url, owner, '/rooms', { method: 'POST', body: { name: 'lobby', topic: 'Say hello here', visibility: 'public' } });
  const hideout = await apiOk(server.url, owner, '/rooms', { method: 'POST', body: { name: 'hideout', visibility: 'private' } });
  const attic = await apiOk(server.url, owner, '/rooms', { method: 'POST', body: { name: 'attic', topic: 'Old plans', visibility: 'public' } });
  const helper = await newPage(browser); // a page to open the owner's sockets from
  try {
    await openSignedIn(helper.page, server.url, owner);
    await sendAs(helper.page, owner, attic.id, 'the last word in the attic');
    await eachVariant(async (page, variant) => {
      const name = `rooms_${variant.replace('-', '_')}`;
      const { token } = await registerApi(server.url, name);
      await apiOk(server.url, token, `/rooms/${lobby.id}/join`, { method: 'POST' });
      await apiOk(server.url, token, `/rooms/${attic.id}/join`, { method: 'POST' });
      await apiOk(server.url, owner, `/rooms/${hideout.id}/members`, { method: 'POST', body: { username: name } });
      const dm = await apiOk(server.url, owner, '/dms', { method: 'POST', body: { usernames: [name] } });
      await sendAs(helper.page, owner, lobby.id, `Welcome, @${name}!`);
      await sendAs(helper.page, owner, lobby.id, 'The rules are pinned in the topic.');
      await sendAs(helper.page, owner, dm.id, 'Hi, a private word with you');

      await openSignedIn(page, server.url, token);
      await page.locator(`#sidebar li[data-room-id="${lobby.id}"][data-mentions="1"]`).waitFor({ state: 'attached' });
      await page.locator(`#sidebar li[data-room-id="${dm.id}"][data-unread="1"]`).waitFor({ state: 'attached' });
      if (variant.endsWith('phone')) {
        await page.locator('#sidebar-toggle').click();
        await page.locator('#sidebar').waitFor({ state: 'visible' });
        await screen(page, 'rooms-drawer', variant);
        await page.keyboard.press('Escape');
        await page.locator('#sidebar').waitFor({ state: 'hidden' });
      } else {
        await screen(page, 'rooms-sidebar', variant);
      }

      await openConversation(page, 'lobby');
      await waitForMessage(page, 'The rules are pinned in the topic.');
      await page.locator('#log .unread-divider').waitFor();
      await page.locator('#log .msg.mention mark').waitFor();
      await screen(page, 'rooms-unread-line', variant);

      await page.locator('#notify-button').click();
      await page.getByRole('menu').waitFor();
      await screen(page, 'rooms-notify-menu', variant);
      await page.keyboard.press('Escape');
      await page.getByRole('menu').waitFor({ state: 'hidden' });

      await sidebarButton(page, 'Browse rooms');
      const directory = page.getByRole('dialog', { name: 'Browse rooms' });
      await directory.locator('li', { hasText: 'lobby' }).waitFor();
      await screen(page, 'rooms-directory', variant);
      await directory.getByRole('button', { name: 'Close' }).click();

      await sidebarButton(page, 'Create a room');
      const create = page.getByRole('dialog', { name: 'Create a room' });
      await create.getByRole('button', { name: 'Create room' }).click();
      await page.locator('#create-room-name-error').waitFor({ state: 'visible' });
      await screen(page, 'rooms-create-room', variant);
      await create.getByRole('button', { name: 'Cancel' }).click();

      await sidebarButton(page, 'New direct message');
      const dmDialog = page.getByRole('dialog', { name: 'New direct message' });
      await dmDialog.getByLabel('Find people by name').fill('room_o');
      await dmDialog.locator('#dm-results [data-user=room_owner]').click();
      await dmDialog.locator('#dm-selected', { hasText: 'room_owner' }).waitFor();
      await screen(page, 'rooms-dm-dialog', variant);
      await dmDialog.getByRole('button', { name: 'Cancel' }).click();

      await openConversation(page, 'hideout');
      await page.getByRole('button', { name: 'Add people' }).click();
      const add = page.getByRole('dialog', { name: /Add people to hideout/ });
      await add.getByLabel('Find people by name').fill('bys');
      await add.locator('#add-people-results li').first().waitFor();
      await add.locator('#add-people-members li').first().waitFor();
      await screen(page, 'rooms-add-people', variant);
      await add.getByRole('button', { name: 'Done' }).click();

      await openConversation(page, 'room_owner');
      await waitForMessage(page, 'Hi, a private word with you');
      await screen(page, 'rooms-dm', variant);

      await apiOk(server.url, adminToken, `/admin/rooms/${attic.id}/archive`, { method: 'POST' });
      await openConversation(page, 'attic');
      await page.locator('#composer-note').waitFor({ state: 'visible' });
      await screen(page, 'rooms-archived', variant);
      await apiOk(server.url, adminToken, `/admin/rooms/${attic.id}/unarchive`, { method: 'POST' });
    });
  } finally {
    await helper.context.close();
  }
});

/**
 * Opens a socket inside `page` as `token` and sends a `typing` frame for `room` once connected
 * (the page then sees the typing line for a few seconds).
 */
async function typingAs(page, token, room) {
  await page.evaluate(({ t, r }) => new Promise((resolve, reject) => {
    const ws = new WebSocket(`ws://${location.host}/ws?token=${encodeURIComponent(t)}`);
    ws.onmessage = (ev) => {
      if (JSON.parse(ev.data).type !== 'presence') return;
      ws.send(JSON.stringify({ type: 'typing', room: r }));
      setTimeout(() => { ws.close(); resolve(true); }, 300);
    };
    ws.onerror = () => reject(new Error('socket error'));
  }), { t: token, r: room });
}

test('living messages: actions, edit, delete dialog, reactions, reply, typing line, search', async () => {
  const { token: typist } = await registerApi(server.url, 'typist');
  await eachVariant(async (page, variant) => {
    const name = `living_${variant.replace('-', '_')}`;
    const { token } = await registerApi(server.url, name);
    const room = await postAs(token, '/rooms', { name: `living-${variant}`, visibility: 'public' });
    await postAs(typist, `/rooms/${room.id}/join`, {});
    await openSignedIn(page, server.url, token);
    await openConversation(page, `living-${variant}`);
    const text = `findable message from ${variant}`;
    await send(page, text);
    await waitForMessage(page, text);
    const m = page.locator('#log .msg').filter({ has: page.locator('.msg-text', { hasText: new RegExp(`^${text}$`) }) });

    await m.hover();
    await m.locator('.msg-actions-btn').click();
    await page.locator('#msg-menu').waitFor();
    await screen(page, 'living-actions', variant);

    await page.locator('#msg-menu').getByRole('menuitem', { name: 'React…' }).click();
    await page.locator('#emoji-picker').waitFor();
    await screen(page, 'living-picker', variant);
    await page.locator('#emoji-picker').getByRole('button', { name: 'React with 👍' }).click();
    await m.locator('.chip[aria-pressed=true]').waitFor();

    await m.locator('.msg-actions-btn').click();
    await page.locator('#msg-menu').getByRole('menuitem', { name: 'Edit' }).click();
    await page.getByRole('textbox', { name: 'Edit your message' }).waitFor();
    await screen(page, 'living-edit', variant);
    await page.keyboard.press('Escape');

    await m.locator('.msg-actions-btn').click();
    await page.locator('#msg-menu').getByRole('menuitem', { name: 'Reply' }).click();
    await page.locator('#reply-bar').waitFor();
    await screen(page, 'living-reply-composer', variant);
    await send(page, `a reply from ${variant}`);
    await page.locator('#log .msg .msg-quote').first().waitFor();
    await typingAs(page, typist, room.id);
    await page.locator('#typing', { hasText: 'typist is typing…' }).waitFor();
    await screen(page, 'living-reply-typing', variant);

    await m.locator('.msg-actions-btn').click();
    await page.locator('#msg-menu').getByRole('menuitem', { name: 'Delete…' }).click();
    await page.locator('#dlg-confirm').waitFor({ state: 'visible' });
    await screen(page, 'living-delete', variant);
    await page.locator('#dlg-confirm').getByRole('button', { name: 'Cancel' }).click();

    await page.locator('#search-toggle').click();
    const box = page.getByRole('searchbox', { name: 'Search messages' });
    await box.fill(`findable message from ${variant}`);
    await box.press('Enter');
    await page.locator('#search-results li').first().waitFor();
    await screen(page, 'living-search', variant);
    await box.fill('no such words anywhere');
    await box.press('Enter');
    await page.locator('#search-status', { hasText: 'No messages match' }).waitFor();
    await screen(page, 'living-search-empty', variant);
    await page.route('**/search?*', (route) => route.abort());
    await box.press('Enter');
    await page.locator('#search-status', { hasText: 'The search failed' }).waitFor();
    await screen(page, 'living-search-error', variant);
    await page.unroute('**/search?*');
  });
});
