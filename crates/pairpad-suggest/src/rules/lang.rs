//! What the rules know about each language's syntax: how its comments and strings look, its
//! keywords and snippet templates. (Its library's names are data: `library`.) Lists are ordered by
//! how often the words are typed, because that order breaks ties between equally good matches.

/// A language the rules know, or [`Lang::Other`] for everything else.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Lang {
    Python,
    JavaScript,
    TypeScript,
    Rust,
    Go,
    Java,
    C,
    Cpp,
    /// A component or page that embeds script in markup (Svelte, Vue, HTML): its `<script>`
    /// blocks and `{...}` expressions are JavaScript or TypeScript, the rest is lexed as text.
    Markup,
    Other,
}

/// Where a keyword may appear.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Place {
    /// Only at the start of a statement (`return`, `def`, ...): offering it mid-expression is noise.
    Statement,
    /// Anywhere (`if` in a Python comprehension, `match` as a Rust expression, `None`, ...).
    Anywhere,
}

/// A template inserted when its trigger is typed at the start of a statement.
///
/// `body` uses `\n` for a new line at the current indentation and `\t` for one indentation unit,
/// so the template follows the document's style. Because a suggestion can only insert text, a
/// snippet is offered only while the typed prefix is the start of its body.
#[derive(Clone, Copy, Debug)]
pub(crate) struct Snippet {
    pub label: &'static str,
    pub body: &'static str,
    /// `Some(depth)`: offered only at that bracket depth, on an unindented line when the depth is 0
    /// (a `main` function belongs at the top level, Java's inside its class).
    pub depth: Option<usize>,
}

const fn snip(label: &'static str, body: &'static str) -> Snippet {
    Snippet { label, body, depth: None }
}

const fn main_snip(body: &'static str, depth: usize) -> Snippet {
    Snippet { label: "main", body, depth: Some(depth) }
}

/// The vocabulary of one language.
pub(crate) struct Vocabulary {
    pub keywords: &'static [(&'static str, Place)],
    pub snippets: &'static [Snippet],
    /// Preprocessor directives, offered after a `#` at the start of a line.
    pub directives: &'static [&'static str],
    /// Headers offered inside `#include <`.
    pub headers: &'static [&'static str],
    /// The indentation unit when the document shows none.
    pub default_indent: &'static str,
}

impl Vocabulary {
    pub(crate) fn is_keyword(&self, word: &str) -> bool {
        self.keywords.iter().any(|(keyword, _)| *keyword == word)
    }
}

impl Lang {
    /// Recognises a language by its normalised name or a common alias; anything else is `Other`.
    pub(crate) fn from_name(name: &str) -> Self {
        match name.trim() {
            "python" | "py" | "python3" | "py3" => Self::Python,
            "javascript" | "js" | "jsx" | "mjs" | "cjs" | "node" | "nodejs" | "ecmascript" => Self::JavaScript,
            "typescript" | "ts" | "tsx" | "mts" | "cts" => Self::TypeScript,
            "rust" | "rs" => Self::Rust,
            "go" | "golang" => Self::Go,
            "java" => Self::Java,
            "c" | "h" => Self::C,
            "cpp" | "c++" | "cxx" | "cc" | "hpp" | "hxx" | "hh" => Self::Cpp,
            "svelte" | "vue" | "html" | "htm" => Self::Markup,
            _ => Self::Other,
        }
    }

    pub(crate) fn vocabulary(self) -> &'static Vocabulary {
        match self {
            Self::Python => &PYTHON,
            Self::JavaScript => &JAVASCRIPT,
            Self::TypeScript => &TYPESCRIPT,
            Self::Rust => &RUST,
            Self::Go => &GO,
            Self::Java => &JAVA,
            Self::C => &C,
            Self::Cpp => &CPP,
            Self::Markup | Self::Other => &OTHER,
        }
    }

    pub(crate) fn hash_comments(self) -> bool {
        self == Self::Python
    }

    pub(crate) fn slash_comments(self) -> bool {
        !matches!(self, Self::Python | Self::Markup | Self::Other)
    }

    pub(crate) fn nested_block_comments(self) -> bool {
        self == Self::Rust
    }

    pub(crate) fn dollar_in_identifiers(self) -> bool {
        matches!(self, Self::JavaScript | Self::TypeScript)
    }

    /// Python blocks open with a `:`; every other known language uses `{`.
    pub(crate) fn colon_blocks(self) -> bool {
        self == Self::Python
    }

    pub(crate) fn preprocessor(self) -> bool {
        matches!(self, Self::C | Self::Cpp)
    }

    /// Whether `if (x) return` is usual: a statement may follow a `)`.
    pub(crate) fn statement_after_paren(self) -> bool {
        matches!(self, Self::C | Self::Cpp | Self::Java | Self::JavaScript | Self::TypeScript)
    }
}

