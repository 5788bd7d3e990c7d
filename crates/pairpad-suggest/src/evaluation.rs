//! How often the rules complete the identifiers of real code (issue 18), measured the way a user
//! meets them: take an identifier of a finished file, delete all but its first two characters,
//! ask for completions with the cursor there, and see where the identifier comes in the list.
//!
//! Identifiers are what the language's grammar calls one (names of any kind, never keywords, nor
//! words in comments or strings), at least three characters long so there is something to
//! complete; in markup (Svelte, Vue, HTML), those of its script; in a language without a grammar,
//! every word of three characters or more. Which
//! occurrences are asked about is drawn by a seeded generator, so a run is repeatable.

use std::io::Read;
use std::path::Path;
use std::time::{Duration, Instant};

use pairpad_domain::{Language, SuggestionRequest};

use crate::rules::{Lang, RuleSuggester, syntax};

/// Characters of each identifier left in place.
pub const KEPT: usize = 2;

/// The files measured, relative to the workspace: the final texts of the two editing traces, four
/// of the project's own Rust and JavaScript files, and one file written for the purpose in each
/// other language. The project's files are copies kept in `crates/pairpad-suggest/tests/corpus/`
/// as they were when the figures were taken: the originals change with the code, and the floors
/// must not move with them.
pub const CORPUS: &[(&str, &str)] = &[
    ("tests/traces/rustcode.json.gz", "rust"),
    ("tests/traces/sveltecomponent.json.gz", "svelte"),
    ("crates/pairpad-suggest/tests/corpus/room.rs", "rust"),
    ("crates/pairpad-suggest/tests/corpus/state.rs", "rust"),
    ("crates/pairpad-suggest/tests/corpus/main.js", "javascript"),
    ("crates/pairpad-suggest/tests/corpus/ot.js", "javascript"),
    ("crates/pairpad-suggest/tests/corpus/inventory.py", "python"),
    ("crates/pairpad-suggest/tests/corpus/tasks.ts", "typescript"),
    ("crates/pairpad-suggest/tests/corpus/ratelimit.go", "go"),
    ("crates/pairpad-suggest/tests/corpus/Library.java", "java"),
    ("crates/pairpad-suggest/tests/corpus/ringbuf.c", "c"),
    ("crates/pairpad-suggest/tests/corpus/graph.cpp", "cpp"),
];

/// Identifiers asked about per file.
pub const SAMPLES: usize = 300;
/// The seed that draws them.
pub const SEED: u64 = 18;

/// The text of a corpus file: a source file as it is, an editing trace (`.json.gz`) as it ends.
pub fn read(path: &Path) -> std::io::Result<String> {
    let invalid = |error: String| std::io::Error::new(std::io::ErrorKind::InvalidData, error);
    if !path.to_string_lossy().ends_with(".json.gz") {
        return std::fs::read_to_string(path);
    }
    let mut json = String::new();
    flate2::read::GzDecoder::new(std::fs::File::open(path)?).read_to_string(&mut json)?;
    let trace: serde_json::Value = serde_json::from_str(&json).map_err(|error| invalid(error.to_string()))?;
    trace["endContent"].as_str().map(str::to_owned).ok_or_else(|| invalid("a trace without endContent".into()))
}

/// One file's result.
#[derive(Clone, Debug)]
pub struct Report {
    /// Occurrences asked about.
    pub queries: usize,
    /// ... whose identifier was the first suggestion.
    pub top1: usize,
    /// ... whose identifier was among the first five.
    pub top5: usize,
    /// How long each answer took, in the order asked.
    pub latencies: Vec<Duration>,
    /// The occurrences whose identifier was not the first suggestion.
    pub misses: Vec<Miss>,
}

/// An occurrence whose identifier was not the first suggestion, for a person to read.
#[derive(Clone, Debug)]
pub struct Miss {
    /// Its line, from 1.
    pub line: usize,
    /// The identifier asked about.
    pub identifier: String,
    /// Its line up to it.
    pub before: String,
    /// Its place in the list, if it was in it.
    pub rank: Option<usize>,
    /// The first three suggestions.
    pub offered: Vec<String>,
}

impl Report {
    /// `top1` as a percentage of the queries.
    pub fn top1_percent(&self) -> f64 {
        percent(self.top1, self.queries)
    }

    /// `top5` as a percentage of the queries.
    pub fn top5_percent(&self) -> f64 {
        percent(self.top5, self.queries)
    }

    /// The latency below which `quantile` (0 to 1) of the answers came.
    pub fn latency(&self, quantile: f64) -> Duration {
        let mut sorted = self.latencies.clone();
        sorted.sort();
        let rank = ((sorted.len() as f64 * quantile).ceil() as usize).clamp(1, sorted.len().max(1)) - 1;
        sorted.get(rank).copied().unwrap_or_default()
    }
}

fn percent(part: usize, whole: usize) -> f64 {
    if whole == 0 { 0.0 } else { 100.0 * part as f64 / whole as f64 }
}

/// The byte ranges of the identifiers of `code` that are at least `KEPT + 1` characters long.
pub fn identifiers(code: &str, language: &Language) -> Vec<(usize, usize)> {
    let mut spans = syntax::names(code, Lang::from_name(language.as_str()));
    spans.retain(|&(start, end)| code[start..end].chars().count() > KEPT);
    spans
}

/// Asks about `samples` identifiers of `code` (all of them when it has fewer), drawn with `seed`.
pub fn evaluate(code: &str, language: &Language, samples: usize, seed: u64) -> Report {
    let spans = identifiers(code, language);
    let chosen = sample(spans.len(), samples, seed);
    let rules = RuleSuggester::new();
    let mut report =
        Report { queries: 0, top1: 0, top5: 0, latencies: Vec::with_capacity(chosen.len()), misses: Vec::new() };
    for index in chosen {
        let (start, end) = spans[index];
        let identifier = &code[start..end];
        let kept = identifier.char_indices().nth(KEPT).map_or(identifier.len(), |(i, _)| i);
        let asked = format!("{}{}", &code[..start + kept], &code[end..]);
        let cursor = code[..start + kept].chars().count();
        let Ok(request) = SuggestionRequest::new(asked, cursor, language.clone(), None) else {
            continue;
        };
        let started = Instant::now();
        let answer = rules.suggest_now(&request);
        report.latencies.push(started.elapsed());
        let rank = answer.items.iter().position(|item| item.label.trim_end_matches('!') == identifier);
        if rank != Some(0) {
            let line_start = code[..start].rfind('\n').map_or(0, |i| i + 1);
            report.misses.push(Miss {
                line: code[..start].lines().count().max(1),
                identifier: identifier.to_owned(),
                before: code[line_start..start].trim_start().to_owned(),
                rank,
                offered: answer.items.iter().take(3).map(|item| item.label.clone()).collect(),
            });
        }
        report.queries += 1;
        report.top1 += usize::from(rank == Some(0));
        report.top5 += usize::from(rank.is_some_and(|rank| rank < 5));
    }
    report
}

/// `count` distinct indices below `len` (all of them, in order, when `len <= count`), drawn by a
/// seeded splitmix64 so that the same seed asks about the same occurrences.
fn sample(len: usize, count: usize, seed: u64) -> Vec<usize> {
    let mut indices: Vec<usize> = (0..len).collect();
    if len <= count {
        return indices;
    }
    let mut state = seed;
    let mut next = move || {
        state = state.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = state;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    };
    for i in 0..count {
        let j = i + (next() % (len - i) as u64) as usize;
        indices.swap(i, j);
    }
    indices.truncate(count);
    indices.sort_unstable();
    indices
}
