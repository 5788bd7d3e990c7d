//! The OpenAI-compatible wire format, as far as this adapter uses it.

use serde::{Deserialize, Serialize};

/// `POST /v1/completions` with a fill-in-the-middle prompt.
#[derive(Serialize)]
pub(crate) struct CompletionRequest<'a> {
    pub model: &'a str,
    pub prompt: &'a str,
    pub suffix: &'a str,
    pub max_tokens: u32,
    pub temperature: f32,
}

/// `POST /v1/chat/completions`.
#[derive(Serialize)]
pub(crate) struct ChatRequest<'a> {
    pub model: &'a str,
    pub messages: [ChatMessage<'a>; 2],
    pub max_tokens: u32,
    pub temperature: f32,
}

#[derive(Serialize)]
pub(crate) struct ChatMessage<'a> {
    pub role: &'static str,
    pub content: &'a str,
}

/// The answer to either endpoint: completions carry `text`, chat `message.content`.
#[derive(Deserialize)]
pub(crate) struct Response {
    pub choices: Vec<Choice>,
}

#[derive(Deserialize)]
pub(crate) struct Choice {
    #[serde(default)]
    pub text: Option<String>,
    #[serde(default)]
    pub message: Option<AnswerMessage>,
}

#[derive(Deserialize)]
pub(crate) struct AnswerMessage {
    #[serde(default)]
    pub content: Option<String>,
}

impl Response {
    /// The first choice's text, whichever endpoint produced it.
    pub(crate) fn into_text(self) -> Option<String> {
        let choice = self.choices.into_iter().next()?;
        choice.text.or_else(|| choice.message.and_then(|message| message.content))
    }
}

/// The instruction for chat models, which otherwise explain instead of completing.
pub(crate) const CHAT_INSTRUCTION: &str = "You complete code. The user sends a file with the marker <CURSOR>. \
Reply with only the text to insert at the marker: no explanation, no markdown, no repetition of the text \
around it.";

/// The marker that stands for the cursor in a chat prompt.
pub(crate) const CURSOR_MARKER: &str = "<CURSOR>";
