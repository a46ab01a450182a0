// Room moderation (issue 14, ROOMMOD) in real browsers: the room's creator opens "Moderate" from
// the room header, turns slow mode on, mutes a member for ten minutes and deletes a member's
// message from its menu; a member sees the badges in the members dialog, and their composer
// says "Slow mode: 1 message per 10 s", then counts down with the box disabled after they post.
// Each new screen state is checked for accessibility in light and dark.

import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import {
  startServerWithAdmin, launchBrowser, newPage, registerApi, openSignedIn, send, waitForMessage,
  shot, removeDir, apiOk, openConversation, checkA11y, sendAs,
} from './helpers.mjs';

let server;
let browser;
const users = {};
let town;

before(async () => {
  server = await startServerWithAdmin('admin password 123');
  browser = await launchBrowser();
  for (const name of ['alice', 'bob', 'carol']) users[name] = await registerApi(server.url, name);
  town = (await apiOk(server.url, users.alice.token, '/rooms', { method: 'POST', body: { name: 'town', visibility: 'public' } })).id;
  for (const name of ['bob', 'carol']) await apiOk(server.url, users[name].token, `/rooms/${town}/join`, { method: 'POST' });
});

after(async () => {
  await browser?.close();
  await server?.stop();
  if (server) removeDir(server.dir);
});

test('a moderator sets slow mode, mutes a member and deletes a message; a member sees the wait', async () => {
  const { page, problems, context } = await newPage(browser, { colorScheme: 'light' });
  await openSignedIn(page, server.url, users.alice.token);
  const spam = 'buy cheap stuff now';
  await sendAs(page, users.carol.token, town, spam);
  await openConversation(page, 'town');
  await waitForMessage(page, spam);

  // The creator moderates: the header's button says so.
  const moderate = page.getByRole('button', { name: 'Moderate' });
  await moderate.click();
  const dialog = page.locator('#dlg-roommod');
  await dialog.getByLabel(/Slow mode/).waitFor();
  await checkA11y(page, 'moderation dialog (light)');
  await dialog.getByLabel(/Slow mode/).selectOption('10');
  await dialog.locator('#roommod-status', { hasText: 'Slow mode is on: 1 message per 10 s.' }).waitFor();

  // Mute carol for ten minutes: her row says until when.
  await dialog.getByLabel('How long to mute carol').selectOption('10m');
  await dialog.getByRole('button', { name: 'Mute carol' }).click();
  await dialog.locator('li[data-user=carol] .roommod-muted').waitFor();
  await dialog.getByRole('button', { name: 'Unmute carol' }).waitFor();
  await dialog.getByRole('button', { name: 'Make moderator bob' }).waitFor();
  await shot(page, 'roommod-moderator');
  await dialog.getByRole('button', { name: 'Done' }).click();

  // Delete carol's message from its menu, as a moderator of the room.
  const m = page.locator('#log .msg').filter({ has: page.locator('.msg-text', { hasText: spam }) });
  await m.hover();
  await m.locator('.msg-actions-btn').click();
  await page.locator('#msg-menu').getByRole('menuitem', { name: 'Delete…' }).click();
  await page.locator('#dlg-confirm-ok').click();
  await m.waitFor({ state: 'detached' });

  // Bob, a member, in dark: badges in the members dialog, and slow mode in the composer.
  const dark = await newPage(browser, { colorScheme: 'dark' });
  await openSignedIn(dark.page, server.url, users.bob.token);
  await openConversation(dark.page, 'town');
  const note = dark.page.locator('#composer-note');
  await note.filter({ hasText: 'Slow mode: 1 message per 10 s' }).waitFor();
  await dark.page.getByRole('button', { name: 'Members' }).click();
  await dark.page.locator('#dlg-roommod li[data-user=alice] .roommod-badge', { hasText: 'creator' }).waitFor();
  assert.equal(await dark.page.locator('#dlg-roommod #roommod-slow').count(), 0, 'members do not see the controls');
  await checkA11y(dark.page, 'members dialog (dark)');
  await dark.page.locator('#dlg-roommod').getByRole('button', { name: 'Done' }).click();

  await send(dark.page, 'hello town');
  await waitForMessage(dark.page, 'hello town');
  await note.filter({ hasText: /you can write again in \d+ s/ }).waitFor();
  assert.equal(await dark.page.locator('#composer-input').isDisabled(), true, 'the box waits');
  await checkA11y(dark.page, 'slow mode wait (dark)');
  await shot(dark.page, 'roommod-slow-wait');

  assert.deepEqual(problems, []);
  assert.deepEqual(dark.problems, []);
  await dark.context.close();
  await context.close();
});

test('the Reports queue shows for a room\'s moderators only, and a room mute stays in its room', async () => {
  // Carol was muted in town by the test above; she is a plain member everywhere.
  const { page, problems, context } = await newPage(browser, { colorScheme: 'light' });
  await openSignedIn(page, server.url, users.carol.token);
  const queue = page.locator('#moderation-reports');
  await page.locator('#my-reports').waitFor();
  assert.equal(await queue.isHidden(), true, 'no queue for someone who moderates nothing');

  await openConversation(page, 'town');
  const input = page.locator('#composer-input');
  await page.getByText(/A moderator muted you in this room until/).first().waitFor();
  assert.equal(await input.isDisabled(), true, 'muted in town');
  // The mute lifted and given again while she reads town: her composer follows, live.
  await apiOk(server.url, users.alice.token, `/rooms/${town}/mutes/carol`, { method: 'DELETE' });
  await page.waitForFunction(() => !(/** @type {HTMLTextAreaElement} */ (document.getElementById('composer-input'))).disabled);
  await apiOk(server.url, users.alice.token, `/rooms/${town}/mutes`, { method: 'POST', body: { user: 'carol', for: '10m' } });
  await page.waitForFunction(() => (/** @type {HTMLTextAreaElement} */ (document.getElementById('composer-input'))).disabled);
  // The mute is town's only.
  await openConversation(page, 'general');
  assert.equal(await input.isDisabled(), false, 'a mute in town does not close general');
  await send(page, 'carol in general');
  await waitForMessage(page, 'carol in general');

  // Named a moderator of town, she gets the queue at once.
  await apiOk(server.url, users.alice.token, `/rooms/${town}/moderators/carol`, { method: 'PUT' });
  await queue.waitFor({ state: 'visible' });
  await queue.click();
  await page.locator('#dlg-moderation').waitFor();
  await checkA11y(page, 'moderator reports queue (light)');
  await page.locator('#dlg-moderation').getByRole('button', { name: 'Close' }).click();

  assert.deepEqual(problems, []);
  await context.close();
});

