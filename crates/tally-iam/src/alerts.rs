//! Alerts on saved Insights and Funnels reports, under the access model: a person holding
//! `create_alerts` makes one on a saved report they can open, sent to members of the
//! organization (by e-mail) and to an HTTPS webhook; its creator changes, tests and deletes
//! it, as do holders of `manage_all_alerts`; others do not see it. The scheduler checks
//! each due alert with its creator's authority, authorized again at every check.
//!
//! An alert keeps the shape of its report (its type, and the first metric or the steps):
//! when the saved report changes shape or is deleted, the alert is invalid, says why, and
//! is not checked until it is saved again.

use serde_json::json;
use tally_store::{Alert, AlertCheck, Bookmark};
use tally_types::permissions::project;
use tally_types::{Principal, ProjectPermission, UserId};

use crate::IamError;
use crate::admin::{Ctx, WithChange};
use crate::authz::{ProjectPermit, ProjectScope};

/// At most this many e-mail recipients.
pub const MAX_EMAILS: usize = 50;

/// What an alert compares its value with.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum AlertCondition {
    Above(f64),
    Below(f64),
    /// Up or down by at least this much from the previous period.
    ChangesBy(f64),
    /// Up or down by at least this percentage of the previous period.
    ChangesByPercent(f64),
}

impl AlertCondition {
    pub fn kind(self) -> &'static str {
        match self {
            AlertCondition::Above(_) => "above",
            AlertCondition::Below(_) => "below",
            AlertCondition::ChangesBy(_) => "changes_by",
            AlertCondition::ChangesByPercent(_) => "changes_by_percent",
        }
    }

    pub fn value(self) -> f64 {
        match self {
            AlertCondition::Above(value)
            | AlertCondition::Below(value)
            | AlertCondition::ChangesBy(value)
            | AlertCondition::ChangesByPercent(value) => value,
        }
    }

    pub fn of(kind: &str, value: f64) -> Result<AlertCondition, IamError> {
        if !value.is_finite() {
            return Err(IamError::invalid("condition", "the value is a finite number"));
        }
        match kind {
            "above" => Ok(AlertCondition::Above(value)),
            "below" => Ok(AlertCondition::Below(value)),
            "changes_by" | "changes_by_percent" if value < 0.0 => {
                Err(IamError::invalid("condition", "a change is measured up or down: give a value of 0 or more"))
            }
            "changes_by" => Ok(AlertCondition::ChangesBy(value)),
            "changes_by_percent" => Ok(AlertCondition::ChangesByPercent(value)),
            other => Err(IamError::invalid(
                "condition",
                format!("{other:?} is not above, below, changes_by or changes_by_percent"),
            )),
        }
    }

    fn json(self) -> String {
        json!({ "kind": self.kind(), "value": self.value() }).to_string()
    }

    /// The condition an alert stored.
    pub fn stored(alert: &Alert) -> Result<AlertCondition, IamError> {
        let value: serde_json::Value = serde_json::from_str(&alert.condition)
            .map_err(|error| IamError::Store(tally_store::StoreError::Corrupt(error.to_string())))?;
        AlertCondition::of(value["kind"].as_str().unwrap_or_default(), value["value"].as_f64().unwrap_or(f64::NAN))
    }

    /// Whether `value` (this period's) against `previous` (the period before's) fires.
    pub fn holds(self, value: f64, previous: Option<f64>) -> bool {
        match self {
            AlertCondition::Above(limit) => value > limit,
            AlertCondition::Below(limit) => value < limit,
            AlertCondition::ChangesBy(by) => previous.is_some_and(|previous| (value - previous).abs() >= by),
            AlertCondition::ChangesByPercent(by) => previous.is_some_and(|previous| {
                if previous == 0.0 { value != 0.0 } else { ((value - previous) / previous.abs() * 100.0).abs() >= by }
            }),
        }
    }
}

