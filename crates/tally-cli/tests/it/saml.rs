//! SAML 2.0 single sign-on with PyPI pysaml2 as the identity provider: SP- and
//! IdP-initiated sign-ins (Okta- and Entra-style attributes, signed AuthnRequests), and
//! defective responses made with signxml (unsigned, wrong key, signature wrapping, expired,
//! wrong audience, replayed, wrong InResponseTo, ...), each refused next to an accepted
//! control, creating nobody.

use reqwest::StatusCode;
use serde_json::{Value, json};
use tally_testkit::api::{Api, PASSWORD};
use tally_testkit::dns::DnsServer;
use tally_testkit::saml::{PostForm, SamlIdp};

use crate::access::world::{tenant, verify_domain};
use crate::support::Instance;

/// A browser: keeps cookies, follows no redirects.
fn browser() -> reqwest::Client {
    tally_testkit::http_client(None)
}

/// Starts an SP-initiated sign-in at Tally for `email`: the redirect to the IdP.
async fn start(base: &str, email: &str, browser: &reqwest::Client) -> String {
    let response = browser.get(format!("{base}/sso/start?email={email}")).send().await.unwrap();
    assert_eq!(response.status(), StatusCode::SEE_OTHER, "{:?}", response.text().await);
    response.headers()["location"].to_str().unwrap().to_string()
}

/// Posts the form to Tally's ACS from a browser that did not start a sign-in (an
/// IdP-initiated one, or someone else's).
async fn post(form: &PostForm) -> Result<reqwest::Client, (StatusCode, Value)> {
    post_from(form, &browser()).await
}

/// Posts the form to Tally's ACS from `browser`: `Ok(browser)` signed in, or
/// `Err((status, body))`.
async fn post_from(form: &PostForm, browser: &reqwest::Client) -> Result<reqwest::Client, (StatusCode, Value)> {
    let response = form.post(browser).await;
    if response.status() == StatusCode::SEE_OTHER {
        assert_eq!(response.headers()["location"], "/");
        return Ok(browser.clone());
    }
    let status = response.status();
    Err((status, response.json().await.unwrap_or(Value::Null)))
}

/// The signed-in person's e-mail.
async fn me(base: &str, browser: &reqwest::Client) -> Value {
    browser.get(format!("{base}/api/app/me")).send().await.unwrap().json::<Value>().await.unwrap()["results"].clone()
}

/// One SP-initiated sign-in through the IdP, with an optional defect.
async fn sign_in(
    base: &str,
    idp: &SamlIdp,
    email: &str,
    variant: Option<&str>,
) -> Result<reqwest::Client, (StatusCode, Value)> {
    let browser = browser();
    let redirect = start(base, email, &browser).await;
    post_from(&idp.answer(&redirect, variant).await, &browser).await
}

fn assert_refused(result: Result<reqwest::Client, (StatusCode, Value)>, fragment: &str, what: &str) {
    match result {
        Ok(_) => panic!("{what}: accepted"),
        Err((status, body)) => {
            assert_eq!(status, StatusCode::UNAUTHORIZED, "{what}: {body}");
            assert_eq!(body["code"], "sso_rejected", "{what}: {body}");
            let message = body["error"].as_str().unwrap_or_default();
            assert!(message.contains(fragment), "{what}: {message:?} should say {fragment:?}");
        }
    }
}

async fn members(owner: &Api, org: i64) -> String {
    owner.get(&format!("/api/app/organizations/{org}/members")).await.body.to_string()
}

async fn configure(owner: &Api, org: i64, settings: Value) -> tally_testkit::api::Reply {
    let mut body = settings;
    body["password"] = json!(PASSWORD);
    owner.put(&format!("/api/app/organizations/{org}/sso/saml"), body).await
}

/// Loads the organization's SP metadata (as Tally publishes it) into the IdP.
async fn register(base: &str, idp: &SamlIdp, org: i64) -> String {
    let metadata =
        tally_testkit::http_client(None).get(format!("{base}/sso/saml/{org}/metadata")).send().await.unwrap();
    assert_eq!(metadata.status(), StatusCode::OK);
    assert_eq!(metadata.headers()["content-type"], "application/samlmetadata+xml");
    let xml = metadata.text().await.unwrap();
    idp.load_sp(&xml).await;
    xml
}

