//! The model-backed suggester: asks an OpenAI-compatible server (llama.cpp, Ollama, vLLM, ...)
//! for a fill-in-the-middle completion, and never lets it make the endpoint slow or fragile.
//!
//! Every request first gets the fallback's suggestions (the rules), then asks the model under a
//! strict timeout. Any failure (timeout, connection refused, non-2xx status, malformed or empty
//! answer, or a newer request for the same room) returns the fallback's answer unchanged, whose
//! `source` says who answered.

mod api;
mod gate;

use std::fmt;
use std::future::pending;
use std::str::FromStr;
use std::sync::Arc;
use std::time::Duration;

use async_trait::async_trait;
use pairpad_domain::{Suggester, Suggestion, SuggestionKind, SuggestionRequest, Suggestions};
use serde::Deserialize;

use gate::RoomGate;

/// What [`Suggestions::source`] says when the model answered.
pub const SOURCE: &str = "model";

/// The longest answer read from the model; anything longer is a misbehaving server.
const MAX_RESPONSE_BYTES: usize = 1024 * 1024;

/// The longest label shown for a model completion.
const MAX_LABEL_CHARS: usize = 60;

/// Which OpenAI-compatible endpoint to call.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum ModelApi {
    /// `POST /v1/completions` with `prompt` and `suffix`: true fill-in-the-middle, for code models.
    #[default]
    Completions,
    /// `POST /v1/chat/completions`, with the cursor marked in the user message: for chat models.
    Chat,
}

/// The text names neither API.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[error("`{0}` is not a model API: use `completions` or `chat`")]
pub struct UnknownModelApi(String);

impl FromStr for ModelApi {
    type Err = UnknownModelApi;

    fn from_str(text: &str) -> Result<Self, Self::Err> {
        match text.trim().to_ascii_lowercase().as_str() {
            "completions" => Ok(Self::Completions),
            "chat" => Ok(Self::Chat),
            _ => Err(UnknownModelApi(text.to_owned())),
        }
    }
}

/// How to reach the model.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ModelSettings {
    /// The server's base URL, such as `http://127.0.0.1:8080` (a trailing `/v1` is accepted).
    pub endpoint: String,
    /// The model name sent with each request.
    pub model: String,
    /// The name of the environment variable holding the API key, sent as a bearer token. The key
    /// is read once, when the suggester is built, and is never logged; when the variable is unset
    /// or empty, requests go without a key (and a warning is logged at construction).
    pub api_key_env: Option<String>,
    /// Which endpoint to call.
    pub api: ModelApi,
    /// The whole budget of one model call, connection included.
    pub timeout: Duration,
    /// The longest completion asked for, in tokens.
    pub max_tokens: u32,
    /// How many characters before the cursor are sent.
    pub prompt_chars: usize,
    /// How many characters after the cursor are sent.
    pub suffix_chars: usize,
}

impl ModelSettings {
    /// The default budget of one model call.
    pub const DEFAULT_TIMEOUT: Duration = Duration::from_millis(1500);
    /// The default longest completion, in tokens.
    pub const DEFAULT_MAX_TOKENS: u32 = 64;
    /// The default number of characters sent before the cursor.
    pub const DEFAULT_PROMPT_CHARS: usize = 4096;
    /// The default number of characters sent after the cursor.
    pub const DEFAULT_SUFFIX_CHARS: usize = 1024;

    /// Settings for `model` at `endpoint`, with the defaults for everything else: no API key,
    /// the completions API, a 1.5 s timeout.
    pub fn new(endpoint: impl Into<String>, model: impl Into<String>) -> Self {
        Self {
            endpoint: endpoint.into(),
            model: model.into(),
            api_key_env: None,
            api: ModelApi::Completions,
            timeout: Self::DEFAULT_TIMEOUT,
            max_tokens: Self::DEFAULT_MAX_TOKENS,
            prompt_chars: Self::DEFAULT_PROMPT_CHARS,
            suffix_chars: Self::DEFAULT_SUFFIX_CHARS,
        }
    }
}

