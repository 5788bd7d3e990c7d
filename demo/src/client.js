// The client side of Pairpad's protocol: the ot.js state machine (Synchronized /
// AwaitingConfirm / AwaitingWithBuffer), plus what a real network needs: idempotent re-sending of
// unacknowledged work after a reconnect, gap detection, and a recovery path that keeps the local
// text when the server's history cannot be replayed.
//
// It knows nothing about CodeMirror or WebSockets: `editor` and `transport` are small interfaces,
// so the same code runs in the browser and in the simulation test (demo/test/client.test.js).

import { TextOperation } from './ot.js';

const HISTORY = 256; // committed operations kept to map remote cursors sent at older revisions

/** Errors that mean "the operation you just sent was not applied". */
// Codes that refuse our outstanding operation: nothing was applied, so reload and rebase.
const REJECTED = new Set([
  'invalid_operation',
  'invalid_revision',
  'document_too_large',
  'invalid_text',
  'invalid_field',
  'server_busy',
]);

function randomId() {
  const bytes = new Uint8Array(8);
  globalThis.crypto.getRandomValues(bytes);
  return Array.from(bytes, (b) => b.toString(16).padStart(2, '0')).join('');
}

export class OTClient {
  /**
   * @param editor `{ text(): string, reset(code), apply(op: TextOperation, meta): void }`: the local
   *   document
   * @param transport `{ send(msg): boolean, fetchSnapshot(): Promise<{code, revision}>,
   *   reconnect(reason: string): void, notify?(kind, detail): void }`
   */
  constructor(editor, transport, clientId = randomId()) {
    this.editor = editor;
    this.transport = transport;
    this.clientId = clientId;
    this.counter = 0;
    this.started = false; // got a first init
    this.phase = 'connecting'; // connecting | live | resync | snapshot
    this.userId = null;
    this.revision = 0; // last server revision this client knows
    this.shadow = ''; // the server's text at `revision`
    this.outstanding = null; // { op (transformed to `revision`), sent: { revision, ops, opId } }
    this.buffer = null; // local edits made while `outstanding` waits for its ack
    this.queue = []; // messages held while a reconnect is being resolved
    this.history = []; // [{ revision, op, userId }] the last committed operations
    this.reconnectInit = null; // { revision, code } of the init that started a resync
    this.discardPending = false;
    this.waitingSince = 0; // when the unacknowledged operation was last sent (ms), 0 if none
    this.recoveries = []; // how each reconnect with unacknowledged work was resolved (diagnostics)
  }

  /** 'synchronized' | 'awaiting_confirm' | 'awaiting_with_buffer', as in ot.js. */
  get state() {
    if (!this.outstanding) return 'synchronized';
    return this.buffer ? 'awaiting_with_buffer' : 'awaiting_confirm';
  }

  /** Whether everything typed here has been acknowledged by the server. */
  get idle() {
    return this.phase === 'live' && !this.outstanding;
  }

  notify(kind, detail) {
    this.transport.notify?.(kind, detail);
  }

  // ---- connection events ------------------------------------------------------------------------

  /** The socket is open; nothing is sent until the server's `init`. */
  onOpen() {
    this.phase = 'connecting';
  }

  onClose() {
    this.phase = 'connecting';
    this.queue = [];
    this.reconnectInit = null;
  }

  /** Handles the protocol messages that concern the document. Returns false for others. */
  onMessage(msg) {
    switch (msg.type) {
      case 'init':
        this.onInit(msg);
        return true;
      case 'operation':
      case 'ack':
        if (this.phase === 'resync' || this.phase === 'snapshot') this.onResyncMessage(msg);
        else if (this.phase === 'live') this.dispatch(msg);
        return true;
      case 'error':
        if (msg.code === 'stale_revision' || REJECTED.has(msg.code)) {
          this.onRejected(msg);
          return true;
        }
        // `rate_limited` only comes before a 4029 close: the server slows a fast client down and
        // never drops its operations (PROTOCOL.md, "Ordering"), so there is nothing to re-send.
        return false;
      default:
        return false;
    }
  }

  dispatch(msg) {
    if (msg.type === 'operation') this.onServerOperation(msg);
    else this.onAck(msg);
  }

  // ---- init and reconnects ----------------------------------------------------------------------

