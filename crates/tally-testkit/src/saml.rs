//! A SAML 2.0 identity provider for tests: PyPI pysaml2 behind `tests/peers/saml/idp.py`,
//! with defective responses (signxml) chosen per sign-in by a `variant` parameter.

use std::path::PathBuf;

use serde_json::Value;
use tokio::process::{Child, Command};

pub struct SamlIdp {
    /// `http://127.0.0.1:PORT`.
    pub base: String,
    /// Its entity ID (where its metadata is).
    pub entity_id: String,
    http: reqwest::Client,
    _dir: tempfile::TempDir,
    _child: Child,
}

/// The auto-submitting form an identity provider answers with (HTTP-POST binding).
#[derive(Debug, Clone)]
pub struct PostForm {
    pub action: String,
    pub saml_response: String,
    pub relay_state: Option<String>,
}

fn unescape(text: &str) -> String {
    text.replace("&quot;", "\"").replace("&#x27;", "'").replace("&lt;", "<").replace("&gt;", ">").replace("&amp;", "&")
}

fn field(html: &str, name: &str) -> Option<String> {
    let marker = format!("name=\"{name}\" value=\"");
    let start = html.find(&marker)? + marker.len();
    let end = html[start..].find('"')? + start;
    Some(unescape(&html[start..end]))
}

impl PostForm {
    /// Reads the form out of the identity provider's page.
    pub fn parse(html: &str) -> PostForm {
        let marker = "action=\"";
        let start = html.find(marker).unwrap_or_else(|| panic!("no form in {html}")) + marker.len();
        let end = html[start..].find('"').unwrap() + start;
        PostForm {
            action: unescape(&html[start..end]),
            saml_response: field(html, "SAMLResponse").unwrap_or_else(|| panic!("no SAMLResponse in {html}")),
            relay_state: field(html, "RelayState"),
        }
    }

    /// The decoded response document.
    pub fn xml(&self) -> String {
        use base64::Engine;
        let bytes = base64::engine::general_purpose::STANDARD.decode(&self.saml_response).unwrap();
        String::from_utf8(bytes).unwrap()
    }

    /// Posts the form as a browser would, with `browser`'s cookies; no redirect followed.
    pub async fn post(&self, browser: &reqwest::Client) -> reqwest::Response {
        let mut fields = vec![("SAMLResponse", self.saml_response.as_str())];
        if let Some(relay_state) = &self.relay_state {
            fields.push(("RelayState", relay_state.as_str()));
        }
        browser.post(&self.action).form(&fields).send().await.unwrap()
    }
}

impl SamlIdp {
    pub async fn start(python: &str) -> SamlIdp {
        let dir = tempfile::tempdir().unwrap();
        let port = crate::free_port();
        let script = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../tests/peers/saml/idp.py");
        let mut command = Command::new(python);
        command.arg("-u").arg(script).arg(port.to_string()).arg(dir.path());
        let child = crate::process::start_peer(command, "SAML identity provider").await;
        let base = format!("http://127.0.0.1:{port}");
        SamlIdp {
            entity_id: format!("{base}/metadata"),
            base,
            http: crate::http_client(None),
            _dir: dir,
            _child: child,
        }
    }

    pub fn url(&self, path: &str) -> String {
        format!("{}{path}", self.base)
    }

    async fn text(&self, path: &str) -> String {
        let response = self.http.get(self.url(path)).send().await.unwrap();
        assert!(response.status().is_success(), "GET {path}: {}", response.status());
        response.text().await.unwrap()
    }

    pub async fn cert_pem(&self) -> String {
        self.text("/cert").await
    }

    pub async fn wrong_cert_pem(&self) -> String {
        self.text("/wrong-cert").await
    }

    async fn control(&self, path: &str, body: String) {
        let response = self.http.post(self.url(path)).body(body).send().await.unwrap();
        let status = response.status();
        assert!(status.is_success(), "POST {path}: {status} {}", response.text().await.unwrap_or_default());
    }

    /// Registers a service provider by its metadata document.
    pub async fn load_sp(&self, metadata_xml: &str) {
        self.control("/control/sp", metadata_xml.to_string()).await;
    }

    /// The person the next responses are for (`email`, `first_name`, `last_name`,
    /// `style`: okta/entra/none, `name_id_format`: email/persistent).
    pub async fn set_user(&self, user: Value) {
        self.control("/control/user", user.to_string()).await;
    }

    /// Whether the Response is signed as well as the Assertion.
    pub async fn sign_response(&self, on: bool) {
        self.control("/control/sign-response", on.to_string()).await;
    }

    /// What the identity provider saw of the last AuthnRequest.
    pub async fn last_request(&self) -> Value {
        serde_json::from_str(&self.text("/control/last-request").await).unwrap()
    }

    /// The form of an SP-initiated answer to the AuthnRequest in `redirect_url` (Tally's
    /// redirect), made defective by `variant` when one is given.
    pub async fn answer(&self, redirect_url: &str, variant: Option<&str>) -> PostForm {
        self.form(reqwest::Url::parse(redirect_url).unwrap(), variant).await
    }

    /// The form of an unsolicited (IdP-initiated) response to the service provider.
    pub async fn unsolicited(&self, sp_entity_id: &str, variant: Option<&str>) -> PostForm {
        let mut url = reqwest::Url::parse(&self.url("/idp-initiated")).unwrap();
        url.query_pairs_mut().append_pair("sp", sp_entity_id);
        self.form(url, variant).await
    }

    /// The IdP's page at `url` (with the variant asked for), read as its POST form.
    async fn form(&self, mut url: reqwest::Url, variant: Option<&str>) -> PostForm {
        if let Some(variant) = variant {
            url.query_pairs_mut().append_pair("variant", variant);
        }
        let response = self.http.get(url).send().await.unwrap();
        let status = response.status();
        let body = response.text().await.unwrap();
        assert!(status.is_success(), "the IdP refused: {status} {body}");
        PostForm::parse(&body)
    }
}
