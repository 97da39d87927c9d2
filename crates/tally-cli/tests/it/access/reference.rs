//! Independent reference model of the default Mixpanel role permissions.
//!
//! This table is written straight from the spec (`mixpanel-spec.md` §2.1, §2.2, §2.3, §2.5, plus the
//! cross-references to §2.8, §2.9, §3.5 and §10.1 noted next to each row). It deliberately does NOT share any code
//! with the production permission model: the permission tests compare the production code against this table, so a
//! mistake has to be made twice, independently, to go unnoticed.
//!
//! Each action is one row; the columns are the four default roles, in the same order as the spec tables. Unknown role
//! or action strings panic, because a typo in a test should fail loudly rather than silently read as "denied".
//!
//! Spec conflicts resolved here (see §2.3 "[CONFLICT]"):
//! - "Edit custom alerts": the role table (Owner only) wins over the Alerts page ("anyone with edit access").
//! - Project deletion/reset: the §2.2 table (project Owner only) wins over the Managing Projects page. At org level,
//!   "Delete projects" is org Owner only (§2.1); org Owners also get it in every project through the implied role.

const Y: bool = true;
const N: bool = false;

/// Every organization-level action known to the reference table.
pub const ORG_ACTIONS: &[&str] = &[
    "view_organization",
    "view_billing",
    "manage_billing",
    "create_projects",
    "delete_projects",
    "transfer_projects",
    "manage_teams",
    "manage_members",
    "manage_service_accounts",
    "modify_org_roles",
    "grant_org_owner",
    "manage_security",
    "view_org_audit_log",
    "delete_organization",
];

/// Every project-level action known to the reference table.
pub const PROJECT_ACTIONS: &[&str] = &[
    "view_reports",
    "save_reports",
    "share_entities",
    "download_reports",
    "create_alerts",
    "manage_all_alerts",
    "view_users",
    "export_users",
    "edit_cohorts",
    "export_cohorts",
    "create_boards",
    "create_board_subscriptions",
    "make_boards_public",
    "edit_custom_definitions",
    "create_annotations",
    "export_events",
    "edit_profiles",
    "edit_borrowed_properties",
    "upload_lookup_tables",
    "map_lookup_tables",
    "edit_lexicon",
    "merge_drop_data",
    "download_lexicon",
    "import_events",
    "mark_classified_data",
    "access_classified_data",
    "view_project_settings",
    "edit_project_settings",
    "view_access_keys",
    "view_usage",
    "manage_project_members",
    "manage_project_service_accounts",
    "manage_custom_roles",
    "view_project_audit_log",
    "manage_public_boards_feature",
    "manage_privacy_requests",
    "manage_project_security",
    "reset_project",
    "delete_project",
    "transfer_project",
];

/// One row of the §2.1 org table. Columns: [Owner, Admin, Billing Admin, Member].
fn org_row(action: &str) -> [bool; 4] {
    match action {
        // Row format: action => [Owner, Admin, Billing Admin, Member]
        // Not in the table: every org role can see the org, its project list and its members.
        "view_organization" => [Y, Y, Y, Y],
        // §2.1 "Manage billing plans" (Billing Admin: "manage plan, update billing info, view receipts").
        "view_billing" => [Y, N, Y, N],
        // §2.1 "Manage billing plans".
        "manage_billing" => [Y, N, Y, N],
        // §2.1 "Create projects".
        "create_projects" => [Y, Y, N, N],
        // §2.1 "Delete projects".
        "delete_projects" => [Y, N, N, N],
        // §2.1 "Transfer projects between orgs".
        "transfer_projects" => [Y, N, N, N],
        // §2.1 "Create/delete teams" (also §2.7).
        "manage_teams" => [Y, Y, N, N],
        // §2.1 "Add/invite/remove users (org and projects)".
        "manage_members" => [Y, Y, N, N],
        // §2.1 "Add/modify/remove service accounts (org and projects)".
        "manage_service_accounts" => [Y, Y, N, N],
        // §2.1 "Modify roles – org level" (§2.5: only up to one's own level).
        "modify_org_roles" => [Y, Y, N, N],
        // §2.1 "Modify roles – make oneself Owner" (§2.5: org Admins cannot grant org Owner).
        "grant_org_owner" => [Y, N, N, N],
        // §2.1 "Modify 2FA and SSO".
        "manage_security" => [Y, Y, N, N],
        // §10.1 "org log (org Owners/Admins)".
        "view_org_audit_log" => [Y, Y, N, N],
        // §2.1 "Request org deletion".
        "delete_organization" => [Y, N, N, N],
        other => panic!("reference: unknown org action {other:?} (known: {ORG_ACTIONS:?})"),
    }
}

