//! The rule-based suggester on 10 KB, 100 KB and 1 MB Rust documents, cursor mid-identifier in
//! the middle of the document and at its end.
//!
//! Run: `cargo bench -p pairpad-loadgen --bench suggest`.

use std::hint::black_box;

use criterion::{Criterion, criterion_group, criterion_main};
use pairpad_domain::{Language, SuggestionRequest};
use pairpad_suggest::RuleSuggester;

/// A Rust document of about `bytes` bytes, varied enough to give the name scanner work.
fn rust_document(bytes: usize) -> String {
    let mut code = String::from("use std::collections::HashMap;\n\n");
    let mut i = 0;
    while code.len() < bytes {
        code.push_str(&format!(
            "/// Handles request number {i}.\npub fn handle_request_{i}(input: &str, cache: &mut HashMap<String, usize>) -> Option<usize> {{\n    let trimmed_{i} = input.trim();\n    if let Some(hit) = cache.get(trimmed_{i}) {{\n        return Some(*hit);\n    }}\n    let computed_value = trimmed_{i}.len() * {i};\n    cache.insert(trimmed_{i}.to_owned(), computed_value);\n    Some(computed_value)\n}}\n\n"
        ));
        i += 1;
    }
    code
}

fn suggester(c: &mut Criterion) {
    let rules = RuleSuggester::new();
    let rust = Language::new("rust").expect("a language");
    let mut group = c.benchmark_group("suggest");
    for (name, bytes) in [("10KB", 10 * 1024), ("100KB", 100 * 1024), ("1MB", 1024 * 1024)] {
        let mut code = rust_document(bytes);
        // Mid-document: a half-typed name on a fresh line in the middle.
        let middle = code.char_indices().map(|(i, _)| i).find(|&i| i >= code.len() / 2 && code[..i].ends_with('\n'));
        let at = middle.unwrap_or(code.len());
        code.insert_str(at, "    let total = comp\n");
        let cursor = code[..at + "    let total = comp".len()].chars().count();
        let request = SuggestionRequest::new(code.clone(), cursor, rust.clone(), None).expect("cursor in range");
        group.bench_function(format!("{name}/middle"), |b| b.iter(|| rules.suggest_now(black_box(&request))));
        code.push_str("fn main() {\n    let x = handle_req");
        let cursor = code.chars().count();
        let request = SuggestionRequest::new(code, cursor, rust.clone(), None).expect("cursor in range");
        group.bench_function(format!("{name}/end"), |b| b.iter(|| rules.suggest_now(black_box(&request))));
    }
    group.finish();
}

criterion_group!(benches, suggester);
criterion_main!(benches);
