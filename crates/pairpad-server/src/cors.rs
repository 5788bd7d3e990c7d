//! Which browser origins may call the API and open WebSockets: the server's own origin and
//! localhost always, plus `server.allowed_origins` (`["*"]` allows any).

use actix_cors::Cors;

/// Whether a request's `Origin` may be served.
pub fn origin_allowed(origin: &str, host: Option<&str>, allowed: &[String]) -> bool {
    if allowed.iter().any(|a| a == "*" || a.eq_ignore_ascii_case(origin)) {
        return true;
    }
    let Some((_, rest)) = origin.split_once("://") else { return false };
    let origin_host = rest.trim_end_matches('/');
    let hostname = origin_host.rsplit_once(':').map_or(origin_host, |(name, _)| name);
    host.is_some_and(|h| h.eq_ignore_ascii_case(origin_host)) || ["localhost", "127.0.0.1", "[::1]"].contains(&hostname)
}

/// The CORS middleware for the REST API.
pub fn cors(allowed: &[String]) -> Cors {
    let allowed = allowed.to_vec();
    Cors::default()
        .allowed_origin_fn(move |origin, head| {
            let host = head.headers().get("host").and_then(|h| h.to_str().ok());
            origin.to_str().is_ok_and(|o| origin_allowed(o, host, &allowed))
        })
        .allowed_methods(["GET", "POST"])
        .allowed_header(actix_web::http::header::CONTENT_TYPE)
        .max_age(3600)
}

#[cfg(test)]
mod tests {
    use super::origin_allowed;

    #[test]
    fn same_origin_localhost_and_listed_origins_pass() {
        let listed = vec!["https://pair.example.com".to_owned()];
        assert!(origin_allowed("http://localhost:5173", Some("pair.example.com"), &[]));
        assert!(origin_allowed("http://127.0.0.1:8080", None, &[]));
        assert!(origin_allowed("https://pair.example.com", Some("pair.example.com"), &[]));
        assert!(origin_allowed("https://pair.example.com", None, &listed));
        assert!(!origin_allowed("https://evil.example", Some("pair.example.com"), &listed));
        assert!(origin_allowed("https://evil.example", None, &["*".to_owned()]));
    }
}
