//! The model-backed suggester against a fake OpenAI-compatible server that each test starts on
//! 127.0.0.1: a real HTTP server and the real client code. Nothing reaches further than loopback.

use std::net::{SocketAddr, TcpListener};
use std::sync::mpsc;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use actix_web::dev::ServerHandle;
use actix_web::http::StatusCode;
use actix_web::{App, HttpRequest, HttpResponse, HttpServer, web};
use pairpad_domain::{RoomId, Suggester, SuggestionKind, SuggestionRequest, Suggestions};
use pairpad_suggest::{ModelApi, ModelSettings, ModelSetupError, ModelSuggester, RuleSuggester};
use serde_json::{Value, json};

use super::request;

/// What the fake server answers.
enum Reply {
    /// `200` with this JSON, after a delay.
    Json(Value, Duration),
    /// This status with a plain-text body.
    Status(u16),
    /// `200` with this body as `application/json`, whatever it is.
    Raw(&'static str),
}

type Behaviour = dyn Fn(&Value) -> Reply + Send + Sync;

/// A request the fake server received.
#[derive(Clone, Debug)]
struct Received {
    path: String,
    authorization: Option<String>,
    body: Value,
}

struct State {
    behaviour: Box<Behaviour>,
    received: Mutex<Vec<Received>>,
}

/// An OpenAI-compatible server on a free loopback port, in its own thread and actix system.
struct FakeModel {
    addr: SocketAddr,
    state: Arc<State>,
    handle: ServerHandle,
}

impl FakeModel {
    fn start(behaviour: impl Fn(&Value) -> Reply + Send + Sync + 'static) -> Self {
        let state = Arc::new(State { behaviour: Box::new(behaviour), received: Mutex::new(Vec::new()) });
        let shared = web::Data::from(Arc::clone(&state));
        let (started, addr) = mpsc::channel();
        std::thread::spawn(move || {
            actix_web::rt::System::new().block_on(async move {
                let server = HttpServer::new(move || {
                    App::new()
                        .app_data(shared.clone())
                        .route("/v1/completions", web::post().to(answer))
                        .route("/v1/chat/completions", web::post().to(answer))
                })
                .workers(1)
                .disable_signals()
                .shutdown_timeout(0)
                .bind(("127.0.0.1", 0))
                .expect("a free loopback port");
                let addr = server.addrs()[0];
                let server = server.run();
                started.send((addr, server.handle())).expect("the test waits for the address");
                server.await
            })
        });
        let (addr, handle) = addr.recv_timeout(Duration::from_secs(10)).expect("the fake model starts");
        Self { addr, state, handle }
    }

    fn endpoint(&self) -> String {
        format!("http://{}", self.addr)
    }

    fn received(&self) -> Vec<Received> {
        self.state.received.lock().expect("not poisoned").clone()
    }

