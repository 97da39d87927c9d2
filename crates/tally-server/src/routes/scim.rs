//! SCIM 2.0 at `/api/app/scim/v2` for identity providers (Okta, Microsoft Entra, ...),
//! authenticated by the organization's SCIM bearer token; every answer, errors included,
//! is `application/scim+json`. The protocol and rules live in `tally_iam::scim`.

use std::collections::HashMap;
use std::sync::LazyLock;

use axum::body::Bytes;
use axum::extract::{FromRequestParts, Path, State};
use axum::http::request::Parts;
use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use serde::Deserialize;
use serde_json::{Value, json};
use tally_iam::admin::Actor;
use tally_iam::scim::{ERROR_SCHEMA, Kind, Scim, ScimError, ScimGrant};
use tally_types::permissions::org;
use tally_types::{ErrorKind, Secret};

use super::app::created;
use crate::access::OrgAccess;
use crate::extract::{JsonBody, QueryParams};
use crate::{ApiError, AppState};

fn scim_json(status: StatusCode, body: Value) -> Response {
    let mut response = (status, body.to_string()).into_response();
    response.headers_mut().insert(header::CONTENT_TYPE, HeaderValue::from_static("application/scim+json"));
    response
}

/// A SCIM error answer (RFC 7644 §3.12): the status, `scimType` and a message.
fn scim_status(status: StatusCode, scim_type: Option<&str>, detail: &str) -> Response {
    let mut body = json!({ "schemas": [ERROR_SCHEMA], "status": status.as_u16().to_string(), "detail": detail });
    if let Some(scim_type) = scim_type {
        body["scimType"] = json!(scim_type);
    }
    let mut response = scim_json(status, body);
    if status == StatusCode::UNAUTHORIZED {
        response.headers_mut().insert(header::WWW_AUTHENTICATE, HeaderValue::from_static("Bearer realm=\"scim\""));
    }
    response
}

/// A refusal from the SCIM rules, at the status its kind maps to.
fn scim_error(error: &ScimError) -> Response {
    scim_status(crate::error::status_of(error.kind), error.scim_type, &error.detail)
}

/// The organization whose SCIM token the request carries.
pub(crate) struct ScimCaller(ScimGrant);

impl FromRequestParts<AppState> for ScimCaller {
    type Rejection = Response;

    async fn from_request_parts(parts: &mut Parts, state: &AppState) -> Result<Self, Self::Rejection> {
        let token = parts
            .headers
            .get(header::AUTHORIZATION)
            .and_then(|value| value.to_str().ok())
            .and_then(|value| value.strip_prefix("Bearer ").or_else(|| value.strip_prefix("bearer ")))
            .map(str::trim)
            .filter(|token| !token.is_empty());
        let refused = || {
            scim_status(
                StatusCode::UNAUTHORIZED,
                None,
                "send the organization's SCIM token as Authorization: Bearer <token> (generate one in the \
                 organization's security settings)",
            )
        };
        let Some(token) = token else { return Err(refused()) };
        match tally_iam::scim::authenticate(state.directory(), token).await {
            Ok(Some(grant)) => Ok(ScimCaller(grant)),
            Ok(None) => Err(refused()),
            Err(error) => Err(scim_error(&ScimError::from(error))),
        }
    }
}

/// The absolute URL of `/api/app/scim/v2` on this instance.
fn scim_base(state: &AppState, actor: &Actor) -> String {
    format!("{}/api/app/scim/v2", state.ctx(actor).settings.base_url.trim_end_matches('/'))
}

/// Who SCIM changes are audited as.
static PROVIDER: LazyLock<Actor> = LazyLock::new(|| Actor::anonymous("identity provider (SCIM)"));

fn service<'a>(state: &'a AppState, grant: &ScimGrant) -> Scim<'a> {
    Scim::new(state.ctx(&PROVIDER), grant, scim_base(state, &PROVIDER))
}

/// A SCIM refusal as the answer: handlers return `Result<Response, Refused>` and use `?`.
pub(crate) struct Refused(Response);

impl From<ScimError> for Refused {
    fn from(error: ScimError) -> Self {
        Refused(scim_error(&error))
    }
}

impl IntoResponse for Refused {
    fn into_response(self) -> Response {
        self.0
    }
}

type Answer = Result<Response, Refused>;

fn parse_body(bytes: &[u8]) -> Result<Value, ScimError> {
    serde_json::from_slice(bytes).map_err(|error| {
        ScimError::new(ErrorKind::InvalidInput, Some("invalidSyntax"), format!("the body is not JSON: {error}"))
    })
}

