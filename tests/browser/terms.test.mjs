// Browser scenario for the live term lists (issue 14): an admin adds a blocked term in the
// dashboard's Terms view and a user's message with it is refused at once; the admin allows a
// word the list would catch, removes both, and the user's messages go through again. Checked
// for accessibility in light and dark.

import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import {
  startServerWithAdmin, launchBrowser, newPage, registerApi, loginApi, openSignedIn, send,
  waitForMessage, removeDir, checkA11y,
} from './helpers.mjs';

let server;
let browser;
const ADMIN_PASSWORD = 'admin password 123';

before(async () => {
  server = await startServerWithAdmin(ADMIN_PASSWORD);
  browser = await launchBrowser();
});

after(async () => {
  await browser?.close();
  await server?.stop();
  if (server) removeDir(server.dir);
});

const termRow = (page, term) => page.locator(`#terms-body tr[data-term="${term}"]`);

async function addTerm(page, term, list) {
  await page.getByLabel('Term', { exact: true }).fill(term);
  await page.getByLabel('List', { exact: true }).selectOption(list);
  await page.getByRole('button', { name: 'Add', exact: true }).click();
  await termRow(page, term.toLowerCase()).waitFor();
}

for (const colorScheme of ['light', 'dark']) {
  test(`dashboard terms view: add, allow and remove (${colorScheme})`, async () => {
    const name = `ivy${colorScheme}`;
    const ivy = await registerApi(server.url, name);
    const admin = await loginApi(server.url, 'root', ADMIN_PASSWORD);
    const user = await newPage(browser, { colorScheme });
    const dash = await newPage(browser, { colorScheme });
    try {
      await openSignedIn(dash.page, server.url, admin.token, { path: '/admin', wait: false });
      const page = dash.page;
      await page.locator('#dash').waitFor({ state: 'visible' });
      await termRow(page, 'idiot').waitFor(); // the seeded default list
      await checkA11y(page, `terms view (${colorScheme})`);

      // Invalid input is explained, in the status line, with the field marked.
      await page.getByLabel('Term', { exact: true }).fill('!!!');
      await page.getByRole('button', { name: 'Add', exact: true }).click();
      await page.locator('#terms-status.error-text').waitFor();
      assert.equal(await page.getByLabel('Term', { exact: true }).getAttribute('aria-invalid'), 'true');
      await checkA11y(page, `terms view with an error (${colorScheme})`);

      const word = `zorblax${colorScheme}`;
      await addTerm(page, word, 'block');
      assert.match(await page.locator('#terms-status').textContent(), /block list/);
      await addTerm(page, 'Shitterton', 'allow');
      assert.match(await termRow(page, 'shitterton').textContent(), /Allowed/);
      await checkA11y(page, `terms view with new terms (${colorScheme})`);

      // The user meets both at once: the term refused, the village welcome.
      await openSignedIn(user.page, server.url, ivy.token);
      await send(user.page, `so ${word} today`);
      await user.page.locator('#log .notice-warning').waitFor();
      await send(user.page, `greetings from Shitterton (${colorScheme})`);
      await waitForMessage(user.page, `greetings from Shitterton (${colorScheme})`);

      // Removed by keyboard: the remove buttons name their term.
      const remove = page.getByRole('button', { name: `Remove ${word} from the block list` });
      await remove.focus();
      await page.keyboard.press('Enter');
      await termRow(page, word).waitFor({ state: 'detached' });
      await page.getByRole('button', { name: 'Remove shitterton from the allow list' }).click();
      await termRow(page, 'shitterton').waitFor({ state: 'detached' });
      await send(user.page, `${word} is fine again`);
      await waitForMessage(user.page, `${word} is fine again`);
      assert.deepEqual(dash.problems, []);
      assert.deepEqual(user.problems, []);
    } finally {
      await user.context.close();
      await dash.context.close();
    }
  });
}