/// Signs in through the sign-in page in Chromium (`tests/peers/browser/sign_in.mjs`):
/// `{"url", "text"}`, or `None` without the browser peers.
async fn page_sign_in(base: &str, email: &str, mode: &str, password: &str) -> Option<Value> {
    let (Some(peers), Some(chromium)) = (tally_testkit::oidc::node_peers(), tally_testkit::chromium()) else {
        return None;
    };
    Some(browser_script(&peers, "sign_in.mjs", &[base, email, mode, password, &chromium]).await)
}

/// Runs one of `tests/peers/browser/`'s scripts and reads the JSON it prints.
async fn browser_script(peers: &std::path::Path, script: &str, args: &[&str]) -> Value {
    let output =
        tokio::process::Command::new("node").arg(peers.join("browser").join(script)).args(args).output().await.unwrap();
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(output.status.success(), "{script} {args:?}: {stderr}");
    serde_json::from_slice(&output.stdout).unwrap()
}

/// An instance whose DNS is a test server, an identity provider, and Acme with its owner
/// and acme.example verified.
struct SamlWorld {
    dns: DnsServer,
    idp: SamlIdp,
    instance: Instance,
    server: tally_testkit::TallyProcess,
    base: String,
    acme: crate::access::world::Tenant,
}

impl SamlWorld {
    async fn start(python: &str, env: &[(&str, &str)]) -> SamlWorld {
        let mut dns = DnsServer::start(python).await;
        let idp = SamlIdp::start(python).await;
        let instance = Instance::new(tally_testkit::TestBackend::Sqlite).await;
        let mut all = vec![("TALLY_DNS_RESOLVER", dns.addr.as_str())];
        all.extend_from_slice(env);
        let server = instance.serve_with(&[], &all).await;
        let base = server.base_url().to_string();
        let acme = tenant(&instance, &server, "owner@acme.example", "Acme").await;
        verify_domain(&acme.owner, acme.org_id, &mut dns, "acme.example").await;
        SamlWorld { dns, idp, instance, server, base, acme }
    }
}

