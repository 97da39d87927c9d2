//! Who is calling and what each route requires. Routes are added only through
//! [`Routes`], which records every `(method, path, requirement)` in the route inventory
//! and attaches the requirement to the route, where the [`OrgAccess`] and
//! [`ProjectAccess`] extractors read it and call `tally_iam::authz::authorize`. A handler
//! cannot ask for a different permission than its route declares.

use std::collections::HashMap;
use std::net::SocketAddr;

use axum::extract::{ConnectInfo, FromRequestParts, Path};
use axum::handler::Handler;
use axum::http::request::Parts;
use axum::http::{Method, header};
use axum::routing::{MethodFilter, MethodRouter, on};
use axum::{Extension, Router};
use base64::Engine;
use serde::Serialize;
use tally_iam::account::Account;
use tally_iam::admin::Actor;
use tally_iam::authz::{Access, Need, OrgScope, ProjectScope, Subject, authorize};
use tally_types::{ErrorKind, OrgId, OrgPermission, Principal, ProjectId, ProjectPermission};

use crate::auth::session_token;
use crate::{ApiError, AppState};

/// What a route needs before its handler runs.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(tag = "kind", content = "permission", rename_all = "snake_case")]
pub enum Requirement {
    /// Anyone (health, setup, sign-in, invitation links).
    Public,
    /// Any signed-in user or service account.
    Authenticated,
    /// A permission in the organization named by the `{org_id}` path segment.
    Org(OrgPermission),
    /// A permission in the project named by the `{project_id}` path segment.
    Project(ProjectPermission),
    /// Membership of the organization that owns `{project_id}`, with or without access
    /// to the project (requesting access).
    ProjectOrgMember,
    /// A project credential in the request itself (Mixpanel's ingestion and export): the
    /// project token, the API secret, or a service account with `project_id`.
    ProjectKey,
    /// An organization's SCIM bearer token (identity-provider provisioning).
    ScimToken,
}

impl Requirement {
    pub fn label(&self) -> String {
        match self {
            Requirement::Public => "public".into(),
            Requirement::Authenticated => "authenticated".into(),
            Requirement::Org(permission) => format!("org:{permission}"),
            Requirement::Project(permission) => format!("project:{permission}"),
            Requirement::ProjectOrgMember => "project_org_member".into(),
            Requirement::ProjectKey => "project_key".into(),
            Requirement::ScimToken => "scim_token".into(),
        }
    }
}

/// One entry of the route inventory.
#[derive(Debug, Clone, Serialize)]
pub struct RouteSpec {
    pub method: String,
    pub path: &'static str,
    pub requirement: Requirement,
    pub summary: &'static str,
}

/// The router under construction and its inventory.
pub(crate) struct Routes {
    router: Router<AppState>,
    inventory: Vec<RouteSpec>,
}

impl Routes {
    pub(crate) fn new() -> Routes {
        Routes { router: Router::new(), inventory: Vec::new() }
    }

    /// Adds `method path`, requiring `requirement`, served by `handler`.
    pub(crate) fn add<H, T>(
        mut self,
        method: Method,
        path: &'static str,
        requirement: Requirement,
        summary: &'static str,
        handler: H,
    ) -> Routes
    where
        H: Handler<T, AppState>,
        T: 'static,
    {
        let filter = match method.as_str() {
            "GET" => MethodFilter::GET,
            "POST" => MethodFilter::POST,
            "PUT" => MethodFilter::PUT,
            "PATCH" => MethodFilter::PATCH,
            "OPTIONS" => MethodFilter::OPTIONS,
            _ => MethodFilter::DELETE,
        };
        let route: MethodRouter<AppState> = on(filter, handler).route_layer(Extension(requirement));
        self.router = self.router.route(path, route);
        self.inventory.push(RouteSpec { method: method.to_string(), path, requirement, summary });
        self
    }

    pub(crate) fn finish(self) -> (Router<AppState>, Vec<RouteSpec>) {
        (self.router, self.inventory)
    }
}

/// The authenticated caller.
#[derive(Debug, Clone)]
pub(crate) struct Caller {
    pub principal: Principal,
    pub label: String,
    /// The account as authentication found it.
    pub account: Account,
    pub ip: Option<String>,
    /// A session made by an organization's single sign-on opens that organization only.
    pub only_org: Option<OrgId>,
    /// The hash of the session token, for a cookie-authenticated caller.
    pub session_hash: Option<String>,
}

