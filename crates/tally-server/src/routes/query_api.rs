//! Mixpanel's Query API (`/api/query/*`, and the same paths under `/api/2.0/`), answered by
//! the query engine with Mixpanel's response shapes: segmentation (+ `/sum`, `/average`),
//! ad-hoc funnels, retention, and event names. Authenticated as the export is: the API
//! secret, or a service account with `project_id` and `ViewReports`.

use std::collections::{BTreeMap, HashMap};

use axum::extract::State;
use axum::http::StatusCode;
use axum::http::request::Parts;
use axum::response::{IntoResponse, Response};
use serde_json::{Value, json};
use tally_iam::authz::DataScope;
use tally_query::model::{
    Breakdown, DateRange, EventSelector, Funnel, Insights, Measure, Metric, PerUserAggregate, PropertyAggregate,
    Report, Retention, RetentionCriterion, RetentionKind, RetentionUnit, TimeUnit,
};
use tally_query::{Answer, QueryEngine, ReportResult};
use tally_types::permissions::ProjectMarker;
use tally_types::permissions::project::{ViewReports, ViewUsers};

use super::ingest::{data_scope_for, misdirected_answer};
use crate::AppState;
use crate::extract::QueryParams;
use crate::query_limit::Admitted;

type Params = HashMap<String, String>;

/// Most dates one ad-hoc funnel request answers (each date is a funnel of its own).
const MAX_FUNNEL_DATES: usize = 92;

/// Mixpanel's error body: `{"error": "...", "request": "..."}`.
fn refused(status: StatusCode, parts: &Parts, message: impl Into<String>) -> Response {
    let request = parts.uri.path_and_query().map_or_else(|| parts.uri.path().to_string(), ToString::to_string);
    (status, axum::Json(json!({ "error": message.into(), "request": request }))).into_response()
}

fn bad(parts: &Parts, message: impl Into<String>) -> Response {
    refused(StatusCode::BAD_REQUEST, parts, message)
}

/// The caller's project and its query engine.
pub(crate) async fn engine<P: ProjectMarker>(
    state: &AppState,
    parts: &Parts,
    params: &Params,
) -> Result<(DataScope<P>, QueryEngine), Response> {
    let scope = data_scope_for::<P>(state, parts, params.get("project_id").map(String::as_str)).await?;
    let Some(engine) = state.query_engine(&scope.project().region) else {
        return Err(misdirected_answer(state, &scope.project().region));
    };
    Ok((scope, engine))
}

/// One more query under the project's Query API limits, taken once the request's
/// parameters are known to be good (a malformed request costs nothing); it counts as
/// running until the returned place is dropped.
#[allow(clippy::result_large_err, reason = "the refusal is the handler's answer, as every handler here returns")]
fn admit<P: ProjectMarker>(state: &AppState, parts: &Parts, scope: &DataScope<P>) -> Result<Admitted, Response> {
    let project_id = scope.project_id().0;
    match state.query_limits().admit(project_id, state.clock().now().as_millisecond()) {
        Ok(place) => Ok(place),
        Err(refusal) => {
            let mut response = refused(StatusCode::TOO_MANY_REQUESTS, parts, refusal.message(project_id));
            response.headers_mut().insert(axum::http::header::RETRY_AFTER, axum::http::HeaderValue::from_static("60"));
            Err(response)
        }
    }
}

async fn answer(
    parts: &Parts,
    engine: &QueryEngine,
    scope: &DataScope<ViewReports>,
    report: &Report,
) -> Result<Answer, Response> {
    engine.run(scope, report).await.map_err(|error| match error.kind() {
        tally_types::ErrorKind::InvalidInput => bad(parts, error.to_string()),
        _ => {
            tracing::warn!(%error, "a Query API request failed");
            refused(
                StatusCode::SERVICE_UNAVAILABLE,
                parts,
                "the event storage cannot be read right now; try again shortly",
            )
        }
    })
}

/// A parameter that must be there; the error says what to send.
fn required<'a>(params: &'a Params, name: &str, example: &str) -> Result<&'a str, String> {
    params
        .get(name)
        .map(String::as_str)
        .filter(|value| !value.trim().is_empty())
        .ok_or_else(|| format!("{name} is required (for example {name}={example})"))
}

/// A parameter that names one of `allowed` (`default` when absent), read as `T`'s serde
/// name (the report model's units spell themselves as the Query API does).
fn choice<T: serde::de::DeserializeOwned>(
    params: &Params,
    name: &str,
    allowed: &[&str],
    default: T,
) -> Result<T, String> {
    let Some(text) = params.get(name) else { return Ok(default) };
    let refused = || format!("{name} {text:?} is not one of {}", allowed.join(", "));
    if !allowed.contains(&text.as_str()) {
        return Err(refused());
    }
    serde_json::from_value(Value::String(text.clone())).map_err(|_| refused())
}

fn where_of(params: &Params) -> Option<String> {
    params.get("where").map(|text| text.trim().to_string()).filter(|text| !text.is_empty())
}

fn limit(params: &Params, default: usize, most: usize) -> Result<usize, String> {
    match params.get("limit") {
        None => Ok(default),
        Some(text) => match text.parse::<usize>() {
            Ok(limit) if (1..=most).contains(&limit) => Ok(limit),
            _ => Err(format!("limit must be a number from 1 to {most}")),
        },
    }
}

/// What `type` counts: every event (`general`, the default), unique users, or the average
/// per user.
fn measure_of(params: &Params) -> Result<Measure, String> {
    match params.get("type").map(String::as_str) {
        None | Some("general") => Ok(Measure::Total),
        Some("unique") => Ok(Measure::Unique),
        Some("average") => Ok(Measure::PerUser { aggregate: PerUserAggregate::Average }),
        Some(other) => Err(format!("type {other:?} is not one of general, unique, average")),
    }
}