#[tokio::test]
async fn pysaml2_sign_ins_are_accepted_and_defective_responses_refused() {
    let Some(python) = tally_testkit::python() else { return };
    let SamlWorld { mut dns, idp, instance, server, base, acme } = SamlWorld::start(&python, &[]).await;
    let (org, owner) = (acme.org_id, &acme.owner);

    // Metadata without a signing certificate is refused, and nothing is saved.
    let nocert = configure(owner, org, json!({ "metadata_url": idp.url("/metadata?nocert=1") })).await;
    assert_eq!(nocert.status, StatusCode::BAD_REQUEST, "{nocert:?}");
    assert_eq!(nocert.code(), "invalid_sso_configuration");
    assert!(nocert.body["error"].as_str().unwrap().contains("signing certificate is required"), "{nocert:?}");
    let missing_password = owner
        .put(&format!("/api/app/organizations/{org}/sso/saml"), json!({ "metadata_url": idp.url("/metadata") }))
        .await;
    assert_eq!(missing_password.status, StatusCode::BAD_REQUEST, "password re-entry: {missing_password:?}");
    let shown = owner.get(&format!("/api/app/organizations/{org}/sso")).await;
    assert_eq!(shown.results()["protocol"], Value::Null);
    assert_eq!(shown.results()["saml"]["acs_url"], format!("{base}/sso/saml/{org}/acs"));
    let doctype = configure(
        owner,
        org,
        json!({ "metadata_xml": "<!DOCTYPE x [<!ENTITY a \"b\">]><md:EntityDescriptor xmlns:md=\"urn:oasis:names:tc:SAML:2.0:metadata\"/>" }),
    )
    .await;
    assert_eq!(doctype.status, StatusCode::BAD_REQUEST);
    assert!(doctype.body["error"].as_str().unwrap().contains("document type declarations"), "{doctype:?}");

    // By metadata URL, with IdP-managed access: the first sign-in creates the member.
    let configured = configure(owner, org, json!({ "metadata_url": idp.url("/metadata"), "idp_managed": true })).await;
    assert_eq!(configured.status, StatusCode::OK, "{configured:?}");
    let shown = owner.get(&format!("/api/app/organizations/{org}/sso")).await;
    assert_eq!(shown.results()["protocol"], "saml");
    assert_eq!(shown.results()["saml"]["idp_entity_id"], idp.entity_id);
    assert_eq!(shown.results()["saml"]["certificates"].as_array().unwrap().len(), 1);
    assert_eq!(shown.results()["saml"]["idp_initiated"], true);
    let sp_metadata = register(&base, &idp, org).await;
    assert!(sp_metadata.contains(&format!("entityID=\"{base}/sso/saml/{org}/metadata\"")), "{sp_metadata}");
    assert!(sp_metadata.contains("AuthnRequestsSigned=\"false\""));
    let routed = Api::anonymous(&base).get("/api/app/sso/discover?email=alice@acme.example").await;
    assert_eq!(routed.results()["protocol"], "saml");
    let tagged = Api::anonymous(&base).get("/api/app/sso/discover?email=alice%2Btag@acme.example").await;
    assert_eq!(tagged.results()["start_url"], "/sso/start?email=alice%2Btag%40acme.example");

    idp.set_user(json!({ "email": "alice@acme.example", "first_name": "Alice", "last_name": "Liddell" })).await;
    let alice = sign_in(&base, &idp, "alice@acme.example", None).await.expect("SP-initiated sign-in");
    let who = me(&base, &alice).await;
    assert_eq!(who["user"]["email"], "alice@acme.example");
    assert_eq!(who["user"]["name"], "Alice Liddell");
    assert_eq!(who["organizations"][0]["role"], "member");
    let request = idp.last_request().await;
    assert_eq!(request["signed"], false);
    assert_eq!(request["acs"], format!("{base}/sso/saml/{org}/acs"));
    assert_eq!(request["issuer"], format!("{base}/sso/saml/{org}/metadata"));

    // The sign-in page in a real browser: the domain routes to the IdP, whose page posts
    // back by itself; a password still works for the Owner; a wrong one is shown.
    idp.set_user(json!({ "email": "frank@acme.example", "first_name": "Frank" })).await;
    if let Some(page) = page_sign_in(&base, "frank@acme.example", "sso", "").await {
        assert_eq!(page["url"], format!("{base}/"), "{page}");
        let text = page["text"].as_str().unwrap();
        assert!(text.contains("Acme") && text.contains("Your role: member"), "{page}");
        let owner_page = page_sign_in(&base, "owner@acme.example", "password", PASSWORD).await.unwrap();
        assert!(owner_page["text"].as_str().unwrap().contains("Your role: owner"), "{owner_page}");
        let refused = page_sign_in(&base, "owner@acme.example", "refused", "not the password").await.unwrap();
        assert_eq!(refused["url"], format!("{base}/sign-in"), "{refused}");
        assert!(!refused["text"].as_str().unwrap().is_empty());
    }
    idp.set_user(json!({ "email": "alice@acme.example", "first_name": "Alice", "last_name": "Liddell" })).await;

    // An SP-initiated answer counts only in the browser that started the sign-in: posted
    // from another (login CSRF) it is refused; the same answer twice is refused too.
    let starter = browser();
    let redirect = start(&base, "alice@acme.example", &starter).await;
    let form = idp.answer(&redirect, None).await;
    assert_refused(post(&form).await, "does not know", "an SP-initiated answer posted from another browser");
    assert!(post_from(&form, &starter).await.is_ok(), "the browser that started it");
    assert_refused(post_from(&form, &starter).await, "does not know", "an SP-initiated answer replayed");

    // IdP-initiated, on by default; its replay is caught by the assertion-ID cache.
    let entity_id = format!("{base}/sso/saml/{org}/metadata");
    let unsolicited = idp.unsolicited(&entity_id, None).await;
    let signed_in = post(&unsolicited).await.expect("IdP-initiated sign-in");
    assert_eq!(me(&base, &signed_in).await["user"]["email"], "alice@acme.example");
    assert_refused(post(&unsolicited).await, "already used", "an IdP-initiated assertion replayed");
    assert_refused(
        post(&idp.unsolicited(&entity_id, Some("unsolicited_in_response_to")).await).await,
        "does not know",
        "an unsolicited answer claiming to answer a request",
    );

    // Every defect, with the Response unsigned and signed, next to a control.
    let defects = [
        ("unsigned", "not signed with the configured certificate"),
        ("wrong_key", "not signed with the configured certificate"),
        ("tampered", "not signed with the configured certificate"),
        ("xsw_sibling", "exactly one assertion"),
        ("xsw_advice", "exactly one assertion"),
        ("xsw_extensions", "exactly one assertion"),
        ("xsw_nested", "exactly one assertion"),
        ("expired", "expired"),
        ("not_yet_valid", "not valid before"),
        ("wrong_audience", "meant for another service provider"),
        ("no_audience", "as its audience"),
        ("wrong_recipient", "addressed to another ACS"),
        ("wrong_destination", "addressed to"),
        ("signed_no_destination", "must carry a Destination"),
        ("future_issue_instant", "issued in the future"),
        ("wrong_in_response_to", "does not answer this sign-in request"),
        ("sha1", "refused algorithm"),
        ("doctype", "document type declarations"),
        ("comment_nameid", "comments"),
        ("encrypted", "encrypted assertions are not supported"),
        ("status_failed", "urn:oasis:names:tc:SAML:2.0:status:Responder"),
    ];
    for sign_response in [false, true] {
        idp.sign_response(sign_response).await;
        for (variant, fragment) in defects {
            let what = format!("{variant} (response signed: {sign_response})");
            assert_refused(sign_in(&base, &idp, "alice@acme.example", Some(variant)).await, fragment, &what);
            let control = sign_in(&base, &idp, "alice@acme.example", Some("resigned")).await;
            assert!(control.is_ok(), "the control next to {what}: {control:?}");
        }
    }
    idp.sign_response(false).await;
    let listed = members(owner, org).await;
    assert!(!listed.contains("mallory"), "a defective response created someone: {listed}");

    // Another organization trusting the same IdP (set up by hand) cannot be signed into
    // with an answer meant for Acme.
    let beta = tenant(&instance, &server, "owner@beta.example", "Beta").await;
    verify_domain(&beta.owner, beta.org_id, &mut dns, "beta.example").await;
    let wrong_cert = json!({ "idp_entity_id": idp.entity_id, "sso_url": idp.url("/sso/redirect"), "certificates": [idp.wrong_cert_pem().await] });
    assert_eq!(configure(&beta.owner, beta.org_id, wrong_cert).await.status, StatusCode::OK);
    register(&base, &idp, beta.org_id).await;
    idp.set_user(json!({ "email": "bea@beta.example" })).await;
    assert_refused(
        sign_in(&base, &idp, "bea@beta.example", None).await,
        "not signed with the configured certificate",
        "a certificate that is not the IdP's",
    );
    let by_hand = json!({
        "idp_entity_id": idp.entity_id, "sso_url": idp.url("/sso/redirect"),
        "certificates": [idp.cert_pem().await], "idp_managed": true,
    });
    assert_eq!(configure(&beta.owner, beta.org_id, by_hand).await.status, StatusCode::OK);
    let bea = browser();
    let for_beta = idp.answer(&start(&base, "bea@beta.example", &bea).await, None).await;
    assert!(post_from(&for_beta, &bea).await.is_ok(), "the control for Beta");
    idp.set_user(json!({ "email": "alice@acme.example" })).await;
    let alice_browser = browser();
    let for_acme = idp.answer(&start(&base, "alice@acme.example", &alice_browser).await, None).await;
    let misdirected = PostForm { action: for_beta.action.clone(), ..for_acme.clone() };
    assert_refused(post_from(&misdirected, &alice_browser).await, "addressed to", "Acme's answer posted to Beta's ACS");
    assert!(post_from(&for_acme, &alice_browser).await.is_ok(), "the same answer at Acme's ACS");

    // Uploaded metadata; signed AuthnRequests, signed assertions required, IdP-initiated
    // turned off, SSO required.
    let metadata_xml =
        tally_testkit::http_client(None).get(idp.url("/metadata")).send().await.unwrap().text().await.unwrap();
    let strict = json!({
        "metadata_xml": metadata_xml, "idp_managed": true, "sign_requests": true,
        "want_assertions_signed": true, "idp_initiated": false, "require_sso": true,
    });
    assert_eq!(configure(owner, org, strict).await.status, StatusCode::OK);
    let sp_metadata = register(&base, &idp, org).await;
    assert!(sp_metadata.contains("AuthnRequestsSigned=\"true\""), "{sp_metadata}");
    assert!(sp_metadata.contains("<ds:X509Certificate>"), "the SP certificate is published");
    assert!(sign_in(&base, &idp, "alice@acme.example", None).await.is_ok(), "signed request");
    let request = idp.last_request().await;
    assert_eq!(request["signed"], true, "{request}");
    assert_eq!(request["signature_valid"], true, "{request}");
    assert_refused(post(&idp.unsolicited(&entity_id, None).await).await, "turned off", "IdP-initiated when off");

    // Require SSO: a member of the claimed domain cannot use a password, the Owner can
    // (break-glass). SSO sign-ins are not asked for Tally's second factor even when the
    // organization requires one.
    owner.invite_and_accept(org, "pat@acme.example", "member", json!([])).await;
    let anonymous = Api::anonymous(&base);
    let refused =
        anonymous.post("/api/app/sessions", json!({ "email": "pat@acme.example", "password": PASSWORD })).await;
    assert_eq!(refused.code(), "sso_required", "{refused:?}");
    let break_glass =
        anonymous.post("/api/app/sessions", json!({ "email": "owner@acme.example", "password": PASSWORD })).await;
    assert_eq!(break_glass.status, StatusCode::OK, "{break_glass:?}");
    let two_factor = owner
        .put(
            &format!("/api/app/organizations/{org}/security"),
            json!({ "require_two_factor": true, "password": PASSWORD }),
        )
        .await;
    assert_eq!(two_factor.status, StatusCode::OK, "{two_factor:?}");
    // An invited member (an account the organization did not make) proves itself once with
    // its password to link the identity, even under Require SSO; from then on SSO signs it in.
    idp.set_user(json!({ "email": "pat@acme.example", "first_name": "Pat" })).await;
    let pat = browser();
    let redirect = start(&base, "pat@acme.example", &pat).await;
    expect_link_required(&idp.answer(&redirect, None).await, &pat, &base, "pat").await;
    let linked = pat.post(format!("{base}/sso/link")).json(&json!({ "password": PASSWORD })).send().await.unwrap();
    assert_eq!(linked.status(), StatusCode::OK);
    assert_eq!(me(&base, &pat).await["user"]["email"], "pat@acme.example");
    let pat = sign_in(&base, &idp, "pat@acme.example", None).await.expect("an invited member through SSO");
    assert_eq!(me(&base, &pat).await["user"]["email"], "pat@acme.example");

    // Entra's claim URIs (its `name` claim, a UPN, is not taken for the e-mail), and an
    // e-mail only in the NameID.
    idp.set_user(json!({ "email": "bob@acme.example", "first_name": "Bob", "last_name": "Builder", "style": "entra" }))
        .await;
    let bob = sign_in(&base, &idp, "bob@acme.example", None).await.expect("Entra-style attributes");
    assert_eq!(me(&base, &bob).await["user"]["name"], "Bob Builder");
    assert_eq!(me(&base, &bob).await["user"]["email"], "bob@acme.example");
    idp.set_user(json!({ "email": "carol@acme.example", "style": "none" })).await;
    let carol = sign_in(&base, &idp, "carol@acme.example", None).await.expect("e-mail in the NameID");
    assert_eq!(me(&base, &carol).await["user"]["email"], "carol@acme.example");
    // A persistent NameID (an opaque id) with the e-mail in an attribute.
    idp.set_user(json!({ "email": "dave@acme.example", "name_id_format": "persistent" })).await;
    let dave = sign_in(&base, &idp, "dave@acme.example", None).await.expect("persistent NameID");
    assert_eq!(me(&base, &dave).await["user"]["email"], "dave@acme.example");

    // An address outside the organization's verified domains gets nothing.
    idp.set_user(json!({ "email": "eve@elsewhere.example" })).await;
    assert_refused(sign_in(&base, &idp, "alice@acme.example", None).await, "not a verified domain", "a foreign domain");
    assert!(!members(owner, org).await.contains("eve@elsewhere.example"));

    let log = owner.get(&format!("/api/app/organizations/{org}/audit-log")).await.body.to_string();
    for expected in ["sso_settings.updated", "\"protocol\":\"saml\"", "organization.user_added", "\"method\":\"saml\""]
    {
        assert!(log.contains(expected), "{expected} missing from the audit log");
    }
}