/// What a report is, for its alerts: its type and the first metric (Insights) or the steps
/// (Funnels); `Err` says why a report cannot have alerts.
pub fn report_shape(bookmark: &Bookmark) -> Result<String, String> {
    let report: serde_json::Value =
        serde_json::from_str(&bookmark.report).map_err(|_| "the saved report cannot be read".to_string())?;
    match bookmark.kind.as_str() {
        "insights" => {
            let metric = &report["metrics"][0];
            let measure = metric["measure"]["kind"].as_str().unwrap_or("total");
            Ok(format!("Insights of {} ({measure})", metric["event"].as_str().unwrap_or_default()))
        }
        "funnels" => {
            let steps: Vec<&str> = report["steps"]
                .as_array()
                .map(|steps| steps.iter().map(|step| step["event"].as_str().unwrap_or_default()).collect())
                .unwrap_or_default();
            Ok(format!("Funnels of {}", steps.join(" → ")))
        }
        other => Err(format!("alerts watch Insights and Funnels reports, not {other}")),
    }
}

/// Why the alert cannot be checked now (`None`: it can).
pub fn invalid_because(alert: &Alert, bookmark: Option<&Bookmark>) -> Option<String> {
    let Some(bookmark) = bookmark else { return Some("its saved report was deleted".into()) };
    match report_shape(bookmark) {
        Err(reason) => Some(format!("its report changed: {reason}")),
        Ok(shape) if shape != alert.report_shape => Some(format!(
            "its report changed from {} to {shape}; save the alert again to follow it",
            alert.report_shape
        )),
        Ok(_) => None,
    }
}

/// What a person sets on an alert.
#[derive(Debug, Clone, Default)]
pub struct AlertInput {
    pub bookmark_id: Option<i64>,
    pub name: Option<String>,
    pub condition: Option<AlertCondition>,
    pub frequency: Option<String>,
    pub emails: Option<Vec<String>>,
    /// The webhook's address, user name and password (`None` leaves them; an empty
    /// address removes the webhook).
    pub webhook: Option<(String, String, Option<String>)>,
}

fn may_change(scope: &ProjectScope, alert: &Alert) -> bool {
    matches!(scope.principal(), Principal::User(id) if id == alert.created_by)
        || scope.allows(ProjectPermission::ManageAllAlerts)
}

async fn apply(ctx: &Ctx<'_>, scope: &ProjectScope, alert: &mut Alert, input: &AlertInput) -> Result<(), IamError> {
    if let Some(name) = &input.name {
        let name = name.trim();
        if name.is_empty() || name.chars().count() > 200 {
            return Err(IamError::invalid("name", "must be 1 to 200 characters"));
        }
        alert.name = name.to_string();
    }
    if let Some(condition) = input.condition {
        alert.condition = condition.json();
    }
    if let Some(frequency) = &input.frequency {
        if !matches!(frequency.as_str(), "hourly" | "daily" | "weekly") {
            return Err(IamError::invalid("frequency", "is hourly, daily or weekly"));
        }
        alert.frequency = frequency.clone();
    }
    if let Some(emails) = &input.emails {
        let hint = "; alerts go to members only";
        alert.emails =
            crate::admin::member_emails(ctx, scope.org_id(), emails, "emails", MAX_EMAILS, "recipients", hint).await?;
    }
    if let Some((url, username, password)) = &input.webhook {
        if url.is_empty() {
            alert.webhook_url.clear();
            alert.webhook_username.clear();
            alert.webhook_password_sealed.clear();
        } else {
            let parsed =
                url::Url::parse(url).map_err(|error| IamError::invalid("webhook", format!("{url:?}: {error}")))?;
            if parsed.scheme() != "https" || parsed.host().is_none() {
                return Err(IamError::invalid("webhook", "a webhook is an https:// address"));
            }
            if username.chars().count() > 200 {
                return Err(IamError::invalid("webhook", "the user name is at most 200 characters"));
            }
            alert.webhook_url = url.clone();
            alert.webhook_username = username.clone();
            if let Some(password) = password {
                alert.webhook_password_sealed = if password.is_empty() {
                    String::new()
                } else {
                    ctx.sealer.seal(&tally_types::Secret::new(password.clone()))?
                };
            }
        }
    }
    if alert.emails.is_empty() && alert.webhook_url.is_empty() {
        return Err(IamError::invalid("emails", "an alert goes somewhere: give e-mail recipients or a webhook"));
    }
    Ok(())
}

