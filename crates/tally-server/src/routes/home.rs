//! `GET /`: what a newcomer sees first.

use axum::extract::State;
use axum::http::request::Parts;
use axum::response::Html;

use crate::routes::{escape_html, html_page};
use crate::{ApiError, AppState};

pub(crate) async fn home(State(state): State<AppState>, parts: Parts) -> Result<Html<String>, ApiError> {
    let signed_in = match crate::auth::session_token(&parts, state.config().is_https()) {
        Some(token) => {
            tally_iam::sessions::resolve(state.store(), state.clock(), state.session_policy(), &token).await?
        }
        None => None,
    };
    let Some(tally_iam::sessions::LiveSession { user_id, sso_org }) = signed_in else {
        let body = if state.store().instance_is_empty().await? {
            "<h1>Tally</h1><p>This instance is not set up yet. Open the setup link that <code>tally serve</code> \
             printed, or run <code>tally admin bootstrap</code>.</p>"
        } else {
            "<h1>Tally</h1><p>Self-hosted product analytics. <a href=\"/sign-in\">Sign in</a> to continue.</p>"
        };
        return Ok(Html(html_page("Tally", body)));
    };
    let mut body = String::from("<h1>Tally</h1>");
    for membership in state.store().memberships(user_id).await? {
        if sso_org.is_some_and(|only| only != membership.organization.id) {
            body.push_str(&format!(
                "<h2>{}</h2><p>You signed in through another organization's single sign-on. \
                 <a href=\"/sign-in\">Sign in</a> with your password or this organization's single sign-on to open it.</p>",
                escape_html(&membership.organization.name)
            ));
            continue;
        }
        body.push_str(&format!(
            "<h2>{}</h2><p>Your role: {}</p><ul>",
            escape_html(&membership.organization.name),
            membership.role
        ));
        let show_keys = matches!(membership.role, tally_types::OrgRole::Owner | tally_types::OrgRole::Admin);
        for project in state.store().projects_in_org(membership.organization.id).await? {
            let token = if show_keys {
                format!(" project token <code>{}</code>", escape_html(&project.token))
            } else {
                String::new()
            };
            body.push_str(&format!(
                "<li><strong>{}</strong> (region {}){token}</li>",
                escape_html(&project.name),
                escape_html(&project.region),
            ));
        }
        body.push_str("</ul>");
    }
    Ok(Html(html_page("Tally", &body)))
}
