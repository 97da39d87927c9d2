//! `GET /sign-in`: the sign-in page. It routes by e-mail domain: an organization's claimed
//! domain with single sign-on goes to its identity provider, anything else signs in with
//! a password and, when asked, a second factor. The script is served from our own origin
//! (the content security policy allows no inline script).

use axum::http::header;
use axum::response::{Html, IntoResponse, Response};

use crate::routes::html_page;

const SCRIPT: &str = include_str!("../../assets/sign-in.js");

const BODY: &str = r##"<h1>Sign in to Tally</h1>
<form id="email-step">
  <label for="email">Work e-mail</label>
  <input id="email" name="email" type="email" autocomplete="username" required>
  <button id="continue" type="submit">Continue</button>
  <p><a id="use-password" href="#">Use a password instead</a></p>
</form>
<form id="password-step" hidden>
  <label for="password">Password</label>
  <input id="password" name="password" type="password" autocomplete="current-password" required>
  <button id="sign-in" type="submit">Sign in</button>
</form>
<form id="code-step" hidden>
  <label id="code-label" for="code">Code</label>
  <input id="code" name="code" inputmode="numeric" autocomplete="one-time-code" required>
  <button id="verify" type="submit">Verify</button>
</form>
<p id="message" role="status"></p>
<script src="/assets/sign-in.js"></script>"##;

pub(crate) async fn page() -> Html<String> {
    Html(html_page("Sign in", BODY))
}

pub(crate) async fn script() -> Response {
    ([(header::CONTENT_TYPE, "text/javascript; charset=utf-8")], SCRIPT).into_response()
}