/// One row of the §2.2/§2.3 project tables. Columns: [Owner, Admin, Analyst, Consumer].
fn project_row(action: &str) -> [bool; 4] {
    match action {
        // Row format: action => [Owner, Admin, Analyst, Consumer]
        // §2.3 "Create/view Insights, Flows, Funnels, Retention".
        "view_reports" => [Y, Y, Y, Y],
        // §2.3 same row: every role can create/save reports (Consumer to its own boards, per role notes).
        "save_reports" => [Y, Y, Y, Y],
        // §2.3 role notes: Analyst "can ... share reports and boards"; Consumer "cannot change those items' sharing".
        "share_entities" => [Y, Y, Y, N],
        // §2.3 "Download reports (CSV)".
        "download_reports" => [Y, Y, Y, N],
        // §2.3 "Create custom alerts".
        "create_alerts" => [Y, Y, Y, N],
        // §2.3 "Edit custom alerts" (role-table value; see [CONFLICT] in the module docs).
        "manage_all_alerts" => [Y, N, N, N],
        // §2.3 "View Users report".
        "view_users" => [Y, Y, Y, Y],
        // §2.3 "Export Users report".
        "export_users" => [Y, Y, Y, N],
        // §2.3 "Create/edit cohorts".
        "edit_cohorts" => [Y, Y, Y, Y],
        // §2.3 "Export cohorts".
        "export_cohorts" => [Y, Y, Y, N],
        // §2.3 "Create and view boards".
        "create_boards" => [Y, Y, Y, Y],
        // §2.3 "Create board subscriptions".
        "create_board_subscriptions" => [Y, Y, Y, N],
        // §2.3 "Make a board public" (all roles except Consumer).
        "make_boards_public" => [Y, Y, Y, N],
        // §2.3 "Create/edit custom events, saved behaviors, saved formulas, custom properties" (Consumer: own only).
        "edit_custom_definitions" => [Y, Y, Y, Y],
        // §2.3 "Create annotations" (Analyst and above).
        "create_annotations" => [Y, Y, Y, N],
        // Raw event export: treated like the other §2.3 exports (Owner, Admin, Analyst).
        "export_events" => [Y, Y, Y, N],
        // §2.3 "Create/edit user profiles; delete user profiles".
        "edit_profiles" => [Y, Y, N, N],
        // §2.3 "Create/edit borrowed properties".
        "edit_borrowed_properties" => [Y, Y, N, N],
        // §2.3 "Upload lookup table".
        "upload_lookup_tables" => [Y, Y, Y, Y],
        // §2.3 "Map property to lookup table (Lexicon)".
        "map_lookup_tables" => [Y, Y, N, N],
        // §2.3 "Hide data, edit descriptions, add tags (Lexicon)".
        "edit_lexicon" => [Y, Y, N, N],
        // §2.3 "Merge data; drop/block data (Lexicon)".
        "merge_drop_data" => [Y, N, N, N],
        // §2.3 "Download Lexicon CSV".
        "download_lexicon" => [Y, Y, Y, N],
        // §3.5 "/import": service account with an Owner/Admin role.
        "import_events" => [Y, Y, N, N],
        // §2.9 "Mark Classified Data": only through a custom role, no default role has it.
        "mark_classified_data" => [N, N, N, N],
        // §2.9 "No default role, Owner and Admin included, can view classified data."
        "access_classified_data" => [N, N, N, N],
        // §2.2 "Time-period settings": view for Analyst/Consumer, so every role can view settings.
        "view_project_settings" => [Y, Y, Y, Y],
        // §2.2 "Edit project name" / "Edit project timezone" / "Time-period settings" (edit).
        "edit_project_settings" => [Y, Y, N, N],
        // §2.2 "View access keys (token/secret)".
        "view_access_keys" => [Y, Y, N, N],
        // §2.2 "View usage statistics".
        "view_usage" => [Y, Y, N, N],
        // §2.2 "Invite project users" / "Change project users' roles" / "Approve access requests".
        "manage_project_members" => [Y, Y, N, N],
        // §2.2 "Create service accounts".
        "manage_project_service_accounts" => [Y, Y, N, N],
        // §2.8 custom roles "are created and managed by project Owners/Admins".
        "manage_custom_roles" => [Y, Y, N, N],
        // §10.1 "project log (project Owners/Admins ...)".
        "view_project_audit_log" => [Y, Y, N, N],
        // §2.3 "Enable/disable the Public Boards feature for a project" (project Owner only).
        "manage_public_boards_feature" => [Y, N, N, N],
        // §2.3 "GDPR export/deletion requests | org Owners/Admins"; §10.4 project Owners and Admins.
        "manage_privacy_requests" => [Y, Y, N, N],
        // §2.3 role notes: project Admin "cannot ... manage its security".
        "manage_project_security" => [Y, N, N, N],
        // §2.2 "Transfer / reset / delete project".
        "reset_project" => [Y, N, N, N],
        // §2.2 "Transfer / reset / delete project".
        "delete_project" => [Y, N, N, N],
        // §2.2 "Transfer / reset / delete project".
        "transfer_project" => [Y, N, N, N],
        other => panic!("reference: unknown project action {other:?} (known: {PROJECT_ACTIONS:?})"),
    }
}

