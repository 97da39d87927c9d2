use jiff::{SignedDuration, Timestamp};
use tally_config::DatabaseUrl;
use tally_store::{NewProject, NewTenant, NewUser, Store, StoreError, TenantClaim};
use tally_testkit::{ScratchMetadata, TestBackend, backends};
use tally_types::OrgRole;

async fn open(backend: TestBackend) -> (Store, ScratchMetadata) {
    let scratch = ScratchMetadata::new(backend).await;
    let url = DatabaseUrl::parse(&scratch.url).unwrap();
    let store = Store::open(&url, 4).await.unwrap();
    (store, scratch)
}

fn t0() -> Timestamp {
    "2026-11-27T12:00:00Z".parse().unwrap()
}

fn project<'a>(name: &'a str, token: &'a str, secret_hash: &'a str) -> NewProject<'a> {
    NewProject {
        name,
        region: "us",
        timezone: "UTC",
        environment: Some("production"),
        token,
        api_secret_hash: secret_hash,
        api_secret_sealed: "sealed",
    }
}

fn tenant<'a>(email: &'a str, org: &'a str, projects: &'a [NewProject<'a>], claim: TenantClaim<'a>) -> NewTenant<'a> {
    NewTenant {
        owner: NewUser { email, name: "Ada", password_hash: Some("$argon2id$fake") },
        org_name: org,
        projects,
        claim,
        now: t0(),
    }
}

#[tokio::test]
async fn migrations_apply_once_and_again_safely() {
    for backend in backends() {
        let (store, _scratch) = open(backend).await;
        store.migrate().await.unwrap();
        let all: Vec<i64> = (1..=Store::latest_migration()).collect();
        assert_eq!(store.applied_migrations().await.unwrap(), all, "{backend:?}");
        store.ping().await.unwrap();
    }
}

#[tokio::test]
async fn operator_creates_tenant_with_owner_and_projects() {
    for backend in backends() {
        let (store, _scratch) = open(backend).await;
        assert!(store.instance_is_empty().await.unwrap());
        let projects = [project("Production", "tok1", "h1"), project("Development", "tok2", "h2")];
        let created =
            store.create_tenant(&tenant("Ada@Example.com", "Acme", &projects, TenantClaim::Operator)).await.unwrap();
        assert!(created.user_created);
        assert_eq!(created.user.email, "Ada@Example.com");
        assert!(created.user.has_password);
        assert_eq!(created.organization.name, "Acme");
        assert_eq!(created.projects.len(), 2);
        assert!(!store.instance_is_empty().await.unwrap());

        let memberships = store.memberships(created.user.id).await.unwrap();
        assert_eq!(memberships.len(), 1, "{backend:?}");
        assert_eq!(memberships[0].role, OrgRole::Owner);
        assert_eq!(memberships[0].organization, created.organization);

        let listed = store.projects_in_org(created.organization.id).await.unwrap();
        assert_eq!(listed, created.projects, "{backend:?}");
        assert_eq!(listed[0].token, "tok1");
        assert_eq!(listed[0].created_by, Some(created.user.id));
        assert_eq!(listed[0].created_at, t0());

        // E-mail lookups ignore case.
        let found = store.user_by_email("ada@example.COM").await.unwrap().unwrap();
        assert_eq!(found.id, created.user.id);
        assert_eq!(store.user_by_id(created.user.id).await.unwrap(), Some(found));
        assert_eq!(store.password_hash(created.user.id).await.unwrap().as_deref(), Some("$argon2id$fake"));
    }
}

#[tokio::test]
async fn a_second_tenant_reuses_the_account_and_stays_separate() {
    for backend in backends() {
        let (store, _scratch) = open(backend).await;
        let first = [project("Production", "a1", "ha1")];
        let second = [project("Production", "b1", "hb1")];
        let a = store.create_tenant(&tenant("ada@example.com", "Acme", &first, TenantClaim::Operator)).await.unwrap();
        let b = store.create_tenant(&tenant("ADA@example.com", "Beta", &second, TenantClaim::Operator)).await.unwrap();
        assert!(!b.user_created);
        assert_eq!(a.user.id, b.user.id);
        assert_ne!(a.organization.id, b.organization.id);
        assert_eq!(store.memberships(a.user.id).await.unwrap().len(), 2);
        let in_a = store.projects_in_org(a.organization.id).await.unwrap();
        assert_eq!(in_a.iter().map(|p| p.token.as_str()).collect::<Vec<_>>(), ["a1"], "{backend:?}");
    }
}

