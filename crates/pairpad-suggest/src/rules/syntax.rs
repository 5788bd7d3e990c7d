//! What the parser knows about the text around the cursor: the grammar's own reading of the
//! half-typed word (a name, a type, a field, a property), what comes before it, the receiver of a
//! member access, the enclosing function and class, imported module aliases, and every word of the
//! parsed window with the same facts, so the ranking can ask "how often was this name used *here
//! like this*".
//!
//! tree-sitter parses a bounded window (a few kilobytes either side of the cursor, starting at a
//! line) under a time budget, so a large or hostile document costs the same as a small one. Its
//! error recovery gives a usable tree for half-typed code; when there is no grammar (an unknown
//! language) or the budget runs out, the window is split into words and punctuation, which still
//! tells what comes before and after each name. Markup (Svelte, Vue, HTML) is parsed through a
//! copy in which everything but its script is blanked, so offsets stay those of the document.

use std::borrow::Cow;
use std::cell::RefCell;
use std::ops::ControlFlow;
use std::sync::OnceLock;
use std::time::{Duration, Instant};

use tree_sitter::{Language, Node, ParseOptions, Parser, Tree};

use super::lang::Lang;

/// Parsing stops after this long; the rules then answer from words and punctuation. A window of
/// ordinary code parses in 1-2 ms; text the grammar cannot read (HTML parsed as TypeScript) makes
/// its error recovery several times slower, and this bounds it.
const PARSE_BUDGET: Duration = Duration::from_millis(10);

/// Leaves whose kind ends one of these are names.
const NAME_KIND_SUFFIX: &str = "identifier";
/// Named leaves that are names although their kind does not say so.
const NAME_KINDS: &[&str] = &["self", "this", "super", "primitive_type", "predefined_type", "crate"];
/// Tokens after which a name is a member of what precedes them.
pub(crate) const MEMBER_ACCESS: &[&str] = &[".", "?.", "::", "->"];
/// Tokens that introduce the name of a new function.
pub(crate) const DEFINES_FUNCTION: &[&str] = &["def", "fn", "func", "function"];

/// The grammar of `lang`, when there is one. Kept for the life of the process, so the kind names
/// it hands out are `'static`.
fn grammar(lang: Lang) -> Option<&'static Language> {
    static GRAMMARS: OnceLock<Vec<(Lang, Language)>> = OnceLock::new();
    let grammars = GRAMMARS.get_or_init(|| {
        [Lang::Python, Lang::JavaScript, Lang::TypeScript, Lang::Rust, Lang::Go, Lang::Java, Lang::C, Lang::Cpp]
            .into_iter()
            .filter_map(|lang| Some((lang, load_grammar(lang)?)))
            .collect()
    });
    grammars.iter().find(|(known, _)| *known == lang).map(|(_, language)| language)
}

fn load_grammar(lang: Lang) -> Option<Language> {
    Some(match lang {
        Lang::Python => tree_sitter_python::LANGUAGE.into(),
        Lang::JavaScript => tree_sitter_javascript::LANGUAGE.into(),
        Lang::TypeScript => tree_sitter_typescript::LANGUAGE_TYPESCRIPT.into(),
        Lang::Rust => tree_sitter_rust::LANGUAGE.into(),
        Lang::Go => tree_sitter_go::LANGUAGE.into(),
        Lang::Java => tree_sitter_java::LANGUAGE.into(),
        Lang::C => tree_sitter_c::LANGUAGE.into(),
        Lang::Cpp => tree_sitter_cpp::LANGUAGE.into(),
        Lang::Markup | Lang::Other => return None,
    })
}

/// What a window of `lang` is parsed as, and the text the grammar reads: markup's script, at the
/// same offsets, as JavaScript, or TypeScript when `around` (the window or more of the document)
/// shows a `<script lang="ts">`. (Either grammar's error recovery on the other's code is slow.)
fn script_of<'t>(text: &'t str, around: &str, lang: Lang) -> (Lang, Cow<'t, str>) {
    if lang != Lang::Markup {
        return (lang, Cow::Borrowed(text));
    }
    let typescript = around.contains("lang=\"ts\"") || around.contains("lang='ts'");
    (if typescript { Lang::TypeScript } else { Lang::JavaScript }, Cow::Owned(script_view(text)))
}

