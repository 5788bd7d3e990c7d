//! The rule-based suggester: deterministic, no I/O, bounded work.
//!
//! Two readings of the text around the cursor:
//! - `syntax`: tree-sitter parses a window of a few kilobytes (under a time budget) and tells the
//!   grammatical kind of the word being typed (a name, a type, a field), the tokens just before and
//!   after it, the receiver of a member access, the enclosing function and class, and the imported
//!   module aliases, and the same facts for every name of the window.
//! - `scan`: a lexer over a wider window for what a lexer does better on half-typed text: whether
//!   the cursor sits in a comment or an unterminated string, which brackets and quotes are left
//!   open, the indentation style, and how often and how near each name occurs.
//!
//! From them it decides what the user is doing (typing a name, a member after `.`, a preprocessor
//! directive, prose in a comment or string, or nothing yet at the end of a block opener) and ranks
//! what fits: the document's names by how their uses fit the place, the language's keywords and
//! snippets (`lang`), and its standard library's names (`library`, data files per language).
//!
//! Scores are on one scale so that every kind of candidate competes fairly: a keyword beats a
//! rarely used name, a name used often, nearby and in the same way beats a keyword, and a member
//! of the receiver's known type beats a guess.

mod lang;
mod library;
mod scan;
pub(crate) mod syntax;

use std::borrow::Cow;
use std::collections::HashMap;
use std::sync::Arc;

use async_trait::async_trait;
use pairpad_domain::{Suggester, Suggestion, SuggestionKind, SuggestionRequest, Suggestions};
use tokio::sync::Semaphore;

use lang::{MODIFIERS, PYTHON_BLOCK_KEYWORDS, Place, Vocabulary};
use library::Library;
use scan::{Mode, Occurrences, Scan, Wanted, is_ident_char};
use syntax::Syntax;

pub(crate) use lang::Lang;
pub use library::check_tables;

/// What [`Suggestions::source`] says when the rules answered.
pub const SOURCE: &str = "rules";

/// Bytes before the cursor that are scanned; the window then starts at the next line start.
const WINDOW_BEFORE: usize = 48 * 1024;
/// Bytes after the cursor that are scanned.
const WINDOW_AFTER: usize = 16 * 1024;
/// Bytes before and after the cursor that are parsed (a parse costs about 0.1 ms per kilobyte;
/// a wider window measured no better on the evaluation corpus, and slower).
const PARSE_BEFORE: usize = 8 * 1024;
const PARSE_AFTER: usize = 2 * 1024;
/// The longest list returned.
const MAX_ITEMS: usize = 12;

const INDENT_AFTER_OPENER: f32 = 95.0;
const SNIPPET_TRIGGER: f32 = 90.0;
const CLOSE_BRACKET: f32 = 90.0;
const CLOSE_ALL_ON_LINE: f32 = 88.0;
const BLANK_LINE_INDENT: f32 = 85.0;
const SNIPPET_FIRST_WORD: f32 = 80.0;
const KEYWORD_AT_STATEMENT: f32 = 72.0;
const KEYWORD: f32 = 60.0;
/// One or two typed letters say little about a document name but usually mean a keyword.
const SHORT_PREFIX_KEYWORD_BONUS: f32 = 8.0;
/// A library name the document does not use: below a name it uses, above nothing.
const BUILTIN: f32 = 48.0;
/// A member of the receiver's module or type, as the library knows it.
const LIBRARY_KNOWN_MEMBER: f32 = 70.0;
/// A member of some type of the library, when the receiver's type is unknown.
const LIBRARY_ANY_MEMBER: f32 = 50.0;
/// A method a class usually defines, while a method's name is typed in a class.
const CLASS_METHOD: f32 = 75.0;
/// A library name the document uses too.
const USED_LIBRARY_BONUS: f32 = 2.0;
/// How much each doubling of a name's uses that fit the place adds: uses after the same token,
/// of the same grammatical kind, on the same receiver, in the same function.
const FIT_PREV: f32 = 10.0;
const FIT_NEXT: f32 = 10.0;
const FIT_KIND: f32 = 4.0;
const FIT_RECEIVER: f32 = 16.0;
const FIT_SCOPE: f32 = 3.0;
/// A name never used the way the place needs (a type where a value goes, a member where a
/// variable goes, and the reverse).
const MISFIT: f32 = 12.0;
const SNIPPET_PARTIAL: f32 = 45.0;
const NAME_BASE: f32 = 40.0;
const NAME_MAX_FREQUENCY: f32 = 25.0;
const NAME_MAX_PROXIMITY: f32 = 35.0;
const CLOSE_QUOTE: f32 = 30.0;
/// Closing a bracket after a typed name: only when nothing completes the name.
const CLOSE_AFTER_NAME: f32 = 25.0;
const EMPTY_DOCUMENT_SNIPPET: f32 = 10.0;

/// Ties between candidates of equal score go to the earlier group, then to list order.
const ORDER_KEYWORD: u32 = 0;
const ORDER_BUILTIN: u32 = 1_000;
const ORDER_SNIPPET: u32 = 2_000;
const ORDER_OTHER: u32 = 3_000;
const ORDER_NAME: u32 = 4_000;

