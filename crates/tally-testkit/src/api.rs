//! A signed-in HTTP client for Tally's JSON API.

use reqwest::{Method, StatusCode};
use serde_json::Value;

/// One principal's view of a running server: a cookie-keeping client, or Basic
/// credentials for a service account.
#[derive(Clone)]
pub struct Api {
    pub base_url: String,
    client: reqwest::Client,
    basic: Option<(String, String)>,
}

/// A response: status and JSON body (`Value::Null` when the body is not JSON).
#[derive(Debug, Clone)]
pub struct Reply {
    pub status: StatusCode,
    pub body: Value,
}

impl Reply {
    /// `results` of an ok envelope; panics with the whole reply otherwise.
    pub fn results(&self) -> &Value {
        assert!(self.status.is_success(), "expected success, got {self:?}");
        &self.body["results"]
    }

    pub fn code(&self) -> &str {
        self.body["code"].as_str().unwrap_or("")
    }
}

impl Api {
    /// Anonymous (no session yet).
    pub fn anonymous(base_url: &str) -> Api {
        Api { base_url: base_url.to_string(), client: crate::http_client(None), basic: None }
    }

    /// A service account, by HTTP Basic.
    pub fn service_account(base_url: &str, username: &str, secret: &str) -> Api {
        Api {
            base_url: base_url.to_string(),
            client: crate::http_client(None),
            basic: Some((username.to_string(), secret.to_string())),
        }
    }

    /// Signs in with e-mail and password; panics if refused.
    pub async fn sign_in(base_url: &str, email: &str, password: &str) -> Api {
        let api = Api::anonymous(base_url);
        let reply = api.post("/api/app/sessions", serde_json::json!({ "email": email, "password": password })).await;
        assert_eq!(reply.status, StatusCode::OK, "sign in as {email}: {reply:?}");
        api
    }

    /// A request with this principal's credentials.
    pub fn request(&self, method: Method, path: &str) -> reqwest::RequestBuilder {
        let request = self.client.request(method, format!("{}{}", self.base_url, path));
        match &self.basic {
            Some((username, secret)) => request.basic_auth(username, Some(secret)),
            None => request,
        }
    }

    async fn reply(request: reqwest::RequestBuilder) -> Reply {
        let response = request.send().await.expect("request reaches the server");
        let status = response.status();
        let text = response.text().await.unwrap_or_default();
        Reply { status, body: serde_json::from_str(&text).unwrap_or(Value::Null) }
    }

    pub async fn call(&self, method: Method, path: &str, body: Option<Value>) -> Reply {
        let request = self.request(method, path);
        match body {
            Some(body) => Api::reply(request.json(&body)).await,
            None => Api::reply(request).await,
        }
    }

    pub async fn get(&self, path: &str) -> Reply {
        self.call(Method::GET, path, None).await
    }

    pub async fn post(&self, path: &str, body: Value) -> Reply {
        self.call(Method::POST, path, Some(body)).await
    }

    pub async fn put(&self, path: &str, body: Value) -> Reply {
        self.call(Method::PUT, path, Some(body)).await
    }

    pub async fn patch(&self, path: &str, body: Value) -> Reply {
        self.call(Method::PATCH, path, Some(body)).await
    }

    pub async fn delete(&self, path: &str) -> Reply {
        self.call(Method::DELETE, path, None).await
    }

    /// A raw request with a text body and content type (CSV uploads).
    pub async fn post_text(&self, path: &str, content_type: &str, body: &str) -> Reply {
        let request = self.request(Method::POST, path).header("content-type", content_type).body(body.to_string());
        Api::reply(request).await
    }

    /// Invites `email` into `org_id` and accepts as them with `password`; returns their
    /// signed-in client and user id.
    pub async fn invite_and_accept(&self, org_id: i64, email: &str, org_role: &str, projects: Value) -> (Api, i64) {
        let reply = self
            .post(
                &format!("/api/app/organizations/{org_id}/invitations"),
                serde_json::json!({ "email": email, "organization_role": org_role, "projects": projects }),
            )
            .await;
        assert_eq!(reply.status, StatusCode::CREATED, "invite {email}: {reply:?}");
        let link = reply.results()["link"].as_str().expect("invitation link").to_string();
        let token = link.split("token=").nth(1).expect("token in link").to_string();
        let invitee = Api::anonymous(&self.base_url);
        let accepted = invitee
            .post(
                "/api/app/invitations/accept",
                serde_json::json!({ "token": token, "password": PASSWORD, "name": email }),
            )
            .await;
        assert_eq!(accepted.status, StatusCode::CREATED, "accept {email}: {accepted:?}");
        let user_id = accepted.results()["user_id"].as_i64().expect("user id");
        (invitee, user_id)
    }
}

/// The password test accounts use.
pub const PASSWORD: &str = "correct horse battery staple";
