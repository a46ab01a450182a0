// Messages that live (issue 13), end to end with two (or three) people in real browsers: an edit
// seen live by the other with its "edited" mark, a deletion confirmed in a dialog that vanishes
// for both (and stays gone after a reload), reaction chips that count and toggle, a reply whose
// quote jumps to an old message that needed older history, the typing line that appears for the
// other and expires, search finding part of a word and jumping to the message, an admin
// deleting a message from the dashboard's live view, and a reader who was offline resuming (from
// the last change's `seq`) to exactly the state of a fresh page.

import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import {
  startServerWithAdmin, launchBrowser, newPage, registerApi, loginApi, openSignedIn, send,
  waitForMessage, messagesIn, shot, removeDir, apiOk, openConversation, checkA11y, PHONE,
} from './helpers.mjs';

const ADMIN_PASSWORD = 'admin password 123';

let server;
let browser;
let adminToken;
const users = {};

before(async () => {
  server = await startServerWithAdmin(ADMIN_PASSWORD);
  browser = await launchBrowser();
  adminToken = (await loginApi(server.url, 'root', ADMIN_PASSWORD)).token;
  for (const name of ['alice', 'bob', 'carol']) users[name] = await registerApi(server.url, name);
});

after(async () => {
  await browser?.close();
  await server?.stop();
  if (server) removeDir(server.dir);
});

/** The rendered message whose text is exactly `text`. */
function msg(page, text) {
  return page.locator('#log .msg').filter({
    has: page.locator('.msg-text', { hasText: new RegExp(`^${text.replace(/[.*+?^${}()|[\]\\]/g, '\\$&')}$`) }),
  });
}

/** Opens a message's actions with the mouse (hover shows the "⋯" button) and picks one. */
async function act(page, text, action) {
  const m = msg(page, text);
  await m.hover();
  await m.locator('.msg-actions-btn').click();
  await page.locator('#msg-menu').getByRole('menuitem', { name: action }).click();
}

/**
 * Sends messages into a conversation as `token`, each once the previous one was echoed, nine per
 * socket (under the server's per-connection burst, so nothing waits for the rate limit); resolves
 * with their ids. `replyTo` makes the last one a reply to that message.
 */
async function postMany(page, token, room, texts, replyTo = null) {
  const ids = [];
  for (let at = 0; at < texts.length; at += 9) {
    const chunk = texts.slice(at, at + 9);
    const last = at + chunk.length === texts.length;
    ids.push(...await page.evaluate(({ t, r, list, replyTo: rt }) => new Promise((resolve, reject) => {
      const ws = new WebSocket(`ws://${location.host}/ws?token=${encodeURIComponent(t)}`);
      const got = [];
      let i = -1;
      const timer = setTimeout(() => { ws.close(); reject(new Error(`only ${got.length} echoed`)); }, 20000);
      const next = () => {
        i += 1;
        if (i === list.length) {
          clearTimeout(timer);
          ws.close();
          resolve(got);
          return;
        }
        const frame = { type: 'message', room: r, text: list[i] };
        if (rt !== null && i === list.length - 1) frame.reply_to = rt;
        ws.send(JSON.stringify(frame));
      };
      ws.onmessage = (ev) => {
        const f = JSON.parse(ev.data);
        if (f.type === 'presence' && i < 0) next();
        else if (f.type === 'message' && f.room === r && f.text === list[i] && got.length === i) {
          got.push(f.id);
          next();
        } else if (f.type === 'error') {
          clearTimeout(timer);
          reject(new Error(f.detail));
        }
      };
      ws.onerror = () => reject(new Error('socket error'));
    }), { t: token, r: room, list: chunk, replyTo: last ? replyTo : null }));
  }
  return ids;
}