/// Words that may precede a declaration keyword without making it mid-expression: `pub fn`,
/// `export function`, `public static void`, `async def`.
pub(crate) const MODIFIERS: &[&str] = &[
    "pub",
    "pub(crate)",
    "pub(super)",
    "async",
    "export",
    "default",
    "public",
    "private",
    "protected",
    "static",
    "final",
    "abstract",
    "unsafe",
    "inline",
    "extern",
    "virtual",
    "declare",
];

/// Python lines that open a block with their trailing `:`.
pub(crate) const PYTHON_BLOCK_KEYWORDS: &[&str] = &[
    "def", "class", "if", "elif", "else", "for", "while", "try", "except", "finally", "with", "async", "match", "case",
];

use Place::{Anywhere as A, Statement as S};

const C_DIRECTIVES: &[&str] =
    &["include", "define", "ifndef", "endif", "ifdef", "if", "else", "elif", "pragma", "undef", "error"];

static PYTHON: Vocabulary = Vocabulary {
    keywords: &[
        ("return", S),
        ("if", A),
        ("def", S),
        ("for", A),
        ("in", A),
        ("else", A),
        ("elif", S),
        ("while", S),
        ("import", S),
        ("from", A),
        ("class", S),
        ("not", A),
        ("and", A),
        ("or", A),
        ("is", A),
        ("None", A),
        ("True", A),
        ("False", A),
        ("try", S),
        ("except", S),
        ("finally", S),
        ("with", S),
        ("as", A),
        ("pass", S),
        ("break", S),
        ("continue", S),
        ("raise", S),
        ("lambda", A),
        ("yield", A),
        ("await", A),
        ("async", S),
        ("assert", S),
        ("global", S),
        ("nonlocal", S),
        ("del", S),
        ("match", S),
        ("case", S),
    ],
    snippets: &[
        snip("def", "def name(args):\n\tpass"),
        snip("class", "class Name:\n\tdef __init__(self):\n\t\tpass"),
        snip("if", "if condition:\n\tpass"),
        snip("for", "for item in items:\n\tpass"),
        snip("while", "while condition:\n\tpass"),
        snip("match", "match value:\n\tcase pattern:\n\t\tpass"),
        snip("try", "try:\n\tpass\nexcept Exception as error:\n\traise"),
        snip("with", "with open(path) as file:\n\tpass"),
        snip("import", "import module"),
        snip("from", "from module import name"),
        main_snip("if __name__ == \"__main__\":\n\tmain()", 0),
    ],
    directives: &[],
    headers: &[],
    default_indent: "    ",
};

static JAVASCRIPT: Vocabulary = Vocabulary {
    keywords: &[
        ("return", S),
        ("const", S),
        ("function", A),
        ("if", S),
        ("else", S),
        ("for", S),
        ("let", S),
        ("this", A),
        ("new", A),
        ("await", A),
        ("async", A),
        ("true", A),
        ("false", A),
        ("null", A),
        ("undefined", A),
        ("import", S),
        ("export", S),
        ("from", A),
        ("class", A),
        ("while", S),
        ("switch", S),
        ("case", S),
        ("default", A),
        ("break", S),
        ("continue", S),
        ("try", S),
        ("catch", S),
        ("finally", S),
        ("throw", S),
        ("typeof", A),
        ("instanceof", A),
        ("in", A),
        ("of", A),
        ("var", S),
        ("do", S),
        ("delete", A),
        ("void", A),
        ("yield", A),
        ("super", A),
        ("extends", A),
        ("static", A),
    ],
    snippets: &[
        snip("function", "function name(params) {\n\t\n}"),
        snip("class", "class Name {\n\tconstructor() {\n\t\t\n\t}\n}"),
        snip("if", "if (condition) {\n\t\n}"),
        snip("for", "for (const item of items) {\n\t\n}"),
        snip("while", "while (condition) {\n\t\n}"),
        snip("switch", "switch (value) {\n\tcase x:\n\t\tbreak;\n\tdefault:\n\t\tbreak;\n}"),
        snip("try", "try {\n\t\n} catch (error) {\n\t\n}"),
        snip("import", "import { name } from \"module\";"),
        main_snip("async function main() {\n\t\n}\n\nmain();", 0),
    ],
    directives: &[],
    headers: &[],
    default_indent: "  ",
};

