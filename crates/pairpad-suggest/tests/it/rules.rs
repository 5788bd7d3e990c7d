//! The rule-based suggester: a table of realistic cursor situations per language, then the
//! properties every answer must have (bounded work, prefix handling, ranking).

use std::time::{Duration, Instant};

use pairpad_domain::SuggestionKind::{self, Bracket, Builtin, Identifier, Indent, Keyword, Snippet, Word};
use pairpad_domain::{Language, Suggester, SuggestionRequest};
use pairpad_suggest::RuleSuggester;
use proptest::prelude::*;

use super::request;

/// One cursor situation: the document with the cursor marked, and the best suggestion expected
/// (`None`: no suggestion at all).
struct Case {
    situation: &'static str,
    code: &'static str,
    best: Option<(&'static str, SuggestionKind)>,
}

const fn case(situation: &'static str, code: &'static str, insert: &'static str, kind: SuggestionKind) -> Case {
    Case { situation, code, best: Some((insert, kind)) }
}

const fn nothing(situation: &'static str, code: &'static str) -> Case {
    Case { situation, code, best: None }
}

/// Runs every case and reports all the failures at once.
fn check(language: &str, cases: &[Case]) {
    assert!(cases.len() >= 12, "{language}: a dozen situations at least");
    let rules = RuleSuggester::new();
    let mut failures = Vec::new();
    for case in cases {
        let answer = rules.suggest_now(&request(language, case.code, None));
        assert_eq!(answer.source, "rules");
        let best = answer.items.first().map(|item| (item.insert_text.as_str(), item.kind));
        if best != case.best {
            let top: Vec<_> = answer.items.iter().take(3).map(|i| (i.kind, &i.insert_text)).collect();
            failures.push(format!("  {}: {:?}\n    expected {:?}, got {top:?}", case.situation, case.code, case.best));
        }
        if let Some(item) = answer.items.iter().find(|item| item.insert_text.is_empty()) {
            failures.push(format!("  {}: empty insertion {item:?}", case.situation));
        }
    }
    assert!(failures.is_empty(), "{language}:\n{}", failures.join("\n"));
}

#[test]
fn python() {
    check(
        "python",
        &[
            case("keyword being typed in a body", "def fib(n):\n    ret‸", "urn", Keyword),
            case(
                "name from the document",
                "total_count = 0\nfor x in xs:\n    total_count += x\nprint(tot‸",
                "al_count",
                Identifier,
            ),
            case(
                "keyword nested two levels deep",
                "for i in range(10):\n    if i % 2:\n        contin‸",
                "ue",
                Keyword,
            ),
            case("built-in mid-line", "names = ['a']\nfor i, name in enu‸", "merate", Builtin),
            case("closes the call", "print(len(names)‸", ")", Bracket),
            case("closes the innermost call first", "print(len(names‸", ")", Bracket),
            case("indents after a def", "def greet(name):‸", "\n    ", Indent),
            case(
                "follows the document's two-space style",
                "class A:\n  def f(self):\n    pass\n\nclass B:‸",
                "\n  ",
                Indent,
            ),
            case("indents a blank line after a colon", "while True:\n‸", "    ", Indent),
            case("words inside a string", "message = \"hello world\"\nprint(\"hel‸\")", "lo", Word),
            nothing("no code in a comment", "import os\n# ret‸"),
            case("words inside a comment", "# TODO: handle the timeout\nx = 1\n# tim‸", "eout", Word),
            case("snippet for a typed block keyword", "for‸", " item in items:\n    pass", Snippet),
            case("method after a dot", "items = []\nitems.append(1)\nitems.app‸", "end", Builtin),
            case("closes a string and its call", "print(\"hello‸", "\")", Bracket),
            case("short prefix prefers the keyword", "x = 1\ni‸", "f", Keyword),
            case("main skeleton in an empty file", "‸", "if __name__ == \"__main__\":\n    main()", Snippet),
            case(
                "attribute of self",
                "class C:\n    def __init__(self):\n        self.counter = 0\n    def inc(self):\n        self.cou‸",
                "nter",
                Identifier,
            ),
            case(
                "docstring words",
                "def load(path):\n    \"\"\"Load the configuration file.\n    Returns the config‸",
                "uration",
                Word,
            ),
            nothing("mid-word", "def fib(n):\n    ret‸urn"),
        ],
    );
}

#[test]
fn javascript() {
    check(
        "javascript",
        &[
            case("keyword in a function body", "function add(a, b) {\n  ret‸", "urn", Keyword),
            case("name declared above", "const userName = 'x';\nconsole.log(user‸", "Name", Identifier),
            case("console method", "console.lo‸", "g", Builtin),
            case("declaration keyword at line start", "cons‸", "t", Keyword),
            case("indents after an opening brace", "function f() {‸", "\n  ", Indent),
            case("opens the block between auto-closed braces", "if (ready) {‸}", "\n  \n", Indent),
            case("closes a call after a number", "setTimeout(() => run(), 100‸", ")", Bracket),
            case(
                "words in a template literal",
                "const greeting = `Hello ${name}, welcome`;\nconst msg = `welc‸`;",
                "ome",
                Word,
            ),
            case(
                "code inside a template expression",
                "const fullName = 'x';\nconst s = `Hi ${full‸}`;",
                "Name",
                Identifier,
            ),
            case("words in a line comment", "// fetch the users\nconst x = 1;\n// fet‸", "ch", Word),
            case("try snippet", "try‸", " {\n  \n} catch (error) {\n  \n}", Snippet),
            case("else after a closing brace", "if (a) {\n  b();\n} el‸", "se", Keyword),
            case("await mid-expression", "async function f() {\n  const data = aw‸", "ait", Keyword),
            case("closes a single-quoted string", "const name = 'Ada‸", "'", Bracket),
            case("module built-in", "const fs = req‸", "uire", Builtin),
            case(
                "field used with this",
                "class Cart {\n  constructor() {\n    this.items = [];\n  }\n  add(x) {\n    this.ite‸",
                "ms",
                Identifier,
            ),
        ],
    );
}

#[test]
fn typescript() {
    check(
        "typescript",
        &[
            case("type annotation", "function greet(user: User): str‸", "ing", Builtin),
            case("interface keyword", "inter‸", "face", Keyword),
            case("declared interface name", "interface User {\n  name: string;\n}\nconst admin: Us‸", "er", Identifier),
            case("number type in a literal type", "type Point = { x: number; y: num‸", "ber", Builtin),
            case("Promise return type", "export async function load(): Prom‸", "ise", Builtin),
            case("indents after a method opener", "function f(): void {‸", "\n  ", Indent),
            case("closes an enum on one line", "enum Color { Red, Green‸", "}", Bracket),
            case("closes a string", "const s = 'hello‸", "'", Bracket),
            case(
                "member used on this",
                "class Service {\n  private readonly cache = new Map();\n  get(key: string) {\n    return this.cac‸",
                "he",
                Identifier,
            ),
            case("for snippet", "for‸", " (const item of items) {\n  \n}", Snippet),
            case("import keyword", "impo‸", "rt", Keyword),
            case("unknown type", "let x = value as unkn‸", "own", Builtin),
            nothing("no code in a block comment", "/** Returns the user's ret‸"),
            case("readonly modifier", "class A {\n  private reado‸", "nly", Keyword),
        ],
    );
}

#[test]
fn rust() {
    check(
        "rust",
        &[
            case(
                "local variable in a macro call",
                "fn main() {\n    let total = 0;\n    println!(\"{}\", tot‸",
                "al",
                Identifier,
            ),
            case("Option variant", "fn f() -> Option<i32> {\n    So‸", "me", Builtin),
            case("macro completes with its bang", "fn main() {\n    prin‸", "tln!", Builtin),
            case(
                "method after lifetimes",
                "fn longest<'a>(x: &'a str, y: &'a str) -> &'a str {\n    if x.len() > y.le‸",
                "n",
                Builtin,
            ),
            case("closes a raw string", "let s = r#\"some text‸", "\"#", Bracket),
            case("struct snippet", "struct‸", " Name {\n    field: Type,\n}", Snippet),
            case("iterator adapter", "let v: Vec<String> = items.iter().map(|s| s.to_string()).coll‸", "ect", Builtin),
            case("indents after a function signature", "fn add(a: i32, b: i32) -> i32 {‸", "\n    ", Indent),
            case("Self in an impl", "impl Point {\n    pub fn new() -> Self {\n        Se‸", "lf", Keyword),
            case("match arm variant", "match value {\n    Some(x) => x,\n    No‸", "ne", Builtin),
            case("words in a comment", "// TODO: handle the error case\nlet x = 1;\n// handle the err‸", "or", Word),
            case("struct keyword after pub", "pub stru‸", "ct", Keyword),
            case("loop variable", "for item in list.iter() {\n    result.push(ite‸", "m", Identifier),
            nothing("nothing in a doc comment without matching words", "/// Returns the sum of xyz‸"),
            case("path into std", "use std::collections::Hash‸", "Map", Builtin),
            case("char literal does not open a string", "let c = 'x';\nlet count = 1;\nlet n = cou‸", "nt", Identifier),
        ],
    );
}

#[test]
fn go() {
    check(
        "go",
        &[
            case("fmt function", "func main() {\n\tfmt.Prin‸", "tln", Builtin),
            case("return keyword", "package main\n\nfunc main() {\n\tre‸", "turn", Keyword),
            case("indents with tabs after an if", "if err != nil {‸", "\n\t", Indent),
            case("func snippet", "func‸", " name() {\n\t\n}", Snippet),
            case("declared variable", "var count int\ncount = cou‸", "nt", Identifier),
            case("range keyword in a for clause", "\tfor _, v := ra‸", "nge", Keyword),
            case("append built-in", "x := make([]int, 0)\nx = app‸", "end", Builtin),
            case("closes a raw string", "s := `raw str‸", "`", Bracket),
            case("comment words", "// Package server handles requests\npackage server\n// hand‸", "les", Word),
            case("closes a call after a string", "fmt.Println(\"hi\"‸", ")", Bracket),
            case(
                "struct field through the receiver",
                "type Server struct {\n\tname string\n}\n\nfunc (s *Server) Name() string {\n\treturn s.na‸",
                "me",
                Identifier,
            ),
            case("string type", "var name stri‸", "ng", Builtin),
            case("main skeleton in an empty file", "‸", "func main() {\n\t\n}", Snippet),
            case("nil mid-expression", "if err != ni‸", "l", Keyword),
        ],
    );
}

#[test]
fn java() {
    check(
        "java",
        &[
            case(
                "System.out.println",
                "public class Main {\n    public static void main(String[] args) {\n        System.out.prin‸",
                "tln",
                Builtin,
            ),
            case("System class", "Sys‸", "tem", Builtin),
            case(
                "field in a getter",
                "public class Counter {\n    private int count;\n    public int get() {\n        return cou‸",
                "nt",
                Identifier,
            ),
            case("modifier keyword", "    publ‸", "ic", Keyword),
            case("indents after a method signature", "public void run() {‸", "\n    ", Indent),
            case("collection class", "List<String> names = new ArrayL‸", "ist", Builtin),
            case("closes a string", "String s = \"hello‸", "\"", Bracket),
            case("comment words", "// compute the checksum\nint x = 1;\n// comp‸", "ute", Word),
            case("try snippet", "try‸", " {\n    \n} catch (Exception e) {\n    \n}", Snippet),
            case("closes a for header", "for (int i = 0; i < n; i++‸", ")", Bracket),
            case("else after a brace", "} els‸", "e", Keyword),
            case(
                "main method inside a class",
                "public class App {\n    public‸",
                " static void main(String[] args) {\n        \n    }",
                Snippet,
            ),
            case("annotation", "    @Overr‸", "ide", Builtin),
            case(
                "text block words",
                "String doc = \"\"\"\n    The configuration loader\n    loads the config‸",
                "uration",
                Word,
            ),
        ],
    );
}

#[test]
fn c() {
    check(
        "c",
        &[
            case("include directive", "#inc‸", "lude", Keyword),
            case("standard header", "#include <std‸", "io.h>", Builtin),
            case("include snippet", "#include‸", " <stdio.h>", Snippet),
            case("printf", "int main(void) {\n    pri‸", "ntf", Builtin),
            case("local in a condition", "int main(void) {\n    int count = 0;\n    while (cou‸", "nt", Identifier),
            case("struct tag", "struct point {\n    int x;\n    int y;\n};\n\nstruct po‸", "int", Identifier),
            case("indents after a function signature", "int add(int a, int b) {‸", "\n    ", Indent),
            case("closes a condition", "if (x > 0‸", ")", Bracket),
            case("closes a format string and its call", "printf(\"value: %d‸", "\")", Bracket),
            case("malloc after a block comment", "/* allocate the buffer */\nchar *buf = mal‸", "loc", Builtin),
            case("block comment words", "/* allocate the buffer\n * then alloc‸", "ate", Word),
            case("return keyword", "int f(void) {\n    ret‸", "urn", Keyword),
            case("main skeleton in an empty file", "‸", "int main(void) {\n    \n    return 0;\n}", Snippet),
            case("for snippet", "for‸", " (int i = 0; i < n; i++) {\n    \n}", Snippet),
            case(
                "field through a pointer",
                "struct node { int value; };\nint get(struct node *n) {\n    return n->val‸",
                "ue",
                Identifier,
            ),
        ],
    );
}

#[test]
fn cpp() {
    check(
        "c++",
        &[
            case("standard header", "#include <vec‸", "tor>", Builtin),
            case("std member", "std::cou‸", "t", Builtin),
            case("vector method", "std::vector<int> values;\nvalues.push‸", "_back", Builtin),
            case("access specifier", "class Widget {\npub‸", "lic", Keyword),
            case("iterator method", "auto it = values.be‸", "gin", Builtin),
            case("namespace snippet", "namespace‸", " name {\n\n}", Snippet),
            case("local variable", "int main() {\n    std::string name;\n    std::cin >> na‸", "me", Identifier),
            case("indents after a const method", "void draw() const {‸", "\n    ", Indent),
            case("closes a string", "std::cout << \"Hello‸", "\"", Bracket),
            case("comment words", "// TODO: release the lock\nmutex.lock();\n// rel‸", "ease", Word),
            case("closes a range-for header", "for (auto& item : items‸", ")", Bracket),
            case("nullptr", "Node* next = nullp‸", "tr", Keyword),
            case("class snippet", "class‸", " Name {\npublic:\n    Name();\n};", Snippet),
            case("main skeleton in an empty file", "‸", "int main() {\n    \n    return 0;\n}", Snippet),
        ],
    );
}

#[test]
fn unknown_languages_get_names_and_brackets() {
    check(
        "plaintext",
        &[
            case("word from the document", "hello world\nhel‸", "lo", Identifier),
            case("closes a parenthesis", "(see the appendix‸", ")", Bracket),
            case("closes a quote after an apostrophe", "don't say \"hi‸", "\"", Bracket),
            case("indents after a brace", "block {‸", "\n    ", Indent),
            case("nearer word first", "alpha_one\n\n\n\n\n\n\n\n\n\nalpha_two\nalpha_‸", "two", Identifier),
            case("closes a bracket", "items[first‸", "]", Bracket),
            nothing("no keywords for an unknown language", "ret‸"),
            case("unicode words", "naïve_value = 1\nnaï‸", "ve_value", Identifier),
            case("brace opened on the line", "point = { x: 1‸", "}", Bracket),
            nothing("nothing after a comma", "call(a, ‸"),
            case("closes two brackets one at a time", "f(g(x‸", ")", Bracket),
            nothing("a closed bracket needs nothing", "f(x‸)"),
        ],
    );
}

#[test]
fn language_aliases_are_recognised() {
    let rules = RuleSuggester::new();
    for (alias, code, insert) in [
        ("py", "def f():\n    ret‸", "urn"),
        ("Python3", "def f():\n    ret‸", "urn"),
        ("js", "cons‸", "t"),
        ("ts", "inter‸", "face"),
        ("rs", "fn main() {\n    prin‸", "tln!"),
        ("golang", "func main() {\n\tfmt.Prin‸", "tln"),
        ("cpp", "nullp‸", "tr"),
        ("C", "#inc‸", "lude"),
    ] {
        assert_eq!(rules.suggest_now(&request(alias, code, None)).best(), insert, "{alias}");
    }
}

#[test]
fn the_issue_example_counts_the_cursor_in_code_points() {
    let code = "def fib(n):\n    ret".to_owned();
    let request = SuggestionRequest::new(code, 19, Language::new("python").expect("valid"), None).expect("in range");
    let answer = RuleSuggester::new().suggest_now(&request);
    assert_eq!(answer.best(), "urn");
    assert_eq!(answer.items[0].label, "return");
    assert_eq!(answer.source, "rules");
}

#[tokio::test]
async fn answers_through_the_port() {
    let suggester: &dyn Suggester = &RuleSuggester::new();
    let answer = suggester.suggest(&request("python", "def fib(n):\n    ret‸", None)).await;
    assert_eq!(answer.best(), "urn");
}

#[test]
fn never_repeats_the_typed_prefix_and_never_suggests_the_word_being_typed() {
    let rules = RuleSuggester::new();
    let answer = rules.suggest_now(&request("python", "value = 1\nvalue_list = []\nval‸", None));
    assert!(!answer.items.is_empty());
    for item in &answer.items {
        assert!(item.label.starts_with("val"), "{item:?}");
        assert_eq!(format!("val{}", item.insert_text), item.label, "{item:?}");
    }
    assert!(answer.items.iter().all(|item| item.label != "val"));
}

#[test]
fn frequent_names_beat_rare_nearer_ones_and_keywords_beat_rare_names() {
    let rules = RuleSuggester::new();
    let code = "beta_common = 1\nbeta_common += 1\nbeta_common += 2\nbeta_common += 3\nbeta_common += 4\n\
                beta_common += 5\nbeta_rare = 1\n\nx = beta_‸";
    assert_eq!(rules.suggest_now(&request("python", code, None)).best(), "common");

    // `retry_count` is used once, far away: `return` is the likelier word at a statement start.
    let mut code = String::from("retry_count = 3\n");
    code.push_str(&"pass\n".repeat(200));
    code.push_str("def f():\n    ret‸");
    let answer = rules.suggest_now(&request("python", &code, None));
    assert_eq!(answer.best(), "urn");
    assert!(answer.items.iter().any(|item| item.label == "retry_count"), "{:?}", answer.items);
}

#[test]
fn statement_keywords_are_not_offered_mid_expression() {
    let answer = RuleSuggester::new().suggest_now(&request("python", "x = ret‸", None));
    assert!(answer.items.iter().all(|item| item.label != "return"), "{:?}", answer.items);
}

#[test]
fn strings_and_comments_get_no_code_suggestions() {
    let rules = RuleSuggester::new();
    for (language, code) in [
        ("python", "def f():\n    return 1\nprint(\"ret‸\")"),
        ("rust", "fn main() {}\n// fn ma‸"),
        ("javascript", "function main() {}\n/* mai‸ */"),
        ("go", "func main() {}\ns := \"fu‸\""),
    ] {
        let answer = rules.suggest_now(&request(language, code, None));
        assert!(
            answer.items.iter().all(|item| matches!(item.kind, Word | Bracket)),
            "{language} {code:?}: {:?}",
            answer.items
        );
    }
}

/// A document of about `bytes` bytes of Python, with the cursor at the end.
fn big_python(bytes: usize, tail: &str) -> String {
    let mut code = String::from("far_away_identifier = 1\n");
    let mut n = 0;
    while code.len() < bytes {
        code.push_str(&format!(
            "def handler_{n}(request):\n    value_{n} = request.get('key_{n}')\n    return value_{n}\n\n"
        ));
        n += 1;
    }
    code.push_str(tail);
    code
}

#[test]
fn a_large_document_is_scanned_only_around_the_cursor() {
    let rules = RuleSuggester::new();
    let code = big_python(1024 * 1024, "def last(request):\n    far_away_i‸");
    let started = Instant::now();
    let answer = rules.suggest_now(&request("python", &code, None));
    // Generous: the bound is about work, not speed, and debug builds are slow.
    assert!(started.elapsed() < Duration::from_secs(1), "{:?}", started.elapsed());
    assert!(
        answer.items.iter().all(|item| item.label != "far_away_identifier"),
        "the start of a 1 MB document is outside the scanned window"
    );

    let answer = rules.suggest_now(&request("python", &big_python(1024 * 1024, "def last(request):\n    ret‸"), None));
    assert_eq!(answer.best(), "urn");
    let answer = rules.suggest_now(&request("python", &big_python(1024 * 1024, "x = handl‸"), None));
    assert!(answer.best().starts_with("er_"), "{:?}", answer.items);
}

#[test]
fn the_cursor_may_be_anywhere() {
    let rules = RuleSuggester::new();
    let code = "fn main() {\n    let s = \"héllo 👋 wörld\"; // ça va\n    s.len()\n}\n";
    let len = code.chars().count();
    for cursor in 0..=len {
        for language in ["rust", "python", "javascript", "go", "c", "plaintext"] {
            let request =
                SuggestionRequest::new(code.to_owned(), cursor, Language::new(language).expect("valid"), None)
                    .expect("in range");
            let answer = rules.suggest_now(&request);
            assert!(answer.items.len() <= 12);
        }
    }
}

#[test]
fn is_deterministic() {
    let rules = RuleSuggester::new();
    let code = "alpha = 1\nalbum = 2\nalpine = 3\nalso = 4\nprint(al‸";
    let first = rules.suggest_now(&request("python", code, None));
    for _ in 0..20 {
        assert_eq!(rules.suggest_now(&request("python", code, None)), first);
    }
    assert!(first.items.len() >= 4);
}

proptest! {
    /// Whatever the text, cursor and language: no panic, a short list, never an empty insertion.
    #[test]
    fn any_text_and_cursor_gets_a_well_formed_answer(
        code in "(\\PC|[\n\t \"'`/*#{}()\\[\\]\\\\$.:;<>]){0,200}",
        cursor_fraction in 0.0f64..=1.0,
        language in prop::sample::select(vec!["python", "javascript", "typescript", "rust", "go", "java", "c", "cpp", "svelte", "text"]),
    ) {
        let len = code.chars().count();
        let cursor = ((len as f64) * cursor_fraction) as usize;
        let request = SuggestionRequest::new(code, cursor.min(len), Language::new(language).expect("valid"), None)
            .expect("in range");
        let answer = RuleSuggester::new().suggest_now(&request);
        prop_assert_eq!(answer.source, "rules");
        prop_assert!(answer.items.len() <= 12);
        prop_assert!(answer.items.iter().all(|item| !item.insert_text.is_empty()));
    }

    /// Markup cut anywhere: script tags, expressions and multi-byte text in any order.
    #[test]
    fn any_markup_gets_a_well_formed_answer(
        parts in prop::collection::vec(prop::sample::select(vec![
            "<script lang=\"ts\">", "<script>", "</script>", "<style>", "</style>", "<!--", "-->", "{", "}",
            "{#if ", "{:else}", "{/if}", "{@html ", "let naïve = 1;", "naïve.", "é", "👋🏽", "日本", "'", "\"", "\n",
            "count", "co", "(", ")", ".", " ",
        ]), 0..60),
        cursor_fraction in 0.0f64..=1.0,
    ) {
        let code: String = parts.concat();
        let len = code.chars().count();
        let cursor = ((len as f64) * cursor_fraction) as usize;
        let request = SuggestionRequest::new(code, cursor.min(len), Language::new("svelte").expect("valid"), None)
            .expect("in range");
        let answer = RuleSuggester::new().suggest_now(&request);
        prop_assert!(answer.items.len() <= 12);
        prop_assert!(answer.items.iter().all(|item| !item.insert_text.is_empty()));
    }
}