test('an edit is seen live by the other, with its mark; Escape cancels; keyboard only; a rude edit is refused', async () => {
  const a = await newPage(browser);
  const b = await newPage(browser, { colorScheme: 'dark' });
  try {
    await openSignedIn(a.page, server.url, users.alice.token);
    await openSignedIn(b.page, server.url, users.bob.token);
    await send(a.page, 'Teh meeting is at noon');
    await waitForMessage(b.page, 'Teh meeting is at noon');
    await waitForMessage(a.page, 'Teh meeting is at noon');

    // Only the keyboard: Shift+Tab from the composer reaches the newest message's "⋯" button.
    await a.page.locator('#composer-input').focus();
    await a.page.keyboard.press('Shift+Tab');
    const more = msg(a.page, 'Teh meeting is at noon').locator('.msg-actions-btn');
    assert.ok(await more.evaluate((el) => el === document.activeElement), 'Tab reaches the message actions');
    await a.page.keyboard.press('Enter');
    await a.page.locator('#msg-menu').waitFor();
    assert.equal(await more.getAttribute('aria-expanded'), 'true');
    assert.deepEqual(await a.page.locator('#msg-menu [role=menuitem]').allTextContents(), ['Reply', 'React…', 'Edit', 'Delete…']);
    await checkA11y(a.page, 'message actions open');
    await shot(a.page, 'living-actions');
    // Bob's menu on Alice's message has neither Edit nor Delete.
    await b.page.keyboard.press('Escape');
    await msg(b.page, 'Teh meeting is at noon').hover();
    await msg(b.page, 'Teh meeting is at noon').locator('.msg-actions-btn').click();
    assert.deepEqual(await b.page.locator('#msg-menu [role=menuitem]').allTextContents(), ['Reply', 'React…', 'Report…']);
    await b.page.keyboard.press('Escape');
    await b.page.locator('#msg-menu').waitFor({ state: 'detached' });

    // Escape in the edit box leaves the text as it was.
    await a.page.keyboard.press('ArrowDown');
    await a.page.keyboard.press('ArrowDown');
    await a.page.keyboard.press('Enter');
    const box = a.page.getByRole('textbox', { name: 'Edit your message' });
    await box.waitFor();
    assert.ok(await box.evaluate((el) => el === document.activeElement), 'the edit box has the focus');
    assert.equal(await box.inputValue(), 'Teh meeting is at noon');
    await checkA11y(a.page, 'edit mode');
    await shot(a.page, 'living-edit');
    await a.page.keyboard.type(' (cancelled)');
    await a.page.keyboard.press('Escape');
    await box.waitFor({ state: 'detached' });
    await waitForMessage(a.page, 'Teh meeting is at noon');
    assert.ok(await more.evaluate((el) => el === document.activeElement), 'the focus is back on the actions button');

    // Enter saves; both see the new text and the mark, whose tooltip says when.
    await act(a.page, 'Teh meeting is at noon', 'Edit');
    await box.fill('The meeting is at noon');
    await box.press('Enter');
    for (const p of [a.page, b.page]) {
      await waitForMessage(p, 'The meeting is at noon');
      const mark = msg(p, 'The meeting is at noon').locator('.msg-edited');
      await mark.waitFor();
      assert.match(await mark.getAttribute('title'), /^Edited /);
      assert.match(await mark.textContent(), /edited/);
    }
    assert.equal((await messagesIn(b.page)).filter((m) => m.text.startsWith('Teh')).length, 0, 'no stale text left');

    // An edit that breaks the chat rules is refused with a warning, like a new message; the
    // text stays as it was.
    await act(a.page, 'The meeting is at noon', 'Edit');
    await box.fill('you idiot');
    await box.press('Enter');
    await a.page.locator('#log .notice-warning').waitFor();
    await waitForMessage(a.page, 'The meeting is at noon');
    await waitForMessage(b.page, 'The meeting is at noon');

    // After a reload the history says the same.
    await b.page.reload();
    await waitForMessage(b.page, 'The meeting is at noon');
    await msg(b.page, 'The meeting is at noon').locator('.msg-edited').waitFor();
    assert.deepEqual([...a.problems, ...b.problems], []);
  } finally {
    await a.context.close();
    await b.context.close();
  }
});

