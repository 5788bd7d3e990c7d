// Text operations in the ot.js form, counting Unicode code points (not UTF-16 units).
//
// An operation walks the whole document it applies to. On the wire it is an array where a
// positive integer n retains n code points, a string inserts it and a negative integer -n deletes
// n code points. The algorithms are those of ot.js (Tim Baumann, MIT), with every length and
// offset measured in code points, the unit of Pairpad's protocol. Diffs come from fast-diff.
import fastDiff from 'fast-diff';

/** The number of code points in a JS (UTF-16) string. */
export function cpLength(s) {
  let n = s.length;
  for (let i = 0; i < s.length - 1; i++) {
    const c = s.charCodeAt(i);
    if (c >= 0xd800 && c <= 0xdbff) {
      const d = s.charCodeAt(i + 1);
      if (d >= 0xdc00 && d <= 0xdfff) {
        n--;
        i++;
      }
    }
  }
  return n;
}

/** The UTF-16 offset of code point number `n` in `s`, starting the walk at UTF-16 offset `from`. */
export function utf16Offset(s, n, from = 0) {
  let i = from;
  while (n > 0 && i < s.length) {
    const c = s.charCodeAt(i);
    if (c >= 0xd800 && c <= 0xdbff && i + 1 < s.length) {
      const d = s.charCodeAt(i + 1);
      i += d >= 0xdc00 && d <= 0xdfff ? 2 : 1;
    } else {
      i++;
    }
    n--;
  }
  return i;
}

/** The first `n` code points of `s`. */
function cpSlice(s, start, end) {
  const a = utf16Offset(s, start);
  return end === undefined ? s.slice(a) : s.slice(a, utf16Offset(s, end - start, a));
}

const isRetain = (o) => typeof o === 'number' && o > 0;
const isInsert = (o) => typeof o === 'string';
const isDelete = (o) => typeof o === 'number' && o < 0;

export class TextOperation {
  constructor() {
    /** The runs, in wire form. */
    this.ops = [];
    /** Code points of the document this operation applies to. */
    this.baseLength = 0;
    /** Code points of the document it produces. */
    this.targetLength = 0;
  }

  /** Builds an operation from its wire form, validating and normalising it. */
  static fromJSON(ops) {
    if (!Array.isArray(ops)) throw new Error('an operation is an array');
    const o = new TextOperation();
    for (const c of ops) {
      if (typeof c === 'string') o.insert(c);
      else if (Number.isInteger(c) && c > 0) o.retain(c);
      else if (Number.isInteger(c) && c < 0) o.delete(-c);
      else if (c !== 0) throw new Error('unknown run in an operation: ' + JSON.stringify(c));
    }
    return o;
  }

  toJSON() {
    return this.ops;
  }

  retain(n) {
    if (n === 0) return this;
    if (!(n > 0)) throw new Error('retain expects a positive count');
    this.baseLength += n;
    this.targetLength += n;
    const last = this.ops.length - 1;
    if (last >= 0 && isRetain(this.ops[last])) this.ops[last] += n;
    else this.ops.push(n);
    return this;
  }

  insert(str) {
    if (str === '') return this;
    this.targetLength += cpLength(str);
    const ops = this.ops;
    const l = ops.length;
    if (l > 0 && isInsert(ops[l - 1])) {
      ops[l - 1] += str;
    } else if (l > 0 && isDelete(ops[l - 1])) {
      // An insert next to a delete goes before it, so equal edits have equal forms.
      if (l > 1 && isInsert(ops[l - 2])) {
        ops[l - 2] += str;
      } else {
        ops[l] = ops[l - 1];
        ops[l - 1] = str;
      }
    } else {
      ops.push(str);
    }
    return this;
  }

  delete(n) {
    if (n === 0) return this;
    if (n < 0) n = -n;
    this.baseLength += n;
    const last = this.ops.length - 1;
    if (last >= 0 && isDelete(this.ops[last])) this.ops[last] -= n;
    else this.ops.push(-n);
    return this;
  }