/// `text` with everything but its script blanked byte for byte (line breaks kept), so the script
/// parses as one program at the same offsets: the content of `<script>` elements, and each
/// `{...}` expression elsewhere as a statement of its own (without Svelte's `#if`, `:else`,
/// `/each` or `@html`). Tags, text, comments and `<style>` elements become spaces.
fn script_view(text: &str) -> String {
    let bytes = text.as_bytes();
    let find = |from: usize, needle: &[u8]| {
        bytes
            .get(from..)
            .and_then(|rest| rest.windows(needle.len()).position(|w| w.eq_ignore_ascii_case(needle)))
            .map(|at| from + at)
    };
    let mut view = vec![b' '; bytes.len()];
    let copy = |view: &mut Vec<u8>, start: usize, end: usize| view[start..end].copy_from_slice(&bytes[start..end]);
    // A window that starts inside a script element sees its end before any start.
    let mut i = match (find(0, b"</script"), find(0, b"<script")) {
        (Some(end), start) if start.is_none_or(|start| end < start) => {
            copy(&mut view, 0, end);
            end
        }
        _ => 0,
    };
    while i < bytes.len() {
        let rest = &bytes[i..];
        let starts = |prefix: &[u8]| rest.len() >= prefix.len() && rest[..prefix.len()].eq_ignore_ascii_case(prefix);
        if starts(b"<script") {
            let body = find(i, b">").map_or(bytes.len(), |end| end + 1);
            let end = find(body, b"</script").unwrap_or(bytes.len());
            copy(&mut view, body, end);
            i = end + 1;
        } else if starts(b"<style") {
            i = find(i, b"</style").map_or(bytes.len(), |end| end + 1);
        } else if starts(b"<!--") {
            i = find(i, b"-->").map_or(bytes.len(), |end| end + 3);
        } else if bytes[i] == b'{' {
            let mut depth = 0usize;
            let mut end = i;
            while end < bytes.len() {
                match bytes[end] {
                    b'{' => depth += 1,
                    b'}' => {
                        depth -= 1;
                        if depth == 0 {
                            break;
                        }
                    }
                    _ => {}
                }
                end += 1;
            }
            let mut start = i + 1;
            if bytes.get(start).is_some_and(|b| matches!(b, b'#' | b':' | b'/' | b'@')) {
                start += 1;
                while bytes.get(start).is_some_and(u8::is_ascii_alphabetic) {
                    start += 1;
                }
            }
            let end = end.min(bytes.len());
            copy(&mut view, start.min(end), end);
            if end < bytes.len() {
                view[end] = b';';
            }
            i = end + 1;
        } else {
            i += 1;
        }
    }
    for (at, byte) in bytes.iter().enumerate() {
        if *byte == b'\n' {
            view[at] = b'\n';
        }
    }
    // Copied ranges begin and end at ASCII bytes, so they hold whole characters.
    String::from_utf8(view).unwrap_or_default()
}

thread_local! {
    /// One parser per language per thread: creating one allocates its stacks.
    static PARSERS: RefCell<Vec<(Lang, Parser)>> = const { RefCell::new(Vec::new()) };
}

/// Parses `text` as `lang` within the time budget.
fn parse(text: &str, lang: Lang) -> Option<Tree> {
    parse_within(text, lang, PARSE_BUDGET)
}

fn parse_within(text: &str, lang: Lang, budget: Duration) -> Option<Tree> {
    let language = grammar(lang)?;
    PARSERS.with(|parsers| {
        let mut parsers = parsers.borrow_mut();
        let index = match parsers.iter().position(|(known, _)| *known == lang) {
            Some(index) => index,
            None => {
                let mut parser = Parser::new();
                parser.set_language(language).ok()?;
                parsers.push((lang, parser));
                parsers.len() - 1
            }
        };
        let parser = &mut parsers[index].1;
        let started = Instant::now();
        let mut within_budget = |_: &tree_sitter::ParseState| {
            if started.elapsed() > budget { ControlFlow::Break(()) } else { ControlFlow::Continue(()) }
        };
        let options = ParseOptions::new().progress_callback(&mut within_budget);
        let bytes = text.as_bytes();
        let tree =
            parser.parse_with_options(&mut |offset, _| bytes.get(offset..).unwrap_or_default(), None, Some(options));
        // A cancelled parse leaves state behind that the next parse would try to resume.
        parser.reset();
        tree
    })
}

/// A token of the parsed window.
#[derive(Clone, Copy, Debug)]
pub(crate) struct Leaf {
    /// The grammar's kind: `identifier`, `type_identifier`, `.`, `fn`, `string_content`, ...
    pub kind: &'static str,
    pub start: usize,
    pub end: usize,
    /// A name (an identifier of any kind, `self`, `this`).
    pub name: bool,
}

