//! The alert scheduler: every two seconds, each due alert is leased (one check at a time,
//! across nodes), checked with its creator's authority (authorized again each time), and
//! recorded once per period before anything is sent, so a restart never fires a period
//! twice; a fired check not yet delivered is delivered on the next pass.
//!
//! What a check measures, in the project's time zone: hourly, today so far against
//! yesterday; daily, yesterday against the day before; weekly, the last seven complete days
//! against the seven before. The value is the report's headline: an Insights report's
//! first series over the window, a Funnels report's overall conversion (percent).

use std::time::Duration;

use jiff::civil::Date;
use serde::Serialize;
use serde_json::{Value, json};
use tally_iam::alerts::AlertCondition;
use tally_iam::mail::Mail;
use tally_iam::records::{Alert, AlertCheck};
use tally_types::Principal;
use tally_types::permissions::project::ViewReports;

use crate::AppState;

/// How long a check may hold its alert before another node may take it.
const LEASE: jiff::SignedDuration = jiff::SignedDuration::from_secs(120);

/// Webhook attempts, and the wait before each retry.
const WEBHOOK_BACKOFF: [Duration; 2] = [Duration::from_secs(1), Duration::from_secs(3)];

/// Runs until the returned handle is aborted.
pub fn spawn(state: AppState) -> tokio::task::JoinHandle<()> {
    tokio::spawn(async move {
        let mut interval = tokio::time::interval(Duration::from_secs(2));
        loop {
            interval.tick().await;
            if let Err(error) = run_due(&state).await {
                tracing::warn!(%error, "alerts could not be read; will retry");
            }
        }
    })
}

async fn run_due(state: &AppState) -> Result<(), tally_iam::IamError> {
    let now = state.clock().now();
    for alert in tally_iam::alerts::alerts_due_authorized_at_each_check(state.directory(), now).await? {
        if !tally_iam::alerts::lease(state.directory(), alert.id, now, now + LEASE).await? {
            continue;
        }
        let (next, invalid) = check(state, &alert).await;
        tally_iam::alerts::release(state.directory(), alert.id, next, invalid.as_deref().unwrap_or_default()).await?;
    }
    Ok(())
}

/// The windows a check compares, and the period it is recorded under.
struct Windows {
    period: String,
    current: (Date, Date),
    previous: (Date, Date),
    next: jiff::Timestamp,
}

fn windows(frequency: &str, now: &jiff::Zoned) -> Windows {
    let today = now.date();
    let day = |n: i64| today.checked_sub(jiff::Span::new().days(n)).unwrap_or(today);
    let start_of = |date: Date| date.to_zoned(now.time_zone().clone()).map(|zoned| zoned.timestamp()).ok();
    let fallback = now.timestamp() + jiff::SignedDuration::from_hours(1);
    match frequency {
        "hourly" => Windows {
            period: format!("{}T{:02}", today, now.hour()),
            current: (today, today),
            previous: (day(1), day(1)),
            next: now
                .with()
                .minute(0)
                .second(0)
                .subsec_nanosecond(0)
                .build()
                .map(|hour| hour.timestamp() + jiff::SignedDuration::from_hours(1))
                .unwrap_or(fallback),
        },
        "weekly" => Windows {
            period: format!("week to {}", day(1)),
            current: (day(7), day(1)),
            previous: (day(14), day(8)),
            next: start_of(today.checked_add(jiff::Span::new().days(7)).unwrap_or(today)).unwrap_or(fallback),
        },
        _ => Windows {
            period: day(1).to_string(),
            current: (day(1), day(1)),
            previous: (day(2), day(2)),
            next: start_of(today.tomorrow().unwrap_or(today)).unwrap_or(fallback),
        },
    }
}

/// What a check found.
pub(crate) struct Evaluation {
    pub value: f64,
    pub previous: Option<f64>,
    pub period: String,
    pub report_name: String,
    pub next: jiff::Timestamp,
}

/// Checks one alert: returns when the next check is due and, when the alert cannot be
/// checked any more, why.
async fn check(state: &AppState, alert: &Alert) -> (jiff::Timestamp, Option<String>) {
    let retry = state.clock().now() + jiff::SignedDuration::from_mins(5);
    let evaluation = match evaluate(state, alert).await {
        Ok(evaluation) => evaluation,
        Err(Failure::Invalid(reason)) => return (retry, Some(reason)),
        Err(Failure::Error(error)) => {
            tracing::warn!(alert = alert.id, %error, "an alert check failed; retrying in five minutes");
            return (retry, None);
        }
    };
    let next = evaluation.next;
    let result = match tally_iam::alerts::recorded_check(state.directory(), alert.id, &evaluation.period).await {
        // Checked already (before a restart): deliver what fired and was not delivered.
        Ok(Some(done)) => {
            if done.fired && !done.delivered {
                deliver(state, alert, &evaluation, &done).await;
            }
            Ok(())
        }
        Ok(None) => record_and_deliver(state, alert, &evaluation, false).await.map(|_| ()),
        Err(error) => Err(error),
    };
    if let Err(error) = result {
        tracing::warn!(alert = alert.id, %error, "an alert check could not be recorded; retrying in five minutes");
        return (retry, None);
    }
    (next, None)
}

