//! The route table: every endpoint, what it requires, and its handler. Routes are added
//! only through [`Routes`](crate::access::Routes), so each one is in the inventory that
//! `/api/openapi.json` publishes and the tests walk.

pub(crate) mod app;

/// Rows as CSV bytes (a CSV answer's body).
pub(crate) fn csv_bytes<R, F>(rows: impl IntoIterator<Item = R>) -> Result<Vec<u8>, csv::Error>
where
    R: IntoIterator<Item = F>,
    F: AsRef<[u8]>,
{
    let mut writer = csv::Writer::from_writer(Vec::new());
    for row in rows {
        writer.write_record(row)?;
    }
    writer.into_inner().map_err(|error| csv::Error::from(error.into_error()))
}
mod health;
pub(crate) mod ingest;
mod links;
mod me;
mod openapi;
mod public;
mod query_api;
mod scim;
mod setup;
mod sso;
pub(crate) mod web;

use axum::Router;
use axum::http::Method;
use tally_types::{OrgPermission as O, ProjectPermission as P};

use crate::access::{Requirement, RouteSpec, Routes};
use crate::{ApiError, AppState};

const GET: Method = Method::GET;
const POST: Method = Method::POST;
const PUT: Method = Method::PUT;
const PATCH: Method = Method::PATCH;
const DELETE: Method = Method::DELETE;
const OPTIONS: Method = Method::OPTIONS;

use Requirement::{Authenticated, Org, Project, ProjectKey, ProjectOrgMember, Public, ScimToken};

