// Browser scenarios for conversations: creating a room that a second person finds in the
// directory and joins, a private room a third person cannot see, direct messages started from
// the UI, unread and mention badges that clear on reading, the "new since you last read" line,
// mentions highlighted, per-room notification levels, browser notifications while the tab is
// hidden, and the phone drawer.

import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import {
  startServer, launchBrowser, newPage, registerApi, openSignedIn, send, waitForMessage,
  messagesIn, shot, removeDir, apiAs, apiOk, sendAs, sidebarItem, openConversation, PHONE, sleep,
} from './helpers.mjs';

let server;
let browser;
const users = {};

before(async () => {
  server = await startServer();
  browser = await launchBrowser();
  for (const name of ['alice', 'bob', 'carol', 'dave']) users[name] = await registerApi(server.url, name);
});

after(async () => {
  await browser?.close();
  await server?.stop();
  if (server) removeDir(server.dir);
});

/** The id of the conversation `label` in the page's sidebar. */
async function roomIdIn(page, label) {
  return Number(await sidebarItem(page, label).getAttribute('data-room-id'));
}

test('a room created in the UI: a second person finds it in the directory, joins, and they chat', async () => {
  const a = await newPage(browser);
  const b = await newPage(browser, { colorScheme: 'dark' });
  try {
    await openSignedIn(a.page, server.url, users.alice.token);
    await openSignedIn(b.page, server.url, users.bob.token);

    await a.page.getByRole('button', { name: 'Create a room' }).click();
    const dialog = a.page.getByRole('dialog', { name: 'Create a room' });
    await dialog.getByLabel('Name').fill('book-club');
    await dialog.getByLabel(/Topic/).fill('One novel a month');
    await dialog.getByRole('button', { name: 'Create room' }).click();
    await dialog.waitFor({ state: 'hidden' });
    await a.page.locator('#chat-title', { hasText: 'book-club' }).waitFor();
    assert.equal(await a.page.locator('#conv-topic').textContent(), 'One novel a month');
    assert.equal(await sidebarItem(a.page, 'book-club').locator('a').getAttribute('aria-current'), 'page');
    await send(a.page, 'Welcome to the book club');
    await waitForMessage(a.page, 'Welcome to the book club');

    // The same name again (in other letters' case) is refused beside the field.
    await a.page.getByRole('button', { name: 'Create a room' }).click();
    await dialog.getByLabel('Name').fill('Book-Club');
    await dialog.getByRole('button', { name: 'Create room' }).click();
    await a.page.locator('#create-room-name-error').waitFor({ state: 'visible' });
    assert.equal(await dialog.getByLabel('Name').getAttribute('aria-invalid'), 'true');
    await dialog.getByRole('button', { name: 'Cancel' }).click();
    await dialog.waitFor({ state: 'hidden' });

    // Bob is not in it yet: he finds it in the directory and joins.
    assert.equal(await sidebarItem(b.page, 'book-club').count(), 0);
    await b.page.getByRole('button', { name: 'Browse rooms' }).click();
    const directory = b.page.getByRole('dialog', { name: 'Browse rooms' });
    const entry = directory.locator('li', { hasText: 'book-club' });
    await entry.waitFor();
    assert.match(await entry.textContent(), /One novel a month/);
    await shot(b.page, 'rooms-directory-dark');
    await entry.getByRole('button', { name: 'Join book-club' }).click();
    await directory.waitFor({ state: 'hidden' });
    await b.page.locator('#chat-title', { hasText: 'book-club' }).waitFor();
    await waitForMessage(b.page, 'Welcome to the book club'); // the room's history
    await sidebarItem(b.page, 'book-club').waitFor();

    await send(b.page, 'Happy to be here!');
    await waitForMessage(a.page, 'Happy to be here!');
    await send(a.page, 'First book: Middlemarch');
    await waitForMessage(b.page, 'First book: Middlemarch');
    assert.deepEqual((await messagesIn(b.page)).map((m) => [m.text, m.own]), [
      ['Welcome to the book club', false],
      ['Happy to be here!', true],
      ['First book: Middlemarch', false],
    ]);
    await shot(a.page, 'rooms-chat-desktop');

    // The room's messages stay in the room: general does not show them.
    await openConversation(b.page, 'general');
    await sleep(200);
    assert.equal((await messagesIn(b.page)).some((m) => /book/.test(m.text)), false);

    // Bob leaves (after confirming): the room leaves his sidebar; the directory offers it again.
    await openConversation(b.page, 'book-club');
    await b.page.getByRole('button', { name: 'Leave', exact: true }).click();
    await b.page.getByRole('dialog', { name: /Leave book-club/ }).getByRole('button', { name: 'Leave room' }).click();
    await sidebarItem(b.page, 'book-club').waitFor({ state: 'detached' });
    await b.page.locator('#chat-title', { hasText: 'general' }).waitFor();
    const dir = await apiOk(server.url, users.bob.token, '/rooms/directory');
    assert.equal(dir.find((d) => d.name === 'book-club')?.joined, false);

    assert.deepEqual(a.problems, []);
    assert.deepEqual(b.problems, []);
  } finally {
    await a.context.close();
    await b.context.close();
  }
});