#[tokio::test]
async fn identity_provider_requests_can_be_kept_to_public_addresses() {
    let instance = Instance::new(tally_testkit::TestBackend::Sqlite).await;
    let server = instance.serve_with(&[], &[("TALLY_SSO_OUTBOUND", "public")]).await;
    let acme = tenant(&instance, &server, "owner@acme.example", "Acme").await;
    let (org, owner) = (acme.org_id, &acme.owner);
    for url in ["http://127.0.0.1:9/metadata", "http://[::1]:9/metadata", "http://169.254.169.254/latest"] {
        let refused = configure(owner, org, json!({ "metadata_url": url })).await;
        assert_eq!(refused.status, StatusCode::BAD_REQUEST, "{url}: {refused:?}");
        assert!(refused.body["error"].as_str().unwrap().contains("sso.outbound"), "{refused:?}");
    }
    // A name is checked where it resolves, on every connection.
    let by_name = configure(owner, org, json!({ "metadata_url": "http://localhost:9/metadata" })).await;
    assert_eq!(by_name.status, StatusCode::SERVICE_UNAVAILABLE, "{by_name:?}");
    assert!(by_name.body["error"].as_str().unwrap().contains("fetching"), "{by_name:?}");
    let oidc = owner
        .put(
            &format!("/api/app/organizations/{org}/sso/oidc"),
            json!({ "issuer": "http://10.0.0.1", "client_id": "c", "client_secret": "s", "password": PASSWORD }),
        )
        .await;
    assert_eq!(oidc.status, StatusCode::BAD_REQUEST, "{oidc:?}");
    assert!(oidc.body["error"].as_str().unwrap().contains("sso.outbound"), "{oidc:?}");
    let shown = owner.get(&format!("/api/app/organizations/{org}/sso")).await;
    assert_eq!(shown.results()["protocol"], Value::Null, "nothing was saved");
}

