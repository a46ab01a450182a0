// Browser scenario: reports and appeals (issue 14). A member reports a message from its actions
// menu and follows it in "My reports"; the admin decides in the dashboard's queue; a blocked
// user appeals at sign-in and reads the answer at the next one. Accessibility is checked on each
// new screen, light and dark.

import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import {
  startServerWithAdmin, launchBrowser, newPage, registerApi, openSignedIn, send, waitForMessage,
  signInUi, loginApi, apiOk, checkA11y, removeDir,
} from './helpers.mjs';

const ADMIN_PASSWORD = 'admin password 1';
let server;
let browser;
let admin;
const users = {};

before(async () => {
  server = await startServerWithAdmin(ADMIN_PASSWORD);
  browser = await launchBrowser();
  admin = await loginApi(server.url, 'root', ADMIN_PASSWORD);
  for (const name of ['rita', 'sam', 'tess']) users[name] = await registerApi(server.url, name);
});

after(async () => {
  await browser?.close();
  await server?.stop();
  if (server) removeDir(server.dir);
});

for (const colorScheme of ['light', 'dark']) {
  test(`a reporter's view and the admin's queue (${colorScheme})`, async () => {
    const s = await newPage(browser, { colorScheme });
    const r = await newPage(browser, { colorScheme });
    const a = await newPage(browser, { colorScheme });
    try {
      const text = `this is spam ${colorScheme}`;
      await openSignedIn(s.page, server.url, users.sam.token);
      await openSignedIn(r.page, server.url, users.rita.token);
      await send(s.page, text);
      await waitForMessage(r.page, text);

      const msg = r.page.locator('#log .msg', { hasText: text }).last();
      await msg.hover();
      await msg.locator('.msg-actions-btn').click();
      await r.page.getByRole('menuitem', { name: 'Report…' }).click();
      const dialog = r.page.locator('#dlg-report');
      await dialog.waitFor();
      await checkA11y(r.page, `report dialog ${colorScheme}`);
      await dialog.getByLabel('Why?').selectOption('spam');
      await dialog.getByLabel(/Anything the moderators/).fill('ads again');
      await dialog.getByRole('button', { name: 'Send report' }).click();
      await dialog.getByText('Thank you').waitFor();
      await dialog.getByRole('button', { name: 'Close' }).click();

      await r.page.locator('#my-reports').click();
      const mine = r.page.locator('#dlg-my-reports');
      await mine.locator('li').first().getByText('open').waitFor();
      await checkA11y(r.page, `my reports ${colorScheme}`);

      await openSignedIn(a.page, server.url, admin.token, { path: '/admin' });
      const card = a.page.locator('#dash-reports .report-card', { hasText: text });
      await card.waitFor();
      assert.match(await card.textContent(), /Reported by rita/);
      await checkA11y(a.page, `dashboard reports ${colorScheme}`);
      await card.getByRole('button', { name: 'Dismiss' }).click();
      await card.waitFor({ state: 'detached' });

      // The reporter's list follows the `report` frame.
      await mine.locator('li').first().getByText('dismissed').waitFor();
    } finally {
      await s.context.close();
      await r.context.close();
      await a.context.close();
    }
  });
}

/** Signs in through the form as a blocked user: the blocked page, not the chat. */
async function signInBlocked(page, name) {
  await page.goto(`${server.url}/`);
  await page.locator('#signin-username').fill(name);
  await page.locator('#signin-password').fill('correct horse battery');
  await page.getByRole('button', { name: 'Sign in', exact: true }).click();
  await page.locator('#view-blocked').waitFor({ state: 'visible' });
}

test('an appeal from sign-in to unblock', async () => {
  const t = await newPage(browser);
  const dark = await newPage(browser, { colorScheme: 'dark' });
  try {
    await apiOk(server.url, admin.token, `/admin/users/${users.tess.user.id}/block`, { method: 'POST', body: { reason: 'spam' } });
    await signInBlocked(t.page, 'tess');
    const box = t.page.locator('#appeal-box');
    await box.waitFor();
    await checkA11y(t.page, 'appeal form light');
    await box.getByLabel(/Why should the block be lifted/).fill('I will behave');
    await box.getByRole('button', { name: 'Send appeal' }).click();
    await box.getByText('Appeal sent').waitFor();
    await checkA11y(t.page, 'appeal sent light');

    await signInBlocked(dark.page, 'tess');
    await dark.page.locator('#appeal-box').getByText('waiting for an answer').waitFor();
    await checkA11y(dark.page, 'appeal waiting dark');

    const appeals = await apiOk(server.url, admin.token, '/admin/appeals');
    assert.equal(appeals[0].text, 'I will behave');
    await apiOk(server.url, admin.token, `/admin/appeals/${appeals[0].id}`, {
      method: 'POST', body: { decision: 'unblock', note: 'Welcome back, tess' },
    });

    await signInUi(dark.page, server.url, 'tess');
    await dark.page.locator('#appeal-answer').getByText('Welcome back, tess').waitFor();
    await checkA11y(dark.page, 'appeal answer dark');
  } finally {
    await t.context.close();
    await dark.context.close();
  }
});