  isNoop() {
    return this.ops.every(isRetain);
  }

  /** Applies the operation to a string. */
  apply(str) {
    if (cpLength(str) !== this.baseLength) {
      throw new Error(`the operation spans ${this.baseLength} code points but the document has ${cpLength(str)}`);
    }
    const out = [];
    let i = 0; // UTF-16 offset in str
    for (const o of this.ops) {
      if (isRetain(o)) {
        const j = utf16Offset(str, o, i);
        out.push(str.slice(i, j));
        i = j;
      } else if (isInsert(o)) {
        out.push(o);
      } else {
        i = utf16Offset(str, -o, i);
      }
    }
    out.push(str.slice(i));
    return out.join('');
  }

  /** The operation with the effect of `this` followed by `other`. */
  compose(other) {
    if (this.targetLength !== other.baseLength) {
      throw new Error("compose: the first operation's target length is not the second's base length");
    }
    const out = new TextOperation();
    const ops1 = this.ops;
    const ops2 = other.ops;
    let i1 = 0;
    let i2 = 0;
    let op1 = ops1[i1++];
    let op2 = ops2[i2++];
    for (;;) {
      if (op1 === undefined && op2 === undefined) break;
      if (isDelete(op1)) {
        out.delete(op1);
        op1 = ops1[i1++];
        continue;
      }
      if (isInsert(op2)) {
        out.insert(op2);
        op2 = ops2[i2++];
        continue;
      }
      if (op1 === undefined) throw new Error('compose: the first operation is too short');
      if (op2 === undefined) throw new Error('compose: the first operation is too long');

      if (isRetain(op1) && isRetain(op2)) {
        if (op1 > op2) {
          out.retain(op2);
          op1 -= op2;
          op2 = ops2[i2++];
        } else if (op1 === op2) {
          out.retain(op1);
          op1 = ops1[i1++];
          op2 = ops2[i2++];
        } else {
          out.retain(op1);
          op2 -= op1;
          op1 = ops1[i1++];
        }
      } else if (isInsert(op1) && isDelete(op2)) {
        const n1 = cpLength(op1);
        if (n1 > -op2) {
          op1 = cpSlice(op1, -op2);
          op2 = ops2[i2++];
        } else if (n1 === -op2) {
          op1 = ops1[i1++];
          op2 = ops2[i2++];
        } else {
          op2 += n1;
          op1 = ops1[i1++];
        }
      } else if (isInsert(op1) && isRetain(op2)) {
        const n1 = cpLength(op1);
        if (n1 > op2) {
          out.insert(cpSlice(op1, 0, op2));
          op1 = cpSlice(op1, op2);
          op2 = ops2[i2++];
        } else if (n1 === op2) {
          out.insert(op1);
          op1 = ops1[i1++];
          op2 = ops2[i2++];
        } else {
          out.insert(op1);
          op2 -= n1;
          op1 = ops1[i1++];
        }
      } else if (isRetain(op1) && isDelete(op2)) {
        if (op1 > -op2) {
          out.delete(op2);
          op1 += op2;
          op2 = ops2[i2++];
        } else if (op1 === -op2) {
          out.delete(op2);
          op1 = ops1[i1++];
          op2 = ops2[i2++];
        } else {
          out.delete(op1);
          op2 += op1;
          op1 = ops1[i1++];
        }
      } else {
        throw new Error('compose: unreachable');
      }
    }
    return out;
  }