static TYPESCRIPT: Vocabulary = Vocabulary {
    keywords: &[
        ("return", S),
        ("const", S),
        ("function", A),
        ("if", S),
        ("else", S),
        ("for", S),
        ("let", S),
        ("this", A),
        ("new", A),
        ("await", A),
        ("async", A),
        ("true", A),
        ("false", A),
        ("null", A),
        ("undefined", A),
        ("import", S),
        ("export", S),
        ("from", A),
        ("interface", S),
        ("type", S),
        ("class", A),
        ("while", S),
        ("switch", S),
        ("case", S),
        ("default", A),
        ("break", S),
        ("continue", S),
        ("try", S),
        ("catch", S),
        ("finally", S),
        ("throw", S),
        ("typeof", A),
        ("instanceof", A),
        ("keyof", A),
        ("as", A),
        ("in", A),
        ("of", A),
        ("enum", S),
        ("implements", A),
        ("extends", A),
        ("private", A),
        ("public", A),
        ("protected", A),
        ("readonly", A),
        ("static", A),
        ("abstract", A),
        ("namespace", S),
        ("declare", S),
        ("var", S),
        ("do", S),
        ("delete", A),
        ("void", A),
        ("yield", A),
        ("super", A),
    ],
    snippets: &[
        snip("function", "function name(params): void {\n\t\n}"),
        snip("class", "class Name {\n\tconstructor() {\n\t\t\n\t}\n}"),
        snip("interface", "interface Name {\n\t\n}"),
        snip("if", "if (condition) {\n\t\n}"),
        snip("for", "for (const item of items) {\n\t\n}"),
        snip("while", "while (condition) {\n\t\n}"),
        snip("switch", "switch (value) {\n\tcase x:\n\t\tbreak;\n\tdefault:\n\t\tbreak;\n}"),
        snip("try", "try {\n\t\n} catch (error) {\n\t\n}"),
        snip("import", "import { name } from \"module\";"),
        main_snip("async function main(): Promise<void> {\n\t\n}\n\nmain();", 0),
    ],
    directives: &[],
    headers: &[],
    default_indent: "  ",
};

static RUST: Vocabulary = Vocabulary {
    keywords: &[
        ("let", A),
        ("fn", A),
        ("return", A),
        ("if", A),
        ("else", A),
        ("match", A),
        ("for", A),
        ("in", A),
        ("mut", A),
        ("self", A),
        ("Self", A),
        ("pub", A),
        ("use", A),
        ("struct", A),
        ("impl", A),
        ("enum", A),
        ("while", A),
        ("loop", A),
        ("trait", A),
        ("mod", A),
        ("const", A),
        ("static", A),
        ("async", A),
        ("await", A),
        ("move", A),
        ("ref", A),
        ("as", A),
        ("where", A),
        ("type", A),
        ("true", A),
        ("false", A),
        ("break", A),
        ("continue", A),
        ("crate", A),
        ("super", A),
        ("unsafe", A),
        ("dyn", A),
        ("extern", A),
    ],
    snippets: &[
        snip("fn", "fn name() {\n\t\n}"),
        snip("struct", "struct Name {\n\tfield: Type,\n}"),
        snip("impl", "impl Name {\n\t\n}"),
        snip("enum", "enum Name {\n\tVariant,\n}"),
        snip("if", "if condition {\n\t\n}"),
        snip("for", "for item in items {\n\t\n}"),
        snip("while", "while condition {\n\t\n}"),
        snip("loop", "loop {\n\t\n}"),
        snip("match", "match value {\n\tpattern => {}\n\t_ => {}\n}"),
        snip("use", "use std::collections::HashMap;"),
        main_snip("fn main() {\n\t\n}", 0),
    ],
    directives: &[],
    headers: &[],
    default_indent: "    ",
};

