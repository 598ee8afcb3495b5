//! The browser guard in front of every route: what keeps a web page from driving a local
//! Fusion. A request whose `Host` is not a loopback name or one of `server.allowed_hosts` is
//! refused (DNS rebinding: a page on `evil.example` resolved to 127.0.0.1 reads answers),
//! a request from a browser `Origin` that is neither loopback, the server's own, nor one of
//! `server.allowed_origins` is refused (a "simple" cross-site POST needs no preflight), and a
//! body on a JSON route (`/v1`, `/api`) must be declared `application/json` (a form or
//! `text/plain` body is how such a POST is sent). The same rules `/mcp` applies through the
//! SDK; here they hold for every route.

use std::net::IpAddr;

use axum::extract::{Request, State};
use axum::http::header::{CONTENT_LENGTH, CONTENT_TYPE, HOST, ORIGIN, TRANSFER_ENCODING};
use axum::http::{HeaderMap, Uri, uri::Authority};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};

use crate::{ApiError, AppState};

/// A host name and port as a request or an entry names them.
#[derive(Debug, Clone, PartialEq, Eq)]
struct HostPort {
    host: String,
    port: Option<u16>,
}

impl HostPort {
    fn parse(text: &str) -> Option<Self> {
        let authority = Authority::try_from(text.trim()).ok()?;
        Some(Self {
            host: normalize(authority.host()),
            port: authority.port_u16(),
        })
    }

    fn is_loopback(&self) -> bool {
        self.host == "localhost"
            || self.host.ends_with(".localhost")
            || self.host.parse::<IpAddr>().is_ok_and(|ip| ip.is_loopback())
    }

    /// Whether this configured entry admits `other` (an entry without a port admits any).
    fn admits(&self, other: &Self) -> bool {
        self.host == other.host && self.port.is_none_or(|port| other.port == Some(port))
    }
}

fn normalize(host: &str) -> String {
    host.trim_start_matches('[')
        .trim_end_matches(']')
        .trim_end_matches('.')
        .to_ascii_lowercase()
}

/// Checks `Host`, `Origin` (with `Sec-Fetch-Site`) and, on JSON routes, `Content-Type`.
pub async fn check(State(state): State<AppState>, request: Request, next: Next) -> Response {
    let config = state.config();
    let server = &config.server;
    // Browsers always send `Host`; a request without one (HTTP/1.0 tools, in-process calls)
    // is no page's request, and is judged as loopback.
    let host = match request_host(request.uri(), request.headers()) {
        Ok(host) => host.unwrap_or_else(|| HostPort {
            host: "localhost".to_owned(),
            port: None,
        }),
        Err(()) => {
            return ApiError::bad_request("malformed Host header", None).into_response();
        }
    };
    let host_allowed = host.is_loopback()
        || server
            .allowed_hosts
            .iter()
            .filter_map(|entry| HostPort::parse(entry))
            .any(|entry| entry.admits(&host));
    if !host_allowed {
        tracing::warn!(host = %host.host, "refused a request for a Host this server does not answer to");
        return ApiError::forbidden(
            format!(
                "Host `{}` is not allowed: Fusion answers to loopback names and to \
                 server.allowed_hosts only (a guard against DNS rebinding)",
                host.host
            ),
            "host_not_allowed",
        )
        .into_response();
    }
    if let Err(refusal) = check_origin(request.headers(), &host, &server.allowed_origins) {
        return refusal.into_response();
    }
    if is_json_route(request.uri().path())
        && has_body(request.headers())
        && let Some(found) = not_json(request.headers())
    {
        return ApiError::unsupported_media_type(&found).into_response();
    }
    next.run(request).await
}

/// The request's `Host` (HTTP/1) or `:authority` (HTTP/2): `Ok(None)` when it has neither,
/// `Err` when the header is there but is no host.
fn request_host(uri: &Uri, headers: &HeaderMap) -> Result<Option<HostPort>, ()> {
    match (headers.get(HOST), uri.authority()) {
        (Some(value), _) => value
            .to_str()
            .ok()
            .and_then(HostPort::parse)
            .map(Some)
            .ok_or(()),
        (None, Some(authority)) => HostPort::parse(authority.as_str()).map(Some).ok_or(()),
        (None, None) => Ok(None),
    }
}

