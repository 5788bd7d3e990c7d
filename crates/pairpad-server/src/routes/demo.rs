//! The browser editor (`demo/`), compiled into the binary so the server needs no files beside it.

use actix_web::HttpResponse;

const INDEX_HTML: &str = include_str!("../../../../demo/dist/index.html");
const APP_JS: &str = include_str!("../../../../demo/dist/app.js");
const APP_CSS: &str = include_str!("../../../../demo/dist/app.css");

fn asset(content_type: &'static str, body: &'static str) -> HttpResponse {
    // `no-cache` revalidates on every load, so a new server version is picked up at once.
    HttpResponse::Ok().content_type(content_type).insert_header(("cache-control", "no-cache")).body(body)
}

/// `/` and `/r/{roomId}`: the page reads the room from its own URL.
pub async fn index() -> HttpResponse {
    asset("text/html; charset=utf-8", INDEX_HTML)
}

pub async fn app_js() -> HttpResponse {
    asset("text/javascript; charset=utf-8", APP_JS)
}

pub async fn app_css() -> HttpResponse {
    asset("text/css; charset=utf-8", APP_CSS)
}
