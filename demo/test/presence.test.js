// Participants and cursors (src/presence.js) with the real OTClient over a fake editor and
// transport: the list and colours, remote cursors mapped through the operations since the
// revision they were sent at (or kept until we reach it), and our own cursor, throttled.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { OTClient } from '../src/client.js';
import { TextOperation } from '../src/ot.js';
import { Presence, FALLBACK_COLOR, CURSOR_INTERVAL } from '../src/presence.js';
import { FakeClock } from './fakes.js';

const ALICE = { userId: 'alice', name: 'Alice', color: '#e06c75' };
const BOB = { userId: 'bob', name: 'Bob', color: '#61afef' };

function setup({ name = null, users = [ALICE, BOB], me = 'alice', code = 'hello world' } = {}) {
  const clock = new FakeClock();
  const doc = { text: '' };
  const sent = [];
  const transport = {
    open: true,
    send(msg) {
      if (!this.open) return false;
      sent.push(msg);
      return true;
    },
    reconnect: () => {},
  };
  const client = new OTClient(
    { text: () => doc.text, reset: (c) => (doc.text = c), apply: (op) => (doc.text = op.apply(doc.text)) },
    transport,
    'c1',
  );
  const cursors = new Map(); // what the view shows: userId -> [anchor, head, name, color]
  const view = {
    renders: 0,
    showCursor: (u, anchor, head) => cursors.set(u.userId, [anchor, head, u.name, u.color]),
    removeCursor: (id) => cursors.delete(id),
    clearCursors: () => cursors.clear(),
    usersChanged: () => view.renders++,
  };
  const selection = { anchor: 0, head: 0 };
  const presence = new Presence({ client, view, selection: () => selection, send: (m) => transport.send(m), name, timers: clock });
  const init = (msg = {}) => {
    const m = { type: 'init', userId: me, revision: 0, code, users, language: 'python', ...msg };
    client.onMessage(m);
    presence.init(m);
  };
  /** Someone else's operation, committed as the next revision. */
  const remote = (userId, ops) => {
    client.onMessage({ type: 'operation', revision: client.revision + 1, ops, userId });
    presence.revisionChanged();
  };
  return { clock, doc, sent, transport, client, cursors, view, selection, presence, init, remote };
}

test('the participants, in order, with their colours and ours marked', () => {
  const t = setup();
  t.init();
  assert.deepEqual(t.presence.list(), [
    { ...ALICE, me: true },
    { ...BOB, me: false },
  ]);
  assert.equal(t.view.renders, 1);
  const carol = { userId: 'carol', name: 'Carol', color: '#98c379' };
  t.presence.joined(carol);
  t.presence.joined(null); // malformed: ignored
  t.presence.joined({ name: 'no id' });
  assert.deepEqual(t.presence.list().map((u) => u.userId), ['alice', 'bob', 'carol']);
  assert.equal(t.view.renders, 2);
  t.presence.left('bob');
  assert.deepEqual(t.presence.list().map((u) => [u.name, u.color]), [['Alice', ALICE.color], ['Carol', carol.color]]);
  t.presence.reset();
  assert.deepEqual(t.presence.list(), []);
});

test('we are listed even when the server leaves us out, in the fallback colour', () => {
  const t = setup({ name: 'Zoé', users: [BOB], me: 'me' });
  t.init();
  assert.deepEqual(t.presence.list()[1], { userId: 'me', name: 'Zoé', color: FALLBACK_COLOR, me: true });
  const u = setup({ users: [], me: 'me' });
  u.init();
  assert.equal(u.presence.list()[0].name, 'you');
});

test('the name the server picked is kept for the next connection, a given name always', () => {
  const t = setup({ users: [{ userId: 'me', name: 'Brave Otter', color: '#abc' }], me: 'me' });
  assert.equal(t.presence.name, null);
  t.init();
  assert.equal(t.presence.name, 'Brave Otter');
  const g = setup({ name: 'Zoé', users: [{ userId: 'me', name: 'Zoé 2', color: '#abc' }], me: 'me' });
  g.init();
  assert.equal(g.presence.name, 'Zoé');
});

test('a remote cursor is shown where it is in our text, mapped through what happened since', () => {
  const t = setup();
  t.init();
  t.presence.cursor({ type: 'cursor', userId: 'bob', revision: 0, selection: { anchor: 6, head: 11 } });
  assert.deepEqual(t.cursors.get('bob'), [6, 11, 'Bob', BOB.color]);

  // Carol (not us) inserts "big " at 6 at revision 1; Bob's cursor from revision 0 moves.
  t.remote('carol', [6, 'big ', 5]);
  assert.equal(t.doc.text, 'hello big world');
  t.presence.cursor({ type: 'cursor', userId: 'bob', revision: 0, selection: { anchor: 6, head: 6 } });
  assert.deepEqual(t.cursors.get('bob').slice(0, 2), [6, 6], "an insert at the cursor of someone else's goes after it");
  t.presence.cursor({ type: 'cursor', userId: 'bob', revision: 0, selection: { anchor: 11, head: 11 } });
  assert.deepEqual(t.cursors.get('bob').slice(0, 2), [15, 15]);

  // Our own unacknowledged edit: "¡" at 0. Bob's cursor at revision 1 maps through it too.
  const op = new TextOperation().insert('¡').retain(15);
  t.doc.text = op.apply(t.doc.text);
  t.client.applyLocal(op);
  t.presence.cursor({ type: 'cursor', userId: 'bob', revision: 1, selection: { anchor: 10, head: 15 } });
  assert.deepEqual(t.cursors.get('bob').slice(0, 2), [11, 16]);
});