/// Suggests completions from the language's vocabulary and the document's own names.
///
/// Through the [`Suggester`] port it works on tokio's blocking threads (a request takes a
/// millisecond or two of parsing, which must not hold up the task that awaits it), at most one
/// request per core at a time: a flood of requests waits its turn instead of adding threads.
#[derive(Clone, Debug)]
pub struct RuleSuggester {
    permits: Arc<Semaphore>,
}

impl Default for RuleSuggester {
    fn default() -> Self {
        let cores = std::thread::available_parallelism().map_or(1, usize::from);
        Self { permits: Arc::new(Semaphore::new(cores)) }
    }
}

impl RuleSuggester {
    /// A rule-based suggester.
    pub fn new() -> Self {
        Self::default()
    }

    /// The suggestions for `request`, computed synchronously (the [`Suggester`] implementation
    /// calls this; benchmarks and synchronous callers may too).
    pub fn suggest_now(&self, request: &SuggestionRequest) -> Suggestions {
        let lang = Lang::from_name(request.language().as_str());
        let code = request.code();
        let cursor = byte_offset(code, request.cursor());
        let blank_document = code.trim().is_empty();
        let (start, end) = window(code, cursor, WINDOW_BEFORE, WINDOW_AFTER);
        let text = &code[start..end];
        let mut candidates = Candidates::default();
        complete(lang, text, cursor - start, blank_document, &mut candidates);
        Suggestions { items: candidates.ranked(MAX_ITEMS), source: SOURCE }
    }
}

#[async_trait]
impl Suggester for RuleSuggester {
    async fn suggest(&self, request: &SuggestionRequest) -> Suggestions {
        // Outside a tokio runtime (an embedding service's own executor) there is no blocking pool.
        if tokio::runtime::Handle::try_current().is_err() {
            return self.suggest_now(request);
        }
        let Ok(_permit) = self.permits.acquire().await else {
            return self.suggest_now(request);
        };
        let (rules, request) = (self.clone(), request.clone());
        match tokio::task::spawn_blocking(move || rules.suggest_now(&request)).await {
            Ok(suggestions) => suggestions,
            // Only a panic gets here, and the rules do not panic (property-tested): answer nothing.
            Err(_) => Suggestions { items: Vec::new(), source: SOURCE },
        }
    }
}

/// The byte offset of code point number `chars` of `text` (its length when there are fewer).
///
/// The one pass over the document the rules cannot avoid, so it is made cheap: it counts the
/// bytes that start a code point a chunk at a time, which compiles to vector instructions.
fn byte_offset(text: &str, chars: usize) -> usize {
    const CHUNK: usize = 64;
    let starts_code_point = |byte: &u8| byte & 0xC0 != 0x80;
    let bytes = text.as_bytes();
    let mut remaining = chars;
    let mut offset = 0;
    while let Some(chunk) = bytes.get(offset..offset + CHUNK) {
        let starts = chunk.iter().filter(|byte| starts_code_point(byte)).count();
        if starts > remaining {
            break;
        }
        remaining -= starts;
        offset += CHUNK;
    }
    for (index, byte) in bytes[offset..].iter().enumerate() {
        if starts_code_point(byte) {
            if remaining == 0 {
                return offset + index;
            }
            remaining -= 1;
        }
    }
    bytes.len()
}

/// The byte range of `code` to scan around `cursor`: at most `before` bytes before it, starting
/// at a line start when there is one so the lexer begins in code, and at most `after` bytes after.
fn window(code: &str, cursor: usize, before: usize, after: usize) -> (usize, usize) {
    let mut start = cursor.saturating_sub(before);
    while !code.is_char_boundary(start) {
        start += 1;
    }
    if start > 0
        && code.as_bytes()[start - 1] != b'\n'
        && let Some(newline) = code[start..cursor].find('\n')
    {
        start += newline + 1;
    }
    let mut end = cursor.saturating_add(after).min(code.len());
    while !code.is_char_boundary(end) {
        end -= 1;
    }
    (start, end)
}

/// The cursor's surroundings, as the ranking needs them.
struct Context<'a> {
    lang: Lang,
    vocabulary: &'static Vocabulary,
    /// The window up to the cursor.
    before: &'a str,
    /// The cursor's line up to the cursor.
    line_before: &'a str,
    /// The cursor's line from the cursor.
    line_after: &'a str,
    /// The identifier characters just before the cursor.
    prefix: &'a str,
    /// The cursor's line before the prefix.
    lead: &'a str,
    /// The cursor line's leading whitespace.
    indent: &'a str,
    /// The document's indentation unit.
    unit: String,
    /// After `.`, `::`, `->` or `?.`.
    member: bool,
    /// Where a statement may start: keywords such as `return` and snippets fit.
    statement: bool,
    scan: Scan<'a>,
    /// The parser's reading of the window, when the language has a grammar.
    syntax: Option<Syntax<'a>>,
    library: &'static Library,
}