/// Why a [`ModelSuggester`] cannot be built from its settings.
#[derive(Debug, thiserror::Error)]
pub enum ModelSetupError {
    /// The endpoint is not an `http://` URL.
    #[error("the model endpoint `{0}` is not an http:// URL")]
    InvalidEndpoint(String),
    /// The endpoint needs TLS, which this build leaves out.
    #[error(
        "the model endpoint `{0}` uses https, which this build does not support; use a local http:// endpoint or build with `--features model-tls`"
    )]
    TlsUnsupported(String),
    /// A zero timeout would never let the model answer.
    #[error("the model timeout must be longer than zero")]
    ZeroTimeout,
    /// The HTTP client could not be built.
    #[error("cannot build the HTTP client for the model: {0}")]
    Client(#[source] reqwest::Error),
}

/// Why one model call gave nothing usable.
#[derive(Debug, thiserror::Error)]
enum Failure {
    #[error("a newer request for the room superseded it")]
    Superseded,
    #[error("no answer within {0:?}")]
    Timeout(Duration),
    #[error("the request failed: {0}")]
    Http(#[source] reqwest::Error),
    #[error("the server answered with status {0}")]
    Status(u16),
    #[error("the answer is longer than {MAX_RESPONSE_BYTES} bytes")]
    TooLong,
    #[error("the answer is not the expected JSON: {0}")]
    Json(#[source] serde_json::Error),
    #[error("the answer holds no completion")]
    Empty,
}

/// An API key: kept out of every `Debug` output and log.
struct ApiKey(String);

impl fmt::Debug for ApiKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("<redacted>")
    }
}

/// Suggests a model's fill-in-the-middle completion first, then the fallback's suggestions; or
/// only the fallback's when the model does not answer in time.
pub struct ModelSuggester {
    settings: ModelSettings,
    url: String,
    api_key: Option<ApiKey>,
    client: reqwest::Client,
    fallback: Arc<dyn Suggester>,
    rooms: RoomGate,
}

impl fmt::Debug for ModelSuggester {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ModelSuggester")
            .field("url", &self.url)
            .field("model", &self.settings.model)
            .field("api", &self.settings.api)
            .field("timeout", &self.settings.timeout)
            .field("api_key", &self.api_key)
            .finish_non_exhaustive()
    }
}

impl ModelSuggester {
    /// A suggester that asks the model described by `settings` and falls back to `fallback`.
    /// Reads the API key from its environment variable now.
    pub fn new(settings: ModelSettings, fallback: Arc<dyn Suggester>) -> Result<Self, ModelSetupError> {
        if settings.timeout.is_zero() {
            return Err(ModelSetupError::ZeroTimeout);
        }
        let base = base_url(&settings.endpoint)?;
        let path = match settings.api {
            ModelApi::Completions => "/v1/completions",
            ModelApi::Chat => "/v1/chat/completions",
        };
        let api_key = settings.api_key_env.as_deref().and_then(read_api_key);
        let client = reqwest::Client::builder()
            .timeout(settings.timeout)
            .connect_timeout(settings.timeout)
            // Model servers are usually local; a proxy picked up from the environment would send
            // code elsewhere.
            .no_proxy()
            .build()
            .map_err(ModelSetupError::Client)?;
        Ok(Self { url: format!("{base}{path}"), settings, api_key, client, fallback, rooms: RoomGate::default() })
    }

    /// The URL requests go to.
    pub fn url(&self) -> &str {
        &self.url
    }

    /// How many rooms have a model request in flight right now.
    pub fn rooms_in_flight(&self) -> usize {
        self.rooms.len()
    }

