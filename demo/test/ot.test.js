// Unit and property tests of the client's TextOperation: `npm test` in demo/.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { TextOperation, cpLength, utf16Offset } from '../src/ot.js';

const ALPHABET = ['a', 'b', 'c', ' ', '\n', 'é', '日', '本', '🦀', '👍🏽', 'e\u0301'];

function rng(seed) {
  let s = seed >>> 0;
  return () => {
    s = (s * 1664525 + 1013904223) >>> 0;
    return s / 2 ** 32;
  };
}

function randomString(r, max) {
  let s = '';
  const n = Math.floor(r() * max);
  for (let i = 0; i < n; i++) s += ALPHABET[Math.floor(r() * ALPHABET.length)];
  return s;
}

function randomOp(r, doc) {
  const op = new TextOperation();
  let left = cpLength(doc);
  while (left > 0) {
    const n = 1 + Math.floor(r() * Math.min(left, 5));
    const p = r();
    if (p < 0.2) op.insert(randomString(r, 4));
    if (p < 0.5) op.retain(n);
    else op.delete(n);
    left -= n;
  }
  if (r() < 0.3) op.insert(randomString(r, 4));
  return op;
}

test('code point helpers', () => {
  assert.equal(cpLength('a🦀b'), 3);
  assert.equal(cpLength('日本語'), 3);
  assert.equal(utf16Offset('a🦀b', 2), 3);
  assert.equal(cpLength('\ud83e'), 1, 'a lone surrogate counts as one');
});

test('apply counts code points', () => {
  const o = TextOperation.fromJSON([2, '🦀', -1, 1]);
  assert.equal(o.apply('日本語x'), '日本🦀x');
  assert.deepEqual(TextOperation.fromJSON([5, 'abc', -2, 10]).baseLength, 17);
  assert.throws(() => TextOperation.fromJSON([3]).apply('ab'));
});

test('normalises insert before delete', () => {
  const o = new TextOperation().delete(2).insert('x');
  assert.deepEqual(o.toJSON(), ['x', -2]);
});

test('tie rule: the first argument of transform goes first', () => {
  const a = TextOperation.fromJSON([1, 'A']);
  const b = TextOperation.fromJSON([1, 'B']);
  const [a2, b2] = TextOperation.transform(a, b);
  assert.equal(b2.apply(a.apply('x')), 'xAB');
  assert.equal(a2.apply(b.apply('x')), 'xAB');
});

test('compose and transform laws (random, with astral characters)', () => {
  const r = rng(42);
  for (let i = 0; i < 3000; i++) {
    const doc = randomString(r, 12);
    const a = randomOp(r, doc);
    const b = randomOp(r, doc);
    const afterA = a.apply(doc);
    const c = randomOp(r, afterA);
    assert.equal(a.compose(c).apply(doc), c.apply(afterA));
    const [a2, b2] = TextOperation.transform(a, b);
    assert.equal(b2.apply(afterA), a2.apply(b.apply(doc)));
  }
});

test('diff produces the target, minimal where cheap', () => {
  const r = rng(7);
  for (let i = 0; i < 2000; i++) {
    const x = randomString(r, 20);
    const y = randomString(r, 20);
    assert.equal(TextOperation.diff(x, y).apply(x), y);
  }
  assert.deepEqual(TextOperation.diff('hello world', 'hello brave world').toJSON(), [6, 'brave ', 5]);
  assert.deepEqual(TextOperation.diff('a1b2c', 'aXbYc').toJSON(), [1, 'X', -1, 1, 'Y', -1, 1]);
  assert.deepEqual(TextOperation.diff('', '').toJSON(), []);
  assert.deepEqual(TextOperation.diff('abc', 'abc').toJSON(), [3]);
});

test('diff counts code points and never splits a surrogate pair', () => {
  // 🦀 and 🦁 share their high surrogate; 👍 and 👍🏽 share a prefix of code points.
  assert.deepEqual(TextOperation.diff('a🦀b', 'a🦁b').toJSON(), [1, '🦁', -1, 1]);
  assert.deepEqual(TextOperation.diff('日本語👍', '日本語👍🏽!').toJSON(), [4, '🏽!']);
  assert.deepEqual(TextOperation.diff('中文🦀한국어', '中🦀한x국어').toJSON(), [1, -1, 2, 'x', 2]);
  const r = rng(11);
  for (let i = 0; i < 2000; i++) {
    const x = randomString(r, 30);
    const y = randomString(r, 30);
    const op = TextOperation.diff(x, y);
    assert.equal(op.baseLength, cpLength(x));
    assert.equal(op.apply(x), y);
  }
});

test('diff of a large document with scattered edits is fine-grained and quick', () => {
  const r = rng(3);
  const lines = [];
  for (let i = 0; i < 5000; i++) lines.push(`line ${i} 日本 ${randomString(r, 10)}`);
  const x = lines.join('\n');
  for (let i = 0; i < 50; i++) lines[Math.floor(r() * lines.length)] += ' 🦀edit';
  const y = lines.join('\n');
  const started = Date.now();
  const op = TextOperation.diff(x, y);
  assert.ok(Date.now() - started < 2000, 'diff took too long');
  assert.equal(op.apply(x), y);
  assert.ok(op.ops.length <= 4 * 50 + 1, `${op.ops.length} runs for 50 edits`);
});

test('line mode (large texts) gives the same texts, with every line kind', () => {
  const r = rng(12);
  for (let i = 0; i < 1000; i++) {
    const x = randomString(r, 60);
    const y = randomString(r, 60);
    const op = TextOperation.diff(x, y, 0);
    assert.equal(op.apply(x), y);
  }
  assert.deepEqual(TextOperation.diff('a\nb🦀\nc\n', 'a\nb🦁\nc\nd', 0).toJSON(), [3, '🦁', -1, 3, 'd']);
});

test('replacement: one change between the common prefix and suffix', () => {
  assert.deepEqual(TextOperation.replacement('a🦀b日', 'a🦁🦁b日').toJSON(), [1, '🦁🦁', -1, 2]);
  assert.deepEqual(TextOperation.replacement('', 'x').toJSON(), ['x']);
});

test('transformIndex and invertIndex', () => {
  const o = TextOperation.fromJSON([2, 'ab', -2, 3]);
  assert.equal(o.transformIndex(1), 1);
  assert.equal(o.transformIndex(2), 2);
  assert.equal(o.transformIndex(2, true), 4);
  assert.equal(o.transformIndex(3), 4);
  assert.equal(o.transformIndex(7), 7);
  assert.equal(o.invertIndex(0), 0);
  assert.equal(o.invertIndex(3), 2);
  assert.equal(o.invertIndex(4), 2);
  assert.equal(o.invertIndex(5), 5);
  assert.equal(o.invertIndex(7), 7);
});