fn complete<'a>(lang: Lang, text: &'a str, cursor: usize, blank_document: bool, out: &mut Candidates<'a>) {
    let before = &text[..cursor];
    let after = &text[cursor..];
    let line_before = &before[before.rfind('\n').map_or(0, |i| i + 1)..];
    let line_after = &after[..after.find('\n').unwrap_or(after.len())];
    let prefix_start = line_before
        .char_indices()
        .rev()
        .take_while(|&(_, c)| is_ident_char(c, lang))
        .last()
        .map_or(line_before.len(), |(i, _)| i);
    let prefix = &line_before[prefix_start..];
    let lead = &line_before[..prefix_start];
    if line_after.chars().next().is_some_and(|c| is_ident_char(c, lang)) {
        // In the middle of a word: whatever is inserted would split it.
        return;
    }
    let number = prefix.chars().next().is_some_and(|c| c.is_ascii_digit());
    let member = !number && after_member_access(lead);
    let wanted = Wanted {
        prefix: if number { "" } else { prefix },
        identifiers: !number && (!prefix.is_empty() || member),
        members_only: prefix.is_empty(),
        words: !number && !prefix.is_empty(),
    };
    let scan = scan::scan(text, cursor, lang, &wanted);
    let vocabulary = lang.vocabulary();
    let unit = scan.indent_unit.clone().unwrap_or_else(|| vocabulary.default_indent.to_owned());
    let indent_len = line_before.len() - line_before.trim_start_matches([' ', '\t']).len();
    let mut context = Context {
        lang,
        vocabulary,
        before,
        line_before,
        line_after,
        prefix: if number { "" } else { prefix },
        lead,
        indent: &line_before[..indent_len],
        unit,
        member,
        statement: !member && statement_position(lead, lang),
        scan,
        syntax: None,
        library: library::library(lang),
    };
    let markup = lang == Lang::Markup;
    // In a comment or string as the lexer reads it, nothing the parser could add changes the
    // answer (it overrides the lexer only the other way round): no parse.
    let code_for_lexer = matches!(context.scan.mode, Mode::Code);
    if (markup || code_for_lexer) && !number && (member || !context.prefix.is_empty()) {
        let (start, end) = window(text, cursor, PARSE_BEFORE, PARSE_AFTER);
        context.syntax = Some(syntax::analyse(&text[start..end], text, cursor - start, context.prefix, lang));
    }
    let mode = match context.syntax.as_ref().map(|syntax| &syntax.at_cursor) {
        // In markup the lexer cannot tell script from text (an apostrophe in prose opens no
        // string): the parser's view of the script decides, and everything else is prose.
        Some(at) if markup => {
            if at.in_script && !at.in_prose {
                Mode::Code
            } else {
                Mode::LineComment
            }
        }
        _ if markup => Mode::LineComment,
        // Where the parser read the place without error recovery and finds a comment or a
        // string's text that the lexer took for code (a C++ raw string, a Python f-string's
        // text), it is right. The other way round it is not to be trusted: a string being typed
        // is unterminated, and the grammars read the rest of the line in odd ways.
        Some(at) if at.trusted && at.in_prose && matches!(context.scan.mode, Mode::Code) => Mode::LineComment,
        _ => context.scan.mode,
    };
    if context.syntax.as_ref().is_some_and(|syntax| syntax.at_cursor.in_parameters) {
        context.statement = false;
    }

    match mode {
        Mode::LineComment | Mode::BlockComment { .. } => words(&context, out),
        Mode::String(_) if include_header(&context, out) => {}
        Mode::String(literal) => {
            words(&context, out);
            close_quote(&context, literal, out);
        }
        Mode::Code if include_header(&context, out) || directive(&context, out) => {}
        Mode::Code => {
            if !number {
                if context.member {
                    names(&context, out);
                } else if !context.prefix.is_empty() {
                    keywords(&context, out);
                    names(&context, out);
                    snippets(&context, out);
                } else {
                    block_continuation(&context, out);
                    blank_line_indent(&context, out);
                    if blank_document {
                        empty_document(&context, out);
                    }
                }
            }
            close_brackets(&context, prefix.is_empty(), out);
        }
    }
}

/// Whether the text before the prefix ends with a member access.
fn after_member_access(lead: &str) -> bool {
    if lead.ends_with("::") || lead.ends_with("->") || lead.ends_with("?.") {
        return true;
    }
    let Some(object) = lead.strip_suffix('.') else {
        return false;
    };
    if object.ends_with('.') {
        // `..` (a range) or `...` (a spread).
        return false;
    }
    // `1.` is a number, not an object.
    let object_start = object.trim_end_matches(|c: char| c.is_alphanumeric() || c == '_').len();
    let token = &object[object_start..];
    token.is_empty() || !token.chars().all(|c| c.is_ascii_digit())
}

