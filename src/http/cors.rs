//! Cross-origin access for pages served elsewhere that the operator lists (`--cors-origin`),
//! such as the original's frontend on its own dev server. Nothing is allowed by default.
//!
//! An allowed origin gets its preflights answered, `Access-Control-Allow-Origin` on responses
//! and its WebSocket handshakes admitted. The origin is echoed, never `*`: tokens travel in
//! `Authorization` and `?token=`, and which sites may drive the API stays an explicit list.

use hyper::{
    body::Incoming,
    header::{self, HeaderValue},
    Method, Request, StatusCode,
};

use super::{body::Response, error::ApiError};

/// Methods and request headers the API uses; what a preflight may ask for.
const METHODS: &str = "GET, HEAD, POST, PUT, PATCH, DELETE";
const HEADERS: &str = "Authorization, Content-Type";
/// Response headers a cross-origin page may read besides the basic ones.
const EXPOSED: &str = "Retry-After, Content-Disposition";
/// Seconds a browser may reuse a preflight answer (Chromium caps it at two hours).
const MAX_AGE: &str = "600";

/// The allowed origins, normalised as browsers send them (`scheme://host[:port]`).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct CorsOrigins(Vec<String>);

impl CorsOrigins {
    /// Validates and normalises each entry; the error says which entry and why.
    pub fn parse<S: AsRef<str>>(list: &[S]) -> Result<Self, String> {
        let mut out: Vec<String> = Vec::new();
        for entry in list {
            let origin = parse_origin(entry.as_ref())?;
            if !out.contains(&origin) {
                out.push(origin);
            }
        }
        Ok(CorsOrigins(out))
    }

    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }

    pub fn allows(&self, origin: &str) -> bool {
        !self.0.is_empty() && parse_origin(origin).is_ok_and(|o| self.0.contains(&o))
    }

    /// Whether the request carries an `Origin` header naming an allowed origin.
    pub fn allows_request<B>(&self, req: &Request<B>) -> bool {
        request_origin(req).is_some_and(|o| self.allows(o))
    }

    /// The answer to a CORS preflight (`OPTIONS` with `Access-Control-Request-Method`), or
    /// `None` for every other request. A preflight from an origin not on the list gets a 403
    /// without CORS headers, so the browser refuses the real request.
    pub fn preflight(&self, req: &Request<Incoming>) -> Option<Response> {
        if req.method() != Method::OPTIONS
            || !req.headers().contains_key(header::ACCESS_CONTROL_REQUEST_METHOD)
        {
            return None;
        }
        let origin = request_origin(req)?;
        if !self.allows(origin) {
            return Some(
                ApiError::new(StatusCode::FORBIDDEN, "This origin may not call the API across origins")
                    .into_response(),
            );
        }
        let mut resp = hyper::Response::new(super::body::full(""));
        *resp.status_mut() = StatusCode::NO_CONTENT;
        let h = resp.headers_mut();
        h.insert(header::ACCESS_CONTROL_ALLOW_METHODS, HeaderValue::from_static(METHODS));
        h.insert(header::ACCESS_CONTROL_ALLOW_HEADERS, HeaderValue::from_static(HEADERS));
        h.insert(header::ACCESS_CONTROL_MAX_AGE, HeaderValue::from_static(MAX_AGE));
        Some(resp)
    }

    /// Adds `Access-Control-Allow-Origin` for an allowed `origin`. With any origin configured,
    /// every answer also varies by `Origin`, so a cache never hands one site's answer to another.
    pub fn decorate(&self, origin: Option<&HeaderValue>, resp: &mut Response) {
        if self.is_empty() {
            return;
        }
        let h = resp.headers_mut();
        h.append(header::VARY, HeaderValue::from_static("Origin"));
        let Some(origin) = origin.filter(|o| o.to_str().is_ok_and(|o| self.allows(o))) else {
            return;
        };
        h.insert(header::ACCESS_CONTROL_ALLOW_ORIGIN, origin.clone());
        h.insert(header::ACCESS_CONTROL_EXPOSE_HEADERS, HeaderValue::from_static(EXPOSED));
    }
}

/// The `Origin` a browser sent, if any (and readable).
pub(super) fn request_origin<B>(req: &Request<B>) -> Option<&str> {
    req.headers().get(header::ORIGIN).and_then(|v| v.to_str().ok())
}