#[tokio::test]
async fn a_failing_tenant_leaves_nothing_behind() {
    for backend in backends() {
        let (store, _scratch) = open(backend).await;
        let projects = [project("Same", "t1", "h1"), project("Same", "t2", "h2")];
        let error = store
            .create_tenant(&tenant("ada@example.com", "Acme", &projects, TenantClaim::Operator))
            .await
            .unwrap_err();
        assert!(matches!(error, StoreError::Conflict(_)), "{backend:?}: {error}");
        assert!(store.instance_is_empty().await.unwrap());
        assert_eq!(store.user_by_email("ada@example.com").await.unwrap(), None, "{backend:?}");
    }
}

#[tokio::test]
async fn setup_token_is_single_use_and_expires() {
    for backend in backends() {
        let (store, _scratch) = open(backend).await;
        let projects = [project("Production", "t1", "h1")];
        let expires = t0() + SignedDuration::from_hours(24);
        store.replace_setup_token("old", t0(), expires).await.unwrap();
        store.replace_setup_token("live", t0(), expires).await.unwrap();
        assert!(!store.setup_token_is_live("old", t0()).await.unwrap(), "a new link replaces the old one");
        assert!(store.setup_token_is_live("live", t0()).await.unwrap());

        let wrong = tenant("ada@example.com", "Acme", &projects, TenantClaim::SetupToken { token_hash: "old" });
        assert!(matches!(store.create_tenant(&wrong).await, Err(StoreError::SetupTokenRejected)));

        let mut late = tenant("ada@example.com", "Acme", &projects, TenantClaim::SetupToken { token_hash: "live" });
        late.now = expires;
        assert!(matches!(store.create_tenant(&late).await, Err(StoreError::SetupTokenRejected)), "{backend:?}");
        assert!(store.instance_is_empty().await.unwrap());

        let right = tenant("ada@example.com", "Acme", &projects, TenantClaim::SetupToken { token_hash: "live" });
        store.create_tenant(&right).await.unwrap();
        let again = tenant("eve@example.com", "Evil", &projects, TenantClaim::SetupToken { token_hash: "live" });
        assert!(matches!(store.create_tenant(&again).await, Err(StoreError::SetupTokenRejected)), "{backend:?}");
    }
}

#[tokio::test]
async fn operator_withdraws_the_setup_link() {
    for backend in backends() {
        let (store, _scratch) = open(backend).await;
        store.replace_setup_token("live", t0(), t0() + SignedDuration::from_hours(1)).await.unwrap();
        let projects = [project("Production", "t1", "h1")];
        store.create_tenant(&tenant("ada@example.com", "Acme", &projects, TenantClaim::Operator)).await.unwrap();
        assert!(!store.setup_token_is_live("live", t0()).await.unwrap(), "{backend:?}");
    }
}

#[tokio::test]
async fn sessions_round_trip() {
    for backend in backends() {
        let (store, _scratch) = open(backend).await;
        let projects = [project("Production", "t1", "h1")];
        let created =
            store.create_tenant(&tenant("ada@example.com", "Acme", &projects, TenantClaim::Operator)).await.unwrap();
        let expires = t0() + SignedDuration::from_hours(24);
        let origin =
            tally_store::SessionOrigin { public_id: "s1".into(), ip: Some("127.0.0.1".into()), user_agent: None };
        store.insert_session("hash1", created.user.id, t0(), expires, &origin, None).await.unwrap();
        let session = store.session("hash1").await.unwrap().unwrap();
        assert_eq!(session.user_id, created.user.id);
        assert_eq!(session.expires_at, expires);
        let later = t0() + SignedDuration::from_mins(5);
        store.touch_session("hash1", later).await.unwrap();
        assert_eq!(store.session("hash1").await.unwrap().unwrap().last_seen_at, later);
        store.delete_session("hash1").await.unwrap();
        assert_eq!(store.session("hash1").await.unwrap(), None, "{backend:?}");
    }
}

