//! `tally admin bootstrap`, `tally migrate`, `tally config print`, `tally --version`.

use reqwest::StatusCode;
use serde_json::Value;
use tally_testkit::backends;
use tally_testkit::process::run_command;

use crate::support::{Instance, binary, client, token_of};

#[tokio::test]
async fn bootstrap_beside_a_running_server_prints_the_contract_json() {
    for backend in backends() {
        let instance = Instance::new(backend).await;
        let server = instance.serve().await;
        let setup_url = server.started.setup_url.clone().unwrap();

        let output = instance
            .command(
                &["admin", "bootstrap", "--email", "ops@example.com", "--org", "Acme", "--password-stdin", "--json"],
                Some("a long enough password\n"),
            )
            .await;
        assert!(output.status.success(), "{backend:?}: {}", output.stderr);
        let json: Value = serde_json::from_str(output.stdout.trim()).unwrap();
        assert_eq!(json["user"]["email"], "ops@example.com");
        assert!(json["user"]["id"].is_i64());
        assert_eq!(json["organization"]["name"], "Acme");
        let projects = json["projects"].as_array().unwrap();
        assert_eq!(projects.len(), 2);
        for (project, name) in projects.iter().zip(["Production", "Development"]) {
            assert_eq!(project["name"], name);
            assert!(project["id"].is_i64());
            assert_eq!(project["token"].as_str().unwrap().len(), 32);
            assert_eq!(project["api_secret"].as_str().unwrap().len(), 32);
        }
        assert_ne!(projects[0]["token"], projects[1]["token"]);

        // The API secret is sealed at rest: it appears nowhere in the metadata files.
        if backend == tally_testkit::TestBackend::Sqlite {
            let secret = projects[0]["api_secret"].as_str().unwrap();
            for name in ["tally.db", "tally.db-wal"] {
                let bytes = std::fs::read(instance.data_dir.join(name)).unwrap_or_default();
                assert!(!String::from_utf8_lossy(&bytes).contains(secret), "{name} holds the secret in clear");
            }
        }

        // The running server sees the instance is no longer empty: the setup link is withdrawn.
        let http = client();
        assert_eq!(http.get(&setup_url).send().await.unwrap().status(), StatusCode::NOT_FOUND);
        let late = http
            .post(server.url("/api/app/setup"))
            .json(&crate::support::setup_body(&token_of(&setup_url), "late@example.com", "Late"))
            .send()
            .await
            .unwrap();
        assert_eq!(late.status(), StatusCode::BAD_REQUEST);

        // A second organization for the same operator reuses the account.
        let second = instance
            .command(&["admin", "bootstrap", "--email", "OPS@example.com", "--org", "Beta", "--json"], None)
            .await;
        assert!(second.status.success(), "{}", second.stderr);
        let second: Value = serde_json::from_str(second.stdout.trim()).unwrap();
        assert_eq!(second["user"]["id"], json["user"]["id"]);
        assert_ne!(second["organization"]["id"], json["organization"]["id"]);

        // Setting a password on an existing account is refused, and creates nothing.
        let refused = instance
            .command(
                &["admin", "bootstrap", "--email", "ops@example.com", "--org", "Gamma", "--password-stdin"],
                Some("another password"),
            )
            .await;
        assert!(!refused.status.success());
        assert!(refused.stderr.contains("already exists"), "{}", refused.stderr);
    }
}

#[tokio::test]
async fn bootstrap_refuses_bad_input_naming_the_field() {
    let instance = Instance::new(tally_testkit::TestBackend::Sqlite).await;
    let cases: [(&[&str], Option<&str>, &str); 3] = [
        (&["admin", "bootstrap", "--email", "nope", "--org", "Acme"], None, "email"),
        (&["admin", "bootstrap", "--email", "a@example.com", "--org", " "], None, "organization"),
        (
            &["admin", "bootstrap", "--email", "a@example.com", "--org", "Acme", "--password-stdin"],
            Some("short"),
            "password",
        ),
    ];
    for (args, stdin, field) in cases {
        let output = instance.command(args, stdin).await;
        assert!(!output.status.success(), "{args:?}");
        assert!(output.stderr.starts_with(&format!("error: {field}:")), "{args:?}: {}", output.stderr);
    }
}

#[tokio::test]
async fn migrate_and_config_print_and_version() {
    for backend in backends() {
        let instance = Instance::new(backend).await;
        let migrated = instance.command(&["migrate"], None).await;
        assert!(migrated.status.success(), "{}", migrated.stderr);
        let latest = tally_store::Store::latest_migration();
        assert!(latest >= 4);
        assert!(migrated.stdout.contains(&format!("is at migration {latest}")), "{}", migrated.stdout);
        let again = instance.command(&["migrate"], None).await;
        assert!(again.status.success(), "migrating twice is harmless: {}", again.stderr);
    }

    let printed = run_command(
        binary(),
        &["config", "print"],
        &[("TALLY_METADATA_URL", "postgres://tally:hunter2@db.example/tally"), ("TALLY_LOG_FORMAT", "json")],
        None,
    )
    .await;
    assert!(printed.status.success(), "{}", printed.stderr);
    assert!(printed.stdout.contains("postgres://tally:***@db.example/tally"), "{}", printed.stdout);
    assert!(!printed.stdout.contains("hunter2"));
    assert!(printed.stdout.contains("format = \"json\""), "{}", printed.stdout);
    let parsed: toml::Table = toml::from_str(&printed.stdout).expect("config print emits TOML");
    assert_eq!(parsed["listen"].as_str(), Some("127.0.0.1:8080"));

    let version = run_command(binary(), &["--version"], &[], None).await;
    assert!(version.status.success());
    assert_eq!(version.stdout.trim(), format!("tally {}", env!("CARGO_PKG_VERSION")));
}

