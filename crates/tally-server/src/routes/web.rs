//! The web app (`web/`, built into `web/dist` by `npm run build`), embedded in the binary.
//! Every screen's URL answers with the app's page; its assets are served from `/assets/`.
//! A binary built before the app was built serves a page that says how to build it.
//!
//! The page's content security policy allows scripts from this origin only and styles
//! from this origin or with this response's nonce (the component library writes its theme
//! into a `<style>` element that carries the nonce). Images may be `data:` URLs (the QR code
//! of a second-factor enrollment).

use axum::extract::Path;
use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{Html, IntoResponse, Response};
use rust_embed::RustEmbed;

use crate::ApiError;
use crate::routes::html_page;

#[derive(RustEmbed)]
#[folder = "../../web/dist"]
#[allow_missing = true]
struct Assets;

const NONCE_PLACEHOLDER: &str = "__TALLY_NONCE__";

/// A screen of the app: its page, with a fresh style nonce.
pub(crate) async fn app() -> Response {
    let Some(index) = Assets::get("index.html") else {
        return Html(html_page(
            "Build the web app",
            "<h1>Tally's web app is not in this binary</h1><p>It was built before the web app was. Run \
             <code>scripts/serve</code>, which builds the app (<code>npm ci &amp;&amp; npm run build</code> in \
             <code>web/</code>) and then Tally, or build the app yourself and rebuild Tally. The API under \
             <code>/api</code> works either way.</p>",
        ))
        .into_response();
    };
    let nonce = uuid::Uuid::new_v4().simple().to_string();
    let page = String::from_utf8_lossy(&index.data).replace(NONCE_PLACEHOLDER, &nonce);
    let policy = format!(
        "default-src 'self'; script-src 'self'; style-src 'self' 'nonce-{nonce}'; img-src 'self' data:; \
         connect-src 'self'; object-src 'none'; frame-ancestors 'none'; base-uri 'none'; form-action 'self'"
    );
    let mut response = Html(page).into_response();
    let headers = response.headers_mut();
    if let Ok(policy) = HeaderValue::from_str(&policy) {
        headers.insert(header::CONTENT_SECURITY_POLICY, policy);
    }
    headers.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    response
}

/// `/assets/{file}`: the app's scripts, styles and fonts. Their names carry a hash of their
/// content, so they may be cached for good.
pub(crate) async fn asset(Path(file): Path<String>) -> Response {
    let Some(found) = Assets::get(&format!("assets/{file}")) else {
        return ApiError::not_found().into_response();
    };
    let mime = found.metadata.mimetype().to_string();
    let mut response = (StatusCode::OK, found.data.into_owned()).into_response();
    let headers = response.headers_mut();
    if let Ok(mime) = HeaderValue::from_str(&mime) {
        headers.insert(header::CONTENT_TYPE, mime);
    }
    headers.insert(header::CACHE_CONTROL, HeaderValue::from_static("public, max-age=31536000, immutable"));
    response
}