test('a deletion asks first (from the menu, or a long press on a phone), then the message vanishes for both, also after a reload', async () => {
  const a = await newPage(browser);
  const b = await newPage(browser, { viewport: PHONE });
  try {
    await openSignedIn(a.page, server.url, users.alice.token);
    await openSignedIn(b.page, server.url, users.bob.token);
    await send(b.page, 'Oops, wrong window');
    await send(b.page, 'This one stays');
    await waitForMessage(a.page, 'This one stays');

    // On a phone the "⋯" button is there without hovering.
    await act(b.page, 'Oops, wrong window', 'Delete…');
    const dialog = b.page.locator('#dlg-confirm');
    await dialog.waitFor({ state: 'visible' });
    assert.match(await dialog.textContent(), /Delete this message\?/);
    await checkA11y(b.page, 'delete dialog');
    await shot(b.page, 'living-delete-phone');
    await dialog.getByRole('button', { name: 'Cancel' }).click();
    await dialog.waitFor({ state: 'hidden' });
    await waitForMessage(b.page, 'Oops, wrong window');

    // A long press on the message opens the same menu.
    await msg(b.page, 'Oops, wrong window').locator('.msg-text').dispatchEvent('pointerdown', { pointerType: 'touch', bubbles: true });
    await b.page.locator('#msg-menu').getByRole('menuitem', { name: 'Delete…' }).click();
    await dialog.getByRole('button', { name: 'Delete' }).click();
    for (const p of [a.page, b.page]) {
      await msg(p, 'Oops, wrong window').waitFor({ state: 'detached' });
      await waitForMessage(p, 'This one stays');
    }
    await a.page.reload();
    await waitForMessage(a.page, 'This one stays');
    assert.ok(!(await messagesIn(a.page)).some((m) => m.text === 'Oops, wrong window'), 'gone from history too');
    assert.deepEqual([...a.problems, ...b.problems], []);
  } finally {
    await a.context.close();
    await b.context.close();
  }
});

test('reactions: the picker, chips with counts and who, pressed state, toggling', async () => {
  const a = await newPage(browser);
  const b = await newPage(browser);
  try {
    await openSignedIn(a.page, server.url, users.alice.token);
    await openSignedIn(b.page, server.url, users.bob.token);
    await send(b.page, 'Release 2.0 is out');
    await waitForMessage(a.page, 'Release 2.0 is out');

    await act(a.page, 'Release 2.0 is out', 'React…');
    const picker = a.page.locator('#emoji-picker');
    await picker.waitFor();
    await checkA11y(a.page, 'reaction picker');
    await shot(a.page, 'living-picker');
    await picker.getByRole('button', { name: 'React with 🎉' }).click();

    const chipA = msg(a.page, 'Release 2.0 is out').locator('.chip[data-emoji="🎉"]');
    const chipB = msg(b.page, 'Release 2.0 is out').locator('.chip[data-emoji="🎉"]');
    await chipA.locator('.chip-count', { hasText: /^1$/ }).waitFor();
    await chipB.locator('.chip-count', { hasText: /^1$/ }).waitFor();
    assert.equal(await chipA.getAttribute('aria-pressed'), 'true');
    assert.equal(await chipB.getAttribute('aria-pressed'), 'false');
    assert.match(await chipB.getAttribute('title'), /alice/);

    // Bob joins in with a click on the chip; then Alice takes hers back from the keyboard.
    await chipB.click();
    await chipA.locator('.chip-count', { hasText: /^2$/ }).waitFor();
    await chipB.locator('.chip-count', { hasText: /^2$/ }).waitFor();
    assert.equal(await chipB.getAttribute('aria-pressed'), 'true');
    assert.match(await chipA.getAttribute('title'), /you/);
    assert.match(await chipA.getAttribute('title'), /bob/);
    await chipA.focus();
    await a.page.keyboard.press('Enter');
    await chipB.locator('.chip-count', { hasText: /^1$/ }).waitFor();
    await chipA.locator('.chip-count', { hasText: /^1$/ }).waitFor();
    assert.equal(await chipA.getAttribute('aria-pressed'), 'false');
    assert.ok(await chipA.evaluate((el) => el === document.activeElement), 'the toggled chip keeps the focus');

    // History after a reload carries the reactions.
    await a.page.reload();
    await waitForMessage(a.page, 'Release 2.0 is out');
    await msg(a.page, 'Release 2.0 is out').locator('.chip[data-emoji="🎉"] .chip-count', { hasText: /^1$/ }).waitFor();
    assert.deepEqual([...a.problems, ...b.problems], []);
  } finally {
    await a.context.close();
    await b.context.close();
  }
});