    /// Asks the model for the text to insert at the cursor.
    async fn complete(&self, request: &SuggestionRequest) -> Result<String, Failure> {
        let settings = &self.settings;
        let prompt = last_chars(request.before_cursor(), settings.prompt_chars);
        let suffix = first_chars(request.after_cursor(), settings.suffix_chars);
        let builder = self.client.post(&self.url);
        let chat_prompt;
        let builder = match settings.api {
            ModelApi::Completions => builder.json(&api::CompletionRequest {
                model: &settings.model,
                prompt,
                suffix,
                max_tokens: settings.max_tokens,
                temperature: 0.0,
            }),
            ModelApi::Chat => {
                chat_prompt =
                    format!("Language: {}\n\n{prompt}{}{suffix}", request.language().as_str(), api::CURSOR_MARKER);
                builder.json(&api::ChatRequest {
                    model: &settings.model,
                    messages: [
                        api::ChatMessage { role: "system", content: api::CHAT_INSTRUCTION },
                        api::ChatMessage { role: "user", content: &chat_prompt },
                    ],
                    max_tokens: settings.max_tokens,
                    temperature: 0.0,
                })
            }
        };
        let builder = match &self.api_key {
            Some(ApiKey(key)) => builder.bearer_auth(key),
            None => builder,
        };
        let mut response = builder.send().await.map_err(Failure::Http)?;
        if !response.status().is_success() {
            return Err(Failure::Status(response.status().as_u16()));
        }
        let mut body = Vec::new();
        while let Some(chunk) = response.chunk().await.map_err(Failure::Http)? {
            if body.len() + chunk.len() > MAX_RESPONSE_BYTES {
                return Err(Failure::TooLong);
            }
            body.extend_from_slice(&chunk);
        }
        let answer: api::Response = serde_json::from_slice(&body).map_err(Failure::Json)?;
        let text = answer.into_text().ok_or(Failure::Empty)?;
        let text = clean(&text, settings.api);
        if text.trim().is_empty() { Err(Failure::Empty) } else { Ok(text) }
    }
}

#[async_trait]
impl Suggester for ModelSuggester {
    async fn suggest(&self, request: &SuggestionRequest) -> Suggestions {
        // Entering first supersedes older requests for the room at once, before any other work.
        let mut ticket = request.room().map(|room| self.rooms.enter(room));
        let rules = self.fallback.suggest(request).await;
        let superseded = async {
            match ticket.as_mut() {
                Some(ticket) => ticket.superseded().await,
                None => pending().await,
            }
        };
        let timeout = self.settings.timeout;
        let outcome = tokio::select! {
            biased;
            () = superseded => Err(Failure::Superseded),
            answer = tokio::time::timeout(timeout, self.complete(request)) => {
                answer.unwrap_or(Err(Failure::Timeout(timeout)))
            }
        };
        match outcome {
            Ok(text) => {
                let completion =
                    Suggestion { label: label(&text), insert_text: text, kind: SuggestionKind::Completion };
                let others = rules.items.into_iter().filter(|item| item.insert_text != completion.insert_text);
                let items = std::iter::once(completion.clone()).chain(others).collect();
                Suggestions { items, source: SOURCE }
            }
            Err(failure) => {
                tracing::debug!(room = ?request.room(), %failure, "no model suggestion; answering with the fallback");
                rules
            }
        }
    }
}

/// The key in the environment variable `name`. Local model servers need none, so an unset
/// variable is worth a warning (a misspelt name would otherwise only show as failed calls) but
/// not a refusal to start.
fn read_api_key(name: &str) -> Option<ApiKey> {
    match std::env::var(name) {
        Ok(key) if !key.trim().is_empty() => Some(ApiKey(key.trim().to_owned())),
        _ => {
            tracing::warn!(variable = name, "the model API key variable is not set; calling the model without a key");
            None
        }
    }
}