/// The project's today, in its time zone.
fn today(state: &AppState, scope: &DataScope<ViewReports>) -> jiff::civil::Date {
    state.clock().now().to_zoned(tally_query::zone_of(scope)).date()
}

/// `from_date` and `to_date`, or (without them) the last `interval` units up to today in the
/// project's time zone, as Mixpanel's `/events` endpoints take either.
fn range_or_interval(params: &Params, unit: TimeUnit, today: jiff::civil::Date) -> Result<DateRange, String> {
    if params.contains_key("from_date") || params.contains_key("to_date") || !params.contains_key("interval") {
        return DateRange::from_params(params);
    }
    let count = params
        .get("interval")
        .and_then(|text| text.parse::<i64>().ok())
        .filter(|count| (1..=366).contains(count))
        .ok_or("interval must be a number from 1 to 366")?;
    let back = match unit {
        TimeUnit::Day => jiff::Span::new().days(count - 1),
        TimeUnit::Week => jiff::Span::new().weeks(count - 1),
        TimeUnit::Month => jiff::Span::new().months(count - 1),
        _ => return Err("interval is answered for unit day, week or month; send from_date and to_date".into()),
    };
    let from_date = today.checked_sub(back).map_err(|_| "interval reaches out of the calendar".to_string())?;
    Ok(DateRange { from_date, to_date: today })
}

/// A parameter holding a JSON array of `what` (`event=["Sign Up","Purchase"]`), one to
/// `most` of them.
fn names_of(params: &Params, name: &str, what: &str, example: &str, most: usize) -> Result<Vec<String>, String> {
    let text = required(params, name, example)?;
    let names: Vec<String> =
        serde_json::from_str(text).map_err(|_| format!("{name} must be a JSON array of {what}, such as {example}"))?;
    if names.is_empty() || names.len() > most {
        return Err(format!("{name} holds from 1 to {most} {what}"));
    }
    Ok(names)
}

/// One Insights report of `metrics`, answered under the project's limits.
async fn insights(
    state: &AppState,
    parts: &Parts,
    scope: &DataScope<ViewReports>,
    engine: &QueryEngine,
    report: Insights,
) -> Result<tally_query::InsightsAnswer, Response> {
    let _place = admit(state, parts, scope)?;
    let Answer { result: ReportResult::Insights(answer), .. } =
        self::answer(parts, engine, scope, &Report::Insights(report)).await?
    else {
        return Err(refused(StatusCode::INTERNAL_SERVER_ERROR, parts, "the answer is not a segmentation"));
    };
    Ok(answer)
}

fn metric(event: &str, measure: Measure) -> Metric {
    Metric { events: EventSelector { event: event.to_string(), filters: Vec::new() }, measure }
}

fn report_of(range: DateRange, unit: TimeUnit, metrics: Vec<Metric>, breakdown: Option<Breakdown>) -> Insights {
    Insights {
        range,
        unit,
        metrics,
        filters: Vec::new(),
        where_expression: None,
        breakdown,
        formulas: Vec::new(),
        compare: false,
        view: Default::default(),
    }
}

/// `{"data":{"series":[dates],"values":{"<name>":{"<date>":n}}},"legend_size":n}`, each
/// series named by `name`.
fn dated_values(answer: &tally_query::InsightsAnswer, name: impl Fn(&tally_query::Series) -> String) -> Value {
    let mut values: BTreeMap<String, BTreeMap<String, Value>> = BTreeMap::new();
    for series in &answer.series {
        let points =
            answer.buckets.iter().zip(&series.values).map(|(date, value)| (date.clone(), number(value.unwrap_or(0.0))));
        values.insert(name(series), points.collect());
    }
    json!({ "data": { "series": answer.buckets, "values": values }, "legend_size": values.len() })
}

/// `GET /api/query/events`: several events over time (`event` a JSON array, `type`, `unit`,
/// `interval` or `from_date`/`to_date`), in `/segmentation`'s shape with one series per event.
pub(crate) async fn events(
    State(state): State<AppState>,
    QueryParams(params): QueryParams<Params>,
    parts: Parts,
) -> Result<Response, Response> {
    let (scope, engine) = engine(&state, &parts, &params).await?;
    let request = || -> Result<Insights, String> {
        let names = names_of(&params, "event", "event names", "[\"Signed Up\"]", 40)?;
        let measure = measure_of(&params)?;
        let unit = choice(&params, "unit", &["minute", "hour", "day", "week", "month"], TimeUnit::Day)?;
        let range = range_or_interval(&params, unit, today(&state, &scope))?;
        let metrics = names.iter().map(|name| metric(name, measure.clone())).collect();
        Ok(report_of(range, unit, metrics, None))
    };
    let report = request().map_err(|message| bad(&parts, message))?;
    let names: Vec<String> = report.metrics.iter().map(|metric| metric.events.event.clone()).collect();
    let answer = insights(&state, &parts, &scope, &engine, report).await?;
    Ok(axum::Json(dated_values(&answer, |series| names[series.metric].clone())).into_response())
}

