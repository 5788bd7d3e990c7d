//! Pairpad's code-completion adapters, both implementing the domain's [`Suggester`] port.
//!
//! - [`RuleSuggester`] is the default: deterministic, no I/O, bounded work. It reads the text around
//!   the cursor, parses it, and completes names from the document, keywords, snippets and the
//!   standard libraries' names of eight languages, closes brackets and quotes, and indents after
//!   block openers.
//! - [`ModelSuggester`] is optional: it asks an OpenAI-compatible model server for a
//!   fill-in-the-middle completion under a strict timeout, cancels a room's stale requests, and on
//!   any failure answers with a fallback suggester (the rules). [`Suggestions::source`] tells which
//!   one answered: [`rules::SOURCE`] or [`model::SOURCE`].
//!
//! Layout:
//! - [`rules`]: the rule-based suggester; its parser (tree-sitter), lexer, language tables and
//!   library tables (`data/library/*.json`) are private submodules.
//! - [`evaluation`]: how often the rules complete real code's identifiers, and how fast
//!   (`pairpad-loadgen completions`, and a test that keeps the figures as a floor).
//! - [`model`]: the model-backed suggester, its [`ModelSettings`], the wire format and the per-room
//!   cancellation gate.
//!
//! [`Suggester`]: pairpad_domain::Suggester
//! [`Suggestions::source`]: pairpad_domain::Suggestions::source
#![warn(missing_docs)]

pub mod evaluation;
pub mod model;
pub mod rules;

pub use model::{ModelApi, ModelSettings, ModelSetupError, ModelSuggester, UnknownModelApi};
pub use rules::RuleSuggester;
