//! SCIM 2.0 provisioning: PyPI scim2-tester against the endpoint, and requests shaped as
//! Okta and Microsoft Entra send them.

use reqwest::StatusCode;
use serde_json::{Value, json};
use tally_testkit::TallyProcess;
use tally_testkit::api::PASSWORD;
use tally_testkit::dns::DnsServer;

use crate::access::world::{Tenant, tenant};
use crate::support::Instance;

const USER: &str = "urn:ietf:params:scim:schemas:core:2.0:User";
const GROUP: &str = "urn:ietf:params:scim:schemas:core:2.0:Group";
const PATCH: &str = "urn:ietf:params:scim:api:messages:2.0:PatchOp";
const ERROR: &str = "urn:ietf:params:scim:api:messages:2.0:Error";

/// An organization that has verified `domain` through the DNS peer, and its SCIM token.
async fn provisioned(
    instance: &Instance,
    server: &TallyProcess,
    dns: &mut DnsServer,
    domain: &str,
) -> (Tenant, String) {
    let acme = tenant(instance, server, &format!("owner@{domain}"), "Acme").await;
    crate::access::world::verify_domain(&acme.owner, acme.org_id, dns, domain).await;
    let path = format!("/api/app/organizations/{}/scim-token", acme.org_id);
    assert_eq!(acme.owner.post(&path, json!({})).await.status, StatusCode::BAD_REQUEST, "password re-entry");
    let issued = acme.owner.post(&path, json!({ "password": PASSWORD })).await;
    assert_eq!(issued.status, StatusCode::CREATED, "{issued:?}");
    let token = issued.results()["token"].as_str().unwrap().to_string();
    (acme, token)
}

struct Scim {
    base: String,
    token: String,
    http: reqwest::Client,
}

impl Scim {
    async fn call(&self, method: reqwest::Method, path: &str, body: Option<Value>) -> (StatusCode, Value) {
        let mut request = self.http.request(method, format!("{}{path}", self.base)).bearer_auth(&self.token);
        if let Some(body) = body {
            request = request.header("content-type", "application/scim+json").body(body.to_string());
        }
        let reply = request.send().await.unwrap();
        let status = reply.status();
        if status != StatusCode::NO_CONTENT {
            let kind = reply.headers()["content-type"].to_str().unwrap().to_string();
            assert_eq!(kind, "application/scim+json", "{path}");
        }
        let text = reply.text().await.unwrap();
        (status, if text.is_empty() { Value::Null } else { serde_json::from_str(&text).unwrap() })
    }
}

#[tokio::test]
async fn scim2_tester_passes_every_check() {
    let Some(python) = tally_testkit::python() else { return };
    let mut dns = DnsServer::start(&python).await;
    let instance = Instance::new(tally_testkit::TestBackend::Sqlite).await;
    let server = instance.serve_with(&[], &[("TALLY_DNS_RESOLVER", dns.addr.as_str())]).await;
    let (_acme, token) = provisioned(&instance, &server, &mut dns, "scim-test.example").await;
    let script = concat!(env!("CARGO_MANIFEST_DIR"), "/../../tests/peers/scim/tester.py");
    let base = format!("{}/api/app/scim/v2", server.base_url());
    let output = tally_testkit::process::run_command(
        std::path::Path::new(&python),
        &[script, &base, &token, "scim-test.example"],
        &[],
        None,
    )
    .await;
    assert!(output.status.success(), "scim2-tester failed:\n{}\n{}", output.stdout, output.stderr);
    println!("{}", output.stdout);
    assert!(output.stdout.contains("failed: 0, skipped: 0"), "{}", output.stdout);
    assert!(output.stdout.contains("['Group', 'User']"), "the User and Group checks ran: {}", output.stdout);
}