impl Caller {
    pub(crate) fn actor(&self) -> Actor {
        let actor = Actor::new(self.principal, self.label.clone(), self.ip.clone());
        match &self.session_hash {
            Some(hash) => actor.in_session(hash.clone(), self.only_org),
            None => actor,
        }
    }

    /// Who asks, as the authorization function sees it.
    pub(crate) fn subject(&self) -> Subject {
        Subject { principal: self.principal, only_org: self.only_org }
    }

    /// Whether this caller's session may open the organization (an SSO-made session opens
    /// only its own).
    pub(crate) fn may_open(&self, org_id: OrgId) -> bool {
        self.only_org.is_none_or(|only| only == org_id)
    }
}

impl FromRequestParts<AppState> for Caller {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &AppState) -> Result<Self, Self::Rejection> {
        if let Some(caller) = parts.extensions.get::<Caller>() {
            return Ok(caller.clone());
        }
        let ip = parts.extensions.get::<ConnectInfo<SocketAddr>>().map(|info| info.0.ip().to_string());
        let caller = if let Some((username, secret)) = basic_credentials(parts) {
            let account =
                tally_iam::admin::service_accounts::authenticate(state.directory(), state.clock(), &username, &secret)
                    .await?
                    .ok_or_else(|| {
                        ApiError::new(
                            ErrorKind::Unauthenticated,
                            "unauthenticated",
                            "invalid service account username or secret",
                        )
                    })?;
            Caller {
                principal: Principal::ServiceAccount(account.id),
                label: account.username.clone(),
                account: Account::ServiceAccount(account),
                ip,
                only_org: None,
                session_hash: None,
            }
        } else if let Some(token) = session_token(parts, state.config().is_https()) {
            check_same_origin(parts)?;
            let session =
                tally_iam::sessions::resolve(state.directory(), state.clock(), state.session_policy(), &token)
                    .await?
                    .ok_or_else(ApiError::unauthenticated)?;
            let user = session.user;
            Caller {
                principal: Principal::User(user.id),
                label: user.email.clone(),
                account: Account::User(user),
                ip,
                only_org: session.sso_org,
                session_hash: Some(tally_iam::token_hash(&token)),
            }
        } else {
            return Err(ApiError::unauthenticated());
        };
        parts.extensions.insert(caller.clone());
        Ok(caller)
    }
}

/// HTTP Basic credentials, base64-encoded as the standard says or in plain text as
/// Mixpanel also accepts.
pub(crate) fn basic_credentials(parts: &Parts) -> Option<(String, String)> {
    let value = parts.headers.get(header::AUTHORIZATION)?.to_str().ok()?;
    let encoded = value.strip_prefix("Basic ").or_else(|| value.strip_prefix("basic "))?.trim();
    let decoded = base64::engine::general_purpose::STANDARD
        .decode(encoded)
        .ok()
        .and_then(|bytes| String::from_utf8(bytes).ok())
        .filter(|text| text.contains(':'))
        .unwrap_or_else(|| encoded.to_string());
    let (username, secret) = decoded.split_once(':')?;
    Some((username.to_string(), secret.to_string()))
}

/// Cookie-authenticated requests that change things must come from our own pages: a
/// browser names a cross-site origin in `Sec-Fetch-Site` or `Origin`, and those are
/// refused. Requests without either header are not from a browser page.
fn check_same_origin(parts: &Parts) -> Result<(), ApiError> {
    if matches!(parts.method, Method::GET | Method::HEAD | Method::OPTIONS) {
        return Ok(());
    }
    let refused = || {
        ApiError::new(
            ErrorKind::Forbidden,
            "cross_site_request",
            "cross-site requests with a session cookie are refused",
        )
    };
    if let Some(site) = parts.headers.get("sec-fetch-site").and_then(|value| value.to_str().ok())
        && !matches!(site, "same-origin" | "none")
    {
        return Err(refused());
    }
    if let Some(origin) = parts.headers.get(header::ORIGIN).and_then(|value| value.to_str().ok()) {
        let host = parts.headers.get(header::HOST).and_then(|value| value.to_str().ok()).unwrap_or_default();
        let origin_host = origin.split_once("://").map(|(_, rest)| rest).unwrap_or(origin);
        if origin_host != host {
            return Err(refused());
        }
    }
    Ok(())
}

