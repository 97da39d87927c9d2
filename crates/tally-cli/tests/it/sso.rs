//! Single sign-on with npm oidc-provider as the OpenID provider: just-in-time accounts for
//! a verified domain, Tally's second factor skipped, "Require SSO" with the Owners'
//! break-glass path, and callbacks that did not start in this browser refused.

use reqwest::StatusCode;
use serde_json::json;
use tally_testkit::api::{Api, PASSWORD};
use tally_testkit::dns::DnsServer;
use tally_testkit::oidc::{OpenIdProvider, node_peers};

use crate::access::world::tenant;
use crate::support::Instance;

/// Follows redirects by hand (keeping cookies) from `url` until a page that is not a
/// redirect; returns the last status and the URL of every hop.
async fn browse(browser: &reqwest::Client, url: &str) -> (StatusCode, Vec<String>) {
    let mut url = url.to_string();
    let mut hops = vec![url.clone()];
    for _ in 0..15 {
        let response = browser.get(&url).send().await.unwrap();
        if !response.status().is_redirection() {
            let status = response.status();
            let body = response.text().await.unwrap_or_default();
            hops.push(body);
            return (status, hops);
        }
        let location = response.headers()["location"].to_str().unwrap().to_string();
        url = reqwest::Url::parse(&url).unwrap().join(&location).unwrap().to_string();
        hops.push(url.clone());
    }
    panic!("too many redirects: {hops:?}");
}

