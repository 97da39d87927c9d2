//! Claimed domains verified against a DNS server on loopback.

use reqwest::StatusCode;
use serde_json::json;
use tally_testkit::api::PASSWORD;
use tally_testkit::backends;
use tally_testkit::clock::TestClock;
use tally_testkit::dns::DnsServer;

use crate::access::world::tenant;
use crate::support::Instance;

const T0: i64 = 1_800_000_000;

#[tokio::test]
async fn a_domain_is_verified_by_its_txt_record_and_unverified_a_week_after_it_goes() {
    let Some(python) = tally_testkit::python() else { return };
    for backend in backends() {
        let mut dns = DnsServer::start(&python).await;
        let mut clock = TestClock::at(T0);
        let instance = Instance::new(backend).await;
        let env = [
            ("TALLY_DNS_RESOLVER", dns.addr.as_str()),
            ("TALLY_TEST_CLOCK_FILE", clock.path().to_str().unwrap()),
            // The test spans more than a week of (file) time.
            ("TALLY_SESSIONS_IDLE_MINUTES", "525600"),
        ];
        let server = instance.serve_with(&[], &env).await;
        let acme = tenant(&instance, &server, "owner@acme.example", "Acme").await;
        let beta = tenant(&instance, &server, "owner@beta.example", "Beta").await;
        let domains = format!("/api/app/organizations/{}/domains", acme.org_id);

        let no_password = acme.owner.post(&domains, json!({ "domain": "acme.example" })).await;
        assert_eq!(no_password.status, StatusCode::BAD_REQUEST);
        let bad = acme.owner.post(&domains, json!({ "domain": "not a domain", "password": PASSWORD })).await;
        assert_eq!(bad.code(), "invalid_domain");
        let claimed = acme.owner.post(&domains, json!({ "domain": "Acme.Example", "password": PASSWORD })).await;
        assert_eq!(claimed.status, StatusCode::CREATED, "{claimed:?}");
        let claim = claimed.results();
        assert_eq!(claim["domain"], "acme.example");
        assert_eq!(claim["status"], "pending");
        let record = claim["record"]["value"].as_str().unwrap().to_string();
        assert!(record.starts_with("tally-domain-verify="));
        let id = claim["id"].as_i64().unwrap();
        let verify = format!("{domains}/{id}/verify");

        // No record yet: still pending.
        assert_eq!(acme.owner.post(&verify, json!({})).await.results()["status"], "pending");
        // A wrong token does not count; the right one does.
        dns.set_txt("acme.example", &["v=spf1 -all", "tally-domain-verify=someone-else"]);
        assert_eq!(acme.owner.post(&verify, json!({})).await.results()["status"], "pending");
        dns.set_txt("acme.example", &["v=spf1 -all", &record]);
        let verified = acme.owner.post(&verify, json!({})).await;
        assert_eq!(verified.results()["status"], "verified", "{backend:?}: {verified:?}");

        // One organization per domain.
        let taken = beta
            .owner
            .post(
                &format!("/api/app/organizations/{}/domains", beta.org_id),
                json!({ "domain": "acme.example", "password": PASSWORD }),
            )
            .await;
        assert_eq!(taken.status, StatusCode::CONFLICT);

        // The record goes: verified for a week of grace, then not.
        dns.remove("acme.example");
        clock.advance(24 * 3600);
        assert_eq!(acme.owner.post(&verify, json!({})).await.results()["status"], "verified");
        clock.advance(7 * 24 * 3600);
        assert_eq!(acme.owner.post(&verify, json!({})).await.results()["status"], "pending", "{backend:?}");

        let log = acme.owner.get(&format!("/api/app/organizations/{}/audit-log", acme.org_id)).await;
        let types: Vec<&str> =
            log.results().as_array().unwrap().iter().map(|r| r["event_type"].as_str().unwrap()).collect();
        for expected in ["claimed_domain.created", "claimed_domain.verified", "claimed_domain.unverified"] {
            assert!(types.contains(&expected), "{expected}: {types:?}");
        }
        assert_eq!(acme.owner.delete(&format!("{domains}/{id}")).await.status, StatusCode::OK);
        assert!(acme.owner.get(&domains).await.results().as_array().unwrap().is_empty());
    }
}
