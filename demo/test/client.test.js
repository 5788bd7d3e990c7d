// Simulation test of the client state machine against a fake server that follows PROTOCOL.md:
// random concurrent edits (with astral characters), random message delivery, dropped connections
// (with messages in flight lost or delivered), reconnects that re-send with opIds, stale history.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { TextOperation, cpLength } from '../src/ot.js';
import { OTClient } from '../src/client.js';

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

class FakeServer {
  constructor(window) {
    this.text = 'hello 🌍\n';
    this.revision = 0;
    this.history = [];
    this.opIds = new Map();
    this.conns = new Set();
    this.window = window;
    this.users = 0;
  }
  connect(conn) {
    conn.userId = 'u' + ++this.users;
    this.conns.add(conn);
    conn.toClient.push({ type: 'init', userId: conn.userId, revision: this.revision, code: this.text, users: [] });
  }
  handle(conn, msg) {
    if (msg.type !== 'operation') return;
    if (msg.opId && this.opIds.has(msg.opId)) {
      conn.toClient.push({ type: 'ack', revision: this.opIds.get(msg.opId), opId: msg.opId });
      return;
    }
    if (msg.revision < this.revision - this.window) {
      conn.toClient.push({ type: 'error', code: 'stale_revision', message: 'too old' });
      return;
    }
    let op = TextOperation.fromJSON(msg.ops);
    for (let i = msg.revision; i < this.revision; i++) op = TextOperation.transform(op, this.history[i])[0];
    this.text = op.apply(this.text);
    this.history.push(op);
    this.revision++;
    this.opIds.set(msg.opId, this.revision);
    conn.toClient.push({ type: 'ack', revision: this.revision, opId: msg.opId });
    for (const c of this.conns) {
      if (c !== conn) c.toClient.push({ type: 'operation', revision: this.revision, ops: op.toJSON(), userId: conn.userId });
    }
  }
}

async function simulate(seed, { clients = 3, steps = 3000, window = 100000 } = {}) {
  const r = rng(seed);
  const server = new FakeServer(window);
  const snapshots = [];
  const peers = [];
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
      fetchSnapshot: () => new Promise((resolve) => snapshots.push(resolve)),
      reconnect: () => drop(peer),
    };
    peer.client = new OTClient(editor, transport, 'c' + i);
    peers.push(peer);
  }
  function open(peer) {
    peer.conn = { toServer: [], toClient: [] };
    peer.client.onOpen();
    server.connect(peer.conn);
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
      if (peer.client.started) {
        const op = randomEdit(r, peer.text);
        peer.text = op.apply(peer.text);
        peer.client.applyLocal(op);
      }
    } else if (p < 0.55) {
      if (peer.conn && peer.conn.toServer.length) server.handle(peer.conn, peer.conn.toServer.shift());
    } else if (p < 0.85) {
      if (peer.conn && peer.conn.toClient.length) peer.client.onMessage(peer.conn.toClient.shift());
    } else if (p < 0.88) {
      if (snapshots.length) snapshots.shift()({ code: server.text, revision: server.revision });
    } else if (p < 0.9) {
      drop(peer);
    } else if (!peer.conn) {
      open(peer);
    }
    await null;
    await null;
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
      while (peer.conn && peer.conn.toClient.length) {
        peer.client.onMessage(peer.conn.toClient.shift());
        busy = true;
      }
    }
    while (snapshots.length) {
      snapshots.shift()({ code: server.text, revision: server.revision });
      busy = true;
    }
    await null;
    await null;
    if (!busy && peers.every((p) => p.conn && p.client.idle)) break;
  }
  for (const peer of peers) {
    assert.ok(peer.client.idle, `client idle (phase ${peer.client.phase}, ${peer.client.state})`);
    assert.equal(peer.text, server.text, 'client converged to the server');
    assert.equal(peer.client.revision, server.revision);
  }
  return server;
}

test('converges with reliable connections', async () => {
  for (let seed = 1; seed <= 20; seed++) await simulate(seed, { steps: 1500 });
});

test('converges across dropped connections and re-sent operations', async () => {
  for (let seed = 100; seed <= 160; seed++) await simulate(seed, { steps: 2500 });
});

test('recovers from stale_revision by reloading and keeping unsent text', async () => {
  for (let seed = 500; seed <= 530; seed++) await simulate(seed, { steps: 2500, window: 3 });
});

test('an acknowledged edit survives a reconnect and is applied once', async () => {
  const server = await simulate(7, { clients: 2, steps: 0 });
  assert.equal(server.text, 'hello 🌍\n');
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