#[tokio::test]
async fn okta_and_entra_requests_provision_members_of_verified_domains_only() {
    let Some(python) = tally_testkit::python() else { return };
    let mut dns = DnsServer::start(&python).await;
    let instance = Instance::new(tally_testkit::TestBackend::Sqlite).await;
    let server = instance.serve_with(&[], &[("TALLY_DNS_RESOLVER", dns.addr.as_str())]).await;
    let (acme, token) = provisioned(&instance, &server, &mut dns, "acme.example").await;
    let scim =
        Scim { base: format!("{}/api/app/scim/v2", server.base_url()), token, http: tally_testkit::http_client(None) };
    use reqwest::Method;

    // No token, or a wrong one: 401 with a SCIM error.
    let anonymous = tally_testkit::http_client(None).get(format!("{}/Users", scim.base)).send().await.unwrap();
    assert_eq!(anonymous.status(), StatusCode::UNAUTHORIZED);
    let wrong = Scim {
        token: "scim_wrong".into(),
        ..Scim { base: scim.base.clone(), token: String::new(), http: scim.http.clone() }
    };
    let (status, body) = wrong.call(Method::GET, "/Users", None).await;
    assert_eq!((status, &body["schemas"][0]), (StatusCode::UNAUTHORIZED, &json!(ERROR)));

    // Okta's create.
    let okta = json!({
        "schemas": [USER], "userName": "ada@acme.example", "externalId": "00u1okta",
        "name": { "givenName": "Ada", "familyName": "Lovelace" }, "displayName": "Ada Lovelace",
        "emails": [{ "primary": true, "value": "ada@acme.example", "type": "work" }],
        "locale": "en-US", "password": "not stored", "active": true, "groups": []
    });
    let (status, ada) = scim.call(Method::POST, "/Users", Some(okta.clone())).await;
    assert_eq!(status, StatusCode::CREATED, "{ada}");
    let id = ada["id"].as_str().unwrap().to_string();
    assert_eq!(ada["userName"], "ada@acme.example");
    assert_eq!(ada["externalId"], "00u1okta");
    assert!(ada.get("password").is_none() && ada.get("locale").is_none(), "unpublished attributes are not kept");
    assert_eq!(ada["meta"]["location"], format!("{}/Users/{id}", scim.base));
    let members = acme.owner.get(&format!("/api/app/organizations/{}/members", acme.org_id)).await;
    let member = members.results().as_array().unwrap().iter().find(|m| m["email"] == "ada@acme.example").cloned();
    assert_eq!(member.as_ref().map(|m| m["role"].clone()), Some(json!("member")), "{members:?}");

    // Refusals, nothing created.
    let (status, body) = scim.call(Method::POST, "/Users", Some(okta.clone())).await;
    assert_eq!((status, &body["scimType"]), (StatusCode::CONFLICT, &json!("uniqueness")), "{body}");
    let elsewhere = json!({ "schemas": [USER], "userName": "bob@elsewhere.example" });
    let (status, body) = scim.call(Method::POST, "/Users", Some(elsewhere)).await;
    assert_eq!((status, &body["scimType"]), (StatusCode::BAD_REQUEST, &json!("invalidValue")), "{body}");
    assert!(body["detail"].as_str().unwrap().contains("acme.example"), "{body}");
    let (status, body) = scim.call(Method::GET, "/Users?filter=userName%20sw%20%22a%22", None).await;
    assert_eq!((status, &body["scimType"]), (StatusCode::BAD_REQUEST, &json!("invalidFilter")), "{body}");

    // Filters Okta and Entra use.
    for filter in [
        "userName eq \"ADA@acme.example\"",
        "externalId eq \"00u1okta\"",
        "emails eq \"ada@acme.example\"",
        "userName eq \"ada@acme.example\" and externalId eq \"00u1okta\"",
    ] {
        let (status, list) = scim.call(Method::GET, &format!("/Users?filter={}", urlencode(filter)), None).await;
        assert_eq!((status, &list["totalResults"]), (StatusCode::OK, &json!(1)), "{filter}: {list}");
        assert_eq!(list["Resources"][0]["id"], id.as_str());
    }
    let (_, none) = scim
        .call(Method::GET, &format!("/Users?filter={}", urlencode("userName eq \"nobody@acme.example\"")), None)
        .await;
    assert_eq!(none["totalResults"], 0);

    // Okta turns the user off; Entra turns them back on with PascalCase ops, string
    // booleans and a filtered path.
    let off = json!({ "schemas": [PATCH], "Operations": [{ "op": "replace", "value": { "active": false } }] });
    let (status, body) = scim.call(Method::PATCH, &format!("/Users/{id}"), Some(off)).await;
    assert_eq!((status, &body["active"]), (StatusCode::OK, &json!(false)), "{body}");
    let entra = json!({ "schemas": [PATCH], "Operations": [
        { "op": "Replace", "path": "active", "value": "True" },
        { "op": "Add", "path": "emails[type eq \"work\"].value", "value": "ada@acme.example" },
        { "op": "Replace", "path": "name.familyName", "value": "Byron" },
        { "op": "Add", "path": "urn:ietf:params:scim:schemas:extension:enterprise:2.0:User:department", "value": "R&D" }
    ]});
    let (status, body) = scim.call(Method::PATCH, &format!("/Users/{id}"), Some(entra)).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    assert_eq!(body["active"], true);
    assert_eq!(body["name"]["familyName"], "Byron");
    assert_eq!(body["emails"], json!([{ "primary": true, "value": "ada@acme.example", "type": "work" }]));

    // The Owner is on the domain too, and visible, but SCIM cannot turn them off or remove them.
    let (_, owners) = scim
        .call(Method::GET, &format!("/Users?filter={}", urlencode("userName eq \"owner@acme.example\"")), None)
        .await;
    let owner_id = owners["Resources"][0]["id"].as_str().unwrap().to_string();
    let off = json!({ "schemas": [PATCH], "Operations": [{ "op": "replace", "path": "active", "value": false }] });
    let (status, _) = scim.call(Method::PATCH, &format!("/Users/{owner_id}"), Some(off)).await;
    assert_eq!(status, StatusCode::FORBIDDEN);
    let (status, _) = scim.call(Method::DELETE, &format!("/Users/{owner_id}"), None).await;
    assert_eq!(status, StatusCode::FORBIDDEN);

    // Groups are teams: Okta pushes a group and its members, Entra renames it and removes
    // members its way.
    let (status, group) = scim
        .call(Method::POST, "/Groups", Some(json!({ "schemas": [GROUP], "displayName": "Engineering", "members": [] })))
        .await;
    assert_eq!(status, StatusCode::CREATED, "{group}");
    let group_id = group["id"].as_str().unwrap().to_string();
    let (status, body) =
        scim.call(Method::POST, "/Groups", Some(json!({ "schemas": [GROUP], "displayName": "engineering" }))).await;
    assert_eq!((status, &body["scimType"]), (StatusCode::CONFLICT, &json!("uniqueness")), "{body}");
    let add = json!({ "schemas": [PATCH], "Operations": [{ "op": "add", "path": "members", "value": [{ "value": id, "display": "Ada" }] }] });
    let (status, body) = scim.call(Method::PATCH, &format!("/Groups/{group_id}"), Some(add)).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    assert_eq!(body["members"], json!([{ "value": id, "$ref": format!("{}/Users/{id}", scim.base), "type": "User" }]));
    let team = acme.owner.get(&format!("/api/app/organizations/{}/teams/{group_id}", acme.org_id)).await;
    assert!(team.results().to_string().contains("ada@acme.example"), "the team has Ada: {team:?}");
    let stranger = json!({ "schemas": [PATCH], "Operations": [{ "op": "add", "path": "members", "value": [{ "value": "999999" }] }] });
    let (status, _) = scim.call(Method::PATCH, &format!("/Groups/{group_id}"), Some(stranger)).await;
    assert_eq!(status, StatusCode::BAD_REQUEST, "only users of the organization join");
    let rename =
        json!({ "schemas": [PATCH], "Operations": [{ "op": "Replace", "path": "displayName", "value": "R&D" }] });
    let (_, body) = scim.call(Method::PATCH, &format!("/Groups/{group_id}"), Some(rename)).await;
    assert_eq!(body["displayName"], "R&D");
    let (_, found) =
        scim.call(Method::GET, &format!("/Groups?filter={}", urlencode("displayName eq \"r&d\"")), None).await;
    assert_eq!(found["totalResults"], 1, "{found}");
    let remove = json!({ "schemas": [PATCH], "Operations": [{ "op": "remove", "path": format!("members[value eq \"{id}\"]") }] });
    let (_, body) = scim.call(Method::PATCH, &format!("/Groups/{group_id}"), Some(remove)).await;
    assert!(body.get("members").is_none(), "{body}");
    let team = acme.owner.get(&format!("/api/app/organizations/{}/teams/{group_id}", acme.org_id)).await;
    assert!(!team.results().to_string().contains("ada@acme.example"), "{team:?}");
    let (status, _) = scim.call(Method::DELETE, &format!("/Groups/{group_id}"), None).await;
    assert_eq!(status, StatusCode::NO_CONTENT);
    let team = acme.owner.get(&format!("/api/app/organizations/{}/teams/{group_id}", acme.org_id)).await;
    assert_eq!(team.status, StatusCode::NOT_FOUND);

    // Delete: gone from SCIM and from the organization.
    let (status, _) = scim.call(Method::DELETE, &format!("/Users/{id}"), None).await;
    assert_eq!(status, StatusCode::NO_CONTENT);
    let (status, body) = scim.call(Method::GET, &format!("/Users/{id}"), None).await;
    assert_eq!((status, &body["schemas"][0]), (StatusCode::NOT_FOUND, &json!(ERROR)));
    let members = acme.owner.get(&format!("/api/app/organizations/{}/members", acme.org_id)).await;
    assert!(!members.results().to_string().contains("ada@acme.example"), "{members:?}");

    // Every change is in the audit log.
    let log = acme.owner.get(&format!("/api/app/organizations/{}/audit-log", acme.org_id)).await;
    let text = log.body.to_string();
    for event in
        ["scim.token_issued", "scim.user_created", "scim.user_deactivated", "scim.user_activated", "scim.user_deleted"]
    {
        assert!(text.contains(event), "{event} missing from the audit log");
    }
}

fn urlencode(text: &str) -> String {
    text.bytes()
        .map(|byte| match byte {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'_' | b'.' | b'~' => (byte as char).to_string(),
            other => format!("%{other:02X}"),
        })
        .collect()
}
