//! `completions`: how often the rule suggester completes the identifiers of real files, and how
//! fast (issue 18; the method is in `pairpad_suggest::evaluation`). No server needed.

use std::path::PathBuf;

use anyhow::Context;
use clap::Args;
use pairpad_domain::Language;
use pairpad_suggest::evaluation::{self, CORPUS, SAMPLES, SEED};

#[derive(Args, Debug)]
pub struct CompletionsArgs {
    /// Files to measure, as PATH:LANGUAGE; by default the project's corpus (run from the
    /// workspace root).
    #[arg(value_name = "PATH:LANGUAGE")]
    files: Vec<String>,
    /// Identifiers asked about per file.
    #[arg(long, default_value_t = SAMPLES)]
    samples: usize,
    /// The seed that draws them.
    #[arg(long, default_value_t = SEED)]
    seed: u64,
    /// Repeats each file's text until it is at least this many bytes long: the latency of a
    /// document that size (the figures of accuracy are then of a file that repeats itself).
    #[arg(long, value_name = "BYTES")]
    pad_to: Option<usize>,
    /// Also list, after each file, the identifiers that were not the first suggestion.
    #[arg(long)]
    misses: bool,
}

pub fn run(args: &CompletionsArgs) -> anyhow::Result<()> {
    let files: Vec<(PathBuf, String)> = if args.files.is_empty() {
        CORPUS.iter().map(|(path, language)| (PathBuf::from(path), (*language).to_owned())).collect()
    } else {
        args.files
            .iter()
            .map(|file| {
                let (path, language) = file.rsplit_once(':').context("files are given as PATH:LANGUAGE")?;
                Ok((PathBuf::from(path), language.to_owned()))
            })
            .collect::<anyhow::Result<_>>()?
    };
    println!("| file | language | KB | asked | top-1 | top-5 | p50 | p99 | max |");
    println!("|---|---|---|---|---|---|---|---|---|");
    for (path, language) in files {
        let mut code = evaluation::read(&path).with_context(|| format!("reading {}", path.display()))?;
        if let Some(bytes) = args.pad_to {
            let original = code.clone();
            while code.len() < bytes && !original.is_empty() {
                code.push('\n');
                code.push_str(&original);
            }
        }
        let language = Language::new(&language).with_context(|| format!("language {language:?}"))?;
        let report = evaluation::evaluate(&code, &language, args.samples, args.seed);
        println!(
            "| {} | {} | {:.0} | {} | {:.1} % | {:.1} % | {:.2} ms | {:.2} ms | {:.2} ms |",
            path.display(),
            language.as_str(),
            code.len() as f64 / 1024.0,
            report.queries,
            report.top1_percent(),
            report.top5_percent(),
            millis(report.latency(0.5)),
            millis(report.latency(0.99)),
            millis(report.latency(1.0)),
        );
        if args.misses {
            for miss in &report.misses {
                let rank = miss.rank.map_or("-".to_owned(), |rank| (rank + 1).to_string());
                println!(
                    "  {}: {} (rank {rank}) after {:?}: {:?}",
                    miss.line, miss.identifier, miss.before, miss.offered
                );
            }
        }
    }
    Ok(())
}

fn millis(duration: std::time::Duration) -> f64 {
    duration.as_secs_f64() * 1000.0
}
