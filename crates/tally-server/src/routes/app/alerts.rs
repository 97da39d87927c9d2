//! Alerts on saved Insights and Funnels reports: the routes over `tally_iam::alerts`; the
//! scheduler that checks them is [`crate::alerts`].

use axum::extract::State;
use axum::response::Response;
use serde::{Deserialize, Serialize};
use tally_iam::alerts::{AlertCondition, AlertInput};
use tally_iam::records::{Alert, AlertCheck};
use tally_types::permissions::project;

use super::{created, done, ok};
use crate::access::ProjectAccess;
use crate::extract::{Ids, JsonBody};
use crate::{ApiError, AppState};

/// When an alert fires: `above` or `below` a value, or when the value `changes_by` an
/// amount or `changes_by_percent` from the previous period (up or down).
#[derive(Serialize, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub(crate) struct AlertConditionBody {
    kind: String,
    value: f64,
}

/// Where an alert's webhook posts (HTTPS), with optional Basic credentials.
#[derive(Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub(crate) struct WebhookBody {
    /// An `https://` address; empty removes the webhook.
    url: String,
    #[serde(default)]
    username: String,
    /// Absent keeps the stored password; empty removes it.
    password: Option<String>,
}

/// A new alert, or a change to one (what is absent stays).
#[derive(Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub(crate) struct AlertBody {
    /// The saved Insights or Funnels report it watches.
    bookmark_id: Option<i64>,
    name: Option<String>,
    condition: Option<AlertConditionBody>,
    /// `hourly`, `daily` or `weekly`.
    frequency: Option<String>,
    /// Members of the organization, by e-mail.
    emails: Option<Vec<String>>,
    webhook: Option<WebhookBody>,
}

/// An alert's webhook (never its password).
#[derive(Serialize, utoipa::ToSchema)]
pub(crate) struct WebhookView {
    url: String,
    username: String,
    has_password: bool,
}

/// An alert and whether it is checked.
#[derive(Serialize, utoipa::ToSchema)]
pub(crate) struct AlertView {
    id: i64,
    bookmark_id: i64,
    name: String,
    condition: AlertConditionBody,
    frequency: String,
    emails: Vec<String>,
    webhook: Option<WebhookView>,
    /// What its report was when the alert was saved.
    report_shape: String,
    /// `active`, or `invalid` (then `invalid_reason` says why; save it again to follow its
    /// report).
    status: String,
    invalid_reason: String,
    created_by: i64,
    created_at: String,
    next_check_at: String,
}

fn view_of(alert: &Alert, reason: Option<String>) -> AlertView {
    let condition = AlertCondition::stored(alert).ok();
    let reason = reason.or_else(|| (!alert.invalid_reason.is_empty()).then(|| alert.invalid_reason.clone()));
    AlertView {
        id: alert.id,
        bookmark_id: alert.bookmark_id,
        name: alert.name.clone(),
        condition: AlertConditionBody {
            kind: condition.map(AlertCondition::kind).unwrap_or_default().to_string(),
            value: condition.map(AlertCondition::value).unwrap_or_default(),
        },
        frequency: alert.frequency.clone(),
        emails: alert.emails.clone(),
        webhook: (!alert.webhook_url.is_empty()).then(|| WebhookView {
            url: alert.webhook_url.clone(),
            username: alert.webhook_username.clone(),
            has_password: !alert.webhook_password_sealed.is_empty(),
        }),
        report_shape: alert.report_shape.clone(),
        status: if reason.is_some() { "invalid" } else { "active" }.to_string(),
        invalid_reason: reason.unwrap_or_default(),
        created_by: alert.created_by.0,
        created_at: alert.created_at.to_string(),
        next_check_at: alert.next_check_at.to_string(),
    }
}

/// One check of an alert (or a test) and its deliveries.
#[derive(Serialize, utoipa::ToSchema)]
pub(crate) struct AlertCheckView {
    period: String,
    checked_at: String,
    value: Option<f64>,
    previous: Option<f64>,
    fired: bool,
    test: bool,
    delivered: bool,
    /// What each delivery answered (`email`: sent and failed; `webhook`: status and
    /// attempts, or the error).
    #[schema(value_type = Object)]
    delivery: serde_json::Value,
}

fn check_view(check: &AlertCheck) -> AlertCheckView {
    AlertCheckView {
        period: check.period.clone(),
        checked_at: check.checked_at.to_string(),
        value: check.value,
        previous: check.previous,
        fired: check.fired,
        test: check.test,
        delivered: check.delivered,
        delivery: serde_json::from_str(&check.delivery).unwrap_or(serde_json::Value::Null),
    }
}

