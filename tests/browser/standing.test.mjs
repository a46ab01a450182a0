// Browser scenarios for a user's standing: an admin mutes a user from the dashboard (a duration
// choice), the user's composer locks at once with "Muted until HH:MM" and a countdown (light and
// dark), the moderation log shows the mute with its filters, and an unmute unlocks the composer.

import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import {
  startServerWithAdmin, launchBrowser, newPage, registerApi, loginApi, openSignedIn, send,
  waitForMessage, shot, removeDir, checkA11y,
} from './helpers.mjs';

const ADMIN_PASSWORD = 'admin password 123';
let server;
let browser;
const users = {};

before(async () => {
  server = await startServerWithAdmin(ADMIN_PASSWORD);
  browser = await launchBrowser();
  users.carol = await registerApi(server.url, 'carol');
  users.root = await loginApi(server.url, 'root', ADMIN_PASSWORD);
});

after(async () => {
  await browser?.close();
  await server?.stop();
  if (server) removeDir(server.dir);
});

/** @param {import('playwright').Page} page @param {string} name */
const row = (page, name) => page.locator(`#users-body tr[data-user="${name}"]`);

test('an admin mutes a user from the dashboard; the composer locks, in light and dark; the log shows it', async () => {
  const carol = await newPage(browser);
  const admin = await newPage(browser);
  const dark = await newPage(browser, { colorScheme: 'dark' });
  try {
    await openSignedIn(carol.page, server.url, users.carol.token);
    await send(carol.page, 'hello before the mute');
    await waitForMessage(carol.page, 'hello before the mute');

    await openSignedIn(admin.page, server.url, users.root.token, { path: '/admin' });
    const page = admin.page;
    await page.locator('#dash').waitFor({ state: 'visible' });
    await row(page, 'carol').getByRole('button', { name: 'Mute carol' }).click();
    const dialog = page.locator('dialog#mute-dialog');
    await dialog.waitFor({ state: 'visible' });
    await checkA11y(page, 'mute dialog (light)');
    await dialog.getByLabel('For how long').selectOption('10m');
    await dialog.getByLabel('Reason (optional)').fill('cool off');
    await dialog.getByRole('button', { name: 'Mute user', exact: true }).click();
    await dialog.waitFor({ state: 'hidden' });
    await row(page, 'carol').getByText(/Muted until/).waitFor();
    await row(page, 'carol').getByRole('button', { name: 'Unmute carol' }).waitFor();

    // The user's composer locks at once, with the time and a countdown.
    const note = carol.page.locator('#composer-note');
    await note.waitFor({ state: 'visible' });
    assert.match(await note.textContent(), /^Muted until .+ left\)/);
    assert.equal(await carol.page.locator('#composer-input').isDisabled(), true);
    await carol.page.locator('#log .notice-warning').filter({ hasText: 'You are muted until' }).waitFor();
    await checkA11y(carol.page, 'muted composer (light)');
    await shot(carol.page, 'standing-muted-desktop');

    // Dark: a new sign-in finds the mute (its socket says so when it connects).
    await openSignedIn(dark.page, server.url, users.carol.token);
    await dark.page.locator('#composer-note').filter({ hasText: 'Muted until' }).waitFor();
    assert.equal(await dark.page.locator('#composer-input').isDisabled(), true);
    await checkA11y(dark.page, 'muted composer (dark)');
    await shot(dark.page, 'standing-muted-dark');

    // The moderation log: the mute, by root, filtered by action and user.
    await page.locator('#audit-action').selectOption('mute');
    const entry = page.locator('#audit-body tr').filter({ hasText: 'carol' }).first();
    await entry.getByText('Muted', { exact: true }).waitFor();
    assert.match(await entry.textContent(), /cool off/);
    assert.match(await entry.textContent(), /Until/);
    await page.locator('#audit-user').fill('nobody-here');
    await page.locator('#audit-user').press('Enter');
    await page.locator('#audit-empty').waitFor({ state: 'visible' });
    await checkA11y(page, 'dashboard with mutes (light)');

    // Unmute: the composer unlocks.
    await row(page, 'carol').getByRole('button', { name: 'Unmute carol' }).click();
    await row(page, 'carol').getByRole('button', { name: 'Mute carol' }).waitFor();
    await note.waitFor({ state: 'hidden' });
    assert.equal(await carol.page.locator('#composer-input').isDisabled(), false);
    await send(carol.page, 'hello after the mute');
    await waitForMessage(carol.page, 'hello after the mute');
    assert.deepEqual(carol.problems, []);
    assert.deepEqual(admin.problems, []);
  } finally {
    await carol.context.close();
    await admin.context.close();
    await dark.context.close();
  }
});
