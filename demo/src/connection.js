// The page's WebSocket to a room: opening it, keeping it alive, and what to do when it closes
// (reconnect with back-off, or give up for good: PROTOCOL.md, "Close codes").
//
// It knows nothing about the DOM or the editor: the socket comes from `createSocket(url)` and the
// clock from `timers`, so demo/test/connection.test.js drives it with a fake socket and a fake
// clock. What it decides is reported through `handlers`:
//   open()                       the socket is open (nothing is sent before the server's init or
//                                resume)
//   message(msg)                 every parsed message, in order
//   close({ code, reason, terminal })  the socket closed; `terminal` is null, or why we give up
//   state(state, { retryIn, offline, code })  the connection state changed (see STATES)
//   reconnecting(reason)         a deliberate reconnect (resync, watchdog) is starting

/** Close codes after which reconnecting cannot help, and the state they leave the page in. */
export const TERMINAL_CLOSE = new Map([
  [4404, 'not_found'], // unknown or malformed room id
  [4410, 'gone'], // the room was deleted (or expired) while connected
  [4401, 'unauthorized'], // token mode: the token is missing, invalid or expired (the page cannot get another)
  [4403, 'forbidden'], // the token does not grant this room
]);

/** `error` codes that announce a terminal close, and the state it leaves the page in. */
export const TERMINAL_ERRORS = new Map([
  ['room_not_found', 'not_found'],
  ['invalid_room_id', 'not_found'],
  ['room_deleted', 'gone'],
  ['unauthorized', 'unauthorized'],
  ['forbidden', 'forbidden'],
]);

/** connecting | connected | reconnecting | disconnected, or one of TERMINAL_CLOSE's states. */
export const STATES = ['connecting', 'connected', 'reconnecting', 'disconnected', ...new Set(TERMINAL_CLOSE.values())];

const OPEN = 1; // WebSocket.OPEN
export const PING_AFTER = 20000; // ms of silence before we ping
export const SILENCE_LIMIT = 45000; // ms of silence after which the connection is taken as dead
export const ACK_LIMIT = 30000; // ms an operation may wait for its ack before we reconnect
export const RESYNC_DELAY = 50; // ms before reconnecting after a deliberate reconnect
const FAILURES_BEFORE_DISCONNECTED = 4; // attempts shown as "reconnecting" before "disconnected"

/** `url` with `since=R` added to its query when `since` is a revision (PROTOCOL.md, "Resuming"). */
export function withSince(url, since) {
  if (since === null || since === undefined) return url;
  return `${url}${url.includes('?') ? '&' : '?'}since=${since}`;
}

/** Back-off before attempt `attempt` (1, 2, ...): 0.5 s doubling up to 10 s, ±20 % jitter. */
export function backoffDelay(attempt, random = Math.random) {
  return Math.min(10000, 500 * 2 ** (attempt - 1)) * (0.8 + 0.4 * random());
}

const realTimers = {
  setTimeout: (f, ms) => setTimeout(f, ms),
  clearTimeout: (t) => clearTimeout(t),
  setInterval: (f, ms) => setInterval(f, ms),
  clearInterval: (t) => clearInterval(t),
  now: () => Date.now(),
};

export class Connection {
  /**
   * @param options.url `() => string`: the address to open (asked at each attempt)
   * @param options.since `() => number | null`: the revision to resume from, added to the address
   *   as `?since=` (OTClient.since), or null for a fresh init
   * @param options.createSocket `(url) => WebSocket-like` ({ readyState, send, close, onopen,
   *   onmessage, onclose })
   * @param options.handlers see the top of this file; every one is optional
   * @param options.isOnline `() => boolean` (navigator.onLine in the browser)
   * @param options.waitingSince `() => number`: when the unacknowledged operation was sent, 0 if
   *   none (OTClient.waitingSince)
   * @param options.timers `{ setTimeout, clearTimeout, setInterval, clearInterval, now }`
   * @param options.random `() => number` in [0, 1), for the back-off jitter
   */
  constructor({ url, since = () => null, createSocket, handlers = {}, isOnline = () => true, waitingSince = () => 0, timers = realTimers, random = Math.random }) {
    this.url = url;
    this.since = since;
    this.createSocket = createSocket;
    this.handlers = handlers;
    this.isOnline = isOnline;
    this.waitingSince = waitingSince;
    this.timers = timers;
    this.random = random;
    this.socket = null; // the current socket, null between attempts
    this.attempt = 0; // failed attempts since the last init
    this.retryTimer = 0;
    this.retryAt = 0;
    this.lastMessage = 0;
    this.terminal = null; // why we gave up for good, or null
    this.state = 'connecting';
    this.tickTimer = 0;
  }

  /** Opens the first socket and starts the keep-alive watchdog. */
  start() {
    if (!this.tickTimer) this.tickTimer = this.timers.setInterval(() => this.tick(), 1000);
    this.setState('connecting');
    this.connect();
  }

