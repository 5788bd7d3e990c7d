// Other people's cursors and selections, drawn in their colour with their name.
// Positions are kept in CodeMirror's UTF-16 offsets and mapped through every change, local or
// remote; a remote change moves its author's own cursor past the text it inserted.
import { StateField, StateEffect, Annotation } from '@codemirror/state';
import { EditorView, Decoration, WidgetType } from '@codemirror/view';

/** Marks transactions that apply someone else's operation; the value is their userId. */
export const remoteChange = Annotation.define();

export const setRemoteCursor = StateEffect.define(); // { userId, name, color, anchor, head }
export const removeRemoteCursor = StateEffect.define(); // userId
export const clearRemoteCursors = StateEffect.define();

class CursorWidget extends WidgetType {
  constructor(userId, name, color) {
    super();
    this.userId = userId;
    this.name = name;
    this.color = color;
  }
  eq(other) {
    return other.userId === this.userId && other.name === this.name && other.color === this.color;
  }
  toDOM() {
    const caret = document.createElement('span');
    caret.className = 'pp-remote-cursor';
    caret.dataset.userId = this.userId;
    caret.style.borderLeftColor = this.color;
    const label = document.createElement('span');
    label.className = 'pp-remote-cursor-label';
    label.textContent = this.name;
    label.style.backgroundColor = this.color;
    caret.appendChild(label);
    return caret;
  }
  ignoreEvent() {
    return true;
  }
}

function clamp(pos, len) {
  return Math.max(0, Math.min(pos, len));
}

export const remoteCursors = StateField.define({
  create: () => new Map(),
  update(cursors, tr) {
    let next = cursors;
    if (tr.docChanged) {
      const author = tr.annotation(remoteChange);
      next = new Map();
      for (const [id, c] of cursors) {
        const assoc = author === id ? 1 : -1;
        next.set(id, { ...c, anchor: tr.changes.mapPos(c.anchor, assoc), head: tr.changes.mapPos(c.head, assoc) });
      }
    }
    for (const e of tr.effects) {
      if (next === cursors) next = new Map(cursors);
      if (e.is(setRemoteCursor)) {
        const len = tr.state.doc.length;
        next.set(e.value.userId, { ...e.value, anchor: clamp(e.value.anchor, len), head: clamp(e.value.head, len) });
      } else if (e.is(removeRemoteCursor)) {
        next.delete(e.value);
      } else if (e.is(clearRemoteCursors)) {
        next.clear();
      }
    }
    return next;
  },
  provide: (field) =>
    EditorView.decorations.from(field, (cursors) => {
      const ranges = [];
      for (const [id, c] of cursors) {
        const from = Math.min(c.anchor, c.head);
        const to = Math.max(c.anchor, c.head);
        if (from < to) {
          ranges.push(
            Decoration.mark({ class: 'pp-remote-selection', attributes: { style: `background-color: ${c.color}33` } }).range(from, to),
          );
        }
        ranges.push(Decoration.widget({ widget: new CursorWidget(id, c.name, c.color), side: 1 }).range(c.head));
      }
      return Decoration.set(ranges, true);
    }),
});
