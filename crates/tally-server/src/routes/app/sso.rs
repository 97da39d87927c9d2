//! Claimed domains: the organization's proof that it controls an e-mail domain.

use axum::extract::State;
use axum::response::Response;
use serde::Deserialize;
use serde_json::{Value, json};
use tally_store::ClaimedDomain;
use tally_types::Secret;

use super::{created, done, ok};
use crate::access::OrgAccess;
use crate::extract::{Ids, JsonBody};
use crate::{ApiError, AppState};

fn domain_view(domain: &ClaimedDomain) -> Value {
    json!({
        "id": domain.id,
        "domain": domain.domain,
        "status": domain.status,
        "record": { "type": "TXT", "name": domain.domain, "value": format!("{}{}", tally_iam::domains::RECORD_PREFIX, domain.token) },
        "created": domain.created_at.to_string(),
        "verified": domain.verified_at.map(|at| at.to_string()),
        "last_checked": domain.last_checked_at.map(|at| at.to_string()),
    })
}

pub(crate) async fn domains(
    State(state): State<AppState>,
    OrgAccess(scope, _): OrgAccess,
) -> Result<Response, ApiError> {
    let domains = state.store().domains(scope.org_id()).await?;
    Ok(ok(domains.iter().map(domain_view).collect::<Vec<_>>()))
}

#[derive(Deserialize)]
pub(crate) struct ClaimBody {
    domain: String,
    password: Option<String>,
}

pub(crate) async fn claim(
    State(state): State<AppState>,
    OrgAccess(scope, caller): OrgAccess,
    JsonBody(body): JsonBody<ClaimBody>,
) -> Result<Response, ApiError> {
    let actor = caller.actor();
    let password = body.password.map(Secret::new);
    let domain = tally_iam::domains::claim(state.ctx(&actor), &scope, &body.domain, password.as_ref()).await?;
    Ok(created(domain_view(&domain)))
}

pub(crate) async fn verify(
    State(state): State<AppState>,
    OrgAccess(scope, caller): OrgAccess,
    Ids((_, id)): Ids<(i64, i64)>,
) -> Result<Response, ApiError> {
    let actor = caller.actor();
    let domain = tally_iam::domains::verify(state.ctx(&actor), &scope, id).await?;
    Ok(ok(domain_view(&domain)))
}

pub(crate) async fn remove(
    State(state): State<AppState>,
    OrgAccess(scope, caller): OrgAccess,
    Ids((_, id)): Ids<(i64, i64)>,
) -> Result<Response, ApiError> {
    let actor = caller.actor();
    tally_iam::domains::remove(state.ctx(&actor), &scope, id).await?;
    Ok(done())
}
