// Browser scenario: creating an account and signing in, with the API's field errors shown beside
// their fields, a session that survives a reload, sign-out, and an expired token sent back to sign-in.

import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import {
  startServer, launchBrowser, newPage, shot, waitConnected, removeDir, PHONE, DESKTOP,
} from './helpers.mjs';

let server;
let browser;

before(async () => {
  server = await startServer();
  browser = await launchBrowser();
});

after(async () => {
  await browser?.close();
  await server?.stop();
  if (server) removeDir(server.dir);
});

test('register with field errors, stay signed in across a reload, sign out and back in', async () => {
  const { context, page, problems } = await newPage(browser);
  try {
    const reg = page.locator('#form-register');
    await page.goto(`${server.url}/`);
    await page.locator('#form-signin').waitFor({ state: 'visible' });
    assert.equal(await page.title(), 'Chatterbox');
    await shot(page, 'signin-desktop');

    // A password the server rejects: its sentence appears under the password field, not in an alert.
    await page.getByRole('tab', { name: 'Create account' }).click();
    await reg.getByLabel('Username', { exact: true }).fill('alice');
    await reg.getByLabel('E-mail', { exact: true }).fill('alice@example.com');
    await reg.getByLabel('Password', { exact: true }).fill('short');
    await page.getByRole('button', { name: 'Create account' }).click();
    const pwError = page.locator('#register-password-error');
    await pwError.waitFor({ state: 'visible' });
    assert.ok((await pwError.textContent()).trim().length > 5, 'the password error is a sentence');
    assert.equal(await page.locator('#register-password').getAttribute('aria-invalid'), 'true');
    assert.match(await page.locator('#register-password').getAttribute('aria-describedby'), /register-password-error/);
    assert.equal(await page.locator('#register-username-error').isVisible(), false);
    await shot(page, 'register-error-desktop');

    await reg.getByLabel('Password', { exact: true }).fill('correct horse battery');
    await page.getByRole('button', { name: 'Create account' }).click();
    await waitConnected(page);
    assert.equal(await page.locator('#me-name').textContent(), 'alice');
    assert.equal(await page.locator('#admin-link').isVisible(), false, 'no dashboard link for a plain user');
    assert.ok(await page.evaluate(() => !!localStorage.getItem('chatterbox.token')), 'token kept in localStorage');

    // A reload keeps the session.
    await page.reload();
    await waitConnected(page);
    assert.equal(await page.locator('#me-name').textContent(), 'alice');
    await page.locator('#people-list').getByText('alice').waitFor();

    // Sign out returns to the sign-in form and forgets the token.
    await page.getByRole('button', { name: 'Sign out' }).click();
    await page.locator('#form-signin').waitFor({ state: 'visible' });
    assert.equal(await page.evaluate(() => localStorage.getItem('chatterbox.token')), null);

    // A taken username: the 409's sentence is shown next to the username field.
    await page.getByRole('tab', { name: 'Create account' }).click();
    await reg.getByLabel('Username', { exact: true }).fill('alice');
    await reg.getByLabel('E-mail', { exact: true }).fill('alice.two@example.com');
    await reg.getByLabel('Password', { exact: true }).fill('another long password');
    await page.getByRole('button', { name: 'Create account' }).click();
    const userError = page.locator('#register-username-error');
    await userError.waitFor({ state: 'visible' });
    assert.ok((await userError.textContent()).trim().length > 5);
    assert.equal(await page.locator('#register-username').getAttribute('aria-invalid'), 'true');

    // Wrong password: a form-level message (no field), in the page.
    await page.getByRole('tab', { name: 'Sign in' }).click();
    await page.getByLabel('Username or e-mail').fill('alice');
    await page.locator('#signin-password').fill('not the password');
    await page.getByRole('button', { name: 'Sign in', exact: true }).click();
    const formError = page.locator('#form-signin .form-error');
    await formError.waitFor({ state: 'visible' });
    assert.match(await formError.textContent(), /invalid|incorrect|wrong/i);

    // Sign in by e-mail address.
    await page.getByLabel('Username or e-mail').fill('alice@example.com');
    await page.locator('#signin-password').fill('correct horse battery');
    await page.getByRole('button', { name: 'Sign in', exact: true }).click();
    await waitConnected(page);
    assert.equal(await page.locator('#me-name').textContent(), 'alice');

    assert.deepEqual(problems, []);
  } finally {
    await context.close();
  }
});

test('an invalid stored token leads back to sign-in with an explanation', async () => {
  const { context, page, problems } = await newPage(browser);
  try {
    await page.goto(`${server.url}/`);
    await page.evaluate(() => localStorage.setItem('chatterbox.token', 'eyJhbGciOiJIUzI1NiJ9.e30.invalid'));
    await page.reload();
    const note = page.locator('#auth-note');
    await note.waitFor({ state: 'visible' });
    assert.equal(await note.textContent(), 'Your session expired, please sign in again.');
    assert.equal(await page.evaluate(() => localStorage.getItem('chatterbox.token')), null);
    assert.deepEqual(problems, []);
  } finally {
    await context.close();
  }
});

test('sign-in screen on a phone, light and dark', async () => {
  for (const colorScheme of ['light', 'dark']) {
    const { context, page, problems } = await newPage(browser, { viewport: PHONE, colorScheme });
    try {
      await page.goto(`${server.url}/`);
      await page.locator('#form-signin').waitFor({ state: 'visible' });
      const overflow = await page.evaluate(() => document.documentElement.scrollWidth - window.innerWidth);
      assert.ok(overflow <= 0, `no horizontal scrolling at ${PHONE.width}px (overflow ${overflow}px)`);
      await shot(page, colorScheme === 'light' ? 'signin-phone' : 'signin-phone-dark');
      assert.deepEqual(problems, []);
    } finally {
      await context.close();
    }
  }
  const { context, page } = await newPage(browser, { viewport: DESKTOP, colorScheme: 'dark' });
  try {
    await page.goto(`${server.url}/`);
    await page.locator('#form-signin').waitFor({ state: 'visible' });
    await shot(page, 'signin-desktop-dark');
  } finally {
    await context.close();
  }
});

test('keyboard: the sign-in form is reachable and usable with Tab and Enter', async () => {
  const { context, page } = await newPage(browser);
  try {
    await page.goto(`${server.url}/`);
    await page.locator('#signin-username').waitFor({ state: 'visible' });
    // Focus starts in the username box; Tab moves to the password, Enter submits.
    assert.equal(await page.evaluate(() => document.activeElement.id), 'signin-username');
    await page.keyboard.type('alice');
    await page.keyboard.press('Tab');
    assert.equal(await page.evaluate(() => document.activeElement.id), 'signin-password');
    await page.keyboard.type('correct horse battery');
    await page.keyboard.press('Enter');
    await waitConnected(page);
    assert.equal(await page.evaluate(() => document.activeElement.id), 'composer-input');
  } finally {
    await context.close();
  }
});