/// The saved report an alert watches, as the caller may see it, with its shape.
async fn watched(ctx: &Ctx<'_>, scope: &ProjectScope, bookmark_id: i64) -> Result<(Bookmark, String), IamError> {
    let viewing = scope.require::<project::ViewReports>()?;
    let (bookmark, _) = crate::reports::bookmark(*ctx, &viewing, bookmark_id).await?;
    let shape = report_shape(&bookmark).map_err(|reason| IamError::invalid("bookmark_id", reason))?;
    Ok((bookmark, shape))
}

pub async fn create_alert(
    ctx: Ctx<'_>,
    permit: &ProjectPermit<'_, project::CreateAlerts>,
    input: &AlertInput,
) -> Result<Alert, IamError> {
    let Principal::User(user) = permit.principal() else {
        return Err(IamError::Forbidden("alerts belong to people: sign in as a user to make one".into()));
    };
    let bookmark_id = input.bookmark_id.ok_or_else(|| IamError::invalid("bookmark_id", "name the saved report"))?;
    let (bookmark, shape) = watched(&ctx, permit.scope(), bookmark_id).await?;
    let now = ctx.now();
    let mut alert = Alert {
        id: 0,
        project_id: permit.project_id(),
        bookmark_id: bookmark.id,
        name: bookmark.name.clone(),
        condition: String::new(),
        frequency: "daily".into(),
        emails: Vec::new(),
        webhook_url: String::new(),
        webhook_username: String::new(),
        webhook_password_sealed: String::new(),
        report_shape: shape,
        invalid_reason: String::new(),
        created_by: user,
        created_at: now,
        modified_at: now,
        next_check_at: now,
    };
    if input.condition.is_none() {
        return Err(IamError::invalid("condition", "say when the alert fires"));
    }
    apply(&ctx, permit.scope(), &mut alert, input).await?;
    let audit = ctx.audit(permit.org_id(), Some(permit.project_id()), "alert.created", "alert", 0).with(
        None,
        Some(json!({ "name": alert.name, "bookmark_id": alert.bookmark_id, "condition": alert.condition })),
    );
    Ok(ctx.store.create_alert(&alert, &audit).await?)
}

/// The alerts the caller sees: their own, or all with `manage_all_alerts`.
pub async fn alerts(ctx: Ctx<'_>, permit: &ProjectPermit<'_, project::ViewReports>) -> Result<Vec<Alert>, IamError> {
    let all = ctx.store.alerts(permit.project_id()).await?;
    Ok(all.into_iter().filter(|alert| may_change(permit.scope(), alert)).collect())
}

/// One alert the caller sees, with why it cannot be checked now (if so).
pub async fn alert(
    ctx: Ctx<'_>,
    permit: &ProjectPermit<'_, project::ViewReports>,
    alert_id: i64,
) -> Result<(Alert, Option<String>), IamError> {
    let alert = ctx
        .store
        .alert(permit.project_id(), alert_id)
        .await?
        .filter(|alert| may_change(permit.scope(), alert))
        .ok_or(IamError::NotFound("alert"))?;
    let bookmark = ctx.store.bookmark(permit.project_id(), alert.bookmark_id).await?;
    let reason = invalid_because(&alert, bookmark.as_ref());
    Ok((alert, reason))
}