  /** Stops everything (tests; the page never stops). */
  stop() {
    this.timers.clearInterval(this.tickTimer);
    this.tickTimer = 0;
    this.cancelRetry();
    const socket = this.socket;
    this.socket = null;
    socket?.close(1000);
  }

  get open() {
    return this.socket !== null && this.socket.readyState === OPEN;
  }

  /** Sends `msg` as JSON if the socket is open; returns whether it was sent. */
  send(msg) {
    if (!this.open) return false;
    this.socket.send(JSON.stringify(msg));
    return true;
  }

  /** Gives up without connecting (a room id that cannot be valid): state `kind`. */
  giveUp(kind = 'not_found') {
    this.terminal = kind;
    this.cancelRetry();
    this.setState(kind);
  }

  /** Connects now unless connected, connecting or given up ("Retry now", the `online` event). */
  retryNow() {
    if (!this.socket && !this.terminal) this.connect();
  }

  /**
   * The browser went offline: drop the socket at once and schedule the retries, which wait for
   * the `online` event. Not on the socket's own close: without a network its closing handshake
   * cannot complete, and the browser may report the close only many seconds later.
   */
  wentOffline() {
    const socket = this.socket;
    if (!socket) return;
    this.socket = null;
    socket.close();
    this.closed(1006, 'offline', false);
  }

  /**
   * Drops the socket and connects again at once (a resync: the editor went out of step, or the
   * watchdog). Not a failure, so the back-off starts over. Between attempts it only reports
   * `reconnecting(reason)`: the next attempt is already scheduled.
   */
  reconnect(reason) {
    this.handlers.reconnecting?.(reason);
    if (!this.socket) return;
    const socket = this.socket;
    this.socket = null;
    socket.close(4000, 'resync');
    this.closed(4000, reason, true);
  }

  // ---- internals --------------------------------------------------------------------------------

  setState(state, info = {}) {
    this.state = state;
    this.handlers.state?.(state, info);
  }

  cancelRetry() {
    this.timers.clearTimeout(this.retryTimer);
    this.retryTimer = 0;
  }

  connect() {
    this.cancelRetry();
    if (this.terminal) return;
    if (!this.isOnline()) {
      this.setState('disconnected', { offline: true });
      return; // the `online` event calls retryNow()
    }
    const socket = this.createSocket(withSince(this.url(), this.since()));
    this.socket = socket;
    socket.onopen = () => {
      if (this.socket !== socket) return;
      this.lastMessage = this.timers.now();
      this.handlers.open?.();
    };
    socket.onmessage = (event) => {
      if (this.socket !== socket) return;
      let msg;
      try {
        msg = JSON.parse(event.data);
      } catch {
        return;
      }
      this.received(msg);
    };
    socket.onclose = (event) => {
      if (this.socket !== socket) return;
      this.socket = null;
      this.closed(event.code, event.reason, false);
    };
  }

  received(msg) {
    this.lastMessage = this.timers.now();
    if (msg && (msg.type === 'init' || msg.type === 'resume')) {
      this.attempt = 0;
      this.setState('connected');
    } else if (msg && msg.type === 'error' && TERMINAL_ERRORS.has(msg.code)) {
      this.terminal = TERMINAL_ERRORS.get(msg.code); // the close that follows is final whatever its code
    }
    this.handlers.message?.(msg);
  }

  closed(code, reason, resync) {
    const terminal = TERMINAL_CLOSE.get(code) ?? this.terminal;
    if (terminal) this.terminal = terminal;
    this.handlers.close?.({ code, reason, terminal });
    if (terminal) {
      this.cancelRetry();
      this.setState(terminal, { code });
      return;
    }
    let delay;
    if (resync) {
      this.attempt = 0; // a resync is not a failure: come back quickly
      delay = RESYNC_DELAY;
    } else {
      this.attempt++;
      delay = backoffDelay(this.attempt, this.random);
    }
    this.cancelRetry();
    this.retryAt = this.timers.now() + delay;
    this.retryTimer = this.timers.setTimeout(() => this.connect(), delay);
    this.showRetry();
  }

  showRetry() {
    if (!this.retryTimer) return;
    const retryIn = Math.max(0, Math.ceil((this.retryAt - this.timers.now()) / 1000));
    this.setState(this.attempt > FAILURES_BEFORE_DISCONNECTED ? 'disconnected' : 'reconnecting', { retryIn });
  }

  /** Every second: the retry countdown, pings, and the watchdogs of a silent connection. */
  tick() {
    if (this.retryTimer) this.showRetry();
    if (!this.open) return;
    const now = this.timers.now();
    const waiting = this.waitingSince();
    if (waiting && now - waiting > ACK_LIMIT) {
      this.reconnect('no acknowledgement for 30 s'); // re-sending with the same opId is safe
    } else if (now - this.lastMessage > SILENCE_LIMIT) {
      this.reconnect('no answer from the server for 45 s'); // a half-open connection
    } else if (now - this.lastMessage > PING_AFTER) {
      this.send({ type: 'ping' });
    }
  }
}
