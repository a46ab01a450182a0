// Browser scenario: moderation as the offending user sees it: two inline warnings, then the
// blocked-account page, which stays on reload; bystanders never see the offending text.

import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import {
  startServer, launchBrowser, newPage, registerApi, openSignedIn, send, waitForMessage,
  messagesIn, shot, removeDir, PHONE, sleep,
} from './helpers.mjs';

let server;
let browser;
const users = {};

before(async () => {
  server = await startServer();
  browser = await launchBrowser();
  for (const name of ['carol', 'dave']) users[name] = await registerApi(server.url, name);
});

after(async () => {
  await browser?.close();
  await server?.stop();
  if (server) removeDir(server.dir);
});

test('warn, warn, block', async () => {
  const c = await newPage(browser);
  const d = await newPage(browser);
  try {
    await openSignedIn(c.page, server.url, users.carol.token);
    await openSignedIn(d.page, server.url, users.dave.token);
    await send(c.page, 'Morning all!');
    await waitForMessage(d.page, 'Morning all!');

    const warnings = c.page.locator('#log .notice-warning');
    await send(c.page, 'you idiot');
    await warnings.nth(0).waitFor();
    assert.match(await warnings.nth(0).textContent(), /Warning 1/);
    assert.equal(await c.page.locator('#composer-input').inputValue(), '');

    await send(c.page, 'you idiot');
    await warnings.nth(1).waitFor();
    assert.match(await warnings.nth(1).textContent(), /Warning 2/);
    assert.equal(await warnings.count(), 2);
    await shot(c.page, 'chat-warnings-desktop');

    await send(c.page, 'you idiot');
    await c.page.locator('#view-blocked').waitFor({ state: 'visible' });
    assert.equal(await c.page.locator('#view-chat').isVisible(), false);
    const title = c.page.getByRole('heading', { name: 'Your account has been blocked' });
    await title.waitFor();
    const body = await c.page.locator('#view-blocked').textContent();
    assert.match(body, /repeated violations of the chat rules/);
    assert.match(body, /contact an administrator/);
    await shot(c.page, 'blocked-desktop');

    // None of the violating messages reached anyone.
    await sleep(300);
    const seen = await messagesIn(d.page);
    assert.equal(seen.filter((m) => /idiot/.test(m.text)).length, 0);

    // A reload keeps showing the blocked page (GET /me answers 403 now).
    await c.page.reload();
    await c.page.locator('#view-blocked').waitFor({ state: 'visible' });

    // Signing out and trying again: the right password leads back to the blocked page, which
    // now offers the one appeal of this block (reports.test.mjs follows it to the unblock).
    await c.page.getByRole('button', { name: 'Sign out' }).click();
    await c.page.locator('#signin-username').fill('carol');
    await c.page.locator('#signin-password').fill('correct horse battery');
    await c.page.getByRole('button', { name: 'Sign in', exact: true }).click();
    await c.page.locator('#view-blocked').waitFor({ state: 'visible' });
    await c.page.locator('#appeal-box').waitFor({ state: 'visible' });
    assert.match(await c.page.locator('#view-blocked').textContent(), /block/i);

    assert.deepEqual(c.problems, []);
    assert.deepEqual(d.problems, []);
  } finally {
    await c.context.close();
    await d.context.close();
  }
});

test('blocked page on a phone and in dark mode', async () => {
  for (const [name, viewport, colorScheme] of [['blocked-phone', PHONE, 'light'], ['blocked-phone-dark', PHONE, 'dark']]) {
    const { context, page, problems } = await newPage(browser, { viewport, colorScheme });
    try {
      await openSignedIn(page, server.url, users.carol.token, { wait: false });
      await page.locator('#view-blocked').waitFor({ state: 'visible' });
      const overflow = await page.evaluate(() => document.documentElement.scrollWidth - window.innerWidth);
      assert.ok(overflow <= 0, `no horizontal scrolling (${overflow}px)`);
      await shot(page, name);
      assert.deepEqual(problems, []);
    } finally {
      await context.close();
    }
  }
});