fn requirement(parts: &Parts) -> Result<Requirement, ApiError> {
    parts
        .extensions
        .get::<Requirement>()
        .copied()
        .ok_or_else(|| ApiError::new(ErrorKind::Internal, "internal", "route registered without a requirement"))
}

async fn path_id(parts: &mut Parts, state: &AppState, name: &str) -> Result<i64, ApiError> {
    let Path(params) =
        Path::<HashMap<String, String>>::from_request_parts(parts, state).await.map_err(|_| ApiError::not_found())?;
    params.get(name).and_then(|text| text.parse().ok()).ok_or_else(ApiError::not_found)
}

/// The caller's capability in the organization of `{org_id}`, checked against the route's
/// declared permission.
pub(crate) struct OrgAccess(pub OrgScope, pub Caller);

impl FromRequestParts<AppState> for OrgAccess {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &AppState) -> Result<Self, Self::Rejection> {
        let Requirement::Org(permission) = requirement(parts)? else {
            return Err(ApiError::new(
                ErrorKind::Internal,
                "internal",
                "route requirement is not an organization permission",
            ));
        };
        let caller = Caller::from_request_parts(parts, state).await?;
        let org_id = OrgId(path_id(parts, state, "org_id").await?);
        match authorize(state.directory(), state.clock(), caller.subject(), Need::Org(org_id, permission)).await? {
            Access::Org(scope) => Ok(OrgAccess(scope, caller)),
            Access::Project(_) => Err(ApiError::not_found()),
        }
    }
}

/// The caller's capability in the project of `{project_id}`, checked against the route's
/// declared permission (or, for `ProjectOrgMember` routes, its mere standing).
pub(crate) struct ProjectAccess(pub ProjectScope, pub Caller);

impl FromRequestParts<AppState> for ProjectAccess {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &AppState) -> Result<Self, Self::Rejection> {
        let requirement = requirement(parts)?;
        let caller = Caller::from_request_parts(parts, state).await?;
        let project_id = ProjectId(path_id(parts, state, "project_id").await?);
        let scope = match requirement {
            Requirement::Project(permission) => {
                match authorize(
                    state.directory(),
                    state.clock(),
                    caller.subject(),
                    Need::Project(project_id, permission),
                )
                .await?
                {
                    Access::Project(scope) => *scope,
                    Access::Org(_) => return Err(ApiError::not_found()),
                }
            }
            Requirement::ProjectOrgMember => {
                tally_iam::authz::project_standing_without_permission(
                    state.directory(),
                    state.clock(),
                    caller.subject(),
                    project_id,
                )
                .await?
            }
            _ => {
                return Err(ApiError::new(
                    ErrorKind::Internal,
                    "internal",
                    "route requirement is not a project permission",
                ));
            }
        };
        Ok(ProjectAccess(scope, caller))
    }
}

/// Where the request comes from: the peer address and the user agent.
pub(crate) struct Client(pub tally_iam::sessions::ClientInfo);

impl<S: Send + Sync> FromRequestParts<S> for Client {
    type Rejection = std::convert::Infallible;

    async fn from_request_parts(parts: &mut Parts, _state: &S) -> Result<Self, Self::Rejection> {
        let ip = parts.extensions.get::<ConnectInfo<SocketAddr>>().map(|info| info.0.ip().to_string());
        let user_agent =
            parts.headers.get(header::USER_AGENT).and_then(|value| value.to_str().ok()).map(str::to_string);
        Ok(Client(tally_iam::sessions::ClientInfo { ip, user_agent }))
    }
}

/// The signed-in person (service accounts have no password, sessions or second factor).
pub(crate) struct SignedInUser(pub tally_iam::records::User, pub Caller);

impl FromRequestParts<AppState> for SignedInUser {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &AppState) -> Result<Self, Self::Rejection> {
        let caller = Caller::from_request_parts(parts, state).await?;
        let Account::User(user) = caller.account.clone() else {
            return Err(ApiError::new(
                ErrorKind::Forbidden,
                "forbidden",
                "this is for people; service accounts have no account settings",
            ));
        };
        Ok(SignedInUser(user, caller))
    }
}