#[tokio::test]
async fn headless_setup_with_admin_subcommands() {
    for backend in backends() {
        let instance = Instance::new(backend).await;
        let mut env = instance.env();
        env.push(("TALLY_REGIONS", "us,eu"));
        let data_dir = instance.data_dir.to_str().unwrap().to_string();
        let run = |args: Vec<String>| {
            let env = env.clone();
            let data_dir = data_dir.clone();
            async move {
                let mut all: Vec<&str> = args.iter().map(String::as_str).collect();
                all.extend(["--data-dir", &data_dir]);
                run_command(binary(), &all, &env, None).await
            }
        };
        let args = |text: &str| text.split_whitespace().map(str::to_string).collect::<Vec<_>>();

        let boot = instance
            .command(&["admin", "bootstrap", "--email", "ops@acme.example", "--org", "Acme", "--json"], None)
            .await;
        let boot: Value = serde_json::from_str(boot.stdout.trim()).unwrap();
        let org = boot["organization"]["id"].as_i64().unwrap();

        let project = run(args(&format!(
            "admin create-project --org {org} --name EU-Web --region eu --timezone Europe/Paris --json"
        )))
        .await;
        assert!(project.status.success(), "{}", project.stderr);
        let project: Value = serde_json::from_str(project.stdout.trim()).unwrap();
        assert_eq!(project["region"], "eu");
        let project_id = project["id"].as_i64().unwrap();

        let bad_region = run(args(&format!("admin create-project --org {org} --name X --region mars"))).await;
        assert!(!bad_region.status.success());
        assert!(bad_region.stderr.contains("region"), "{}", bad_region.stderr);

        let invite = run(args(&format!(
            "admin invite --org {org} --email ana@acme.example --project {project_id}=analyst --json"
        )))
        .await;
        assert!(invite.status.success(), "{}", invite.stderr);
        let invite: Value = serde_json::from_str(invite.stdout.trim()).unwrap();
        let link = invite["link"].as_str().unwrap().to_string();

        // Accept the invitation over HTTP, then shape access from the command line.
        let server = instance.serve().await;
        let token = link.split("token=").nth(1).unwrap();
        let ana = tally_testkit::api::Api::anonymous(server.base_url());
        let accepted = ana
            .post(
                "/api/app/invitations/accept",
                serde_json::json!({ "token": token, "password": tally_testkit::api::PASSWORD }),
            )
            .await;
        assert_eq!(accepted.status, StatusCode::CREATED, "{accepted:?}");

        let team = run(args(&format!(
            "admin create-team --org {org} --name Ops --member ana@acme.example --project {project_id}=admin --json"
        )))
        .await;
        assert!(team.status.success(), "{}", team.stderr);
        let role =
            run(args(&format!("admin set-org-role --org {org} --email ana@acme.example --role billing_admin"))).await;
        assert!(role.status.success(), "{}", role.stderr);
        let grant = run(args(&format!(
            "admin set-project-role --project {project_id} --email ana@acme.example --role consumer"
        )))
        .await;
        assert!(grant.status.success(), "{}", grant.stderr);
        let unknown = run(args(&format!(
            "admin set-project-role --project {project_id} --email nobody@acme.example --role consumer"
        )))
        .await;
        assert!(!unknown.status.success());
        assert!(unknown.stderr.contains("no account with the e-mail nobody@acme.example"), "{}", unknown.stderr);

        let permissions = ana.get(&format!("/api/app/projects/{project_id}/permissions")).await;
        let sources: Vec<String> = permissions.results()["grants"]
            .as_array()
            .unwrap()
            .iter()
            .map(|g| format!("{}={}", g["source"].as_str().unwrap(), g["role"].as_str().unwrap()))
            .collect();
        assert_eq!(sources, ["individual=consumer", "team:Ops=admin"], "{backend:?}");

        let account = run(args(&format!(
            "admin create-service-account --org {org} --username ci-bot --project {project_id}=analyst --json"
        )))
        .await;
        assert!(account.status.success(), "{}", account.stderr);
        let account: Value = serde_json::from_str(account.stdout.trim()).unwrap();
        let bot =
            tally_testkit::api::Api::service_account(server.base_url(), "ci-bot", account["secret"].as_str().unwrap());
        assert_eq!(bot.get(&format!("/api/app/projects/{project_id}/permissions")).await.status, StatusCode::OK);

        // The operator's changes are in the audit log as such.
        let org_admin =
            run(args(&format!("admin create-service-account --org {org} --username auditor --role admin --json")))
                .await;
        let org_admin: Value = serde_json::from_str(org_admin.stdout.trim()).unwrap();
        let auditor = tally_testkit::api::Api::service_account(
            server.base_url(),
            "auditor",
            org_admin["secret"].as_str().unwrap(),
        );
        let log = auditor.get(&format!("/api/app/organizations/{org}/audit-log?event_type=team.created")).await;
        assert_eq!(log.results()[0]["actor"]["kind"], "operator", "{backend:?}");
    }
}
