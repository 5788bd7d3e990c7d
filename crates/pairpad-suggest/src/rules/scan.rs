//! One pass over a window of the document that tells what surrounds the cursor: whether it sits
//! in code, a comment or a string, which brackets enclose it and whether they are closed later,
//! the indentation style, and how often and how near the candidate words occur.
//!
//! The lexer is deliberately approximate (no regex literals, no C++ raw strings, no Python f-string
//! fields): it only has to be right about the usual cases, and it must never be slow or panic.

use std::collections::HashMap;

use super::lang::Lang;

/// Brackets deeper than this are counted but not remembered, so hostile input stays bounded.
const MAX_DEPTH: usize = 256;

/// How far a mismatched closing bracket may look down the stack for its opener before it is
/// ignored as a typo.
const MISMATCH_SEARCH: usize = 8;

/// Shorter words are not worth suggesting in prose.
const MIN_WORD_LEN: usize = 3;

/// How a string literal ends.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Closer {
    /// A single quote character: `"`, `'` or `` ` ``.
    Quote(u8),
    /// Three quote characters: Python's `"""` / `'''`, Java's text blocks.
    Triple(u8),
    /// A Rust raw string: `"` followed by this many `#`.
    Raw(u8),
}

impl Closer {
    /// The text that closes the string.
    pub(crate) fn text(self) -> String {
        match self {
            Self::Quote(q) => char::from(q).to_string(),
            Self::Triple(q) => char::from(q).to_string().repeat(3),
            Self::Raw(hashes) => format!("\"{}", "#".repeat(usize::from(hashes))),
        }
    }

    fn matches_at(self, bytes: &[u8], i: usize) -> Option<usize> {
        match self {
            Self::Quote(q) => (bytes[i] == q).then_some(1),
            Self::Triple(q) => bytes.get(i..i + 3).is_some_and(|s| s.iter().all(|&b| b == q)).then_some(3),
            Self::Raw(hashes) => {
                let len = 1 + usize::from(hashes);
                let closes =
                    bytes[i] == b'"' && bytes.get(i + 1..i + len).is_some_and(|s| s.iter().all(|&b| b == b'#'));
                closes.then_some(len)
            }
        }
    }
}

/// A string literal being lexed.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) struct StringLit {
    pub closer: Closer,
    /// The line it starts on, counted from the window's start.
    pub start_line: u32,
    /// Whether a line break ends it (unterminated) rather than being part of it.
    pub multiline: bool,
    pub escapes: bool,
    /// A JavaScript template literal, whose `${ ... }` parts are code.
    pub template: bool,
}

/// Where a position is, lexically.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Mode {
    Code,
    LineComment,
    BlockComment { depth: u32 },
    String(StringLit),
}

/// An open bracket.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) struct Open {
    /// `(`, `[`, `{`, or `$` for the `${` of a template literal.
    pub bracket: u8,
    pub line: u32,
    /// Byte offset in the window.
    pub at: usize,
    /// The template literal to return to when a `$` bracket closes.
    resume: Option<StringLit>,
}

/// How often and how near a word occurs. (How it is used is the parser's to tell.)
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub(crate) struct Occurrences {
    pub count: u32,
    /// Lines between the cursor and the nearest occurrence.
    pub nearest: u32,
}

impl Occurrences {
    fn record(&mut self, distance: u32) {
        self.nearest = if self.count == 0 { distance } else { self.nearest.min(distance) };
        self.count = self.count.saturating_add(1);
    }
}

/// Which occurrences to count: only words that could complete the typed prefix.
pub(crate) struct Wanted<'p> {
    pub prefix: &'p str,
    /// Count code identifiers (keywords excluded).
    pub identifiers: bool,
    /// With an empty prefix, count only identifiers used as members.
    pub members_only: bool,
    /// Count words anywhere (comments and strings included).
    pub words: bool,
}