#[tokio::test]
async fn unreachable_postgres_is_a_clear_error() {
    let url = DatabaseUrl::parse("postgres://tally:pw@127.0.0.1:1/tally").unwrap();
    let error = Store::open(&url, 1).await.unwrap_err().to_string();
    assert!(error.contains("cannot open the metadata database postgres://tally:***@127.0.0.1:1/tally"), "{error}");
    assert!(!error.contains("pw@"), "{error}");
}

fn audit(org_id: tally_types::OrgId, at: Timestamp, event_type: &str) -> tally_store::AuditEntry {
    tally_store::AuditEntry {
        org_id,
        project_id: None,
        at,
        actor: tally_store::AuditActor { kind: "operator", id: None, label: "test".into() },
        ip: None,
        event_type: event_type.into(),
        target_kind: "organization",
        target_id: org_id.to_string(),
        before: None,
        after: None,
    }
}

#[tokio::test]
async fn deleted_organizations_vanish_at_once_and_are_purged_after_the_grace_period() {
    for backend in backends() {
        let (store, _scratch) = open(backend).await;
        let projects = [project("Production", "t1", "h1")];
        let doomed =
            store.create_tenant(&tenant("ada@example.com", "Doomed", &projects, TenantClaim::Operator)).await.unwrap();
        let kept_projects = [project("Production", "t2", "h2")];
        let kept = store
            .create_tenant(&tenant("bob@example.com", "Kept", &kept_projects, TenantClaim::Operator))
            .await
            .unwrap();
        let org = doomed.organization.id;
        let team = store.create_team(org, "T", &audit(org, t0(), "team.created")).await.unwrap();
        store
            .add_team_member(
                team.id,
                tally_types::Principal::User(doomed.user.id),
                &audit(org, t0(), "team.user_added"),
            )
            .await
            .unwrap();

        // Single sign-on state refers to the organization too, and must not block the purge.
        let saml = tally_store::SamlConnection {
            idp_entity_id: "https://idp.example".into(),
            idp_certs: vec!["MIIB".into()],
            ..Default::default()
        };
        store.set_saml_connection(org, true, false, &saml, &audit(org, t0(), "sso_settings.updated")).await.unwrap();
        store.insert_saml_request("relay", org, "_req", t0(), t0() + SignedDuration::from_mins(10)).await.unwrap();
        assert!(store.record_saml_assertion(org, "_a", t0(), t0() + SignedDuration::from_mins(5)).await.unwrap());

        let purge_after = t0() + SignedDuration::from_hours(24 * 90);
        store.delete_organization(org, purge_after, &audit(org, t0(), "organization.deleted")).await.unwrap();
        assert_eq!(store.organization(org).await.unwrap(), None, "{backend:?}");
        assert_eq!(store.project(doomed.projects[0].id).await.unwrap(), None);
        assert!(store.memberships(doomed.user.id).await.unwrap().is_empty());
        assert!(matches!(
            store.delete_organization(org, purge_after, &audit(org, t0(), "x")).await,
            Err(StoreError::NotFound)
        ));

        // Not yet.
        assert_eq!(store.purge_expired(purge_after - SignedDuration::from_secs(1)).await.unwrap(), (0, 0));
        // Now: the organization, its project, team and members go; the other tenant stays.
        assert_eq!(store.purge_expired(purge_after).await.unwrap(), (1, 1), "{backend:?}");
        assert!(store.teams(org).await.unwrap().is_empty());
        assert!(
            store
                .audit_log(org, &tally_store::AuditFilter { limit: 10, ..Default::default() })
                .await
                .unwrap()
                .is_empty()
        );
        assert!(store.organization(kept.organization.id).await.unwrap().is_some());
        assert!(store.project(kept.projects[0].id).await.unwrap().is_some());
        // The account itself remains (it may belong to other organizations).
        assert!(store.user_by_id(doomed.user.id).await.unwrap().is_some());
    }
}