  onInit(msg) {
    this.userId = msg.userId;
    const code = msg.code;
    const revision = msg.revision;
    if (!this.started || this.discardPending) {
      // First load, or a reload after the server refused our work: take the server's document.
      const hadLocal = this.started;
      this.started = true;
      this.discardPending = false;
      this.outstanding = null;
      this.waitingSince = 0;
      this.buffer = null;
      this.history = [];
      this.revision = revision;
      this.shadow = code;
      if (hadLocal) this.editor.apply(TextOperation.diff(this.editor.text(), code), { userId: null });
      else this.editor.reset(code);
      this.phase = 'live';
      return;
    }
    if (!this.outstanding) {
      // Nothing unacknowledged: the local text is the server's text at `this.revision`.
      if (revision !== this.revision || code !== this.shadow) {
        const d = TextOperation.diff(this.shadow, code);
        this.shadow = code;
        this.editor.apply(d, { userId: null });
        this.history = [];
      }
      this.revision = revision;
      this.phase = 'live';
      return;
    }
    // Unacknowledged work: re-send the outstanding operation exactly as first sent (same opId,
    // same base revision) and hold everything else until its ack says where it landed.
    this.reconnectInit = { revision, code };
    this.queue = [];
    this.phase = 'resync';
    this.waitingSince = Date.now();
    this.transport.send({ type: 'operation', ...this.outstanding.sent });
  }

  onResyncMessage(msg) {
    if (this.phase === 'resync' && msg.type === 'ack' && msg.opId === this.outstanding.sent.opId) {
      this.resolveResync(msg.revision);
    } else {
      this.queue.push(msg);
    }
  }

  resolveResync(ackRevision) {
    const { revision: rn, code } = this.reconnectInit;
    this.reconnectInit = null;
    const queue = this.queue;
    this.queue = [];
    if (rn === this.revision && code === this.shadow && ackRevision > rn) {
      // Nobody committed anything while we were away, ours included: the server transformed our
      // operation over exactly what we have seen. Carry on as if nothing happened.
      this.recoveries.push('resent');
      this.phase = 'live';
      for (const m of queue) this.dispatch(m);
      this.onAck({ revision: ackRevision, opId: this.outstanding.sent.opId });
      return;
    }
    if (ackRevision === rn && rn === this.revision + 1 && code === this.outstanding.op.apply(this.shadow)) {
      // Ours was the only operation committed while we were away.
      this.recoveries.push('already-committed');
      this.phase = 'live';
      this.onAck({ revision: ackRevision, opId: this.outstanding.sent.opId });
      for (const m of queue) this.dispatch(m);
      return;
    }
    // Others edited while we were away, so we cannot know exactly how the server placed our
    // operation among their edits: take a snapshot that includes it and rebase the buffer on it.
    const committed = this.outstanding.op.apply(this.shadow);
    const mine = this.buffer || TextOperation.diff(committed, committed);
    if (ackRevision <= rn) {
      this.recoveries.push('rebase-on-init');
      this.rebase(code, rn, committed, mine, queue);
      return;
    }
    this.recoveries.push('rebase-on-snapshot');
    this.phase = 'snapshot';
    this.queue = queue;
    this.transport.fetchSnapshot().then(
      (snap) => {
        if (this.phase !== 'snapshot') return; // disconnected meanwhile: a new init restarts this
        const q = this.queue;
        this.queue = [];
        // The buffer may have grown while we waited.
        this.rebase(snap.code, snap.revision, committed, this.buffer || TextOperation.diff(committed, committed), q);
      },
      (err) => {
        if (this.phase === 'snapshot') this.transport.reconnect('snapshot failed: ' + err);
      },
    );
  }

  /**
   * Makes `code` at `revision` the new base. The local text is apply(base, mine); the change from
   * `base` to `code` is recovered by a diff, `mine` is transformed over it and sent as new work.
   */
  rebase(code, revision, base, mine, queue) {
    const theirs = TextOperation.diff(base, code);
    const [mine2, theirs2] = TextOperation.transform(mine, theirs);
    this.outstanding = null;
    this.waitingSince = 0;
    this.buffer = null;
    this.history = [];
    this.shadow = code;
    this.revision = revision;
    this.phase = 'live';
    this.editor.apply(theirs2, { userId: null });
    if (!mine2.isNoop()) this.applyLocal(mine2);
    for (const m of queue) this.dispatch(m);
  }

