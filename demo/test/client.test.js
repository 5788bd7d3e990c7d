// Simulation test of the client state machine against a fake server that follows PROTOCOL.md 1.1:
// random concurrent edits (with astral characters), random message delivery, dropped connections
// (with messages in flight lost or delivered), reconnects that resume (`since`) and re-send with
// opIds, a server whose history is too short to resume (rebase by diff); then single scenarios.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { TextOperation, cpLength } from '../src/ot.js';
import { OTClient, MAX_RUNS } from '../src/client.js';

const ALPHABET = ['a', 'b', 'c', ' ', '\n', 'é', '日', '🦀', '👍🏽'];

function rng(seed) {
  let s = seed >>> 0;
  return () => {
    s = (s * 1664525 + 1013904223) >>> 0;
    return s / 2 ** 32;
  };
}

function randomEdit(r, doc) {
  const len = cpLength(doc);
  const op = new TextOperation();
  const at = Math.floor(r() * (len + 1));
  op.retain(at);
  const del = r() < 0.3 ? Math.min(len - at, 1 + Math.floor(r() * 3)) : 0;
  op.delete(del);
  if (del === 0 || r() < 0.5) {
    let s = '';
    const n = 1 + Math.floor(r() * 3);
    for (let i = 0; i < n; i++) s += ALPHABET[Math.floor(r() * ALPHABET.length)];
    op.insert(s);
  }
  op.retain(len - at - del);
  return op;
}

/**
 * A server that follows PROTOCOL.md 1.1 and docs/PROTOCOL.md ("Resuming, precisely"). It
 * sequences an operation at once but stores it later (`store`): only then is it acknowledged to
 * its author and broadcast to the others (live, without its opId). `init` is the stored text; a
 * resume at `since` sends the stored operations after it, with their opIds, when it still has them
 * (`window` revisions back), else `init` with `resumed: false`. An opId is applied at most once:
 * a re-sent one is acknowledged with its revision once stored. `resume: false` plays a server
 * that never resumes.
 */
class FakeServer {
  constructor({ window = Infinity, resume = true, text = 'hello 🌍\n', r = Math.random } = {}) {
    this.text = text; // the sequenced text
    this.storedText = text;
    this.revision = 0; // sequenced
    this.stored = 0; // stored
    this.history = []; // [{ op, opId, userId, author }], history[i] makes revision i + 1
    this.opIds = new Map(); // opId -> revision
    this.waiting = []; // [{ conn, opId }]: re-sent opIds to acknowledge once stored
    this.conns = new Set();
    this.window = window;
    this.resume = resume;
    this.users = 0;
    this.r = r;
  }
  connect(conn, since = null) {
    conn.userId = 'u' + ++this.users;
    this.conns.add(conn);
    if (since !== null && this.resume && since <= this.stored && since >= this.stored - this.window) {
      conn.toClient.push({ type: 'resume', roomId: 'r', userId: conn.userId, revision: since, language: 'python', users: [], resumed: true });
      for (let r = since; r < this.stored; r++) {
        const h = this.history[r];
        const msg = { type: 'operation', revision: r + 1, ops: h.op.toJSON(), userId: h.userId };
        if (h.opId !== undefined) msg.opId = h.opId;
        conn.toClient.push(msg);
      }
      return;
    }
    const init = { type: 'init', roomId: 'r', userId: conn.userId, revision: this.stored, code: this.storedText, language: 'python', users: [] };
    if (since !== null) init.resumed = false;
    conn.toClient.push(init);
  }
  handle(conn, msg) {
    if (msg.type !== 'operation') return;
    if (msg.opId && this.opIds.has(msg.opId)) {
      const revision = this.opIds.get(msg.opId);
      if (revision <= this.stored) conn.toClient.push({ type: 'ack', revision, opId: msg.opId });
      else this.waiting.push({ conn, opId: msg.opId });
      return;
    }
    if (msg.revision < this.revision - this.window || msg.revision > this.revision) {
      conn.toClient.push({ type: 'error', code: 'stale_revision', message: 'too old' });
      return;
    }
    let op = TextOperation.fromJSON(msg.ops);
    for (let i = msg.revision; i < this.revision; i++) op = TextOperation.transform(op, this.history[i].op)[0];
    this.text = op.apply(this.text);
    this.history.push({ op, opId: msg.opId, userId: conn.userId, author: conn });
    this.revision++;
    this.opIds.set(msg.opId, this.revision);
  }
  /** Stores the next `n` sequenced operations: ack to the author, live broadcast to the others. */
  store(n = Infinity) {
    while (n-- > 0 && this.stored < this.revision) {
      const h = this.history[this.stored];
      this.storedText = h.op.apply(this.storedText);
      this.stored++;
      const ack = { type: 'ack', revision: this.stored, opId: h.opId };
      if (this.conns.has(h.author)) h.author.toClient.push(ack);
      const live = { type: 'operation', revision: this.stored, ops: h.op.toJSON(), userId: h.userId };
      for (const c of this.conns) {
        if (c === h.author) continue;
        const resent = this.waiting.findIndex((w) => w.conn === c && w.opId === h.opId);
        if (resent < 0) {
          c.toClient.push(live);
          continue;
        }
        this.waiting.splice(resent, 1);
        // The re-sender gets both the ack of its re-sent copy and the live old copy, in any order.
        if (this.r() < 0.5) c.toClient.push(ack, live);
        else c.toClient.push(live, ack);
      }
    }
  }
}