  /**
   * Transforms two concurrent operations `a` and `b` on the same document into `[a', b']` with
   * apply(apply(d, a), b') === apply(apply(d, b), a'). When both insert at the same position,
   * `a`'s insert goes first. A client calls transform(pending, received), the server
   * transform(incoming, committed): both put the not-yet-committed insert to the left.
   */
  static transform(a, b) {
    if (a.baseLength !== b.baseLength) {
      throw new Error('transform: concurrent operations must share their base length');
    }
    const aPrime = new TextOperation();
    const bPrime = new TextOperation();
    const ops1 = a.ops;
    const ops2 = b.ops;
    let i1 = 0;
    let i2 = 0;
    let op1 = ops1[i1++];
    let op2 = ops2[i2++];
    for (;;) {
      if (op1 === undefined && op2 === undefined) break;
      if (isInsert(op1)) {
        aPrime.insert(op1);
        bPrime.retain(cpLength(op1));
        op1 = ops1[i1++];
        continue;
      }
      if (isInsert(op2)) {
        aPrime.retain(cpLength(op2));
        bPrime.insert(op2);
        op2 = ops2[i2++];
        continue;
      }
      if (op1 === undefined) throw new Error('transform: the first operation is too short');
      if (op2 === undefined) throw new Error('transform: the first operation is too long');

      let minl;
      if (isRetain(op1) && isRetain(op2)) {
        if (op1 > op2) {
          minl = op2;
          op1 -= op2;
          op2 = ops2[i2++];
        } else if (op1 === op2) {
          minl = op2;
          op1 = ops1[i1++];
          op2 = ops2[i2++];
        } else {
          minl = op1;
          op2 -= op1;
          op1 = ops1[i1++];
        }
        aPrime.retain(minl);
        bPrime.retain(minl);
      } else if (isDelete(op1) && isDelete(op2)) {
        // Both deleted the same text.
        if (-op1 > -op2) {
          op1 -= op2;
          op2 = ops2[i2++];
        } else if (op1 === op2) {
          op1 = ops1[i1++];
          op2 = ops2[i2++];
        } else {
          op2 -= op1;
          op1 = ops1[i1++];
        }
      } else if (isDelete(op1) && isRetain(op2)) {
        if (-op1 > op2) {
          minl = op2;
          op1 += op2;
          op2 = ops2[i2++];
        } else if (-op1 === op2) {
          minl = op2;
          op1 = ops1[i1++];
          op2 = ops2[i2++];
        } else {
          minl = -op1;
          op2 += op1;
          op1 = ops1[i1++];
        }
        aPrime.delete(minl);
      } else if (isRetain(op1) && isDelete(op2)) {
        if (op1 > -op2) {
          minl = -op2;
          op1 += op2;
          op2 = ops2[i2++];
        } else if (op1 === -op2) {
          minl = op1;
          op1 = ops1[i1++];
          op2 = ops2[i2++];
        } else {
          minl = op1;
          op2 += op1;
          op1 = ops1[i1++];
        }
        bPrime.delete(minl);
      } else {
        throw new Error('transform: unreachable');
      }
    }
    return [aPrime, bPrime];
  }

  /**
   * Maps a position in the base document to the target document. A position at an insert point
   * stays before the inserted text unless `afterInserts`.
   */
  transformIndex(index, afterInserts = false) {
    let newIndex = index;
    let pos = 0;
    for (const o of this.ops) {
      if (pos > index || (pos === index && !afterInserts && !isDelete(o))) break;
      if (isRetain(o)) pos += o;
      else if (isInsert(o)) newIndex += cpLength(o);
      else {
        newIndex -= Math.min(-o, index - pos);
        pos += -o;
      }
    }
    return newIndex;
  }

  /**
   * Maps a position in the target document back to the base document. A position inside
   * inserted text maps to where the insert happened.
   */
  invertIndex(index) {
    let base = 0; // position in the base document
    let target = 0; // position in the target document
    for (const o of this.ops) {
      if (target >= index) break;
      if (isRetain(o)) {
        const n = Math.min(o, index - target);
        base += n;
        target += n;
      } else if (isInsert(o)) {
        const n = cpLength(o);
        if (target + n >= index) return base;
        target += n;
      } else {
        base += -o;
      }
    }
    return base + (index - target);
  }

