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
        assert_eq!(store.applied_migrations().await.unwrap(), vec![1, 2], "{backend:?}");
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
        store.insert_session("hash1", created.user.id, t0(), expires).await.unwrap();
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