/** An edit that inserts a whole new line `token` at the start of a random line (never deletes). */
function tokenEdit(r, doc, token) {
  const starts = [0];
  const chars = Array.from(doc);
  chars.forEach((c, i) => c === '\n' && starts.push(i + 1));
  const at = starts[Math.floor(r() * starts.length)];
  return new TextOperation().retain(at).insert(token + '\n').retain(chars.length - at);
}

async function simulate(seed, { clients = 3, steps = 3000, window = Infinity, resume = true, tokens = false } = {}) {
  const r = rng(seed);
  const server = new FakeServer({ window, resume, text: tokens ? '' : undefined, r });
  const peers = [];
  const typed = [];
  for (let i = 0; i < clients; i++) {
    const peer = { text: '', conn: null, reconnectAt: 0 };
    const editor = {
      text: () => peer.text,
      reset: (code) => (peer.text = code),
      apply: (op) => (peer.text = op.apply(peer.text)),
    };
    const transport = {
      send: (msg) => {
        if (!peer.conn) return false;
        peer.conn.toServer.push(msg);
        return true;
      },
      reconnect: () => drop(peer),
    };
    peer.client = new OTClient(editor, transport, 'c' + i);
    peers.push(peer);
  }
  function open(peer) {
    peer.conn = { toServer: [], toClient: [] };
    peer.client.onOpen();
    server.connect(peer.conn, peer.client.since);
  }
  function drop(peer) {
    const conn = peer.conn;
    if (!conn) return;
    // Some of what was in flight reaches the server, the rest is lost, like a real crash.
    const delivered = Math.floor(r() * (conn.toServer.length + 1));
    for (const m of conn.toServer.slice(0, delivered)) server.handle(conn, m);
    server.conns.delete(conn);
    peer.conn = null;
    peer.client.onClose();
  }
  const check = (peer) => {
    const c = peer.client;
    if (c.phase !== 'live') return;
    let t = c.shadow;
    if (c.outstanding) t = c.outstanding.op.apply(t);
    if (c.buffer) t = c.buffer.apply(t);
    assert.equal(t, peer.text, 'local text = shadow + outstanding + buffer');
  };
  peers.forEach(open);
  for (let step = 0; step < steps; step++) {
    const peer = peers[Math.floor(r() * peers.length)];
    const p = r();
    if (p < 0.3) {
      // Typing goes on while disconnected too: offline work of any length is kept.
      if (peer.client.started) {
        let op;
        if (tokens) {
          const token = `${peer.client.clientId}:${typed.length} 日本🦀`;
          typed.push(token);
          op = tokenEdit(r, peer.text, token);
        } else {
          op = randomEdit(r, peer.text);
        }
        peer.text = op.apply(peer.text);
        peer.client.applyLocal(op);
      }
    } else if (p < 0.45) {
      if (peer.conn && peer.conn.toServer.length) server.handle(peer.conn, peer.conn.toServer.shift());
    } else if (p < 0.55) {
      server.store(1 + Math.floor(r() * 3));
    } else if (p < 0.87) {
      if (peer.conn && peer.conn.toClient.length) peer.client.onMessage(peer.conn.toClient.shift());
    } else if (p < 0.9) {
      drop(peer);
    } else if (!peer.conn) {
      open(peer);
    }
    check(peer);
  }
  // Quiesce: everyone reconnects and all messages are delivered.
  for (let round = 0; round < 10000; round++) {
    let busy = false;
    for (const peer of peers) {
      if (!peer.conn) open(peer);
      while (peer.conn && peer.conn.toServer.length) {
        server.handle(peer.conn, peer.conn.toServer.shift());
        busy = true;
      }
      if (server.stored < server.revision) {
        server.store();
        busy = true;
      }
      while (peer.conn && peer.conn.toClient.length) {
        peer.client.onMessage(peer.conn.toClient.shift());
        busy = true;
      }
    }
    if (!busy && peers.every((p) => p.conn && p.client.idle)) break;
  }
  for (const peer of peers) {
    assert.ok(peer.client.idle, `client idle (phase ${peer.client.phase}, ${peer.client.state})`);
    assert.equal(peer.text, server.text, 'client converged to the server');
    assert.equal(peer.client.revision, server.revision);
  }
  if (tokens) {
    const lines = server.text.split('\n').slice(0, -1).sort();
    assert.deepEqual(lines, [...typed].sort(), 'every typed line is in the document exactly once');
  }
  return { server, peers };
}