/// What the parser says about the place being typed.
#[derive(Debug, Default)]
pub(crate) struct AtCursor<'a> {
    /// The kind of the word being typed, when one is.
    pub kind: Option<&'static str>,
    /// The kind of the token before it.
    pub prev: &'static str,
    /// The kind of the token after the cursor (the text after the cursor is part of the document:
    /// a name typed into `f(‸)` is followed by `)`).
    pub next: &'static str,
    /// The member used right after the cursor (`push` in `ite‸.push(1)`).
    pub next_member: Option<&'a str>,
    /// After `.`, `::`, `->` or `?.`: the name before that, when it is a name (`self`, `event`).
    pub receiver: Option<&'a str>,
    /// In a comment or in a string's text (not in an interpolation).
    pub in_prose: bool,
    /// In script: always, but for markup's tags and text.
    pub in_script: bool,
    /// No error recovery around the cursor: the parser's reading of the place is sound (where it
    /// is not, a half-typed string or comment, the lexer decides).
    pub trusted: bool,
    /// In a function's parameter list: a name is being declared, no statement starts here.
    pub in_parameters: bool,
    /// Directly inside a class body (Python's `class`, Java's, JavaScript's, C++'s).
    pub in_class: bool,
    /// Typing the name of a function being defined (`def __in`, `fn ne`).
    pub defining_function: bool,
    /// The byte range of the innermost function around the cursor.
    pub scope: Option<(usize, usize)>,
}

/// The parsed window.
pub(crate) struct Syntax<'a> {
    pub text: &'a str,
    pub leaves: Vec<Leaf>,
    /// The leaf being typed, if any; it is never counted as an occurrence of anything.
    pub typed: Option<usize>,
    pub at_cursor: AtCursor<'a>,
    /// `(alias, module)` pairs: `import numpy as np`, Go's `import str "strings"`.
    pub aliases: Vec<(&'a str, &'a str)>,
}

impl<'a> Syntax<'a> {
    /// The text of leaf `index`.
    pub(crate) fn text_of(&self, index: usize) -> &'a str {
        let leaf = self.leaves[index];
        // Token boundaries fall between characters; should a grammar ever disagree, the name is
        // empty rather than a panic.
        self.text.get(leaf.start..leaf.end).unwrap_or_default()
    }

    /// The index of the first significant (non-comment) leaf before leaf `index`.
    pub(crate) fn previous(&self, index: usize) -> Option<usize> {
        (0..index).rev().find(|&i| !self.leaves[i].kind.contains("comment"))
    }

    /// The index of the first significant leaf after leaf `index`.
    pub(crate) fn next(&self, index: usize) -> Option<usize> {
        (index + 1..self.leaves.len()).find(|&i| !self.leaves[i].kind.contains("comment"))
    }

    /// The member that follows leaf `index`, when it is `.`, `::` or `->` and a name: what the
    /// name before it is used for (`push` in `items.push`).
    pub(crate) fn member_after(&self, access: usize) -> Option<&'a str> {
        if !MEMBER_ACCESS.contains(&self.leaves[access].kind) {
            return None;
        }
        let member = self.next(access)?;
        self.leaves[member].name.then(|| self.text_of(member))
    }

    /// The receiver of the member at leaf `index`: the name before its `.`, `::` or `->`.
    pub(crate) fn receiver_of(&self, index: usize) -> Option<&'a str> {
        let access = self.previous(index)?;
        if !MEMBER_ACCESS.contains(&self.leaves[access].kind) {
            return None;
        }
        let object = self.previous(access)?;
        self.leaves[object].name.then(|| self.text_of(object))
    }
}