test('a cursor at a revision we have not reached waits for it', () => {
  const t = setup();
  t.init();
  // Bob typed "X" at 0 (revision 1) and sent his cursor after it before we got the operation.
  t.presence.cursor({ type: 'cursor', userId: 'bob', revision: 1, selection: { anchor: 1, head: 1 } });
  assert.equal(t.cursors.has('bob'), false);
  assert.equal(t.presence.pending.size, 1);
  t.remote('bob', ['X', 11]);
  assert.deepEqual(t.cursors.get('bob').slice(0, 2), [1, 1]);
  assert.equal(t.presence.pending.size, 0);
});

test('cursors of strangers, of ours and without a selection are ignored; leaving removes one', () => {
  const t = setup();
  t.init();
  t.presence.cursor({ type: 'cursor', userId: 'nobody', revision: 0, selection: { anchor: 1, head: 1 } });
  t.presence.cursor({ type: 'cursor', userId: 'alice', revision: 0, selection: { anchor: 1, head: 1 } });
  t.presence.cursor({ type: 'cursor', userId: 'bob', revision: 0 });
  assert.equal(t.cursors.size, 0);
  t.presence.cursor({ type: 'cursor', userId: 'bob', revision: 0, selection: { anchor: 1, head: 2 } });
  assert.equal(t.cursors.size, 1);
  t.presence.cursor({ type: 'cursor', userId: 'bob', revision: 7, selection: { anchor: 1, head: 1 } });
  t.presence.left('bob');
  assert.equal(t.cursors.size, 0);
  assert.equal(t.presence.pending.size, 0, 'its waiting cursor goes too');
});

test('a new connection forgets every cursor', () => {
  const t = setup();
  t.init();
  t.presence.cursor({ type: 'cursor', userId: 'bob', revision: 0, selection: { anchor: 1, head: 1 } });
  t.presence.cursor({ type: 'cursor', userId: 'bob', revision: 5, selection: { anchor: 1, head: 1 } });
  t.presence.reset();
  assert.equal(t.cursors.size, 0);
  assert.equal(t.presence.pending.size, 0);
  t.init();
  assert.equal(t.cursors.size, 0);
});

test('our cursor: sent in server positions, not twice the same, at most every 80 ms', () => {
  const t = setup();
  t.presence.scheduleCursor();
  t.clock.advance(0);
  assert.deepEqual(t.sent, [], 'nothing before the init');
  t.init();
  t.clock.advance(0);
  assert.deepEqual(t.sent, [{ type: 'cursor', revision: 0, selection: { anchor: 0, head: 0 } }], 'the init shows where we are');

  t.selection.anchor = t.selection.head = 3;
  t.presence.scheduleCursor();
  t.presence.scheduleCursor();
  t.clock.advance(CURSOR_INTERVAL - 1);
  assert.equal(t.sent.length, 1, 'throttled');
  t.clock.advance(1);
  assert.deepEqual(t.sent.at(-1), { type: 'cursor', revision: 0, selection: { anchor: 3, head: 3 } });
  t.presence.scheduleCursor();
  t.clock.advance(CURSOR_INTERVAL);
  assert.equal(t.sent.length, 2, 'the same position is not sent again');

  // With an unacknowledged insert before it, our cursor is sent where it is in the server's text.
  const op = new TextOperation().insert('ab').retain(11);
  t.doc.text = op.apply(t.doc.text);
  t.client.applyLocal(op);
  t.sent.length = 0;
  t.selection.anchor = 5;
  t.selection.head = 2;
  t.presence.scheduleCursor();
  t.clock.advance(CURSOR_INTERVAL);
  assert.deepEqual(t.sent, [{ type: 'cursor', revision: 0, selection: { anchor: 3, head: 0 } }]);

  // Someone joins: they get our cursor even though it has not moved.
  t.presence.joined({ userId: 'carol', name: 'Carol', color: '#000' });
  t.clock.advance(CURSOR_INTERVAL);
  assert.equal(t.sent.length, 2);

  // A cursor the transport could not send is tried again at the next move.
  t.transport.open = false;
  t.selection.anchor = t.selection.head = 7;
  t.presence.scheduleCursor();
  t.clock.advance(CURSOR_INTERVAL);
  t.transport.open = true;
  t.presence.scheduleCursor();
  t.clock.advance(CURSOR_INTERVAL);
  assert.deepEqual(t.sent.at(-1).selection, { anchor: 5, head: 5 });
});
