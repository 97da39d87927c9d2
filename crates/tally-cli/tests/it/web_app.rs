//! The web app in Debian's Chromium (`tests/peers/browser/app.mjs`, npm `playwright-core`):
//! first run, an Owner's settings work, what each invited role is offered and refused,
//! Insights, Funnels, Retention and Flows built in the browser against the API's own
//! answers, Users and a profile's feed, the live view showing an event mixpanel-browser
//! sent, 2FA enrollment and a TOTP sign-in, a deep link through sign-in, and axe-core on
//! the main screens. Screenshots of the main screens land in `docs/screenshots/`.

use serde_json::Value;
use tally_testkit::TestBackend;

use crate::support::Instance;

fn labels(value: &Value) -> Vec<&str> {
    value.as_array().unwrap().iter().map(|v| v.as_str().unwrap()).collect()
}

#[tokio::test]
async fn people_use_tally_in_a_browser() {
    let (Some(peers), Some(chromium)) = (tally_testkit::oidc::node_peers(), tally_testkit::chromium()) else {
        return;
    };
    let instance = Instance::new(TestBackend::Sqlite).await;
    let server = instance.serve().await;
    let setup_url = server.started.setup_url.clone().expect("an empty instance prints a setup link");
    let base = server.base_url().to_string();
    let shots = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../../docs/screenshots");
    let output = tokio::process::Command::new("node")
        .arg(peers.join("browser/app.mjs"))
        .args([base.as_str(), setup_url.as_str(), shots.to_str().unwrap(), chromium.as_str()])
        .output()
        .await
        .unwrap();
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(output.status.success(), "app.mjs failed:\n{stderr}");
    let facts: Value = serde_json::from_slice(&output.stdout).unwrap();

    // The strict content security policy holds, and the app never threw.
    assert_eq!(facts["csp_violations"], Value::Array(vec![]), "{facts}");
    assert_eq!(facts["page_errors"], Value::Array(vec![]), "{facts}");
    assert_eq!(facts["import_status"], 200);

    // The team's Analyst grant and the default Consumer role, as the Owner set them.
    let members = facts["project_members"].as_array().unwrap();
    let grants_of = |email: &str| -> Vec<(String, String)> {
        let member = members.iter().find(|m| m["label"] == email).unwrap();
        member["grants"]
            .as_array()
            .unwrap()
            .iter()
            .map(|g| (g["role"].as_str().unwrap().to_string(), g["source"].as_str().unwrap().to_string()))
            .collect()
    };
    let member_grants = grants_of("member@acme.example");
    assert!(member_grants.contains(&("analyst".into(), "team:Analysts".into())), "{member_grants:?}");
    assert!(member_grants.contains(&("consumer".into(), "all_users".into())), "{member_grants:?}");
    assert!(grants_of("admin@acme.example").contains(&("admin".into(), "organization_role".into())));

    // The service account made in the browser signs in with the secret shown once, and sees
    // the project it was given; the audit log filtered by event type shows the team.
    assert_eq!(facts["service_account"]["status"], 200, "{facts}");
    assert_eq!(facts["service_account"]["type"], "service_account");
    assert_eq!(facts["service_account"]["projects"], serde_json::json!(["Production"]));
    let audit = labels(&facts["audit_rows"]);
    assert_eq!(audit.len(), 1, "{audit:?}");
    assert!(audit[0].contains("team.created") && audit[0].contains("owner@acme.example"), "{audit:?}");

    // The custom role made in the browser holds what was ticked.
    let roles = facts["custom_roles"].as_array().unwrap();
    assert_eq!(roles.len(), 1, "{facts}");
    assert_eq!(roles[0]["name"], "Exporter");
    assert_eq!(facts["export_permission_description"], "Export raw events (the export API).", "{facts}");
    let held = labels(&roles[0]["permissions"]);
    assert!(held.contains(&"export_events") && held.contains(&"view_reports"), "{held:?}");

    // The member (Analyst through the team) is offered exactly Analyst's screens, and the
    // server refuses what is not offered.
    let nav = labels(&facts["member_nav"]);
    for screen in ["Insights", "Funnels", "Retention", "Lexicon", "Project users", "Teams"] {
        assert!(nav.contains(&screen), "{screen} missing from {nav:?}");
    }
    for screen in ["Access security", "Billing"] {
        assert!(!nav.contains(&screen), "{screen} offered to an Analyst: {nav:?}");
    }
    assert!(facts["member_keys_refused"].as_str().unwrap().contains("does not show"), "{facts}");
    assert_eq!(facts["member_teams"]["create_offered"], 0);
    assert_eq!(facts["member_teams"]["server"], 403);
    assert_eq!(facts["member_project_users"]["default_role_offered"], 0);
    assert_eq!(facts["member_project_users"]["server"], 403);

    // Reports built in the browser show the API's numbers, which are the data's: five
    // sign-ups, three buyers, four purchases.
    let insights = &facts["insights"];
    assert_eq!(insights["ui"], 3);
    assert_eq!(insights["api"]["series"][0]["total"], 3.0);
    assert_eq!(facts["insights_two"]["ui"], serde_json::json!([3, 4]), "{facts}");
    assert_eq!(facts["insights_two"]["report"]["metrics"][1]["event"], "Purchase");
    // A formula (4 purchases by 3 buyers) and the period before, which holds no purchases.
    let formula = &facts["insights_formula"];
    let totals: Vec<f64> = formula["ui"].as_array().unwrap().iter().filter_map(Value::as_f64).collect();
    assert_eq!(totals.len(), 3, "{formula}");
    assert_eq!(&totals[..2], &[3.0, 4.0]);
    assert!((totals[2] - 4.0 / 3.0).abs() < 1e-9, "{formula}");
    assert_eq!(formula["names"][2], "ƒ1 · Purchases per buyer");
    assert_eq!(formula["previous"], serde_json::json!(["0", "0", ""]), "no purchases before; B / A has no value");
    assert_eq!(formula["report"]["formulas"][0]["expression"], "B / A");
    assert_eq!(formula["report"]["compare"], true);
    assert_eq!(facts["back_button_metrics"], 1, "the back button reopens the previous report");
    assert_eq!(facts["back_button_series"], 1, "and shows its answer");
    let funnel_api: Vec<&Value> =
        facts["funnel"]["api"]["steps"].as_array().unwrap().iter().map(|step| &step["count"]).collect();
    assert_eq!(facts["funnel"]["ui"], serde_json::json!([5, 3]));
    let people = &facts["funnel"]["people"];
    assert_eq!(people, &facts["funnel"]["api"]["steps"][1]["users"], "the buyers the API lists: {facts}");
    assert_eq!(people.as_array().map(Vec::len), Some(3));
    let first = people[0].as_str().unwrap();
    assert!(facts["funnel"]["profile_url"].as_str().unwrap().ends_with(&format!("/users/{first}")), "{facts}");
    // The three buyers bought a day after signing up: the 1 d–2 d bucket holds them.
    let time_chart = facts["funnel"]["time_chart"].as_str().unwrap_or_default();
    assert!(time_chart.contains("1 d–2 d is 7, 3"), "{time_chart}");
    assert_eq!(funnel_api, [&Value::from(5), &Value::from(3)]);
    let total = &facts["retention"]["api"]["total"];
    let mut expected = vec![total["first"].clone()];
    expected.extend(total["counts"].as_array().unwrap().iter().cloned());
    assert_eq!(facts["retention"]["ui"], Value::Array(expected));
    // Recurring retention chosen on screen: the report asks for it and shows the API's births.
    assert_eq!(facts["recurring"]["kind"], "recurring", "{facts}");
    assert_eq!(facts["recurring"]["ui"], facts["recurring"]["api"]["total"]["first"].to_string(), "{facts}");
    // The average row shows the API's rate for each bucket some cohort has finished.
    let averages: Vec<String> = facts["retention"]["api"]["average"]
        .as_array()
        .unwrap()
        .iter()
        .map(|cell| cell["rate"].as_f64().map(|rate| rate.to_string()).unwrap_or_default())
        .collect();
    assert_eq!(facts["retention"]["average"], serde_json::json!(averages), "{facts}");
    assert!(averages.iter().any(|rate| !rate.is_empty()), "the cohort is three days old: {averages:?}");
    // The heat map's first row is all users: each cell the share the API counts back.
    let heatmap = facts["retention"]["heatmap"].as_str().unwrap_or_default();
    assert!(heatmap.contains("Heat map"), "{heatmap}");
    let first = total["first"].as_f64().unwrap();
    for (bucket, count) in total["counts"].as_array().unwrap().iter().enumerate().take(8) {
        let share = (1000.0 * count.as_f64().unwrap() / first).round() / 10.0;
        let shown = if share.fract() == 0.0 { format!("{}", share as i64) } else { format!("{share}") };
        assert!(heatmap.contains(&format!("the data for {bucket} is {bucket}, 0, {shown},")), "{bucket}: {heatmap}");
    }
    assert_eq!(total["first"], 5);

    // The Owner named and described an event in the Lexicon screen.
    assert_eq!(facts["lexicon_edit"]["display_name"], "Bought", "{}", facts["lexicon_edit"]);
    assert_eq!(facts["lexicon_edit"]["description"], "A completed order");
    // A data view made on its settings screen, then offered by the picker.
    assert_eq!(
        facts["data_views"],
        serde_json::json!([{ "name": "All Project Data", "events": [] }, { "name": "Purchases only", "events": ["Purchase"] }]),
        "{facts}"
    );
    assert_eq!(facts["data_view_picker"], true);
    // Retention by the users' plan: pro and free tables whose users add up to the whole.
    let segments = facts["retention_segments"].as_array().unwrap();
    let names: Vec<&str> = segments.iter().map(|segment| segment["segment"].as_str().unwrap()).collect();
    assert!(names.contains(&"pro") && names.contains(&"free"), "{}", facts["retention_segments"]);
    let born: u64 = segments.iter().map(|segment| segment["first"].as_u64().unwrap()).sum();
    assert_eq!(Some(born), facts["retention"]["api"]["total"]["first"].as_u64(), "{}", facts["retention_segments"]);
    // A funnel by the users' plan, counting sessions: the table shows the API's segments.
    let funnel_segments = &facts["funnel_segments"];
    assert_eq!(funnel_segments["report"]["counting"], "sessions", "{funnel_segments}");
    assert_eq!(funnel_segments["report"]["breakdown"]["source"], "user", "{funnel_segments}");
    let api_segments: Vec<Value> = funnel_segments["api"]["segments"]
        .as_array()
        .unwrap()
        .iter()
        .map(|segment| serde_json::json!({ "segment": segment["segment"], "counts": segment["counts"] }))
        .collect();
    assert!(api_segments.len() >= 2, "{funnel_segments}");
    assert_eq!(funnel_segments["ui"], Value::from(api_segments), "{funnel_segments}");
    // Retention with custom brackets: three columns named for the joined days.
    let brackets = &facts["retention_brackets"];
    assert_eq!(brackets["report"]["brackets"], serde_json::json!([1, 3, 7]), "{brackets}");
    let headers: Vec<&str> = brackets["headers"].as_array().unwrap().iter().filter_map(Value::as_str).collect();
    assert!(headers.contains(&"1–3 days") && headers.contains(&"3–7 days"), "{brackets}");
    let mut shown = vec![brackets["api"]["total"]["first"].clone()];
    shown.extend(brackets["api"]["total"]["counts"].as_array().unwrap().iter().cloned());
    assert_eq!(shown.len(), 4, "users born and three brackets: {brackets}");
    assert_eq!(brackets["ui"], Value::Array(shown), "{brackets}");
    // A retention cell's users saved as a cohort: as many as the "all" row's bucket 0 says.
    assert_eq!(facts["retention_cohort"]["dialog_users"], facts["retention"]["api"]["total"]["counts"][0], "{facts}");
    assert_eq!(facts["retention_cohort"]["saved_users"], facts["retention_cohort"]["dialog_users"]);
    // A CSV of 30 people, sent in batches: every row answered, every invitation pending.
    assert!(facts["csv_invite"]["outcome"].as_str().unwrap().contains("30 sent"), "{}", facts["csv_invite"]);
    assert_eq!(facts["csv_invite"]["pending"], 30);
    // An annotation tagged in the browser, and the list filtered by its tag.
    assert!(
        facts["annotation"]["count"].as_str().unwrap().contains("1 annotation tagged Launch"),
        "{}",
        facts["annotation"]
    );
    assert!(
        facts["annotation"]["api"]
            .as_array()
            .unwrap()
            .iter()
            .any(|note| note["description"] == "Spring launch" && note["tags"] == serde_json::json!(["Launch"])),
        "{}",
        facts["annotation"]
    );
    // An alert made from a board card, active, and its test alert delivered.
    assert_eq!(facts["alert"]["status"], "active", "{}", facts["alert"]);
    assert_eq!(facts["alert"]["test_delivered"], "true", "{}", facts["alert"]);
    assert_eq!(facts["alert"]["api"][0]["name"], "Purchases this month");
    assert_eq!(facts["alert"]["api"][0]["condition"]["value"], 1.0);
    // A privacy retrieval asked for on its screen, done, with its download.
    assert_eq!(
        facts["privacy"]["api"],
        serde_json::json!([{ "kind": "retrieval", "status": "SUCCESS", "distinct_ids": ["someone-to-retrieve"] }]),
        "{}",
        facts["privacy"]
    );
    assert_eq!(facts["privacy"]["download"], 1);

    // The buyers of the funnel, saved as a cohort from its step, are the three it lists.
    assert_eq!(facts["cohort"]["count"], 3, "{facts}");
    assert!(facts["cohort"]["summary"].as_str().unwrap().contains('3'), "{}", facts["cohort"]["summary"]);

    // Boards: the saved report shows on its new board with the Insights screen's total, and
    // a signed-out visitor of its public link sees the same number, not signed in.
    let board = &facts["board"];
    assert_eq!(board["cards"], 1, "{board}");
    assert_eq!(board["card_total"], board["insights_total"], "{board}");
    assert!(board["insights_total"].as_f64().unwrap() > 0.0, "{board}");
    assert_eq!(board["public_total"], board["insights_total"], "{board}");
    assert_eq!(board["public_title"], "Weekly review");
    assert_eq!(board["public_signed_in"], 0);
    assert!(board["public_url"].as_str().unwrap().contains("/public/boards/"), "{board}");

    // Flows: the five who signed up, as the API counts them; Users: five profiles, one on
    // the pro plan, whose feed holds their three events, newest first.
    assert_eq!(facts["flows"]["ui"], 5);
    assert_eq!(facts["flows"]["api"]["users"], 5);
    assert_eq!(facts["engage_status"], 200);
    assert_eq!(facts["users_total_all"], 5);
    assert_eq!(facts["users_total_pro"], 1);
    assert_eq!(facts["profile"]["id"], "u1");
    assert_eq!(facts["profile"]["events"], serde_json::json!(["Purchase", "Purchase", "Sign up"]));

    // The live view shows what mixpanel-browser just sent.
    assert_eq!(facts["sdk_answer"], 1, "{facts}");
    // mixpanel-browser sends `$identify` and the event in two requests that may land in
    // either order, so the test asks only that the tracked event is on screen.
    let live: Vec<&str> = facts["live_names"].as_array().unwrap().iter().filter_map(Value::as_str).collect();
    assert!(live.contains(&"Live test"), "{facts}");

    // The Billing Admin: billing, and no data of a project no role opens.
    assert!(labels(&facts["billing_nav"]).contains(&"Billing"), "{facts}");
    assert_eq!(facts["billing_development_status"], 403);
    assert_eq!(facts["billing_development_query_status"], 403);
    assert!(facts["billing_development_screen"].as_str().unwrap().contains("not open to you"), "{facts}");

    // The project Admin manages the project's users, not teams.
    assert_eq!(facts["padmin"]["default_role_offered"], 1);
    assert_eq!(facts["padmin"]["create_team_offered"], 0);
    assert_eq!(facts["padmin"]["create_team_status"], 403);

    // 2FA enrolled in the browser, then a sign-in with a TOTP code that returns to the deep
    // link asked for while signed out.
    assert_eq!(facts["recovery_codes"], 10);
    assert!(facts["deep_link_after_totp"].as_str().unwrap().ends_with("/lexicon"), "{facts}");

    // Once the Owner requires a second factor, a member without one enrolls at sign-in
    // before the app opens.
    assert_eq!(facts["require_2fa"], true);
    assert_eq!(facts["forced_enrollment"]["factor"], "totp", "{facts}");
    assert!(facts["forced_enrollment"]["home"].as_str().unwrap().contains("Acme"), "{facts}");

    // On a phone the navigation folds behind its button and opens screens from there, and
    // no screen scrolls sideways.
    for (screen, seen) in facts["phone"].as_object().unwrap().iter().filter(|(name, _)| *name != "navigated") {
        assert!(seen["overflow"].as_i64().unwrap() <= 1, "{screen} scrolls sideways on a phone: {seen}");
        assert_eq!(seen["burger"], true, "{screen}: {seen}");
    }
    assert!(facts["phone"]["navigated"].as_str().unwrap().ends_with("/insights"), "{facts}");

    // axe-core: no serious or critical violation on any main screen.
    for (screen, violations) in facts["axe"].as_object().unwrap() {
        let bad: Vec<&Value> = violations
            .as_array()
            .unwrap()
            .iter()
            .filter(|v| matches!(v["impact"].as_str(), Some("serious" | "critical")))
            .collect();
        assert!(bad.is_empty(), "{screen}: {bad:?}");
    }
    for shot in [
        "setup",
        "home",
        "members",
        "teams",
        "project-users",
        "insights",
        "funnels",
        "retention",
        "flows",
        "users",
        "user-profile",
        "events",
        "service-accounts",
        "audit-log",
        "roles",
        "forced-enrollment",
        "two-factor",
    ] {
        assert!(shots.join(format!("{shot}.png")).is_file(), "{shot}.png");
    }
}
