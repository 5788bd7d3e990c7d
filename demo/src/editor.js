// CodeMirror 6, wired to the protocol. CodeMirror counts UTF-16 code units; the protocol counts
// code points. Every conversion happens here, at the edge.
import {
  EditorView, Decoration, keymap, lineNumbers, highlightActiveLineGutter, highlightSpecialChars, drawSelection, dropCursor,
  rectangularSelection, highlightActiveLine,
} from '@codemirror/view';
import { EditorState, Compartment, Transaction, StateEffect, StateField } from '@codemirror/state';
import { history, defaultKeymap, historyKeymap, indentWithTab, isolateHistory } from '@codemirror/commands';
import {
  foldGutter, indentOnInput, syntaxHighlighting, defaultHighlightStyle, bracketMatching, foldKeymap,
} from '@codemirror/language';
import { highlightSelectionMatches, searchKeymap } from '@codemirror/search';
import { autocompletion, closeBrackets, closeBracketsKeymap, completionKeymap } from '@codemirror/autocomplete';
import { TextOperation, cpLength, utf16Offset } from './ot.js';
import { languageExtension } from './languages.js';
import { remoteCursors, remoteChange, setRemoteCursor, removeRemoteCursor, clearRemoteCursors } from './cursors.js';

const isHigh = (c) => c >= 0xd800 && c <= 0xdbff;
const isLow = (c) => c >= 0xdc00 && c <= 0xdfff;

/** Whether UTF-16 offset `i` falls between the two halves of a surrogate pair. */
function splitsPair(text, i) {
  return i > 0 && i < text.length && isHigh(text.charCodeAt(i - 1)) && isLow(text.charCodeAt(i));
}

/**
 * A CodeMirror change set (UTF-16, on `oldText`) as a protocol operation (code points).
 * `newText()` gives the text after the change, needed only in the rare fallback.
 */
export function changesToOperation(changes, oldText, newText) {
  const op = new TextOperation();
  let at = 0;
  let clean = true;
  changes.iterChanges((fromA, toA, _fromB, _toB, inserted) => {
    if (splitsPair(oldText, fromA) || splitsPair(oldText, toA)) clean = false;
    op.retain(cpLength(oldText.slice(at, fromA)));
    op.delete(cpLength(oldText.slice(fromA, toA)));
    op.insert(inserted.toString());
    at = toA;
  });
  op.retain(cpLength(oldText.slice(at)));
  // A change that cuts a surrogate pair cannot be said in code points: describe the result.
  return clean ? op : TextOperation.diff(oldText, newText());
}

/** A protocol operation as CodeMirror change specs on `text`. */
export function operationToChanges(op, text) {
  if (op.baseLength !== cpLength(text)) {
    throw new Error(`operation for ${op.baseLength} code points, document has ${cpLength(text)}`);
  }
  const changes = [];
  let at = 0;
  for (const o of op.ops) {
    if (typeof o === 'string') {
      changes.push({ from: at, insert: o });
    } else if (o > 0) {
      at = utf16Offset(text, o, at);
    } else {
      const to = utf16Offset(text, -o, at);
      const last = changes[changes.length - 1];
      if (last && last.from === at && last.to === undefined) last.to = to;
      else changes.push({ from: at, to });
      at = to;
    }
  }
  return changes;
}