test('converges with reliable connections', async () => {
  for (let seed = 1; seed <= 20; seed++) await simulate(seed, { steps: 1500 });
});

test('converges across dropped connections, resuming and re-sending with opIds', async () => {
  for (let seed = 100; seed <= 160; seed++) await simulate(seed, { steps: 2500 });
});

test('resuming keeps every edit exactly once across dropped connections', async () => {
  for (let seed = 200; seed <= 220; seed++) {
    const { peers } = await simulate(seed, { steps: 2000, tokens: true });
    assert.ok(peers.every((p) => !p.client.recoveries.includes('diff-rebase')), 'always resumed');
  }
});

test('converges when the server cannot resume (short history): rebase by diff', async () => {
  let rebased = 0;
  for (let seed = 500; seed <= 530; seed++) {
    const { peers } = await simulate(seed, { steps: 2500, window: 3 });
    rebased += peers.filter((p) => p.client.recoveries.includes('diff-rebase')).length;
  }
  assert.ok(rebased > 0, 'the diff rebase was exercised');
});

test('converges with a server that never resumes', async () => {
  for (let seed = 600; seed <= 615; seed++) await simulate(seed, { steps: 2000, resume: false });
});

test('an acknowledged edit survives a reconnect and is applied once', async () => {
  const { server } = await simulate(7, { clients: 2, steps: 0 });
  assert.equal(server.text, 'hello 🌍\n');
});

/** One client with a recording editor and transport, started at `revision` with `code`. */
function single(code, revision = 0) {
  const doc = { text: '' };
  const sent = [];
  const reconnects = [];
  const editor = { text: () => doc.text, reset: (c) => (doc.text = c), apply: (op) => (doc.text = op.apply(doc.text)) };
  const transport = { send: (m) => (sent.push(m), true), reconnect: (why) => reconnects.push(why) };
  const client = new OTClient(editor, transport, 'me');
  assert.equal(client.since, null, 'the first connection asks for a fresh init');
  client.onOpen();
  client.onMessage({ type: 'init', roomId: 'r', userId: 'u-me', revision, code, language: 'python', users: [] });
  const type = (op) => {
    doc.text = op.apply(doc.text);
    client.applyLocal(op);
  };
  return { doc, sent, reconnects, client, type };
}

const ins = (at, text, len) => new TextOperation().retain(at).insert(text).retain(len - at);

