//! Completions from the parser and the library tables (issue 18): the places a user meets, and
//! the evaluation over real files, whose figures may only go up.

use std::path::Path;

use pairpad_domain::{Language, SuggestionKind};
use pairpad_suggest::RuleSuggester;
use pairpad_suggest::evaluation::{self, CORPUS, SAMPLES, SEED};

use super::request;

/// The best label for `marked` in `language`, and the first five.
fn offered(language: &str, marked: &str) -> Vec<String> {
    let answer = RuleSuggester::new().suggest_now(&request(language, marked, None));
    answer.items.into_iter().take(5).map(|item| item.label).collect()
}

fn assert_first(language: &str, marked: &str, expected: &str) {
    let labels = offered(language, marked);
    assert_eq!(labels.first().map(String::as_str), Some(expected), "{language} {marked:?}: {labels:?}");
}

#[test]
fn library_tables_load() {
    pairpad_suggest::rules::check_tables().expect("every language's table loads");
}

#[test]
fn members_users_expect_from_the_standard_libraries() {
    // The examples of the issue: each was "nothing" before.
    assert_first("python", "import numpy as np\n\ngrid = np.zer‸", "zeros");
    assert_first(
        "javascript",
        "async function load() {\n  const users = await fetch('/api/users');\n  const list = await users.js‸\n}",
        "json",
    );
    assert_first("javascript", "form.addEventListener('submit', (event) => {\n  event.prev‸\n});", "preventDefault");
    assert_first(
        "rust",
        "use std::collections::HashMap;\n\nfn main() {\n    let mut counts: HashMap<String, usize> = HashMap::new();\n    counts.ent‸\n}",
        "entry",
    );
    assert_first("python", "class Point:\n    def __in‸", "__init__");

    // Modules and types of every language.
    assert_first("python", "import os\n\nroot = os.getc‸", "getcwd");
    assert_first("python", "import json\n\ndata = json.loa‸", "loads");
    assert_first("python", "names = []\nnames.app‸", "append");
    assert_first("typescript", "const seen = new Map<string, number>();\nseen.ha‸", "has");
    assert_first("rust", "fn main() {\n    let mut items = Vec::new();\n    items.pu‸\n}", "push");
    assert_first("rust", "fn main() {\n    let name = String::fr‸\n}", "from");
    assert_first("go", "package main\n\nimport \"strings\"\n\nfunc main() {\n\tparts := strings.Spl‸\n}", "Split");
    assert_first("go", "package main\n\nimport \"fmt\"\n\nfunc main() {\n\tfmt.Print‸\n}", "Println");
    assert_first(
        "java",
        "class Main {\n    public static void main(String[] args) {\n        System.out.printl‸\n    }\n}",
        "println",
    );
    assert_first(
        "cpp",
        "#include <vector>\n\nint main() {\n    std::vector<int> values;\n    values.push_‸\n}",
        "push_back",
    );
    assert_first("c", "#include <stdio.h>\n\nint main(void) {\n    fpri‸\n}", "fprintf");
}

#[test]
fn the_parser_tells_the_place() {
    // A field of `self`, though a local with the same start is nearer.
    assert_first(
        "python",
        "class Cart:\n    def __init__(self):\n        self.items_total = 0\n\n    def add(self, item):\n        items_local = 1\n        self.it‸",
        "items_total",
    );
    // A type where a type goes, a value where a value goes.
    let code = "struct Config;\nfn make() {\n    let config_value = 1;\n    let other: Con‸\n}";
    assert_first("rust", code, "Config");
    let code = "struct Config;\nfn make() {\n    let config_value = 1;\n    let other = con‸\n}";
    assert_first("rust", code, "config_value");
    // A parameter list spread over lines (closed, as editors close brackets): a name is declared
    // there, no statement starts.
    let labels = offered("python", "retries = 3\n\ndef connect(\n    host,\n    ret‸\n):\n    pass\n");
    assert_eq!(labels.first().map(String::as_str), Some("retries"), "{labels:?}");
    assert!(!labels.contains(&"return".to_owned()), "{labels:?}");
    // A quote inside a C++ raw string fools a lexer, not the parser: words, no keyword.
    let code = "int main() {\n    auto s = R\"(say \"hi retu‸)\";\n    return 0;\n}\n";
    let answer = RuleSuggester::new().suggest_now(&request("cpp", code, None));
    assert!(answer.items.iter().all(|item| item.kind == SuggestionKind::Word), "{:?}", answer.items);
    assert!(!answer.items.is_empty(), "the document's words");
    // No code completions inside a string or a comment.
    let labels = offered("javascript", "const greeting = 'event.prev‸';");
    assert!(!labels.contains(&"preventDefault".to_owned()), "{labels:?}");
}