/// `GET /api/query/events/top`: today's most frequent events (`type`, `limit`, default 100):
/// `{"events":[{"amount":n,"event":"<name>","percent_change":x}],"type":"general"}`, the
/// change against yesterday (0 when yesterday had none).
pub(crate) async fn events_top(
    State(state): State<AppState>,
    QueryParams(params): QueryParams<Params>,
    parts: Parts,
) -> Result<Response, Response> {
    let (scope, engine) = engine(&state, &parts, &params).await?;
    let measure = measure_of(&params).map_err(|message| bad(&parts, message))?;
    let limit = limit(&params, 100, 10_000).map_err(|message| bad(&parts, message))?;
    let today = today(&state, &scope);
    let yesterday = today.yesterday().map_err(|_| bad(&parts, "today has no yesterday in the calendar"))?;
    let breakdown = Breakdown {
        property: Some("$event".into()),
        expression: None,
        source: Default::default(),
        bins: None,
        limit: tally_query::MAX_SEGMENTS,
        other: false,
    };
    let report = report_of(
        DateRange { from_date: yesterday, to_date: today },
        TimeUnit::Day,
        vec![metric(tally_query::model::ALL_EVENTS, measure)],
        Some(breakdown),
    );
    let answer = insights(&state, &parts, &scope, &engine, report).await?;
    let mut top: Vec<(String, f64, f64)> = answer
        .series
        .iter()
        .filter_map(|series| {
            let value = |day: usize| series.values.get(day).copied().flatten().unwrap_or(0.0);
            Some((series.segment.clone()?, value(1), value(0)))
        })
        .filter(|(_, today, _)| *today > 0.0)
        .collect();
    top.sort_by(|a, b| b.1.total_cmp(&a.1).then_with(|| a.0.cmp(&b.0)));
    let events: Vec<Value> = top
        .into_iter()
        .take(limit)
        .map(|(event, today, yesterday)| {
            let change = if yesterday > 0.0 { (today - yesterday) / yesterday } else { 0.0 };
            json!({ "amount": number(today), "event": event, "percent_change": change })
        })
        .collect();
    let kind = params.get("type").cloned().unwrap_or_else(|| "general".into());
    Ok(axum::Json(json!({ "events": events, "type": kind })).into_response())
}

/// `GET /api/query/events/properties`: one event over time segmented by the values of the
/// property `name` (`values`, a JSON array, keeps only those), in `/events`' shape.
pub(crate) async fn events_properties(
    State(state): State<AppState>,
    QueryParams(params): QueryParams<Params>,
    parts: Parts,
) -> Result<Response, Response> {
    let (scope, engine) = engine(&state, &parts, &params).await?;
    let request = || -> Result<(Insights, Option<Vec<String>>), String> {
        let event = required(&params, "event", "Signed%20Up")?;
        let name = required(&params, "name", "plan")?;
        let wanted = match params.get("values") {
            None => None,
            Some(text) => Some(
                serde_json::from_str::<Vec<String>>(text)
                    .map_err(|_| "values must be a JSON array of values, such as [\"pro\"]".to_string())?,
            ),
        };
        let measure = measure_of(&params)?;
        let unit = choice(&params, "unit", &["minute", "hour", "day", "week", "month"], TimeUnit::Day)?;
        let range = range_or_interval(&params, unit, today(&state, &scope))?;
        let limit = limit(&params, 255, 10_000)?;
        let breakdown = Breakdown {
            property: Some(name.to_string()),
            expression: None,
            source: Default::default(),
            bins: None,
            limit,
            other: false,
        };
        let mut report = report_of(range, unit, vec![metric(event, measure)], Some(breakdown));
        report.where_expression = where_of(&params);
        Ok((report, wanted))
    };
    let (report, wanted) = request().map_err(|message| bad(&parts, message))?;
    let mut answer = insights(&state, &parts, &scope, &engine, report).await?;
    if let Some(wanted) = wanted {
        answer.series.retain(|series| series.segment.as_ref().is_some_and(|segment| wanted.contains(segment)));
    }
    Ok(axum::Json(dated_values(&answer, |series| series.segment.clone().unwrap_or_default())).into_response())
}

/// `GET /api/query/events/properties/top`: an event's most frequent properties (`limit`,
/// default 10), from the lexicon: `{"<property>":{"count":n}}`.
pub(crate) async fn events_properties_top(
    State(state): State<AppState>,
    QueryParams(params): QueryParams<Params>,
    parts: Parts,
) -> Result<Response, Response> {
    let lexicon = lexicon_of(&state, &parts, &params).await?;
    let event = required(&params, "event", "Signed%20Up").map_err(|message| bad(&parts, message))?;
    let limit = limit(&params, 10, 10_000).map_err(|message| bad(&parts, message))?;
    let properties = lexicon
        .events
        .get(event)
        .map(|entry| most_frequent(entry.properties.iter().map(|(name, property)| (name, property.seen.count)), limit))
        .unwrap_or_default();
    let body: serde_json::Map<String, Value> =
        properties.into_iter().map(|(name, count)| (name.clone(), json!({ "count": count }))).collect();
    Ok(axum::Json(body).into_response())
}

/// The caller's project's lexicon (API secret, or a service account with `project_id`).
async fn lexicon_of(state: &AppState, parts: &Parts, params: &Params) -> Result<tally_events::Lexicon, Response> {
    let scope = data_scope_for::<ViewReports>(state, parts, params.get("project_id").map(String::as_str)).await?;
    match state.event_store(&scope.project().region) {
        Some(events) => events.lexicon_of(&scope).await.map_err(|error| {
            refused(StatusCode::SERVICE_UNAVAILABLE, parts, format!("the lexicon cannot be read: {error}"))
        }),
        None => Err(misdirected_answer(state, &scope.project().region)),
    }
}

/// Names by count, most frequent first (ties by name), at most `limit`.
fn most_frequent<'a>(counted: impl Iterator<Item = (&'a String, u64)>, limit: usize) -> Vec<(&'a String, u64)> {
    let mut counted: Vec<(&String, u64)> = counted.collect();
    counted.sort_by(|a, b| b.1.cmp(&a.1).then_with(|| a.0.cmp(b.0)));
    counted.truncate(limit);
    counted
}

