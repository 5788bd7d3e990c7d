// Completions from the server's POST /api/autocomplete, debounced, shown in CodeMirror's popup.
// The server answers with text to insert at the cursor (it does not repeat the typed prefix).
import { cpLength } from './ot.js';

const DEBOUNCE_MS = 150;

// The server's kinds (keyword, builtin, identifier, snippet, bracket, indent, completion, word)
// as CodeMirror's icon types.
const KIND_TO_TYPE = {
  keyword: 'keyword', builtin: 'function', identifier: 'variable', snippet: 'text', completion: 'text',
  word: 'text', function: 'function', method: 'method', variable: 'variable', class: 'class', type: 'type',
};
// Closing brackets and indentation are CodeMirror's job while typing; offer them only on request.
const ONLY_WHEN_ASKED = new Set(['bracket', 'indent']);

const sleep = (ms) => new Promise((resolve) => setTimeout(resolve, ms));

/** `headers()`: extra request headers (the page's `Authorization` in token mode). */
export function serverCompletions(getLanguage, headers = () => ({})) {
  return async (context) => {
    const word = context.matchBefore(/[\p{L}\p{N}_$]+/u);
    const before = context.state.sliceDoc(Math.max(0, context.pos - 1), context.pos);
    if (!context.explicit && !word && before !== '.') return null;
    // Every keystroke aborts the pending request (`onDocChange`), so only the last one is sent.
    // Without it CodeMirror keeps waiting for a stale request when a fast typist's last key lands
    // before its (empty) answer, and asks no more: the popup never opens.
    const controller = new AbortController();
    context.addEventListener?.('abort', () => controller.abort(), { onDocChange: true });
    await sleep(DEBOUNCE_MS);
    if (context.aborted || controller.signal.aborted) return null;
    const code = context.state.doc.toString();
    let answer;
    try {
      const res = await fetch('/api/autocomplete', {
        method: 'POST',
        headers: { 'content-type': 'application/json', ...headers() },
        body: JSON.stringify({ code, cursorPosition: cpLength(code.slice(0, context.pos)), language: getLanguage() }),
        signal: controller.signal,
      });
      if (!res.ok) return null;
      answer = await res.json();
    } catch {
      return null; // aborted or offline: no popup
    }
    const options = [];
    const seen = new Set();
    for (const s of answer.suggestions || []) {
      if (!s || typeof s.insertText !== 'string' || s.insertText === '' || seen.has(s.insertText)) continue;
      seen.add(s.insertText);
      if (!context.explicit && ONLY_WHEN_ASKED.has(s.kind)) continue;
      options.push({
        label: s.label || s.insertText,
        apply: s.insertText,
        type: KIND_TO_TYPE[s.kind] || 'text',
        detail: s.kind || undefined,
      });
    }
    const best = answer.suggestion;
    if (typeof best === 'string' && best !== '' && !seen.has(best) && (context.explicit || options.length > 0)) {
      options.unshift({ label: (word ? word.text : '') + best, apply: best, type: 'text' });
    }
    if (options.length === 0) return null;
    return { from: context.pos, options, filter: false };
  };
}