/// A browser's status for `path` (its session, if any, in its cookies).
async fn status_of(base: &str, browser: &reqwest::Client, path: &str) -> (StatusCode, Value) {
    let response = browser.get(format!("{base}{path}")).send().await.unwrap();
    let status = response.status();
    (status, response.json().await.unwrap_or(Value::Null))
}

/// Posts the answer; expects the redirect to the page where an existing account proves
/// itself to link the identity (no session yet). Returns the browser holding the pending link.
async fn expect_link_required(form: &PostForm, browser: &reqwest::Client, base: &str, what: &str) {
    let response = form.post(browser).await;
    assert_eq!(response.status(), StatusCode::SEE_OTHER, "{what}: {:?}", response.text().await);
    assert_eq!(response.headers()["location"], "/sso/link", "{what}");
    let (status, _) = status_of(base, browser, "/api/app/me").await;
    assert_eq!(status, StatusCode::UNAUTHORIZED, "{what}: no session before the account proves itself");
    let page = browser.get(format!("{base}/sso/link")).send().await.unwrap();
    assert_eq!(page.status(), StatusCode::OK, "{what}");
}

#[tokio::test]
async fn an_identity_provider_change_never_reaches_past_its_author_nor_other_organizations() {
    let Some(python) = tally_testkit::python() else { return };
    let world = SamlWorld::start(&python, &[("TALLY_INVITATIONS_PER_DOMAIN_PER_HOUR", "1000")]).await;
    let SamlWorld { dns: _dns, idp, instance, server, base, acme } = world;
    let (org, owner) = (acme.org_id, &acme.owner);
    let (admin, _) = owner.invite_and_accept(org, "admin@acme.example", "admin", json!([])).await;

    // An Admin cannot point the organization at an identity provider (or a certificate) of
    // their choosing; the Owner can, and every Owner is told.
    let admins_key = json!({
        "idp_entity_id": idp.entity_id, "sso_url": idp.url("/sso/redirect"),
        "certificates": [idp.wrong_cert_pem().await], "idp_managed": true,
    });
    let refused = configure(&admin, org, admins_key.clone()).await;
    assert_eq!(refused.status, StatusCode::FORBIDDEN, "{refused:?}");
    assert!(refused.body["error"].as_str().unwrap().contains("only Owners"), "{refused:?}");
    assert_eq!(owner.get(&format!("/api/app/organizations/{org}/sso")).await.results()["protocol"], Value::Null);
    let by_owner = configure(owner, org, json!({ "metadata_url": idp.url("/metadata"), "idp_managed": true })).await;
    assert_eq!(by_owner.status, StatusCode::OK, "{by_owner:?}");
    register(&base, &idp, org).await;
    // The same provider with other flags is the Admin's to change (the control).
    let flags = configure(
        &admin,
        org,
        json!({ "metadata_url": idp.url("/metadata"), "idp_managed": true, "idp_initiated": true }),
    )
    .await;
    assert_eq!(flags.status, StatusCode::OK, "{flags:?}");
    let changed_cert =
        configure(&admin, org, json!({ "metadata_url": idp.url("/metadata"), "idp_managed": true }).clone()).await;
    assert_eq!(changed_cert.status, StatusCode::OK, "unchanged provider: {changed_cert:?}");
    let rotated = configure(&admin, org, admins_key).await;
    assert_eq!(rotated.status, StatusCode::FORBIDDEN, "a certificate change by an Admin: {rotated:?}");

    // Even through the Owner's provider, an assertion naming an existing account that the
    // organization does not manage signs nobody in: the Owner, the Admin, an invited Member.
    for email in ["owner@acme.example", "admin@acme.example"] {
        idp.set_user(json!({ "email": email })).await;
        let starter = browser();
        let redirect = start(&base, email, &starter).await;
        expect_link_required(&idp.answer(&redirect, None).await, &starter, &base, email).await;
        let unsolicited = idp.unsolicited(&format!("{base}/sso/saml/{org}/metadata"), None).await;
        expect_link_required(&unsolicited, &browser(), &base, &format!("{email} (IdP-initiated)")).await;
    }

    // The control: an account the organization made just in time signs in directly.
    idp.set_user(json!({ "email": "jit@acme.example" })).await;
    let jit = sign_in(&base, &idp, "jit@acme.example", None).await.expect("a managed account signs in");
    assert_eq!(me(&base, &jit).await["user"]["email"], "jit@acme.example");

    // An existing account links once by proving itself: a wrong password links nothing, the
    // right one links and signs in through SSO, and the next SSO sign-in needs no proof.
    idp.set_user(json!({ "email": "admin@acme.example" })).await;
    let linking = browser();
    let redirect = start(&base, "admin@acme.example", &linking).await;
    expect_link_required(&idp.answer(&redirect, None).await, &linking, &base, "admin").await;
    let wrong = linking.post(format!("{base}/sso/link")).json(&json!({ "password": "not it" })).send().await.unwrap();
    assert_eq!(wrong.status(), StatusCode::UNAUTHORIZED);
    let linked = linking.post(format!("{base}/sso/link")).json(&json!({ "password": PASSWORD })).send().await.unwrap();
    assert_eq!(linked.status(), StatusCode::OK);
    assert_eq!(me(&base, &linking).await["user"]["email"], "admin@acme.example");
    assert!(sign_in(&base, &idp, "admin@acme.example", None).await.is_ok(), "linked: signs in directly");
    let audit = owner.get(&format!("/api/app/organizations/{org}/audit-log?event_type=sso.identity_linked")).await;
    assert!(audit.body.to_string().contains("admin@acme.example"), "{audit:?}");

    // A session from Acme's provider opens Acme only. Gamma's Owner, also an Acme member,
    // links through Acme's provider; that session is refused by Gamma (which requires its own
    // second factor), and a password sign-in opens it (the control).
    let gamma = tenant(&instance, &server, "gus@acme.example", "Gamma").await;
    gamma
        .owner
        .put(
            &format!("/api/app/organizations/{}/security", gamma.org_id),
            json!({ "require_two_factor": true, "password": PASSWORD }),
        )
        .await;
    let invite =
        owner.post(&format!("/api/app/organizations/{org}/invitations"), json!({ "email": "gus@acme.example" })).await;
    let token = invite.results()["link"].as_str().unwrap().split("token=").nth(1).unwrap().to_string();
    let joined = gamma.owner.post("/api/app/invitations/accept", json!({ "token": token })).await;
    assert_eq!(joined.status, StatusCode::CREATED, "{joined:?}");
    idp.set_user(json!({ "email": "gus@acme.example" })).await;
    let gus = browser();
    let redirect = start(&base, "gus@acme.example", &gus).await;
    expect_link_required(&idp.answer(&redirect, None).await, &gus, &base, "gus").await;
    let linked = gus.post(format!("{base}/sso/link")).json(&json!({ "password": PASSWORD })).send().await.unwrap();
    assert_eq!(linked.status(), StatusCode::OK);
    let (acme_status, _) = status_of(&base, &gus, &format!("/api/app/organizations/{org}")).await;
    assert_eq!(acme_status, StatusCode::OK, "Acme opens");
    let (gamma_status, body) = status_of(&base, &gus, &format!("/api/app/organizations/{}", gamma.org_id)).await;
    assert_eq!(gamma_status, StatusCode::FORBIDDEN, "{body}");
    assert_eq!(body["code"], "sign_in_required", "{body}");
    let (project_status, _) = status_of(&base, &gus, &format!("/api/app/projects/{}", gamma.projects[0])).await;
    assert_eq!(project_status, StatusCode::FORBIDDEN, "nor any of Gamma's projects");
    let listed = me(&base, &gus).await;
    let gamma_view = listed["organizations"].as_array().unwrap().iter().find(|o| o["name"] == "Gamma").unwrap().clone();
    assert_eq!(gamma_view["sign_in_required"], true, "{listed}");
    assert_eq!(gamma_view["projects"], json!([]), "nothing of Gamma is shown: {listed}");
    let password_session = Api::anonymous(&base)
        .post("/api/app/sessions", json!({ "email": "gus@acme.example", "password": PASSWORD }))
        .await;
    assert_eq!(password_session.results()["status"], "enrollment_required", "Gamma asks for its second factor");
}