test('a private room: members add people, the creator removes them; a third person sees it nowhere and gets 404', async () => {
  const a = await newPage(browser);
  const b = await newPage(browser);
  const c = await newPage(browser);
  try {
    await openSignedIn(a.page, server.url, users.alice.token);
    await openSignedIn(b.page, server.url, users.bob.token);
    await openSignedIn(c.page, server.url, users.carol.token);

    await a.page.getByRole('button', { name: 'Create a room' }).click();
    const dialog = a.page.getByRole('dialog', { name: 'Create a room' });
    await dialog.getByLabel('Name').fill('surprise-party');
    await dialog.getByRole('radio', { name: /Private/ }).check();
    await dialog.getByRole('button', { name: 'Create room' }).click();
    await a.page.locator('#chat-title', { hasText: 'surprise-party' }).waitFor();
    const id = await roomIdIn(a.page, 'surprise-party');
    assert.ok(id > 1);

    // Alice adds bob through the "Add people" dialog; the room appears in his sidebar live.
    await a.page.getByRole('button', { name: 'Add people' }).click();
    const add = a.page.getByRole('dialog', { name: /Add people to surprise-party/ });
    await add.getByLabel('Find people by name').fill('bo');
    await add.getByRole('button', { name: 'Add bob' }).click();
    await add.locator('#add-people-status', { hasText: 'bob was added.' }).waitFor();
    await add.locator('#add-people-members', { hasText: 'bob' }).waitFor();
    await shot(a.page, 'rooms-add-people');
    await add.getByRole('button', { name: 'Done' }).click();
    await sidebarItem(b.page, 'surprise-party').waitFor();

    await send(a.page, 'Carol turns 30 on Friday 🎂');
    await openConversation(b.page, 'surprise-party');
    await waitForMessage(b.page, 'Carol turns 30 on Friday 🎂');
    await send(b.page, 'I will bring the cake');
    await waitForMessage(a.page, 'I will bring the cake');

    // Carol: a message in general reaches her, so her sidebar is up to date; no trace of the room.
    await openConversation(a.page, 'general');
    await send(a.page, 'Anyone up for lunch?');
    await waitForMessage(c.page, 'Anyone up for lunch?');
    assert.equal(await sidebarItem(c.page, 'surprise-party').count(), 0);
    assert.equal(await c.page.locator('#sidebar', { hasText: 'surprise' }).count(), 0);
    await c.page.getByRole('button', { name: 'Browse rooms' }).click();
    const directory = c.page.getByRole('dialog', { name: 'Browse rooms' });
    await directory.locator('li', { hasText: 'general' }).waitFor();
    assert.equal(await directory.locator('li', { hasText: 'surprise' }).count(), 0);
    await directory.getByRole('button', { name: 'Close' }).click();

    // Asking by id gives the same answer as an id that does not exist.
    const seen = await apiAs(server.url, users.carol.token, `/rooms/${id}`);
    assert.equal(seen.status, 404);
    assert.deepEqual(seen.body, { detail: 'No such room' });
    assert.equal((await apiAs(server.url, users.carol.token, `/rooms/${id}/messages`)).status, 404);
    assert.equal((await apiAs(server.url, users.carol.token, `/rooms/${id}/join`, { method: 'POST' })).status, 404);
    // Even opening its address does not show it.
    await c.page.goto(`${server.url}/#room-${id}`);
    await c.page.reload();
    await c.page.locator('#conn[data-state=connected]').waitFor({ state: 'attached' });
    await c.page.locator('#chat-title', { hasText: 'general' }).waitFor();
    assert.equal((await messagesIn(c.page)).some((m) => /cake|Carol turns/.test(m.text)), false);

    // The creator removes bob: the room leaves his sidebar at once and its id is gone for him.
    await openConversation(a.page, 'surprise-party');
    await a.page.getByRole('button', { name: 'Add people' }).click();
    await add.getByRole('button', { name: 'Remove bob' }).click();
    await add.locator('#add-people-status', { hasText: 'bob was removed.' }).waitFor();
    assert.equal(await add.locator('#add-people-members', { hasText: 'bob' }).count(), 0);
    await add.getByRole('button', { name: 'Done' }).click();
    await sidebarItem(b.page, 'surprise-party').waitFor({ state: 'detached' });
    await b.page.locator('#chat-title', { hasText: 'general' }).waitFor();
    assert.equal((await apiAs(server.url, users.bob.token, `/rooms/${id}`)).status, 404);

    for (const p of [a, b, c]) assert.deepEqual(p.problems, []);
  } finally {
    await a.context.close();
    await b.context.close();
    await c.context.close();
  }
});