fn input_of(body: AlertBody) -> Result<AlertInput, ApiError> {
    let condition = match &body.condition {
        Some(condition) => Some(AlertCondition::of(&condition.kind, condition.value)?),
        None => None,
    };
    Ok(AlertInput {
        bookmark_id: body.bookmark_id,
        name: body.name,
        condition,
        frequency: body.frequency,
        emails: body.emails,
        webhook: body.webhook.map(|webhook| (webhook.url, webhook.username, webhook.password)),
    })
}

pub(crate) async fn list(
    State(state): State<AppState>,
    ProjectAccess(scope, caller): ProjectAccess,
) -> Result<Response, ApiError> {
    let permit = scope.require::<project::ViewReports>()?;
    let alerts = tally_iam::alerts::alerts(state.ctx(&caller.actor()), &permit).await?;
    Ok(ok(alerts.iter().map(|alert| view_of(alert, None)).collect::<Vec<_>>()))
}

pub(crate) async fn create(
    State(state): State<AppState>,
    ProjectAccess(scope, caller): ProjectAccess,
    JsonBody(body): JsonBody<AlertBody>,
) -> Result<Response, ApiError> {
    let permit = scope.require::<project::CreateAlerts>()?;
    let alert = tally_iam::alerts::create_alert(state.ctx(&caller.actor()), &permit, &input_of(body)?).await?;
    Ok(created(view_of(&alert, None)))
}

pub(crate) async fn get(
    State(state): State<AppState>,
    ProjectAccess(scope, caller): ProjectAccess,
    Ids((_, alert_id)): Ids<(i64, i64)>,
) -> Result<Response, ApiError> {
    let permit = scope.require::<project::ViewReports>()?;
    let (alert, reason) = tally_iam::alerts::alert(state.ctx(&caller.actor()), &permit, alert_id).await?;
    Ok(ok(view_of(&alert, reason)))
}

pub(crate) async fn update(
    State(state): State<AppState>,
    ProjectAccess(scope, caller): ProjectAccess,
    Ids((_, alert_id)): Ids<(i64, i64)>,
    JsonBody(body): JsonBody<AlertBody>,
) -> Result<Response, ApiError> {
    let permit = scope.require::<project::CreateAlerts>()?;
    let alert =
        tally_iam::alerts::update_alert(state.ctx(&caller.actor()), &permit, alert_id, &input_of(body)?).await?;
    Ok(ok(view_of(&alert, None)))
}

pub(crate) async fn delete(
    State(state): State<AppState>,
    ProjectAccess(scope, caller): ProjectAccess,
    Ids((_, alert_id)): Ids<(i64, i64)>,
) -> Result<Response, ApiError> {
    let permit = scope.require::<project::CreateAlerts>()?;
    tally_iam::alerts::delete_alert(state.ctx(&caller.actor()), &permit, alert_id).await?;
    Ok(done())
}

pub(crate) async fn history(
    State(state): State<AppState>,
    ProjectAccess(scope, caller): ProjectAccess,
    Ids((_, alert_id)): Ids<(i64, i64)>,
) -> Result<Response, ApiError> {
    let permit = scope.require::<project::ViewReports>()?;
    let checks = tally_iam::alerts::history(state.ctx(&caller.actor()), &permit, alert_id).await?;
    Ok(ok(checks.iter().map(check_view).collect::<Vec<_>>()))
}

/// `POST .../alerts/{alert_id}/test`: measures now and sends the result to every
/// destination whatever the condition, marked as a test.
pub(crate) async fn test(
    State(state): State<AppState>,
    ProjectAccess(scope, caller): ProjectAccess,
    Ids((_, alert_id)): Ids<(i64, i64)>,
) -> Result<Response, ApiError> {
    scope.require::<project::CreateAlerts>()?;
    let viewing = scope.require::<project::ViewReports>()?;
    let (alert, _) = tally_iam::alerts::alert(state.ctx(&caller.actor()), &viewing, alert_id).await?;
    let mut evaluation = crate::alerts::evaluate(&state, &alert).await.map_err(|failure| match failure {
        crate::alerts::Failure::Invalid(reason) => {
            ApiError::new(tally_types::ErrorKind::Conflict, "alert_invalid", format!("the alert is invalid: {reason}"))
        }
        crate::alerts::Failure::Error(error) => {
            ApiError::new(tally_types::ErrorKind::Unavailable, "alert_check_failed", error)
        }
    })?;
    evaluation.period = format!("test at {}", state.clock().now());
    let check = crate::alerts::record_and_deliver(&state, &alert, &evaluation, true)
        .await?
        .ok_or_else(|| ApiError::new(tally_types::ErrorKind::Conflict, "conflict", "a test is running; try again"))?;
    Ok(ok(check_view(&check)))
}