/// Records a check (a test fires whatever its value) and delivers it when it fired.
pub(crate) async fn record_and_deliver(
    state: &AppState,
    alert: &Alert,
    evaluation: &Evaluation,
    test: bool,
) -> Result<Option<AlertCheck>, tally_iam::IamError> {
    let condition = AlertCondition::stored(alert)?;
    let fired = test || condition.holds(evaluation.value, evaluation.previous);
    let mut recorded = AlertCheck {
        id: 0,
        alert_id: alert.id,
        project_id: alert.project_id,
        period: evaluation.period.clone(),
        checked_at: state.clock().now(),
        value: Some(evaluation.value),
        previous: evaluation.previous,
        fired,
        test,
        delivered: false,
        delivery: String::new(),
    };
    let Some(id) = tally_iam::alerts::record_check(state.directory(), &recorded).await? else { return Ok(None) };
    recorded.id = id;
    if fired {
        let (delivered, delivery) = deliver(state, alert, evaluation, &recorded).await;
        recorded.delivered = delivered;
        recorded.delivery = delivery;
    }
    Ok(Some(recorded))
}

pub(crate) enum Failure {
    /// The alert cannot be checked until it is saved again.
    Invalid(String),
    Error(String),
}

/// Runs the alert's report over its windows, as its creator.
pub(crate) async fn evaluate(state: &AppState, alert: &Alert) -> Result<Evaluation, Failure> {
    let creator = Principal::User(tally_iam::alerts::creator(alert));
    let scope = tally_iam::authz::authorize_project(
        state.directory(),
        state.clock(),
        creator,
        alert.project_id,
        tally_types::ProjectPermission::ViewReports,
    )
    .await
    .map_err(|_| Failure::Invalid("its creator can no longer open the project's reports".into()))?;
    let permit = scope.require::<ViewReports>().map_err(|error| Failure::Invalid(error.to_string()))?;
    let actor = tally_iam::admin::Actor::new(creator, format!("alert {}", alert.id), None);
    let bookmark = match tally_iam::reports::bookmark(state.ctx(&actor), &permit, alert.bookmark_id).await {
        Ok((bookmark, _)) => bookmark,
        Err(tally_iam::IamError::NotFound(_)) => {
            return Err(Failure::Invalid("its saved report was deleted, or its creator can no longer open it".into()));
        }
        Err(error) => return Err(Failure::Error(error.to_string())),
    };
    if let Some(reason) = tally_iam::alerts::invalid_because(alert, Some(&bookmark)) {
        return Err(Failure::Invalid(reason));
    }
    let data = tally_iam::views::data_scope(state.directory(), &permit, None)
        .await
        .map_err(|error| Failure::Error(error.to_string()))?;
    let engine =
        state.query_engine(&data.project().region).ok_or_else(|| Failure::Error("not this node's region".into()))?;
    let cohorts = tally_iam::reports::cohorts(state.ctx(&actor), &permit)
        .await
        .map_err(|error| Failure::Error(error.to_string()))?;
    let cohorts = crate::routes::app::cohorts::saved_cohorts(&cohorts);
    let now = state.clock().now().to_zoned(tally_query::zone_of(&data));
    let windows = windows(&alert.frequency, &now);
    let saved: Value = serde_json::from_str(&bookmark.report).map_err(|error| Failure::Error(error.to_string()))?;
    let mut values = Vec::new();
    for (from, to) in [windows.current, windows.previous] {
        let mut report = saved.clone();
        report["range"] = json!({ "from_date": from.to_string(), "to_date": to.to_string() });
        report["compare"] = Value::Bool(false);
        let report: tally_query::model::Report = serde_json::from_value(report)
            .map_err(|error| Failure::Invalid(format!("its report cannot be read: {error}")))?;
        let answer = engine
            .run_with_cohorts(&data, &report, &cohorts)
            .await
            .map_err(|error| Failure::Error(error.to_string()))?;
        values.push(headline(&answer.result));
    }
    Ok(Evaluation {
        value: values.first().copied().flatten().unwrap_or(0.0),
        previous: values.get(1).copied().flatten(),
        period: windows.period,
        report_name: bookmark.name,
        next: windows.next,
    })
}

/// An answer's headline number.
fn headline(result: &tally_query::ReportResult) -> Option<f64> {
    match result {
        tally_query::ReportResult::Insights(insights) => {
            Some(insights.series.first().and_then(|series| series.total).unwrap_or(0.0))
        }
        tally_query::ReportResult::Funnels(funnel) => {
            Some(funnel.steps.last().map(|step| step.overall_conversion * 100.0).unwrap_or(0.0))
        }
        _ => None,
    }
}

/// What a webhook receives.
#[derive(Serialize)]
struct WebhookBody<'a> {
    alert: Value,
    project_id: i64,
    report: Value,
    condition: Value,
    value: f64,
    previous: Option<f64>,
    period: &'a str,
    checked_at: String,
    test: bool,
}