/// `scheme://host[:port]` with scheme `http` or `https`, lower-cased, default port dropped: the
/// form a browser puts in `Origin`.
fn parse_origin(s: &str) -> Result<String, String> {
    let s = s.trim();
    if s == "*" {
        return Err("\"*\" is not accepted: it would let the pages of every web site use the API and \
                    the chat from their visitors' browsers; list each origin instead (for example \
                    http://localhost:5173)"
            .into());
    }
    let bad = |why: &str| {
        format!(
            "invalid origin {s:?}: {why}; expected scheme://host[:port], for example http://localhost:5173"
        )
    };
    let (scheme, rest) = s.split_once("://").ok_or_else(|| bad("no scheme"))?;
    let scheme = scheme.to_ascii_lowercase();
    if !matches!(scheme.as_str(), "http" | "https") {
        return Err(bad("the scheme must be http or https"));
    }
    if rest.contains(['/', '?', '#']) {
        return Err(bad("an origin has no path, not even a trailing /"));
    }
    if rest.contains('@') {
        return Err(bad("an origin has no user name"));
    }
    let (host, port) = match rest.rsplit_once(':') {
        Some((h, p)) if !h.starts_with('[') || h.ends_with(']') => (h, Some(p)),
        _ => (rest, None),
    };
    let host_ok = match host.strip_prefix('[').and_then(|h| h.strip_suffix(']')) {
        Some(v6) => v6.parse::<std::net::Ipv6Addr>().is_ok(),
        None => {
            !host.is_empty()
                && host.chars().all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '.')
                && !host.starts_with(['.', '-'])
        }
    };
    if !host_ok {
        return Err(bad("the host is not a name or an IP address"));
    }
    match port {
        None => Ok(canonical_origin(&scheme, host)),
        Some(p) if p.parse::<u16>().is_ok_and(|n| n > 0) && p.chars().all(|c| c.is_ascii_digit()) => {
            let n = p.parse::<u16>().unwrap_or_default();
            Ok(canonical_origin(&scheme, &format!("{host}:{n}")))
        }
        Some(_) => Err(bad("the port must be a number from 1 to 65535")),
    }
}

/// `scheme://authority` as a browser writes it in `Origin`: lower case, the scheme's default
/// port dropped, so `http://h`, `http://h:80` and `HTTP://H` compare equal. It only normalises;
/// [`parse_origin`] validates what an operator lists, and the WebSocket's same-origin check
/// compares a page's `Origin` with the `Host` it was served from through it too.
pub(super) fn canonical_origin(scheme: &str, authority: &str) -> String {
    let (scheme, authority) = (scheme.to_ascii_lowercase(), authority.to_ascii_lowercase());
    let default_port = if scheme == "https" { ":443" } else { ":80" };
    let authority = authority.strip_suffix(default_port).unwrap_or(&authority);
    format!("{scheme}://{authority}")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn normalises_origins_as_browsers_send_them() {
        let ok = |s: &str| parse_origin(s).unwrap();
        assert_eq!(ok("http://localhost:5173"), "http://localhost:5173");
        assert_eq!(ok("HTTP://LocalHost:05173"), "http://localhost:5173");
        assert_eq!(ok("https://chat.example.com:443"), "https://chat.example.com");
        assert_eq!(ok("http://[::1]:8000"), "http://[::1]:8000");
        assert_eq!(ok("http://127.0.0.1"), "http://127.0.0.1");
    }

    #[test]
    fn refuses_what_is_not_an_origin() {
        for bad in [
            "localhost:5173",
            "ftp://example.com",
            "http://example.com/",
            "http://example.com/app",
            "http://user@example.com",
            "http://",
            "http://exa mple.com",
            "http://example.com:0",
            "http://example.com:99999",
            "http://[::1",
            "null",
        ] {
            assert!(parse_origin(bad).is_err(), "{bad} accepted");
        }
        assert!(parse_origin("*").unwrap_err().contains("every web site"));
    }

    #[test]
    fn allows_only_listed_origins() {
        let cors = CorsOrigins::parse(&["http://localhost:5173", "https://chat.example.com"]).unwrap();
        assert!(cors.allows("http://localhost:5173"));
        assert!(cors.allows("https://chat.example.com"));
        assert!(!cors.allows("http://localhost:5174"));
        assert!(!cors.allows("https://localhost:5173"));
        assert!(!cors.allows("null"));
        assert!(!CorsOrigins::default().allows("http://localhost:5173"));
    }
}