test('direct messages: started from the online list and from the people search', async () => {
  const a = await newPage(browser);
  const b = await newPage(browser);
  const d = await newPage(browser);
  try {
    await openSignedIn(a.page, server.url, users.alice.token);
    await openSignedIn(b.page, server.url, users.bob.token);

    // From the online list: alice messages bob.
    await a.page.locator('#people-list').getByRole('button', { name: 'Message bob' }).click();
    await a.page.locator('#chat-title', { hasText: 'bob' }).waitFor();
    assert.match(await a.page.locator('#chat-title').textContent(), /Direct message with/);
    await send(a.page, 'psst, bob');
    await waitForMessage(a.page, 'psst, bob');

    // Bob: the DM appears with an unread badge; opening it shows the message and clears it.
    const dm = sidebarItem(b.page, 'alice');
    await dm.waitFor();
    await b.page.locator('#dm-list li[data-unread="1"]').waitFor();
    await openConversation(b.page, 'alice');
    await waitForMessage(b.page, 'psst, bob');
    await b.page.locator('#dm-list li[data-unread="0"]').waitFor();
    await send(b.page, 'hi alice, only you can read this');
    await waitForMessage(a.page, 'hi alice, only you can read this');

    // The same people again: the same conversation.
    await a.page.getByRole('button', { name: 'New direct message' }).click();
    let dialog = a.page.getByRole('dialog', { name: 'New direct message' });
    await dialog.locator('#dm-online [data-user=bob]').click();
    assert.equal(await dialog.locator('#dm-online [data-user=bob]').getAttribute('aria-pressed'), 'true');
    await dialog.getByRole('button', { name: 'Start conversation' }).click();
    await dialog.waitFor({ state: 'hidden' });
    await waitForMessage(a.page, 'hi alice, only you can read this');
    assert.equal(await a.page.locator('#dm-list li').count(), 1);

    // From the search: dave (offline for alice until now) starts a DM with alice and carol.
    await openSignedIn(d.page, server.url, users.dave.token);
    await d.page.getByRole('button', { name: 'New direct message' }).click();
    dialog = d.page.getByRole('dialog', { name: 'New direct message' });
    await dialog.getByLabel('Find people by name').fill('ali');
    await dialog.locator('#dm-results [data-user=alice]').click();
    await dialog.getByLabel('Find people by name').fill('car');
    await dialog.locator('#dm-results [data-user=carol]').click();
    await dialog.locator('#dm-selected', { hasText: 'With: alice, carol' }).waitFor();
    await shot(d.page, 'rooms-dm-dialog');
    await dialog.getByRole('button', { name: 'Start conversation' }).click();
    await d.page.locator('#chat-title', { hasText: 'alice, carol' }).waitFor();
    await send(d.page, 'a group DM');
    await sidebarItem(a.page, 'carol, dave').waitFor();
    await openConversation(a.page, 'carol, dave');
    await waitForMessage(a.page, 'a group DM');

    // Bob is in neither of the others' DMs.
    assert.equal(await sidebarItem(b.page, 'carol, dave').count(), 0);
    const bobs = await apiOk(server.url, users.bob.token, '/rooms');
    assert.deepEqual(bobs.filter((r) => r.kind === 'dm').map((r) => r.people), [['alice']]);

    // Hiding a DM removes it from the sidebar until a new message arrives.
    await openConversation(b.page, 'alice');
    await b.page.getByRole('button', { name: 'Hide', exact: true }).click();
    await sidebarItem(b.page, 'alice').waitFor({ state: 'detached' });
    await openConversation(a.page, 'bob');
    await send(a.page, 'are you still there?');
    await sidebarItem(b.page, 'alice').waitFor();
    await openConversation(b.page, 'alice');
    await waitForMessage(b.page, 'are you still there?');

    for (const p of [a, b, d]) assert.deepEqual(p.problems, []);
  } finally {
    await a.context.close();
    await b.context.close();
    await d.context.close();
  }
});

