//! The browser editor (`demo/`), compiled into the binary so the server needs no files beside it.
//! Served gzip-compressed with an `ETag`, so a reload costs a 304 instead of the whole bundle.

use actix_web::http::header;
use actix_web::middleware::Compress;
use actix_web::{HttpRequest, HttpResponse, web};

const INDEX_HTML: &str = include_str!("../../../../demo/dist/index.html");
const APP_JS: &str = include_str!("../../../../demo/dist/app.js");
const APP_CSS: &str = include_str!("../../../../demo/dist/app.css");

/// Registers `/` and `/r/{roomId}` (the page reads the room from its own URL), `/app.js` and
/// `/app.css`.
pub fn configure(cfg: &mut web::ServiceConfig) {
    let pages: [(&str, &'static str, &'static str); 4] = [
        ("/", "text/html; charset=utf-8", INDEX_HTML),
        ("/r/{room_id}", "text/html; charset=utf-8", INDEX_HTML),
        ("/app.js", "text/javascript; charset=utf-8", APP_JS),
        ("/app.css", "text/css; charset=utf-8", APP_CSS),
    ];
    for (path, content_type, body) in pages {
        let handler = move |req: HttpRequest| async move { asset(&req, content_type, body) };
        cfg.service(web::resource(path).wrap(Compress::default()).route(web::get().to(handler)));
    }
}

fn asset(req: &HttpRequest, content_type: &'static str, body: &'static str) -> HttpResponse {
    // The bundle is fixed at compile time: its length and a hash of its text identify it.
    let etag = format!("\"{:x}-{:x}\"", body.len(), fnv1a(body.as_bytes()));
    let fresh = req.headers().get(header::IF_NONE_MATCH).and_then(|v| v.to_str().ok()) == Some(etag.as_str());
    let mut response = if fresh { HttpResponse::NotModified() } else { HttpResponse::Ok() };
    response.insert_header((header::ETAG, etag)).insert_header((header::CACHE_CONTROL, "no-cache"));
    if fresh { response.finish() } else { response.content_type(content_type).body(body) }
}

fn fnv1a(bytes: &[u8]) -> u64 {
    bytes.iter().fold(0xcbf2_9ce4_8422_2325, |h, b| (h ^ u64::from(*b)).wrapping_mul(0x100_0000_01b3))
}