/// The base URL without a trailing `/` or `/v1`, checked to be `http` (or `https` in a build with
/// the `tls` feature, which hosted APIs need; it is off by default because it compiles a C crypto
/// library).
fn base_url(endpoint: &str) -> Result<String, ModelSetupError> {
    let trimmed = endpoint.trim().trim_end_matches('/');
    let trimmed = trimmed.strip_suffix("/v1").unwrap_or(trimmed);
    let url = reqwest::Url::parse(trimmed).map_err(|_| ModelSetupError::InvalidEndpoint(endpoint.to_owned()))?;
    match url.scheme() {
        "http" if url.host().is_some() => Ok(trimmed.to_owned()),
        "https" if cfg!(feature = "tls") && url.host().is_some() => Ok(trimmed.to_owned()),
        "https" => Err(ModelSetupError::TlsUnsupported(endpoint.to_owned())),
        _ => Err(ModelSetupError::InvalidEndpoint(endpoint.to_owned())),
    }
}

/// The last `count` characters of `text`.
fn last_chars(text: &str, count: usize) -> &str {
    match count.checked_sub(1).and_then(|skip| text.char_indices().rev().nth(skip)) {
        Some((start, _)) => &text[start..],
        None if count == 0 => "",
        None => text,
    }
}

/// The first `count` characters of `text`.
fn first_chars(text: &str, count: usize) -> &str {
    text.char_indices().nth(count).map_or(text, |(end, _)| &text[..end])
}

/// The completion without what chat models wrap around it, and without trailing blank space.
fn clean(text: &str, api: ModelApi) -> String {
    let mut text = text;
    if api == ModelApi::Chat {
        let trimmed = text.trim();
        if let Some(fenced) = trimmed.strip_prefix("```") {
            // Drop the opening fence with its language tag, and the closing fence.
            let body = fenced.split_once('\n').map_or("", |(_, body)| body);
            text = body.trim_end().strip_suffix("```").unwrap_or(body);
        }
        text = text.strip_prefix(api::CURSOR_MARKER).unwrap_or(text);
    }
    text.trim_end().to_owned()
}

/// What a menu shows for a completion: its first non-blank line, shortened.
fn label(text: &str) -> String {
    let line = text.lines().map(str::trim).find(|line| !line.is_empty()).unwrap_or("");
    let mut label: String = line.chars().take(MAX_LABEL_CHARS).collect();
    if line.chars().count() > MAX_LABEL_CHARS {
        label.push('…');
    }
    label
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn takes_characters_not_bytes() {
        assert_eq!(last_chars("añb", 2), "ñb");
        assert_eq!(last_chars("ab", 5), "ab");
        assert_eq!(last_chars("ab", 0), "");
        assert_eq!(first_chars("añb", 2), "añ");
        assert_eq!(first_chars("ab", 5), "ab");
        assert_eq!(first_chars("ab", 0), "");
    }

    #[test]
    fn accepts_plain_http_endpoints_only() {
        assert_eq!(base_url("http://127.0.0.1:8080/v1/").ok().as_deref(), Some("http://127.0.0.1:8080"));
        assert_eq!(base_url("http://localhost:11434").ok().as_deref(), Some("http://localhost:11434"));
        let https = base_url("https://api.example.com");
        if cfg!(feature = "tls") {
            assert_eq!(https.ok().as_deref(), Some("https://api.example.com"));
        } else {
            assert!(matches!(https, Err(ModelSetupError::TlsUnsupported(_))));
        }
        assert!(matches!(base_url("localhost:8080"), Err(ModelSetupError::InvalidEndpoint(_))));
        assert!(matches!(base_url("not a url"), Err(ModelSetupError::InvalidEndpoint(_))));
    }

    #[test]
    fn unwraps_chat_answers() {
        assert_eq!(clean("```python\nurn n\n```\n", ModelApi::Chat), "urn n");
        assert_eq!(clean("urn n\n\n", ModelApi::Completions), "urn n");
        assert_eq!(clean("  x = 1", ModelApi::Completions), "  x = 1");
    }

    #[test]
    fn labels_with_the_first_line() {
        assert_eq!(label("\n    return n\n"), "return n");
        assert_eq!(label(&"x".repeat(100)).chars().count(), MAX_LABEL_CHARS + 1);
    }
}
