// The History panel's logic, apart from the DOM: the room's revisions as points of a timeslider
// (`GET /api/rooms/{id}/history?buckets=B`), the text at a point (`GET /api/rooms/{id}/revisions/{n}`,
// cached), scrubbing, and playback at a chosen speed. What to show goes to `onChange(view)`; main.js
// draws it. demo/test/history.test.js drives it with a fake API and a fake clock.

import { TextOperation, cpLength } from './ot.js';

/** Playback speeds offered, as multiples of the session's real pace. */
export const SPEEDS = [1, 2, 4, 8, 16];
/** A pause in the session longer than this (ms) plays as this long (before the speed applies). */
export const MAX_GAP = 2000;
/** The shortest time a point stays on screen during playback (ms). */
export const MIN_STEP = 60;
/** Points asked for: the slider's resolution. */
export const BUCKETS = 500;
/** Texts kept in the cache (each may be large). */
const CACHE_SIZE = 64;
/** Texts longer than this (UTF-16 units, both together) are shown without the changes marked. */
const MARK_LIMIT = 400000;

const realTimers = {
  setTimeout: (f, ms) => setTimeout(f, ms),
  clearTimeout: (t) => clearTimeout(t),
};

/**
 * How long point `from` stays on screen before `to` during playback at `speed`: the real time
 * between their commits, with long pauses shortened to MAX_GAP, divided by the speed.
 */
export function stepDelay(from, to, speed) {
  const real = Date.parse(to.committedAt) - Date.parse(from.committedAt);
  const gap = Number.isFinite(real) ? Math.min(Math.max(real, 0), MAX_GAP) : MAX_GAP;
  return Math.max(MIN_STEP, gap / speed);
}

/**
 * The parts of `text` that are not in `previous`, as [from, to] code point ranges of `text`
 * (what the point's authors wrote since the previous point). Empty when there is no previous
 * text or the texts are too large to compare quickly.
 */
export function insertedRanges(previous, text) {
  if (previous === null || previous === undefined || previous.length + text.length > MARK_LIMIT) return [];
  const ranges = [];
  let at = 0;
  for (const o of TextOperation.diff(previous, text).ops) {
    if (typeof o === 'string') {
      const n = cpLength(o);
      ranges.push([at, at + n]);
      at += n;
    } else if (o > 0) {
      at += o;
    }
  }
  return ranges;
}

class HttpError extends Error {}

/**
 * The REST calls of the panel. `fetch` is the browser's (or a fake). Texts are cached by revision:
 * a revision's text never changes.
 */
export class HistoryApi {
  constructor(roomId, fetchFn = (...args) => globalThis.fetch(...args)) {
    this.base = `/api/rooms/${encodeURIComponent(roomId)}`;
    this.fetch = fetchFn;
    this.cache = new Map(); // revision -> Promise<{ revision, code, language }>
  }

  async get(path) {
    const res = await this.fetch(this.base + path, { cache: 'no-store' });
    let body = null;
    try {
      body = await res.json();
    } catch {
      /* not JSON */
    }
    if (!res.ok) throw new HttpError((body && (body.message || body.error)) || `HTTP ${res.status}`);
    return body;
  }

  /** `{ head, points: [{ revision, committedAt, authors }] }`. */
  points(buckets = BUCKETS) {
    return this.get(`/history?buckets=${buckets}`);
  }

  /** `{ revision, code, language }`: the text exactly as it was at `revision`. */
  revision(n) {
    let p = this.cache.get(n);
    if (p) {
      this.cache.delete(n); // most recently used last
      this.cache.set(n, p);
      return p;
    }
    p = this.get(`/revisions/${n}`);
    this.cache.set(n, p);
    p.catch(() => this.cache.get(n) === p && this.cache.delete(n)); // failures are not kept
    while (this.cache.size > CACHE_SIZE) this.cache.delete(this.cache.keys().next().value);
    return p;
  }
}

/**
 * The timeslider: which point is shown, its text, and playback. `onChange(view)` is called with
 * `{ points, index, point, text, language, previous, loading, error, playing, speed }` whenever
 * any of it changes (`text` stays the last shown one while the next loads).
 */
