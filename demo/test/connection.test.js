// The page's connection to a room (src/connection.js) against a fake socket and a fake clock:
// back-off, close codes (PROTOCOL.md, "Close codes"), offline, resyncs and the keep-alive watchdog.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { Connection, TERMINAL_CLOSE, backoffDelay, RESYNC_DELAY, withSince } from '../src/connection.js';
import { OTClient } from '../src/client.js';
import { FakeClock, FakeSocket } from './fakes.js';

function setup({ online = true, random = () => 0.5, waitingSince = () => 0, since = () => null } = {}) {
  const clock = new FakeClock();
  const sockets = [];
  const events = [];
  const states = [];
  const env = { online };
  const conn = new Connection({
    url: () => `ws://pairpad.test/ws/room?n=${sockets.length}`,
    createSocket: (url) => {
      const s = new FakeSocket(url);
      sockets.push(s);
      return s;
    },
    isOnline: () => env.online,
    waitingSince,
    since,
    timers: clock,
    random,
    handlers: {
      open: () => events.push('open'),
      message: (msg) => events.push(['message', msg.type]),
      close: (c) => events.push(['close', c.code, c.terminal]),
      reconnecting: (reason) => events.push(['reconnecting', reason]),
      state: (state, info) => states.push([state, info]),
    },
  });
  const last = () => sockets[sockets.length - 1];
  const lastState = () => states[states.length - 1];
  return { clock, sockets, events, states, env, conn, last, lastState };
}

const INIT = { type: 'init', userId: 'u1', revision: 0, code: '', users: [] };

test('connects, reports open and messages, and is connected at the init', () => {
  const t = setup();
  t.conn.start();
  assert.deepEqual(t.lastState(), ['connecting', {}]);
  assert.equal(t.sockets.length, 1);
  assert.equal(t.conn.send({ type: 'ping' }), false, 'nothing is sent before the socket is open');
  t.last().open();
  assert.equal(t.lastState()[0], 'connecting', 'open is not connected: the init is');
  t.last().receive(INIT);
  t.last().receive('not json');
  t.last().receive({ type: 'pong' });
  assert.deepEqual(t.events, ['open', ['message', 'init'], ['message', 'pong']]);
  assert.deepEqual(t.lastState(), ['connected', {}]);
  assert.equal(t.conn.send({ type: 'cursor' }), true);
  assert.deepEqual(t.last().sent, [{ type: 'cursor' }]);
});

test('backs off exponentially, capped at 10 s, with jitter', () => {
  assert.equal(backoffDelay(1, () => 0.5), 500);
  assert.equal(backoffDelay(2, () => 0.5), 1000);
  assert.equal(backoffDelay(5, () => 0.5), 8000);
  assert.equal(backoffDelay(6, () => 0.5), 10000);
  assert.equal(backoffDelay(30, () => 0.5), 10000);
  assert.equal(backoffDelay(1, () => 0), 400);
  assert.equal(backoffDelay(1, () => 0.999999) < 600, true);

  const t = setup();
  t.conn.start();
  const delays = [500, 1000, 2000, 4000, 8000, 10000, 10000];
  for (const [i, d] of delays.entries()) {
    t.last().serverClose(1006);
    assert.equal(t.events.at(-1)[0], 'close');
    const [state, info] = t.lastState();
    assert.equal(state, i < 4 ? 'reconnecting' : 'disconnected', `after ${i + 1} failures`);
    assert.equal(info.retryIn, Math.ceil(d / 1000));
    t.clock.advance(d - 1);
    assert.equal(t.sockets.length, i + 1, `no attempt before ${d} ms`);
    t.clock.advance(1);
    assert.equal(t.sockets.length, i + 2, `an attempt after ${d} ms`);
  }
  // A successful init starts the back-off over.
  t.last().open();
  t.last().receive(INIT);
  t.last().serverClose(1001);
  assert.deepEqual(t.lastState(), ['reconnecting', { retryIn: 1 }]);
  t.clock.advance(500);
  assert.equal(t.sockets.length, delays.length + 2);
});

test('the countdown goes down every second', () => {
  const t = setup();
  t.conn.start();
  for (let i = 0; i < 4; i++) {
    t.last().serverClose(1006);
    t.clock.advance(backoffDelay(i + 1, () => 0.5));
  }
  t.last().serverClose(1006); // fifth failure: 8 s
  assert.deepEqual(t.lastState(), ['disconnected', { retryIn: 8 }]);
  const from = t.states.length;
  t.clock.advance(8000 - 1);
  const shown = t.states.slice(from).map(([state, info]) => (assert.equal(state, 'disconnected'), info.retryIn));
  assert.equal(shown.length, 8, 'one update a second');
  assert.deepEqual(shown, [...shown].sort((a, b) => b - a), 'counting down');
  assert.equal(shown.at(-1), 1);
});