#[rustfmt::skip] // one route a line reads as a table
pub(crate) fn build() -> (Router<AppState>, Vec<RouteSpec>) {
    let (router, inventory) = Routes::new()
        // Operations.
        .add(GET, "/healthz", Public, "liveness", health::healthz)
        .add(GET, "/readyz", Public, "readiness of the stores", health::readyz)
        .add(GET, "/metrics", Public, "Prometheus metrics", health::metrics)
        .add(GET, "/api/public/boards/{token}", Public, "a public board: its cards and saved reports (passcode in X-Tally-Passcode)", public::board)
        .add(GET, "/api/public/boards/{token}/reports/{bookmark_id}", Public, "one report of a public board, answered as saved", public::report)
        .add(GET, "/api/openapi.json", Public, "this API's OpenAPI document", openapi::document)
        // Mixpanel's ingestion and raw export (credentials in the request: token, API secret
        // or service account).
        .add(GET, "/track", ProjectKey, "events from clients (GET, data=)", ingest::track)
        .add(POST, "/track", ProjectKey, "events from clients", ingest::track)
        .add(OPTIONS, "/track", Public, "CORS preflight", ingest::preflight)
        .add(POST, "/import", ProjectKey, "server-side and historical events", ingest::import)
        .add(GET, "/import", ProjectKey, "server-side events (GET, data=; the Node SDK's import)", ingest::import)
        .add(GET, "/api/2.0/export", ProjectKey, "raw events as JSON lines", ingest::export)
        .add(GET, "/engage", ProjectKey, "user profile updates (GET, data=)", ingest::engage)
        .add(POST, "/engage", ProjectKey, "user profile updates", ingest::engage)
        .add(OPTIONS, "/engage", Public, "CORS preflight", ingest::preflight)
        .add(GET, "/groups", ProjectKey, "group profile updates (GET, data=)", ingest::groups)
        .add(POST, "/groups", ProjectKey, "group profile updates", ingest::groups)
        .add(OPTIONS, "/groups", Public, "CORS preflight", ingest::preflight)
        .add(GET, "/api/2.0/engage", ProjectKey, "user profiles", ingest::query_profiles)
        .add(POST, "/api/2.0/engage", ProjectKey, "user profiles (form parameters)", ingest::query_profiles)
        // Mixpanel's Query API (the API secret, or a service account with project_id).
        .add(GET, "/api/query/segmentation", ProjectKey, "one event over time, segmented (Query API)", query_api::segmentation)
        .add(GET, "/api/query/segmentation/numeric", ProjectKey, "one event over time by numeric ranges (Query API)", query_api::segmentation_numeric)
        .add(GET, "/api/query/stream/query", ProjectKey, "the activity feed of some users (Query API)", query_api::stream_query)
        .add(GET, "/api/query/segmentation/sum", ProjectKey, "a numeric expression summed per date (Query API)", query_api::segmentation_sum)
        .add(GET, "/api/query/segmentation/average", ProjectKey, "a numeric expression averaged per date (Query API)", query_api::segmentation_average)
        .add(GET, "/api/query/insights", ProjectKey, "a saved Insights report (bookmark_id) (Query API)", query_api::saved_insights)
        .add(POST, "/api/query/cohorts/list", ProjectKey, "the shared cohorts (Query API)", query_api::cohorts_list)
        .add(GET, "/api/query/funnels/list", ProjectKey, "the saved funnels (Query API)", query_api::funnels_list)
        .add(GET, "/api/query/funnels", ProjectKey, "an ad-hoc funnel per date (Query API)", query_api::funnels)
        .add(GET, "/api/query/retention", ProjectKey, "birth retention by cohort (Query API)", query_api::retention)
        .add(GET, "/api/query/events/names", ProjectKey, "event names, most frequent first (Query API)", query_api::event_names)
        .add(GET, "/api/query/events", ProjectKey, "several events over time (Query API)", query_api::events)
        .add(GET, "/api/query/events/top", ProjectKey, "today's most frequent events, with the change since yesterday (Query API)", query_api::events_top)
        .add(GET, "/api/query/events/properties", ProjectKey, "one event over time by a property's values (Query API)", query_api::events_properties)
        .add(GET, "/api/query/events/properties/top", ProjectKey, "an event's most frequent properties (Query API)", query_api::events_properties_top)
        .add(GET, "/api/query/events/properties/values", ProjectKey, "a property's most frequent values (Query API)", query_api::events_properties_values)
        .add(GET, "/api/2.0/segmentation", ProjectKey, "one event over time, segmented (Query API)", query_api::segmentation)
        .add(GET, "/api/2.0/segmentation/numeric", ProjectKey, "one event over time by numeric ranges (Query API)", query_api::segmentation_numeric)
        .add(GET, "/api/2.0/stream/query", ProjectKey, "the activity feed of some users (Query API)", query_api::stream_query)
        .add(GET, "/api/2.0/segmentation/sum", ProjectKey, "a numeric expression summed per date (Query API)", query_api::segmentation_sum)
        .add(GET, "/api/2.0/segmentation/average", ProjectKey, "a numeric expression averaged per date (Query API)", query_api::segmentation_average)
        .add(GET, "/api/2.0/insights", ProjectKey, "a saved Insights report (bookmark_id) (Query API)", query_api::saved_insights)
        .add(POST, "/api/2.0/cohorts/list", ProjectKey, "the shared cohorts (Query API)", query_api::cohorts_list)
        .add(GET, "/api/2.0/funnels/list", ProjectKey, "the saved funnels (Query API)", query_api::funnels_list)
        .add(GET, "/api/2.0/funnels", ProjectKey, "an ad-hoc funnel per date (Query API)", query_api::funnels)
        .add(GET, "/api/2.0/retention", ProjectKey, "birth retention by cohort (Query API)", query_api::retention)
        .add(GET, "/api/2.0/events/names", ProjectKey, "event names, most frequent first (Query API)", query_api::event_names)
        .add(GET, "/api/2.0/events", ProjectKey, "several events over time (Query API)", query_api::events)
        .add(GET, "/api/2.0/events/top", ProjectKey, "today's most frequent events, with the change since yesterday (Query API)", query_api::events_top)
        .add(GET, "/api/2.0/events/properties", ProjectKey, "one event over time by a property's values (Query API)", query_api::events_properties)
        .add(GET, "/api/2.0/events/properties/top", ProjectKey, "an event's most frequent properties (Query API)", query_api::events_properties_top)
        .add(GET, "/api/2.0/events/properties/values", ProjectKey, "a property's most frequent values (Query API)", query_api::events_properties_values)
        // mixpanel-browser spells the ingestion paths with a trailing slash.
        .add(GET, "/track/", ProjectKey, "/track as mixpanel-browser spells it", ingest::track)
        .add(POST, "/track/", ProjectKey, "/track as mixpanel-browser spells it", ingest::track)
        .add(OPTIONS, "/track/", Public, "CORS preflight", ingest::preflight)
        .add(GET, "/engage/", ProjectKey, "/engage as mixpanel-browser spells it", ingest::engage)
        .add(POST, "/engage/", ProjectKey, "/engage as mixpanel-browser spells it", ingest::engage)
        .add(OPTIONS, "/engage/", Public, "CORS preflight", ingest::preflight)
        .add(GET, "/groups/", ProjectKey, "/groups as mixpanel-browser spells it", ingest::groups)
        .add(POST, "/groups/", ProjectKey, "/groups as mixpanel-browser spells it", ingest::groups)
        .add(OPTIONS, "/groups/", Public, "CORS preflight", ingest::preflight)
        .add(POST, "/import/", ProjectKey, "/import with a trailing slash", ingest::import)
        .add(GET, "/import/", ProjectKey, "/import with a trailing slash (GET, data=)", ingest::import)
        // The web app: each screen's URL answers with the app (it asks the API who is
        // signed in), and its assets.
        .add(GET, "/", Public, "the web app: home", web::app)
        .add(GET, "/sign-in", Public, "the web app: sign-in (routes by e-mail domain to SSO)", web::app)
        .add(GET, "/setup", Public, "the web app: setup form of an empty instance (404 once the link is used)", setup::screen)
        .add(GET, "/invitations/accept", Public, "the web app: accept an invitation", web::app)
        .add(GET, "/account", Public, "the web app: your account", web::app)
        .add(GET, "/organizations/{*screen}", Public, "the web app: organization settings", web::app)
        .add(GET, "/projects/{*screen}", Public, "the web app: a project's reports and settings", web::app)
        .add(GET, "/public/boards/{token}", Public, "the web app: a public board, signed out", web::app)
        .add(GET, "/assets/{*file}", Public, "the web app's scripts and styles", web::asset)
        .add(POST, "/setup", Public, "complete setup (form)", setup::submit_form)
        .add(GET, "/api/app/invitations/lookup", Public, "the organization and address an invitation link is for", app::invitations::lookup)
        // Sign-in and self.
        .add(GET, "/api/app/setup", Public, "whether a setup link is live", setup::check)
        .add(POST, "/api/app/setup", Public, "complete setup (JSON)", setup::submit_json)
        .add(GET, "/magic-link", Public, "the web app: an e-mailed sign-in link (404 once used)", links::magic_link)
        .add(GET, "/password-reset", Public, "the web app: an e-mailed password-reset link (404 once used)", links::password_reset)
        .add(GET, "/api/app/sso/discover", Public, "whether an e-mail signs in with SSO", sso::discover)
        .add(GET, "/sso/start", Public, "go to the organization's identity provider", sso::start)
        .add(GET, "/sso/oidc/callback", Public, "the identity provider's answer", sso::oidc_callback)
        .add(GET, "/sso/saml/{org_id}/metadata", Public, "the organization's SAML service-provider metadata", sso::saml_metadata)
        .add(GET, "/sso/saml/{org_id}/start", Public, "SAML sign-in at the organization's identity provider", sso::saml_start)
        .add(POST, "/sso/saml/{org_id}/acs", Public, "the SAML identity provider's answer (HTTP-POST)", sso::saml_acs)
        .add(GET, "/sso/link", Public, "link a single sign-on identity to the existing account it names", sso::link_page)
        .add(POST, "/sso/link", Public, "link: the named account's password", sso::link_password)
        .add(POST, "/sso/link/second-factor", Public, "link: the named account's second factor", sso::link_second_factor)
        .add(POST, "/api/app/sessions", Public, "sign in with e-mail and password", app::sessions::sign_in)
        .add(POST, "/api/app/sessions/second-factor", Public, "complete sign-in with a code or recovery code", app::sessions::second_factor)
        .add(POST, "/api/app/sessions/second-factor/resend", Public, "send another SMS code", app::sessions::resend)
        .add(POST, "/api/app/sessions/enroll/totp", Public, "enroll an authenticator app during sign-in", app::sessions::enroll_totp)
        .add(POST, "/api/app/sessions/enroll/sms", Public, "enroll a phone number during sign-in", app::sessions::enroll_sms)
        .add(POST, "/api/app/sessions/enroll/confirm", Public, "confirm the enrollment and sign in", app::sessions::enroll_confirm)
        .add(DELETE, "/api/app/sessions/current", Authenticated, "sign out", app::sessions::sign_out)
        .add(POST, "/api/app/magic-link", Public, "e-mail a sign-in link", app::sessions::request_magic_link)
        .add(POST, "/api/app/magic-link/consume", Public, "sign in with an e-mailed link", app::sessions::consume_magic_link)
        .add(POST, "/api/app/password-reset", Public, "e-mail a password-reset link", app::sessions::request_reset)
        .add(POST, "/api/app/password-reset/confirm", Public, "set a new password from a reset link", app::sessions::confirm_reset)
        .add(GET, "/api/app/me/sessions", Authenticated, "your sessions", app::sessions::list)
        .add(DELETE, "/api/app/me/sessions/{session_id}", Authenticated, "end one of your sessions", app::sessions::revoke)
        .add(PUT, "/api/app/me/password", Authenticated, "change your password", app::sessions::change_password)
        .add(GET, "/api/app/me/two-factor", Authenticated, "your second factor", app::twofactor::status)
        .add(POST, "/api/app/me/two-factor/totp", Authenticated, "start enrolling an authenticator app", app::twofactor::start_totp)
        .add(POST, "/api/app/me/two-factor/sms", Authenticated, "start enrolling a phone number", app::twofactor::start_sms)
        .add(POST, "/api/app/me/two-factor/confirm", Authenticated, "confirm the enrollment with a first code", app::twofactor::confirm)
        .add(DELETE, "/api/app/me/two-factor", Authenticated, "turn your second factor off", app::twofactor::disable)
        .add(POST, "/api/app/me/two-factor/recovery-codes", Authenticated, "new recovery codes", app::twofactor::recovery_codes)
        .add(POST, "/api/app/me/two-factor/step-up-sms", Authenticated, "send an SMS code to confirm a sensitive change", app::twofactor::step_up_sms)
        .add(GET, "/api/app/me", Authenticated, "who the caller is and what it may access", me::me)
        .add(GET, "/api/app/permissions", Authenticated, "every permission a role may hold, by name", me::permissions)
        .add(POST, "/api/app/invitations/accept", Public, "accept an invitation", app::invitations::accept)
        // Organizations.
        .add(GET, "/api/app/organizations/{org_id}", Org(O::ViewOrganization), "organization", app::orgs::get)
        .add(DELETE, "/api/app/organizations/{org_id}", Org(O::DeleteOrganization), "delete the organization", app::orgs::delete)
        .add(GET, "/api/app/organizations/{org_id}/members", Org(O::ViewOrganization), "members and their roles", app::orgs::members)
        .add(PUT, "/api/app/organizations/{org_id}/members/{user_id}", Org(O::ModifyOrgRoles), "change a member's organization role", app::orgs::set_member_role)
        .add(DELETE, "/api/app/organizations/{org_id}/members/{user_id}", Org(O::ManageMembers), "remove a member", app::orgs::remove_member)
        .add(GET, "/api/app/organizations/{org_id}/projects", Org(O::ViewOrganization), "projects and the caller's access", app::orgs::projects)
        .add(POST, "/api/app/organizations/{org_id}/projects", Org(O::CreateProjects), "create a project", app::orgs::create_project)
        .add(GET, "/api/app/organizations/{org_id}/billing", Org(O::ViewBilling), "plan and usage", app::orgs::billing)
        .add(PUT, "/api/app/organizations/{org_id}/billing", Org(O::ManageBilling), "change the plan", app::orgs::set_billing)
        .add(GET, "/api/app/organizations/{org_id}/security", Org(O::ViewOrganization), "whether a second factor is required", app::twofactor::org_security)
        .add(PUT, "/api/app/organizations/{org_id}/security", Org(O::ManageSecurity), "require a second factor (password re-entry)", app::twofactor::set_org_security)
        .add(GET, "/api/app/organizations/{org_id}/sso", Org(O::ManageSecurity), "single sign-on settings", app::sso::connection)
        .add(PUT, "/api/app/organizations/{org_id}/sso/oidc", Org(O::ManageSecurity), "set up OIDC single sign-on (password re-entry)", app::sso::configure_oidc)
        .add(PUT, "/api/app/organizations/{org_id}/sso/saml", Org(O::ManageSecurity), "set up SAML single sign-on (password re-entry)", app::sso::configure_saml)
        .add(GET, "/api/app/organizations/{org_id}/domains", Org(O::ManageSecurity), "claimed domains", app::sso::domains)
        .add(POST, "/api/app/organizations/{org_id}/domains", Org(O::ManageSecurity), "claim a domain (password re-entry)", app::sso::claim)
        .add(POST, "/api/app/organizations/{org_id}/domains/{domain_id}/verify", Org(O::ManageSecurity), "check the domain's DNS record now", app::sso::verify)
        .add(DELETE, "/api/app/organizations/{org_id}/domains/{domain_id}", Org(O::ManageSecurity), "give up a domain", app::sso::remove)
        .add(POST, "/api/app/organizations/{org_id}/scim-token", Org(O::ManageSecurity), "a new SCIM token, shown once (password re-entry)", scim::issue_token)
        // SCIM 2.0 for identity providers (the organization's SCIM token).
        .add(GET, "/api/app/scim/v2/{resource}", ScimToken, "SCIM: list Users or Groups (filter eq/and)", scim::list)
        .add(POST, "/api/app/scim/v2/{resource}", ScimToken, "SCIM: provision a User or a Group (a team)", scim::create)
        .add(PUT, "/api/app/scim/v2/{resource}", ScimToken, "SCIM: not a resource (404)", scim::unknown)
        .add(PATCH, "/api/app/scim/v2/{resource}", ScimToken, "SCIM: not a resource (404)", scim::unknown)
        .add(DELETE, "/api/app/scim/v2/{resource}", ScimToken, "SCIM: not a resource (404)", scim::unknown)
        .add(GET, "/api/app/scim/v2/{resource}/{id}", ScimToken, "SCIM: a User or Group", scim::get)
        .add(PUT, "/api/app/scim/v2/{resource}/{id}", ScimToken, "SCIM: replace a User or Group", scim::replace)
        .add(PATCH, "/api/app/scim/v2/{resource}/{id}", ScimToken, "SCIM: change a User or Group", scim::patch)
        .add(DELETE, "/api/app/scim/v2/{resource}/{id}", ScimToken, "SCIM: remove a User or Group", scim::delete)
        .add(POST, "/api/app/scim/v2/{resource}/{id}", ScimToken, "SCIM: search with a SearchRequest body (.search)", scim::search)
        .add(GET, "/api/app/scim/v2/ServiceProviderConfig", ScimToken, "SCIM: what this service supports", scim::service_provider_config)
        .add(GET, "/api/app/scim/v2/ResourceTypes", ScimToken, "SCIM: resource types", scim::resource_types)
        .add(GET, "/api/app/scim/v2/ResourceTypes/{id}", ScimToken, "SCIM: a resource type", scim::resource_type)
        .add(GET, "/api/app/scim/v2/Schemas", ScimToken, "SCIM: schemas", scim::schemas)
        .add(GET, "/api/app/scim/v2/Schemas/{id}", ScimToken, "SCIM: a schema", scim::schema)
        .add(POST, "/api/app/scim/v2/ServiceProviderConfig", ScimToken, "SCIM: read-only (405)", scim::read_only)
        .add(PUT, "/api/app/scim/v2/ServiceProviderConfig", ScimToken, "SCIM: read-only (405)", scim::read_only)
        .add(PATCH, "/api/app/scim/v2/ServiceProviderConfig", ScimToken, "SCIM: read-only (405)", scim::read_only)
        .add(DELETE, "/api/app/scim/v2/ServiceProviderConfig", ScimToken, "SCIM: read-only (405)", scim::read_only)
        .add(POST, "/api/app/scim/v2/ResourceTypes", ScimToken, "SCIM: read-only (405)", scim::read_only)
        .add(PUT, "/api/app/scim/v2/ResourceTypes", ScimToken, "SCIM: read-only (405)", scim::read_only)
        .add(PATCH, "/api/app/scim/v2/ResourceTypes", ScimToken, "SCIM: read-only (405)", scim::read_only)
        .add(DELETE, "/api/app/scim/v2/ResourceTypes", ScimToken, "SCIM: read-only (405)", scim::read_only)
        .add(POST, "/api/app/scim/v2/Schemas", ScimToken, "SCIM: read-only (405)", scim::read_only)
        .add(PUT, "/api/app/scim/v2/Schemas", ScimToken, "SCIM: read-only (405)", scim::read_only)
        .add(PATCH, "/api/app/scim/v2/Schemas", ScimToken, "SCIM: read-only (405)", scim::read_only)
        .add(DELETE, "/api/app/scim/v2/Schemas", ScimToken, "SCIM: read-only (405)", scim::read_only)
        .add(DELETE, "/api/app/organizations/{org_id}/members/{user_id}/two-factor", Org(O::ManageSecurity), "reset a member's second factor", app::twofactor::reset_member)
        .add(GET, "/api/app/organizations/{org_id}/audit-log", Org(O::ViewAuditLog), "organization audit log (json, csv, ndjson)", app::audit::org_log)
        // Teams.
        .add(GET, "/api/app/organizations/{org_id}/teams", Org(O::ViewOrganization), "teams", app::teams::list)
        .add(POST, "/api/app/organizations/{org_id}/teams", Org(O::ManageTeams), "create a team", app::teams::create)
        .add(GET, "/api/app/organizations/{org_id}/teams/{team_id}", Org(O::ViewOrganization), "a team with members and projects", app::teams::get)
        .add(PATCH, "/api/app/organizations/{org_id}/teams/{team_id}", Org(O::ManageTeams), "rename a team", app::teams::rename)
        .add(DELETE, "/api/app/organizations/{org_id}/teams/{team_id}", Org(O::ManageTeams), "delete a team", app::teams::delete)
        .add(POST, "/api/app/organizations/{org_id}/teams/{team_id}/members", Org(O::ManageTeams), "add a user or service account", app::teams::add_member)
        .add(DELETE, "/api/app/organizations/{org_id}/teams/{team_id}/members/users/{user_id}", Org(O::ManageTeams), "remove a user", app::teams::remove_user)
        .add(DELETE, "/api/app/organizations/{org_id}/teams/{team_id}/members/service-accounts/{service_account_id}", Org(O::ManageTeams), "remove a service account", app::teams::remove_service_account)
        .add(PUT, "/api/app/organizations/{org_id}/teams/{team_id}/projects/{project_id}", Org(O::ManageTeams), "give the team a project role", app::teams::set_project)
        .add(DELETE, "/api/app/organizations/{org_id}/teams/{team_id}/projects/{project_id}", Org(O::ManageTeams), "take a project from the team", app::teams::remove_project)
        // Invitations.
        .add(GET, "/api/app/organizations/{org_id}/invitations", Org(O::ManageMembers), "open invitations", app::invitations::list)
        .add(POST, "/api/app/organizations/{org_id}/invitations", Org(O::ManageMembers), "invite one or several people", app::invitations::invite)
        .add(POST, "/api/app/organizations/{org_id}/invitations/csv", Org(O::ManageMembers), "invite from a CSV file", app::invitations::invite_csv)
        .add(POST, "/api/app/organizations/{org_id}/invitations/{invitation_id}/resend", Org(O::ManageMembers), "resend an invitation", app::invitations::resend)
        .add(POST, "/api/app/organizations/{org_id}/invitations/{invitation_id}/link", Org(O::ManageMembers), "a fresh invitation link to copy", app::invitations::link)
        .add(DELETE, "/api/app/organizations/{org_id}/invitations/{invitation_id}", Org(O::ManageMembers), "revoke an invitation", app::invitations::revoke)
        // Service accounts (Mixpanel's paths).
        .add(GET, "/api/app/organizations/{org_id}/service-accounts", Org(O::ManageServiceAccounts), "service accounts", app::service_accounts::list)
        .add(POST, "/api/app/organizations/{org_id}/service-accounts", Org(O::ManageServiceAccounts), "create a service account", app::service_accounts::create)
        .add(POST, "/api/app/organizations/{org_id}/service-accounts/add-to-project", Org(O::ManageServiceAccounts), "add service accounts to projects", app::service_accounts::add_to_project)
        .add(POST, "/api/app/organizations/{org_id}/service-accounts/remove-from-project", Org(O::ManageServiceAccounts), "remove service accounts from projects", app::service_accounts::remove_from_project)
        .add(GET, "/api/app/organizations/{org_id}/service-accounts/{service_account_id}", Org(O::ManageServiceAccounts), "a service account", app::service_accounts::get)
        .add(DELETE, "/api/app/organizations/{org_id}/service-accounts/{service_account_id}", Org(O::ManageServiceAccounts), "delete a service account", app::service_accounts::delete)
        // Projects.
        .add(GET, "/api/app/projects/{project_id}", Project(P::ViewProjectSettings), "project settings", app::projects::get)
        .add(PATCH, "/api/app/projects/{project_id}", Project(P::EditProjectSettings), "rename or change the timezone", app::projects::update)
        .add(DELETE, "/api/app/projects/{project_id}", Project(P::DeleteProject), "delete the project", app::projects::delete)
        .add(POST, "/api/app/projects/{project_id}/reset", Project(P::ResetProject), "start over with no data", app::projects::reset)
        .add(POST, "/api/app/projects/{project_id}/transfer", Project(P::TransferProject), "move to another organization", app::projects::transfer)
        .add(GET, "/api/app/projects/{project_id}/keys", Project(P::ViewAccessKeys), "project token and API secret", app::projects::keys)
        .add(POST, "/api/app/projects/{project_id}/keys/rotate", Project(P::ManageProjectSecurity), "a new API secret", app::projects::rotate_secret)
        .add(GET, "/api/app/projects/{project_id}/usage", Project(P::ViewUsage), "events per month", app::projects::usage)
        .add(GET, "/api/app/projects/{project_id}/lexicon", Project(P::ViewReports), "every event and property seen, with types, counts, first and last seen", app::projects::lexicon)
        .add(GET, "/api/app/projects/{project_id}/lexicon/export", Project(P::DownloadLexicon), "the Lexicon as CSV", app::projects::lexicon_csv)
        .add(PATCH, "/api/app/projects/{project_id}/lexicon/events/{event_name}", Project(P::EditLexicon), "an event's display name, description, tags, hidden", app::projects::edit_event)
        .add(PUT, "/api/app/projects/{project_id}/lexicon/events/{event_name}/dropped", Project(P::MergeDropData), "drop an event: its new data is not stored", app::projects::drop_event)
        .add(PATCH, "/api/app/projects/{project_id}/lexicon/properties/{property_name}", Project(P::EditLexicon), "a property's display name, description, tags, hidden", app::projects::edit_property)
        .add(PUT, "/api/app/projects/{project_id}/lexicon/events/{event_name}/merged", Project(P::MergeDropData), "merge an event into another in every query (raw data unchanged)", app::projects::merge_event)
        .add(PUT, "/api/app/projects/{project_id}/lexicon/properties/{property_name}/merged", Project(P::MergeDropData), "merge an event property into another in every query", app::projects::merge_property)
        .add(POST, "/api/app/projects/{project_id}/lexicon/import", Project(P::EditLexicon), "import the Lexicon from CSV (replace=true clears other entries' edits)", app::projects::import_lexicon)
        .add(GET, "/api/app/projects/{project_id}/schemas", Project(P::ViewReports), "every Lexicon schema (Mixpanel's Lexicon Schemas API)", app::projects::schemas)
        .add(POST, "/api/app/projects/{project_id}/schemas", Project(P::EditLexicon), "save Lexicon schemas (truncate replaces an entity type's)", app::projects::create_schemas)
        .add(DELETE, "/api/app/projects/{project_id}/schemas", Project(P::EditLexicon), "delete every Lexicon schema", app::projects::delete_all_schemas)
        .add(GET, "/api/app/projects/{project_id}/schemas/{entity_type}", Project(P::ViewReports), "the schemas of events or profiles (entity_name narrows)", app::projects::schemas_of_type)
        .add(DELETE, "/api/app/projects/{project_id}/schemas/{entity_type}", Project(P::EditLexicon), "delete the schemas of events or profiles (entity_name narrows)", app::projects::delete_schemas_of_type)
        .add(GET, "/api/app/projects/{project_id}/schemas/{entity_type}/{entity_name}", Project(P::ViewReports), "one schema", app::projects::schema)
        .add(POST, "/api/app/projects/{project_id}/schemas/{entity_type}/{entity_name}", Project(P::EditLexicon), "save one schema", app::projects::put_schema)
        .add(DELETE, "/api/app/projects/{project_id}/schemas/{entity_type}/{entity_name}", Project(P::EditLexicon), "delete one schema", app::projects::delete_schema)
        .add(PUT, "/api/app/projects/{project_id}/lexicon/properties/{property_name}/classified", Project(P::MarkClassifiedData), "mark a property classified: its values hidden from those without classified data access", app::data_views::set_classified)
        .add(GET, "/api/app/projects/{project_id}/alerts", Project(P::ViewReports), "the caller's alerts (all of them with manage_all_alerts)", app::alerts::list)
        .add(POST, "/api/app/projects/{project_id}/alerts", Project(P::CreateAlerts), "an alert on a saved Insights or Funnels report", app::alerts::create)
        .add(GET, "/api/app/projects/{project_id}/alerts/{alert_id}", Project(P::ViewReports), "an alert, and whether its report still fits it", app::alerts::get)
        .add(PATCH, "/api/app/projects/{project_id}/alerts/{alert_id}", Project(P::CreateAlerts), "change an alert (its creator, or manage_all_alerts)", app::alerts::update)
        .add(DELETE, "/api/app/projects/{project_id}/alerts/{alert_id}", Project(P::CreateAlerts), "delete an alert (its creator, or manage_all_alerts)", app::alerts::delete)
        .add(POST, "/api/app/projects/{project_id}/alerts/{alert_id}/test", Project(P::CreateAlerts), "send a test alert now", app::alerts::test)
        .add(GET, "/api/app/projects/{project_id}/alerts/{alert_id}/history", Project(P::ViewReports), "an alert's checks and deliveries, newest first", app::alerts::history)
        .add(GET, "/api/app/projects/{project_id}/privacy-requests", Project(P::ManagePrivacyRequests), "the project's GDPR and CCPA requests, newest first", app::privacy::list)
        .add(POST, "/api/app/projects/{project_id}/data-deletions", Project(P::ManagePrivacyRequests), "delete some users' events and profiles everywhere (GDPR/CCPA, v3 shape)", app::privacy::create_deletion)
        .add(GET, "/api/app/projects/{project_id}/data-deletions/{tracking_id}", Project(P::ManagePrivacyRequests), "a deletion request and where it stands", app::privacy::deletion)
        .add(DELETE, "/api/app/projects/{project_id}/data-deletions/{tracking_id}", Project(P::ManagePrivacyRequests), "cancel a deletion that has not started", app::privacy::cancel_deletion)
        .add(POST, "/api/app/projects/{project_id}/data-retrievals", Project(P::ManagePrivacyRequests), "retrieve everything stored of some users (GDPR/CCPA, v3 shape)", app::privacy::create_retrieval)
        .add(GET, "/api/app/projects/{project_id}/data-retrievals/{tracking_id}", Project(P::ManagePrivacyRequests), "a retrieval request, with its download address once done", app::privacy::retrieval)
        .add(GET, "/api/app/projects/{project_id}/data-retrievals/{tracking_id}/download", Project(P::ManagePrivacyRequests), "a finished retrieval's document", app::privacy::download)
        .add(GET, "/api/app/projects/{project_id}/data-views", Project(P::ViewReports), "the data views the caller may open (id 0: All Project Data)", app::data_views::list)
        .add(POST, "/api/app/projects/{project_id}/data-views", Project(P::EditProjectSettings), "make a data view (filters on events, their properties and user profiles)", app::data_views::create)
        .add(PATCH, "/api/app/projects/{project_id}/data-views/{view_id}", Project(P::EditProjectSettings), "change a data view", app::data_views::update)
        .add(DELETE, "/api/app/projects/{project_id}/data-views/{view_id}", Project(P::EditProjectSettings), "delete a data view (and the public links made in it)", app::data_views::delete)
        .add(PUT, "/api/app/projects/{project_id}/data-views/{view_id}/members", Project(P::EditProjectSettings), "set a data view's members: users and teams (0: All Project Data)", app::data_views::set_members)
        .add(POST, "/api/app/projects/{project_id}/query", Project(P::ViewReports), "answer a report: insights, funnels or retention", app::query::run)
        .add(POST, "/api/app/projects/{project_id}/query/users", Project(P::ViewUsers), "the users behind a report's number: a funnel step, a retention cell, an Insights point", app::query::selection_users)
        .add(GET, "/api/app/projects/{project_id}/users", Project(P::ViewUsers), "user profiles: filter, sort, page", app::users::list)
        .add(GET, "/api/app/projects/{project_id}/users/activity", Project(P::ViewUsers), "one user's events, newest first", app::users::activity)
        .add(GET, "/api/app/projects/{project_id}/events/live", Project(P::ViewUsers), "the newest events received (the live view)", app::users::live)
        // Boards, saved reports and annotations (who may see and change each board is
        // decided in tally_iam::reports, on top of the route's permission).
        .add(GET, "/api/app/projects/{project_id}/boards", Project(P::ViewReports), "the boards the caller finds: their own, shared with them, open to the project", app::boards::list)
        .add(POST, "/api/app/projects/{project_id}/boards", Project(P::CreateBoards), "create a board (private to its owner when they may not share)", app::boards::create)
        .add(GET, "/api/app/projects/{project_id}/board-settings", Project(P::ViewReports), "the project's default access to boards", app::boards::settings)
        .add(PUT, "/api/app/projects/{project_id}/board-settings", Project(P::EditProjectSettings), "set the project's default access to boards", app::boards::set_settings)
        .add(GET, "/api/app/projects/{project_id}/boards/{board_id}", Project(P::ViewReports), "a board with its cards, reports and sharing", app::boards::get)
        .add(PATCH, "/api/app/projects/{project_id}/boards/{board_id}", Project(P::ViewReports), "rename, describe or nest a board (its editors)", app::boards::update)
        .add(DELETE, "/api/app/projects/{project_id}/boards/{board_id}", Project(P::ViewReports), "delete a board and its reports (its owner, or an admin)", app::boards::delete)
        .add(PUT, "/api/app/projects/{project_id}/boards/{board_id}/sharing", Project(P::ShareEntities), "share a board with users and teams, and set its project-wide access", app::boards::share)
        .add(POST, "/api/app/projects/{project_id}/boards/{board_id}/transfer", Project(P::ViewReports), "give a board to another member (its owner, or an admin)", app::boards::transfer)
        .add(PUT, "/api/app/projects/{project_id}/boards/{board_id}/layout", Project(P::ViewReports), "lay out a board's cards in rows of up to four", app::boards::layout)
        .add(POST, "/api/app/projects/{project_id}/boards/{board_id}/cards", Project(P::ViewReports), "add a text card, or link a saved report", app::boards::add_card)
        .add(PATCH, "/api/app/projects/{project_id}/boards/{board_id}/cards/{card_id}", Project(P::ViewReports), "change a text card", app::boards::update_card)
        .add(DELETE, "/api/app/projects/{project_id}/boards/{board_id}/cards/{card_id}", Project(P::ViewReports), "remove a card", app::boards::delete_card)
        .add(GET, "/api/app/projects/{project_id}/bookmarks", Project(P::ViewReports), "the saved reports the caller may open", app::boards::bookmarks)
        .add(POST, "/api/app/projects/{project_id}/bookmarks", Project(P::SaveReports), "save a report to a board", app::boards::create_bookmark)
        .add(GET, "/api/app/projects/{project_id}/bookmarks/{bookmark_id}", Project(P::ViewReports), "a saved report", app::boards::bookmark)
        .add(PATCH, "/api/app/projects/{project_id}/bookmarks/{bookmark_id}", Project(P::SaveReports), "change a saved report (every board shows the change)", app::boards::update_bookmark)
        .add(DELETE, "/api/app/projects/{project_id}/bookmarks/{bookmark_id}", Project(P::SaveReports), "delete a saved report from every board", app::boards::delete_bookmark)
        .add(POST, "/api/app/projects/{project_id}/bookmarks/{bookmark_id}/duplicate", Project(P::SaveReports), "copy a saved report to a board", app::boards::duplicate_bookmark)
        .add(POST, "/api/app/projects/{project_id}/bookmarks/{bookmark_id}/move", Project(P::SaveReports), "make another board a saved report's own", app::boards::move_bookmark)
        .add(GET, "/api/app/projects/{project_id}/public-boards", Project(P::ViewReports), "whether boards may have public links", app::boards::public_boards)
        .add(PUT, "/api/app/projects/{project_id}/public-boards", Project(P::ManagePublicBoardsFeature), "turn public links on or off (off revokes every link)", app::boards::set_public_boards)
        .add(POST, "/api/app/projects/{project_id}/boards/{board_id}/public-links", Project(P::MakeBoardsPublic), "make a public link to a board, with an optional passcode shown once", app::boards::create_public_link)
        .add(GET, "/api/app/projects/{project_id}/public-links", Project(P::MakeBoardsPublic), "every public link of the project", app::boards::public_links)
        .add(DELETE, "/api/app/projects/{project_id}/public-links/{link_id}", Project(P::MakeBoardsPublic), "revoke a public link", app::boards::revoke_public_link)
        .add(GET, "/api/app/projects/{project_id}/cohorts", Project(P::ViewReports), "the cohorts the caller may use: their own and the shared ones", app::cohorts::list)
        .add(POST, "/api/app/projects/{project_id}/cohorts", Project(P::EditCohorts), "save a cohort (private unless shared)", app::cohorts::create)
        .add(POST, "/api/app/projects/{project_id}/cohorts/csv", Project(P::EditCohorts), "a cohort of the distinct ids in a CSV (name, shared)", app::cohorts::upload_csv)
        .add(POST, "/api/app/projects/{project_id}/cohorts/preview", Project(P::ViewUsers), "count the users of an unsaved cohort", app::cohorts::preview)
        .add(GET, "/api/app/projects/{project_id}/cohorts/{cohort_id}", Project(P::ViewReports), "a cohort", app::cohorts::get)
        .add(PATCH, "/api/app/projects/{project_id}/cohorts/{cohort_id}", Project(P::EditCohorts), "change a cohort (its creator, or an admin)", app::cohorts::update)
        .add(DELETE, "/api/app/projects/{project_id}/cohorts/{cohort_id}", Project(P::EditCohorts), "delete a cohort (its creator, or an admin)", app::cohorts::delete)
        .add(GET, "/api/app/projects/{project_id}/cohorts/{cohort_id}/users", Project(P::ViewUsers), "a cohort's users now, with their profiles", app::cohorts::users)
        .add(GET, "/api/app/projects/{project_id}/cohorts/{cohort_id}/export", Project(P::ExportCohorts), "a cohort's users as CSV", app::cohorts::export)
        .add(GET, "/api/app/projects/{project_id}/annotations", Project(P::ViewReports), "annotations (fromDate, toDate)", app::boards::annotations)
        .add(POST, "/api/app/projects/{project_id}/annotations", Project(P::CreateAnnotations), "add an annotation", app::boards::create_annotation)
        .add(GET, "/api/app/projects/{project_id}/annotations/tags", Project(P::ViewReports), "annotation tags", app::boards::annotation_tags)
        .add(POST, "/api/app/projects/{project_id}/annotations/tags", Project(P::CreateAnnotations), "add an annotation tag", app::boards::create_annotation_tag)
        .add(GET, "/api/app/projects/{project_id}/annotations/{annotation_id}", Project(P::ViewReports), "an annotation", app::boards::annotation)
        .add(PATCH, "/api/app/projects/{project_id}/annotations/{annotation_id}", Project(P::CreateAnnotations), "change an annotation's description and tags", app::boards::update_annotation)
        .add(DELETE, "/api/app/projects/{project_id}/annotations/{annotation_id}", Project(P::CreateAnnotations), "delete an annotation", app::boards::delete_annotation)
        .add(GET, "/api/app/projects/{project_id}/permissions", Project(P::ViewReports), "the caller's permissions and grants", app::projects::permissions)
        .add(GET, "/api/app/projects/{project_id}/members", Project(P::ViewProjectSettings), "members with each grant and its source", app::projects::members)
        .add(PUT, "/api/app/projects/{project_id}/members/users/{user_id}", Project(P::ManageProjectMembers), "give a user a role", app::projects::set_user_role)
        .add(DELETE, "/api/app/projects/{project_id}/members/users/{user_id}", Project(P::ManageProjectMembers), "remove a user's individual grant", app::projects::remove_user)
        .add(PUT, "/api/app/projects/{project_id}/members/service-accounts/{service_account_id}", Project(P::ManageProjectServiceAccounts), "give a service account a role", app::projects::set_service_account_role)
        .add(PUT, "/api/app/projects/{project_id}/default-role", Project(P::ManageProjectMembers), "role for all organization members", app::projects::set_default_role)
        .add(DELETE, "/api/app/projects/{project_id}/default-role", Project(P::ManageProjectMembers), "remove the all-members role", app::projects::remove_default_role)
        .add(GET, "/api/app/projects/{project_id}/custom-roles", Project(P::ViewProjectSettings), "custom roles", app::projects::custom_roles)
        .add(POST, "/api/app/projects/{project_id}/custom-roles", Project(P::ManageCustomRoles), "create a custom role", app::projects::create_custom_role)
        .add(GET, "/api/app/projects/{project_id}/custom-roles/{role_id}", Project(P::ViewProjectSettings), "a custom role", app::projects::custom_role)
        .add(PUT, "/api/app/projects/{project_id}/custom-roles/{role_id}", Project(P::ManageCustomRoles), "change a custom role", app::projects::update_custom_role)
        .add(DELETE, "/api/app/projects/{project_id}/custom-roles/{role_id}", Project(P::ManageCustomRoles), "delete a custom role (holders become Consumers)", app::projects::delete_custom_role)
        .add(POST, "/api/app/projects/{project_id}/custom-roles/{role_id}/copy", Project(P::ManageCustomRoles), "copy a custom role to another project", app::projects::copy_custom_role)
        .add(POST, "/api/app/projects/{project_id}/access-requests", ProjectOrgMember, "request access to the project", app::projects::request_access)
        .add(GET, "/api/app/projects/{project_id}/access-requests", Project(P::ManageProjectMembers), "access requests", app::projects::access_requests)
        .add(POST, "/api/app/projects/{project_id}/access-requests/{request_id}/approve", Project(P::ManageProjectMembers), "approve with a role", app::projects::approve_request)
        .add(POST, "/api/app/projects/{project_id}/access-requests/{request_id}/deny", Project(P::ManageProjectMembers), "deny", app::projects::deny_request)
        .add(GET, "/api/app/projects/{project_id}/service-accounts", Project(P::ManageProjectServiceAccounts), "the project's service accounts", app::service_accounts::project_list)
        .add(POST, "/api/app/projects/{project_id}/service-accounts", Project(P::ManageProjectServiceAccounts), "create a service account for this project", app::service_accounts::project_create)
        .add(DELETE, "/api/app/projects/{project_id}/service-accounts/{service_account_id}", Project(P::ManageProjectServiceAccounts), "remove a service account from the project", app::service_accounts::project_remove)
        .add(GET, "/api/app/projects/{project_id}/audit-log", Project(P::ViewProjectAuditLog), "project audit log (json, csv, ndjson)", app::audit::project_log)
        .finish();
    (router.fallback(|| async { ApiError::not_found() }), inventory)
}

