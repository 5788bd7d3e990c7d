// Test doubles shared by the connection and presence tests: a clock whose time only moves when
// the test says so, and a WebSocket the test opens, feeds and closes by hand.

export class FakeClock {
  constructor() {
    this.time = 1_000_000;
    this.nextId = 1;
    this.timers = new Map(); // id -> { at, f, every }
  }
  now() {
    return this.time;
  }
  setTimeout(f, ms) {
    const id = this.nextId++;
    this.timers.set(id, { at: this.time + ms, f, every: 0 });
    return id;
  }
  setInterval(f, ms) {
    const id = this.nextId++;
    this.timers.set(id, { at: this.time + ms, f, every: ms });
    return id;
  }
  clearTimeout(id) {
    this.timers.delete(id);
  }
  clearInterval(id) {
    this.timers.delete(id);
  }
  /** Moves time forward by `ms`, running every timer that falls due, in order. */
  advance(ms) {
    const end = this.time + ms;
    for (;;) {
      let next = null;
      for (const [id, t] of this.timers) if (t.at <= end && (!next || t.at < next[1].at)) next = [id, t];
      if (!next) break;
      const [id, t] = next;
      this.time = t.at;
      if (t.every) t.at += t.every;
      else this.timers.delete(id);
      t.f();
    }
    this.time = end;
  }
  /** How many one-shot timers are waiting. */
  get pendingTimeouts() {
    return [...this.timers.values()].filter((t) => !t.every).length;
  }
}

export class FakeSocket {
  constructor(url) {
    this.url = url;
    this.readyState = 0; // CONNECTING
    this.sent = [];
    this.closedWith = null;
    this.onopen = this.onmessage = this.onclose = null;
  }
  send(data) {
    if (this.readyState !== 1) throw new Error('send on a socket that is not open');
    this.sent.push(JSON.parse(data));
  }
  /** The page closing it: remembered; the close event comes when the test calls serverClose. */
  close(code, reason) {
    this.closedWith = { code, reason };
    this.readyState = 2; // CLOSING
  }
  // ---- what the test does as the network / server ----
  open() {
    this.readyState = 1;
    this.onopen?.();
  }
  receive(msg) {
    this.onmessage?.({ data: typeof msg === 'string' ? msg : JSON.stringify(msg) });
  }
  serverClose(code, reason = '') {
    this.readyState = 3;
    this.onclose?.({ code, reason });
  }
}