/// A browser origin passes when it is loopback, the server's own (the same host and port as
/// the request's `Host`), or configured. Without an `Origin`, a browser's `Sec-Fetch-Site:
/// cross-site` (sent on no-cors requests) is refused as well.
fn check_origin(headers: &HeaderMap, host: &HostPort, allowed: &[String]) -> Result<(), ApiError> {
    let Some(origin) = headers.get(ORIGIN) else {
        let cross_site = headers
            .get("sec-fetch-site")
            .and_then(|v| v.to_str().ok())
            .is_some_and(|v| v.eq_ignore_ascii_case("cross-site"));
        return match cross_site {
            true => Err(refused_origin("(a cross-site request without Origin)")),
            false => Ok(()),
        };
    };
    let text = origin.to_str().unwrap_or("(not text)");
    let Some((scheme, origin)) = parse_origin(text) else {
        return Err(refused_origin(text));
    };
    let own = origin.host == host.host
        && effective_port(&scheme, origin.port) == effective_port(&scheme, host.port);
    if origin.is_loopback()
        || own
        || allowed
            .iter()
            .any(|e| origin_entry_admits(e, &scheme, &origin))
    {
        return Ok(());
    }
    tracing::warn!(
        origin = text,
        "refused a request from a browser page of another origin"
    );
    Err(refused_origin(text))
}

fn refused_origin(origin: &str) -> ApiError {
    ApiError::forbidden(
        format!(
            "Origin `{origin}` is not allowed: web pages of other sites cannot call Fusion; add \
             it to server.allowed_origins to allow it"
        ),
        "origin_not_allowed",
    )
}

/// `scheme://host[:port]` → its scheme and host; `null` and anything else → `None`.
fn parse_origin(text: &str) -> Option<(String, HostPort)> {
    let uri = Uri::try_from(text.trim()).ok()?;
    let scheme = uri.scheme_str()?.to_ascii_lowercase();
    let authority = uri.authority()?;
    Some((
        scheme,
        HostPort {
            host: normalize(authority.host()),
            port: authority.port_u16(),
        },
    ))
}

/// The port a browser means: the explicit one, else the scheme's default.
fn effective_port(scheme: &str, port: Option<u16>) -> Option<u16> {
    port.or(match scheme {
        "http" => Some(80),
        "https" => Some(443),
        _ => None,
    })
}

/// A `server.allowed_origins` entry: `scheme://host`, `scheme://host:port` or
/// `scheme://host:*` (any port; an entry without a port also admits any port).
fn origin_entry_admits(entry: &str, scheme: &str, origin: &HostPort) -> bool {
    let (base, any_port) = match entry.trim().strip_suffix(":*") {
        Some(base) => (base, true),
        None => (entry.trim(), false),
    };
    let Some((entry_scheme, entry)) = parse_origin(base) else {
        return false;
    };
    entry_scheme == scheme
        && entry.host == origin.host
        && (any_port
            || entry.port.is_none()
            || effective_port(scheme, entry.port) == effective_port(scheme, origin.port))
}

fn is_json_route(path: &str) -> bool {
    path.starts_with("/v1/") || path.starts_with("/api/")
}

fn has_body(headers: &HeaderMap) -> bool {
    if headers.contains_key(TRANSFER_ENCODING) {
        return true;
    }
    headers.get(CONTENT_LENGTH).is_some_and(|value| {
        value
            .to_str()
            .ok()
            .and_then(|v| v.trim().parse::<u64>().ok())
            .is_none_or(|length| length > 0)
    })
}

/// The declared type when it is not JSON (`application/json` or any `+json` type). A body
/// without any `Content-Type` is read as JSON: scripts send that, and a browser page that
/// could send it is stopped by the `Origin` and `Host` checks.
fn not_json(headers: &HeaderMap) -> Option<String> {
    let declared = headers
        .get(CONTENT_TYPE)
        .map(|v| v.to_str().unwrap_or("(not text)").to_owned())?;
    let essence = declared
        .split(';')
        .next()
        .unwrap_or_default()
        .trim()
        .to_ascii_lowercase();
    let json = essence == "application/json"
        || (essence.starts_with("application/") && essence.ends_with("+json"));
    (!json).then_some(declared)
}