/// Whether a statement may start after `lead`: at the start of a line, after `;`, `{` or `}`,
/// after a Python `:`, after a C-like `if (...)`, or after modifiers such as `pub` or `export`.
fn statement_position(lead: &str, lang: Lang) -> bool {
    fn strip_modifier(text: &str, lang: Lang) -> Option<&str> {
        MODIFIERS
            .iter()
            .chain(&["else", "do"])
            .find_map(|word| text.strip_suffix(word).filter(|before| !ends_with_ident_char(before, lang)))
            .map(str::trim_end)
    }
    let mut rest = lead.trim_end();
    while let Some(stripped) = strip_modifier(rest, lang) {
        rest = stripped;
    }
    match rest.chars().last() {
        None | Some(';' | '{' | '}') => true,
        Some(':') => lang.colon_blocks(),
        Some(')') => lang.statement_after_paren(),
        Some(_) => false,
    }
}

fn ends_with_ident_char(text: &str, lang: Lang) -> bool {
    text.chars().last().is_some_and(|c| is_ident_char(c, lang))
}

/// How good a name from the document is: used often and close to the cursor is better.
fn name_score(occurrences: &Occurrences) -> f32 {
    let (count, distance) = (occurrences.count as f32, occurrences.nearest as f32);
    let frequency = (8.0 * (1.0 + count).log2()).min(NAME_MAX_FREQUENCY);
    let proximity = NAME_MAX_PROXIMITY / (1.0 + distance / 4.0);
    NAME_BASE + frequency + proximity
}

fn keywords<'a>(context: &Context<'a>, out: &mut Candidates<'a>) {
    let prefix = context.prefix;
    let short = prefix.chars().count() <= 2;
    for (index, &(keyword, place)) in context.vocabulary.keywords.iter().enumerate() {
        if !keyword.starts_with(prefix) || keyword.len() == prefix.len() {
            continue;
        }
        if place == Place::Statement && !context.statement {
            continue;
        }
        let base = if context.statement { KEYWORD_AT_STATEMENT } else { KEYWORD };
        let score = base + if short { SHORT_PREFIX_KEYWORD_BONUS } else { 0.0 };
        out.push(keyword, &keyword[prefix.len()..], SuggestionKind::Keyword, score, ORDER_KEYWORD + index as u32);
    }
}

/// What the parser says about one name: how it is used in the parsed window compared with the
/// place being typed.
#[derive(Clone, Copy, Debug, Default)]
struct Usage {
    /// Occurrences in the parsed window.
    parsed: u32,
    /// ... of the same grammatical kind as the word being typed (a type, a field, a name).
    same_kind: u32,
    /// ... after the same token (`let`, `(`, `.`, `fn`).
    same_prev: u32,
    /// ... before the same token (`(`, `[`, `=`).
    same_next: u32,
    /// ... with the same member used on it (`items` in `items.push`, when `.push` follows).
    same_next_member: u32,
    /// ... as a member of the same receiver (`self.items`, `event.target`).
    same_receiver: u32,
    /// ... as a member of anything, or where a field or method is declared.
    as_member: u32,
    /// ... inside the function around the cursor.
    in_scope: u32,
}

/// How the document uses each name that completes the prefix, as the parser sees it.
fn usages<'a>(syntax: &Syntax<'a>, prefix: &str) -> HashMap<&'a str, Usage> {
    let at = &syntax.at_cursor;
    let mut usages: HashMap<&str, Usage> = HashMap::new();
    for (index, leaf) in syntax.leaves.iter().enumerate() {
        if !leaf.name || Some(index) == syntax.typed || leaf.end - leaf.start <= prefix.len() {
            continue;
        }
        let text = syntax.text_of(index);
        if !text.starts_with(prefix) {
            continue;
        }
        let prev = syntax.previous(index).map_or("", |i| syntax.leaves[i].kind);
        let member = syntax::MEMBER_ACCESS.contains(&prev);
        // A method or field declared here is a member where it is used.
        let member_like = member || syntax::declares_member(leaf.kind) || syntax::DEFINES_FUNCTION.contains(&prev);
        let usage = usages.entry(text).or_default();
        usage.parsed += 1;
        usage.same_kind += u32::from(at.kind == Some(leaf.kind));
        usage.same_prev += u32::from(prev == at.prev);
        let next = syntax.next(index);
        usage.same_next += u32::from(next.map_or("", |i| syntax.leaves[i].kind) == at.next);
        usage.same_next_member +=
            u32::from(at.next_member.is_some() && next.and_then(|i| syntax.member_after(i)) == at.next_member);
        usage.as_member += u32::from(member_like);
        usage.same_receiver += u32::from(member && at.receiver.is_some() && syntax.receiver_of(index) == at.receiver);
        usage.in_scope += u32::from(at.scope.is_some_and(|(start, end)| start <= leaf.start && leaf.end <= end));
    }
    usages
}

