// The languages the editor highlights. Any other language name is accepted (the server stores
// free text) and shown without highlighting.
import { python } from '@codemirror/lang-python';
import { javascript } from '@codemirror/lang-javascript';
import { rust } from '@codemirror/lang-rust';
import { go } from '@codemirror/lang-go';
import { java } from '@codemirror/lang-java';
import { cpp } from '@codemirror/lang-cpp';

export const LANGUAGES = [
  { id: 'plaintext', label: 'Plain text', load: () => [] },
  { id: 'python', label: 'Python', load: () => python() },
  { id: 'javascript', label: 'JavaScript', load: () => javascript({ jsx: true }) },
  { id: 'typescript', label: 'TypeScript', load: () => javascript({ typescript: true, jsx: true }) },
  { id: 'rust', label: 'Rust', load: () => rust() },
  { id: 'go', label: 'Go', load: () => go() },
  { id: 'java', label: 'Java', load: () => java() },
  { id: 'c', label: 'C', load: () => cpp() },
  { id: 'cpp', label: 'C++', load: () => cpp() },
];

const ALIASES = {
  text: 'plaintext', txt: 'plaintext', plain: 'plaintext', py: 'python', python3: 'python',
  js: 'javascript', jsx: 'javascript', node: 'javascript', ts: 'typescript', tsx: 'typescript',
  rs: 'rust', golang: 'go', 'c++': 'cpp', cc: 'cpp', cxx: 'cpp', hpp: 'cpp', h: 'c',
};

/** The known language a name stands for, or null. */
export function findLanguage(name) {
  const key = String(name || '').trim().toLowerCase();
  const id = ALIASES[key] || key;
  return LANGUAGES.find((l) => l.id === id) || null;
}

const cache = new Map();

/** The CodeMirror extension highlighting `name` (nothing for unknown languages). */
export function languageExtension(name) {
  const lang = findLanguage(name);
  if (!lang) return [];
  if (!cache.has(lang.id)) cache.set(lang.id, lang.load());
  return cache.get(lang.id);
}