for (const [code, kind] of TERMINAL_CLOSE) {
  test(`close ${code} is final: ${kind}, no reconnect, even when asked`, () => {
    const t = setup();
    t.conn.start();
    t.last().open();
    t.last().receive(INIT);
    t.last().serverClose(code, 'bye');
    assert.deepEqual(t.events.at(-1), ['close', code, kind]);
    assert.deepEqual(t.lastState(), [kind, { code }]);
    t.clock.advance(60000);
    t.conn.retryNow();
    t.conn.reconnect('resync');
    assert.equal(t.sockets.length, 1, 'never connects again');
    assert.equal(t.conn.terminal, kind);
  });
}

for (const code of [1000, 1001, 1006, 1009, 1011, 1013, 4000, 4008, 4029, 4503]) {
  test(`close ${code} reconnects`, () => {
    const t = setup();
    t.conn.start();
    t.last().open();
    t.last().receive(INIT);
    t.last().serverClose(code);
    assert.deepEqual(t.events.at(-1), ['close', code, null]);
    assert.equal(t.lastState()[0], 'reconnecting');
    t.clock.advance(10000);
    assert.equal(t.sockets.length, 2);
  });
}

test('an error announcing a terminal close makes the next close final whatever its code', () => {
  for (const [code, kind] of [
    ['room_not_found', 'not_found'],
    ['invalid_room_id', 'not_found'],
    ['room_deleted', 'gone'],
    ['unauthorized', 'unauthorized'],
    ['forbidden', 'forbidden'],
  ]) {
    const t = setup();
    t.conn.start();
    t.last().open();
    t.last().receive({ type: 'error', code, message: 'no' });
    t.last().serverClose(1006);
    assert.deepEqual(t.events.at(-1), ['close', 1006, kind], code);
    assert.equal(t.lastState()[0], kind);
    t.clock.advance(60000);
    assert.equal(t.sockets.length, 1);
  }
  const t = setup();
  t.conn.start();
  t.last().receive({ type: 'error', code: 'store_unavailable' });
  t.last().serverClose(1011);
  assert.equal(t.lastState()[0], 'reconnecting', 'other errors do not');
});

test('giveUp before connecting: never connects', () => {
  const t = setup();
  t.conn.giveUp('not_found');
  assert.deepEqual(t.lastState(), ['not_found', {}]);
  t.conn.retryNow();
  assert.equal(t.sockets.length, 0);
});

test('offline: no attempt until the browser is online again', () => {
  const t = setup({ online: false });
  t.conn.start();
  assert.equal(t.sockets.length, 0);
  assert.deepEqual(t.lastState(), ['disconnected', { offline: true }]);
  t.clock.advance(60000);
  assert.equal(t.sockets.length, 0);
  t.env.online = true;
  t.conn.retryNow();
  assert.equal(t.sockets.length, 1);
  t.last().open();
  t.last().receive(INIT);

  // Going offline closes the socket; the retry finds the browser offline and waits.
  t.env.online = false;
  t.conn.wentOffline();
  assert.equal(t.last().closedWith.code, undefined);
  t.last().serverClose(1006);
  assert.equal(t.lastState()[0], 'reconnecting');
  t.clock.advance(1000);
  assert.deepEqual(t.lastState(), ['disconnected', { offline: true }]);
  assert.equal(t.sockets.length, 1);
  assert.equal(t.clock.pendingTimeouts, 0);
});

test('retryNow connects at once between attempts, and not twice', () => {
  const t = setup();
  t.conn.start();
  t.last().serverClose(1006);
  t.conn.retryNow();
  assert.equal(t.sockets.length, 2);
  t.conn.retryNow();
  assert.equal(t.sockets.length, 2, 'already connecting');
  t.clock.advance(60000);
  assert.equal(t.sockets.length, 2, 'the scheduled attempt was cancelled');
});

test('reconnect: closes with 4000, reconnects quickly, and the back-off starts over', () => {
  const t = setup();
  t.conn.start();
  for (let i = 0; i < 3; i++) {
    t.last().serverClose(1006);
    t.clock.advance(10000);
  }
  t.last().open();
  t.last().receive({ type: 'operation' }); // not an init: the failures still count
  const old = t.last();
  t.conn.reconnect('editor out of sync');
  assert.deepEqual(old.closedWith, { code: 4000, reason: 'resync' });
  assert.deepEqual(t.events.slice(-2), [['reconnecting', 'editor out of sync'], ['close', 4000, null]]);
  assert.equal(t.lastState()[0], 'reconnecting');
  old.serverClose(4000); // the old socket's close event is ignored
  assert.equal(t.events.at(-1)[0], 'close');
  assert.equal(t.events.filter((e) => e[0] === 'close').length, 4);
  t.clock.advance(RESYNC_DELAY);
  assert.equal(t.sockets.length, 5);
  t.last().serverClose(1006);
  assert.deepEqual(t.lastState(), ['reconnecting', { retryIn: 1 }], 'the first failure after a resync waits 0.5 s');
});

