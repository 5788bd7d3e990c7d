// End-to-end test: two Chromium pages pair-program through a real pairpad-server.
// Run by tests/e2e/run.sh, which starts the server and sets:
//   PAIRPAD_URL, PAIRPAD_BIN, PAIRPAD_PID_FILE, PAIRPAD_LOG, PAIRPAD__SERVER__PORT, DATABASE_URL,
//   CHROMIUM (default /usr/bin/chromium).
// The test kills the server with SIGKILL and restarts it itself (same port, same database).
import { chromium } from 'playwright-core';
import { execFileSync, spawn } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { mkdirSync, mkdtempSync, openSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { fileURLToPath } from 'node:url';
import path from 'node:path';

const here = path.dirname(fileURLToPath(import.meta.url));
const artifacts = path.join(here, 'artifacts');
mkdirSync(artifacts, { recursive: true });

const BASE = required('PAIRPAD_URL');
const TIMEOUT = 15000;

function required(name) {
  const v = process.env[name];
  if (!v) {
    console.error(`e2e: ${name} is not set; run tests/e2e/run.sh`);
    process.exit(2);
  }
  return v;
}

// ---- small helpers --------------------------------------------------------------------------------

let step = 'start';
const log = (...args) => console.log(`[${((Date.now() - t0) / 1000).toFixed(1)}s]`, ...args);
const t0 = Date.now();

class Failure extends Error {}

function fail(message) {
  throw new Failure(message);
}

function check(condition, message) {
  if (!condition) fail(message);
}

/** Polls `probe` until it returns a truthy value; fails with `what` and the last value seen. */
async function waitFor(what, probe, timeout = TIMEOUT) {
  const deadline = Date.now() + timeout;
  let last;
  for (;;) {
    try {
      last = await probe();
      if (last) return last;
    } catch (e) {
      last = e;
    }
    if (Date.now() > deadline) {
      const seen = last instanceof Error ? last.message : JSON.stringify(last);
      fail(`timed out after ${timeout / 1000}s waiting for ${what} (last seen: ${seen})`);
    }
    await new Promise((r) => setTimeout(r, 100));
  }
}

async function api(method, url, body, headers = {}) {
  const res = await fetch(BASE + url, {
    method,
    headers: body ? { 'content-type': 'application/json', ...headers } : headers,
    body: body ? JSON.stringify(body) : undefined,
  });
  const text = await res.text();
  let json = null;
  try {
    json = JSON.parse(text);
  } catch {
    /* not JSON */
  }
  return { status: res.status, json, text };
}

async function room(id) {
  const r = await api('GET', `/api/rooms/${id}`);
  check(r.status === 200, `GET /api/rooms/${id} answered ${r.status}: ${r.text}`);
  return r.json;
}

const show = (s) => JSON.stringify(s);

// ---- the server -----------------------------------------------------------------------------------

function serverPid() {
  return Number(readFileSync(required('PAIRPAD_PID_FILE'), 'utf8').trim());
}

async function healthy() {
  try {
    const res = await fetch(BASE + '/health');
    return res.ok;
  } catch {
    return false;
  }
}

async function killServer() {
  process.kill(serverPid(), 'SIGKILL');
  await waitFor('the killed server to stop answering', async () => !(await healthy()));
}

async function startServer() {
  const out = openSync(required('PAIRPAD_LOG'), 'a');
  const child = spawn(required('PAIRPAD_BIN'), [], { env: process.env, stdio: ['ignore', out, out], detached: true });
  child.unref();
  writeFileSync(required('PAIRPAD_PID_FILE'), String(child.pid));
  await waitFor('the restarted server to answer /health', healthy, 30000);
}

// ---- pages ----------------------------------------------------------------------------------------

const pageErrors = [];
const consoleLines = new Map();

async function openPage(browser, label, url) {
  const context = await browser.newContext({ viewport: { width: 1100, height: 700 } });
  const page = await context.newPage();
  page.label = label;
  const lines = [];
  consoleLines.set(label, lines);
  page.on('console', (m) => lines.push(`${m.type()}: ${m.text()}`));
  page.on('pageerror', (e) => pageErrors.push(`${label}: ${e.message}`));
  page.setDefaultTimeout(TIMEOUT);
  await page.goto(/^https?:/.test(url) ? url : BASE + url);
  return page;
}

const state = (page) =>
  page.evaluate(() => {
    const p = window.pairpad;
    if (!p) return null;
    return {
      text: p.text(),
      idle: p.client.idle,
      revision: p.client.revision,
      userId: p.client.userId,
      connection: p.connection,
      language: p.language,
    };
  });

async function connected(page) {
  return waitFor(`${page.label} to be connected`, async () => {
    const s = await state(page);
    return s && s.connection === 'connected' && s.idle ? s : false;
  });
}

/** Waits until both pages are idle with the same text as the server, and returns that text. */
async function converged(roomId, pages, what) {
  let seen = null; // what the last look found, for the failure message
  try {
    return await waitFor(what, async () => {
      const states = await Promise.all(pages.map(state));
      seen = { pages: states.map((s) => s && [s.connection, s.idle ? 'idle' : 'busy', s.revision, s.text]) };
      if (!states.every((s) => s && s.idle && s.connection === 'connected')) return false;
      if (!states.every((s) => s.text === states[0].text)) return false;
      const r = await room(roomId);
      seen.server = [r.revision, r.code];
      return r.code === states[0].text ? states[0].text : false;
    });
  } catch (e) {
    if (e instanceof Failure && seen) fail(`${e.message}; last look: ${show(seen)}`);
    throw e;
  }
}

async function cursorAt(page, codePoint) {
  await page.evaluate((n) => window.pairpad.setCursor(n), codePoint);
}

const cpLen = (s) => Array.from(s).length;

/** Types text like a person: keys for ASCII, input events for the rest (emoji, CJK). */
async function type(page, text, delay = 12) {
  await page.keyboard.type(text, { delay });
}

/** Presses Enter for a new line, closing any completion popup first so Enter does not accept it. */
async function newline(page) {
  await page.keyboard.press('Escape');
  await page.keyboard.press('Enter');
}

async function userNames(page) {
  return page.$$eval('#users li .name', (els) => els.map((e) => e.textContent));
}

async function remoteCursor(page, userId) {
  return page.$(`.pp-remote-cursor[data-user-id="${userId}"]`);
}

// ---- the test -------------------------------------------------------------------------------------

async function run(browser) {
  step = 'create a room from the home page';
  const alice = await openPage(browser, 'alice', '/?name=Alice');
  await alice.waitForSelector('#new-room');
  await alice.selectOption('#new-language', 'python');
  await Promise.all([alice.waitForURL(/\/r\/[0-9a-f-]{36}/), alice.click('#new-room')]);
  const roomId = new URL(alice.url()).pathname.split('/')[2];
  log('room', roomId);
  const created = await room(roomId);
  check(created.language === 'python', `the new room's language is ${show(created.language)}, not "python"`);
  await connected(alice);

  step = 'a second person joins by link';
  const bob = await openPage(browser, 'bob', `/r/${roomId}?name=Bob`);
  await connected(bob);
  check((await state(bob)).language === 'python', 'Bob sees the python language');
  const pages = [alice, bob];

  step = 'only the browser that created the room may delete it; both may share a read-only link';
  await alice.waitForSelector('#delete-room', { state: 'visible' });
  check(!(await bob.isVisible('#delete-room')), 'Bob (who did not create the room) is offered "Delete room"');
  for (const p of [alice, bob]) await p.waitForSelector('#copy-view-link', { state: 'visible' });

  step = 'each sees the other in the user list';
  await waitFor('Alice to see Bob in the user list', async () => (await userNames(alice)).includes('Bob'));
  await waitFor('Bob to see Alice in the user list', async () => (await userNames(bob)).includes('Alice'));

  step = 'typing shows up on the other page';
  await cursorAt(alice, 0);
  await type(alice, 'x = 1');
  await newline(alice);
  await type(alice, 'y = 2');
  await newline(alice);
  let text = await converged(roomId, pages, 'the first lines to reach Bob and the server');
  check(text === 'x = 1\ny = 2\n', `after Alice typed, the text is ${show(text)}`);

  step = 'concurrent typing with emoji and CJK at different positions';
  await cursorAt(alice, cpLen(text));
  await cursorAt(bob, 0);
  await Promise.all([type(alice, '# alpha 日本語 😀 café ü'), type(bob, '# beta 👍🏽 中文 🦀 한국어')]);
  await newline(bob);
  text = await converged(roomId, pages, 'concurrent edits to converge');
  const expected = '# beta 👍🏽 中文 🦀 한국어\nx = 1\ny = 2\n# alpha 日本語 😀 café ü';
  check(text === expected, `after concurrent typing the text is ${show(text)}, expected ${show(expected)}`);
  log('converged:', show(text));

  step = 'concurrent typing at the same position';
  const at = cpLen('# beta 👍🏽 中文 🦀 한국어\nx = 1');
  await cursorAt(alice, at);
  await cursorAt(bob, at);
  await Promise.all([type(alice, ' + 10🎉', 5), type(bob, ' - 20 漢字', 5)]);
  text = await converged(roomId, pages, 'same-position concurrent edits to converge');
  check(cpLen(text) === cpLen(expected) + cpLen(' + 10🎉') + cpLen(' - 20 漢字'), `lost characters: ${show(text)}`);
  for (const ch of ['🎉', '漢', '字']) check(text.includes(ch), `${ch} is missing from ${show(text)}`);

  step = 'remote cursors';
  const [aliceId, bobId] = [(await state(alice)).userId, (await state(bob)).userId];
  await cursorAt(alice, 3);
  await cursorAt(bob, 7);
  await waitFor("Bob's cursor on Alice's page", () => remoteCursor(alice, bobId));
  await waitFor("Alice's cursor on Bob's page", () => remoteCursor(bob, aliceId));
  const label = await (await remoteCursor(alice, bobId)).textContent();
  check(label.includes('Bob'), `Bob's cursor is labelled ${show(label)}`);

  step = 'autocomplete';
  await autocomplete(roomId, alice, pages);

  step = 'a language change shows on the other page';
  await alice.selectOption('#language', 'rust');
  await waitFor("Bob's page to switch to rust", async () => (await state(bob)).language === 'rust');
  check((await bob.$eval('#language', (el) => el.value)) === 'rust', "Bob's language picker shows rust");
  await waitFor('the server to store rust', async () => (await room(roomId)).language === 'rust');

  step = 'a reload keeps the text';
  const before = await converged(roomId, pages, 'the text before reloading');
  await bob.reload();
  await connected(bob);
  check((await state(bob)).text === before, `after a reload Bob sees ${show((await state(bob)).text)}`);
  check((await state(bob)).language === 'rust', 'after a reload Bob sees rust');
  await waitFor('Alice to see exactly Alice and Bob after the reload', async () => {
    const names = (await userNames(alice)).sort();
    return names.length === 2 && names[0] === 'Alice' && names[1] === 'Bob';
  });

  step = 'killing the server (SIGKILL) with an edit in flight';
  const acked = await converged(roomId, pages, 'the text before the kill');
  await cursorAt(alice, cpLen(acked));
  await cursorAt(bob, 0);
  await type(alice, ' zz', 0); // not waiting for the ack: it may or may not be committed
  await killServer();
  log('server killed');
  await Promise.all(
    pages.map((p) =>
      waitFor(`${p.label} to show that the connection is lost`, async () => {
        const s = await state(p);
        return s.connection === 'reconnecting' || s.connection === 'disconnected';
      }),
    ),
  );
  step = 'editing while the server is down';
  await type(alice, ' offA 🙂');
  await type(bob, 'offB 😎 ');
  check(!(await state(alice)).idle && !(await state(bob)).idle, 'both pages know they have unsaved edits');
  await Promise.all(pages.map((p) => screenshot(p, 'offline')));

  step = 'restarting the server (same port, same database)';
  await startServer();
  log('server restarted');
  text = await converged(roomId, pages, 'both pages to reconnect and converge after the restart');
  for (const p of pages) {
    log(`${p.label} resolved its unacknowledged work by:`, (await p.evaluate(() => window.pairpad.client.recoveries)).join(', '));
  }
  const afterRestart = 'offB 😎 ' + acked + ' zz offA 🙂';
  check(text === afterRestart, `after the restart the text is ${show(text)}, expected ${show(afterRestart)}`);
  check((await room(roomId)).language === 'rust', 'the language survived the restart');

  step = 'editing after the restart';
  await cursorAt(alice, cpLen(text));
  await cursorAt(bob, 0);
  await Promise.all([type(alice, ' after 🚀'), type(bob, 'again ✨ ')]);
  text = await converged(roomId, pages, 'edits after the restart to converge');
  check(text === 'again ✨ ' + afterRestart + ' after 🚀', `after editing again the text is ${show(text)}`);
  await waitFor('both users in both lists after the restart', async () =>
    (await Promise.all(pages.map(userNames))).every((n) => n.includes('Alice') && n.includes('Bob')),
  );
  await cursorAt(alice, 5);
  await cursorAt(bob, 9);
  await waitFor("Bob's cursor on Alice's page after the restart", async () =>
    remoteCursor(alice, (await state(bob)).userId),
  );

  step = 'screenshots';
  await Promise.all(pages.map((p) => screenshot(p, 'final')));

  await offlineForAWhile(browser);
  await historyPanel(browser);
  await readOnlyPage(browser);
  await javascriptMemberCompletion(browser);
  await deletedRoom(browser);
  await tokenMode(browser);

  step = 'honest state for a room that does not exist';
  const missing = '00000000-0000-4000-8000-000000000000';
  check((await api('GET', `/api/rooms/${missing}`)).status === 404, 'GET of an unknown room is a 404');
  const carol = await openPage(browser, 'carol', `/r/${missing}`);
  await waitFor('the room-not-found message', async () => {
    const overlay = await carol.$('#overlay:not([hidden])');
    return overlay && (await overlay.textContent()).includes('Room not found');
  });
  check((await state(carol)).connection === 'not_found', 'the indicator says the room was not found');
  await screenshot(carol, 'not-found');

  step = 'done';
  check(pageErrors.length === 0, `uncaught errors in the pages: ${pageErrors.join('; ')}`);
  log('text at the end:', show(text));
}

/** Lines typed one by one, each a distinct token, so that a lost or doubled one shows. */
async function typeLines(page, prefix, count, pause) {
  const lines = [];
  for (let i = 0; i < count; i++) {
    const line = `${prefix} ${i} 日本 🦀`;
    await type(page, line, 5);
    await newline(page);
    lines.push(line);
    await page.waitForTimeout(pause);
  }
  return lines;
}

async function offlineForAWhile(browser) {
  step = 'offline for a while: two pages in a new room';
  const made = await api('POST', '/api/rooms', { language: 'python', code: 'start 🚀\n' });
  check(made.status === 201, `POST /api/rooms answered ${made.status}: ${made.text}`);
  const roomId = made.json.roomId;
  const dana = await openPage(browser, 'dana', `/r/${roomId}?name=Dana`);
  const erin = await openPage(browser, 'erin', `/r/${roomId}?name=Erin`);
  const pages = [dana, erin];
  await Promise.all(pages.map(connected));

  step = 'Erin goes offline (the network is cut)';
  await erin.context().setOffline(true);
  await waitFor('Erin to show that she is offline', async () => (await state(erin)).connection === 'disconnected');
  const before = (await state(erin)).revision;

  step = 'both type while Erin is offline';
  await cursorAt(dana, cpLen('start 🚀\n'));
  await cursorAt(erin, 0);
  // Dana's edits are acknowledged one by one; Erin's wait, composed, for as long as it takes.
  const [danaLines, erinLines] = await Promise.all([typeLines(dana, 'dana', 8, 400), typeLines(erin, 'erin', 8, 400)]);
  await waitFor("Dana's edits to be stored", async () => (await state(dana)).idle);
  check((await room(roomId)).revision > before, 'the server moved on while Erin was offline');
  const offline = await state(erin);
  check(!offline.idle && offline.connection === 'disconnected', `Erin's page: ${show(offline)}`);
  check(offline.revision === before, 'nothing reached Erin while offline');
  await screenshot(erin, 'offline-typing');

  step = 'Erin comes back online: she resumes, both sides converge';
  await erin.context().setOffline(false);
  const text = await converged(roomId, pages, 'both pages to converge after Erin came back');
  const lines = text.split('\n');
  for (const line of [...danaLines, ...erinLines, 'start 🚀']) {
    const count = lines.filter((l) => l === line).length;
    check(count === 1, `${show(line)} is in the document ${count} times: ${show(text)}`);
  }
  check(lines.length === danaLines.length + erinLines.length + 2, `unexpected lines in ${show(text)}`);
  const recoveries = await erin.evaluate(() => window.pairpad.client.recoveries);
  check(recoveries.includes('resumed') && !recoveries.includes('diff-rebase'), `Erin resumed: ${show(recoveries)}`);
  log('offline work of both sides present exactly once; Erin recovered by', recoveries.join(', '));
  await Promise.all(pages.map((p) => p.context().close()));
}

async function historyPanel(browser) {
  step = 'history: a room with some revisions';
  const made = await api('POST', '/api/rooms', { language: 'python', code: '' });
  const roomId = made.json.roomId;
  const fay = await openPage(browser, 'fay', `/r/${roomId}?name=Fay`);
  await connected(fay);
  await cursorAt(fay, 0);
  await typeLines(fay, 'fay 👍🏽 한국어', 6, 150);
  const live = await converged(roomId, [fay], 'the text to be stored');

  step = 'history: the panel shows the room read-only at the latest revision';
  await fay.click('#history-toggle');
  await fay.waitForSelector('#history-bar:not([hidden])');
  const head = (await room(roomId)).revision;
  const shown = async () =>
    fay.evaluate(() => {
      const info = document.getElementById('history-info');
      return {
        revision: info.dataset.revision,
        loading: info.dataset.loading,
        viewer: window.pairpad.viewer.text(),
        dom: Array.from(document.querySelectorAll('#history-view .cm-line'), (line) => line.textContent).join('\n'),
        editable: document.querySelector('#history-view .cm-content').getAttribute('contenteditable'),
        editorHidden: document.getElementById('editor').hidden,
        index: Number(document.getElementById('history-slider').value),
        max: Number(document.getElementById('history-slider').max),
      };
    });
  let s = await waitFor('the latest revision in the panel', async () => {
    const v = await shown();
    return v.loading === 'false' && v.revision === String(head) ? v : false;
  });
  check(s.viewer === live, `the panel shows ${show(s.viewer)} at the head, the editor ${show(live)}`);
  check(s.editorHidden && s.editable === 'false', 'the live editor is replaced by a read-only view');
  check(s.max >= 2, `the slider has ${s.max + 1} points`);
  const info = await fay.textContent('#history-info');
  check(info.includes(`Revision ${head}`) && info.includes('by Fay'), `the panel says which revision and who wrote it: ${show(info)}`);

  step = 'history: the timeslider shows the same text as GET /api/rooms/{id}/revisions/{n}';
  const history = await api('GET', `/api/rooms/${roomId}/history?buckets=500`);
  check(history.status === 200, `GET history answered ${history.status}: ${history.text}`);
  // The slider's points: the room as created (revision 0), then the server's points.
  const points = await fay.evaluate(() => window.pairpad.history.points.map((p) => p.revision));
  check(show(points) === show([0, ...history.json.points.map((p) => p.revision)]), `slider points ${show(points)}, server ${history.text}`);
  for (const index of [Math.floor(s.max / 2), 1, 0]) {
    await fay.evaluate((i) => {
      const slider = document.getElementById('history-slider');
      slider.value = String(i);
      slider.dispatchEvent(new Event('input', { bubbles: true }));
    }, index);
    const n = points[index];
    s = await waitFor(`revision ${n} in the panel`, async () => {
      const v = await shown();
      return v.loading === 'false' && v.revision === String(n) ? v : false;
    });
    const rest = await api('GET', `/api/rooms/${roomId}/revisions/${n}`);
    check(rest.status === 200, `GET revisions/${n} answered ${rest.status}: ${rest.text}`);
    check(s.viewer === rest.json.code, `at revision ${n} the panel shows ${show(s.viewer)}, the server ${show(rest.json.code)}`);
    check(s.dom === rest.json.code, `at revision ${n} the page displays ${show(s.dom)}`);
    log(`history: revision ${n} shows ${show(s.viewer)}`);
  }

  step = 'history: playback reaches the latest revision';
  await fay.selectOption('#history-speed', '16');
  await fay.click('#history-play');
  await waitFor('playback to reach the latest revision', async () => {
    const v = await shown();
    const playing = await fay.evaluate(() => window.pairpad.history.playing);
    return v.revision === String(head) && v.loading === 'false' && !playing;
  });
  await screenshot(fay, 'history');

  step = 'history: restore an old version as an ordinary, undoable edit';
  const middle = points[Math.floor(s.max / 2)];
  await fay.evaluate((i) => {
    const slider = document.getElementById('history-slider');
    slider.value = String(i);
    slider.dispatchEvent(new Event('input', { bubbles: true }));
  }, Math.floor(s.max / 2));
  await waitFor(`revision ${middle} in the panel`, async () => (await shown()).revision === String(middle) && (await shown()).loading === 'false');
  const old = (await api('GET', `/api/rooms/${roomId}/revisions/${middle}`)).json.code;
  const ivy = await openPage(browser, 'ivy', `/r/${roomId}?name=Ivy`);
  await connected(ivy);
  await fay.click('#history-restore');
  await fay.waitForSelector('#history-bar', { state: 'hidden' });
  let text = await converged(roomId, [fay, ivy], 'the restored version to reach everyone');
  check(text === old, `after restoring revision ${middle} the text is ${show(text)}, expected ${show(old)}`);
  check((await room(roomId)).revision > head, 'the restore is a new revision');
  await fay.keyboard.press('Control+z');
  text = await converged(roomId, [fay, ivy], 'the undone restore to reach everyone');
  check(text === live, `after undoing the restore the text is ${show(text)}, expected ${show(live)}`);
  await Promise.all([fay, ivy].map((p) => p.context().close()));
}

const UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-4[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$/;

/** What a page shows about its access, and its editor's state. */
const accessView = (page) =>
  page.evaluate(() => ({
    access: window.pairpad.access,
    viewId: window.pairpad.viewId,
    badge: document.getElementById('view-only').hidden ? null : document.getElementById('view-only').textContent,
    languageDisabled: document.getElementById('language').disabled,
    copyViewLink: !document.getElementById('copy-view-link').hidden,
    deleteRoom: !document.getElementById('delete-room').hidden,
    editable: document.querySelector('#editor .cm-content').getAttribute('contenteditable'),
    readOnly: window.pairpad.editor.view.state.readOnly,
    // The text on screen, without the remote cursors' name labels.
    dom: Array.from(document.querySelectorAll('#editor .cm-line'), (line) => {
      const copy = line.cloneNode(true);
      for (const cursor of copy.querySelectorAll('.pp-remote-cursor')) cursor.remove();
      return copy.textContent;
    }).join('\n'),
  }));

/** The operations a page has sent (its protocol trace). */
const sentOperations = (page) =>
  page.evaluate(() => window.pairpad.trace.filter((l) => / > \{"type":"(operation|code_update|language)"/.test(l)));

async function readOnlyPage(browser) {
  step = 'a read-only page follows the live text and cannot change it: a room with a view id';
  const made = await api('POST', '/api/rooms', { language: 'python', code: 'print("hi") 👋\n' });
  check(made.status === 201, `POST /api/rooms answered ${made.status}: ${made.text}`);
  const { roomId, viewId, ownerToken } = made.json;
  check(UUID.test(viewId) && viewId !== roomId, `POST /api/rooms answered viewId ${show(viewId)} for room ${roomId}`);
  check(typeof ownerToken === 'string' && ownerToken.length > 0, `POST /api/rooms answered ownerToken ${show(ownerToken)}`);
  const byView = await api('GET', `/api/rooms/${viewId}`);
  check(byView.status === 200 && byView.json.code === 'print("hi") 👋\n', `GET /api/rooms/{viewId} answered ${byView.status}: ${byView.text}`);
  check(!byView.text.includes(roomId), `GET /api/rooms/{viewId} reveals the edit id: ${byView.text}`);

  step = 'read-only: an edit page and a view page';
  const gus = await openPage(browser, 'gus', `/r/${roomId}?name=Gus`);
  const hal = await openPage(browser, 'hal', `/r/${viewId}?name=Hal`);
  const pages = [gus, hal];
  await Promise.all(pages.map(connected));
  const [g, h] = await Promise.all(pages.map(accessView));
  check(g.access === 'edit' && g.viewId === viewId, `Gus's page: access ${show(g.access)}, viewId ${show(g.viewId)}`);
  check(!g.badge && !g.languageDisabled && g.editable === 'true' && !g.readOnly, `Gus's page is not editable: ${show(g)}`);
  check(g.copyViewLink && !g.deleteRoom, `Gus's page: copy read-only link ${g.copyViewLink}, delete ${g.deleteRoom} (it did not create the room)`);
  check(h.access === 'view', `Hal's page: access ${show(h.access)}`);
  check(/view only/i.test(h.badge || ''), `Hal's page shows no "view only" badge: ${show(h.badge)}`);
  check(h.languageDisabled && h.editable === 'false' && h.readOnly, `Hal's editor or language picker is editable: ${show(h)}`);
  check(!h.copyViewLink && !h.deleteRoom, `Hal's page offers copy read-only link ${h.copyViewLink}, delete ${h.deleteRoom}`);

  step = 'read-only: "Copy read-only link" gives /r/{viewId}';
  await gus.click('#copy-view-link');
  await waitFor('the read-only link in the toast', async () => (await gus.textContent('#toast')).includes(`${BASE}/r/${viewId}`));

  step = 'read-only: typing on the edit page shows on the view page';
  let text = await converged(roomId, pages, 'both pages to show the room');
  await cursorAt(gus, cpLen(text));
  await type(gus, 'x = "日本" 🦀');
  await newline(gus);
  text = await converged(roomId, pages, "Gus's typing to reach Hal and the server");
  check(text === 'print("hi") 👋\nx = "日本" 🦀\n', `after Gus typed the text is ${show(text)}`);
  check((await accessView(hal)).dom === text, `Hal's page displays ${show((await accessView(hal)).dom)}`);
  const gusId = (await state(gus)).userId;
  await cursorAt(gus, 3);
  await waitFor("Gus's cursor on Hal's page", () => remoteCursor(hal, gusId));

  step = 'read-only: typing on the view page changes nothing anywhere';
  const before = await room(roomId);
  await hal.click('#editor .cm-content');
  await type(hal, 'hacked 💥');
  await hal.keyboard.press('Enter');
  await hal.keyboard.press('Backspace');
  await hal.keyboard.press('Delete');
  await hal.keyboard.press('Control+x');
  await hal.waitForTimeout(1000);
  for (const p of pages) {
    const s = await state(p);
    check(s.text === text && s.connection === 'connected', `${p.label}'s page changed: ${show(s)}`);
  }
  check((await accessView(hal)).dom === text, `Hal's page displays ${show((await accessView(hal)).dom)}`);
  const after = await room(roomId);
  check(after.code === before.code && after.revision === before.revision, `the server's room changed: ${show(after)}`);
  check((await sentOperations(hal)).length === 0, `Hal's page sent ${show(await sentOperations(hal))}`);

  step = 'read-only: an operation sent anyway is refused as read_only, and the connection stays';
  await hal.evaluate(
    ({ revision, length }) => window.pairpad.socket.send({ type: 'operation', revision, ops: [length, '!'], opId: 'hal-forced' }),
    { revision: after.revision, length: cpLen(text) },
  );
  await waitFor('the read_only error', async () =>
    (await hal.evaluate(() => window.pairpad.trace.some((l) => l.includes('"code":"read_only"')))),
  );
  const forced = await room(roomId);
  check(forced.code === before.code && forced.revision === before.revision, `the forced operation changed the room: ${show(forced)}`);
  check((await state(hal)).connection === 'connected', 'the view page stays connected after read_only');

  step = 'read-only: the view page still follows';
  await cursorAt(gus, cpLen(text));
  await type(gus, 'y = 2');
  text = await converged(roomId, pages, "Gus's later typing to reach Hal");
  check(text.endsWith('y = 2'), `the text is ${show(text)}`);
  await screenshot(hal, 'view-only');
  await Promise.all(pages.map((p) => p.context().close()));
}

async function javascriptMemberCompletion(browser) {
  step = 'javascript completion: a room in JavaScript';
  const head = "form.addEventListener('submit', (event) => {\n  ";
  const made = await api('POST', '/api/rooms', { language: 'javascript', code: head + '\n});\n' });
  check(made.status === 201, `POST /api/rooms answered ${made.status}: ${made.text}`);
  const roomId = made.json.roomId;
  const sam = await openPage(browser, 'sam', `/r/${roomId}?name=Sam`);
  await connected(sam);
  check((await state(sam)).language === 'javascript', `Sam's page has the language ${show((await state(sam)).language)}`);
  check((await sam.inputValue('#language')) === 'javascript', 'the language picker does not show JavaScript');

  step = 'javascript completion: "event.prev" offers preventDefault in the popup';
  await cursorAt(sam, cpLen(head));
  // A fast typist: each key aborts the query still waiting, so the last one always answers (a
  // stale, empty answer for "event" once kept CodeMirror from asking again).
  await type(sam, 'event.prev', 30);
  const option = '.cm-tooltip-autocomplete li:has(.cm-completionLabel:text-is("preventDefault"))';
  await sam.waitForSelector(option, { state: 'visible' });
  await sam.waitForSelector(`${option}[aria-selected="true"]`);
  await screenshot(sam, 'completion');

  step = 'javascript completion: Enter inserts it';
  await sam.waitForTimeout(150); // CodeMirror ignores Enter for 75 ms after the popup opens
  await sam.keyboard.press('Enter');
  const text = await converged(roomId, [sam], 'the completion to reach the server');
  const expected = head + 'event.preventDefault\n});\n';
  check(text === expected, `after accepting the completion the text is ${show(text)}, expected ${show(expected)}`);
  await sam.waitForSelector('.cm-tooltip-autocomplete', { state: 'detached' });
  log('javascript completion: "event.prev" offered preventDefault; Enter gave', show(text.split('\n')[1]));
  await sam.context().close();
}

/** Counts the WebSockets a page opens from now on. */
function countSockets(page) {
  const counter = { opened: 0 };
  page.on('websocket', () => counter.opened++);
  return counter;
}

async function deletedOverlay(page) {
  return waitFor(`${page.label} to say the room was deleted`, async () => {
    const overlay = await page.$('#overlay:not([hidden])');
    return overlay && (await overlay.textContent()).includes('Room deleted') && (await state(page)).connection === 'gone';
  });
}

/** After a final close (the room deleted, no access): the page stays so and opens no socket for a while. */
async function staysGone(page, sockets, expected = 'gone') {
  const opened = sockets.opened;
  await page.waitForTimeout(3000); // the first retry of a reconnect would come after 0.5 s
  check(sockets.opened === opened, `${page.label}'s page opened ${sockets.opened - opened} more sockets after giving up`);
  const s = await page.evaluate(() => ({ connection: window.pairpad.connection, socket: window.pairpad.socket.socket !== null }));
  check(s.connection === expected && !s.socket, `${page.label}'s page after giving up: ${show(s)}, expected ${expected}`);
}

async function deletedRoom(browser) {
  step = 'deleting a room: DELETE with a wrong owner token is refused';
  const made = await api('POST', '/api/rooms', { language: 'python', code: 'doomed 💣\n' });
  check(made.status === 201, `POST /api/rooms answered ${made.status}: ${made.text}`);
  const { roomId, viewId, ownerToken } = made.json;
  const jo = await openPage(browser, 'jo', `/r/${roomId}?name=Jo`);
  const kit = await openPage(browser, 'kit', `/r/${viewId}?name=Kit`);
  const pages = [jo, kit];
  const sockets = pages.map(countSockets);
  await Promise.all(pages.map(connected));
  const wrong = await api('DELETE', `/api/rooms/${roomId}`, null, { authorization: `Bearer ${ownerToken}x` });
  check(wrong.status === 403, `DELETE with a wrong owner token answered ${wrong.status}: ${wrong.text}`);
  const none = await api('DELETE', `/api/rooms/${roomId}`);
  check(none.status === 403, `DELETE without an owner token answered ${none.status}: ${none.text}`);
  await jo.waitForTimeout(500);
  for (const p of pages) check((await state(p)).connection === 'connected', `${p.label}'s page is no longer connected`);

  step = 'deleting a room: DELETE with the owner token; the open pages say so and do not reconnect';
  const deleted = await api('DELETE', `/api/rooms/${roomId}`, null, { authorization: `Bearer ${ownerToken}` });
  check(deleted.status === 204, `DELETE with the owner token answered ${deleted.status}: ${deleted.text}`);
  await Promise.all(pages.map(deletedOverlay));
  await screenshot(jo, 'deleted');
  await Promise.all(pages.map((p, i) => staysGone(p, sockets[i])));
  check((await api('GET', `/api/rooms/${roomId}`)).status === 404, 'GET of the deleted room is not a 404');
  check((await api('GET', `/api/rooms/${viewId}`)).status === 404, 'GET of the deleted room by its view id is not a 404');
  await Promise.all(pages.map((p) => p.context().close()));

  step = 'deleting a room from the page that created it ("Delete room")';
  const lee = await openPage(browser, 'lee', '/?name=Lee');
  const leeSockets = countSockets(lee);
  await lee.waitForSelector('#new-room');
  await Promise.all([lee.waitForURL(/\/r\/[0-9a-f-]{36}/), lee.click('#new-room')]);
  const leeRoom = new URL(lee.url()).pathname.split('/')[2];
  await connected(lee);
  await lee.waitForSelector('#delete-room', { state: 'visible' });
  let asked = null;
  lee.once('dialog', (d) => {
    asked = d.message();
    d.accept();
  });
  await lee.click('#delete-room');
  await deletedOverlay(lee);
  check(asked && /delete/i.test(asked), `no confirmation before deleting: ${show(asked)}`);
  await staysGone(lee, leeSockets);
  check((await api('GET', `/api/rooms/${leeRoom}`)).status === 404, "GET of Lee's deleted room is not a 404");
  const kept = await lee.evaluate((id) => localStorage.getItem(`pairpad.ownerToken.${id}`), leeRoom);
  check(kept === null, 'the owner token of the deleted room is still kept');
  await lee.context().close();
}

// ---- token mode: a second server -------------------------------------------------------------------

const extraServers = []; // killed at exit

function freePort() {
  return new Promise((resolve, reject) => {
    const s = createServer().listen(0, '127.0.0.1', () => {
      const { port } = s.address();
      s.close(() => resolve(port));
    });
    s.on('error', reject);
  });
}

/** Starts another pairpad-server in token mode (its own port and database). */
async function startTokenServer() {
  const dir = mkdtempSync(path.join(tmpdir(), 'pairpad-e2e-token-'));
  const port = await freePort();
  const env = {
    ...process.env,
    PAIRPAD__SERVER__PORT: String(port),
    DATABASE_URL: `sqlite://${dir}/token.db`,
    PAIRPAD__AUTH__MODE: 'token',
    PAIRPAD__AUTH__SECRET: randomBytes(48).toString('base64'),
  };
  const out = openSync(path.join(artifacts, 'server-token.log'), 'w');
  const child = spawn(required('PAIRPAD_BIN'), [], { env, stdio: ['ignore', out, out] });
  const server = { base: `http://127.0.0.1:${port}`, env, child, dir };
  extraServers.push(server);
  await waitFor('the token-mode server to answer /health', async () => {
    try {
      return (await fetch(server.base + '/health')).ok;
    } catch {
      return false;
    }
  }, 30000);
  return server;
}

function stopExtraServers() {
  for (const s of extraServers.splice(0)) {
    s.child.kill('SIGKILL');
    rmSync(s.dir, { recursive: true, force: true });
  }
}

/** A token from the server's own `token` command. */
function mint(server, room, access, name) {
  const args = ['token', '--room', room, '--access', access, '--ttl', '10m', ...(name ? ['--name', name] : [])];
  return execFileSync(required('PAIRPAD_BIN'), args, { env: server.env, encoding: 'utf8' }).trim();
}

async function tokenMode(browser) {
  step = 'token mode: a second server with auth.mode=token';
  const server = await startTokenServer();
  const at = (p) => server.base + p;
  const admin = mint(server, '*', 'admin');
  const rest = async (method, url, token, body) => {
    const res = await fetch(at(url), {
      method,
      headers: { ...(token ? { authorization: `Bearer ${token}` } : {}), ...(body ? { 'content-type': 'application/json' } : {}) },
      body: body ? JSON.stringify(body) : undefined,
    });
    return { status: res.status, json: await res.json().catch(() => null) };
  };
  check((await rest('POST', '/api/rooms', null, {})).status === 401, 'POST /api/rooms without a token is not a 401');

  step = 'token mode: the home page creates a room with an admin token from its address';
  const open = (label, url) => openPage(browser, label, at(url));
  const max = await open('max', `/?name=Max&token=${admin}`);
  await max.waitForSelector('#new-room');
  await Promise.all([max.waitForURL(/\/r\/[0-9a-f-]{36}/), max.click('#new-room')]);
  const url = new URL(max.url());
  const roomId = url.pathname.split('/')[2];
  check(url.searchParams.get('token') === admin, `the room's address does not carry the token: ${max.url()}`);
  await connected(max);
  check((await state(max)).connection === 'connected', 'Max is not connected');

  step = 'token mode: an edit token edits, a view token only follows';
  const ned = await open('ned', `/r/${roomId}?token=${mint(server, roomId, 'edit', 'Ned')}`);
  const ola = await open('ola', `/r/${roomId}?token=${mint(server, roomId, 'view', 'Ola')}`);
  await Promise.all([ned, ola].map(connected));
  await waitFor('Max to see Ned by the name in his token', async () => (await userNames(max)).includes('Ned'));
  await cursorAt(ned, 0);
  await type(ned, 'token 🔑');
  const synced = await waitFor('the text to reach every page', async () => {
    const s = await Promise.all([max, ned, ola].map(state));
    return s.every((x) => x.idle && x.text === 'token 🔑') && s;
  });
  check(synced.length === 3, 'not every page has the text');
  const o = await accessView(ola);
  check(o.access === 'view' && /view only/i.test(o.badge || '') && o.editable === 'false', `Ola's page with a view token: ${show(o)}`);
  check((await accessView(ned)).access === 'edit', "Ned's page with an edit token is not editing");
  const stored = await rest('GET', `/api/rooms/${roomId}`, admin);
  check(stored.status === 200 && stored.json.code === 'token 🔑', `the server has ${show(stored)}`);

  step = 'token mode: the History panel reads with the token';
  await max.click('#history-toggle');
  await waitFor('the history to load with the token', async () => {
    const info = await max.evaluate(() => ({ ...document.getElementById('history-info').dataset, text: document.getElementById('history-info').textContent }));
    return info.loading === 'false' && info.error === 'false' && info.revision !== '' && info;
  });
  await max.click('#history-close');

  step = 'token mode: no token, or a token for another room: a clear message and no reconnect';
  const other = await rest('POST', '/api/rooms', admin, {});
  check(other.status === 201, `POST /api/rooms with the admin token answered ${other.status}`);
  const pat = await open('pat', `/r/${roomId}?name=Pat`);
  const quin = await open('quin', `/r/${roomId}?token=${mint(server, other.json.roomId, 'edit')}`);
  const forged = await open('ray', `/r/${roomId}?token=${admin.slice(0, -4)}AAAA`);
  for (const [page, kind, title] of [
    [pat, 'unauthorized', 'Not authorized'],
    [quin, 'forbidden', 'Access denied'],
    [forged, 'unauthorized', 'Not authorized'],
  ]) {
    const sockets = countSockets(page);
    await waitFor(`${page.label}'s page to say ${title}`, async () => {
      const overlay = await page.$('#overlay:not([hidden])');
      return overlay && (await overlay.textContent()).includes(title) && (await state(page)).connection === kind;
    });
    await staysGone(page, sockets, kind);
  }
  await screenshot(pat, 'unauthorized');
  for (const p of [max, ned, ola, pat, quin, forged]) await p.context().close();
  stopExtraServers();
}

async function autocomplete(roomId, page, pages) {
  const base = await converged(roomId, pages, 'the text before autocomplete');
  await cursorAt(page, cpLen(base));
  await newline(page);
  const code = base + '\npri';
  const api_ = await api('POST', '/api/autocomplete', { code, cursorPosition: cpLen(code), language: 'python' });
  check(api_.status === 200, `POST /api/autocomplete answered ${api_.status}: ${api_.text}`);
  const candidates = new Set([...(api_.json.suggestions || []).map((s) => s.insertText), api_.json.suggestion].filter(Boolean));
  await type(page, 'pri', 30);
  if (candidates.size === 0) {
    log('autocomplete: the server suggests nothing for "pri" in python; popup not checked');
  } else {
    await page.waitForSelector('.cm-tooltip-autocomplete li', { timeout: TIMEOUT });
    await page.waitForTimeout(150); // CodeMirror ignores Enter for 75 ms after the popup opens
    await page.keyboard.press('Enter');
    const after = await waitFor('the completion to be inserted', async () => {
      const s = await state(page);
      return s.text !== code && s.text;
    });
    const inserted = after.startsWith(code) ? after.slice(code.length) : null;
    check(inserted !== null && candidates.has(inserted), `accepting a completion gave ${show(after)}; candidates ${show([...candidates])}`);
    log('autocomplete inserted', show(inserted));
  }
  // Remove what this step typed, so later expectations stay simple.
  const now = await converged(roomId, pages, 'the completion to reach everyone');
  await page.evaluate((n) => window.pairpad.setCursor(n.from, n.to), { from: cpLen(base), to: cpLen(now) });
  await page.keyboard.press('Backspace');
  const back = await converged(roomId, pages, 'the undone completion to reach everyone');
  check(back === base, `after deleting the completion the text is ${show(back)}`);
}

async function screenshot(page, name) {
  try {
    await page.screenshot({ path: path.join(artifacts, `${page.label}-${name}.png`) });
  } catch (e) {
    console.error(`e2e: screenshot ${page.label}-${name} failed: ${e.message}`);
  }
}

// ---- main -----------------------------------------------------------------------------------------

const browser = await chromium.launch({
  executablePath: process.env.CHROMIUM || '/usr/bin/chromium',
  args: [
    '--headless',
    '--no-sandbox',
    '--disable-gpu',
    '--disable-background-networking',
    '--disable-quic',
    '--no-first-run',
    '--disable-component-update',
    '--disable-sync',
  ],
});
let status = 0;
try {
  await run(browser);
  console.log('e2e: PASS');
} catch (e) {
  status = 1;
  console.error(`e2e: FAIL at step "${step}": ${e instanceof Failure ? e.message : e.stack || e}`);
  for (const context of browser.contexts()) {
    for (const page of context.pages()) {
      await screenshot(page, 'failure');
      console.error(`--- console of ${page.label} (last 30 lines)`);
      for (const line of (consoleLines.get(page.label) || []).slice(-30)) console.error('  ' + line);
      const trace = await page.evaluate(() => (window.pairpad ? window.pairpad.trace.slice(-40) : [])).catch(() => []);
      console.error(`--- protocol trace of ${page.label} (last 40 messages)`);
      for (const line of trace) console.error('  ' + line);
    }
  }
  if (pageErrors.length) console.error('uncaught errors in the pages:\n  ' + pageErrors.join('\n  '));
} finally {
  await browser.close().catch(() => {});
  stopExtraServers();
}
process.exit(status);