/// An Owner sets up SAML in the web app (Access security: the IdP's metadata URL,
/// IdP-managed access, the password again), and a new person then signs in through the
/// sign-in screen and the identity provider, arriving as a Member.
#[tokio::test]
async fn saml_is_set_up_in_the_web_app_and_people_sign_in_through_it() {
    let Some(python) = tally_testkit::python() else { return };
    let (Some(peers), Some(chromium)) = (tally_testkit::oidc::node_peers(), tally_testkit::chromium()) else {
        return;
    };
    // Every part stays bound: the server and the DNS server live as long as the test.
    let SamlWorld { dns: _dns, idp, instance: _instance, server: _server, base, acme } =
        SamlWorld::start(&python, &[]).await;
    let org = acme.org_id;

    let shot = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../../docs/screenshots/security.png");
    let org_text = org.to_string();
    let metadata = idp.url("/metadata");
    let args = [&base, &org_text, "owner@acme.example", PASSWORD, &metadata, shot.to_str().unwrap(), &chromium];
    let screen = browser_script(&peers, "sso_setup.mjs", &args).await;
    // The screen shows the values to paste into the identity provider, and they are the
    // service provider's own.
    assert_eq!(screen["acs_url"], format!("{base}/sso/saml/{org}/acs"), "{screen}");
    assert_eq!(screen["entity_id"], format!("{base}/sso/saml/{org}/metadata"), "{screen}");
    let shown = acme.owner.get(&format!("/api/app/organizations/{org}/sso")).await;
    assert_eq!(shown.results()["protocol"], "saml");
    assert_eq!(shown.results()["idp_managed"], true);
    assert_eq!(shown.results()["saml"]["idp_entity_id"], idp.entity_id);

    // The identity provider learns the service provider; a new person signs in through the
    // sign-in screen and arrives as a Member created just in time.
    register(&base, &idp, org).await;
    idp.set_user(json!({ "email": "grace@acme.example", "first_name": "Grace" })).await;
    let page = page_sign_in(&base, "grace@acme.example", "sso", "").await.unwrap();
    assert_eq!(page["url"], format!("{base}/"), "{page}");
    let text = page["text"].as_str().unwrap();
    assert!(text.contains("Acme") && text.contains("Your role: member"), "{page}");
}
