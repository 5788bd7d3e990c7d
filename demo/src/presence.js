// Who is in the room and where their cursors are: the participants (with the colours the server
// gave them), the remote cursors (mapped through the operations between the revision they were
// sent at and our text), and our own cursor, sent throttled.
//
// It knows nothing about the DOM: what to draw goes to `view`, and the OTClient maps positions, so
// demo/test/presence.test.js runs it against a fake client and view.

export const FALLBACK_COLOR = '#888'; // our own colour when the server's list leaves us out
export const CURSOR_INTERVAL = 80; // ms between two cursor messages of ours

const realTimers = {
  setTimeout: (f, ms) => setTimeout(f, ms),
  now: () => Date.now(),
};

export class Presence {
  /**
   * @param options.client the OTClient: `userId`, `phase`, `revision`, `localToServer(pos)`,
   *   `serverToLocal(revision, pos, userId)`
   * @param options.view `{ showCursor(user, anchor, head), removeCursor(userId), clearCursors(),
   *   usersChanged() }`, every one optional
   * @param options.selection `() => { anchor, head }`: our selection, code points in our text
   * @param options.send `(msg) => boolean`: sends a message, false when it could not
   * @param options.name the name given in the address, kept across reconnects; null to take the
   *   one the server picks at the first init and keep that
   * @param options.timers `{ setTimeout, now }`
   */
  constructor({ client, view = {}, selection = () => ({ anchor: 0, head: 0 }), send = () => false, name = null, timers = realTimers }) {
    this.client = client;
    this.view = view;
    this.selection = selection;
    this.send = send;
    this.givenName = name;
    this.name = name; // the name to ask for when connecting
    this.timers = timers;
    this.users = new Map(); // userId -> { userId, name, color }
    this.pending = new Map(); // userId -> cursor message at a revision we have not reached
    this.cursorTimer = 0;
    this.lastCursorSent = -Infinity;
    this.lastCursorKey = '';
  }

  /** The participants in order of arrival, ours marked `me`. */
  list() {
    return [...this.users.values()].map((u) => ({ ...u, me: u.userId === this.client.userId }));
  }

  /** The server's `init` or `resume` (after the client handled it): everyone present, and us. */
  init(msg) {
    this.users = new Map((msg.users || []).map((u) => [u.userId, u]));
    if (!this.users.has(msg.userId)) {
      this.users.set(msg.userId, { userId: msg.userId, name: this.name || 'you', color: FALLBACK_COLOR });
    }
    const me = this.users.get(msg.userId);
    if (me && !this.givenName) this.name = me.name; // keep the same name across reconnects
    this.pending.clear();
    this.view.clearCursors?.();
    this.view.usersChanged?.();
    this.lastCursorKey = ''; // show the others where we are
    this.scheduleCursor();
  }

  /** The connection closed: nobody is known to be here any more. */
  reset() {
    this.users = new Map();
    this.pending.clear();
    this.view.usersChanged?.();
    this.view.clearCursors?.();
  }

  joined(user) {
    if (!user || !user.userId) return;
    this.users.set(user.userId, user);
    this.view.usersChanged?.();
    this.lastCursorKey = ''; // let the newcomer see where we are
    this.scheduleCursor();
  }

  left(userId) {
    this.users.delete(userId);
    this.pending.delete(userId);
    this.view.removeCursor?.(userId);
    this.view.usersChanged?.();
  }

  /** Someone's `cursor` message: shown now, or kept until we reach its revision. */
  cursor(msg) {
    if (msg.userId === this.client.userId) return;
    const user = this.users.get(msg.userId);
    if (!user || !msg.selection) return;
    const anchor = this.client.serverToLocal(msg.revision, msg.selection.anchor, msg.userId);
    const head = this.client.serverToLocal(msg.revision, msg.selection.head, msg.userId);
    if (anchor === null || head === null) {
      if (msg.revision > this.client.revision) this.pending.set(msg.userId, msg);
      return;
    }
    this.pending.delete(msg.userId);
    this.view.showCursor?.({ userId: user.userId, name: user.name, color: user.color }, anchor, head);
  }

  /** Our revision moved (an operation or an ack): show the cursors that were waiting for it. */
  revisionChanged() {
    for (const msg of [...this.pending.values()]) if (msg.revision <= this.client.revision) this.cursor(msg);
  }

  /** Our selection moved: send it, at most once every CURSOR_INTERVAL ms. */
  scheduleCursor() {
    if (this.cursorTimer) return;
    const wait = Math.max(0, CURSOR_INTERVAL - (this.timers.now() - this.lastCursorSent));
    this.cursorTimer = this.timers.setTimeout(() => this.sendCursor(), wait);
  }

  sendCursor() {
    this.cursorTimer = 0;
    const client = this.client;
    if (client.phase !== 'live') return;
    const sel = this.selection();
    const selection = { anchor: client.localToServer(sel.anchor), head: client.localToServer(sel.head) };
    const key = `${client.revision}:${selection.anchor}:${selection.head}`;
    if (key === this.lastCursorKey) return;
    if (this.send({ type: 'cursor', revision: client.revision, selection })) {
      this.lastCursorKey = key;
      this.lastCursorSent = this.timers.now();
    }
  }
}
