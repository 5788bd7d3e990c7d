// The History panel's logic (src/history.js) against a fake REST API and a fake clock: loading the
// points, scrubbing (late answers ignored), playback timing at each speed, pausing, errors.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { HistoryApi, Timeline, stepDelay, insertedRanges, MAX_GAP, MIN_STEP } from '../src/history.js';
import { FakeClock } from './fakes.js';

const settle = () => new Promise((resolve) => setImmediate(resolve));

const at = (s) => new Date(Date.UTC(2025, 0, 1, 12, 0, 0) + s * 1000).toISOString();

/** A room whose revision n has the text TEXTS[n]; points at the given revisions and seconds. */
const TEXTS = ['', 'a', 'a日', 'a日🦀', 'a日🦀 done', 'x日🦀 done!'];
const POINTS = [
  { revision: 1, committedAt: at(0), authors: ['Alice'] },
  { revision: 2, committedAt: at(0.5), authors: ['Bob'] },
  { revision: 3, committedAt: at(30), authors: ['Alice', 'Bob'] },
  { revision: 5, committedAt: at(31), authors: ['Carol'] },
];

function fakeApi({ defer = false } = {}) {
  const calls = [];
  const waiting = [];
  const api = {
    calls,
    waiting,
    points: async (buckets) => {
      calls.push(['points', buckets]);
      return { head: 5, points: POINTS };
    },
    revision(n) {
      calls.push(['revision', n]);
      if (n >= TEXTS.length) return Promise.reject(new Error('revision_not_found'));
      const answer = { roomId: 'r', revision: n, code: TEXTS[n], language: 'python' };
      if (!defer) return Promise.resolve(answer);
      return new Promise((resolve) => waiting.push({ n, resolve: () => resolve(answer) }));
    },
  };
  return api;
}

function timeline(options = {}) {
  const clock = new FakeClock();
  const api = options.api || fakeApi(options);
  const views = [];
  const t = new Timeline({ api, timers: clock, onChange: (v) => views.push(v), buckets: 100 });
  const shown = () => views.filter((v) => !v.loading && v.text !== null).map((v) => v.point.revision);
  return { clock, api, views, t, shown, last: () => views.at(-1) };
}

test('stepDelay: the real pace divided by the speed, long pauses shortened', () => {
  const p = (s) => ({ committedAt: at(s) });
  assert.equal(stepDelay(p(0), p(1), 1), 1000);
  assert.equal(stepDelay(p(0), p(1), 4), 250);
  assert.equal(stepDelay(p(0), p(600), 1), MAX_GAP, 'ten minutes of silence plays as MAX_GAP');
  assert.equal(stepDelay(p(0), p(600), 2), MAX_GAP / 2);
  assert.equal(stepDelay(p(0), p(0.001), 16), MIN_STEP);
  assert.equal(stepDelay(p(5), p(0), 1), MIN_STEP, 'a clock going backwards does not stall');
  assert.equal(stepDelay({ committedAt: 'soon' }, p(0), 1), MAX_GAP);
});

test('insertedRanges: what was written since the previous point, in code points', () => {
  assert.deepEqual(insertedRanges('a日🦀', 'a日X🦀Y'), [[2, 3], [4, 5]]);
  assert.deepEqual(insertedRanges('👍🏽 中文', '👍🏽 한국어 中文!'), [[3, 7], [9, 10]]);
  assert.deepEqual(insertedRanges('abc', 'ac'), []);
  assert.deepEqual(insertedRanges(null, 'abc'), []);
});

test('open shows the latest point, after the room as created (revision 0); select shows a point', async () => {
  const { t, api, last } = timeline();
  await t.open();
  assert.deepEqual(api.calls[0], ['points', 100]);
  let v = last();
  assert.deepEqual(v.points.map((p) => p.revision), [0, 1, 2, 3, 5], 'revision 0 comes first');
  assert.equal(v.index, 4);
  assert.equal(v.point.revision, 5);
  assert.equal(v.text, TEXTS[5]);
  assert.equal(v.previous, TEXTS[3]);
  assert.equal(v.language, 'python');
  assert.deepEqual(v.point.authors, ['Carol']);
  assert.equal(v.loading, false);
  await t.select(2);
  v = last();
  assert.equal(v.point.revision, 2);
  assert.equal(v.text, 'a日');
  assert.equal(v.previous, 'a');
  await t.select(0);
  assert.equal(last().point.revision, 0);
  assert.equal(last().text, '');
  assert.equal(last().previous, null, 'the first point has nothing before it');
  await t.select(99);
  assert.equal(last().index, 4, 'clamped');
});

