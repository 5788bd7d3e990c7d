//! Which browser origins may call the API and open WebSockets: localhost always, the origins of
//! `server.allowed_origins` (`["*"]` allows any), and the server's own origin when the request's
//! `Host` is one of the server's names (`server.public_hosts`, `server.host:port`).

use actix_cors::Cors;

/// Development pages: a page on the user's own machine.
const LOCALHOST_NAMES: [&str; 3] = ["localhost", "127.0.0.1", "[::1]"];

/// The browser origins this server serves.
#[derive(Clone, Debug, Default)]
pub struct OriginPolicy {
    allowed_origins: Vec<String>,
    public_hosts: Vec<String>,
}

impl OriginPolicy {
    /// `public_hosts` are `Host` header values: a name, with `:port` unless it is the default.
    pub fn new(allowed_origins: &[String], public_hosts: impl IntoIterator<Item = String>) -> Self {
        Self { allowed_origins: allowed_origins.to_vec(), public_hosts: public_hosts.into_iter().collect() }
    }

    /// Whether a request whose `Origin` is `origin` and whose `Host` is `host` may be served.
    pub fn allows(&self, origin: &str, host: Option<&str>) -> bool {
        if self.allowed_origins.iter().any(|a| a == "*" || a.eq_ignore_ascii_case(origin)) {
            return true;
        }
        let Some((scheme, rest)) = origin.split_once("://") else { return false };
        let authority = rest.trim_end_matches('/');
        let is_localhost = matches!(scheme, "http" | "https") && LOCALHOST_NAMES.contains(&hostname(authority));
        // `Origin` equal to `Host` proves nothing by itself: a page on evil.example whose name
        // has been re-pointed at this server (DNS rebinding) sends both as evil.example. So the
        // page is our own only when that name is one of ours.
        let is_our_page = host.is_some_and(|host| {
            host.eq_ignore_ascii_case(authority) && self.public_hosts.iter().any(|ours| ours.eq_ignore_ascii_case(host))
        });
        is_localhost || is_our_page
    }

    /// The CORS middleware for the REST API.
    pub fn cors(&self) -> Cors {
        let policy = self.clone();
        Cors::default()
            .allowed_origin_fn(move |origin, head| {
                let host = head.headers().get("host").and_then(|h| h.to_str().ok());
                origin.to_str().is_ok_and(|origin| policy.allows(origin, host))
            })
            .allowed_methods(["GET", "POST"])
            .allowed_header(actix_web::http::header::CONTENT_TYPE)
            .max_age(3600)
    }
}

/// The host name of `name[:port]`, where the name may be a bracketed IPv6 address.
fn hostname(authority: &str) -> &str {
    match authority.find(']') {
        Some(end) if authority.starts_with('[') => &authority[..=end],
        _ => authority.split(':').next().unwrap_or(authority),
    }
}

#[cfg(test)]
mod tests {
    use super::OriginPolicy;

    #[test]
    fn localhost_and_listed_origins_pass() {
        let policy = OriginPolicy::new(&["https://pair.example.com".to_owned()], []);
        for origin in ["http://localhost:5173", "http://127.0.0.1:8080", "https://[::1]", "http://[::1]:3000"] {
            assert!(policy.allows(origin, Some("pair.example.com")), "{origin}");
        }
        assert!(policy.allows("https://pair.example.com", None));
        assert!(!policy.allows("https://evil.example", Some("pair.example.com")));
        assert!(!policy.allows("https://localhost.evil.example", None));
        assert!(!policy.allows("file://localhost", None));
        assert!(!policy.allows("null", None));
        assert!(OriginPolicy::new(&["*".to_owned()], []).allows("https://evil.example", None));
    }

    #[test]
    fn same_origin_passes_only_on_the_servers_own_names() {
        let policy = OriginPolicy::new(&[], ["pair.internal:8080".to_owned()]);
        assert!(policy.allows("http://pair.internal:8080", Some("pair.internal:8080")));
        assert!(policy.allows("http://PAIR.internal:8080", Some("pair.INTERNAL:8080")));
        // DNS rebinding: the attacker's name, now resolving to this server.
        assert!(!policy.allows("http://rebind.evil.example:8080", Some("rebind.evil.example:8080")));
        assert!(!policy.allows("http://pair.internal:8080", Some("rebind.evil.example:8080")));
        assert!(!policy.allows("http://pair.internal:9999", Some("pair.internal:8080")));
        assert!(!OriginPolicy::default().allows("https://pair.example.com", Some("pair.example.com")));
    }
}