/// The score of a name the document uses: how often and how near (the lexer's count over the wide
/// window), and how well its uses fit the place being typed (the parser's, over the parsed one).
fn usage_score(occurrences: Option<&Occurrences>, usage: Usage, place: Wants) -> f32 {
    let log = |n: u32| (1.0 + n as f32).log2();
    let mut score = occurrences.map_or(NAME_BASE, name_score);
    score += FIT_PREV * log(usage.same_prev)
        + FIT_NEXT * log(usage.same_next)
        + FIT_KIND * log(usage.same_kind)
        + FIT_RECEIVER * log(usage.same_receiver)
        + FIT_RECEIVER * log(usage.same_next_member)
        + FIT_SCOPE * log(usage.in_scope);
    // A name being defined may be anything used elsewhere (a method defined here is a member
    // where it is called): only names typed where they are used are held to their kind.
    if usage.parsed > 0 && !place.defining {
        if place.typed_kind && usage.same_kind == 0 {
            score -= MISFIT;
        }
        if place.member && usage.as_member == 0 || !place.member && usage.as_member == usage.parsed {
            score -= MISFIT;
        }
    }
    // Markup's lexer reads its text and styles as words: a word its script never uses is prose.
    if place.script_only && usage.parsed == 0 {
        score -= MISFIT;
    }
    score
}

/// What the place being typed asks of a name.
#[derive(Clone, Copy)]
struct Wants {
    /// After `.`, `::` or `->`.
    member: bool,
    /// The parser read the word being typed (so its kind can be compared).
    typed_kind: bool,
    /// The name of a function being defined.
    defining: bool,
    /// Only the script's names are names (markup).
    script_only: bool,
}

/// Names from the document, the library's names that fit the place, and the methods a class
/// usually defines, all on one scale.
fn names<'a>(context: &Context<'a>, out: &mut Candidates<'a>) {
    let prefix = context.prefix;
    let at = context.syntax.as_ref().map(|syntax| &syntax.at_cursor);
    let member = context.member;
    let place = Wants {
        member,
        typed_kind: at.is_some_and(|at| at.kind.is_some()),
        defining: at.is_some_and(|at| at.defining_function),
        script_only: context.lang == Lang::Markup,
    };
    let usages = context.syntax.as_ref().map(|syntax| usages(syntax, prefix)).unwrap_or_default();
    let lexical = &context.scan.identifiers;
    let library = context.library;

    // The library's names for this place, best first, with the score they start from.
    let mut offered: Vec<Offer<'static>> = Vec::new();
    let completes = |name: &str| name.trim_end_matches('!').starts_with(prefix) && name.len() > prefix.len();
    if member {
        let receiver = at.and_then(|at| at.receiver).or_else(|| receiver_before(context.lead));
        let aliases = context.syntax.as_ref().map_or(&[][..], |syntax| syntax.aliases.as_slice());
        let known = receiver.and_then(|receiver| {
            library.module(receiver, aliases).or_else(|| {
                let (after, before) = context.syntax.as_ref().map_or((None, None), |s| declaration(s, receiver));
                library
                    .types
                    .get(receiver)
                    .or_else(|| library.type_of(receiver, after, before))
                    .map(|table| table.members.as_slice())
            })
        });
        match known {
            Some(members) => offered.extend(members.iter().map(|m| Offer::sure(m, LIBRARY_KNOWN_MEMBER))),
            None => {
                for table in library.types.values() {
                    offered.extend(table.members.iter().map(|m| Offer {
                        name: m,
                        base: LIBRARY_ANY_MEMBER,
                        guess: true,
                    }));
                }
            }
        }
    } else {
        if at.is_some_and(|at| at.in_class && (at.defining_function || context.statement)) {
            offered.extend(library.class_methods.iter().map(|m| Offer::sure(m, CLASS_METHOD)));
        }
        offered.extend(library.globals.iter().map(|g| Offer::sure(g, BUILTIN)));
    }

    let mut merged: Vec<&str> = Vec::new();
    for (index, &Offer { name: entry, base, guess }) in offered.iter().enumerate() {
        let name = entry.trim_end_matches('!');
        if !completes(entry) || merged.contains(&name) {
            continue;
        }
        merged.push(name);
        // A library name the document uses ranks as the better of both. It is the library's when
        // the library knows it belongs here; a guess from some type's members is the document's.
        let used = lexical.get(name).is_some() || usages.contains_key(name);
        let score = if used {
            let usage = usages.get(name).copied().unwrap_or_default();
            base.max(usage_score(lexical.get(name), usage, place) + USED_LIBRARY_BONUS)
        } else {
            base
        };
        let kind = if used && guess { SuggestionKind::Identifier } else { SuggestionKind::Builtin };
        out.push(entry, &entry[prefix.len()..], kind, score, ORDER_BUILTIN + index as u32);
    }
    let document_names = lexical.keys().copied().chain(usages.keys().copied());
    for name in document_names {
        if merged.contains(&name) || name.len() <= prefix.len() {
            continue;
        }
        merged.push(name);
        let usage = usages.get(name).copied().unwrap_or_default();
        let score = usage_score(lexical.get(name), usage, place);
        out.push(name, &name[prefix.len()..], SuggestionKind::Identifier, score, ORDER_NAME);
    }
}

/// A library name offered for the place, with the score it starts from.
#[derive(Clone, Copy)]
struct Offer<'l> {
    name: &'l str,
    base: f32,
    /// Offered because some type has such a member, the receiver's type being unknown.
    guess: bool,
}

