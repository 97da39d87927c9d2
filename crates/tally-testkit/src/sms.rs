//! A stand-in for Twilio (a paid outside service) on loopback, speaking its Messages API:
//! `POST /2010-04-01/Accounts/{AccountSid}/Messages.json` with Basic auth and form fields
//! `To`, `From`, `Body`, answering 201 with a message resource. It also accepts the generic
//! webhook (`POST /hook` with JSON `{"to","body"}`). Tests read the codes it received, and
//! can make it fail (500) or hang.

use std::sync::{Arc, Mutex};
use std::time::Duration;

use axum::extract::{Path, State};
use axum::http::{HeaderMap, StatusCode};
use axum::routing::post;
use axum::{Form, Json, Router};
use base64::Engine;
use serde::Deserialize;
use serde_json::{Value, json};
use tokio::sync::mpsc;

/// How the provider behaves.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Mode {
    Accept,
    /// Answer 500.
    Fail,
    /// Never answer (longer than any client timeout).
    Hang,
}

/// A message the provider took.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Sms {
    pub to: String,
    pub from: Option<String>,
    pub body: String,
}

impl Sms {
    /// The six-digit code in the body.
    pub fn code(&self) -> String {
        self.body
            .split(|c: char| !c.is_ascii_digit())
            .find(|word| word.len() == 6)
            .unwrap_or_else(|| panic!("no code in {:?}", self.body))
            .to_string()
    }
}

#[derive(Clone)]
struct Shared {
    account_sid: String,
    auth_token: String,
    mode: Arc<Mutex<Mode>>,
    sender: mpsc::UnboundedSender<Sms>,
}

pub struct FakeTwilio {
    pub base_url: String,
    pub account_sid: String,
    pub auth_token: String,
    pub from: String,
    mode: Arc<Mutex<Mode>>,
    messages: mpsc::UnboundedReceiver<Sms>,
}

#[derive(Deserialize)]
struct MessageForm {
    #[serde(rename = "To")]
    to: String,
    #[serde(rename = "From")]
    from: String,
    #[serde(rename = "Body")]
    body: String,
}

#[derive(Deserialize)]
struct Hook {
    to: String,
    body: String,
}

async fn behave(shared: &Shared) -> Option<(StatusCode, Json<Value>)> {
    let mode = *shared.mode.lock().unwrap();
    match mode {
        Mode::Accept => None,
        Mode::Fail => Some((
            StatusCode::INTERNAL_SERVER_ERROR,
            Json(json!({ "code": 20500, "message": "Internal Server Error", "status": 500 })),
        )),
        Mode::Hang => {
            tokio::time::sleep(Duration::from_secs(120)).await;
            None
        }
    }
}

async fn receive_message(
    State(shared): State<Shared>,
    Path(account_sid): Path<String>,
    headers: HeaderMap,
    Form(form): Form<MessageForm>,
) -> (StatusCode, Json<Value>) {
    let expected = format!(
        "Basic {}",
        base64::engine::general_purpose::STANDARD.encode(format!("{}:{}", shared.account_sid, shared.auth_token))
    );
    let authorized = headers.get("authorization").and_then(|value| value.to_str().ok()) == Some(expected.as_str());
    if !authorized || account_sid != shared.account_sid {
        return (StatusCode::UNAUTHORIZED, Json(json!({ "code": 20003, "message": "Authenticate", "status": 401 })));
    }
    if let Some(failure) = behave(&shared).await {
        return failure;
    }
    let _ = shared.sender.send(Sms { to: form.to.clone(), from: Some(form.from.clone()), body: form.body.clone() });
    let sid = format!("SM{}", tally_types::token::random_hex(16));
    (
        StatusCode::CREATED,
        Json(json!({
            "sid": sid, "account_sid": account_sid, "to": form.to, "from": form.from, "body": form.body,
            "status": "queued", "num_segments": "1", "direction": "outbound-api", "api_version": "2010-04-01",
            "uri": format!("/2010-04-01/Accounts/{account_sid}/Messages/{sid}.json"),
        })),
    )
}

async fn hook(State(shared): State<Shared>, Json(hook): Json<Hook>) -> (StatusCode, Json<Value>) {
    if let Some(failure) = behave(&shared).await {
        return failure;
    }
    let _ = shared.sender.send(Sms { to: hook.to, from: None, body: hook.body });
    (StatusCode::OK, Json(json!({ "ok": true })))
}

impl FakeTwilio {
    pub async fn start() -> FakeTwilio {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let base_url = format!("http://{}", listener.local_addr().unwrap());
        let (sender, messages) = mpsc::unbounded_channel();
        let mode = Arc::new(Mutex::new(Mode::Accept));
        let account_sid = format!("AC{}", tally_types::token::random_hex(16));
        let auth_token = tally_types::token::random_hex(16);
        let shared =
            Shared { account_sid: account_sid.clone(), auth_token: auth_token.clone(), mode: mode.clone(), sender };
        let app = Router::new()
            .route("/2010-04-01/Accounts/{account_sid}/Messages.json", post(receive_message))
            .route("/hook", post(hook))
            .with_state(shared);
        tokio::spawn(async move {
            let _ = axum::serve(listener, app).await;
        });
        FakeTwilio { base_url, account_sid, auth_token, from: "+15005550006".into(), mode, messages }
    }

    pub fn set_mode(&self, mode: Mode) {
        *self.mode.lock().unwrap() = mode;
    }

    /// The environment that makes a Tally server send through this provider.
    pub fn twilio_env(&self) -> Vec<(&'static str, String)> {
        vec![
            ("TALLY_SMS_PROVIDER", "twilio".into()),
            ("TALLY_SMS_TWILIO_ACCOUNT_SID", self.account_sid.clone()),
            ("TALLY_SMS_TWILIO_AUTH_TOKEN", self.auth_token.clone()),
            ("TALLY_SMS_TWILIO_FROM", self.from.clone()),
            ("TALLY_SMS_TWILIO_BASE_URL", self.base_url.clone()),
        ]
    }

    /// The next message received, waiting up to ten seconds.
    pub async fn next(&mut self) -> Sms {
        tokio::time::timeout(Duration::from_secs(10), self.messages.recv())
            .await
            .expect("an SMS arrives in time")
            .expect("the fake provider is running")
    }

    /// Whether any message arrived (without waiting).
    pub fn try_next(&mut self) -> Option<Sms> {
        self.messages.try_recv().ok()
    }
}