#[tokio::test]
async fn invitations_expire_and_are_accepted_once() {
    for backend in backends() {
        let (store, _scratch) = open(backend).await;
        let projects = [project("Production", "t1", "h1")];
        let created =
            store.create_tenant(&tenant("ada@example.com", "Acme", &projects, TenantClaim::Operator)).await.unwrap();
        let org = created.organization.id;
        let expires = t0() + SignedDuration::from_hours(24 * 7);
        let invited = [tally_store::InvitedProject { project_id: created.projects[0].id, role: "analyst".into() }];
        let new = tally_store::NewInvitation {
            org_id: org,
            email: "Eve@Example.com",
            org_role: OrgRole::Member,
            projects: &invited,
            token_hash: "tokenhash",
            invited_by: Some(created.user.id),
            expires_at: expires,
        };
        let invitation = store.create_invitation(&new, &audit(org, t0(), "invitation.sent")).await.unwrap();
        assert_eq!(invitation.projects, invited);
        assert_eq!(store.invitations_sent_to_domain("example.com", t0()).await.unwrap(), 1);
        assert!(store.invitation_by_token("tokenhash", t0()).await.unwrap().is_some());
        assert!(store.invitation_by_token("tokenhash", expires).await.unwrap().is_none(), "{backend:?}: expired");

        let accepted = store
            .accept_invitation(
                &invitation,
                None,
                "Eve",
                Some("$argon2id$x"),
                &invited,
                &audit(org, t0(), "invitation.accepted"),
            )
            .await
            .unwrap();
        assert!(accepted.user_created);
        assert_eq!(accepted.user.email, "Eve@Example.com");
        let grants =
            store.grants_of(created.projects[0].id, tally_types::Principal::User(accepted.user.id)).await.unwrap();
        assert_eq!(
            grants,
            vec![tally_store::Grant { source: tally_store::GrantSource::Individual, role: "analyst".into() }]
        );
        assert!(store.invitation_by_token("tokenhash", t0()).await.unwrap().is_none(), "used once");
        let again = store
            .accept_invitation(&invitation, None, "Eve", None, &invited, &audit(org, t0(), "invitation.accepted"))
            .await;
        assert!(matches!(again, Err(StoreError::NotFound)), "{backend:?}");

        // A second invitation to the same (now existing) account attaches it only when it
        // is the account that is signed in; otherwise nothing changes.
        let second = tally_store::NewInvitation { token_hash: "tokenhash2", ..new.clone() };
        let second = store.create_invitation(&second, &audit(org, t0(), "invitation.sent")).await.unwrap();
        let stranger =
            store.accept_invitation(&second, None, "", None, &invited, &audit(org, t0(), "invitation.accepted")).await;
        assert!(matches!(stranger, Err(StoreError::Refused(_))), "{backend:?}: {stranger:?}");
        assert!(store.invitation_by_token("tokenhash2", t0()).await.unwrap().is_some(), "{backend:?}: still pending");
        let own = store
            .accept_invitation(
                &second,
                Some(accepted.user.id),
                "",
                None,
                &invited,
                &audit(org, t0(), "invitation.accepted"),
            )
            .await
            .unwrap();
        assert!(!own.user_created);
    }
}

