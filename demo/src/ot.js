// Text operations in the ot.js form, counting Unicode code points (not UTF-16 units).
//
// An operation walks the whole document it applies to. On the wire it is an array where a
// positive integer n retains n code points, a string inserts it and a negative integer -n deletes
// n code points. The algorithms are those of ot.js (Tim Baumann, MIT), with every length and
// offset measured in code points, the unit of Pairpad's protocol.

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
   * The operation turning `oldText` into `newText`: a code-point Myers diff between the common
   * prefix and suffix, or one replacement when the texts differ too much for that to be cheap.
   */
  static diff(oldText, newText, maxEdits = 500) {
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
    const op = new TextOperation().retain(start);
    const script = myers(a, b, start, endA, start, endB, maxEdits);
    if (script) {
      for (const [kind, value] of script) {
        if (kind === '=') op.retain(value);
        else if (kind === '-') op.delete(value);
        else op.insert(value);
      }
    } else {
      op.delete(endA - start).insert(b.slice(start, endB).join(''));
    }
    return op.retain(a.length - endA);
  }
}

/** Myers' O(ND) diff of a[a0..a1] and b[b0..b1]; null when more than maxEdits edits are needed. */
function myers(a, b, a0, a1, b0, b1, maxEdits) {
  const n = a1 - a0;
  const m = b1 - b0;
  if (n === 0 && m === 0) return [];
  const max = Math.min(n + m, maxEdits);
  const offset = max + 1;
  let v = new Int32Array(2 * max + 3);
  const trace = [];
  for (let d = 0; d <= max; d++) {
    trace.push(v.slice());
    for (let k = -d; k <= d; k += 2) {
      let x;
      if (k === -d || (k !== d && v[offset + k - 1] < v[offset + k + 1])) x = v[offset + k + 1];
      else x = v[offset + k - 1] + 1;
      let y = x - k;
      while (x < n && y < m && a[a0 + x] === b[b0 + y]) {
        x++;
        y++;
      }
      v[offset + k] = x;
      if (x >= n && y >= m) return backtrack(trace, v, d, offset, a, b, a0, b0, n, m);
    }
  }
  return null;
}

function backtrack(trace, vLast, dEnd, offset, a, b, a0, b0, n, m) {
  const steps = []; // reversed list of ['=', 1] | ['-', 1] | ['+', char]
  let x = n;
  let y = m;
  for (let d = dEnd; d > 0; d--) {
    const v = trace[d];
    const k = x - y;
    let prevK;
    if (k === -d || (k !== d && v[offset + k - 1] < v[offset + k + 1])) prevK = k + 1;
    else prevK = k - 1;
    const prevX = v[offset + prevK];
    const prevY = prevX - prevK;
    while (x > prevX && y > prevY) {
      steps.push(['=']);
      x--;
      y--;
    }
    if (x === prevX) steps.push(['+', b[b0 + y - 1]]);
    else steps.push(['-']);
    x = prevX;
    y = prevY;
  }
  while (x > 0 && y > 0) {
    steps.push(['=']);
    x--;
    y--;
  }
  steps.reverse();
  const out = [];
  for (const s of steps) {
    const last = out[out.length - 1];
    if (last && last[0] === s[0]) {
      if (s[0] === '+') last[1] += s[1];
      else last[1]++;
    } else {
      out.push(s[0] === '+' ? ['+', s[1]] : [s[0], 1]);
    }
  }
  return out;
}
