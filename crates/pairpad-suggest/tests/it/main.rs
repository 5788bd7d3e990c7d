//! Integration tests of the suggesters, through the domain's `Suggester` port.

#![allow(clippy::unwrap_used)] // A failed unwrap is a failed test.

mod completions;
mod model;
mod rules;

use pairpad_domain::{Language, RoomId, SuggestionRequest};

/// Marks the cursor in test documents; never appears in real code.
const CURSOR: char = '‸';

/// A request for `marked` (which holds [`CURSOR`] once) in `language`.
fn request(language: &str, marked: &str, room: Option<RoomId>) -> SuggestionRequest {
    let cursor = marked.chars().position(|c| c == CURSOR).expect("the document marks the cursor");
    let code: String = marked.chars().filter(|&c| c != CURSOR).collect();
    SuggestionRequest::new(code, cursor, Language::new(language).expect("a valid language"), room)
        .expect("the cursor is inside the document")
}