/// `GET /api/query/events/properties/values`: the most frequent values of an event's property
/// `name` (`limit`, default 255) over `from_date`..`to_date` or the last 30 days: a JSON array.
pub(crate) async fn events_properties_values(
    State(state): State<AppState>,
    QueryParams(params): QueryParams<Params>,
    parts: Parts,
) -> Result<Response, Response> {
    let (scope, engine) = engine(&state, &parts, &params).await?;
    let request = || -> Result<(Insights, usize), String> {
        let event = required(&params, "event", "Signed%20Up")?;
        let name = required(&params, "name", "plan")?;
        let limit = limit(&params, 255, 10_000)?;
        let range = if params.contains_key("from_date") || params.contains_key("to_date") {
            DateRange::from_params(&params)?
        } else {
            let today = today(&state, &scope);
            let from_date = today
                .checked_sub(jiff::Span::new().days(29))
                .map_err(|_| "the last 30 days reach out of the calendar".to_string())?;
            DateRange { from_date, to_date: today }
        };
        // One more than asked: "(not set)" is no value and is left out.
        let breakdown = Breakdown {
            property: Some(name.to_string()),
            source: Default::default(),
            bins: None,
            expression: None,
            limit: (limit + 1).min(tally_query::MAX_SEGMENTS),
            other: false,
        };
        Ok((report_of(range, TimeUnit::Month, vec![metric(event, Measure::Total)], Some(breakdown)), limit))
    };
    let (report, wanted) = request().map_err(|message| bad(&parts, message))?;
    let answer = insights(&state, &parts, &scope, &engine, report).await?;
    let values: Vec<String> = answer
        .series
        .iter()
        .filter_map(|series| series.segment.clone())
        .filter(|segment| segment != tally_query::NOT_SET)
        .take(wanted)
        .collect();
    Ok(axum::Json(values).into_response())
}

/// `GET /api/query/segmentation`: one event over time, segmented by `on`:
/// `{"data":{"series":[dates],"values":{"<segment>":{"<date>":n}}},"legend_size":n}`.
pub(crate) async fn segmentation(
    State(state): State<AppState>,
    QueryParams(params): QueryParams<Params>,
    parts: Parts,
) -> Result<Response, Response> {
    let csv = match params.get("format").map(String::as_str) {
        None | Some("json") => false,
        Some("csv") => true,
        Some(other) => return Err(bad(&parts, format!("format {other:?} is not json or csv"))),
    };
    let (scope, engine) = engine(&state, &parts, &params).await?;
    let measure = measure_of(&params).map_err(|message| bad(&parts, message))?;
    let answer = segmented(run_segmentation(&state, &parts, &params, &scope, &engine, measure, None).await?);
    Ok(if csv { csv_of(&parts, &answer) } else { axum::Json(answer).into_response() })
}

/// `/segmentation/numeric`: the event over time by ranges of the numeric expression `on`
/// (`buckets` about how many, 10 by default), in `/segmentation`'s shape, each segment named
/// by its range (`"10 - 20"`).
pub(crate) async fn segmentation_numeric(
    State(state): State<AppState>,
    QueryParams(params): QueryParams<Params>,
    parts: Parts,
) -> Result<Response, Response> {
    let (scope, engine) = engine(&state, &parts, &params).await?;
    let measure = measure_of(&params).map_err(|message| bad(&parts, message))?;
    required(&params, "on", "properties[\"amount\"]").map_err(|message| bad(&parts, message))?;
    let count = match params.get("buckets") {
        None => 10,
        Some(text) => text
            .parse::<usize>()
            .ok()
            .filter(|count| (1..=50).contains(count))
            .ok_or_else(|| bad(&parts, format!("buckets {text:?} is not a number from 1 to 50")))?,
    };
    let bins = tally_query::model::Bins::Auto { count };
    let answer = segmented(run_segmentation(&state, &parts, &params, &scope, &engine, measure, Some(bins)).await?);
    Ok(axum::Json(answer).into_response())
}

/// `/segmentation`'s answer as CSV (`format=csv`): a `date` column, then one column per
/// segment in the JSON answer's order, one row per date.
fn csv_of(parts: &Parts, answer: &Value) -> Response {
    match csv_text(answer) {
        Ok(body) => ([(axum::http::header::CONTENT_TYPE, "text/csv; charset=utf-8")], body).into_response(),
        Err(error) => {
            tracing::warn!(%error, "a CSV answer could not be written");
            refused(StatusCode::INTERNAL_SERVER_ERROR, parts, "the CSV answer could not be written")
        }
    }
}

fn csv_text(answer: &Value) -> Result<Vec<u8>, csv::Error> {
    let dates = answer["data"]["series"].as_array().cloned().unwrap_or_default();
    let values = answer["data"]["values"].as_object().cloned().unwrap_or_default();
    let header: Vec<String> = std::iter::once("date".to_string()).chain(values.keys().cloned()).collect();
    let rows = dates.iter().filter_map(Value::as_str).map(|date| {
        let cells = values.values().map(|points| points.get(date).map(Value::to_string).unwrap_or_default());
        std::iter::once(date.to_string()).chain(cells).collect::<Vec<_>>()
    });
    super::csv_bytes(std::iter::once(header).chain(rows))
}

/// `/segmentation/sum` and `/segmentation/average`: the numeric expression `on` summed or
/// averaged per date: `{"results":{"<date>":x},"status":"ok"}`.
pub(crate) async fn segmentation_sum(
    state: State<AppState>,
    params: QueryParams<Params>,
    parts: Parts,
) -> Result<Response, Response> {
    numeric(state, params, parts, PropertyAggregate::Sum).await
}