/// Parses `text` (a window starting at a line, within `around`, more of the document) with the
/// cursor at byte `cursor`, after a typed `prefix`.
///
/// Without a grammar (or when the parse ran out of time) the window is split into words and
/// punctuation instead, so the ranking still knows what comes before and after each name.
pub(crate) fn analyse<'a>(text: &'a str, around: &str, cursor: usize, prefix: &str, lang: Lang) -> Syntax<'a> {
    let (script, source) = script_of(text, around, lang);
    let tree = parse(&source, script);
    let mut leaves = Vec::with_capacity(text.len() / 4);
    let mut aliases = Vec::new();
    match (&tree, grammar(script)) {
        (Some(tree), Some(grammar)) => collect(tree.root_node(), grammar, text, &mut leaves, &mut aliases),
        _ => tokens(text, &mut leaves),
    }
    let mut syntax = Syntax { text, leaves, typed: None, at_cursor: AtCursor::default(), aliases };

    let typed = (!prefix.is_empty()).then(|| syntax.leaves.partition_point(|leaf| leaf.end < cursor)).filter(|&i| {
        // The word being typed is a token of its own: a name, or a keyword it starts (`ret`
        // may read as `return`), never the text of a string or comment that ends there.
        let word = |leaf: &Leaf| leaf.name || text.get(leaf.start..leaf.end) == Some(leaf.kind);
        syntax.leaves.get(i).is_some_and(|leaf| leaf.end == cursor && leaf.start + prefix.len() == cursor && word(leaf))
    });
    syntax.typed = typed;
    let before = match typed {
        Some(i) => syntax.previous(i),
        None => syntax.leaves.partition_point(|leaf| leaf.end <= cursor).checked_sub(1),
    };
    let prev = before.map_or("", |i| syntax.leaves[i].kind);
    let after = syntax.leaves.partition_point(|leaf| leaf.start < cursor);
    let next_index = (after..syntax.leaves.len()).find(|&i| !syntax.leaves[i].kind.contains("comment"));
    let next = next_index.map_or("", |i| syntax.leaves[i].kind);
    let next_member = next_index.and_then(|i| syntax.member_after(i));
    let member = MEMBER_ACCESS.contains(&prev);
    let receiver = before
        .filter(|_| member)
        .and_then(|access| syntax.previous(access))
        .and_then(|object| syntax.leaves[object].name.then(|| syntax.text_of(object)));

    // Markup's view blanks what is not script; the typed word (or the `.` before a member) shows.
    let last = cursor.checked_sub(1);
    let in_script = last.is_none_or(|last| source.as_bytes().get(last) == text.as_bytes().get(last));
    syntax.at_cursor = AtCursor {
        kind: typed.map(|i| syntax.leaves[i].kind),
        prev,
        next,
        next_member,
        receiver,
        in_script,
        ..AtCursor::default()
    };
    if let Some(tree) = &tree {
        enclosing(&mut syntax.at_cursor, tree.root_node(), cursor, typed.is_some());
    }
    syntax
}

/// What the nodes around the cursor tell: prose, class, scope, a function being defined.
fn enclosing(at_cursor: &mut AtCursor<'_>, root: Node<'_>, cursor: usize, typed: bool) {
    let prev = at_cursor.prev;
    let probe = cursor.saturating_sub(1);
    let at = root.descendant_for_byte_range(probe, cursor).unwrap_or(root);
    let mut in_prose = false;
    let mut in_class = false;
    let mut in_parameters = false;
    let mut trusted = true;
    let mut scope = None;
    let mut node = Some(at);
    let mut depth = 0;
    while let Some(current) = node {
        let kind = current.kind();
        let inside = current.start_byte() < cursor && cursor <= current.end_byte();
        trusted &= !current.is_error() && !current.is_missing();
        if inside {
            if scope.is_none() && kind.contains("parameter") {
                in_parameters = true;
            }
            if kind.contains("comment") || is_string_text(kind) {
                in_prose = !typed || kind.contains("comment");
            }
            if scope.is_none() && is_function(kind) {
                scope = Some((current.start_byte(), current.end_byte()));
            }
            // A class's body, not a method inside it: the first definition up the tree decides.
            if depth < 4 && scope.is_none() && (kind.contains("class") || kind == "declaration_list") {
                in_class = true;
            }
        }
        if kind.contains("interpolation") || kind == "template_substitution" {
            break;
        }
        node = current.parent();
        depth += 1;
    }
    let defining_function = DEFINES_FUNCTION.contains(&prev);
    if defining_function {
        // `def __in` inside a class: the function being defined is not the scope to look in.
        scope = None;
        in_class |= at.parent().is_some_and(|p| {
            let mut ancestor = p.parent();
            while let Some(node) = ancestor {
                if node.kind().contains("class") {
                    return true;
                }
                if is_function(node.kind()) && node.start_byte() < p.start_byte() {
                    return false;
                }
                ancestor = node.parent();
            }
            false
        });
    }
    at_cursor.in_prose = in_prose;
    at_cursor.trusted = trusted;
    at_cursor.in_parameters = in_parameters;
    at_cursor.in_class = in_class;
    at_cursor.defining_function = defining_function;
    at_cursor.scope = scope;
}