impl<'l> Offer<'l> {
    fn sure(name: &'l str, base: f32) -> Self {
        Self { name, base, guess: false }
    }
}

/// The name before a trailing `.`, `::` or `->` of `lead`, when the parser did not say.
fn receiver_before(lead: &str) -> Option<&str> {
    let object = lead.trim_end_matches(['.', ':', '-', '>', '?']);
    let start = object.trim_end_matches(|c: char| c.is_alphanumeric() || c == '_' || c == '$').len();
    let name = &object[start..];
    (!name.is_empty()).then_some(name)
}

/// How `variable` is declared in the parsed window: the text after its first assignment or type
/// annotation (`: HashMap<..>`, `= []`), and the text before it on that line (`List<String> `).
fn declaration<'a>(syntax: &Syntax<'a>, variable: &str) -> (Option<&'a str>, Option<&'a str>) {
    let declared = (0..syntax.leaves.len()).find(|&i| {
        syntax.leaves[i].name
            && Some(i) != syntax.typed
            && syntax.text_of(i) == variable
            && syntax.previous(i).is_none_or(|p| !syntax::MEMBER_ACCESS.contains(&syntax.leaves[p].kind))
    });
    let Some(index) = declared else {
        return (None, None);
    };
    let leaf = syntax.leaves[index];
    let text = syntax.text;
    let (Some(head), Some(tail)) = (text.get(..leaf.start), text.get(leaf.end..)) else {
        return (None, None);
    };
    let line_start = head.rfind('\n').map_or(0, |i| i + 1);
    let line_end = tail.find('\n').map_or(tail.len(), |i| i);
    let assigns = syntax.next(index).is_some_and(|next| matches!(syntax.leaves[next].kind, "=" | ":=" | ":"));
    let after = assigns.then(|| &tail[..line_end]);
    (after, Some(head[line_start..].trim()))
}

fn snippets<'a>(context: &Context<'a>, out: &mut Candidates<'a>) {
    if !context.statement {
        return;
    }
    let prefix = context.prefix;
    for (index, snippet) in context.vocabulary.snippets.iter().enumerate() {
        if !snippet.body.starts_with(prefix) || !snippet_fits_depth(context, snippet.depth) {
            continue;
        }
        let first_word = snippet.body.split(|c: char| !is_ident_char(c, context.lang)).next().unwrap_or("");
        let score = if snippet.label == prefix {
            SNIPPET_TRIGGER
        } else if first_word == prefix {
            SNIPPET_FIRST_WORD
        } else if snippet.label.starts_with(prefix) {
            let typed = prefix.chars().count() as f32;
            SNIPPET_PARTIAL + 2.0 * typed
        } else {
            continue;
        };
        let body = expand(snippet.body, context.indent, &context.unit);
        out.push(
            snippet.label,
            body[prefix.len()..].to_owned(),
            SuggestionKind::Snippet,
            score,
            ORDER_SNIPPET + index as u32,
        );
    }
}

fn snippet_fits_depth(context: &Context<'_>, depth: Option<usize>) -> bool {
    match depth {
        None => true,
        Some(0) => context.indent.is_empty() && context.scan.open.is_empty(),
        Some(depth) => context.scan.open.len() == depth,
    }
}

/// Expands a snippet body: `\n` continues at the current indentation, `\t` is one unit.
fn expand(body: &str, indent: &str, unit: &str) -> String {
    let mut expanded = String::with_capacity(body.len() + 16);
    for c in body.chars() {
        match c {
            '\n' => {
                expanded.push('\n');
                expanded.push_str(indent);
            }
            '\t' => expanded.push_str(unit),
            _ => expanded.push(c),
        }
    }
    expanded
}

/// In an empty document: the language's `main` skeleton (or a class, for Java).
fn empty_document<'a>(context: &Context<'a>, out: &mut Candidates<'a>) {
    let snippets = context.vocabulary.snippets;
    let top_level: Vec<_> = snippets.iter().filter(|s| s.depth == Some(0)).collect();
    let chosen =
        if top_level.is_empty() { snippets.iter().filter(|s| s.label == "class").collect() } else { top_level };
    for (index, snippet) in chosen.into_iter().enumerate() {
        let body = expand(snippet.body, context.indent, &context.unit);
        out.push(snippet.label, body, SuggestionKind::Snippet, EMPTY_DOCUMENT_SNIPPET, ORDER_SNIPPET + index as u32);
    }
}

/// At the end of a line that opens a block (`{`, or Python's `:`): a new line, indented one unit
/// deeper; when the editor already closed the brace, the closing line too.
fn block_continuation<'a>(context: &Context<'a>, out: &mut Candidates<'a>) {
    let opener_line = context.line_before.trim_end();
    let rest = context.line_after.trim();
    let line_start = context.before.len() - context.line_before.len();
    let brace_at_end = context.scan.open.last().is_some_and(|open| {
        open.bracket == b'{'
            && open.line == context.scan.cursor_line
            && opener_line.ends_with('{')
            && open.at + 1 == line_start + opener_line.len()
    });
    let python_block = context.lang.colon_blocks()
        && opener_line.ends_with(':')
        && opens_python_block(opener_line)
        && !context.scan.open.iter().any(|open| open.line == context.scan.cursor_line);
    if !(brace_at_end && (rest.is_empty() || rest.starts_with('}')) || python_block && rest.is_empty()) {
        return;
    }
    let mut insert = format!("\n{}{}", context.indent, context.unit);
    if brace_at_end && rest.starts_with('}') {
        insert.push('\n');
        insert.push_str(context.indent);
    }
    out.push("indent", insert, SuggestionKind::Indent, INDENT_AFTER_OPENER, ORDER_OTHER);
}