pub(crate) async fn segmentation_average(
    state: State<AppState>,
    params: QueryParams<Params>,
    parts: Parts,
) -> Result<Response, Response> {
    numeric(state, params, parts, PropertyAggregate::Average).await
}

async fn numeric(
    State(state): State<AppState>,
    QueryParams(params): QueryParams<Params>,
    parts: Parts,
    aggregate: PropertyAggregate,
) -> Result<Response, Response> {
    let (scope, engine) = engine(&state, &parts, &params).await?;
    let on = required(&params, "on", "properties[\"amount\"]").map_err(|message| bad(&parts, message))?.to_string();
    let measure = Measure::Expression { expression: on, aggregate };
    let mut without_on = params.clone();
    without_on.remove("on");
    let (_, insights) = run_segmentation(&state, &parts, &without_on, &scope, &engine, measure, None).await?;
    let answer = {
        let results: BTreeMap<String, Value> = insights
            .series
            .first()
            .map(|series| {
                insights
                    .buckets
                    .iter()
                    .zip(&series.values)
                    .map(|(date, value)| (date.clone(), number(value.unwrap_or(0.0))))
                    .collect()
            })
            .unwrap_or_default();
        json!({ "results": results, "status": "ok" })
    };
    Ok(axum::Json(answer).into_response())
}

async fn run_segmentation(
    state: &AppState,
    parts: &Parts,
    params: &Params,
    scope: &DataScope<ViewReports>,
    engine: &QueryEngine,
    measure: Measure,
    bins: Option<tally_query::model::Bins>,
) -> Result<(String, tally_query::InsightsAnswer), Response> {
    let event = required(params, "event", "Signed%20Up").map_err(|message| bad(parts, message))?.to_string();
    let range = DateRange::from_params(params).map_err(|message| bad(parts, message))?;
    let unit = choice(params, "unit", &["minute", "hour", "day", "week", "month"], TimeUnit::Day)
        .map_err(|message| bad(parts, message))?;
    let limit = limit(params, 60, 10_000).map_err(|message| bad(parts, message))?;
    let breakdown = params.get("on").map(|on| on.trim()).filter(|on| !on.is_empty()).map(|on| Breakdown {
        property: None,
        source: Default::default(),
        bins,
        expression: Some(on.to_string()),
        limit,
        other: false,
    });
    let mut report = report_of(range, unit, vec![metric(&event, measure)], breakdown);
    report.where_expression = where_of(params);
    let answer = insights(state, parts, scope, engine, report).await?;
    Ok((event, answer))
}

/// `/segmentation`'s shape: one series per segment, or the event's when there is no `on`.
fn segmented((event, answer): (String, tally_query::InsightsAnswer)) -> Value {
    dated_values(&answer, |series| series.segment.clone().unwrap_or_else(|| event.clone()))
}

/// Numbers as Mixpanel prints them: whole numbers without a fraction.
fn number(value: f64) -> Value {
    if value.fract() == 0.0 && value.abs() < 9e15 { json!(value as i64) } else { json!(value) }
}