test('replies: the composer quotes, the reply quotes, and the quote jumps to an old message', async () => {
  const room = await apiOk(server.url, users.alice.token, '/rooms', { method: 'POST', body: { name: 'archive-talk', visibility: 'public' } });
  await apiOk(server.url, users.bob.token, `/rooms/${room.id}/join`, { method: 'POST' });
  const a = await newPage(browser);
  const b = await newPage(browser);
  try {
    await openSignedIn(b.page, server.url, users.bob.token);
    // An old message, 120 newer ones, then Bob's reply to the old one: three pages back. Alice
    // comes online afterwards, so her page has none of them until she opens the room.
    const [oldId] = await postMany(b.page, users.bob.token, room.id, ['The very first plan: ship on Friday']);
    const filler = Array.from({ length: 120 }, (_, i) => `filler ${i + 1}`);
    await postMany(b.page, users.bob.token, room.id, [...filler, 'Still on for Friday?'], oldId);
    await openSignedIn(a.page, server.url, users.alice.token);

    await openConversation(a.page, 'archive-talk');
    await waitForMessage(a.page, 'Still on for Friday?');
    const quote = msg(a.page, 'Still on for Friday?').locator('.msg-quote');
    await quote.waitFor();
    assert.ok(!(await messagesIn(a.page)).some((m) => m.id === oldId), 'the original is not loaded yet');
    await quote.click();
    const original = msg(a.page, 'The very first plan: ship on Friday');
    await original.waitFor();
    await a.page.waitForFunction(() => document.activeElement?.classList.contains('flash'));
    assert.equal(Number(await original.getAttribute('data-id')), oldId);
    assert.ok(await original.locator('.bubble').evaluate((el) => {
      const box = el.getBoundingClientRect();
      const view = document.getElementById('log-scroller').getBoundingClientRect();
      return box.top >= view.top && box.bottom <= view.bottom;
    }), 'the original is scrolled into view');
    // Now loaded, the reply's quote names the original's author and text.
    assert.match(await quote.textContent(), /bob.*The very first plan/);

    // Alice replies from the composer; Bob sees the quote of her source.
    await act(a.page, 'filler 120', 'Reply');
    const bar = a.page.locator('#reply-bar');
    await bar.waitFor();
    assert.match(await bar.textContent(), /Replying to bob:\s*filler 120/);
    assert.ok(await a.page.locator('#composer-input').evaluate((el) => el === document.activeElement));
    await checkA11y(a.page, 'reply composer');
    await shot(a.page, 'living-reply');
    // ✕ cancels; Reply again and send.
    await bar.getByRole('button', { name: 'Cancel the reply' }).click();
    await bar.waitFor({ state: 'hidden' });
    await act(a.page, 'filler 120', 'Reply');
    await send(a.page, 'Yes, Friday it is');
    await bar.waitFor({ state: 'hidden' });
    await openConversation(b.page, 'archive-talk');
    await waitForMessage(b.page, 'Yes, Friday it is');
    assert.match(await msg(b.page, 'Yes, Friday it is').locator('.msg-quote').textContent(), /alice|bob|You/);
    assert.match(await msg(b.page, 'Yes, Friday it is').locator('.msg-quote').textContent(), /filler 120/);

    // The original deleted: the quote says so.
    await act(b.page, 'filler 120', 'Delete…');
    await b.page.locator('#dlg-confirm').getByRole('button', { name: 'Delete' }).click();
    await msg(a.page, 'Yes, Friday it is').locator('.msg-quote', { hasText: 'deleted message' }).waitFor();
    assert.deepEqual([...a.problems, ...b.problems], []);
  } finally {
    await a.context.close();
    await b.context.close();
  }
});