test('unread and mention badges, the page title and the "new since you last read" line clear on reading', async () => {
  const room = await apiOk(server.url, users.alice.token, '/rooms', { method: 'POST', body: { name: 'news', visibility: 'public' } });
  await apiOk(server.url, users.carol.token, `/rooms/${room.id}/join`, { method: 'POST' });
  const b = await newPage(browser);
  const { context, page, problems } = await newPage(browser);
  try {
    await openSignedIn(b.page, server.url, users.bob.token); // a page to open sockets from
    await sendAs(b.page, users.alice.token, room.id, 'news one');
    await sendAs(b.page, users.alice.token, room.id, 'news two');
    await sendAs(b.page, users.alice.token, room.id, 'news three, @carol');

    await openSignedIn(page, server.url, users.carol.token);
    const item = sidebarItem(page, 'news');
    await page.locator(`#sidebar li[data-room-id="${room.id}"][data-unread="3"][data-mentions="1"]`).waitFor();
    assert.equal(await item.locator('.badge:not(.badge-mention)').textContent(), '3');
    assert.equal(await item.locator('.badge-mention').textContent(), '@1');
    assert.match(await item.locator('a').textContent(), /3 unread messages, 1 mention/);
    assert.match(await page.title(), /^\(\d+\) Chatterbox$/);

    // Live: one more while carol reads general.
    await sendAs(b.page, users.alice.token, room.id, 'news four');
    await page.locator(`#sidebar li[data-room-id="${room.id}"][data-unread="4"]`).waitFor();
    await shot(page, 'rooms-unread-badges');
    const titleCount = async () => Number(/^\((\d+)\)/.exec(await page.title())?.[1] || 0);
    const before = await titleCount();
    assert.ok(before >= 4, `the title counts the room's unread messages (${await page.title()})`);

    // Opening the room: the line sits before the first unread message, the mention is
    // highlighted, and the badges and the title's count go away (the server's marker too).
    await openConversation(page, 'news');
    await waitForMessage(page, 'news four');
    const order = await page.$$eval('#log > *', (els) => els.map((el) => (el.classList.contains('unread-divider') ? 'LINE' : el.querySelector('.msg-text')?.textContent)));
    assert.deepEqual(order, ['LINE', 'news one', 'news two', 'news three, @carol', 'news four']);
    const mention = page.locator('#log .msg.mention');
    assert.equal(await mention.count(), 1);
    assert.equal(await mention.locator('mark.mention-me').textContent(), '@carol');
    await page.locator(`#sidebar li[data-room-id="${room.id}"][data-unread="0"][data-mentions="0"]`).waitFor();
    assert.equal(await item.locator('.badge').count(), 0);
    await page.waitForFunction((n) => document.title === (n ? `(${n}) Chatterbox` : 'Chatterbox'), before - 4);
    await shot(page, 'rooms-read');
    const mine = (await apiOk(server.url, users.carol.token, '/rooms')).find((r) => r.id === room.id);
    assert.equal(mine.unread, 0);
    assert.equal(mine.mentions, 0);

    // Read on another device: the marker moves here too.
    await openConversation(page, 'general');
    await sendAs(b.page, users.alice.token, room.id, 'news five');
    await page.locator(`#sidebar li[data-room-id="${room.id}"][data-unread="1"]`).waitFor();
    const latest = await apiOk(server.url, users.carol.token, `/rooms/${room.id}/messages?limit=1`);
    await apiOk(server.url, users.carol.token, `/rooms/${room.id}/read`, { method: 'POST', body: { message_id: latest[0].id } });
    await page.locator(`#sidebar li[data-room-id="${room.id}"][data-unread="0"]`).waitFor();

    // Reloading: nothing is unread any more, so no line.
    await page.reload();
    await page.locator('#conn[data-state=connected]').waitFor({ state: 'attached' });
    await openConversation(page, 'news');
    await waitForMessage(page, 'news five');
    assert.equal(await page.locator('#log .unread-divider').count(), 0);
    assert.deepEqual(problems, []);
    assert.deepEqual(b.problems, []);
  } finally {
    await context.close();
    await b.context.close();
  }
});