fn opens_python_block(line: &str) -> bool {
    let first = line.trim_start().split(|c: char| !c.is_alphanumeric() && c != '_').next().unwrap_or("");
    PYTHON_BLOCK_KEYWORDS.contains(&first)
}

/// On a blank line right after a block opener, typed without its indentation: the indentation.
fn blank_line_indent<'a>(context: &Context<'a>, out: &mut Candidates<'a>) {
    if !context.line_before.trim().is_empty() || !context.line_after.trim().is_empty() {
        return;
    }
    let earlier = &context.before[..context.before.len() - context.line_before.len()];
    let Some(previous) = earlier.lines().rev().find(|line| !line.trim().is_empty()) else {
        return;
    };
    let previous_end = previous.trim_end();
    let opens = if context.lang.colon_blocks() {
        previous_end.ends_with(':') && opens_python_block(previous_end)
    } else {
        previous_end.ends_with('{') && context.scan.open.last().is_some_and(|open| open.bracket == b'{')
    };
    if !opens {
        return;
    }
    let previous_indent = &previous[..previous.len() - previous.trim_start_matches([' ', '\t']).len()];
    let expected = format!("{previous_indent}{}", context.unit);
    if let Some(missing) = expected.strip_prefix(context.line_before)
        && !missing.is_empty()
    {
        out.push("indent", missing.to_owned(), SuggestionKind::Indent, BLANK_LINE_INDENT, ORDER_OTHER);
    }
}

/// Closes the innermost bracket when nothing after the cursor does; also everything the line
/// opened, when that is more than one bracket.
fn close_brackets<'a>(context: &Context<'a>, nothing_typed: bool, out: &mut Candidates<'a>) {
    let scan = &context.scan;
    let Some(innermost) = scan.open.len().checked_sub(1) else {
        return;
    };
    if scan.closed_later.get(innermost).copied().unwrap_or(true) {
        return;
    }
    let open = scan.open[innermost];
    let line = context.line_before.trim_end();
    let line_end = context.before.len() - context.line_before.len() + line.len();
    // A `{` is closed on its own line, after the block: only a brace opened earlier on this line
    // and followed by something (`S { a: 1`) is worth closing here.
    if open.bracket == b'$' || open.bracket == b'{' && (open.line != scan.cursor_line || open.at + 1 == line_end) {
        return;
    }
    // After `,` or an operator, more is coming; `i++` and `i--` are complete, though.
    let operator = [',', '=', '+', '-', '*', '/', '%', '<', '>', '&', '|', '!', '^', '~', '?', ':', '.'];
    if nothing_typed && line.ends_with(operator) && !line.ends_with("++") && !line.ends_with("--") {
        return;
    }
    let (single, all) =
        if nothing_typed { (CLOSE_BRACKET, CLOSE_ALL_ON_LINE) } else { (CLOSE_AFTER_NAME, CLOSE_AFTER_NAME - 1.0) };
    let closer = closing(open.bracket).to_string();
    out.push(closer.clone(), closer, SuggestionKind::Bracket, single, ORDER_OTHER);
    let on_line = closers_on_line(scan, innermost);
    if on_line.chars().count() > 1 {
        out.push(on_line.clone(), on_line, SuggestionKind::Bracket, all, ORDER_OTHER + 1);
    }
}

fn closing(bracket: u8) -> char {
    match bracket {
        b'(' => ')',
        b'[' => ']',
        _ => '}',
    }
}

/// The closers of the brackets opened on the cursor's line and still unclosed, innermost first,
/// starting at `innermost`.
fn closers_on_line(scan: &Scan<'_>, innermost: usize) -> String {
    scan.open[..=innermost]
        .iter()
        .zip(&scan.closed_later)
        .rev()
        .take_while(|(open, closed)| !**closed && open.line == scan.cursor_line && open.bracket != b'$')
        .map(|(open, _)| closing(open.bracket))
        .collect()
}

/// In a string opened on this line and not closed on it: the closing quote, followed by the
/// closers of the brackets the line opened around it.
fn close_quote<'a>(context: &Context<'a>, literal: scan::StringLit, out: &mut Candidates<'a>) {
    let scan = &context.scan;
    if scan.string_closed_on_line || literal.start_line != scan.cursor_line {
        return;
    }
    let mut insert = literal.closer.text();
    if let Some(innermost) = scan.open.len().checked_sub(1)
        && context.line_after.trim().is_empty()
    {
        insert.push_str(&closers_on_line(scan, innermost));
    }
    out.push(insert.clone(), insert, SuggestionKind::Bracket, CLOSE_QUOTE, ORDER_OTHER);
}