test('a reader who was offline resumes from the last change seen and gets the final state', async () => {
  const a = await newPage(browser);
  const b = await newPage(browser);
  try {
    // The test holds Alice's socket, so it can drop it the way a lost network would, and sees
    // the resume cursor of each connection.
    let socket = null;
    const urls = [];
    await a.page.routeWebSocket(/\/ws/, (ws) => {
      socket = ws;
      urls.push(new URL(ws.url()));
      ws.connectToServer();
    });
    await openSignedIn(a.page, server.url, users.alice.token);
    await openSignedIn(b.page, server.url, users.bob.token);
    await send(b.page, 'offline one: to be edited');
    await send(b.page, 'offline two: to be deleted');
    await send(b.page, 'offline three: to get a reaction');
    await waitForMessage(a.page, 'offline three: to get a reaction');
    // A change seen live is the newest position Alice knows: an edit of an older message.
    await act(b.page, 'offline one: to be edited', 'Edit');
    await b.page.getByRole('textbox', { name: 'Edit your message' }).fill('offline one: edited once');
    await b.page.keyboard.press('Enter');
    await waitForMessage(a.page, 'offline one: edited once');
    const seen = await a.page.evaluate(() => Math.max(...[...document.querySelectorAll('#log .msg')].map((el) => Number(el.dataset.id))));

    await a.context.setOffline(true);
    await socket.close({ code: 1011 });
    await a.page.locator('#conn[data-state=offline]').waitFor({ state: 'attached' });
    await act(b.page, 'offline one: edited once', 'Edit');
    await b.page.getByRole('textbox', { name: 'Edit your message' }).fill('offline one: edited twice');
    await b.page.keyboard.press('Enter');
    await waitForMessage(b.page, 'offline one: edited twice');
    await act(b.page, 'offline two: to be deleted', 'Delete…');
    await b.page.locator('#dlg-confirm').getByRole('button', { name: 'Delete' }).click();
    await msg(b.page, 'offline two: to be deleted').waitFor({ state: 'detached' });
    await act(b.page, 'offline three: to get a reaction', 'React…');
    await b.page.locator('#emoji-picker').getByRole('button', { name: 'React with 👀' }).click();
    await msg(b.page, 'offline three: to get a reaction').locator('.chip').waitFor();

    await a.context.setOffline(false);
    await a.page.locator('#conn[data-state=connected]').waitFor({ state: 'attached' });
    const since = Number(urls[urls.length - 1].searchParams.get('since'));
    assert.ok(since > seen, `the resume starts after the edit's position (${since}), not the newest message id (${seen})`);
    await waitForMessage(a.page, 'offline one: edited twice');
    await msg(a.page, 'offline two: to be deleted').waitFor({ state: 'detached' });
    await msg(a.page, 'offline three: to get a reaction').locator('.chip[data-emoji="👀"] .chip-count', { hasText: /^1$/ }).waitFor();
    // The same as a fresh page.
    const state = (p) => p.$$eval('#log .msg', (els) => els.map((el) => [el.querySelector('.msg-text').textContent,
      [...el.querySelectorAll('.chip')].map((c) => c.textContent).join(' '), !!el.querySelector('.msg-edited')]));
    const fresh = await newPage(browser);
    try {
      await openSignedIn(fresh.page, server.url, users.alice.token);
      await waitForMessage(fresh.page, 'offline one: edited twice');
      assert.deepEqual(await state(a.page), await state(fresh.page));
    } finally {
      await fresh.context.close();
    }
    assert.deepEqual([...a.problems, ...b.problems], []);
  } finally {
    await a.context.close();
    await b.context.close();
  }
});

test('typing: the line appears for the others only, names two, and expires', async () => {
  const a = await newPage(browser);
  const b = await newPage(browser);
  const c = await newPage(browser);
  try {
    await openSignedIn(a.page, server.url, users.alice.token);
    await openSignedIn(b.page, server.url, users.bob.token);
    await openSignedIn(c.page, server.url, users.carol.token);
    const line = a.page.locator('#typing');
    assert.equal(await line.getAttribute('aria-live'), 'polite');

    await b.page.locator('#composer-input').pressSequentially('I am wri');
    await line.filter({ hasText: 'bob is typing…' }).waitFor();
    await c.page.locator('#composer-input').pressSequentially('Me too');
    await line.filter({ hasText: 'bob and carol are typing…' }).waitFor();
    await checkA11y(a.page, 'typing line');
    await shot(a.page, 'living-typing');
    assert.equal(await b.page.locator('#typing').textContent(), 'carol is typing…', 'never your own name');

    // Without new keystrokes, the names expire after a few seconds.
    await line.filter({ hasText: /^$/ }).waitFor({ timeout: 15000 });
    assert.deepEqual([...a.problems, ...b.problems, ...c.problems], []);
  } finally {
    await a.context.close();
    await b.context.close();
    await c.context.close();
  }
});

