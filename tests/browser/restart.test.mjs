// Browser scenarios: the server restarts (same database, same port) under open chat pages. The pages
// reconnect by themselves and resume with ?since=<last id>: nothing is lost and nothing is doubled.
// A token the new server refuses at the WebSocket handshake sends the reader back to sign-in, with a note.

import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { randomBytes } from 'node:crypto';
import {
  startServer, launchBrowser, newPage, registerApi, openSignedIn, send, waitForMessage,
  waitConnected, messagesIn, shot, removeDir, sleep,
} from './helpers.mjs';

let server;
let browser;
let dir;

before(async () => {
  browser = await launchBrowser();
});

after(async () => {
  await browser?.close();
  await server?.stop({ signal: 'SIGKILL' });
  if (dir) removeDir(dir);
});

function assertOnceEach(msgs, texts, who) {
  const ids = msgs.map((m) => m.id);
  assert.equal(new Set(ids).size, ids.length, `${who}: no message id shown twice`);
  assert.deepEqual([...ids].sort((x, y) => x - y), ids, `${who}: messages in id order`);
  for (const t of texts) {
    assert.equal(msgs.filter((m) => m.text === t).length, 1, `${who}: "${t}" shown exactly once`);
  }
}

const notConnected = '#conn:not([data-state=connected])';

test('pages survive a server restart without loss or duplicates', async () => {
  server = await startServer();
  dir = server.dir;
  const { db, port } = server;
  const erin = await registerApi(server.url, 'erin');
  const finn = await registerApi(server.url, 'finn');

  const reader = await newPage(browser); // erin: the page under test
  const other = await newPage(browser); // finn: another client that keeps talking
  const readerSockets = [];
  reader.page.on('websocket', (ws) => readerSockets.push(ws.url()));
  try {
    await openSignedIn(reader.page, server.url, erin.token);
    await openSignedIn(other.page, server.url, finn.token);
    const texts = [];
    for (const t of ['before restart 1', 'before restart 2']) {
      await send(other.page, t);
      texts.push(t);
    }
    await waitForMessage(reader.page, 'before restart 2');

    // 1. Graceful stop (close code 1001). Erin's page stays disconnected (her network is down)
    //    while finn, reconnected to the new server, sends more: she must get them on resume.
    await server.stop();
    await reader.page.locator(notConnected).waitFor({ state: 'attached' });
    await other.page.locator(notConnected).waitFor({ state: 'attached' });
    await reader.page.locator('#conn-banner').waitFor({ state: 'visible' });
    assert.match(await reader.page.locator('#conn-banner').textContent(), /Reconnecting/);
    await shot(reader.page, 'chat-reconnecting-desktop');
    await reader.context.setOffline(true);
    await reader.page.locator('#conn[data-state=offline]').waitFor({ state: 'attached', timeout: 40000 });

    server = await startServer({ db, port });
    assert.equal(server.port, port);
    await waitConnected(other.page, 45000);
    for (const t of ['while erin was away 1', 'while erin was away 2', 'while erin was away 3']) {
      await send(other.page, t);
      texts.push(t);
    }
    await waitForMessage(other.page, 'while erin was away 3');

    await reader.context.setOffline(false);
    await waitConnected(reader.page, 45000);
    await waitForMessage(reader.page, 'while erin was away 3');
    const resumed = new URL(readerSockets[readerSockets.length - 1]);
    const lastBefore = Math.max(...(await messagesIn(reader.page)).filter((m) => m.text.startsWith('before')).map((m) => m.id));
    assert.equal(resumed.searchParams.get('since'), String(lastBefore), 'resumed with ?since=<last id seen>');
    await send(other.page, 'after erin is back');
    texts.push('after erin is back');
    await waitForMessage(reader.page, 'after erin is back');
    await sleep(500);
    assertOnceEach(await messagesIn(reader.page), texts, 'erin');
    assertOnceEach(await messagesIn(other.page), texts, 'finn');

    // 2. A crash (SIGKILL, no close frame) and a restart: both pages come back by themselves.
    await server.stop({ signal: 'SIGKILL' });
    await reader.page.locator(notConnected).waitFor({ state: 'attached' });
    await other.page.locator(notConnected).waitFor({ state: 'attached' });
    await sleep(1500);
    server = await startServer({ db, port });
    await waitConnected(reader.page, 45000);
    await waitConnected(other.page, 45000);
    await send(reader.page, 'erin after the crash');
    texts.push('erin after the crash');
    await send(other.page, 'finn after the crash');
    texts.push('finn after the crash');
    await waitForMessage(reader.page, 'finn after the crash');
    await waitForMessage(other.page, 'erin after the crash');
    await sleep(500);
    assertOnceEach(await messagesIn(reader.page), texts, 'erin');
    assertOnceEach(await messagesIn(other.page), texts, 'finn');
    assert.equal((await messagesIn(reader.page)).length, texts.length, 'erin: nothing extra');

    // A reload after all that shows the same history.
    await reader.page.reload();
    await waitConnected(reader.page);
    await waitForMessage(reader.page, 'finn after the crash');
    assertOnceEach(await messagesIn(reader.page), texts, 'erin after reload');

    assert.deepEqual(reader.problems, []);
    assert.deepEqual(other.problems, []);
  } finally {
    await reader.context.close();
    await other.context.close();
  }
});

test('a token the restarted server no longer accepts leads back to sign-in', async () => {
  await server?.stop({ signal: 'SIGKILL' });
  if (dir) removeDir(dir);
  server = await startServer();
  dir = server.dir;
  const { db, port } = server;
  const hana = await registerApi(server.url, 'hana');
  const { context, page, problems } = await newPage(browser);
  try {
    await openSignedIn(page, server.url, hana.token);
    // The operator restarts with a new signing secret: every issued token is now invalid, so the
    // reconnect is refused at the handshake (401), which the browser sees only as a failed socket.
    const secretFile = join(dir, 'jwt-secret');
    writeFileSync(secretFile, `${randomBytes(32).toString('hex')}\n`, { mode: 0o600 });
    await server.stop();
    server = await startServer({ db, port, extraArgs: ['--jwt-secret-file', secretFile] });
    const note = page.locator('#auth-note');
    await note.filter({ hasText: 'Your session expired, please sign in again.' }).waitFor({ timeout: 45000 });
    await page.locator('#form-signin').waitFor({ state: 'visible' });
    assert.equal(await page.evaluate(() => localStorage.getItem('chatterbox.token')), null);
    assert.deepEqual(problems, []);
  } finally {
    await context.close();
  }
});
