// Browser scenarios for the chat room: two users talking live, text-only rendering of hostile
// markup, local-time timestamps, the character counter, scroll behaviour and older history.

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
  for (const name of ['alice', 'bob', 'chloe']) users[name] = await registerApi(server.url, name);
});

after(async () => {
  await browser?.close();
  await server?.stop();
  if (server) removeDir(server.dir);
});

test('two users see each other live; own messages, presence and local timestamps', async () => {
  const a = await newPage(browser);
  const b = await newPage(browser, { colorScheme: 'dark' });
  try {
    await openSignedIn(a.page, server.url, users.alice.token);
    await openSignedIn(b.page, server.url, users.bob.token);

    // Presence: each sees the other online (bob's arrival is a join frame for alice).
    await a.page.locator('#people-list').getByText('bob', { exact: true }).waitFor();
    await b.page.locator('#people-list').getByText('alice', { exact: true }).waitFor();

    await send(a.page, 'Hello Bob 👋 how are you?');
    await waitForMessage(b.page, 'Hello Bob 👋 how are you?');
    await waitForMessage(a.page, 'Hello Bob 👋 how are you?');

    // Shift+Enter makes a new line; Enter sends.
    const box = b.page.locator('#composer-input');
    await box.click();
    await b.page.keyboard.type('Great, thanks!');
    await b.page.keyboard.press('Shift+Enter');
    await b.page.keyboard.type('Здравствуйте · 你好 · مرحبا · こんにちは 🎉');
    await b.page.keyboard.press('Enter');
    const reply = 'Great, thanks!\nЗдравствуйте · 你好 · مرحبا · こんにちは 🎉';
    await waitForMessage(a.page, reply);
    assert.equal(await box.inputValue(), '', 'the composer is emptied after sending');

    await send(a.page, 'Did you see the new release notes? https://example.com/releases/2026/11/a-very-long-path-that-keeps-going-and-going-without-any-spaces-at-all-to-test-wrapping');
    await send(a.page, 'Supercalifragilisticexpialidocious'.repeat(8));
    await waitForMessage(b.page, 'Supercalifragilisticexpialidocious'.repeat(8));
    await send(b.page, 'Looks good to me.');
    await waitForMessage(a.page, 'Looks good to me.');

    const aMsgs = await messagesIn(a.page);
    assert.deepEqual(aMsgs.map((m) => m.own), [true, false, true, true, false]);
    const bMsgs = await messagesIn(b.page);
    assert.deepEqual(bMsgs.map((m) => m.own), [false, true, false, false, true]);
    assert.deepEqual(aMsgs.map((m) => m.id), bMsgs.map((m) => m.id), 'both see the same ids in the same order');

    // Long words and URLs wrap instead of widening the page.
    for (const p of [a.page, b.page]) {
      const overflow = await p.$eval('#log-scroller', (el) => el.scrollWidth - el.clientWidth);
      assert.ok(overflow <= 0, `no horizontal overflow in the log (${overflow}px)`);
    }

    // Timestamps are rendered in the reader's zone (the context runs in Europe/Berlin).
    const times = await a.page.$$eval('#log .msg time', (els) => els.map((t) => ({
      text: t.textContent,
      expected: new Intl.DateTimeFormat(undefined, { hour: 'numeric', minute: '2-digit' }).format(new Date(t.dateTime)),
    })));
    assert.ok(times.length >= 5);
    for (const t of times) assert.equal(t.text, t.expected);

    await shot(a.page, 'chat-desktop');
    await shot(b.page, 'chat-desktop-dark');

    // The same conversation on a phone.
    const phone = await newPage(browser, { viewport: PHONE });
    try {
      await openSignedIn(phone.page, server.url, users.chloe.token);
      await waitForMessage(phone.page, 'Looks good to me.');
      const overflow = await phone.page.evaluate(() => document.documentElement.scrollWidth - window.innerWidth);
      assert.ok(overflow <= 0, `no horizontal scrolling on a phone (${overflow}px)`);
      await shot(phone.page, 'chat-phone');
      await phone.page.getByRole('button', { name: /People online/ }).click();
      await phone.page.locator('#people-list').getByText('alice', { exact: true }).waitFor();
      await shot(phone.page, 'chat-phone-people');
      await phone.page.keyboard.press('Escape');
      assert.deepEqual(phone.problems, []);
    } finally {
      await phone.context.close();
    }

    // chloe left: the others see her go.
    await a.page.locator('#people-list').getByText('chloe', { exact: true }).waitFor({ state: 'detached' });

    assert.deepEqual(a.problems, []);
    assert.deepEqual(b.problems, []);
  } finally {
    await a.context.close();
    await b.context.close();
  }
});

test('markup in a message is shown as text and never runs', async () => {
  const a = await newPage(browser);
  const b = await newPage(browser);
  try {
    await openSignedIn(a.page, server.url, users.alice.token);
    await openSignedIn(b.page, server.url, users.bob.token);
    const img = '<img src=x onerror=window.__xss=1>';
    const script = '<script>window.__xss=1</script>';
    await send(a.page, img);
    await send(a.page, script);
    for (const p of [a.page, b.page]) {
      await waitForMessage(p, img);
      await waitForMessage(p, script);
      await p.getByText(img, { exact: true }).waitFor({ state: 'visible' });
      await p.getByText(script, { exact: true }).waitFor({ state: 'visible' });
      await sleep(300); // give a broken renderer's onerror time to fire
      assert.equal(await p.evaluate(() => typeof window.__xss), 'undefined');
      assert.equal(await p.locator('#log img, #log script').count(), 0);
    }
    // Reloading renders the same messages from history, still as text.
    await b.page.reload();
    await waitForMessage(b.page, img);
    await sleep(300);
    assert.equal(await b.page.evaluate(() => typeof window.__xss), 'undefined');
    assert.deepEqual(a.problems, []);
    assert.deepEqual(b.problems, []);
  } finally {
    await a.context.close();
    await b.context.close();
  }
});