/// Sends a fired check by e-mail and webhook; records and returns whether every delivery
/// succeeded and what each answered.
async fn deliver(state: &AppState, alert: &Alert, evaluation: &Evaluation, check: &AlertCheck) -> (bool, String) {
    let condition: Value = serde_json::from_str(&alert.condition).unwrap_or(Value::Null);
    let actor = tally_iam::admin::Actor::operator();
    let base = state.ctx(&actor).settings.base_url.trim_end_matches('/').to_string();
    let link = format!("{base}/projects/{}/reports/{}", alert.project_id.0, alert.bookmark_id);
    let previous = evaluation.previous.map_or_else(|| "no value".to_string(), |previous| previous.to_string());
    let mut outcome = serde_json::Map::new();
    let mut delivered = true;
    let mut sent = 0;
    let mut failures = Vec::new();
    for to in &alert.emails {
        let mail = Mail {
            to: to.clone(),
            subject: format!("{}Tally alert: {}", if check.test { "[test] " } else { "" }, alert.name),
            body: format!(
                "{name} ({report}) is {value} for {period}, against {previous} before; the alert fires when it is {kind} {limit}.\n\nOpen the report: {link}\n",
                name = alert.name,
                report = evaluation.report_name,
                value = evaluation.value,
                period = evaluation.period,
                kind = condition["kind"].as_str().unwrap_or_default().replace('_', " "),
                limit = condition["value"],
            ),
        };
        match state.ctx(&actor).mailer.send(mail).await {
            Ok(()) => sent += 1,
            Err(error) => failures.push(format!("{to}: {error}")),
        }
    }
    if !alert.emails.is_empty() {
        delivered &= failures.is_empty();
        outcome.insert("email".into(), json!({ "sent": sent, "failed": failures }));
    }
    if !alert.webhook_url.is_empty() {
        let body = WebhookBody {
            alert: json!({ "id": alert.id, "name": alert.name }),
            project_id: alert.project_id.0,
            report: json!({ "id": alert.bookmark_id, "name": evaluation.report_name, "url": link }),
            condition,
            value: evaluation.value,
            previous: evaluation.previous,
            period: &evaluation.period,
            checked_at: check.checked_at.to_string(),
            test: check.test,
        };
        let (ok, answer) = post_webhook(state, alert, &body).await;
        delivered &= ok;
        outcome.insert("webhook".into(), answer);
    }
    let delivery = Value::Object(outcome).to_string();
    if let Err(error) = tally_iam::alerts::record_delivery(state.directory(), check.id, delivered, &delivery).await {
        tracing::warn!(alert = alert.id, %error, "an alert's delivery could not be recorded");
    }
    (delivered, delivery)
}

/// POSTs the body to the alert's webhook, retrying with backoff; whether it was taken (a
/// 2xx answer) and what happened.
async fn post_webhook(state: &AppState, alert: &Alert, body: &WebhookBody<'_>) -> (bool, Value) {
    let client = match webhook_client(state) {
        Ok(client) => client,
        Err(error) => return (false, json!({ "error": error })),
    };
    let password = if alert.webhook_password_sealed.is_empty() {
        None
    } else {
        let actor = tally_iam::admin::Actor::operator();
        match state.ctx(&actor).sealer.open(&alert.webhook_password_sealed) {
            Ok(password) => Some(password.expose().clone()),
            Err(error) => return (false, json!({ "error": error.to_string() })),
        }
    };
    let mut attempts = 0;
    let mut last = Value::Null;
    for wait in std::iter::once(None).chain(WEBHOOK_BACKOFF.iter().map(Some)) {
        if let Some(wait) = wait {
            tokio::time::sleep(*wait).await;
        }
        attempts += 1;
        let mut request = client.post(&alert.webhook_url).json(body);
        if !alert.webhook_username.is_empty() {
            request = request.basic_auth(&alert.webhook_username, password.as_deref());
        }
        match request.send().await {
            Ok(answer) if answer.status().is_success() => {
                return (true, json!({ "status": answer.status().as_u16(), "attempts": attempts }));
            }
            Ok(answer) => last = json!({ "status": answer.status().as_u16(), "attempts": attempts }),
            Err(error) => last = json!({ "error": error.to_string(), "attempts": attempts }),
        }
    }
    (false, last)
}

fn webhook_client(state: &AppState) -> Result<reqwest::Client, String> {
    let mut builder = reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .timeout(Duration::from_secs(10))
        .https_only(true);
    if let Some(path) = &state.config().alerts_webhook_ca_file {
        let pem = std::fs::read(path).map_err(|error| format!("alerts.webhook_ca_file {}: {error}", path.display()))?;
        for certificate in reqwest::Certificate::from_pem_bundle(&pem).map_err(|error| error.to_string())? {
            builder = builder.add_root_certificate(certificate);
        }
    }
    builder.build().map_err(|error| error.to_string())
}