test('scrubbing: an answer that comes after a newer choice is ignored', async () => {
  const { t, api, last } = timeline({ defer: true });
  const opening = t.open();
  await settle();
  api.waiting.splice(0).forEach((w) => w.resolve());
  await opening;
  t.select(1);
  t.select(3);
  const w = api.waiting.splice(0);
  const of = (n) => w.find((x) => x.n === n);
  of(3).resolve(); // revision 3 (point 3) answers first
  of(2).resolve();
  await settle();
  assert.equal(last().index, 3);
  assert.equal(last().text, TEXTS[3]);
  of(1).resolve(); // point 1's late answer
  of(0).resolve();
  await settle();
  assert.equal(last().index, 3);
  assert.equal(last().text, TEXTS[3], 'the late answer does not replace the newer choice');
});

test('playback from the end starts over and follows the session pace at the chosen speed', async () => {
  const { t, clock, last, shown } = timeline();
  await t.open();
  t.setSpeed(2);
  await t.play();
  assert.equal(last().playing, true);
  assert.equal(last().point.revision, 0, 'at the end, play starts from the room as created');
  // Revision 0 has no time: MAX_GAP, halved.
  clock.advance(MAX_GAP / 2);
  await settle();
  assert.equal(last().point.revision, 1);
  // Point 1 -> 2 took 0.5 s: 250 ms at 2x.
  clock.advance(249);
  await settle();
  assert.equal(last().point.revision, 1);
  clock.advance(1);
  await settle();
  assert.equal(last().point.revision, 2);
  // 2 -> 3 took 29.5 s: shortened to MAX_GAP, halved.
  clock.advance(MAX_GAP / 2 - 1);
  await settle();
  assert.equal(last().point.revision, 2);
  clock.advance(1);
  await settle();
  assert.equal(last().point.revision, 3);
  t.setSpeed(16); // takes effect from the next step: 3 -> 5 is already scheduled at 2x (500 ms)
  clock.advance(500);
  await settle();
  assert.equal(last().point.revision, 5);
  assert.equal(last().playing, false, 'stops at the latest point');
  assert.deepEqual(shown().filter((r, i, all) => r !== all[i - 1]), [5, 0, 1, 2, 3, 5]);
  assert.equal(clock.pendingTimeouts, 0);
});

test('pause stops playback; scrubbing while playing pauses it', async () => {
  const { t, clock, last } = timeline();
  await t.open();
  await t.select(1);
  await t.play();
  assert.equal(last().point.revision, 1, 'play from a chosen point starts there');
  t.pause();
  assert.equal(last().playing, false);
  clock.advance(60000);
  await settle();
  assert.equal(last().point.revision, 1);
  await t.play();
  clock.advance(500);
  await settle();
  assert.equal(last().point.revision, 2);
  await t.select(1);
  assert.equal(last().playing, false);
  clock.advance(60000);
  await settle();
  assert.equal(last().point.revision, 1);
});

test('a revision that cannot be read stops playback with a message', async () => {
  const api = fakeApi();
  const { t, clock, last } = timeline({ api: { ...api, points: async () => ({ head: 9, points: [...POINTS, { revision: 9, committedAt: at(32), authors: ['Dan'] }] }) } });
  await t.open();
  assert.match(last().error, /revision 9/);
  await t.select(4);
  assert.equal(last().error, null);
  await t.play();
  clock.advance(MAX_GAP);
  await settle();
  assert.equal(last().playing, false);
  assert.match(last().error, /Could not load revision 9: revision_not_found/);
});

test('a room without history points shows nothing and does not play', async () => {
  const { t, last } = timeline({ api: { points: async () => ({ head: 0, points: [] }), revision: async () => assert.fail() } });
  await t.open();
  assert.equal(last().point, null);
  await t.play();
  assert.equal(last().playing, false);
});

test('HistoryApi: the contract paths, a cache of texts, and the server message on errors', async () => {
  const requests = [];
  const fetchFn = async (url) => {
    requests.push(url);
    if (url.endsWith('/revisions/7')) return { ok: false, status: 404, json: async () => ({ error: 'revision_not_found', message: 'no revision 7' }) };
    if (url.includes('/revisions/')) return { ok: true, status: 200, json: async () => ({ revision: Number(url.split('/').pop()), code: '日🦀', language: 'rust' }) };
    if (url.includes('/history')) return { ok: true, status: 200, json: async () => ({ head: 3, points: [] }) };
    return { ok: false, status: 500, json: async () => { throw new Error('not json'); } };
  };
  const api = new HistoryApi('0b5c-room', fetchFn);
  assert.deepEqual(await api.points(50), { head: 3, points: [] });
  assert.equal((await api.revision(2)).code, '日🦀');
  await api.revision(2);
  assert.deepEqual(requests, ['/api/rooms/0b5c-room/history?buckets=50', '/api/rooms/0b5c-room/revisions/2']);
  await assert.rejects(api.revision(7), /no revision 7/);
  await assert.rejects(api.revision(7), /no revision 7/);
  assert.equal(requests.filter((u) => u.endsWith('/7')).length, 2, 'failures are not cached');
  await assert.rejects(api.get('/nothing'), /HTTP 500/);
});