/// Escapes text for HTML element content and quoted attribute values.
pub(crate) fn escape_html(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for c in text.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&#39;"),
            _ => out.push(c),
        }
    }
    out
}

/// A minimal page in Tally's frame; the full web UI comes later.
pub(crate) fn html_page(title: &str, body: &str) -> String {
    format!(
        "<!doctype html><html lang=\"en\"><head><meta charset=\"utf-8\">\
         <meta name=\"viewport\" content=\"width=device-width, initial-scale=1\">\
         <title>{} · Tally</title></head><body><main>{body}</main></body></html>",
        escape_html(title)
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn html_is_escaped() {
        assert_eq!(escape_html("<b a=\"1\">&'"), "&lt;b a=&quot;1&quot;&gt;&amp;&#39;");
    }

    /// Every route naming an organization or project id checks access to it.
    #[test]
    fn inventory_requirements_match_path_ids() {
        let (_, inventory) = build();
        for route in &inventory {
            let requirement = route.requirement;
            if route.path.starts_with("/sso/saml/{org_id}/") {
                // The organization's SAML service provider: its public metadata, the start
                // of a sign-in, and the ACS, which the IdP's signature authenticates.
                assert!(matches!(requirement, Requirement::Public), "{} {}", route.method, route.path);
            } else if route.path.contains("{org_id}") {
                assert!(matches!(requirement, Requirement::Org(_)), "{} {}", route.method, route.path);
            } else if route.path.contains("{project_id}") {
                assert!(
                    matches!(requirement, Requirement::Project(_) | Requirement::ProjectOrgMember),
                    "{} {}",
                    route.method,
                    route.path
                );
            }
        }
        let mut seen = std::collections::HashSet::new();
        for route in &inventory {
            assert!(seen.insert((route.method.clone(), route.path)), "duplicate {} {}", route.method, route.path);
        }
    }
}