/// Changes an alert; saving it again follows its report's current shape (an invalid alert
/// becomes valid) and checks it soon.
pub async fn update_alert(
    ctx: Ctx<'_>,
    permit: &ProjectPermit<'_, project::CreateAlerts>,
    alert_id: i64,
    input: &AlertInput,
) -> Result<Alert, IamError> {
    let viewing = permit.scope().require::<project::ViewReports>()?;
    let (mut alert, _) = alert(ctx, &viewing, alert_id).await?;
    let bookmark_id = input.bookmark_id.unwrap_or(alert.bookmark_id);
    let (bookmark, shape) = watched(&ctx, permit.scope(), bookmark_id).await?;
    alert.bookmark_id = bookmark.id;
    alert.report_shape = shape;
    alert.invalid_reason.clear();
    apply(&ctx, permit.scope(), &mut alert, input).await?;
    alert.modified_at = ctx.now();
    alert.next_check_at = ctx.now();
    let audit = ctx
        .audit(permit.org_id(), Some(permit.project_id()), "alert.updated", "alert", alert_id)
        .with(None, Some(json!({ "name": alert.name, "condition": alert.condition, "frequency": alert.frequency })));
    ctx.store.update_alert(&alert, Some(&audit)).await?;
    Ok(alert)
}

pub async fn delete_alert(
    ctx: Ctx<'_>,
    permit: &ProjectPermit<'_, project::CreateAlerts>,
    alert_id: i64,
) -> Result<(), IamError> {
    let viewing = permit.scope().require::<project::ViewReports>()?;
    alert(ctx, &viewing, alert_id).await?;
    let audit = ctx.audit(permit.org_id(), Some(permit.project_id()), "alert.deleted", "alert", alert_id);
    Ok(ctx.store.delete_alert(permit.project_id(), alert_id, &audit).await?)
}

/// An alert's checks, newest first.
pub async fn history(
    ctx: Ctx<'_>,
    permit: &ProjectPermit<'_, project::ViewReports>,
    alert_id: i64,
) -> Result<Vec<AlertCheck>, IamError> {
    alert(ctx, permit, alert_id).await?;
    Ok(ctx.store.alert_checks(permit.project_id(), alert_id).await?)
}

/// The alerts due for a check: the scheduler's escape hatch, named to stand out. Each is
/// checked with its creator's authority, which the scheduler authorizes again
/// (`authz::authorize_project`) before every check.
pub async fn alerts_due_authorized_at_each_check(
    store: &impl crate::Metadata,
    now: jiff::Timestamp,
) -> Result<Vec<Alert>, IamError> {
    Ok(crate::directory::raw(store).due_alerts(now).await?)
}

/// The creator of an alert, as the authorization function sees them.
pub fn creator(alert: &Alert) -> UserId {
    alert.created_by
}

/// Takes an alert's check until `until` (the scheduler's); `false` when another holds it.
pub async fn lease(
    store: &impl crate::Metadata,
    alert_id: i64,
    now: jiff::Timestamp,
    until: jiff::Timestamp,
) -> Result<bool, IamError> {
    Ok(crate::directory::raw(store).lease_alert(alert_id, now, until).await?)
}

/// Ends a check: the next is due at `next`; a reason makes the alert invalid.
pub async fn release(
    store: &impl crate::Metadata,
    alert_id: i64,
    next: jiff::Timestamp,
    invalid_reason: &str,
) -> Result<(), IamError> {
    Ok(crate::directory::raw(store).release_alert(alert_id, next, invalid_reason).await?)
}

/// The check recorded for an alert's period, if any.
pub async fn recorded_check(
    store: &impl crate::Metadata,
    alert_id: i64,
    period: &str,
) -> Result<Option<AlertCheck>, IamError> {
    Ok(crate::directory::raw(store).alert_check(alert_id, period).await?)
}

/// Records a check; `None` when its period was recorded already.
pub async fn record_check(store: &impl crate::Metadata, check: &AlertCheck) -> Result<Option<i64>, IamError> {
    Ok(crate::directory::raw(store).insert_alert_check(check).await?)
}

/// Records how a fired check was delivered.
pub async fn record_delivery(
    store: &impl crate::Metadata,
    check_id: i64,
    delivered: bool,
    delivery: &str,
) -> Result<(), IamError> {
    Ok(crate::directory::raw(store).set_alert_check_delivered(check_id, delivered, delivery).await?)
}