/// Splits `text` into words (as names) and single punctuation characters, for a language
/// without a grammar.
fn tokens(text: &str, leaves: &mut Vec<Leaf>) {
    let mut chars = text.char_indices().peekable();
    while let Some((start, c)) = chars.next() {
        if c.is_alphanumeric() || c == '_' || c == '$' {
            let mut end = start + c.len_utf8();
            while let Some(&(at, next)) =
                chars.peek().filter(|(_, next)| next.is_alphanumeric() || *next == '_' || *next == '$')
            {
                end = at + next.len_utf8();
                chars.next();
            }
            let name = !c.is_ascii_digit();
            leaves.push(Leaf { kind: if name { "identifier" } else { "number" }, start, end, name });
        } else if !c.is_whitespace() {
            leaves.push(Leaf { kind: punctuation(c), start, end: start + c.len_utf8(), name: false });
        }
    }
}

/// A punctuation character as a token kind.
fn punctuation(c: char) -> &'static str {
    const KINDS: &[&str] = &[
        "!", "\"", "#", "%", "&", "'", "(", ")", "*", "+", ",", "-", ".", "/", ":", ";", "<", "=", ">", "?", "@", "[",
        "\\", "]", "^", "`", "{", "|", "}", "~",
    ];
    KINDS.iter().find(|kind| kind.starts_with(c)).copied().unwrap_or("other")
}

/// The kind a name is compared by. A half-typed word is always read as a plain name (or a type,
/// in a type's place), never as `self` or `usize`: those count as names and types.
fn kind_class(kind: &'static str) -> &'static str {
    match kind {
        "self" | "this" | "super" | "crate" => "identifier",
        "primitive_type" | "predefined_type" => "type_identifier",
        _ => kind,
    }
}

/// Whether a leaf of this kind names a member where it is declared (a field, a property).
pub(crate) fn declares_member(kind: &str) -> bool {
    matches!(
        kind,
        "field_identifier" | "property_identifier" | "shorthand_property_identifier" | "private_property_identifier"
    )
}

fn is_function(kind: &str) -> bool {
    kind.contains("function") || kind.contains("method") || kind.contains("lambda") || kind.contains("closure")
}

/// The text of a string literal (not its delimiters and not an interpolation).
fn is_string_text(kind: &str) -> bool {
    matches!(
        kind,
        "string_content"
            | "string_fragment"
            | "raw_string_content"
            | "raw_string_literal"
            | "raw_string_literal_content"
            | "interpreted_string_literal_content"
    ) || kind == "string_literal"
        || kind == "template_string"
}

/// Appends the leaves under `root` in text order, and the module aliases it declares.
fn collect<'a>(
    root: Node<'_>,
    grammar: &'static Language,
    text: &'a str,
    leaves: &mut Vec<Leaf>,
    aliases: &mut Vec<(&'a str, &'a str)>,
) {
    let mut walk = root.walk();
    loop {
        let node = walk.node();
        if node.child_count() == 0 {
            if node.end_byte() > node.start_byte() {
                let kind = kind_class(grammar.node_kind_for_id(node.kind_id()).unwrap_or_default());
                let name = node.is_named() && (kind.ends_with(NAME_KIND_SUFFIX) || NAME_KINDS.contains(&kind));
                leaves.push(Leaf { kind, start: node.start_byte(), end: node.end_byte(), name });
            }
        } else {
            if let Some(alias) = module_alias(node, text) {
                aliases.push(alias);
            }
            if walk.goto_first_child() {
                continue;
            }
        }
        while !walk.goto_next_sibling() {
            if !walk.goto_parent() {
                return;
            }
        }
    }
}

/// The byte ranges of the names of a whole file, in text order, as its grammar reads them (for
/// markup, those of its script); without a grammar, its words.
pub(crate) fn names(code: &str, lang: Lang) -> Vec<(usize, usize)> {
    let (script, source) = script_of(code, code, lang);
    let mut leaves = Vec::new();
    match (parse_within(&source, script, Duration::MAX), grammar(script)) {
        (Some(tree), Some(grammar)) => collect(tree.root_node(), grammar, code, &mut leaves, &mut Vec::new()),
        _ => tokens(code, &mut leaves),
    }
    leaves.iter().filter(|leaf| leaf.name).map(|leaf| (leaf.start, leaf.end)).collect()
}

/// `import numpy as np` (Python), `import str "strings"` (Go): the alias and the module.
fn module_alias<'a>(node: Node<'_>, text: &'a str) -> Option<(&'a str, &'a str)> {
    let field = |name: &str| node.child_by_field_name(name).and_then(|child| text.get(child.byte_range()));
    match node.kind() {
        "aliased_import" => Some((field("alias")?, field("name")?)),
        "import_spec" => {
            let path = field("path")?.trim_matches('"');
            let module = path.rsplit('/').next().unwrap_or(path);
            Some((field("name")?, module))
        }
        _ => None,
    }
}