test('search finds part of a word, pages with "More results", and jumps to the message', async () => {
  const a = await newPage(browser);
  try {
    // 25 matches in general (more than a page), one of them old enough to need older history.
    const b = await newPage(browser);
    await openSignedIn(b.page, server.url, users.bob.token);
    await postMany(b.page, users.bob.token, 1, ['The deployment of <b>v3</b> & friends went fine']);
    await postMany(b.page, users.bob.token, 1, Array.from({ length: 60 }, (_, i) => `chatter ${i}`));
    await postMany(b.page, users.bob.token, 1, Array.from({ length: 24 }, (_, i) => `redeploy number ${i}`));
    await b.context.close();

    await openSignedIn(a.page, server.url, users.alice.token);
    await a.page.locator('#search-toggle').click();
    const pane = a.page.locator('#search-pane');
    await pane.waitFor();
    await a.page.getByRole('searchbox', { name: 'Search messages' }).fill('nothing-like-this-anywhere');
    await a.page.getByRole('searchbox', { name: 'Search messages' }).press('Enter');
    await a.page.locator('#search-status', { hasText: 'No messages match' }).waitFor();

    await a.page.getByRole('searchbox', { name: 'Search messages' }).fill('deploy');
    await a.page.getByRole('searchbox', { name: 'Search messages' }).press('Enter');
    await a.page.locator('#search-results li').first().waitFor();
    assert.equal(await a.page.locator('#search-results li').count(), 20);
    await checkA11y(a.page, 'search pane');
    await shot(a.page, 'living-search');
    await a.page.getByRole('button', { name: 'More results' }).click();
    await a.page.waitForFunction(() => document.querySelectorAll('#search-results li').length === 25);
    assert.ok(await a.page.locator('#search-more').isHidden());

    // The oldest hit: its text is shown as text (no markup), with the matched part marked.
    const hit = a.page.locator('#search-results .search-hit').last();
    assert.match(await hit.locator('.search-hit-text').textContent(), /The deployment of <b>v3<\/b> & friends went fine/);
    assert.equal((await hit.locator('mark').first().textContent()).toLowerCase(), 'deploy');
    assert.equal(await hit.locator('b').count(), 0);
    assert.match(await hit.locator('.search-hit-room').textContent(), /general/);
    assert.match(await hit.locator('.search-hit-user').textContent(), /bob/);
    await hit.focus();
    await a.page.keyboard.press('Enter');
    const target = msg(a.page, 'The deployment of <b>v3</b> & friends went fine');
    await target.waitFor();
    await a.page.waitForFunction(() => document.activeElement?.classList.contains('flash'));
    assert.deepEqual(a.problems, []);
  } finally {
    await a.context.close();
  }
});

test('an admin deletes a message from the dashboard live view; it vanishes everywhere; edits show there', async () => {
  const a = await newPage(browser);
  const admin = await newPage(browser);
  try {
    await openSignedIn(a.page, server.url, users.alice.token);
    await openSignedIn(admin.page, server.url, adminToken, { path: '/admin' });
    await admin.page.locator('#live-conn[data-state=connected]').waitFor({ state: 'attached' });
    await send(a.page, 'Buy cheap watches at spam.example');
    await waitForMessage(a.page, 'Buy cheap watches at spam.example');
    const item = admin.page.locator('#live-log li').filter({ hasText: 'Buy cheap watches at spam.example' });
    await item.waitFor();

    // Alice's own edit and deletion reach the live view too.
    await send(a.page, 'Lunch at 12');
    await send(a.page, 'Never mind this one');
    const lunch = admin.page.locator('#live-log li').filter({ hasText: 'Lunch at 12' });
    const never = admin.page.locator('#live-log li').filter({ hasText: 'Never mind this one' });
    await never.waitFor();
    await act(a.page, 'Lunch at 12', 'Edit');
    await a.page.getByRole('textbox', { name: 'Edit your message' }).fill('Lunch at 12:30');
    await a.page.keyboard.press('Enter');
    await lunch.locator('.live-text', { hasText: /^Lunch at 12:30$/ }).waitFor();
    await act(a.page, 'Never mind this one', 'Delete…');
    await a.page.locator('#dlg-confirm').getByRole('button', { name: 'Delete' }).click();
    await never.waitFor({ state: 'detached' });

    await item.getByRole('button', { name: /Delete the message from alice/ }).click();
    const dialog = admin.page.locator('dialog#confirm');
    await dialog.waitFor({ state: 'visible' });
    await checkA11y(admin.page, 'admin delete dialog');
    await shot(admin.page, 'living-admin-delete');
    await admin.page.getByLabel(/Reason/).fill('Spam');
    await dialog.getByRole('button', { name: 'Delete message' }).click();
    await item.waitFor({ state: 'detached' });
    await msg(a.page, 'Buy cheap watches at spam.example').waitFor({ state: 'detached' });
    assert.deepEqual([...a.problems, ...admin.problems], []);
  } finally {
    await a.context.close();
    await admin.context.close();
  }
});
