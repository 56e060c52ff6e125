//! Who may do what over HTTP.
//!
//! The unix socket is trusted: the server accepts only the user who started the stack
//! ([`server`](super::server)). On TCP every path but `/livez` and `/readyz` needs the bearer
//! token, in `Authorization: Bearer TOKEN` or, for the dashboard's own requests, in the
//! `herald_token` cookie that `GET /ui?token=TOKEN` sets (the token in hexadecimal, so that
//! any token makes a valid cookie; `HttpOnly`, `SameSite=Strict`, so another site can
//! neither read it nor send it). Tokens are compared in constant time.
//! Without the token, `/readyz` still answers but withholds the reasons.

use super::router::{Api, Transport};
use axum::extract::{Request, State};
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::middleware::Next;
use axum::response::{Html, IntoResponse, Response};
use std::fmt;
use std::sync::Arc;
use subtle::ConstantTimeEq;

/// The shortest token accepted.
const MIN_LEN: usize = 16;

/// The cookie the dashboard carries the token in.
const COOKIE: &str = "herald_token";

/// A bearer token, and its hexadecimal form for the cookie. Its `Debug` form shows neither.
#[derive(Clone, PartialEq, Eq)]
pub struct Token(Arc<str>, Arc<str>);

impl fmt::Debug for Token {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("Token(..)")
    }
}

impl Token {
    /// A token from its text: at least 16 characters, visible ASCII only.
    pub fn new(text: &str) -> Result<Token, String> {
        let text = text.trim();
        if text.len() < MIN_LEN {
            return Err(format!("the token is shorter than {MIN_LEN} characters"));
        }
        if !text.bytes().all(|b| b.is_ascii_graphic()) {
            return Err("the token has characters other than visible ASCII".into());
        }
        let hex: String = text.bytes().map(|b| format!("{b:02x}")).collect();
        Ok(Token(Arc::from(text), Arc::from(hex)))
    }

    /// The token from `HERALD_TOKEN`, else from the file `HERALD_TOKEN_FILE` names; none
    /// when neither is set.
    pub fn from_env() -> anyhow::Result<Option<Token>> {
        if let Some(text) = std::env::var_os("HERALD_TOKEN").filter(|v| !v.is_empty()) {
            let text = text.to_string_lossy();
            return Token::new(&text)
                .map(Some)
                .map_err(|e| anyhow::anyhow!("HERALD_TOKEN: {e}"));
        }
        let Some(path) = std::env::var_os("HERALD_TOKEN_FILE").filter(|v| !v.is_empty()) else {
            return Ok(None);
        };
        Token::from_file(std::path::Path::new(&path)).map(Some)
    }

    /// The token in the file at `path`, which nobody but its owner may read or write.
    pub fn from_file(path: &std::path::Path) -> anyhow::Result<Token> {
        use std::os::unix::fs::PermissionsExt;
        let place = || format!("HERALD_TOKEN_FILE {}", path.display());
        let meta = std::fs::metadata(path).map_err(|e| anyhow::anyhow!("{}: {e}", place()))?;
        let mode = meta.permissions().mode() & 0o777;
        if mode & 0o077 != 0 {
            anyhow::bail!(
                "{}: others may read or write it (mode {mode:04o}): `chmod 600` it",
                place()
            );
        }
        let text =
            std::fs::read_to_string(path).map_err(|e| anyhow::anyhow!("{}: {e}", place()))?;
        Token::new(&text).map_err(|e| anyhow::anyhow!("{}: {e}", place()))
    }

    /// Whether `offered` is this token, in time that does not depend on where they differ.
    pub fn matches(&self, offered: &[u8]) -> bool {
        bool::from(self.0.as_bytes().ct_eq(offered))
    }

    /// Whether `offered` is this token's cookie, compared as [`matches`](Token::matches) does.
    fn matches_cookie(&self, offered: &[u8]) -> bool {
        bool::from(self.1.as_bytes().ct_eq(offered))
    }
}

/// Whether the request may see everything: it came over the unix socket or carried the token.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Trusted(pub bool);

/// Paths anyone who can connect may ask for.
fn public(path: &str) -> bool {
    path == "/livez" || path == "/readyz" || path.starts_with("/readyz/")
}

/// What a request offers: the token in its `Authorization` header, or the dashboard's cookie.
#[derive(Debug, PartialEq, Eq)]
enum Offer<'a> {
    Bearer(&'a [u8]),
    Cookie(&'a [u8]),
}

fn offered(headers: &HeaderMap) -> Option<Offer<'_>> {
    if let Some(value) = headers.get(header::AUTHORIZATION) {
        let value = value.as_bytes();
        return value
            .strip_prefix(b"Bearer ")
            .or_else(|| value.strip_prefix(b"bearer "))
            .map(Offer::Bearer);
    }
    headers
        .get_all(header::COOKIE)
        .iter()
        .flat_map(|v| v.as_bytes().split(|&b| b == b';'))
        .map(|c| c.trim_ascii())
        .find_map(|c| c.strip_prefix(COOKIE.as_bytes())?.strip_prefix(b"="))
        .map(Offer::Cookie)
}