/// Whether an organization role (one of "owner", "admin", "billing_admin", "member") may perform an org action.
pub fn org_allows(org_role: &str, action: &str) -> bool {
    let column = match org_role {
        "owner" => 0,
        "admin" => 1,
        "billing_admin" => 2,
        "member" => 3,
        other => panic!("reference: unknown org role {other:?} (expected owner, admin, billing_admin or member)"),
    };
    org_row(action)[column]
}

/// Whether a single default project role ("owner", "admin", "analyst", "consumer") allows a project action.
pub fn project_role_allows(project_role: &str, action: &str) -> bool {
    let column = match project_role {
        "owner" => 0,
        "admin" => 1,
        "analyst" => 2,
        "consumer" => 3,
        other => panic!("reference: unknown project role {other:?} (expected owner, admin, analyst or consumer)"),
    };
    project_row(action)[column]
}

/// The project role that an org role implies in every project of the org
/// ("owner" -> Some("owner"), "admin" -> Some("admin"), others None). Spec §2.1: "Org Owner → project Owner rights,
/// Org Admin → project Admin rights" (grant type "Organization Role", §2.4).
pub fn implied_project_role(org_role: &str) -> Option<&'static str> {
    match org_role {
        "owner" => Some("owner"),
        "admin" => Some("admin"),
        "billing_admin" | "member" => None,
        other => panic!("reference: unknown org role {other:?} (expected owner, admin, billing_admin or member)"),
    }
}

// Self-checks of the reference table itself (they also keep every item above "used" in the test binary).

#[test]
fn reference_action_lists_are_complete_and_unique() {
    for (name, list) in [("ORG_ACTIONS", ORG_ACTIONS), ("PROJECT_ACTIONS", PROJECT_ACTIONS)] {
        let mut sorted = list.to_vec();
        sorted.sort_unstable();
        sorted.dedup();
        assert_eq!(sorted.len(), list.len(), "{name} contains a duplicate action");
    }
    for action in ORG_ACTIONS {
        for role in ["owner", "admin", "billing_admin", "member"] {
            let _ = org_allows(role, action);
        }
        // The org Owner has every org right in the §2.1 table.
        assert!(org_allows("owner", action), "org owner should be allowed {action}");
    }
    for action in PROJECT_ACTIONS {
        let row: Vec<bool> =
            ["owner", "admin", "analyst", "consumer"].iter().map(|role| project_role_allows(role, action)).collect();
        // Default project roles are strictly ordered: each role can do at most what the role above it can do.
        for pair in row.windows(2) {
            assert!(pair[0] || !pair[1], "{action}: a lower role has a right the higher role lacks: {row:?}");
        }
    }
}

#[test]
fn reference_implied_roles_are_known_project_roles() {
    for org_role in ["owner", "admin", "billing_admin", "member"] {
        if let Some(project_role) = implied_project_role(org_role) {
            let _ = project_role_allows(project_role, "view_reports");
        }
    }
    assert_eq!(implied_project_role("owner"), Some("owner"));
    assert_eq!(implied_project_role("admin"), Some("admin"));
    assert_eq!(implied_project_role("member"), None);
}

#[test]
#[should_panic(expected = "unknown org role")]
fn reference_unknown_org_role_panics() {
    org_allows("superuser", "view_organization");
}

#[test]
#[should_panic(expected = "unknown project action")]
fn reference_unknown_project_action_panics() {
    project_role_allows("owner", "fly_to_the_moon");
}