/// What the scan found.
pub(crate) struct Scan<'a> {
    /// The lexical mode at the cursor.
    pub mode: Mode,
    /// The brackets open at the cursor, innermost last.
    pub open: Vec<Open>,
    /// For each of `open`: whether the text after the cursor closes it.
    pub closed_later: Vec<bool>,
    /// When the cursor is in a string: whether it is closed on the cursor's line.
    pub string_closed_on_line: bool,
    /// The cursor's line, counted from the window's start.
    pub cursor_line: u32,
    pub identifiers: HashMap<&'a str, Occurrences>,
    pub words: HashMap<&'a str, Occurrences>,
    /// The indentation unit the window uses, if it shows one.
    pub indent_unit: Option<String>,
}

/// The byte length of the UTF-8 sequence that starts with `lead`.
fn utf8_len(lead: u8) -> usize {
    match lead {
        0..0x80 => 1,
        0x80..0xE0 => 2,
        0xE0..0xF0 => 3,
        _ => 4,
    }
}

/// Whether `c` may be part of an identifier.
pub(crate) fn is_ident_char(c: char, lang: Lang) -> bool {
    c.is_alphanumeric() || c == '_' || (c == '$' && lang.dollar_in_identifiers())
}

struct Lexer<'a, 'w> {
    lang: Lang,
    text: &'a str,
    bytes: &'a [u8],
    cursor: usize,
    cursor_line: u32,
    wanted: &'w Wanted<'w>,
    vocabulary: &'static super::lang::Vocabulary,

    i: usize,
    line: u32,
    mode: Mode,
    open: Vec<Open>,
    /// Brackets opened beyond `MAX_DEPTH`, not remembered.
    overflow: usize,
    /// The last two non-blank code bytes, newest first: tells members (`a.b`) from other names.
    last: [u8; 2],

    at_cursor: Option<(Mode, Vec<Open>)>,
    /// How many of the brackets open at the cursor are still on `open`.
    cursor_open_left: usize,
    closed_later: Vec<bool>,
    /// The cursor is in a string that has not ended yet.
    watching_string: bool,
    string_closed_on_line: bool,

    identifiers: HashMap<&'a str, Occurrences>,
    words: HashMap<&'a str, Occurrences>,
    tab_lines: u32,
    space_lines: u32,
    min_spaces: usize,
}

/// Scans `text` (a window of the document starting at a line start) with the cursor at byte
/// `cursor`, a char boundary of `text`.
pub(crate) fn scan<'a>(text: &'a str, cursor: usize, lang: Lang, wanted: &Wanted<'_>) -> Scan<'a> {
    let cursor_line =
        u32::try_from(text.as_bytes()[..cursor].iter().filter(|&&b| b == b'\n').count()).unwrap_or(u32::MAX);
    let mut lexer = Lexer {
        lang,
        text,
        bytes: text.as_bytes(),
        cursor,
        cursor_line,
        wanted,
        vocabulary: lang.vocabulary(),
        i: 0,
        line: 0,
        mode: Mode::Code,
        open: Vec::new(),
        overflow: 0,
        last: [b'\n'; 2],
        at_cursor: None,
        cursor_open_left: 0,
        closed_later: Vec::new(),
        watching_string: false,
        string_closed_on_line: false,
        identifiers: HashMap::new(),
        words: HashMap::new(),
        tab_lines: 0,
        space_lines: 0,
        min_spaces: usize::MAX,
    };
    lexer.run();
    let (mode, open) = lexer.at_cursor.take().unwrap_or((Mode::Code, Vec::new()));
    let indent_unit = if lexer.tab_lines > lexer.space_lines {
        Some("\t".to_owned())
    } else if lexer.space_lines > 0 && lexer.min_spaces != usize::MAX {
        Some(" ".repeat(lexer.min_spaces.clamp(2, 8)))
    } else {
        None
    };
    Scan {
        mode,
        closed_later: lexer.closed_later,
        open,
        string_closed_on_line: lexer.string_closed_on_line,
        cursor_line,
        identifiers: lexer.identifiers,
        words: lexer.words,
        indent_unit,
    }
}