    async fn stop(&self) {
        self.handle.stop(false).await;
    }
}

impl Drop for FakeModel {
    fn drop(&mut self) {
        // Sends the stop command now; the server thread winds down on its own.
        drop(self.handle.stop(false));
    }
}

async fn answer(state: web::Data<State>, request: HttpRequest, body: web::Bytes) -> HttpResponse {
    let body: Value = serde_json::from_slice(&body).unwrap_or(Value::Null);
    let authorization = request.headers().get("authorization").and_then(|value| value.to_str().ok()).map(str::to_owned);
    state.received.lock().expect("not poisoned").push(Received {
        path: request.path().to_owned(),
        authorization,
        body: body.clone(),
    });
    match (state.behaviour)(&body) {
        Reply::Json(value, delay) => {
            actix_web::rt::time::sleep(delay).await;
            HttpResponse::Ok().json(value)
        }
        Reply::Status(code) => {
            HttpResponse::build(StatusCode::from_u16(code).expect("a valid status")).body("the model crashed")
        }
        Reply::Raw(text) => HttpResponse::Ok().content_type("application/json").body(text),
    }
}

fn completion(text: &str) -> Reply {
    Reply::Json(
        json!({"id": "cmpl-1", "object": "text_completion", "choices": [{"index": 0, "text": text}]}),
        Duration::ZERO,
    )
}

fn settings(endpoint: String, timeout: Duration) -> ModelSettings {
    let mut settings = ModelSettings::new(endpoint, "test-model");
    settings.timeout = timeout;
    settings
}

fn suggester(settings: ModelSettings) -> ModelSuggester {
    ModelSuggester::new(settings, Arc::new(RuleSuggester::new())).expect("valid settings")
}

const FIB: &str = "def fib(n):\n    ret‸\n\nprint(fib(10))\n";

fn fib() -> SuggestionRequest {
    request("python", FIB, None)
}

/// What the rules alone answer: the fallback's answer must be exactly this.
fn rules_answer(request: &SuggestionRequest) -> Suggestions {
    RuleSuggester::new().suggest_now(request)
}

#[tokio::test]
async fn the_model_answer_comes_first_then_the_rules() {
    let fake = FakeModel::start(|_| completion("urn fib(n - 1) + fib(n - 2)\n"));
    let mut settings = settings(fake.endpoint(), Duration::from_secs(5));
    settings.max_tokens = 32;
    let model = suggester(settings);

    let answer = model.suggest(&fib()).await;

    assert_eq!(answer.source, "model");
    assert_eq!(answer.items[0].insert_text, "urn fib(n - 1) + fib(n - 2)");
    assert_eq!(answer.items[0].kind, SuggestionKind::Completion);
    assert_eq!(answer.items[0].label, "urn fib(n - 1) + fib(n - 2)");
    assert_eq!(answer.items[1..], rules_answer(&fib()).items[..], "the rules follow the model");

    let received = fake.received();
    assert_eq!(received.len(), 1);
    assert_eq!(received[0].path, "/v1/completions");
    assert_eq!(received[0].authorization, None);
    let body = &received[0].body;
    assert_eq!(body["model"], "test-model");
    assert_eq!(body["prompt"], "def fib(n):\n    ret");
    assert_eq!(body["suffix"], "\n\nprint(fib(10))\n");
    assert_eq!(body["max_tokens"], 32);
    assert_eq!(body["temperature"], 0.0);
}

#[tokio::test]
async fn sends_only_the_configured_context_around_the_cursor() {
    let fake = FakeModel::start(|_| completion("x"));
    let mut settings = settings(format!("{}/v1/", fake.endpoint()), Duration::from_secs(5));
    settings.prompt_chars = 6;
    settings.suffix_chars = 3;
    let model = suggester(settings);
    assert_eq!(model.url(), format!("{}/v1/completions", fake.endpoint()));

    let answer = model.suggest(&request("python", "héllo wörld‸ ünïcode", None)).await;

    assert_eq!(answer.source, "model");
    let body = &fake.received()[0].body;
    assert_eq!(body["prompt"], " wörld");
    assert_eq!(body["suffix"], " ün");
}

#[tokio::test]
async fn the_chat_api_marks_the_cursor_and_unwraps_fenced_answers() {
    let fake = FakeModel::start(|_| {
        Reply::Json(
            json!({"choices": [{"index": 0, "message": {"role": "assistant", "content": "```python\nurn n\n```"}}]}),
            Duration::ZERO,
        )
    });
    let mut settings = settings(fake.endpoint(), Duration::from_secs(5));
    settings.api = ModelApi::Chat;
    let model = suggester(settings);

    let answer = model.suggest(&fib()).await;

    assert_eq!(answer.source, "model");
    assert_eq!(answer.best(), "urn n");
    let received = fake.received();
    assert_eq!(received[0].path, "/v1/chat/completions");
    let messages = received[0].body["messages"].as_array().expect("messages");
    assert_eq!(messages.len(), 2);
    assert_eq!(messages[0]["role"], "system");
    let user = messages[1]["content"].as_str().expect("a user message");
    assert!(user.contains("def fib(n):\n    ret<CURSOR>\n\nprint(fib(10))"), "{user}");
    assert!(user.contains("python"), "{user}");
}

#[tokio::test]
async fn sends_the_api_key_from_the_environment_and_never_shows_it() {
    // Cargo sets this variable for the tests it runs; setting one here would need `unsafe`.
    let key = std::env::var("CARGO_PKG_NAME").expect("run by cargo");
    let fake = FakeModel::start(|_| completion("urn n"));
    let mut settings = settings(fake.endpoint(), Duration::from_secs(5));
    settings.api_key_env = Some("CARGO_PKG_NAME".to_owned());
    let model = suggester(settings);

    assert_eq!(model.suggest(&fib()).await.source, "model");

    assert_eq!(fake.received()[0].authorization, Some(format!("Bearer {key}")));
    let shown = format!("{model:?}");
    assert!(!shown.contains(&key), "{shown}");
    assert!(shown.contains("<redacted>"), "{shown}");
}

#[tokio::test]
async fn an_unset_key_variable_means_no_key() {
    let fake = FakeModel::start(|_| completion("urn n"));
    let mut settings = settings(fake.endpoint(), Duration::from_secs(5));
    settings.api_key_env = Some("PAIRPAD_SUGGEST_TEST_VARIABLE_THAT_IS_NEVER_SET".to_owned());
    let model = suggester(settings);

    assert_eq!(model.suggest(&fib()).await.source, "model");

    assert_eq!(fake.received()[0].authorization, None);
}

#[test]
fn refuses_settings_it_cannot_honour() {
    let fallback = || -> Arc<dyn Suggester> { Arc::new(RuleSuggester::new()) };
    let tls = ModelSettings::new("https://api.example.com", "m");
    assert!(matches!(ModelSuggester::new(tls, fallback()), Err(ModelSetupError::TlsUnsupported(_))));

    let not_a_url = ModelSettings::new("localhost:8080", "m");
    assert!(matches!(ModelSuggester::new(not_a_url, fallback()), Err(ModelSetupError::InvalidEndpoint(_))));

    let mut no_time = ModelSettings::new("http://127.0.0.1:9", "m");
    no_time.timeout = Duration::ZERO;
    assert!(matches!(ModelSuggester::new(no_time, fallback()), Err(ModelSetupError::ZeroTimeout)));
}

#[test]
fn settings_default_to_the_completions_api_and_a_strict_timeout() {
    let settings = ModelSettings::new("http://127.0.0.1:8080", "m");
    assert_eq!(settings.api, ModelApi::Completions);
    assert_eq!(settings.timeout, Duration::from_millis(1500));
    assert_eq!(settings.api_key_env, None);
    assert_eq!("chat".parse::<ModelApi>(), Ok(ModelApi::Chat));
    assert_eq!(" Completions ".parse::<ModelApi>(), Ok(ModelApi::Completions));
    assert!("grpc".parse::<ModelApi>().is_err());
    assert_eq!(serde_json::from_str::<ModelApi>("\"chat\"").ok(), Some(ModelApi::Chat));
}

/// Asks and checks that the rules answered, exactly, within the timeout and a generous margin.
async fn assert_falls_back(model: &ModelSuggester, timeout: Duration) {
    let started = Instant::now();
    let answer = model.suggest(&fib()).await;
    let elapsed = started.elapsed();
    assert_eq!(answer, rules_answer(&fib()));
    assert_eq!(answer.source, "rules");
    assert_eq!(answer.best(), "urn");
    assert!(elapsed < timeout + Duration::from_secs(1), "answered after {elapsed:?}");
}

#[tokio::test]
async fn a_slow_model_times_out_to_the_rules() {
    let fake = FakeModel::start(|_| Reply::Json(json!({"choices": [{"text": "late"}]}), Duration::from_secs(10)));
    let timeout = Duration::from_millis(300);
    let model = suggester(settings(fake.endpoint(), timeout));
    assert_falls_back(&model, timeout).await;
    assert_eq!(fake.received().len(), 1, "the model was asked");
}

#[tokio::test]
async fn a_server_error_falls_back_to_the_rules() {
    let fake = FakeModel::start(|_| Reply::Status(500));
    let timeout = Duration::from_secs(2);
    let model = suggester(settings(fake.endpoint(), timeout));
    assert_falls_back(&model, timeout).await;
    assert_eq!(fake.received().len(), 1, "the model was asked");
}

#[tokio::test]
async fn malformed_json_falls_back_to_the_rules() {
    let fake = FakeModel::start(|_| Reply::Raw("{\"choices\": [{\"text\": \"urn"));
    let timeout = Duration::from_secs(2);
    let model = suggester(settings(fake.endpoint(), timeout));
    assert_falls_back(&model, timeout).await;
    assert_eq!(fake.received().len(), 1, "the model was asked");
}

#[tokio::test]
async fn an_unexpected_shape_or_empty_answer_falls_back_to_the_rules() {
    let replies: [fn() -> Reply; 3] =
        [|| Reply::Raw("{\"error\": \"no such model\"}"), || Reply::Raw("{\"choices\": []}"), || completion("   \n")];
    for reply in replies {
        let fake = FakeModel::start(move |_| reply());
        let timeout = Duration::from_secs(2);
        assert_falls_back(&suggester(settings(fake.endpoint(), timeout)), timeout).await;
    }
}

#[tokio::test]
async fn connection_refused_falls_back_to_the_rules() {
    let port = {
        let listener = TcpListener::bind("127.0.0.1:0").expect("a free port");
        listener.local_addr().expect("bound").port()
    };
    let timeout = Duration::from_secs(2);
    let model = suggester(settings(format!("http://127.0.0.1:{port}"), timeout));
    assert_falls_back(&model, timeout).await;
}

#[tokio::test]
async fn answers_from_the_rules_once_the_model_server_stops() {
    let fake = FakeModel::start(|_| completion("urn n"));
    let timeout = Duration::from_secs(1);
    let model = suggester(settings(fake.endpoint(), timeout));
    assert_eq!(model.suggest(&fib()).await.source, "model");

    fake.stop().await;

    assert_falls_back(&model, timeout).await;
}

/// A server that is slow for prompts containing `slow` and answers the others at once.
fn slow_when_asked() -> FakeModel {
    FakeModel::start(|body| {
        let slow = body["prompt"].as_str().is_some_and(|prompt| prompt.contains("slow"));
        let delay = if slow { Duration::from_secs(3) } else { Duration::ZERO };
        Reply::Json(json!({"choices": [{"text": "42"}]}), delay)
    })
}

#[tokio::test]
async fn a_newer_request_for_the_same_room_cancels_the_older_one() {
    let fake = slow_when_asked();
    let model = suggester(settings(fake.endpoint(), Duration::from_secs(10)));
    let room = RoomId::random();
    let older = request("python", "slow = 1\nx = ‸", Some(room));
    let newer = request("python", "fast = 1\nx = ‸", Some(room));

    let started = Instant::now();
    let (older_answer, newer_answer) = tokio::join!(
        async {
            let answer = model.suggest(&older).await;
            (answer, started.elapsed())
        },
        async {
            tokio::time::sleep(Duration::from_millis(200)).await;
            model.suggest(&newer).await
        },
    );

    let (older_answer, older_elapsed) = older_answer;
    assert_eq!(older_answer, rules_answer(&older), "the superseded request gets the rules");
    assert!(older_elapsed < Duration::from_secs(2), "cancelled at once, not after the model: {older_elapsed:?}");
    assert_eq!(newer_answer.source, "model");
    assert_eq!(newer_answer.best(), "42");
    assert_eq!(model.rooms_in_flight(), 0, "finished rooms are forgotten");
}

#[tokio::test]
async fn requests_for_other_rooms_or_no_room_do_not_cancel_each_other() {
    let fake = FakeModel::start(|_| Reply::Json(json!({"choices": [{"text": "42"}]}), Duration::from_millis(500)));
    let model = suggester(settings(fake.endpoint(), Duration::from_secs(10)));
    let first = request("python", "x = ‸", Some(RoomId::random()));
    let second = request("python", "y = ‸", Some(RoomId::random()));
    let anonymous = request("python", "z = ‸", None);

    let (a, b, c, d) = tokio::join!(
        model.suggest(&first),
        async {
            tokio::time::sleep(Duration::from_millis(100)).await;
            model.suggest(&second).await
        },
        model.suggest(&anonymous),
        async {
            tokio::time::sleep(Duration::from_millis(100)).await;
            model.suggest(&anonymous).await
        },
    );

    for answer in [a, b, c, d] {
        assert_eq!(answer.source, "model");
    }
    assert_eq!(model.rooms_in_flight(), 0);
}