static GO: Vocabulary = Vocabulary {
    keywords: &[
        ("return", S),
        ("func", A),
        ("if", S),
        ("else", A),
        ("for", S),
        ("range", A),
        ("var", S),
        ("nil", A),
        ("type", S),
        ("struct", A),
        ("interface", A),
        ("package", S),
        ("import", S),
        ("const", S),
        ("defer", S),
        ("go", S),
        ("chan", A),
        ("map", A),
        ("switch", S),
        ("case", S),
        ("default", S),
        ("break", S),
        ("continue", S),
        ("select", S),
        ("true", A),
        ("false", A),
        ("fallthrough", S),
        ("goto", S),
        ("iota", A),
    ],
    snippets: &[
        snip("func", "func name() {\n\t\n}"),
        snip("iferr", "if err != nil {\n\treturn err\n}"),
        snip("if", "if condition {\n\t\n}"),
        snip("for", "for _, item := range items {\n\t\n}"),
        snip("switch", "switch value {\ncase x:\n\t\ndefault:\n\t\n}"),
        snip("struct", "type Name struct {\n\t\n}"),
        snip("import", "import (\n\t\"fmt\"\n)"),
        snip("package", "package main"),
        main_snip("func main() {\n\t\n}", 0),
    ],
    directives: &[],
    headers: &[],
    default_indent: "\t",
};

static JAVA: Vocabulary = Vocabulary {
    keywords: &[
        ("return", S),
        ("public", A),
        ("if", S),
        ("else", A),
        ("new", A),
        ("private", A),
        ("static", A),
        ("void", A),
        ("int", A),
        ("final", A),
        ("this", A),
        ("for", S),
        ("class", A),
        ("while", S),
        ("import", S),
        ("package", S),
        ("true", A),
        ("false", A),
        ("null", A),
        ("boolean", A),
        ("try", S),
        ("catch", A),
        ("finally", A),
        ("throw", S),
        ("throws", A),
        ("switch", S),
        ("case", S),
        ("default", A),
        ("break", S),
        ("continue", S),
        ("extends", A),
        ("implements", A),
        ("interface", A),
        ("protected", A),
        ("abstract", A),
        ("enum", A),
        ("instanceof", A),
        ("long", A),
        ("double", A),
        ("float", A),
        ("char", A),
        ("byte", A),
        ("short", A),
        ("super", A),
        ("var", S),
        ("do", S),
        ("synchronized", A),
        ("record", A),
        ("yield", S),
    ],
    snippets: &[
        snip("class", "class Name {\n\t\n}"),
        snip("method", "void name() {\n\t\n}"),
        snip("if", "if (condition) {\n\t\n}"),
        snip("for", "for (int i = 0; i < n; i++) {\n\t\n}"),
        snip("while", "while (condition) {\n\t\n}"),
        snip("switch", "switch (value) {\n\tcase x:\n\t\tbreak;\n\tdefault:\n\t\tbreak;\n}"),
        snip("try", "try {\n\t\n} catch (Exception e) {\n\t\n}"),
        snip("import", "import java.util.List;"),
        main_snip("public static void main(String[] args) {\n\t\n}", 1),
    ],
    directives: &[],
    headers: &[],
    default_indent: "    ",
};