export class Timeline {
  constructor({ api, onChange = () => {}, timers = realTimers, buckets = BUCKETS }) {
    this.api = api;
    this.onChange = onChange;
    this.timers = timers;
    this.buckets = buckets;
    this.points = [];
    this.head = 0;
    this.index = -1;
    this.text = null;
    this.previous = null; // the text at the point before, when known (to mark what changed)
    this.language = null;
    this.loading = false;
    this.error = null;
    this.playing = false;
    this.speed = SPEEDS[1];
    this.seq = 0; // the latest request: older answers are ignored
    this.timer = 0;
  }

  view() {
    return {
      points: this.points,
      index: this.index,
      point: this.points[this.index] || null,
      text: this.text,
      language: this.language,
      previous: this.previous,
      loading: this.loading,
      error: this.error,
      playing: this.playing,
      speed: this.speed,
    };
  }

  changed() {
    this.onChange(this.view());
  }

  /** Loads the points and shows the latest. Resolves once its text is shown (or failed). */
  async open() {
    this.pause();
    const seq = ++this.seq;
    this.loading = true;
    this.error = null;
    this.changed();
    let answer;
    try {
      answer = await this.api.points(this.buckets);
    } catch (e) {
      if (seq !== this.seq) return;
      this.loading = false;
      this.error = `Could not load the history: ${e.message}`;
      this.changed();
      return;
    }
    if (seq !== this.seq) return;
    this.points = (answer.points || []).slice().sort((a, b) => a.revision - b.revision);
    this.head = answer.head ?? (this.points.at(-1)?.revision || 0);
    // The server's points end runs of revisions; the room as created (revision 0) comes first.
    if (this.points.length && this.points[0].revision > 0) this.points.unshift({ revision: 0, committedAt: null, authors: [] });
    if (this.points.length === 0) {
      this.loading = false;
      this.changed();
      return;
    }
    await this.show(this.points.length - 1);
  }

  /** Closes the panel: stops playback and forgets pending answers. */
  close() {
    this.pause();
    this.seq++;
    this.loading = false;
  }

  /** The person picked point `index` (the slider): playback stops there. */
  select(index) {
    this.pause();
    return this.show(index);
  }

  /** Shows point `index` once its text (and the previous point's, to mark changes) is loaded. */
  async show(index) {
    index = Math.max(0, Math.min(index, this.points.length - 1));
    const point = this.points[index];
    if (!point) return;
    const seq = ++this.seq;
    this.index = index;
    this.loading = true;
    this.error = null;
    this.changed();
    const before = this.points[index - 1];
    try {
      const [now, prev] = await Promise.all([
        this.api.revision(point.revision),
        before ? this.api.revision(before.revision).catch(() => null) : null,
      ]);
      if (seq !== this.seq) return;
      this.text = now.code;
      this.language = now.language ?? null;
      this.previous = prev ? prev.code : null;
      this.loading = false;
      this.changed();
    } catch (e) {
      if (seq !== this.seq) return;
      this.loading = false;
      this.playing = false;
      this.error = `Could not load revision ${point.revision}: ${e.message}`;
      this.changed();
    }
  }

  setSpeed(speed) {
    this.speed = speed;
    this.changed();
  }

  /** Plays from the shown point (from the start when at the end) to the latest. */
  async play() {
    if (this.playing || this.points.length < 2) return;
    this.playing = true;
    if (this.index >= this.points.length - 1 || this.index < 0) {
      await this.show(0);
      if (!this.playing) return;
    } else {
      this.changed();
    }
    this.api.revision(this.points[this.index + 1].revision).catch(() => {}); // prefetch the next text
    this.schedule();
  }

  pause() {
    this.timers.clearTimeout(this.timer);
    this.timer = 0;
    if (!this.playing) return;
    this.playing = false;
    this.changed();
  }

  schedule() {
    this.timers.clearTimeout(this.timer);
    const next = this.index + 1;
    if (next >= this.points.length) {
      this.playing = false;
      this.changed();
      return;
    }
    const delay = stepDelay(this.points[this.index], this.points[next], this.speed);
    this.timer = this.timers.setTimeout(async () => {
      this.timer = 0;
      if (!this.playing) return;
      await this.show(next);
      if (!this.playing || this.index !== next || this.error) return;
      const after = this.points[next + 1];
      if (after) this.api.revision(after.revision).catch(() => {}); // prefetch the next text
      this.schedule();
    }, delay);
  }
}