#[tokio::test]
async fn saml_connections_requests_and_the_replay_cache() {
    for backend in backends() {
        let (store, _scratch) = open(backend).await;
        let projects = [project("Production", "t1", "h1")];
        let acme =
            store.create_tenant(&tenant("ada@example.com", "Acme", &projects, TenantClaim::Operator)).await.unwrap();
        let other_projects = [project("Production", "t2", "h2")];
        let beta = store
            .create_tenant(&tenant("bob@example.com", "Beta", &other_projects, TenantClaim::Operator))
            .await
            .unwrap();
        let (org, other) = (acme.organization.id, beta.organization.id);

        let saml = tally_store::SamlConnection {
            idp_entity_id: "https://idp.example".into(),
            idp_sso_url: "https://idp.example/sso".into(),
            idp_certs: vec!["MIIBcert1".into(), "MIIBcert2".into()],
            metadata_url: Some("https://idp.example/metadata".into()),
            sign_requests: true,
            want_assertions_signed: false,
            idp_initiated: false,
            sp_cert: "MIIBsp".into(),
            sp_key_sealed: "sealed".into(),
        };
        store.set_saml_connection(org, true, true, &saml, &audit(org, t0(), "sso_settings.updated")).await.unwrap();
        let connection = store.sso_connection(org).await.unwrap().unwrap();
        assert_eq!(connection.protocol, "saml", "{backend:?}");
        assert!(connection.require_sso && connection.idp_managed);
        assert_eq!(connection.saml.as_ref(), Some(&saml), "{backend:?}: read back as written");
        assert_eq!(store.sso_connection(other).await.unwrap(), None);

        // A request is taken once, by its own organization, before it expires.
        let expires = t0() + SignedDuration::from_mins(10);
        store.insert_saml_request("relay-1", org, "_req1", t0(), expires).await.unwrap();
        store.insert_saml_request("relay-2", org, "_req2", t0(), expires).await.unwrap();
        assert_eq!(store.take_saml_request("relay-1", other, t0()).await.unwrap(), None, "{backend:?}");
        assert_eq!(store.take_saml_request("relay-1", org, t0()).await.unwrap().as_deref(), Some("_req1"));
        assert_eq!(store.take_saml_request("relay-1", org, t0()).await.unwrap(), None, "taken once");
        assert_eq!(store.take_saml_request("relay-2", org, expires).await.unwrap(), None, "expired");

        // An assertion ID is accepted once per organization until it expires, then forgotten.
        let until = t0() + SignedDuration::from_mins(5);
        assert!(store.record_saml_assertion(org, "_a1", t0(), until).await.unwrap());
        assert!(!store.record_saml_assertion(org, "_a1", t0(), until).await.unwrap(), "{backend:?}: a replay");
        assert!(store.record_saml_assertion(other, "_a1", t0(), until).await.unwrap(), "another organization's");
        assert!(store.record_saml_assertion(org, "_a1", until, until + SignedDuration::from_mins(5)).await.unwrap());
    }
}