/// `GET /api/query/funnels`: an ad-hoc funnel (Tally's extension: `events` is a JSON array
/// of `{"event": name}` steps, since saved funnels come with bookmarks), answered per date
/// of `unit` (each date a funnel of the users whose entry falls in it):
/// `{"meta":{"dates":[...]},"data":{"<date>":{"steps":[...],"analysis":{...}}}}`.
pub(crate) async fn funnels(
    State(state): State<AppState>,
    QueryParams(params): QueryParams<Params>,
    parts: Parts,
) -> Result<Response, Response> {
    let (scope, engine) = engine(&state, &parts, &params).await?;
    if let Some(name) = ["on", "interval"].into_iter().find(|name| params.contains_key(*name)) {
        return Err(bad(&parts, format!("{name} is not answered yet for funnels; leave it out")));
    }
    let saved = match params.get("funnel_id") {
        Some(text) => match saved_report(&state, &parts, &scope, text, "funnel_id").await? {
            Report::Funnels(funnel) => Some(funnel),
            _ => return Err(refused(StatusCode::NOT_FOUND, &parts, format!("no saved funnel has funnel_id {text}"))),
        },
        None => None,
    };
    let steps: Vec<EventSelector> = match params.get("events").map(|text| serde_json::from_str::<Vec<Value>>(text)) {
        None if saved.is_some() => saved.as_ref().map(|funnel| funnel.steps.clone()).unwrap_or_default(),
        Some(Ok(steps)) => {
            let mut selectors = Vec::new();
            for step in steps {
                match step.get("event").and_then(Value::as_str) {
                    Some(event) => selectors.push(EventSelector { event: event.to_string(), filters: Vec::new() }),
                    None => return Err(bad(&parts, "each step of events needs an \"event\" name")),
                }
            }
            selectors
        }
        Some(Err(_)) => {
            return Err(bad(
                &parts,
                "events must be a JSON array such as [{\"event\":\"Signed Up\"},{\"event\":\"Purchased\"}]",
            ));
        }
        None => {
            return Err(bad(
                &parts,
                "events is required: a JSON array of steps such as [{\"event\":\"Signed Up\"},{\"event\":\"Purchased\"}]",
            ));
        }
    };
    // A saved funnel answers over its own range and window unless the request names others.
    let range = match &saved {
        Some(funnel) if !params.contains_key("from_date") && !params.contains_key("to_date") => funnel.range.clone(),
        _ => DateRange::from_params(&params).map_err(|message| bad(&parts, message))?,
    };
    let length: i64 = match params.get("length").map(|text| text.parse::<i64>()) {
        None => 14,
        Some(Ok(length)) if length > 0 => length,
        Some(_) => return Err(bad(&parts, "length must be a positive number")),
    };
    let unit_seconds = match params.get("length_unit").map(String::as_str) {
        None | Some("day") => 86_400,
        Some("hour") => 3_600,
        Some("minute") => 60,
        Some("second") => 1,
        Some(other) => {
            return Err(bad(&parts, format!("length_unit {other:?} is not one of day, hour, minute, second")));
        }
    };
    let window_seconds = match &saved {
        Some(funnel) if !params.contains_key("length") => funnel.window_seconds,
        _ => length.saturating_mul(unit_seconds),
    };
    if (saved.is_none() || params.contains_key("length")) && window_seconds > 90 * 86_400 {
        return Err(bad(&parts, "length is at most 90 days"));
    }
    let unit =
        choice(&params, "unit", &["day", "week", "month"], TimeUnit::Day).map_err(|message| bad(&parts, message))?;
    let zone = tally_query::zone_of(&scope);
    let dates = match tally_query::buckets::buckets(&range, unit, &zone) {
        Ok(dates) => dates,
        Err(error) => return Err(bad(&parts, error.to_string())),
    };
    // One funnel per date: the dates are capped so one request reads a bounded amount.
    if dates.labels.len() > MAX_FUNNEL_DATES {
        return Err(bad(
            &parts,
            format!(
                "the range holds more than {MAX_FUNNEL_DATES} dates of this unit; choose a larger unit or a shorter range"
            ),
        ));
    }
    let template = saved.unwrap_or_else(|| Funnel {
        range: range.clone(),
        steps: Vec::new(),
        window_seconds,
        order: Default::default(),
        filters: Vec::new(),
        where_expression: None,
        exclusions: Vec::new(),
        counting: Default::default(),
        unit: TimeUnit::Day,
        breakdown: None,
        attribution: Default::default(),
        hold_constant: Vec::new(),
        optimized_reentry: false,
        session_minutes: 30,
    });
    let where_expression = where_of(&params).or_else(|| template.where_expression.clone());
    // One admission for the whole request, however many dates it answers.
    let _place = admit(&state, &parts, &scope)?;
    let mut data = serde_json::Map::new();
    for (index, label) in dates.labels.iter().enumerate() {
        // Each date: the entries inside it, within the asked range.
        let from = label.parse::<jiff::civil::Date>().unwrap_or(range.from_date).max(range.from_date);
        let to = dates
            .labels
            .get(index + 1)
            .and_then(|next| next.parse::<jiff::civil::Date>().ok())
            .and_then(|next| next.yesterday().ok())
            .unwrap_or(range.to_date)
            .min(range.to_date);
        let report = Report::Funnels(Funnel {
            range: DateRange { from_date: from, to_date: to },
            steps: steps.clone(),
            window_seconds,
            where_expression: where_expression.clone(),
            ..template.clone()
        });
        let Answer { result: ReportResult::Funnels(funnel), .. } = answer(&parts, &engine, &scope, &report).await?
        else {
            return Err(refused(StatusCode::INTERNAL_SERVER_ERROR, &parts, "the answer is not a funnel"));
        };
        data.insert(label.clone(), funnel_date(&funnel));
    }
    Ok(axum::Json(json!({ "meta": { "dates": dates.labels }, "data": data })).into_response())
}

fn funnel_date(funnel: &tally_query::FunnelAnswer) -> Value {
    let starting = funnel.steps.first().map_or(0, |step| step.count);
    let completion = funnel.steps.last().map_or(0, |step| step.count);
    // The step that loses the largest share of those who reached the step before it.
    let worst = funnel
        .steps
        .iter()
        .enumerate()
        .skip(1)
        .min_by(|a, b| a.1.step_conversion.total_cmp(&b.1.step_conversion))
        .map_or(1, |(index, _)| index);
    let steps: Vec<Value> = funnel
        .steps
        .iter()
        .enumerate()
        .map(|(index, step)| {
            json!({
                "count": step.count,
                "step_conv_ratio": step.step_conversion,
                "overall_conv_ratio": step.overall_conversion,
                "avg_time": step.avg_time_from_previous.map(|seconds| seconds.round() as i64),
                "avg_time_from_start": step.avg_time_from_start.map(|seconds| seconds.round() as i64),
                "event": step.event,
                "goal": step.event,
                "step_label": step.event,
                "custom_event": false,
                "custom_event_id": Value::Null,
                "step": index,
            })
        })
        .collect();
    json!({ "steps": steps, "analysis": {
        "completion": completion, "starting_amount": starting, "steps": funnel.steps.len(), "worst": worst } })
}