  /** The server refused our outstanding operation (or its base is too old to transform). */
  onRejected(msg) {
    if (!this.outstanding) return;
    if (this.phase === 'resync' && this.reconnectInit) {
      const { revision, code } = this.reconnectInit;
      const queue = this.queue;
      this.queue = [];
      this.reconnectInit = null;
      this.recoveries.push('refused:' + msg.code);
      if (msg.code === 'stale_revision') {
        // We cannot tell whether it was committed: keep what was never sent (the buffer).
        const base = this.outstanding.op.apply(this.shadow);
        this.rebase(code, revision, base, this.buffer || TextOperation.diff(base, base), queue);
      } else {
        // Refused, so not committed: keep all local text as new work.
        const mine = this.buffer ? this.outstanding.op.compose(this.buffer) : this.outstanding.op;
        this.rebase(code, revision, this.shadow, mine, queue);
      }
      this.notify('rejected', msg);
      return;
    }
    if (this.phase === 'live') {
      // Our own edit was refused: drop the unacknowledged work and reload the server's text.
      this.discardPending = true;
      this.notify('rejected', msg);
      this.transport.reconnect('operation rejected: ' + msg.code);
    }
  }

  // ---- the ot.js state machine ------------------------------------------------------------------

  /** A local edit, already applied to the editor. */
  applyLocal(op) {
    if (op.isNoop()) return;
    if (!this.outstanding) {
      const sent = { revision: this.revision, ops: op.toJSON(), opId: `${this.clientId}-${++this.counter}` };
      this.outstanding = { op, sent };
      if (this.phase === 'live') {
        this.waitingSince = Date.now();
        this.transport.send({ type: 'operation', ...sent });
      }
    } else if (!this.buffer) {
      this.buffer = op;
    } else {
      this.buffer = this.buffer.compose(op);
    }
  }

  onServerOperation(msg) {
    if (msg.revision <= this.revision) return; // already seen
    if (msg.revision !== this.revision + 1) {
      this.transport.reconnect(`missed operations: at revision ${this.revision}, got ${msg.revision}`);
      return;
    }
    let op;
    try {
      op = TextOperation.fromJSON(msg.ops);
      this.shadow = op.apply(this.shadow);
    } catch (e) {
      this.transport.reconnect('unusable operation from the server: ' + e.message);
      return;
    }
    this.revision = msg.revision;
    this.remember(msg.revision, op, msg.userId);
    let toApply = op;
    if (this.outstanding) {
      const [o2, r2] = TextOperation.transform(this.outstanding.op, toApply);
      this.outstanding.op = o2;
      toApply = r2;
      if (this.buffer) {
        const [b2, r3] = TextOperation.transform(this.buffer, toApply);
        this.buffer = b2;
        toApply = r3;
      }
    }
    this.editor.apply(toApply, { userId: msg.userId });
  }

  onAck(msg) {
    if (!this.outstanding || msg.opId !== this.outstanding.sent.opId) return; // a duplicate
    if (msg.revision !== this.revision + 1) {
      this.transport.reconnect(`ack for revision ${msg.revision} while at ${this.revision}`);
      return;
    }
    this.shadow = this.outstanding.op.apply(this.shadow);
    this.revision = msg.revision;
    this.remember(msg.revision, this.outstanding.op, this.userId);
    this.outstanding = null;
    this.waitingSince = 0;
    if (this.buffer) {
      const op = this.buffer;
      this.buffer = null;
      this.applyLocal(op);
    }
  }

  remember(revision, op, userId) {
    this.history.push({ revision, op, userId });
    if (this.history.length > HISTORY) this.history.shift();
  }

  // ---- cursors ----------------------------------------------------------------------------------

  /** Our position `pos` (code points, local text) as a position in the server text at `revision`. */
  localToServer(pos) {
    if (this.buffer) pos = this.buffer.invertIndex(pos);
    if (this.outstanding) pos = this.outstanding.op.invertIndex(pos);
    return pos;
  }

  /**
   * Maps a position another user sent at server revision `revision` into our local text.
   * Returns null when it cannot (a revision we have not reached yet, or one too old).
   */
  serverToLocal(revision, pos, userId) {
    if (this.phase !== 'live' || revision > this.revision) return null;
    const missing = this.revision - revision;
    if (missing > this.history.length) return null;
    for (const h of this.history.slice(this.history.length - missing)) {
      pos = h.op.transformIndex(pos, h.userId === userId);
    }
    if (this.outstanding) pos = this.outstanding.op.transformIndex(pos);
    if (this.buffer) pos = this.buffer.transformIndex(pos);
    return pos;
  }
}