impl Token {
    fn accepts(&self, offer: Offer<'_>) -> bool {
        match offer {
            Offer::Bearer(token) => self.matches(token),
            Offer::Cookie(hex) => self.matches_cookie(hex),
        }
    }
}

/// The `token` parameter of a query string, decoded.
fn query_token(raw: Option<&str>) -> Option<String> {
    super::router::query(raw)
        .into_iter()
        .find_map(|(k, v)| (k == "token").then_some(v))
}

/// The middleware every request passes: marks it [`Trusted`] or refuses it.
pub async fn guard(State(api): State<Api>, mut request: Request, next: Next) -> Response {
    let path = request.uri().path().to_string();
    let trusted = match (&api.transport, &api.access.token) {
        (Transport::Unix, _) => true,
        (Transport::Tcp, None) => false,
        (Transport::Tcp, Some(token)) => {
            if path == "/ui"
                && let Some(offer) = query_token(request.uri().query())
            {
                return sign_in(token, &offer);
            }
            offered(request.headers()).is_some_and(|offer| token.accepts(offer))
        }
    };
    if !trusted && !public(&path) {
        return refuse(&path);
    }
    request.extensions_mut().insert(Trusted(trusted));
    next.run(request).await
}

/// `GET /ui?token=TOKEN`: the cookie, and the dashboard again without the token in its address.
fn sign_in(token: &Token, offer: &str) -> Response {
    if !token.matches(offer.as_bytes()) {
        return refuse("/ui");
    }
    let cookie = format!("{COOKIE}={}; Path=/; HttpOnly; SameSite=Strict", token.1);
    let mut response = (StatusCode::SEE_OTHER, [(header::LOCATION, "/ui")]).into_response();
    if let Ok(value) = HeaderValue::from_str(&cookie) {
        response.headers_mut().insert(header::SET_COOKIE, value);
    }
    response
}

/// 401: a form that asks for the token on the dashboard's address, plain text elsewhere.
fn refuse(path: &str) -> Response {
    let challenge = [(header::WWW_AUTHENTICATE, "Bearer realm=\"herald\"")];
    if path == "/ui" {
        let page = "<!doctype html><meta charset=utf-8><title>herald</title>\
            <form method=get action=/ui><label>Token <input name=token type=password \
            autofocus></label> <button>Open the dashboard</button></form>";
        return (StatusCode::UNAUTHORIZED, challenge, Html(page)).into_response();
    }
    (
        StatusCode::UNAUTHORIZED,
        challenge,
        "unauthorized: this path needs Authorization: Bearer TOKEN\n",
    )
        .into_response()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tokens_are_checked_and_never_shown() {
        assert!(Token::new("short").is_err());
        assert!(Token::new("has a space in it, long enough").is_err());
        let token = Token::new("  0123456789abcdef\n").unwrap();
        assert!(token.matches(b"0123456789abcdef"));
        assert!(!token.matches(b"0123456789abcdeF"));
        assert!(!token.matches(b"0123456789abcde"));
        assert_eq!(format!("{token:?}"), "Token(..)");
    }

    #[test]
    fn a_token_file_must_be_private() {
        use std::os::unix::fs::PermissionsExt;
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("token");
        std::fs::write(&path, "0123456789abcdef0123\n").unwrap();
        std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o644)).unwrap();
        let error = Token::from_file(&path).unwrap_err().to_string();
        assert!(
            error.contains("mode 0644") && error.contains("chmod 600"),
            "{error}"
        );
        std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o600)).unwrap();
        assert!(
            Token::from_file(&path)
                .unwrap()
                .matches(b"0123456789abcdef0123")
        );
        let missing = Token::from_file(&dir.path().join("nope"))
            .unwrap_err()
            .to_string();
        assert!(missing.starts_with("HERALD_TOKEN_FILE "), "{missing}");
    }

    #[test]
    fn the_token_is_read_from_the_header_or_the_cookie() {
        let mut headers = HeaderMap::new();
        headers.insert(header::COOKIE, "a=b; herald_token=7879".parse().unwrap());
        assert_eq!(offered(&headers), Some(Offer::Cookie(b"7879")));
        let token = Token::new("a;b=c&d%e+f\"g,hij").unwrap();
        assert!(token.accepts(Offer::Cookie(b"613b623d63266425652b6622672c68696a")));
        assert!(!token.accepts(Offer::Bearer(b"613b623d63266425652b6622672c68696a")));
        headers.insert(header::AUTHORIZATION, "Bearer abc".parse().unwrap());
        assert_eq!(offered(&headers), Some(Offer::Bearer(b"abc")));
        assert_eq!(
            query_token(Some("x=1&token=a%3Bb%3Dc%26d")).as_deref(),
            Some("a;b=c&d")
        );
        assert!(public("/readyz/component/db") && !public("/metrics"));
    }
}