#[tokio::test]
async fn oidc_sign_in_creates_members_skips_second_factor_and_enforces_sso() {
    let (Some(python), Some(peers)) = (tally_testkit::python(), node_peers()) else { return };
    let mut dns = DnsServer::start(&python).await;
    let instance = Instance::new(tally_testkit::TestBackend::Sqlite).await;
    let server = instance
        .serve_with(
            &[],
            &[("TALLY_DNS_RESOLVER", dns.addr.as_str()), ("TALLY_INVITATIONS_PER_DOMAIN_PER_HOUR", "1000")],
        )
        .await;
    let acme = tenant(&instance, &server, "owner@acme.example", "Acme").await;
    let org = acme.org_id;
    let owner = &acme.owner;

    // The domain is verified, the provider registered with Tally's callback.
    crate::access::world::verify_domain(owner, org, &mut dns, "acme.example").await;
    let settings = owner.get(&format!("/api/app/organizations/{org}/sso")).await;
    let redirect_uri = settings.results()["redirect_uri"].as_str().unwrap().to_string();
    assert_eq!(redirect_uri, format!("{}/sso/oidc/callback", server.base_url()));
    let op = OpenIdProvider::start(&peers, &redirect_uri).await;

    let unreachable = owner
        .put(
            &format!("/api/app/organizations/{org}/sso/oidc"),
            json!({ "issuer": "http://127.0.0.1:9", "client_id": "x", "client_secret": "y", "password": PASSWORD }),
        )
        .await;
    assert_eq!(unreachable.status, StatusCode::SERVICE_UNAVAILABLE, "{unreachable:?}");
    assert_eq!(unreachable.code(), "sso_provider_unavailable");
    let configured = owner
        .put(
            &format!("/api/app/organizations/{org}/sso/oidc"),
            json!({
                "issuer": op.issuer, "client_id": op.client_id, "client_secret": op.client_secret,
                "require_sso": true, "idp_managed": true, "password": PASSWORD,
            }),
        )
        .await;
    assert_eq!(configured.status, StatusCode::OK, "{configured:?}");
    let shown = owner.get(&format!("/api/app/organizations/{org}/sso")).await;
    assert_eq!(shown.results()["client_secret_set"], true);
    assert!(!shown.body.to_string().contains(&op.client_secret), "the client secret is never shown");

    // The organization requires a second factor; SSO sign-ins are not asked for it.
    owner
        .put(
            &format!("/api/app/organizations/{org}/security"),
            json!({ "require_two_factor": true, "password": PASSWORD }),
        )
        .await;

    // The sign-in page routes by domain.
    let anonymous = Api::anonymous(server.base_url());
    let routed = anonymous.get("/api/app/sso/discover?email=new@acme.example").await;
    assert_eq!(routed.results()["sso"], true);
    assert_eq!(routed.results()["required"], true);
    assert_eq!(anonymous.get("/api/app/sso/discover?email=someone@elsewhere.example").await.results()["sso"], false);

    // A first SSO sign-in creates the member.
    let browser = tally_testkit::http_client(None);
    let (status, hops) = browse(&browser, &format!("{}/sso/start?email=new@acme.example", server.base_url())).await;
    assert_eq!(status, StatusCode::OK, "{hops:?}");
    assert!(hops.iter().any(|hop| hop.starts_with(&op.issuer)), "went through the provider: {hops:?}");
    let callback = hops.iter().find(|hop| hop.starts_with(&redirect_uri)).unwrap().clone();
    let me = browser.get(server.url("/api/app/me")).send().await.unwrap().json::<serde_json::Value>().await.unwrap();
    assert_eq!(me["results"]["user"]["email"], "new@acme.example");
    assert_eq!(me["results"]["organizations"][0]["role"], "member");

    // The callback works once, and only in the browser that started it.
    let replay = browser.get(&callback).send().await.unwrap();
    assert_eq!(replay.status(), StatusCode::UNAUTHORIZED);
    let other_browser = tally_testkit::http_client(None);
    let start =
        other_browser.get(format!("{}/sso/start?email=new@acme.example", server.base_url())).send().await.unwrap();
    assert!(start.status().is_redirection());
    let (_, hops) = browse(&tally_testkit::http_client(None), start.headers()["location"].to_str().unwrap()).await;
    let foreign_callback = hops.iter().find(|hop| hop.starts_with(&redirect_uri)).unwrap();
    let stolen = tally_testkit::http_client(None).get(foreign_callback).send().await.unwrap();
    assert_eq!(stolen.status(), StatusCode::UNAUTHORIZED, "a callback without the starting browser's cookie");

    // Tampering: a nonce changed on the way to the provider, and an answer naming another
    // issuer, are refused.
    let tamper = |change: &'static str| {
        let server_url = server.base_url().to_string();
        async move {
            let browser = tally_testkit::http_client(None);
            let start = browser.get(format!("{server_url}/sso/start?email=new@acme.example")).send().await.unwrap();
            let mut authorize = reqwest::Url::parse(start.headers()["location"].to_str().unwrap()).unwrap();
            if change == "nonce" {
                let pairs: Vec<(String, String)> = authorize
                    .query_pairs()
                    .map(|(k, v)| {
                        (k.to_string(), if k == "nonce" { "forged-nonce".to_string() } else { v.to_string() })
                    })
                    .collect();
                authorize.query_pairs_mut().clear().extend_pairs(pairs);
            }
            let mut url = authorize.to_string();
            loop {
                if url.contains("/sso/oidc/callback") {
                    if change == "issuer" {
                        url = url.replace("&iss=", "&iss=http%3A%2F%2Fevil.example&was=");
                    }
                    return browser.get(&url).send().await.unwrap().status();
                }
                let response = browser.get(&url).send().await.unwrap();
                assert!(response.status().is_redirection(), "{url}: {}", response.status());
                let location = response.headers()["location"].to_str().unwrap().to_string();
                url = reqwest::Url::parse(&url).unwrap().join(&location).unwrap().to_string();
            }
        }
    };
    assert_eq!(tamper("nonce").await, StatusCode::UNAUTHORIZED, "a forged nonce");
    assert_eq!(tamper("issuer").await, StatusCode::UNAUTHORIZED, "another issuer named in the answer");
    assert_eq!(tamper("none").await, StatusCode::SEE_OTHER, "the control goes through");

    // ID tokens tampered with at the token endpoint, each next to a control re-signed by the
    // same code: refused, and nobody is created.
    for mode in ["bad_signature", "wrong_key", "wrong_aud", "expired", "wrong_iss", "wrong_nonce", "alg_none"] {
        let email = format!("token-{}@acme.example", mode.replace('_', "-"));
        op.tamper(mode).await;
        let (status, hops) =
            browse(&tally_testkit::http_client(None), &format!("{}/sso/start?email={email}", server.base_url())).await;
        assert_eq!(status, StatusCode::UNAUTHORIZED, "{mode}: {hops:?}");
        let body: serde_json::Value = serde_json::from_str(hops.last().unwrap()).unwrap();
        assert_eq!(body["code"], "sso_rejected", "{mode}: {body}");
        assert!(body["error"].as_str().unwrap().contains("ID token"), "{mode}: {body}");
        assert!(!owner.get(&format!("/api/app/organizations/{org}/members")).await.body.to_string().contains(&email));

        op.tamper("resigned").await;
        let control = tally_testkit::http_client(None);
        let email = format!("control-{}@acme.example", mode.replace('_', "-"));
        let (status, hops) = browse(&control, &format!("{}/sso/start?email={email}", server.base_url())).await;
        assert_eq!(status, StatusCode::OK, "the control next to {mode}: {hops:?}");
        let me =
            control.get(server.url("/api/app/me")).send().await.unwrap().json::<serde_json::Value>().await.unwrap();
        assert_eq!(me["results"]["user"]["email"], email.as_str());
    }

    // An address the provider did not verify gets nothing.
    let (status, _) = browse(
        &tally_testkit::http_client(None),
        &format!("{}/sso/start?email=unverified.x@acme.example", server.base_url()),
    )
    .await;
    assert_eq!(status, StatusCode::UNAUTHORIZED);
    let members = owner.get(&format!("/api/app/organizations/{org}/members")).await;
    assert!(!members.body.to_string().contains("unverified.x@acme.example"));

    // "Require SSO": members of the claimed domain cannot use a password; Owners can.
    let (_, _) = owner.invite_and_accept(org, "pat@acme.example", "member", json!([])).await;
    let refused =
        anonymous.post("/api/app/sessions", json!({ "email": "pat@acme.example", "password": PASSWORD })).await;
    assert_eq!(refused.status, StatusCode::FORBIDDEN, "{refused:?}");
    assert_eq!(refused.code(), "sso_required");
    let break_glass =
        anonymous.post("/api/app/sessions", json!({ "email": "owner@acme.example", "password": PASSWORD })).await;
    assert_eq!(break_glass.status, StatusCode::OK, "{break_glass:?}");

    // Without IdP-managed access, people must be invited first.
    owner
        .put(
            &format!("/api/app/organizations/{org}/sso/oidc"),
            json!({ "issuer": op.issuer, "client_id": op.client_id, "require_sso": true, "idp_managed": false, "password": PASSWORD }),
        )
        .await;
    let (status, _) = browse(
        &tally_testkit::http_client(None),
        &format!("{}/sso/start?email=stranger@acme.example", server.base_url()),
    )
    .await;
    assert_eq!(status, StatusCode::UNAUTHORIZED);
    // An invited member proves itself once (its password) to link the identity, then signs
    // in with SSO (linked by issuer and subject from then on).
    let sso_member = tally_testkit::http_client(None);
    let (status, hops) = browse(&sso_member, &format!("{}/sso/start?email=pat@acme.example", server.base_url())).await;
    assert_eq!(status, StatusCode::OK);
    assert!(hops.iter().any(|hop| hop.ends_with("/sso/link")), "{hops:?}");
    let linked = sso_member.post(server.url("/sso/link")).json(&json!({ "password": PASSWORD })).send().await.unwrap();
    assert_eq!(linked.status(), StatusCode::OK);
    let again = tally_testkit::http_client(None);
    let (status, _) = browse(&again, &format!("{}/sso/start?email=pat@acme.example", server.base_url())).await;
    assert_eq!(status, StatusCode::OK);
    let me = again.get(server.url("/api/app/me")).send().await.unwrap().json::<serde_json::Value>().await.unwrap();
    assert_eq!(me["results"]["user"]["email"], "pat@acme.example");

    let log = owner.get(&format!("/api/app/organizations/{org}/audit-log")).await;
    let text = log.body.to_string();
    for expected in ["sso_settings.updated", "organization.user_added", "\"method\":\"oidc\""] {
        assert!(text.contains(expected), "{expected} missing from the audit log");
    }
}