#[test]
fn an_unreadable_document_still_gets_an_answer() {
    // HTML read as TypeScript: the grammar's error recovery is slow there, and bounded.
    let mut code = String::new();
    for i in 0..400 {
        code.push_str(&format!("<div class='row-{i}'><span>{{value_{i}}}</span></div>\n"));
    }
    code.push_str("<p>{valu‸");
    let labels = offered("typescript", &code);
    assert!(labels.iter().any(|label| label.starts_with("value_")), "{labels:?}");
}

/// The figures reached on the corpus (top-1 and top-5, in whole percent), per file, in the order
/// of `CORPUS`. They may only go up: raise them when the suggester improves.
const FLOORS: &[(u32, u32)] = &[
    (75, 95), // rustcode trace
    (76, 96), // sveltecomponent trace (its script, as TypeScript)
    (75, 93), // pairpad-room room.rs
    (84, 98), // pairpad-client state.rs
    (74, 91), // demo main.js
    (70, 98), // demo ot.js
    (84, 95), // inventory.py
    (83, 96), // tasks.ts
    (79, 99), // ratelimit.go
    (78, 94), // Library.java
    (71, 95), // ringbuf.c
    (89, 99), // graph.cpp
];

#[test]
fn completes_real_code_at_least_as_well_as_before() {
    assert_eq!(FLOORS.len(), CORPUS.len(), "one floor per corpus file");
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("../..");
    let mut failures = Vec::new();
    for (&(path, language), &(top1_floor, top5_floor)) in CORPUS.iter().zip(FLOORS) {
        let code = evaluation::read(&root.join(path)).expect("the corpus file is readable");
        let language = Language::new(language).expect("a valid language");
        let report = evaluation::evaluate(&code, &language, SAMPLES, SEED);
        assert_eq!(report.queries, SAMPLES, "{path}: every sampled identifier is asked about");
        let (top1, top5) = (report.top1_percent(), report.top5_percent());
        if top1 < f64::from(top1_floor) || top5 < f64::from(top5_floor) {
            failures.push(format!(
                "{path}: top-1 {top1:.1} % (floor {top1_floor}), top-5 {top5:.1} % (floor {top5_floor})"
            ));
        }
    }
    assert!(failures.is_empty(), "completions got worse:\n{}", failures.join("\n"));
}

#[test]
fn markup_completes_from_its_script() {
    let component = "<script lang=\"ts\">\n  let counter_value = 0;\n  function increment() {\n    counter_value += 1;\n  }\n</script>\n\n<p>I'm counting: {coun‸}</p>\n";
    assert_first("svelte", component, "counter_value");
    let component =
        "<script>\n  document.addEventListener('keydown', (event) => {\n    event.prev‸\n  });\n</script>\n";
    assert_first("svelte", component, "preventDefault");
    // Text outside the script is prose: its words, never the script's members.
    let labels = offered("svelte", "<script>\n  let total_count = 1;\n</script>\n<p>The total is to‸</p>\n");
    assert!(labels.iter().all(|label| label != "toFixed"), "{labels:?}");
}

#[test]
fn the_evaluation_asks_about_identifiers_only() {
    let language = Language::new("python").expect("valid");
    let code = "# a comment with words\nvalue = 'a string'\nprint(value)\n";
    let spans = evaluation::identifiers(code, &language);
    let names: Vec<&str> = spans.iter().map(|&(start, end)| &code[start..end]).collect();
    assert_eq!(names, ["value", "print", "value"]);
}

#[tokio::test]
async fn through_the_port_many_requests_at_once_get_the_same_answers() {
    use pairpad_domain::Suggester;
    let rules = RuleSuggester::new();
    let request = request("python", "import os\n\nroot = os.getc‸", None);
    let expected = rules.suggest_now(&request);
    let tasks: Vec<_> = (0..64)
        .map(|_| {
            let (rules, request) = (rules.clone(), request.clone());
            tokio::spawn(async move { rules.suggest(&request).await })
        })
        .collect();
    for task in tasks {
        assert_eq!(task.await.expect("no panic"), expected);
    }
}

#[test]
fn hostile_nesting_and_bytes_get_an_answer_in_every_language() {
    let rules = RuleSuggester::new();
    let nests = ["(", "[", "{", "<", "\"${", "`${", "/*", "f(", "a.", "if (x) {", "<div>{", "#"];
    for language in ["python", "javascript", "typescript", "rust", "go", "java", "c", "cpp", "svelte", "other"] {
        for nest in nests {
            let marked = format!("{}name_{}‸", nest.repeat(20_000), ")".repeat(10));
            let answer = rules.suggest_now(&request(language, &marked, None));
            assert!(answer.items.len() <= 12, "{language} {nest}");
        }
    }
}
