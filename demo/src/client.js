// The client side of Pairpad's protocol: the ot.js state machine (Synchronized /
// AwaitingConfirm / AwaitingWithBuffer), plus what a real network needs: resuming after a
// reconnect (`?since=`, PROTOCOL.md "Resuming"), idempotent re-sending of unacknowledged work with
// its opId, gap detection, and a rebase by diff when the server cannot resume.
//
// It knows nothing about CodeMirror or WebSockets: `editor` and `transport` are small interfaces,
// so the same code runs in the browser and in the simulation test (demo/test/client.test.js).

import { TextOperation } from './ot.js';

const HISTORY = 256; // committed operations kept to map remote cursors sent at older revisions

/**
 * The most runs (retains, inserts, deletes) an operation we send may have. The server refuses
 * more than `websocket.max_operation_components` (10,000 by default); hours of offline editing
 * composed into one operation could come near, so such an operation is sent as one replacement
 * between its first and last change instead (the same text, never refused).
 */
export const MAX_RUNS = 2000;

// Codes that refuse our outstanding operation: nothing was applied, so reload.
const REJECTED = new Set([
  'invalid_operation',
  'invalid_revision',
  'document_too_large',
  'invalid_text',
  'invalid_field',
  'server_busy',
  'read_only', // a view-only connection (its editor is read-only, so only a bug gets here)
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
   * @param transport `{ send(msg): boolean, reconnect(reason: string): void,
   *   notify?(kind, detail): void }`
   */
  constructor(editor, transport, clientId = randomId()) {
    this.editor = editor;
    this.transport = transport;
    this.clientId = clientId;
    this.counter = 0;
    this.started = false; // got a first init
    this.phase = 'connecting'; // connecting | live
    this.userId = null;
    this.revision = 0; // last server revision this client knows (acknowledged or received)
    this.shadow = ''; // the server's text at `revision`
    this.outstanding = null; // { op (transformed to `revision`), sent: { revision, ops, opId } }
    this.buffer = null; // local edits made while `outstanding` waits for its ack
    this.history = []; // [{ revision, op, userId }] the last committed operations
    this.discardPending = false; // the server refused our work: start over from its text
    this.fresh = false; // the next connection asks for a fresh init instead of resuming
    this.held = null; // after a resume with an operation in flight: others' operations, until it is confirmed
    this.copyExpected = 0; // a revision where the live copy of our acknowledged operation may still come
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

  /**
   * The revision to resume from when connecting (`?since=`), or null for a fresh `init`: the
   * first connection, and a reload after the server refused our work.
   */
  get since() {
    return this.started && !this.discardPending && !this.fresh ? this.revision : null;
  }

  notify(kind, detail) {
    this.transport.notify?.(kind, detail);
  }

  // ---- connection events ------------------------------------------------------------------------

  /** The socket is open; nothing is sent until the server's `init` or `resume`. */
  onOpen() {
    this.phase = 'connecting';
  }

  onClose() {
    this.phase = 'connecting';
    this.held = null; // not applied: the next resume sends them again
    this.copyExpected = 0;
  }

  /** Handles the protocol messages that concern the document. Returns false for others. */
  onMessage(msg) {
    switch (msg.type) {
      case 'init':
        this.onInit(msg);
        return true;
      case 'resume':
        this.onResume(msg);
        return true;
      case 'operation':
        if (this.phase === 'live') this.onServerOperation(msg);
        return true;
      case 'ack':
        if (this.phase === 'live') this.onAck(msg);
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

  // ---- init, resume and reconnects --------------------------------------------------------------

  onInit(msg) {
    this.userId = msg.userId;
    this.fresh = false;
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
    // The server could not resume (`resumed: false`: our revision is beyond its kept history, or
    // newer than the room). Rebase by diff (PROTOCOL.md, "Resuming"): S is the text we last
    // shared (the shadow, at our revision), M ours (S with our pending work), C the server's.
    // Our pending work S -> M goes over S -> C as one new operation on `init.revision`; what the
    // server changed goes into our text. The old opIds are dropped: the new operation holds them.
    const mine = this.buffer ? this.outstanding.op.compose(this.buffer) : this.outstanding.op;
    const theirs = TextOperation.diff(this.shadow, code);
    const [mine2, theirs2] = TextOperation.transform(mine, theirs);
    this.recoveries.push('diff-rebase');
    this.outstanding = null;
    this.buffer = null;
    this.waitingSince = 0;
    this.history = [];
    this.shadow = code;
    this.revision = revision;
    this.phase = 'live';
    this.editor.apply(theirs2, { userId: null });
    this.applyLocal(mine2);
  }

  /**
   * The server resumes at our revision: the stored operations we missed follow, in order, with
   * their opIds, so our own in-flight operation, if stored, arrives as an `operation` carrying
   * its opId and counts as its ack. What is still unacknowledged is sent again now with the same
   * opId, on our revision: the server applies an opId at most once, and an ack that comes after
   * we counted the operation is ignored.
   *
   * Our in-flight operation may also have been sequenced but not yet stored at the resume: it is
   * then committed after the missed operations and reaches us as a live `operation` without its
   * opId, which we cannot tell from another's. So until the operation in flight is confirmed,
   * others' operations are held, not applied; the ack of the re-sent copy names the revision it
   * got, and the held operation at that revision is ours (see onAck).
   */
  onResume(msg) {
    this.userId = msg.userId;
    if (!this.started || msg.revision !== this.revision) {
      // Not the revision we asked for: start over with a fresh init (and a diff rebase).
      this.fresh = true;
      this.transport.reconnect(`resumed at revision ${msg.revision}, we are at ${this.revision}`);
      return;
    }
    this.phase = 'live';
    if (!this.outstanding) return;
    this.recoveries.push('resumed');
    this.held = [];
    this.outstanding.sent = { revision: this.revision, ops: this.outstanding.op.toJSON(), opId: this.outstanding.sent.opId };
    this.waitingSince = Date.now();
    this.transport.send({ type: 'operation', ...this.outstanding.sent });
  }

  /** The server refused our outstanding operation (or its base is too old to transform). */
  onRejected(msg) {
    if (!this.outstanding || this.phase !== 'live') return;
    this.recoveries.push('refused:' + msg.code);
    if (msg.code === 'stale_revision') {
      // The server no longer has our base revision: start over with a fresh init; our work is
      // then rebased by diff, so nothing is lost.
      this.fresh = true;
      this.transport.reconnect('stale revision');
    } else {
      // Our own edit was refused: drop the unacknowledged work and reload the server's text.
      this.notify('rejected', msg);
      this.discardPending = true;
      this.transport.reconnect('operation rejected: ' + msg.code);
    }
  }

  // ---- the ot.js state machine ------------------------------------------------------------------

  /** A local edit, already applied to the editor. */
  applyLocal(op) {
    if (op.isNoop()) return;
    if (!this.outstanding) {
      if (op.ops.length > MAX_RUNS) op = TextOperation.replacement(this.shadow, op.apply(this.shadow));
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
    if (this.outstanding && msg.opId !== undefined && msg.opId === this.outstanding.sent.opId) {
      // Our own operation, among those missed before a resume: it is our ack. Everything held
      // since the resume came before it.
      const held = this.held;
      this.held = null;
      if (held && !this.applyAll(held)) return;
      this.confirm(msg.revision);
      return;
    }
    if (msg.opId === undefined && this.copyExpected !== 0 && msg.revision === this.copyExpected) {
      // The live copy of our operation, already counted by the ack of its re-sent copy.
      this.copyExpected = 0;
      return;
    }
    if (this.held) {
      this.held.push(msg);
      return;
    }
    this.applyRemote(msg);
  }

  /** Applies another participant's operation; false when it made us reconnect. */
  applyRemote(msg) {
    if (msg.revision <= this.revision) return true; // already seen
    if (msg.revision !== this.revision + 1) {
      this.transport.reconnect(`missed operations: at revision ${this.revision}, got ${msg.revision}`);
      return false;
    }
    let op;
    try {
      op = TextOperation.fromJSON(msg.ops);
      this.shadow = op.apply(this.shadow);
    } catch (e) {
      this.transport.reconnect('unusable operation from the server: ' + e.message);
      return false;
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
    return true;
  }

  applyAll(messages) {
    for (const m of messages) if (!this.applyRemote(m)) return false;
    return true;
  }

  onAck(msg) {
    // Not for our outstanding operation: an ack for an operation already counted (seen as an
    // `operation` carrying its opId while resuming, or acknowledged twice). Ignored.
    if (!this.outstanding || msg.opId !== this.outstanding.sent.opId) return;
    const held = this.held;
    if (!held) {
      this.confirm(msg.revision);
      return;
    }
    // The ack of the operation re-sent at a resume: it names the revision our operation got.
    // Apply what was held up to it; a held operation at that very revision is the old
    // connection's copy of ours (committed after the resume, broadcast without its opId): skip
    // it. If that copy has not come yet, it is ignored when it does.
    this.held = null;
    const at = msg.revision;
    let counted = false;
    for (const m of held) {
      if (!counted && this.revision + 1 === at) {
        counted = true;
        if (!this.confirm(at)) return;
        if (m.revision === at) continue;
        this.copyExpected = at;
      }
      if (!this.applyRemote(m)) return;
    }
    if (!counted && this.confirm(at)) this.copyExpected = at;
  }

  /** Our outstanding operation is revision `revision`; false when that is not the next one. */
  confirm(revision) {
    if (revision !== this.revision + 1) {
      this.transport.reconnect(`ack for revision ${revision} while at ${this.revision}`);
      return false;
    }
    this.shadow = this.outstanding.op.apply(this.shadow);
    this.revision = revision;
    this.remember(revision, this.outstanding.op, this.userId);
    this.outstanding = null;
    this.waitingSince = 0;
    if (this.buffer) {
      const op = this.buffer;
      this.buffer = null;
      this.applyLocal(op);
    }
    return true;
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