static C: Vocabulary = Vocabulary {
    keywords: &[
        ("return", S),
        ("if", S),
        ("int", A),
        ("else", A),
        ("for", S),
        ("while", S),
        ("char", A),
        ("void", A),
        ("struct", A),
        ("const", A),
        ("static", A),
        ("unsigned", A),
        ("sizeof", A),
        ("long", A),
        ("double", A),
        ("float", A),
        ("switch", S),
        ("case", S),
        ("default", S),
        ("break", S),
        ("continue", S),
        ("typedef", S),
        ("enum", A),
        ("NULL", A),
        ("do", S),
        ("goto", S),
        ("extern", A),
        ("short", A),
        ("signed", A),
        ("union", A),
        ("volatile", A),
        ("inline", A),
        ("bool", A),
        ("true", A),
        ("false", A),
    ],
    snippets: &[
        snip("if", "if (condition) {\n\t\n}"),
        snip("for", "for (int i = 0; i < n; i++) {\n\t\n}"),
        snip("while", "while (condition) {\n\t\n}"),
        snip("switch", "switch (value) {\n\tcase 0:\n\t\tbreak;\n\tdefault:\n\t\tbreak;\n}"),
        snip("struct", "struct name {\n\t\n};"),
        snip("typedef", "typedef struct {\n\t\n} name;"),
        snip("function", "void name(void) {\n\t\n}"),
        snip("include", "include <stdio.h>"),
        main_snip("int main(void) {\n\t\n\treturn 0;\n}", 0),
    ],
    directives: C_DIRECTIVES,
    headers: &[
        "stdio.h",
        "stdlib.h",
        "string.h",
        "stdint.h",
        "stdbool.h",
        "stddef.h",
        "math.h",
        "assert.h",
        "ctype.h",
        "errno.h",
        "limits.h",
        "time.h",
        "unistd.h",
    ],
    default_indent: "    ",
};

static CPP: Vocabulary = Vocabulary {
    keywords: &[
        ("return", S),
        ("if", S),
        ("int", A),
        ("auto", A),
        ("const", A),
        ("else", A),
        ("for", S),
        ("while", S),
        ("void", A),
        ("class", A),
        ("struct", A),
        ("public", A),
        ("private", A),
        ("protected", A),
        ("bool", A),
        ("true", A),
        ("false", A),
        ("nullptr", A),
        ("this", A),
        ("new", A),
        ("delete", A),
        ("namespace", S),
        ("using", S),
        ("template", A),
        ("typename", A),
        ("virtual", A),
        ("override", A),
        ("static", A),
        ("char", A),
        ("double", A),
        ("float", A),
        ("long", A),
        ("unsigned", A),
        ("switch", S),
        ("case", S),
        ("default", S),
        ("break", S),
        ("continue", S),
        ("try", S),
        ("catch", A),
        ("throw", A),
        ("constexpr", A),
        ("noexcept", A),
        ("static_cast", A),
        ("sizeof", A),
        ("enum", A),
        ("explicit", A),
        ("operator", A),
        ("friend", A),
        ("mutable", A),
        ("typedef", S),
        ("do", S),
        ("inline", A),
        ("dynamic_cast", A),
        ("reinterpret_cast", A),
        ("const_cast", A),
        ("decltype", A),
    ],
    snippets: &[
        snip("class", "class Name {\npublic:\n\tName();\n};"),
        snip("struct", "struct Name {\n\t\n};"),
        snip("if", "if (condition) {\n\t\n}"),
        snip("for", "for (auto& item : items) {\n\t\n}"),
        snip("while", "while (condition) {\n\t\n}"),
        snip("switch", "switch (value) {\n\tcase 0:\n\t\tbreak;\n\tdefault:\n\t\tbreak;\n}"),
        snip("try", "try {\n\t\n} catch (const std::exception& e) {\n\t\n}"),
        snip("namespace", "namespace name {\n\n}"),
        snip("function", "void name() {\n\t\n}"),
        snip("include", "include <iostream>"),
        main_snip("int main() {\n\t\n\treturn 0;\n}", 0),
    ],
    directives: C_DIRECTIVES,
    headers: &[
        "iostream",
        "vector",
        "string",
        "memory",
        "algorithm",
        "map",
        "unordered_map",
        "set",
        "utility",
        "optional",
        "functional",
        "array",
        "sstream",
        "fstream",
        "thread",
        "mutex",
        "chrono",
        "cstdio",
        "cstdlib",
        "cstring",
        "cstdint",
        "cassert",
    ],
    default_indent: "    ",
};

static OTHER: Vocabulary =
    Vocabulary { keywords: &[], snippets: &[], directives: &[], headers: &[], default_indent: "    " };