impl<'a> Lexer<'a, '_> {
    fn run(&mut self) {
        self.tally_indentation(0);
        while self.i < self.bytes.len() {
            if self.at_cursor.is_none() && self.i >= self.cursor {
                self.mark_cursor();
            }
            let byte = self.bytes[self.i];
            if byte == b'\n' {
                self.newline();
                continue;
            }
            match self.mode {
                Mode::Code => self.code(byte),
                Mode::LineComment => self.prose(byte),
                Mode::BlockComment { depth } => self.block_comment(byte, depth),
                Mode::String(lit) => self.string(byte, lit),
            }
        }
        if self.at_cursor.is_none() {
            self.mark_cursor();
        }
    }

    fn peek(&self, offset: usize) -> u8 {
        self.bytes.get(self.i + offset).copied().unwrap_or(0)
    }

    fn mark_cursor(&mut self) {
        self.at_cursor = Some((self.mode, self.open.clone()));
        self.cursor_open_left = self.open.len();
        self.closed_later = vec![false; self.open.len()];
        self.watching_string = matches!(self.mode, Mode::String(_));
    }

    fn after_cursor(&self) -> bool {
        self.at_cursor.is_some()
    }

    fn newline(&mut self) {
        self.line += 1;
        self.i += 1;
        match self.mode {
            Mode::LineComment => self.mode = Mode::Code,
            Mode::String(lit) if !lit.multiline => {
                // An unterminated single-line string: the next line is code again.
                self.mode = Mode::Code;
                self.watching_string = false;
            }
            _ => {}
        }
        if self.mode == Mode::Code {
            self.tally_indentation(self.i);
        }
    }

    /// Counts the indentation of the line starting at `start`, to learn the document's style.
    /// Continuation lines inside `(` or `[` are aligned rather than indented, so they are skipped.
    fn tally_indentation(&mut self, start: usize) {
        if self.open.last().is_some_and(|o| o.bracket == b'(' || o.bracket == b'[') {
            return;
        }
        let (mut spaces, mut tabs) = (0usize, 0u32);
        let mut end = start;
        while let Some(&b) = self.bytes.get(end) {
            match b {
                b' ' => spaces += 1,
                b'\t' => tabs += 1,
                _ => break,
            }
            end += 1;
        }
        let blank = matches!(self.bytes.get(end), None | Some(b'\n' | b'\r'));
        if blank {
            return;
        }
        if tabs > 0 && spaces == 0 {
            self.tab_lines += 1;
        } else if spaces > 0 && tabs == 0 {
            self.space_lines += 1;
            if spaces >= 2 {
                self.min_spaces = self.min_spaces.min(spaces);
            }
        }
    }

    fn code(&mut self, byte: u8) {
        let lang = self.lang;
        match byte {
            b' ' | b'\t' | b'\r' => self.i += 1,
            b'#' if lang.hash_comments() => {
                self.mode = Mode::LineComment;
                self.i += 1;
            }
            b'/' if lang.slash_comments() && self.peek(1) == b'/' => {
                self.mode = Mode::LineComment;
                self.i += 2;
            }
            b'/' if lang.slash_comments() && self.peek(1) == b'*' => {
                self.mode = Mode::BlockComment { depth: 1 };
                self.i += 2;
            }
            b'"' | b'\'' | b'`' => self.string_start(byte),
            b'r' if lang == Lang::Rust && self.raw_string_start(0) => {}
            b'b' if lang == Lang::Rust && self.peek(1) == b'r' && self.raw_string_start(1) => {}
            b'(' | b'[' | b'{' => {
                self.push(byte, None);
                self.i += 1;
                self.significant(byte);
            }
            b')' | b']' | b'}' => {
                self.close(byte);
                self.i += 1;
                self.significant(byte);
            }
            b'0'..=b'9' => {
                self.skip_word();
                self.significant(b'0');
            }
            _ => {
                if self.starts_word() {
                    self.identifier();
                    self.significant(b'a');
                } else {
                    self.significant(byte);
                    self.i += utf8_len(byte);
                }
            }
        }
    }

    fn significant(&mut self, byte: u8) {
        self.last = [byte, self.last[0]];
    }

    fn starts_word(&self) -> bool {
        let byte = self.bytes[self.i];
        if byte.is_ascii() {
            byte.is_ascii_alphabetic() || byte == b'_' || (byte == b'$' && self.lang.dollar_in_identifiers())
        } else {
            self.text.get(self.i..).and_then(|rest| rest.chars().next()).is_some_and(char::is_alphanumeric)
        }
    }

    /// Consumes a run of identifier characters and returns its byte range.
    fn skip_word(&mut self) -> (usize, usize) {
        let start = self.i;
        while let Some(&b) = self.bytes.get(self.i) {
            if b.is_ascii() {
                if b.is_ascii_alphanumeric() || b == b'_' || (b == b'$' && self.lang.dollar_in_identifiers()) {
                    self.i += 1;
                } else {
                    break;
                }
            } else {
                match self.text.get(self.i..).and_then(|rest| rest.chars().next()) {
                    Some(c) if c.is_alphanumeric() => self.i += c.len_utf8(),
                    _ => break,
                }
            }
        }
        (start, self.i)
    }

    /// Whether the token `start..end` is the one being typed (or the one right after the cursor):
    /// it must not suggest itself.
    fn touches_cursor(&self, start: usize, end: usize) -> bool {
        start <= self.cursor && self.cursor <= end
    }

    fn distance(&self) -> u32 {
        self.line.abs_diff(self.cursor_line)
    }

    fn identifier(&mut self) {
        let (start, end) = self.skip_word();
        if self.touches_cursor(start, end) {
            return;
        }
        let word = &self.text[start..end];
        let wanted = self.wanted;
        if !word.starts_with(wanted.prefix) || word.len() == wanted.prefix.len() {
            return;
        }
        let as_member = matches!(self.last, [b'.', _] | [b':', b':'] | [b'>', b'-']);
        let distance = self.distance();
        if wanted.words && word.len() >= MIN_WORD_LEN {
            self.words.entry(word).or_default().record(distance);
        }
        if wanted.identifiers && (!wanted.members_only || as_member) && !self.vocabulary.is_keyword(word) {
            self.identifiers.entry(word).or_default().record(distance);
        }
    }

    /// A word in a comment or string: counted only as prose.
    fn prose_word(&mut self) {
        let (start, end) = self.skip_word();
        if !self.wanted.words || self.touches_cursor(start, end) {
            return;
        }
        let word = &self.text[start..end];
        let prefix = self.wanted.prefix;
        let starts_with_letter = word.chars().next().is_some_and(|c| !c.is_numeric());
        if starts_with_letter && word.len() >= MIN_WORD_LEN && word.len() > prefix.len() && word.starts_with(prefix) {
            let distance = self.distance();
            self.words.entry(word).or_default().record(distance);
        }
    }

    /// Inside a comment or string: words count as prose, everything else is skipped.
    fn prose(&mut self, byte: u8) {
        if byte.is_ascii_digit() || self.starts_word() {
            self.prose_word();
        } else {
            self.i += utf8_len(byte);
        }
    }

    fn block_comment(&mut self, byte: u8, depth: u32) {
        if byte == b'*' && self.peek(1) == b'/' {
            self.mode = if depth <= 1 { Mode::Code } else { Mode::BlockComment { depth: depth - 1 } };
            self.i += 2;
        } else if byte == b'/' && self.peek(1) == b'*' && self.lang.nested_block_comments() {
            self.mode = Mode::BlockComment { depth: depth.saturating_add(1) };
            self.i += 2;
        } else {
            self.prose(byte);
        }
    }

    fn string_start(&mut self, quote: u8) {
        let lang = self.lang;
        let line = self.line;
        let lit =
            |closer, multiline, escapes, template| StringLit { closer, start_line: line, multiline, escapes, template };
        let triple = self.peek(1) == quote && self.peek(2) == quote;
        let (literal, len) = match (lang, quote) {
            (Lang::Python, b'"' | b'\'') if triple => (lit(Closer::Triple(quote), true, true, false), 3),
            (Lang::Java, b'"') if triple => (lit(Closer::Triple(quote), true, true, false), 3),
            (Lang::JavaScript | Lang::TypeScript, b'`') => (lit(Closer::Quote(quote), true, true, true), 1),
            (Lang::Go, b'`') => (lit(Closer::Quote(quote), true, false, false), 1),
            (Lang::Rust, b'"') => (lit(Closer::Quote(quote), true, true, false), 1),
            (Lang::Rust, b'\'') if !self.rust_char_literal() => {
                // A lifetime or a loop label, not a character.
                self.i += 1;
                self.significant(quote);
                return;
            }
            (Lang::Markup | Lang::Other, b'\'') if self.i > 0 && self.bytes[self.i - 1].is_ascii_alphanumeric() => {
                // An apostrophe in prose (`don't`), not a quote.
                self.i += 1;
                return;
            }
            (_, b'`') => {
                self.i += 1;
                self.significant(quote);
                return;
            }
            _ => (lit(Closer::Quote(quote), false, true, false), 1),
        };
        self.mode = Mode::String(literal);
        self.i += len;
    }

    /// At a `'` in Rust: a character literal is `'x'` or `'\...'`; anything else is a lifetime.
    fn rust_char_literal(&self) -> bool {
        let next = self.peek(1);
        if next == b'\\' {
            return true;
        }
        if next == 0 || next == b'\n' {
            // A quote typed at the end: the user is starting a character.
            return self.i + 1 >= self.cursor;
        }
        self.peek(1 + utf8_len(next)) == b'\''
    }

    /// At `r` (after `offset` bytes of prefix such as `b`): starts a Rust raw string if one begins
    /// here, and says whether it did.
    fn raw_string_start(&mut self, offset: usize) -> bool {
        let mut j = self.i + offset + 1;
        let mut hashes = 0u8;
        while self.bytes.get(j) == Some(&b'#') && hashes < u8::MAX {
            hashes += 1;
            j += 1;
        }
        if self.bytes.get(j) != Some(&b'"') {
            return false;
        }
        self.mode = Mode::String(StringLit {
            closer: Closer::Raw(hashes),
            start_line: self.line,
            multiline: true,
            escapes: false,
            template: false,
        });
        self.i = j + 1;
        true
    }

    fn string(&mut self, byte: u8, lit: StringLit) {
        if lit.escapes && byte == b'\\' {
            let escaped = self.peek(1);
            self.i += 1 + if escaped == 0 || escaped == b'\n' { 0 } else { utf8_len(escaped) };
            return;
        }
        if lit.template && byte == b'$' && self.peek(1) == b'{' {
            self.push(b'$', Some(lit));
            self.mode = Mode::Code;
            self.watching_string = false;
            self.i += 2;
            return;
        }
        if let Some(len) = lit.closer.matches_at(self.bytes, self.i) {
            if self.watching_string {
                self.string_closed_on_line = self.line == self.cursor_line;
                self.watching_string = false;
            }
            self.mode = Mode::Code;
            self.i += len;
            self.significant(b'"');
            return;
        }
        self.prose(byte);
    }

    fn push(&mut self, bracket: u8, resume: Option<StringLit>) {
        if self.open.len() >= MAX_DEPTH {
            self.overflow += 1;
            return;
        }
        self.open.push(Open { bracket, line: self.line, at: self.i, resume });
    }

    fn close(&mut self, closer: u8) {
        if self.overflow > 0 {
            self.overflow -= 1;
            return;
        }
        let opener = match closer {
            b')' => b'(',
            b']' => b'[',
            _ => b'{',
        };
        let matches = |open: &Open| open.bracket == opener || (open.bracket == b'$' && closer == b'}');
        let Some(found) = self.open.iter().rev().take(MISMATCH_SEARCH).position(matches) else {
            // A stray closer: most likely a typo, so it closes nothing.
            return;
        };
        let index = self.open.len() - 1 - found;
        let resume = self.open[index].resume;
        self.open.truncate(index);
        if self.after_cursor() && index < self.cursor_open_left {
            // A bracket that was open at the cursor is closed after it; the ones above it that
            // were skipped stay unclosed.
            if let Some(flag) = self.closed_later.get_mut(index) {
                *flag = true;
            }
            self.cursor_open_left = index;
        }
        if let Some(lit) = resume {
            self.mode = Mode::String(lit);
        }
    }
}