/// A resource, projected as the query asks.
fn answer(resource: Value, status: StatusCode, query: &HashMap<String, String>) -> Response {
    scim_json(
        status,
        tally_iam::scim::project(
            resource,
            query.get("attributes").map(String::as_str),
            query.get("excludedAttributes").map(String::as_str),
        ),
    )
}

/// The kind a path segment names, or a SCIM 404.
fn kind(segment: &str) -> Result<Kind, ScimError> {
    Kind::from_segment(segment)
        .ok_or_else(|| ScimError::new(ErrorKind::NotFound, None, "no such SCIM resource or endpoint"))
}

/// `GET /Users`, `GET /Groups`: a page of the resources matching `filter`.
pub(crate) async fn list(
    State(state): State<AppState>,
    ScimCaller(grant): ScimCaller,
    Path(segment): Path<String>,
    QueryParams(query): QueryParams<HashMap<String, String>>,
) -> Answer {
    let kind = kind(&segment)?;
    let resources = service(&state, &grant).list(kind, query.get("filter").map(String::as_str)).await?;
    Ok(listed(resources, &query))
}

/// A list response: one page of the resources, each projected as asked.
fn listed(resources: Vec<Value>, query: &HashMap<String, String>) -> Response {
    let number = |name: &str| query.get(name).and_then(|text| text.parse::<usize>().ok());
    let resources = resources
        .into_iter()
        .map(|resource| {
            tally_iam::scim::project(
                resource,
                query.get("attributes").map(String::as_str),
                query.get("excludedAttributes").map(String::as_str),
            )
        })
        .collect();
    scim_json(
        StatusCode::OK,
        tally_iam::scim::list_response(resources, number("startIndex").unwrap_or(1), number("count")),
    )
}

/// `POST /Users`, `POST /Groups`, and `POST /.search`.
pub(crate) async fn create(
    State(state): State<AppState>,
    ScimCaller(grant): ScimCaller,
    Path(segment): Path<String>,
    body: Bytes,
) -> Answer {
    if segment == ".search" {
        return search_all(&state, &grant, &body).await;
    }
    let kind = kind(&segment)?;
    let body = parse_body(&body)?;
    let created = service(&state, &grant).create(kind, &body).await?;
    Ok(answer(created, StatusCode::CREATED, &HashMap::new()))
}

/// `GET /Users/{id}`, `GET /Groups/{id}`.
pub(crate) async fn get(
    State(state): State<AppState>,
    ScimCaller(grant): ScimCaller,
    Path((segment, id)): Path<(String, String)>,
    QueryParams(query): QueryParams<HashMap<String, String>>,
) -> Answer {
    let kind = kind(&segment)?;
    Ok(answer(service(&state, &grant).get(kind, &id).await?, StatusCode::OK, &query))
}

/// `PUT /Users/{id}`, `PUT /Groups/{id}`.
pub(crate) async fn replace(
    State(state): State<AppState>,
    ScimCaller(grant): ScimCaller,
    Path((segment, id)): Path<(String, String)>,
    body: Bytes,
) -> Answer {
    let kind = kind(&segment)?;
    let body = parse_body(&body)?;
    Ok(answer(service(&state, &grant).replace(kind, &id, &body).await?, StatusCode::OK, &HashMap::new()))
}

/// `PATCH /Users/{id}`, `PATCH /Groups/{id}`.
pub(crate) async fn patch(
    State(state): State<AppState>,
    ScimCaller(grant): ScimCaller,
    Path((segment, id)): Path<(String, String)>,
    body: Bytes,
) -> Answer {
    let kind = kind(&segment)?;
    let body = parse_body(&body)?;
    Ok(answer(service(&state, &grant).patch(kind, &id, &body).await?, StatusCode::OK, &HashMap::new()))
}

/// `DELETE /Users/{id}`, `DELETE /Groups/{id}`.
pub(crate) async fn delete(
    State(state): State<AppState>,
    ScimCaller(grant): ScimCaller,
    Path((segment, id)): Path<(String, String)>,
) -> Answer {
    let kind = kind(&segment)?;
    service(&state, &grant).delete(kind, &id).await?;
    Ok(StatusCode::NO_CONTENT.into_response())
}

/// `POST /Users/.search`, `POST /Groups/.search` (RFC 7644 §3.4.3): a list query with its
/// parameters in a SearchRequest body, so they stay out of URLs and logs.
pub(crate) async fn search(
    State(state): State<AppState>,
    ScimCaller(grant): ScimCaller,
    Path((segment, action)): Path<(String, String)>,
    body: Bytes,
) -> Answer {
    if action != ".search" {
        return Err(Refused(scim_status(StatusCode::METHOD_NOT_ALLOWED, None, "use PUT or PATCH on a resource")));
    }
    let kind = kind(&segment)?;
    let query = search_query(&body)?;
    let resources = service(&state, &grant).list(kind, query.get("filter").map(String::as_str)).await?;
    Ok(listed(resources, &query))
}