test('resume: our own operation among the missed ones is our ack; the ack after it is ignored', () => {
  const { doc, sent, reconnects, client, type } = single('héllo 日本', 5);
  type(ins(5, ' 🦀', 8)); // sent as me-1 on revision 5, then the connection drops
  assert.deepEqual(sent, [{ type: 'operation', revision: 5, ops: [5, ' 🦀', 3], opId: 'me-1' }]);
  client.onClose();
  type(ins(0, '👍🏽', 10)); // typed while offline: buffered
  assert.equal(client.since, 5, 'the reconnect resumes at our revision');

  client.onOpen();
  client.onMessage({ type: 'resume', roomId: 'r', userId: 'u-me2', revision: 5, language: 'python', users: [], resumed: true });
  assert.equal(client.userId, 'u-me2');
  assert.deepEqual(sent.at(-1), { type: 'operation', revision: 5, ops: [5, ' 🦀', 3], opId: 'me-1' }, 're-sent with the same opId');
  // What we missed: Bob's edit, then ours (committed before the drop, transformed), then Bob's.
  client.onMessage({ type: 'operation', revision: 6, ops: ['中文', 8], userId: 'bob', opId: 'b-1' });
  assert.equal(doc.text, '👍🏽héllo 🦀 日本', "others' operations wait until ours is confirmed");
  client.onMessage({ type: 'operation', revision: 7, ops: [7, ' 🦀', 3], userId: 'u-me', opId: 'me-1' });
  assert.equal(doc.text, '👍🏽中文héllo 🦀 日本', 'our own operation is not applied again');
  assert.equal(client.revision, 7);
  assert.equal(client.state, 'awaiting_confirm', 'the buffer went out as the next operation');
  assert.deepEqual(sent.at(-1), { type: 'operation', revision: 7, ops: ['👍🏽', 12], opId: 'me-2' });
  client.onMessage({ type: 'ack', revision: 7, opId: 'me-1' }); // the answer to the re-send
  assert.equal(client.revision, 7);
  assert.equal(client.state, 'awaiting_confirm');
  client.onMessage({ type: 'operation', revision: 8, ops: [12, '!'], userId: 'bob', opId: 'b-2' });
  client.onMessage({ type: 'ack', revision: 9, opId: 'me-2' });
  assert.equal(client.state, 'synchronized');
  assert.equal(client.revision, 9);
  assert.equal(doc.text, '👍🏽中文héllo 🦀 日本!');
  assert.equal(doc.text.split('🦀').length, 2, 'the crab is there exactly once');
  assert.deepEqual(reconnects, []);
  assert.deepEqual(client.recoveries, ['resumed']);
});

test('resume: work the server never got is re-sent with its opId and transformed as usual', () => {
  const { doc, sent, client, type } = single('abc', 2);
  type(ins(3, '🦀', 3));
  client.onClose(); // lost on the way: the server never saw me-1
  type(ins(0, '日', 4));
  client.onOpen();
  client.onMessage({ type: 'resume', userId: 'u', revision: 2, users: [], resumed: true });
  assert.deepEqual(sent.at(-1), { type: 'operation', revision: 2, ops: [3, '🦀'], opId: 'me-1' });
  client.onMessage({ type: 'operation', revision: 3, ops: ['X', 3], userId: 'bob' }); // no opId: held
  assert.equal(doc.text, '日abc🦀');
  client.onMessage({ type: 'ack', revision: 4, opId: 'me-1' });
  assert.equal(doc.text, '日Xabc🦀');
  assert.deepEqual(sent.at(-1), { type: 'operation', revision: 4, ops: ['日', 5], opId: 'me-2' });
  client.onMessage({ type: 'ack', revision: 5, opId: 'me-2' });
  assert.ok(client.idle);
  assert.equal(client.shadow, '日Xabc🦀');
});

for (const order of ['copy first', 'ack first']) {
  test(`resume: our operation stored after the resume comes live without its opId (${order}): applied once`, () => {
    const { doc, sent, reconnects, client, type } = single('abc', 3);
    type(ins(3, '🦀', 3)); // me-1: sequenced by the server, not yet stored when we resume
    client.onClose();
    client.onOpen();
    client.onMessage({ type: 'resume', userId: 'u2', revision: 3, users: [], resumed: true });
    client.onMessage({ type: 'operation', revision: 4, ops: ['日', 3], userId: 'bob', opId: 'b-1' }); // missed, stored
    type(ins(0, 'Z', 4)); // typing goes on meanwhile: buffered
    const copy = { type: 'operation', revision: 5, ops: [4, '🦀'], userId: 'u1' }; // live: no opId
    const ack = { type: 'ack', revision: 5, opId: 'me-1' }; // the answer to the re-sent copy
    const later = { type: 'operation', revision: 6, ops: [5, '!'], userId: 'bob' };
    if (order === 'copy first') {
      client.onMessage(copy);
      client.onMessage(later);
      assert.equal(doc.text, 'Zabc🦀', 'held until our operation is confirmed');
      client.onMessage(ack);
    } else {
      client.onMessage(ack);
      assert.equal(doc.text, 'Z日abc🦀');
      client.onMessage(copy);
      client.onMessage(later);
    }
    assert.equal(doc.text, 'Z日abc🦀!');
    assert.equal(client.revision, 6);
    assert.deepEqual(sent.at(-1), { type: 'operation', revision: 5, ops: ['Z', 5], opId: 'me-2' });
    client.onMessage({ type: 'ack', revision: 7, opId: 'me-2' });
    assert.ok(client.idle);
    assert.equal(client.shadow, 'Z日abc🦀!');
    assert.deepEqual(reconnects, []);
  });
}

