//! The session cookie.

use axum::http::header;
use axum::http::request::Parts;

pub(crate) const SESSION_COOKIE: &str = "tally_session";
/// The session cookie's name on HTTPS. With the `__Host-` prefix a browser keeps it only
/// when it is `Secure`, for `Path=/` and without `Domain`, so a sibling subdomain can
/// neither plant nor overwrite it. Plain HTTP cannot carry the prefix.
pub(crate) const HOST_SESSION_COOKIE: &str = "__Host-tally_session";

pub(crate) fn session_cookie_name(secure: bool) -> &'static str {
    if secure { HOST_SESSION_COOKIE } else { SESSION_COOKIE }
}

/// The session token the request carries, under the name this server uses.
pub(crate) fn session_token(parts: &Parts, secure: bool) -> Option<String> {
    cookie(parts, session_cookie_name(secure))
}

/// The `Set-Cookie` value that ends the session cookie.
pub(crate) fn expired_session_cookie(secure: bool) -> String {
    let attributes = if secure { "; Secure" } else { "" };
    format!("{}=; Path=/; HttpOnly; SameSite=Lax; Max-Age=0{attributes}", session_cookie_name(secure))
}

/// The value of one cookie from the request's `Cookie` headers.
pub(crate) fn cookie(parts: &Parts, name: &str) -> Option<String> {
    parts
        .headers
        .get_all(header::COOKIE)
        .iter()
        .filter_map(|value| value.to_str().ok())
        .flat_map(|value| value.split(';'))
        .filter_map(|pair| pair.trim().split_once('='))
        .find(|(key, _)| *key == name)
        .map(|(_, value)| value.to_string())
}

/// The `Set-Cookie` value that starts a session.
pub(crate) fn session_cookie(token: &str, secure: bool, max_age_secs: i64) -> String {
    let name = session_cookie_name(secure);
    let secure = if secure { "; Secure" } else { "" };
    format!("{name}={token}; Path=/; HttpOnly; SameSite=Lax; Max-Age={max_age_secs}{secure}")
}