/// `GET /api/query/retention`: birth retention (`born_event`, `event`), or compounded
/// (recurring: a user counts in every cohort they did `born_event`, or `event` without it,
/// in), `{"<cohort date>": {"first": n, "counts": [...]}}` with `interval_count + 1` counts.
pub(crate) async fn retention(
    State(state): State<AppState>,
    QueryParams(params): QueryParams<Params>,
    parts: Parts,
) -> Result<Response, Response> {
    let (scope, engine) = engine(&state, &parts, &params).await?;
    if let Some(name) = ["on", "interval"].into_iter().find(|name| params.contains_key(*name)) {
        return Err(bad(&parts, format!("{name} is not answered yet for retention; leave it out")));
    }
    let kind = match params.get("retention_type").map(String::as_str) {
        None | Some("birth") => RetentionKind::FirstTime,
        Some("compounded") => RetentionKind::Recurring,
        Some(other) => return Err(bad(&parts, format!("retention_type {other:?} is not one of birth, compounded"))),
    };
    let returned = params.get("event").cloned().unwrap_or_else(|| tally_query::model::ALL_EVENTS.to_string());
    let born = match (kind, params.get("born_event").filter(|event| !event.trim().is_empty())) {
        (_, Some(born)) => born.clone(),
        // Compounded retention without a birth event: the cohort did `event` itself.
        (RetentionKind::Recurring, None) if params.contains_key("event") => returned.clone(),
        _ => required(&params, "born_event", "Signed%20Up").map_err(|message| bad(&parts, message))?.to_string(),
    };
    let range = DateRange::from_params(&params).map_err(|message| bad(&parts, message))?;
    let unit = choice(&params, "unit", &["day", "week", "month"], RetentionUnit::Day)
        .map_err(|message| bad(&parts, message))?;
    let buckets = match params.get("interval_count").map(|text| text.parse::<usize>()) {
        None => 1,
        Some(Ok(count)) if count <= 62 => count,
        Some(_) => return Err(bad(&parts, "interval_count must be a number from 0 to 62")),
    };
    let criterion = match params.get("unbounded_retention").map(String::as_str) {
        Some("true" | "1") => RetentionCriterion::OnOrAfter,
        _ => RetentionCriterion::On,
    };
    let born_filter = params.get("born_where").map(|text| text.trim().to_string()).filter(|text| !text.is_empty());
    let report = Report::Retention(Retention {
        range,
        born: EventSelector { event: born, filters: Vec::new() },
        returned: EventSelector { event: returned, filters: Vec::new() },
        unit,
        buckets,
        brackets: None,
        criterion,
        where_expression: where_of(&params),
        born_where: born_filter,
        kind,
        breakdown: None,
    });
    let _place = admit(&state, &parts, &scope)?;
    let Answer { result: ReportResult::Retention(retention), .. } = answer(&parts, &engine, &scope, &report).await?
    else {
        return Err(refused(StatusCode::INTERNAL_SERVER_ERROR, &parts, "the answer is not a retention table"));
    };
    let body: BTreeMap<String, Value> = retention
        .rows
        .iter()
        .filter(|row| row.first > 0)
        .map(|row| (row.cohort.clone(), json!({ "first": row.first, "counts": row.counts })))
        .collect();
    Ok(axum::Json(body).into_response())
}

/// `GET /api/query/events/names`: the project's event names, most frequent first
/// (`limit`, default 255).
pub(crate) async fn event_names(
    State(state): State<AppState>,
    QueryParams(params): QueryParams<Params>,
    parts: Parts,
) -> Result<Response, Response> {
    let lexicon = lexicon_of(&state, &parts, &params).await?;
    let limit = limit(&params, 255, 10_000).map_err(|message| bad(&parts, message))?;
    let names: Vec<&String> = most_frequent(lexicon.events.iter().map(|(name, entry)| (name, entry.seen.count)), limit)
        .into_iter()
        .map(|(name, _)| name)
        .collect();
    Ok(axum::Json(names).into_response())
}

/// Most users one `/stream/query` request asks about.
const MAX_STREAM_USERS: usize = 100;

/// `GET /api/query/stream/query`: the activity feed of the users in `distinct_ids` (a JSON
/// array) between `from_date` and `to_date`: `{"status":"ok","results":{"events":[...]}}`,
/// each event as the export writes it (time in seconds), newest first, at most 1000 per
/// user, across every id merged into each user. Needs `ViewUsers`.
pub(crate) async fn stream_query(
    State(state): State<AppState>,
    QueryParams(params): QueryParams<Params>,
    parts: Parts,
) -> Result<Response, Response> {
    let (scope, engine) = engine::<ViewUsers>(&state, &parts, &params).await?;
    let ids = names_of(&params, "distinct_ids", "distinct ids", "[\"u1\"]", MAX_STREAM_USERS)
        .map_err(|message| bad(&parts, message))?;
    let range = DateRange::from_params(&params).map_err(|message| bad(&parts, message))?;
    let _place = admit(&state, &parts, &scope)?;
    let mut events: Vec<Value> = Vec::new();
    let mut users = std::collections::BTreeSet::new();
    for id in &ids {
        let answer =
            engine.activity(&scope, id, &range, tally_query::MAX_FEED).await.map_err(|error| match error.kind() {
                tally_types::ErrorKind::InvalidInput => bad(&parts, error.to_string()),
                _ => refused(
                    StatusCode::SERVICE_UNAVAILABLE,
                    &parts,
                    "the event storage cannot be read right now; try again shortly",
                ),
            })?;
        // Two ids of one user have one feed.
        if users.insert(answer.distinct_id.clone()) {
            events.extend(answer.events);
        }
    }
    for event in &mut events {
        if let Some(time) = event["properties"]["time"].as_i64() {
            event["properties"]["time"] = json!(time / 1000);
        }
    }
    events.sort_by_key(|event| std::cmp::Reverse(event["properties"]["time"].as_i64().unwrap_or(i64::MIN)));
    Ok(axum::Json(json!({ "status": "ok", "results": { "events": events } })).into_response())
}

/// The saved report `text` names (`bookmark_id`, `funnel_id`), as the Query API may read it
/// (any of the project's but those on a board private to its owner); 404 otherwise.
async fn saved_report(
    state: &AppState,
    parts: &Parts,
    scope: &DataScope<ViewReports>,
    text: &str,
    name: &str,
) -> Result<Report, Response> {
    let missing = || refused(StatusCode::NOT_FOUND, parts, format!("no saved report has {name} {text}"));
    let Ok(id) = text.parse::<i64>() else { return Err(bad(parts, format!("{name} {text:?} is not a number"))) };
    let bookmark = match tally_iam::reports::api_bookmark(state.directory(), scope, id).await {
        Ok(Some(bookmark)) => bookmark,
        Ok(None) => return Err(missing()),
        Err(error) => {
            tracing::warn!(%error, "a saved report could not be read");
            return Err(refused(StatusCode::SERVICE_UNAVAILABLE, parts, "saved reports cannot be read right now"));
        }
    };
    serde_json::from_str(&bookmark.report).map_err(|_| {
        refused(
            StatusCode::UNPROCESSABLE_ENTITY,
            parts,
            format!("the saved report {id} no longer reads as a report; open and save it again in the app"),
        )
    })
}

