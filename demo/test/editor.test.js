// The UTF-16 <-> code point conversions at the CodeMirror edge.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { ChangeSet, Text } from '@codemirror/state';
import { changesToOperation, operationToChanges } from '../src/editor.js';
import { TextOperation } from '../src/ot.js';

function roundTrip(doc, specs) {
  const changes = ChangeSet.of(specs, doc.length);
  const after = changes.apply(Text.of(doc.split('\n'))).toString();
  const op = changesToOperation(changes, doc, () => after);
  assert.equal(op.apply(doc), after, 'the operation does what CodeMirror did');
  const back = ChangeSet.of(operationToChanges(op, doc), doc.length).apply(Text.of(doc.split('\n'))).toString();
  assert.equal(back, after, 'and turns back into the same CodeMirror change');
  return op.toJSON();
}

test('local changes become code point operations', () => {
  // "a🦀b日": a=0, 🦀=1..3 (UTF-16), b=3, 日=4; in code points a=0 🦀=1 b=2 日=3.
  assert.deepEqual(roundTrip('a🦀b日', [{ from: 3, insert: 'X' }]), [2, 'X', 2]);
  assert.deepEqual(roundTrip('a🦀b日', [{ from: 1, to: 3 }]), [1, -1, 2]);
  assert.deepEqual(roundTrip('a🦀b日', [{ from: 0, insert: '👍🏽' }, { from: 4, to: 5, insert: '本' }]), ['👍🏽', 3, '本', -1]);
  assert.deepEqual(roundTrip('', [{ from: 0, insert: '🎉' }]), ['🎉']);
});

test('a change that splits a surrogate pair falls back to a diff', () => {
  // Deleting only the low half of 🦀 and inserting another low half: net effect 🦀 -> 🦁.
  const doc = 'a🦀b';
  const changes = ChangeSet.of([{ from: 2, to: 3, insert: '\udd81' }], doc.length);
  const after = changes.apply(Text.of([doc])).toString();
  assert.equal(after, 'a🦁b');
  const op = changesToOperation(changes, doc, () => after);
  assert.equal(op.apply(doc), after);
  assert.deepEqual(op.toJSON(), [1, '🦁', -1, 1]);
});

test('server operations become UTF-16 changes, insert and delete at one place merged', () => {
  const doc = '日🦀x';
  const op = TextOperation.fromJSON([1, 'ab', -1, 1]);
  assert.deepEqual(operationToChanges(op, doc), [{ from: 1, insert: 'ab', to: 3 }]);
  assert.throws(() => operationToChanges(TextOperation.fromJSON([5]), doc));
});