test('messages and closes of an old socket are ignored', () => {
  const t = setup();
  t.conn.start();
  const first = t.last();
  first.open();
  t.conn.reconnect('test');
  t.clock.advance(RESYNC_DELAY);
  const before = t.events.length;
  first.receive(INIT);
  first.serverClose(1006);
  assert.equal(t.events.length, before);
});

test('keep-alive: ping after 20 s of silence, reconnect after 45 s', () => {
  const t = setup();
  t.conn.start();
  t.last().open();
  t.last().receive(INIT);
  t.clock.advance(20000);
  assert.deepEqual(t.last().sent, []);
  t.clock.advance(1000);
  assert.deepEqual(t.last().sent, [{ type: 'ping' }]);
  t.last().receive({ type: 'pong' }); // an answer resets the silence
  t.clock.advance(20000);
  assert.equal(t.last().sent.length, 1);
  t.clock.advance(25000);
  assert.equal(t.sockets.length, 1);
  t.clock.advance(1000);
  assert.deepEqual(t.events.find((e) => e[0] === 'reconnecting'), ['reconnecting', 'no answer from the server for 45 s']);
  t.clock.advance(RESYNC_DELAY);
  assert.equal(t.sockets.length, 2);
});

test('keep-alive: an operation unacknowledged for 30 s reconnects', () => {
  let since = 0;
  const t = setup({ waitingSince: () => since });
  t.conn.start();
  t.last().open();
  t.last().receive(INIT);
  since = t.clock.now();
  for (let i = 0; i < 30; i++) {
    t.clock.advance(1000);
    t.last().receive({ type: 'operation' }); // the room is busy, our ack does not come
  }
  assert.equal(t.sockets.length, 1);
  t.clock.advance(1000);
  assert.deepEqual(t.events.at(-2), ['reconnecting', 'no acknowledgement for 30 s']);
});

test('stop closes the socket and cancels every timer', () => {
  const t = setup();
  t.conn.start();
  t.last().serverClose(1006);
  t.conn.stop();
  assert.equal(t.clock.timers.size, 0);
  t.conn.start();
  const s = t.last();
  t.conn.stop();
  assert.equal(s.closedWith.code, 1000);
});

test('withSince adds the resume revision to the address', () => {
  assert.equal(withSince('ws://h/ws/r', null), 'ws://h/ws/r');
  assert.equal(withSince('ws://h/ws/r', 0), 'ws://h/ws/r?since=0');
  assert.equal(withSince('ws://h/ws/r?name=Al%20Bo', 42), 'ws://h/ws/r?name=Al%20Bo&since=42');
});

test('every reconnect resumes at the client revision (?since=R), and a resume counts as connected', () => {
  // The real state machine decides `since`: none at first, then its revision at each reconnect.
  let t;
  const editor = { text: () => client.shadow, reset() {}, apply() {} };
  const client = new OTClient(editor, { send: (m) => t.conn.send(m), reconnect: (why) => t.conn.reconnect(why) }, 'me');
  t = setup({ since: () => client.since });
  t.conn.handlers.message = (msg) => client.onMessage(msg);
  t.conn.start();
  assert.equal(t.last().url, 'ws://pairpad.test/ws/room?n=0', 'the first connection asks for an init');
  t.last().open();
  t.last().receive({ ...INIT, revision: 7, code: 'abc' });
  t.last().receive({ type: 'operation', revision: 8, ops: [3, 'd'], userId: 'bob' });
  t.last().serverClose(1006);
  t.clock.advance(1000);
  assert.equal(t.last().url, 'ws://pairpad.test/ws/room?n=1&since=8');
  t.last().serverClose(1006); // failed attempts keep asking for the same revision
  t.clock.advance(2000);
  assert.equal(t.last().url, 'ws://pairpad.test/ws/room?n=2&since=8');
  t.last().open();
  t.last().receive({ type: 'resume', userId: 'u2', revision: 8, users: [], resumed: true });
  assert.deepEqual(t.lastState(), ['connected', {}]);
  t.last().receive({ type: 'operation', revision: 9, ops: [4, 'e'], userId: 'bob' });
  t.conn.reconnect('watchdog');
  t.clock.advance(RESYNC_DELAY);
  assert.equal(t.last().url, 'ws://pairpad.test/ws/room?n=3&since=9');
  t.last().open();
  t.last().receive({ type: 'resume', userId: 'u3', revision: 9, users: [] });
  t.last().serverClose(1006);
  assert.deepEqual(t.lastState(), ['reconnecting', { retryIn: 1 }], 'the back-off started over at the resume');
});