/// `GET /api/query/insights?bookmark_id=`: a saved Insights report, answered as saved:
/// `{"computed_at","date_range":{"from_date","to_date"},"headers":["$event"],"series":{"<metric>":{"<date>":n}}}`;
/// with a breakdown, each metric's series holds one object per segment, and `headers`
/// names the breakdown too. Dates are the start of each bucket in the project's zone.
pub(crate) async fn saved_insights(
    State(state): State<AppState>,
    QueryParams(params): QueryParams<Params>,
    parts: Parts,
) -> Result<Response, Response> {
    let (scope, engine) = engine::<ViewReports>(&state, &parts, &params).await?;
    let text = required(&params, "bookmark_id", "12345").map_err(|message| bad(&parts, message))?;
    let Report::Insights(report) = saved_report(&state, &parts, &scope, text, "bookmark_id").await? else {
        return Err(refused(StatusCode::NOT_FOUND, &parts, format!("no saved Insights report has bookmark_id {text}")));
    };
    let header = report
        .breakdown
        .as_ref()
        .and_then(|breakdown| breakdown.property.clone().or_else(|| breakdown.expression.clone()));
    let _place = admit(&state, &parts, &scope)?;
    let answered = answer(&parts, &engine, &scope, &Report::Insights(report)).await?;
    let Answer { result: ReportResult::Insights(insights), range, computed_at, .. } = answered else {
        return Err(refused(StatusCode::INTERNAL_SERVER_ERROR, &parts, "the answer is not an Insights report"));
    };
    let zone = tally_query::zone_of(&scope);
    let iso =
        |label: &str| match label.parse::<jiff::civil::Date>().ok().and_then(|date| date.to_zoned(zone.clone()).ok()) {
            Some(start) => start.strftime("%Y-%m-%dT%H:%M:%S%:z").to_string(),
            None => label.to_string(),
        };
    let mut series = serde_json::Map::new();
    for one in &insights.series {
        let name = one.label.clone();
        let points: serde_json::Map<String, Value> = insights
            .buckets
            .iter()
            .zip(&one.values)
            .map(|(label, value)| (iso(label), number(value.unwrap_or(0.0))))
            .collect();
        match &one.segment {
            Some(segment) => {
                let entry = series.entry(name).or_insert_with(|| json!({}));
                entry[segment.as_str()] = Value::Object(points);
            }
            None => {
                series.insert(name, Value::Object(points));
            }
        }
    }
    let headers: Vec<String> = std::iter::once("$event".to_string()).chain(header).collect();
    Ok(axum::Json(json!({
        "computed_at": computed_at,
        "date_range": { "from_date": range.from_date, "to_date": range.to_date },
        "headers": headers,
        "series": series,
    }))
    .into_response())
}

/// `GET /api/query/funnels/list`: the project's saved funnels, `[{"funnel_id","name"}]`.
pub(crate) async fn funnels_list(
    State(state): State<AppState>,
    QueryParams(params): QueryParams<Params>,
    parts: Parts,
) -> Result<Response, Response> {
    let scope = data_scope_for::<ViewReports>(&state, &parts, params.get("project_id").map(String::as_str)).await?;
    let funnels = tally_iam::reports::api_bookmarks(state.directory(), &scope, "funnels").await.map_err(|error| {
        tracing::warn!(%error, "saved funnels could not be read");
        refused(StatusCode::SERVICE_UNAVAILABLE, &parts, "saved reports cannot be read right now")
    })?;
    let list: Vec<Value> =
        funnels.iter().map(|funnel| json!({ "funnel_id": funnel.id, "name": funnel.name })).collect();
    Ok(axum::Json(list).into_response())
}

/// `POST /api/query/cohorts/list`: the project's shared cohorts,
/// `[{"id","name","count","description","created","project_id","is_visible"}]`, each
/// counted now.
pub(crate) async fn cohorts_list(
    State(state): State<AppState>,
    QueryParams(params): QueryParams<Params>,
    parts: Parts,
) -> Result<Response, Response> {
    let (scope, engine) = engine::<ViewReports>(&state, &parts, &params).await?;
    let unavailable = |error: tally_iam::IamError| {
        tracing::warn!(%error, "cohorts could not be read");
        refused(StatusCode::SERVICE_UNAVAILABLE, &parts, "cohorts cannot be read right now")
    };
    let cohorts = tally_iam::reports::api_cohorts(state.directory(), &scope).await.map_err(unavailable)?;
    let saved = super::app::cohorts::saved_cohorts(&cohorts);
    let _place = admit(&state, &parts, &scope)?;
    let mut list = Vec::with_capacity(cohorts.len());
    for cohort in &cohorts {
        let count = match saved.get(&cohort.id) {
            Some(definition) => {
                engine.cohort_members(&scope, definition, &saved).await.map_or(0, |members| members.len())
            }
            None => 0,
        };
        list.push(json!({
            "id": cohort.id,
            "name": cohort.name,
            "count": count,
            "description": cohort.description,
            "created": cohort.created_at.strftime("%Y-%m-%d %H:%M:%S").to_string(),
            "project_id": scope.project_id().0,
            "is_visible": 1,
        }));
    }
    Ok(axum::Json(list).into_response())
}