export function createEditor(parent, { onLocalOperation, onSelection, completionSource, readOnly = true }) {
  const language = new Compartment();
  const editable = new Compartment();
  const theme = EditorView.theme({
    '&': { height: '100%' },
    '.cm-scroller': { fontFamily: 'ui-monospace, SFMono-Regular, Menlo, Consolas, monospace', lineHeight: '1.5' },
    '.cm-content': { paddingTop: '16px' },
  });
  const listener = EditorView.updateListener.of((update) => {
    for (const tr of update.transactions) {
      if (tr.docChanged && tr.annotation(remoteChange) === undefined) {
        onLocalOperation(changesToOperation(tr.changes, tr.startState.doc.toString(), () => tr.newDoc.toString()));
      }
    }
    if (update.selectionSet || update.docChanged || update.focusChanged) onSelection();
  });
  const view = new EditorView({
    parent,
    state: EditorState.create({
      doc: '',
      extensions: [
        // codemirror's basicSetup, without the lint keymap (no linter here).
        lineNumbers(),
        highlightActiveLineGutter(),
        highlightSpecialChars(),
        history(),
        foldGutter(),
        drawSelection(),
        dropCursor(),
        EditorState.allowMultipleSelections.of(true),
        indentOnInput(),
        syntaxHighlighting(defaultHighlightStyle, { fallback: true }),
        bracketMatching(),
        closeBrackets(),
        autocompletion({ override: [completionSource], activateOnTypingDelay: 0 }),
        rectangularSelection(),
        highlightActiveLine(),
        highlightSelectionMatches(),
        keymap.of([
          ...closeBracketsKeymap,
          ...defaultKeymap,
          ...searchKeymap,
          ...historyKeymap,
          ...foldKeymap,
          ...completionKeymap,
          indentWithTab,
        ]),
        language.of([]),
        editable.of([EditorView.editable.of(!readOnly), EditorState.readOnly.of(readOnly)]),
        remoteCursors,
        theme,
        listener,
      ],
    }),
  });

  const text = () => view.state.doc.toString();

  return {
    view,
    text,
    /** Replaces the whole document (first load): not undoable, no local operation. */
    reset(code) {
      view.dispatch({
        changes: { from: 0, to: view.state.doc.length, insert: code },
        selection: { anchor: 0 },
        annotations: [remoteChange.of(null), Transaction.addToHistory.of(false)],
        effects: clearRemoteCursors.of(null),
      });
    },
    /** Applies an operation from the server (code points) to the document. */
    apply(op, { userId = null } = {}) {
      if (op.isNoop()) return;
      view.dispatch({
        changes: operationToChanges(op, text()),
        annotations: [remoteChange.of(userId), Transaction.addToHistory.of(false)],
      });
    },
    /**
     * Makes the document `newText` by a local edit (the smallest difference, as if typed): it
     * goes to the server as an ordinary operation and can be undone. Used by "Restore this
     * version".
     */
    replaceText(newText) {
      const op = TextOperation.diff(text(), newText);
      if (op.isNoop()) return;
      view.dispatch({
        changes: operationToChanges(op, text()),
        userEvent: 'input.restore',
        annotations: isolateHistory.of('full'), // one undo step of its own
        scrollIntoView: true,
      });
    },
    setLanguage(name) {
      view.dispatch({ effects: language.reconfigure(languageExtension(name)) });
    },
    setReadOnly(ro) {
      view.dispatch({ effects: editable.reconfigure([EditorView.editable.of(!ro), EditorState.readOnly.of(ro)]) });
    },
    /** The main selection in code points. */
    selection() {
      const t = text();
      const { anchor, head } = view.state.selection.main;
      return { anchor: cpLength(t.slice(0, anchor)), head: cpLength(t.slice(0, head)) };
    },
    /** Places the cursor at a code point position (used by tests). */
    setCursor(anchor, head = anchor) {
      const t = text();
      view.dispatch({ selection: { anchor: utf16Offset(t, anchor), head: utf16Offset(t, head) } });
      view.focus();
    },
    showRemoteCursor(user, anchor, head) {
      const t = text();
      view.dispatch({
        effects: setRemoteCursor.of({ ...user, anchor: utf16Offset(t, anchor), head: utf16Offset(t, head) }),
      });
    },
    removeRemoteCursor(userId) {
      view.dispatch({ effects: removeRemoteCursor.of(userId) });
    },
    clearRemoteCursors() {
      view.dispatch({ effects: clearRemoteCursors.of(null) });
    },
  };
}

const setMarks = StateEffect.define();
const addedMark = Decoration.mark({ class: 'pp-history-added' });
const marks = StateField.define({
  create: () => Decoration.none,
  update(value, tr) {
    value = value.map(tr.changes);
    for (const e of tr.effects) if (e.is(setMarks)) value = e.value;
    return value;
  },
  provide: (f) => EditorView.decorations.from(f),
});

/**
 * A read-only view of an old revision (the History panel): highlighted like the editor, with the
 * text written since the previous point marked.
 */
export function createViewer(parent) {
  const language = new Compartment();
  const view = new EditorView({
    parent,
    state: EditorState.create({
      doc: '',
      extensions: [
        lineNumbers(),
        highlightSpecialChars(),
        drawSelection(),
        syntaxHighlighting(defaultHighlightStyle, { fallback: true }),
        EditorState.readOnly.of(true),
        EditorView.editable.of(false),
        language.of([]),
        marks,
        EditorView.theme({
          '&': { height: '100%' },
          '.cm-scroller': { fontFamily: 'ui-monospace, SFMono-Regular, Menlo, Consolas, monospace', lineHeight: '1.5' },
          '.cm-content': { paddingTop: '16px' },
        }),
      ],
    }),
  });
  let shownLanguage = null;
  return {
    view,
    text: () => view.state.doc.toString(),
    /** Shows `code`, with `ranges` ([from, to] in code points) marked as newly written. */
    show(code, languageName, ranges = []) {
      const effects = [];
      if (languageName !== shownLanguage) {
        shownLanguage = languageName;
        effects.push(language.reconfigure(languageExtension(languageName)));
      }
      const decorations = [];
      let cp = 0;
      let unit = 0;
      for (const [from, to] of ranges) {
        const a = utf16Offset(code, from - cp, unit);
        const b = utf16Offset(code, to - from, a);
        if (b > a) decorations.push(addedMark.range(a, b));
        cp = to;
        unit = b;
      }
      effects.push(setMarks.of(Decoration.set(decorations)));
      if (decorations.length) effects.push(EditorView.scrollIntoView(decorations[0].from, { y: 'center' }));
      if (code !== view.state.doc.toString()) view.dispatch({ changes: { from: 0, to: view.state.doc.length, insert: code } });
      view.dispatch({ effects });
    },
  };
}