test('an ack for an operation already counted is ignored, even with nothing outstanding', () => {
  const { client, reconnects, type } = single('a', 1);
  type(ins(1, 'b', 1));
  client.onClose();
  client.onOpen();
  client.onMessage({ type: 'resume', userId: 'u', revision: 1, users: [] });
  client.onMessage({ type: 'operation', revision: 2, ops: [1, 'b'], userId: 'u0', opId: 'me-1' });
  assert.ok(client.idle);
  client.onMessage({ type: 'ack', revision: 2, opId: 'me-1' });
  assert.ok(client.idle);
  assert.equal(client.revision, 2);
  assert.deepEqual(reconnects, []);
});

test('a resume at another revision than ours starts over with a fresh init', () => {
  const { client, reconnects } = single('a', 4);
  client.onClose();
  client.onOpen();
  client.onMessage({ type: 'resume', userId: 'u', revision: 3, users: [] });
  assert.equal(reconnects.length, 1);
  assert.equal(client.since, null);
  client.onClose();
  client.onOpen();
  client.onMessage({ type: 'init', userId: 'u', revision: 9, code: 'abc', users: [] });
  assert.equal(client.since, 9);
  assert.ok(client.idle);
});

test('init with resumed:false: unacknowledged work is rebased by diff, emoji and CJK intact', () => {
  const S = 'αβ 日本語 🦀\nfn main() {}\n';
  const { doc, sent, client, type } = single(S, 2);
  // Ours: insert 👍🏽 after 日本語 (sent, unacknowledged), then delete α and append 한국어 (buffer).
  type(ins(6, '👍🏽', 22));
  client.onClose();
  type(new TextOperation().delete(1).retain(23).insert('한국어'));
  const M = doc.text;
  assert.equal(M, 'β 日本語👍🏽 🦀\nfn main() {}\n한국어');
  assert.equal(client.since, 2);
  // The server lost our history: someone else wrote 中文 at the start and turned 🦀 into 🦁.
  const C = '中文αβ 日本語 🦁\nfn main() {}\n';
  client.onOpen();
  client.onMessage({ type: 'init', userId: 'u', revision: 40, code: C, users: [], resumed: false });
  const expected = '中文β 日本語👍🏽 🦁\nfn main() {}\n한국어';
  assert.equal(doc.text, expected);
  assert.deepEqual(client.recoveries, ['diff-rebase']);
  // One operation on init.revision with a fresh opId, equal to transform(diff(S, M), diff(S, C)).
  const last = sent.at(-1);
  assert.equal(last.revision, 40);
  assert.equal(last.opId, 'me-2');
  const [mine] = TextOperation.transform(TextOperation.diff(S, M), TextOperation.diff(S, C));
  assert.equal(TextOperation.fromJSON(last.ops).apply(C), mine.apply(C));
  assert.equal(TextOperation.fromJSON(last.ops).apply(C), expected);
  assert.equal(sent.filter((m) => m.revision === 40).length, 1, 'one operation');
  client.onMessage({ type: 'ack', revision: 41, opId: 'me-2' });
  assert.ok(client.idle);
  assert.equal(client.shadow, expected);
});

test('init with resumed:false and nothing unacknowledged takes the server text', () => {
  const { doc, sent, client } = single('abc', 2);
  client.onClose();
  client.onOpen();
  client.onMessage({ type: 'init', userId: 'u', revision: 9, code: 'a日c🦀', users: [], resumed: false });
  assert.equal(doc.text, 'a日c🦀');
  assert.equal(client.revision, 9);
  assert.deepEqual(sent, []);
});