  /**
   * The operation turning `oldText` into `newText`, from fast-diff (diff-match-patch's algorithm:
   * common prefix and suffix, half-match, Myers' bisection). fast-diff works on UTF-16 strings
   * but never splits a surrogate pair, so each piece is counted in code points here. Large texts
   * are first compared line by line, then within each changed block of lines (diff-match-patch's
   * line mode): a character diff of two large texts with many scattered changes takes seconds.
   */
  static diff(oldText, newText, lineModeAbove = LINE_MODE_ABOVE) {
    const op = new TextOperation();
    if (oldText === newText) return op.retain(cpLength(oldText));
    const pieces = oldText.length + newText.length > lineModeAbove ? lineModeDiff(oldText, newText) : fastDiff(oldText, newText);
    for (const [kind, piece] of pieces) {
      if (splitsSurrogates(piece)) return TextOperation.replacement(oldText, newText);
      if (kind === fastDiff.EQUAL) op.retain(cpLength(piece));
      else if (kind === fastDiff.DELETE) op.delete(cpLength(piece));
      else op.insert(piece);
    }
    return op;
  }

  /** The operation turning `oldText` into `newText` as one replacement between their common prefix and suffix. */
  static replacement(oldText, newText) {
    const a = Array.from(oldText);
    const b = Array.from(newText);
    let start = 0;
    while (start < a.length && start < b.length && a[start] === b[start]) start++;
    let endA = a.length;
    let endB = b.length;
    while (endA > start && endB > start && a[endA - 1] === b[endB - 1]) {
      endA--;
      endB--;
    }
    return new TextOperation()
      .retain(start)
      .delete(endA - start)
      .insert(b.slice(start, endB).join(''))
      .retain(a.length - endA);
  }
}

/** Texts longer than this (UTF-16 units, both together) are diffed line by line first. */
export const LINE_MODE_ABOVE = 20000;
/** A changed block of lines bigger than this (product of both sides' lengths) is one replacement. */
const BLOCK_DIFF_LIMIT = 4e7;

/**
 * fast-diff's pieces for two texts, computed on lines first (each distinct line becomes one
 * character), then character by character inside each block of changed lines.
 */
function lineModeDiff(oldText, newText) {
  const ids = new Map();
  const encode = (text) => {
    let out = '';
    let at = 0;
    while (at < text.length) {
      let end = text.indexOf('\n', at);
      end = end < 0 ? text.length : end + 1;
      const line = text.slice(at, end);
      let id = ids.get(line);
      if (id === undefined) {
        // One code point per distinct line, skipping the surrogate range.
        const n = ids.size + 0x100;
        id = String.fromCodePoint(n < 0xd800 ? n : n + 0x800);
        ids.set(line, id);
      }
      out += id;
      at = end;
    }
    return out;
  };
  const a = encode(oldText);
  const b = encode(newText);
  const lines = [...ids.keys()];
  const decode = (chars) => Array.from(chars, (c) => {
    const n = c.codePointAt(0);
    return lines[(n < 0xd800 ? n : n - 0x800) - 0x100];
  }).join('');
  const out = [];
  let deleted = '';
  let inserted = '';
  const flush = () => {
    if (deleted && inserted && deleted.length * inserted.length <= BLOCK_DIFF_LIMIT) {
      out.push(...fastDiff(deleted, inserted));
    } else if (deleted || inserted) {
      if (deleted) out.push([fastDiff.DELETE, deleted]);
      if (inserted) out.push([fastDiff.INSERT, inserted]);
    }
    deleted = inserted = '';
  };
  for (const [kind, chars] of fastDiff(a, b)) {
    if (kind === fastDiff.DELETE) deleted += decode(chars);
    else if (kind === fastDiff.INSERT) inserted += decode(chars);
    else {
      flush();
      out.push([fastDiff.EQUAL, decode(chars)]);
    }
  }
  flush();
  return out;
}

/** Whether a diff piece starts or ends inside a surrogate pair (fast-diff avoids it; checked anyway). */
function splitsSurrogates(piece) {
  const first = piece.charCodeAt(0);
  const last = piece.charCodeAt(piece.length - 1);
  return (first >= 0xdc00 && first <= 0xdfff) || (last >= 0xd800 && last <= 0xdbff);
}