#[tokio::test]
async fn nodes_keep_their_own_flush_positions_and_one_at_a_time_holds_a_lease() {
    for backend in backends() {
        let (store, _scratch) = open(backend).await;
        // The position a single node recorded before nodes had ids (node ''): the first
        // node to ask takes it over, once; another node starts with none.
        assert!(store.record_flush("us", "", &[], 5, 0, t0()).await.unwrap());
        assert_eq!(store.flushed_through("us", "node-a").await.unwrap(), (Some(5), true), "{backend:?}");
        assert_eq!(store.flushed_through("us", "node-a").await.unwrap(), (Some(5), false));
        assert_eq!(store.flushed_through("us", "node-b").await.unwrap(), (None, false));
        assert!(store.region_has_flushes("us").await.unwrap());
        assert!(!store.region_has_flushes("eu").await.unwrap());
        assert!(store.record_flush("us", "node-b", &[], 7, 0, t0()).await.unwrap());
        assert!(store.record_flush("us", "node-a", &[], 6, 0, t0()).await.unwrap());
        assert_eq!(store.flushed_through("us", "node-b").await.unwrap(), (Some(7), false));
        assert_eq!(store.flushed_through("us", "node-a").await.unwrap(), (Some(6), false));

        let at = |minutes: i64| t0() + SignedDuration::from_mins(minutes);
        let lease = "compact:us";
        assert!(store.acquire_lease(lease, "node-a", at(0), at(5)).await.unwrap());
        assert!(!store.acquire_lease(lease, "node-b", at(1), at(6)).await.unwrap(), "held by another node");
        assert!(store.acquire_lease(lease, "node-a", at(1), at(6)).await.unwrap(), "renewed by its holder");
        assert!(store.acquire_lease(lease, "node-b", at(6), at(11)).await.unwrap(), "taken once it expired");
        store.release_lease(lease, "node-a").await.unwrap();
        assert!(!store.acquire_lease(lease, "node-a", at(7), at(12)).await.unwrap(), "only its holder gives it back");
        store.release_lease(lease, "node-b").await.unwrap();
        assert!(store.acquire_lease(lease, "node-a", at(7), at(12)).await.unwrap());

        // A file replaced or removed on one node is not replaced again from another node's
        // stale list (which would bring back what the first change took out).
        let file = |path: &str| tally_store::EventFile {
            path: path.into(),
            project_id: 1,
            day: "2027-01-15".into(),
            bucket: 0,
            rows: 10,
            bytes: 100,
            min_time_ms: 0,
            max_time_ms: 1,
            columns: String::new(),
        };
        assert!(store.record_flush("us", "node-a", &[file("f1"), file("f2")], 8, 0, t0()).await.unwrap());
        assert!(store.replace_event_files("us", &["f1".into()], &file("rewritten"), t0()).await.unwrap());
        let stale = ["f1".to_string(), "f2".to_string()];
        assert!(!store.replace_event_files("us", &stale, &file("merged"), t0()).await.unwrap(), "{backend:?}");
        assert!(!store.remove_event_file("us", "f1").await.unwrap());
        let mut paths: Vec<String> =
            store.all_event_files("us").await.unwrap().into_iter().map(|file| file.path).collect();
        paths.sort();
        assert_eq!(paths, ["f2", "rewritten"], "{backend:?}: nothing changed by the stale swap");
        assert!(store.remove_event_file("us", "f2").await.unwrap());

        // Forgets count up per region; a flush that has not applied them all is refused.
        let ids = ["ada".to_string(), "$device:d1".to_string()];
        assert_eq!(store.record_forget("us", "node-a", 1, Some(&ids), t0()).await.unwrap(), 1, "{backend:?}");
        assert_eq!(store.record_forget("us", "node-b", 2, None, t0()).await.unwrap(), 2);
        assert_eq!(store.record_forget("eu", "node-a", 1, None, t0()).await.unwrap(), 1, "another region's count");
        let forgets = store.forgets_after("us", 0).await.unwrap();
        assert_eq!(
            forgets,
            [
                tally_store::Forget { id: 1, project_id: 1, distinct_ids: Some(ids.to_vec()), node: "node-a".into() },
                tally_store::Forget { id: 2, project_id: 2, distinct_ids: None, node: "node-b".into() },
            ]
        );
        assert_eq!(store.forgets_after("us", 1).await.unwrap(), forgets[1..]);
        assert!(!store.record_flush("us", "node-a", &[file("f3")], 9, 1, t0()).await.unwrap(), "{backend:?}");
        assert_eq!(store.flushed_through("us", "node-a").await.unwrap(), (Some(8), false), "nothing recorded");
        assert!(store.record_flush("us", "node-a", &[file("f3")], 9, 2, t0()).await.unwrap());
        assert_eq!(store.flushed_through("us", "node-a").await.unwrap(), (Some(9), false));
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn transactions_that_read_before_they_write_wait_for_a_concurrent_writer() {
    for backend in backends() {
        let (store, _scratch) = open(backend).await;
        assert!(store.record_flush("us", "", &[], 5, 0, t0()).await.unwrap());
        let tasks: Vec<_> = (0..24)
            .map(|n| {
                let store = store.clone();
                tokio::spawn(async move {
                    // A read, then an update (one node takes the old position over) while
                    // the other tasks write.
                    let node = format!("node-{n}");
                    store.flushed_through("us", &node).await?;
                    store.record_forget("us", &node, 1, None, t0()).await?;
                    store.record_flush("us", &node, &[], 6, n + 1, t0()).await
                })
            })
            .collect();
        let mut adopted = 0;
        for task in tasks {
            // Forgets arrive meanwhile, so some flushes are refused; none fails.
            task.await.unwrap().unwrap_or_else(|error| panic!("{backend:?}: {error}"));
        }
        for n in 0..24 {
            if store.flushed_through("us", &format!("node-{n}")).await.unwrap().0 == Some(5) {
                adopted += 1;
            }
        }
        assert!(adopted <= 1, "{backend:?}: the old position is taken over once at most");
    }
}