test('stale_revision: the next connection asks for a fresh init and the work is rebased', () => {
  const { doc, client, reconnects, type } = single('abc', 2);
  type(ins(0, '🦀', 3));
  client.onMessage({ type: 'error', code: 'stale_revision', message: 'too old' });
  assert.equal(reconnects.length, 1);
  assert.equal(client.since, null);
  client.onClose();
  client.onOpen();
  client.onMessage({ type: 'init', userId: 'u', revision: 50, code: 'abcd', users: [] });
  assert.equal(doc.text, '🦀abcd');
  assert.equal(client.state, 'awaiting_confirm');
  assert.equal(client.since, 50);
});

test('a refused operation is dropped and the next connection starts from the server text', () => {
  const { doc, client, reconnects, type } = single('abc', 2);
  type(ins(0, 'x', 3));
  client.onMessage({ type: 'error', code: 'invalid_operation', message: 'no' });
  assert.equal(reconnects.length, 1);
  assert.equal(client.since, null, 'no resume: the server text replaces ours');
  client.onClose();
  client.onOpen();
  client.onMessage({ type: 'init', userId: 'u', revision: 3, code: 'abcd', users: [] });
  assert.equal(doc.text, 'abcd');
  assert.ok(client.idle);
});

test('an edit refused as read_only (a view-only link) is dropped and the server text reloaded', () => {
  const { doc, client, reconnects, type } = single('abc', 2);
  type(ins(3, '!', 3));
  client.onMessage({ type: 'error', code: 'read_only', message: 'view only' });
  assert.equal(reconnects.length, 1);
  assert.equal(client.since, null);
  client.onClose();
  client.onOpen();
  client.onMessage({ type: 'init', userId: 'u', revision: 2, code: 'abc', users: [], access: 'view' });
  assert.equal(doc.text, 'abc');
  assert.ok(client.idle);
});

test('offline for long: thousands of edits are kept, composed, and sent as one bounded operation', () => {
  const r = rng(99);
  const { doc, sent, client, type } = single('start\n', 1);
  client.onClose();
  for (let i = 0; i < 5000; i++) {
    const len = cpLength(doc.text);
    const at = Math.floor(r() * (len + 1));
    type(ins(at, i % 3 ? 'a' : '日🦀', len));
  }
  assert.equal(sent.length, 0, 'nothing is sent while offline');
  assert.equal(client.state, 'awaiting_with_buffer');
  const local = doc.text;
  client.onOpen();
  client.onMessage({ type: 'resume', userId: 'u', revision: 1, users: [] });
  client.onMessage({ type: 'ack', revision: 2, opId: 'me-1' });
  const big = sent.at(-1);
  assert.equal(big.revision, 2);
  assert.ok(big.ops.length <= MAX_RUNS, `${big.ops.length} runs`);
  assert.equal(TextOperation.fromJSON(big.ops).apply(client.shadow), local);
  client.onMessage({ type: 'ack', revision: 3, opId: big.opId });
  assert.ok(client.idle);
  assert.equal(client.shadow, local);
  assert.equal(doc.text, local);
});

test('cursor mapping across pending operations', () => {
  const editor = { text: () => 'abc', reset() {}, apply() {} };
  const c = new OTClient(editor, { send: () => true }, 'x');
  c.onMessage({ type: 'init', userId: 'me', revision: 3, code: 'abc', users: [] });
  c.applyLocal(TextOperation.fromJSON(['XY', 3])); // local: XYabc
  assert.equal(c.localToServer(5), 3);
  assert.equal(c.localToServer(1), 0);
  c.onMessage({ type: 'operation', revision: 4, ops: [1, '日', 2], userId: 'bob' }); // local: XYa日bc
  assert.equal(c.serverToLocal(4, 2, 'bob'), 4);
  assert.equal(c.serverToLocal(3, 1, 'bob'), 4, 'bob typed at his cursor: it moves after his insert');
  assert.equal(c.serverToLocal(3, 1, 'carol'), 3);
  assert.equal(c.serverToLocal(5, 0, 'bob'), null, 'a future revision cannot be mapped yet');
});