/// `POST /.search`: the same across Users and Groups (both read the filter alike).
async fn search_all(state: &AppState, grant: &ScimGrant, body: &[u8]) -> Answer {
    let query = search_query(body)?;
    let scim = service(state, grant);
    let filter = query.get("filter").map(String::as_str);
    let mut resources = scim.list(Kind::User, filter).await?;
    resources.extend(scim.list(Kind::Group, filter).await?);
    Ok(listed(resources, &query))
}

/// A SearchRequest body as the list's query parameters.
fn search_query(body: &[u8]) -> Result<HashMap<String, String>, ScimError> {
    let request = parse_body(body)?;
    let mut query = HashMap::new();
    for (name, value) in request.as_object().into_iter().flatten() {
        let text = match value {
            Value::String(text) => text.clone(),
            Value::Number(number) => number.to_string(),
            Value::Array(items) => items.iter().filter_map(Value::as_str).collect::<Vec<_>>().join(","),
            _ => continue,
        };
        if ["filter", "attributes", "excludedAttributes", "startIndex", "count"].contains(&name.as_str()) {
            query.insert(name.clone(), text);
        }
    }
    Ok(query)
}

pub(crate) async fn service_provider_config(State(state): State<AppState>, ScimCaller(grant): ScimCaller) -> Response {
    scim_json(StatusCode::OK, service(&state, &grant).service_provider_config())
}

/// `/ResourceTypes` and `/Schemas`, listed or one by id.
fn discovery(documents: Vec<Value>, id: Option<&str>) -> Response {
    match id {
        None => scim_json(StatusCode::OK, tally_iam::scim::list_response(documents, 1, None)),
        Some(id) => match documents.into_iter().find(|document| document["id"] == id) {
            Some(document) => scim_json(StatusCode::OK, document),
            None => scim_status(StatusCode::NOT_FOUND, None, &format!("no such resource {id:?}")),
        },
    }
}

pub(crate) async fn resource_types(State(state): State<AppState>, ScimCaller(grant): ScimCaller) -> Response {
    discovery(service(&state, &grant).resource_types(), None)
}

pub(crate) async fn resource_type(
    State(state): State<AppState>,
    ScimCaller(grant): ScimCaller,
    Path(id): Path<String>,
) -> Response {
    discovery(service(&state, &grant).resource_types(), Some(&id))
}

pub(crate) async fn schemas(State(state): State<AppState>, ScimCaller(grant): ScimCaller) -> Response {
    discovery(service(&state, &grant).schemas(), None)
}

pub(crate) async fn schema(
    State(state): State<AppState>,
    ScimCaller(grant): ScimCaller,
    Path(id): Path<String>,
) -> Response {
    discovery(service(&state, &grant).schemas(), Some(&id))
}

/// Writes to the discovery documents.
pub(crate) async fn read_only(ScimCaller(_): ScimCaller) -> Response {
    scim_status(StatusCode::METHOD_NOT_ALLOWED, None, "the discovery documents are read-only")
}

/// Anything else under `/api/app/scim/v2`.
pub(crate) async fn unknown(ScimCaller(_): ScimCaller) -> Response {
    scim_status(StatusCode::NOT_FOUND, None, "no such SCIM resource or endpoint")
}

#[derive(Deserialize)]
pub(crate) struct TokenBody {
    password: Option<String>,
}

/// A new SCIM token for the organization, shown once.
pub(crate) async fn issue_token(
    State(state): State<AppState>,
    OrgAccess(scope, caller): OrgAccess,
    JsonBody(body): JsonBody<TokenBody>,
) -> Result<Response, ApiError> {
    let actor = caller.actor();
    let password = body.password.map(Secret::new);
    let permit = scope.require::<org::ManageSecurity>()?;
    let token = tally_iam::scim::issue_token(state.ctx(&actor), &permit, password.as_ref()).await?;
    Ok(created(ScimTokenView { token: token.expose().clone(), base_url: scim_base(&state, &actor) }))
}

/// A new SCIM token, shown once, and the SCIM base URL to give the identity provider.
#[derive(serde::Serialize, utoipa::ToSchema)]
pub(crate) struct ScimTokenView {
    token: String,
    base_url: String,
}