#[cfg(test)]
mod tests {
    use super::*;
    use axum::http::HeaderValue;

    fn host(text: &str) -> HostPort {
        HostPort::parse(text).unwrap()
    }

    fn headers(pairs: &[(&'static str, &str)]) -> HeaderMap {
        let mut map = HeaderMap::new();
        for (name, value) in pairs {
            map.insert(*name, HeaderValue::from_str(value).unwrap());
        }
        map
    }

    #[test]
    fn loopback_hosts_pass_and_others_need_configuring() {
        for ok in [
            "127.0.0.1:8787",
            "localhost",
            "[::1]:9",
            "127.8.9.1",
            "LOCALHOST.:80",
        ] {
            assert!(host(ok).is_loopback(), "{ok}");
        }
        for no in [
            "evil.example",
            "10.0.0.5:8787",
            "localhost.evil.example",
            "0.0.0.0",
        ] {
            assert!(!host(no).is_loopback(), "{no}");
        }
        assert!(host("fusion.lan").admits(&host("fusion.lan:8787")));
        assert!(host("fusion.lan:8787").admits(&host("fusion.lan:8787")));
        assert!(!host("fusion.lan:80").admits(&host("fusion.lan:8787")));
    }

    #[test]
    fn origins_pass_when_loopback_own_or_configured() {
        let on = host("fusion.lan:8787");
        let check = |origin: &str, allowed: &[&str]| {
            let allowed: Vec<String> = allowed.iter().map(|s| (*s).to_owned()).collect();
            check_origin(&headers(&[("origin", origin)]), &on, &allowed).is_ok()
        };
        assert!(check("http://127.0.0.1:3000", &[]));
        assert!(check("http://localhost", &[]));
        assert!(
            check("http://fusion.lan:8787", &[]),
            "the server's own origin"
        );
        assert!(!check("http://fusion.lan:9999", &[]));
        assert!(!check("https://evil.example", &[]));
        assert!(!check("null", &[]));
        assert!(!check("not an origin", &[]));
        assert!(check("https://app.example", &["https://app.example"]));
        assert!(check(
            "https://app.example:8443",
            &["https://app.example:*"]
        ));
        assert!(check("https://app.example", &["https://app.example:443"]));
        assert!(!check("http://app.example", &["https://app.example"]));
        assert!(!check(
            "https://app.example:1",
            &["https://app.example:443"]
        ));
    }

    #[test]
    fn a_cross_site_request_without_origin_is_refused() {
        let on = host("127.0.0.1:8787");
        assert!(check_origin(&headers(&[("sec-fetch-site", "cross-site")]), &on, &[]).is_err());
        assert!(check_origin(&headers(&[("sec-fetch-site", "same-origin")]), &on, &[]).is_ok());
        assert!(check_origin(&headers(&[]), &on, &[]).is_ok());
    }

    #[test]
    fn only_json_bodies_pass_on_json_routes() {
        let json = headers(&[("content-type", "application/json; charset=utf-8")]);
        assert_eq!(not_json(&json), None);
        let problem = headers(&[("content-type", "application/problem+json")]);
        assert_eq!(not_json(&problem), None);
        let text = headers(&[("content-type", "text/plain")]);
        assert_eq!(not_json(&text).as_deref(), Some("text/plain"));
        assert_eq!(
            not_json(&headers(&[])),
            None,
            "no declared type is read as JSON"
        );
        let form = headers(&[("content-type", "application/x-www-form-urlencoded")]);
        assert!(not_json(&form).is_some());
        assert!(has_body(&headers(&[("content-length", "12")])));
        assert!(!has_body(&headers(&[("content-length", "0")])));
        assert!(!has_body(&headers(&[])));
        assert!(has_body(&headers(&[("transfer-encoding", "chunked")])));
        assert!(is_json_route("/v1/chat/completions") && is_json_route("/api/tasks"));
        assert!(!is_json_route("/mcp") && !is_json_route("/health"));
    }
}