/// In a comment or string: words of the document that complete the typed one.
fn words<'a>(context: &Context<'a>, out: &mut Candidates<'a>) {
    let prefix = context.prefix;
    if prefix.is_empty() {
        return;
    }
    for (&word, occurrences) in &context.scan.words {
        out.push(word, &word[prefix.len()..], SuggestionKind::Word, name_score(occurrences), ORDER_NAME);
    }
}

/// After a `#` at the start of a C or C++ line: the preprocessor directives, and an `#include`
/// line once `include` is typed.
fn directive<'a>(context: &Context<'a>, out: &mut Candidates<'a>) -> bool {
    if !context.lang.preprocessor() || context.lead.trim() != "#" {
        return false;
    }
    let prefix = context.prefix;
    for (index, &directive) in context.vocabulary.directives.iter().enumerate() {
        if directive.starts_with(prefix) && directive.len() > prefix.len() {
            out.push(
                directive,
                &directive[prefix.len()..],
                SuggestionKind::Keyword,
                KEYWORD_AT_STATEMENT,
                index as u32,
            );
        }
    }
    for (index, snippet) in context.vocabulary.snippets.iter().enumerate() {
        if snippet.label == "include" && prefix == "include" {
            out.push(
                snippet.label,
                &snippet.body[prefix.len()..],
                SuggestionKind::Snippet,
                SNIPPET_TRIGGER,
                index as u32,
            );
        }
    }
    true
}

/// Inside `#include <`: the standard headers that complete what is typed, with the `>`.
fn include_header<'a>(context: &Context<'a>, out: &mut Candidates<'a>) -> bool {
    if !context.lang.preprocessor() {
        return false;
    }
    let Some(typed) = context
        .line_before
        .trim_start()
        .strip_prefix('#')
        .and_then(|rest| rest.trim_start().strip_prefix("include"))
        .and_then(|rest| rest.trim_start().strip_prefix('<'))
    else {
        return false;
    };
    if typed.contains('>') {
        return false;
    }
    let closed = context.line_after.trim_start().starts_with('>');
    for (index, &header) in context.vocabulary.headers.iter().enumerate() {
        if header.starts_with(typed) && header.len() > typed.len() {
            let insert = format!("{}{}", &header[typed.len()..], if closed { "" } else { ">" });
            out.push(header, insert, SuggestionKind::Builtin, BUILTIN, ORDER_BUILTIN + index as u32);
        }
    }
    true
}

/// A suggestion being ranked. Names borrow from the document: a window can hold thousands.
struct Candidate<'a> {
    label: Cow<'a, str>,
    insert: Cow<'a, str>,
    kind: SuggestionKind,
    score: f32,
    order: u32,
}

#[derive(Default)]
struct Candidates<'a>(Vec<Candidate<'a>>);

impl<'a> Candidates<'a> {
    fn push(
        &mut self,
        label: impl Into<Cow<'a, str>>,
        insert: impl Into<Cow<'a, str>>,
        kind: SuggestionKind,
        score: f32,
        order: u32,
    ) {
        let insert = insert.into();
        if !insert.is_empty() {
            self.0.push(Candidate { label: label.into(), insert, kind, score, order });
        }
    }

    /// The best `limit` candidates, best first, each insertion once.
    fn ranked(mut self, limit: usize) -> Vec<Suggestion> {
        self.0.sort_by(|a, b| {
            b.score.total_cmp(&a.score).then(a.order.cmp(&b.order)).then_with(|| a.label.cmp(&b.label))
        });
        let mut items: Vec<Suggestion> = Vec::with_capacity(limit.min(self.0.len()));
        for candidate in self.0 {
            if items.len() == limit {
                break;
            }
            if items.iter().any(|item| item.insert_text == candidate.insert) {
                continue;
            }
            items.push(Suggestion {
                label: candidate.label.into_owned(),
                insert_text: candidate.insert.into_owned(),
                kind: candidate.kind,
            });
        }
        items
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn byte_offsets_count_code_points() {
        let samples = ["", "abc", "héllo wörld", "👋🏽 ça va? 日本語のテキスト", &"añ👋".repeat(100)];
        for text in samples {
            let chars = text.chars().count();
            for cursor in 0..=chars + 1 {
                let expected = text.char_indices().nth(cursor).map_or(text.len(), |(i, _)| i);
                assert_eq!(byte_offset(text, cursor), expected, "{text:?} at {cursor}");
            }
        }
    }

    #[test]
    fn windows_start_at_a_line_and_stay_on_char_boundaries() {
        let code = "ab\ncdé\nfgh";
        assert_eq!(window(code, code.len(), 4, 4), (8, code.len()));
        assert_eq!(window(code, 3, 100, 3), (0, 5));
        let accents = "éééé";
        let (start, end) = window(accents, 4, 3, 1);
        assert!(accents.is_char_boundary(start) && accents.is_char_boundary(end));
    }
}