#[tokio::test]
async fn an_admin_cannot_repoint_oidc_and_existing_accounts_link_only_by_proving_themselves() {
    let (Some(python), Some(peers)) = (tally_testkit::python(), node_peers()) else { return };
    let mut dns = DnsServer::start(&python).await;
    let instance = Instance::new(tally_testkit::TestBackend::Sqlite).await;
    let env = [("TALLY_DNS_RESOLVER", dns.addr.as_str()), ("TALLY_INVITATIONS_PER_DOMAIN_PER_HOUR", "1000")];
    let server = instance.serve_with(&[], &env).await;
    let acme = tenant(&instance, &server, "owner@acme.example", "Acme").await;
    let (org, owner) = (acme.org_id, &acme.owner);
    crate::access::world::verify_domain(owner, org, &mut dns, "acme.example").await;
    let (admin, _) = owner.invite_and_accept(org, "admin@acme.example", "admin", json!([])).await;
    let redirect_uri = format!("{}/sso/oidc/callback", server.base_url());
    let op = OpenIdProvider::start(&peers, &redirect_uri).await;
    let oidc = format!("/api/app/organizations/{org}/sso/oidc");
    let settings = |idp_managed: bool| {
        json!({
            "issuer": op.issuer, "client_id": op.client_id, "client_secret": op.client_secret,
            "idp_managed": idp_managed, "password": PASSWORD,
        })
    };

    // An Admin pointing the organization at a provider they run is refused; the Owner may,
    // and once it is set, the Admin may change the other settings (the control).
    let by_admin = admin.put(&oidc, settings(true)).await;
    assert_eq!(by_admin.status, StatusCode::FORBIDDEN, "{by_admin:?}");
    assert_eq!(
        owner.get(&format!("/api/app/organizations/{org}/sso")).await.results()["protocol"],
        serde_json::Value::Null
    );
    assert_eq!(owner.put(&oidc, settings(true)).await.status, StatusCode::OK);
    let flags = admin.put(&oidc, settings(false)).await;
    assert_eq!(flags.status, StatusCode::OK, "same provider, other flags: {flags:?}");
    assert_eq!(owner.put(&oidc, settings(true)).await.status, StatusCode::OK);

    // The provider vouches for the Owner and for the invited Admin: neither is signed in
    // until the account proves itself; the page that asks for it is where the browser lands.
    for email in ["owner@acme.example", "admin@acme.example"] {
        let browser = tally_testkit::http_client(None);
        let (status, hops) = browse(&browser, &format!("{}/sso/start?email={email}", server.base_url())).await;
        assert_eq!(status, StatusCode::OK, "{email}: {hops:?}");
        assert!(hops.iter().any(|hop| hop.ends_with("/sso/link")), "{email}: {hops:?}");
        assert!(hops.last().unwrap().contains("Link single sign-on"), "{email}: {hops:?}");
        let me = browser.get(server.url("/api/app/me")).send().await.unwrap();
        assert_eq!(me.status(), StatusCode::UNAUTHORIZED, "{email} is not signed in");
    }

    // The control: an account the provider brings in just in time signs in.
    let browser = tally_testkit::http_client(None);
    let (status, hops) = browse(&browser, &format!("{}/sso/start?email=jit@acme.example", server.base_url())).await;
    assert_eq!(status, StatusCode::OK, "{hops:?}");
    let me = browser.get(server.url("/api/app/me")).send().await.unwrap().json::<serde_json::Value>().await.unwrap();
    assert_eq!(me["results"]["user"]["email"], "jit@acme.example");
    assert_eq!(me["results"]["organizations"][0]["role"], "member");
}