test('notification levels and browser notifications while the tab is hidden', async () => {
  const room = await apiOk(server.url, users.alice.token, '/rooms', { method: 'POST', body: { name: 'chatter', visibility: 'public' } });
  await apiOk(server.url, users.dave.token, `/rooms/${room.id}/join`, { method: 'POST' });
  const b = await newPage(browser);
  const { context, page, problems } = await newPage(browser);
  // A stand-in for the browser's Notification API (headless Chromium shows none) that records
  // what the page asks for, and a switch for document.hidden.
  await context.addInitScript(() => {
    window.__notes = [];
    window.__hidden = false;
    class FakeNotification {
      static permission = 'default';
      static requestPermission() { FakeNotification.permission = 'granted'; return Promise.resolve('granted'); }
      constructor(title, options) { window.__notes.push({ title, body: options?.body }); }
      addEventListener() {}
      close() {}
    }
    window.Notification = FakeNotification;
    Object.defineProperty(Document.prototype, 'hidden', { configurable: true, get: () => window.__hidden });
  });
  try {
    await openSignedIn(b.page, server.url, users.bob.token);
    await openSignedIn(page, server.url, users.dave.token);

    // Permission is asked only from the button.
    const enable = page.getByRole('button', { name: 'Enable notifications' });
    await enable.click();
    await enable.waitFor({ state: 'hidden' });

    // Mute "chatter": its unread count leaves the title and a mention there notifies nobody.
    await openConversation(page, 'chatter');
    await page.getByRole('button', { name: /Notifications/ }).click();
    await page.getByRole('menu').waitFor();
    await shot(page, 'rooms-notify-menu');
    await page.getByRole('menuitemradio', { name: 'Nothing (muted)' }).click();
    await page.getByRole('button', { name: /Notifications: Muted/ }).waitFor();
    const mine = (await apiOk(server.url, users.dave.token, '/rooms')).find((r) => r.id === room.id);
    assert.equal(mine.notify, 'none');

    await openConversation(page, 'general');
    await page.evaluate(() => { window.__hidden = true; document.dispatchEvent(new Event('visibilitychange')); });
    await sendAs(b.page, users.alice.token, room.id, 'muted @dave mention');
    await sendAs(b.page, users.alice.token, 1, 'a plain message in general');
    await sendAs(b.page, users.alice.token, 1, 'hey @dave, in general');
    const dm = await apiOk(server.url, users.alice.token, '/dms', { method: 'POST', body: { usernames: ['dave'] } });
    await sendAs(b.page, users.alice.token, dm.id, 'a direct message for dave');
    await sidebarItem(page, 'alice').waitFor();
    await page.waitForFunction(() => window.__notes.length >= 2);
    await sleep(300);
    const notes = await page.evaluate(() => window.__notes);
    assert.deepEqual(notes, [
      { title: 'alice in general', body: 'hey @dave, in general' },
      { title: 'alice', body: 'a direct message for dave' },
    ]);
    // The muted room's unread message does not count in the title; general's two and the DM's do.
    assert.equal(await page.title(), '(3) Chatterbox');
    await page.evaluate(() => { window.__hidden = false; document.dispatchEvent(new Event('visibilitychange')); });
    assert.deepEqual(problems, []);
  } finally {
    await context.close();
    await b.context.close();
  }
});

test('on a phone the conversation list is a drawer', async () => {
  const { context, page, problems } = await newPage(browser, { viewport: PHONE });
  try {
    await openSignedIn(page, server.url, users.alice.token);
    const toggle = page.getByRole('button', { name: /^Conversations/ });
    assert.equal(await page.locator('#sidebar').isVisible(), false);
    await toggle.click();
    assert.equal(await toggle.getAttribute('aria-expanded'), 'true');
    await page.locator('#sidebar').waitFor({ state: 'visible' });
    await shot(page, 'rooms-phone-drawer');
    await sidebarItem(page, 'book-club').locator('a').click();
    await page.locator('#sidebar').waitFor({ state: 'hidden' });
    await page.locator('#chat-title', { hasText: 'book-club' }).waitFor();
    await waitForMessage(page, 'First book: Middlemarch');
    // Escape closes it too, giving focus back to the button.
    await toggle.click();
    await page.keyboard.press('Escape');
    await page.locator('#sidebar').waitFor({ state: 'hidden' });
    assert.equal(await toggle.evaluate((el) => el === document.activeElement), true);
    const overflow = await page.evaluate(() => document.documentElement.scrollWidth - window.innerWidth);
    assert.ok(overflow <= 0, `no horizontal scrolling on a phone (${overflow}px)`);
    assert.deepEqual(problems, []);
  } finally {
    await context.close();
  }
});