test('character counter appears near the limit and blocks over-long messages', async () => {
  const { context, page, problems } = await newPage(browser);
  try {
    await openSignedIn(page, server.url, users.alice.token);
    const box = page.locator('#composer-input');
    const counter = page.locator('#composer-count');
    await box.fill('x'.repeat(100));
    assert.equal((await counter.textContent()).trim(), '', 'no counter far from the limit');
    // Counted in characters, not UTF-16 units: 1900 emoji are 1900 characters.
    await box.fill('😀'.repeat(1900));
    assert.equal(await counter.textContent(), '1900 / 2000');
    assert.equal(await page.locator('#send').isDisabled(), false);
    await box.fill('y'.repeat(2001));
    assert.match(await counter.textContent(), /2001 \/ 2000/);
    assert.equal(await page.locator('#send').isDisabled(), true);
    await shot(page, 'chat-counter-desktop');
    const before = (await messagesIn(page)).length;
    await box.press('Enter');
    await sleep(500);
    assert.equal((await messagesIn(page)).length, before, 'an over-long message is not sent');
    assert.equal(await box.inputValue(), 'y'.repeat(2001), 'and the text is kept');
    assert.deepEqual(problems, []);
  } finally {
    await context.close();
  }
});

test('reading older messages: scroll stays put, new-messages button, older pages load on scroll up', async () => {
  const a = await newPage(browser);
  const b = await newPage(browser);
  try {
    await openSignedIn(a.page, server.url, users.alice.token);
    // 120 numbered messages over three users' sockets, paced under the server's per-connection
    // message rate (a burst of 10, then 5 per second).
    const sent = await a.page.evaluate(async (tokens) => new Promise((resolve, reject) => {
      const want = new Set();
      const per = 40;
      const sockets = tokens.map((token, k) => {
        const ws = new WebSocket(`ws://${location.host}/ws?token=${encodeURIComponent(token)}`);
        let started = false;
        ws.onmessage = async (ev) => {
          const f = JSON.parse(ev.data);
          if (f.type === 'error') reject(new Error(f.detail));
          if (k === 0 && f.type === 'message' && want.delete(f.text) && want.size === 0) {
            for (const s of sockets) s.close();
            resolve(tokens.length * per);
          }
          if (f.type === 'presence' && !started) {
            started = true;
            for (let i = 0; i < per; i += 1) {
              const n = k * per + i + 1;
              if (i >= 8) await new Promise((r) => setTimeout(r, 250));
              ws.send(JSON.stringify({ type: 'message', text: `bulk message ${n}` }));
            }
          }
        };
        ws.onerror = () => reject(new Error('socket error'));
        return ws;
      });
      for (let n = 1; n <= tokens.length * per; n += 1) want.add(`bulk message ${n}`);
    }), [users.alice.token, users.bob.token, users.chloe.token]);
    assert.equal(sent, 120);

    await openSignedIn(b.page, server.url, users.bob.token);
    await waitForMessage(b.page, 'bulk message 120');
    const scroller = b.page.locator('#log-scroller');
    // At the bottom on arrival.
    assert.ok(await scroller.evaluate((el) => el.scrollHeight - el.scrollTop - el.clientHeight < 60));

    // Scroll to the top repeatedly until the beginning of the conversation is reached.
    for (let i = 0; i < 20; i += 1) {
      await scroller.evaluate((el) => { el.scrollTop = 0; el.dispatchEvent(new Event('scroll')); });
      await sleep(250);
      const note = await b.page.locator('#history-note').textContent();
      if (/beginning/.test(note)) break;
    }
    assert.match(await b.page.locator('#history-note').textContent(), /beginning of the conversation/);
    const all = await messagesIn(b.page);
    const ids = all.map((m) => m.id);
    assert.equal(new Set(ids).size, ids.length, 'no duplicates');
    assert.deepEqual([...ids].sort((x, y) => x - y), ids, 'in id order');
    for (let i = 1; i <= 120; i += 1) {
      assert.equal(all.filter((m) => m.text === `bulk message ${i}`).length, 1, `bulk message ${i} shown once`);
    }

    // While bob reads old messages, a new one must not move his view; a button offers to jump.
    await scroller.evaluate((el) => { el.scrollTop = el.scrollHeight / 3; });
    await sleep(200);
    const top = await scroller.evaluate((el) => el.scrollTop);
    await send(a.page, 'a fresh message while bob reads');
    await waitForMessage(b.page, 'a fresh message while bob reads');
    assert.equal(await scroller.evaluate((el) => el.scrollTop), top, 'scroll position kept');
    const jump = b.page.locator('#jump');
    await jump.waitFor({ state: 'visible' });
    assert.match(await jump.textContent(), /1 new message/);
    await shot(b.page, 'chat-new-messages-desktop');
    await jump.click();
    await jump.waitFor({ state: 'hidden' });
    assert.ok(await scroller.evaluate((el) => el.scrollHeight - el.scrollTop - el.clientHeight < 60));
    assert.deepEqual(a.problems, []);
    assert.deepEqual(b.problems, []);
  } finally {
    await a.context.close();
    await b.context.close();
  }
});
