//! A tenant to test against: an organization made by `tally admin bootstrap`, its Owner
//! signed in over HTTP.

use serde_json::Value;
use tally_testkit::TallyProcess;
use tally_testkit::api::{Api, PASSWORD};

use crate::support::Instance;

pub struct Tenant {
    pub owner: Api,
    pub owner_id: i64,
    pub org_id: i64,
    /// Production, then Development.
    pub projects: Vec<i64>,
}

/// Creates an organization owned by `email` (a new account with the test password) and
/// signs its Owner in.
pub async fn tenant(instance: &Instance, server: &TallyProcess, email: &str, org: &str) -> Tenant {
    let output = instance
        .command(&["admin", "bootstrap", "--email", email, "--org", org, "--password-stdin", "--json"], Some(PASSWORD))
        .await;
    assert!(output.status.success(), "bootstrap {org}: {}", output.stderr);
    let json: Value = serde_json::from_str(output.stdout.trim()).unwrap();
    let owner = Api::sign_in(server.base_url(), email, PASSWORD).await;
    Tenant {
        owner,
        owner_id: json["user"]["id"].as_i64().unwrap(),
        org_id: json["organization"]["id"].as_i64().unwrap(),
        projects: json["projects"].as_array().unwrap().iter().map(|p| p["id"].as_i64().unwrap()).collect(),
    }
}

/// A set of permission names from a JSON array.
pub fn names(value: &Value) -> std::collections::BTreeSet<String> {
    value
        .as_array()
        .map(|items| items.iter().filter_map(|v| v.as_str().map(str::to_string)).collect())
        .unwrap_or_default()
}

/// A server for access tests: invitation rate limits are lifted, since the tests invite
/// dozens of people at one domain.
pub async fn server(instance: &Instance) -> TallyProcess {
    // Domain checks go to a closed port on loopback, never to the machine's resolver.
    let env = [("TALLY_INVITATIONS_PER_DOMAIN_PER_HOUR", "100000"), ("TALLY_DNS_RESOLVER", "127.0.0.1:9")];
    instance.serve_with(&[], &env).await
}

/// Claims `domain` for the organization and verifies it through the test DNS server.
pub async fn verify_domain(owner: &Api, org_id: i64, dns: &mut tally_testkit::dns::DnsServer, domain: &str) {
    let domains = format!("/api/app/organizations/{org_id}/domains");
    let claim = owner.post(&domains, serde_json::json!({ "domain": domain, "password": PASSWORD })).await;
    dns.set_txt(domain, &[claim.results()["record"]["value"].as_str().unwrap()]);
    let verify = format!("{domains}/{}/verify", claim.results()["id"]);
    assert_eq!(owner.post(&verify, serde_json::json!({})).await.results()["status"], "verified");
}
