//! The report model: what a user asks, as a serde type (the body of
//! `POST /api/app/projects/{id}/query`). Users never send SQL; every report compiles to a
//! DataFusion plan in this crate.

use serde::{Deserialize, Serialize};

/// One question.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(tag = "type", rename_all = "snake_case", deny_unknown_fields)]
pub enum Report {
    Insights(Insights),
    Funnels(Funnel),
    Retention(Retention),
    Flows(Flows),
}

/// Whole local days of the project's time zone, both inclusive (`YYYY-MM-DD`).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct DateRange {
    #[schema(value_type = String, format = Date)]
    pub from_date: jiff::civil::Date,
    #[schema(value_type = String, format = Date)]
    pub to_date: jiff::civil::Date,
}

impl DateRange {
    /// `from_date` and `to_date` (`YYYY-MM-DD`) from a request's parameters; the error says
    /// which one is missing or is no date.
    pub fn from_params(params: &std::collections::HashMap<String, String>) -> Result<DateRange, String> {
        let day = |name: &str| -> Result<jiff::civil::Date, String> {
            let text = params.get(name).ok_or_else(|| format!("{name} is required (YYYY-MM-DD)"))?;
            text.parse().map_err(|_| format!("{name} {text:?} is not a date such as 2026-11-27"))
        };
        Ok(DateRange { from_date: day("from_date")?, to_date: day("to_date")? })
    }
}

/// The buckets of a time series, in the project's time zone (weeks start on Monday).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize, Default, utoipa::ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum TimeUnit {
    Minute,
    Hour,
    #[default]
    Day,
    Week,
    Month,
    Quarter,
}

/// Which events a metric or step counts: one event name (or every event with
/// `"$all_events"`) and the filters that apply to it alone.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct EventSelector {
    pub event: String,
    #[serde(default)]
    pub filters: Vec<Filter>,
}

/// The name that selects every event.
pub const ALL_EVENTS: &str = "$all_events";

/// Whose property a filter or breakdown reads: the event's own, or its user's profile
/// (joined at query time in its latest state).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize, Default, utoipa::ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum PropertySource {
    #[default]
    Event,
    User,
    /// Membership of a saved cohort: `property` is the cohort's id, and the operator
    /// `is_true` (in it) or `is_false` (not in it).
    Cohort,
}

/// A condition on one event or profile property.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct Filter {
    pub property: String,
    /// The event's property (default) or its user's profile property.
    #[serde(default)]
    pub source: PropertySource,
    #[serde(flatten)]
    pub condition: Condition,
}

/// Mixpanel's filter operators. Strings compare exactly (`contains` ignores case, as
/// Mixpanel's does); numbers compare as numbers; a property that is not set matches only
/// `is_not_set` and the negative operators.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "operator", content = "value", rename_all = "snake_case")]
pub enum Condition {
    /// Any of the values.
    Equals(Vec<serde_json::Value>),
    /// None of the values (true when the property is not set).
    NotEquals(Vec<serde_json::Value>),
    Contains(String),
    NotContains(String),
    IsSet,
    IsNotSet,
    GreaterThan(f64),
    GreaterOrEqual(f64),
    LessThan(f64),
    LessOrEqual(f64),
    /// Both ends included.
    Between(f64, f64),
    IsTrue,
    IsFalse,
}

/// utoipa does not derive adjacently tagged enums with tuple variants: the schema of
/// [`Condition`] as serde writes it, by hand (a test checks it against real filters).
impl utoipa::PartialSchema for Condition {
    fn schema() -> utoipa::openapi::RefOr<utoipa::openapi::schema::Schema> {
        let operators = |names: &[&str]| serde_json::json!({ "type": "string", "enum": names });
        let variant = |names: &[&str], value: Option<serde_json::Value>| {
            let mut properties = serde_json::json!({ "operator": operators(names) });
            let mut required = vec!["operator"];
            if let Some(value) = value {
                properties["value"] = value;
                required.push("value");
            }
            serde_json::json!({ "type": "object", "properties": properties, "required": required })
        };
        let number = serde_json::json!({ "type": "number" });
        let schema = serde_json::json!({ "oneOf": [
            variant(&["equals", "not_equals"], Some(serde_json::json!({ "type": "array", "items": {} }))),
            variant(&["contains", "not_contains"], Some(serde_json::json!({ "type": "string" }))),
            variant(&["greater_than", "greater_or_equal", "less_than", "less_or_equal"], Some(number.clone())),
            variant(&["between"], Some(serde_json::json!({ "type": "array", "prefixItems": [number, number], "minItems": 2, "maxItems": 2 }))),
            variant(&["is_set", "is_not_set", "is_true", "is_false"], None),
        ] });
        serde_json::from_value(schema)
            .map(utoipa::openapi::RefOr::T)
            .unwrap_or_else(|_| utoipa::openapi::RefOr::T(utoipa::openapi::schema::Schema::Object(Default::default())))
    }
}

impl utoipa::ToSchema for Condition {}

/// What an Insights metric measures.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, Default, utoipa::ToSchema)]
#[serde(tag = "kind", rename_all = "snake_case", deny_unknown_fields)]
pub enum Measure {
    /// Matching events.
    #[default]
    Total,
    /// Distinct users (canonical ids; the empty id is not a user).
    Unique,
    /// Each user's count in the bucket, aggregated over the users who did it.
    PerUser { aggregate: PerUserAggregate },
    /// A numeric property over the matching events (values that are not numbers are skipped).
    Property { property: String, aggregate: PropertyAggregate },
    /// A numeric segmentation expression over the matching events (the Query API's
    /// `/segmentation/sum` and `/average`); undefined values are skipped.
    Expression { expression: String, aggregate: PropertyAggregate },
    /// Active users (DAU 1, WAU 7, MAU 30): per bucket, the distinct users with a matching
    /// event in the `days` local days ending on the bucket's last day; over the range, the
    /// last bucket's value.
    Active { days: u32 },
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum PerUserAggregate {
    Average,
    Median,
    Min,
    Max,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum PropertyAggregate {
    Sum,
    Average,
    Min,
    Max,
    Median,
    P25,
    P75,
    P90,
    P99,
    /// Distinct values (of the property as text).
    DistinctCount,
}

/// One Insights metric.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct Metric {
    #[serde(flatten)]
    pub events: EventSelector,
    #[serde(default)]
    pub measure: Measure,
}

/// A breakdown by an event property, or by the value of a segmentation expression (the
/// Query API's `on`).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct Breakdown {
    #[serde(default)]
    pub property: Option<String>,
    /// Whose `property`: the event's (default) or its user's profile.
    #[serde(default)]
    pub source: PropertySource,
    /// Segments by ranges of the value read as a number (values that are not numbers are
    /// `(not set)`), instead of by each distinct value.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub bins: Option<Bins>,
    /// A segmentation expression (`properties["plan"]`, `number(properties["age"]) > 30`).
    #[serde(default)]
    pub expression: Option<String>,
    /// Segments kept, ranked by the first metric's value over the whole range.
    #[serde(default = "default_segments")]
    pub limit: usize,
    /// Whether the segments beyond the limit are counted together as `$other` (the web
    /// app's default) or left out (as Mixpanel's Query API does).
    #[serde(default = "default_other")]
    pub other: bool,
}

impl Breakdown {
    /// The property a breakdown names alone (no expression, no numeric ranges): what
    /// per-user and per-attempt breakdowns take.
    pub fn single_property(&self) -> Option<&str> {
        match (&self.property, &self.expression, &self.bins) {
            (Some(property), None, None) => Some(property),
            _ => None,
        }
    }
}

/// Numeric ranges of a breakdown. Each range holds its lower end; the last holds both ends.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(tag = "kind", rename_all = "snake_case", deny_unknown_fields)]
pub enum Bins {
    /// About `count` ranges of one round width (1, 2 or 5 times a power of ten) from the
    /// smallest value to the largest, as Mixpanel buckets a numeric property.
    Auto {
        #[serde(default = "default_bins")]
        count: usize,
    },
    /// Ranges between the given ascending edges, plus one below the first and one from the
    /// last up.
    Edges { edges: Vec<f64> },
}

fn default_bins() -> usize {
    10
}

fn default_other() -> bool {
    true
}

fn default_segments() -> usize {
    12
}

/// Insights: metrics over time.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct Insights {
    pub range: DateRange,
    #[serde(default)]
    pub unit: TimeUnit,
    pub metrics: Vec<Metric>,
    /// Filters on every metric's events.
    #[serde(default)]
    pub filters: Vec<Filter>,
    /// A segmentation expression every metric's events must satisfy (the Query API's `where`).
    #[serde(default, rename = "where")]
    pub where_expression: Option<String>,
    #[serde(default)]
    pub breakdown: Option<Breakdown>,
    /// Formulas over the metrics (`A / B * 100`), each answered as a series of its own.
    #[serde(default)]
    pub formulas: Vec<Formula>,
    /// Also answer the period just before the range, of the same number of days.
    #[serde(default)]
    pub compare: bool,
    /// How each bucket's value is shown: as computed, as a running sum, or as a rolling
    /// average. The range's value is never changed by it.
    #[serde(default)]
    pub view: SeriesView,
}

/// A formula over an Insights report's metrics: `+ - * / ()`, numbers, and metric letters
/// (`A` the first metric). Dividing by zero or a missing value gives no value.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct Formula {
    pub expression: String,
    /// Shown instead of the expression.
    #[serde(default)]
    pub label: Option<String>,
}

/// How an Insights series shows its buckets.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, Default, utoipa::ToSchema)]
#[serde(tag = "kind", rename_all = "snake_case", deny_unknown_fields)]
pub enum SeriesView {
    /// Each bucket's own value.
    #[default]
    Plain,
    /// The sum of the values up to and including each bucket.
    Cumulative,
    /// The average of the values of the last `window` buckets (fewer at the start, buckets
    /// without a value left out).
    Rolling { window: usize },
}

/// Funnel step order.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, Default, utoipa::ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum FunnelOrder {
    /// Steps in order, other events allowed between them (Mixpanel's default).
    #[default]
    InOrder,
    /// Steps in order with no other event between them (PostHog's strict order).
    Strict,
    /// Every step, in any order.
    AnyOrder,
}

/// Funnels: how many users went through the steps, in the conversion window.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct Funnel {
    pub range: DateRange,
    pub steps: Vec<EventSelector>,
    /// The conversion window in seconds, from the entry (default 7 days).
    #[serde(default = "default_window")]
    pub window_seconds: i64,
    #[serde(default)]
    pub order: FunnelOrder,
    /// Filters on every step's events.
    #[serde(default)]
    pub filters: Vec<Filter>,
    /// A segmentation expression every step's events must satisfy.
    #[serde(default, rename = "where")]
    pub where_expression: Option<String>,
    /// Events that end an attempt when done between two steps.
    #[serde(default)]
    pub exclusions: Vec<FunnelExclusion>,
    /// Who counts: each user once (their first attempt), or every attempt.
    #[serde(default)]
    pub counting: FunnelCounting,
    /// The intervals of the conversion over time (the interval of each entry).
    #[serde(default)]
    pub unit: TimeUnit,
    /// Segments of attempts by an event property (attributed as `attribution` says), or of
    /// users by their profile (`"source": "user"`): the steps' counts per top segment.
    #[serde(default)]
    pub breakdown: Option<Breakdown>,
    /// Which step's value of an event-property breakdown an attempt counts under.
    #[serde(default)]
    pub attribution: FunnelAttribution,
    /// Event properties every later step must share with the entry (at most 3).
    #[serde(default)]
    pub hold_constant: Vec<String>,
    /// Mixpanel's optimized re-entry (uniques only): every step-1 may start an attempt, the
    /// latest step-1 before a step-2 wins, and each user counts their best attempt.
    #[serde(default)]
    pub optimized_reentry: bool,
    /// Counting sessions: a session ends after this many minutes without an event (1 to
    /// 1440, default 30) and at local midnight.
    #[serde(default = "default_session_minutes")]
    pub session_minutes: i64,
}

fn default_session_minutes() -> i64 {
    30
}

/// Which value of an event-property breakdown an attempt is counted under.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum FunnelAttribution {
    /// The value on this step's event (positions from 0; a step not reached is `(not set)`).
    Step(usize),
    /// The first value set among the steps reached (first touch).
    FirstDefined,
    /// The last value set among the steps reached (last touch).
    LastDefined,
}

impl Default for FunnelAttribution {
    fn default() -> Self {
        FunnelAttribution::Step(0)
    }
}

/// An event that ends an attempt when it is done after step `after` is reached and before
/// step `before` is (positions from 0; between two steps, never before the first).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct FunnelExclusion {
    #[serde(flatten)]
    pub events: EventSelector,
    pub after: usize,
    pub before: usize,
}

/// How a funnel counts.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, Default, utoipa::ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum FunnelCounting {
    /// Each user once: their first entry inside the range, and only that attempt.
    #[default]
    Uniques,
    /// Every attempt: a user enters again once the previous attempt has ended (converted,
    /// timed out or excluded).
    Totals,
    /// One attempt per session, every step in the entry's session.
    Sessions,
}

fn default_window() -> i64 {
    7 * 86_400
}

/// Retention: of the users who did the birth event, how many came back.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct Retention {
    pub range: DateRange,
    /// "Did X": births in the range (the first in the range starts each user's clock).
    pub born: EventSelector,
    /// "Came back and did Y".
    #[serde(rename = "return")]
    pub returned: EventSelector,
    /// Day (24 h), week (7 days) or month (30 days) buckets after the birth.
    #[serde(default)]
    pub unit: RetentionUnit,
    /// Buckets after bucket 0 (default 10).
    #[serde(default = "default_buckets")]
    pub buckets: usize,
    /// Custom brackets instead of one unit per bucket: each bucket's end, in units after the
    /// birth, ascending (`[1, 3, 7, 14]`: `<1`, `1-3`, `3-7`, `7-14`). Replaces `buckets`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub brackets: Option<Vec<u32>>,
    /// `on` (a return in that very bucket) or `on_or_after` (in that bucket or any later one).
    #[serde(default)]
    pub criterion: RetentionCriterion,
    /// A segmentation expression the birth and return events must satisfy.
    #[serde(default, rename = "where")]
    pub where_expression: Option<String>,
    /// A segmentation expression the birth events alone must satisfy (`born_where`).
    #[serde(default)]
    pub born_where: Option<String>,
    /// First time (each user once, from their first birth in the range) or recurring (in
    /// every cohort they did the birth event in).
    #[serde(default)]
    pub kind: RetentionKind,
    /// Segments of users by a property of their first birth event in the range (or of their
    /// profile, `"source": "user"`): one table per top segment by users born.
    #[serde(default)]
    pub breakdown: Option<Breakdown>,
}

/// Which births start a user's clock.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, Default, utoipa::ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum RetentionKind {
    /// The user's first birth in the range: one row per user (Mixpanel's "first time" and
    /// the Query API's `retention_type=birth`).
    #[default]
    FirstTime,
    /// Every cohort the user did the birth event in, the cohort's first one starting the
    /// clock (Mixpanel's "recurring", the Query API's `retention_type=compounded`).
    Recurring,
}

fn default_buckets() -> usize {
    10
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, Default, utoipa::ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum RetentionUnit {
    #[default]
    Day,
    Week,
    Month,
}

impl RetentionUnit {
    pub fn millis(self) -> i64 {
        match self {
            RetentionUnit::Day => 86_400_000,
            RetentionUnit::Week => 7 * 86_400_000,
            RetentionUnit::Month => 30 * 86_400_000,
        }
    }

    pub fn cohort_unit(self) -> TimeUnit {
        match self {
            RetentionUnit::Day => TimeUnit::Day,
            RetentionUnit::Week => TimeUnit::Week,
            RetentionUnit::Month => TimeUnit::Month,
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, Default, utoipa::ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum RetentionCriterion {
    On,
    #[default]
    OnOrAfter,
}

/// Flows: what users did after (and before) an anchor event.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct Flows {
    pub range: DateRange,
    /// The anchor: each user's first one inside the range starts their path.
    pub anchor: EventSelector,
    /// Steps shown after the anchor (default 3, at most 10).
    #[serde(default = "default_after")]
    pub steps_after: usize,
    /// Steps shown before the anchor (default 0, at most 10).
    #[serde(default)]
    pub steps_before: usize,
    /// Steps after the anchor must fall within this many seconds of it (default 30 days).
    #[serde(default = "default_flow_window")]
    pub window_seconds: i64,
    /// Events shown per step before the rest merge into "Other events" (default 3).
    #[serde(default = "default_top_events")]
    pub top_events: usize,
    /// Events left out of the paths (the next visible event moves up).
    #[serde(default)]
    pub hidden: Vec<String>,
    #[serde(default, rename = "where")]
    pub where_expression: Option<String>,
    /// List the users at this node.
    #[serde(default)]
    pub users_at: Option<FlowNodeRef>,
}

/// A node of a flow: a step (negative before the anchor) and an event (or "Other events").
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct FlowNodeRef {
    pub step: i32,
    pub event: String,
}

fn default_after() -> usize {
    3
}

fn default_flow_window() -> i64 {
    30 * 86_400
}

fn default_top_events() -> usize {
    3
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    /// The hand-written schema of [`Condition`] admits every condition as serde writes it:
    /// one branch lists its operator, and asks for a value exactly when there is one, of
    /// the JSON type written.
    #[test]
    fn condition_schema_matches_serde() {
        use utoipa::PartialSchema;
        let schema = serde_json::to_value(Condition::schema()).unwrap();
        let branches = schema["oneOf"].as_array().unwrap();
        let all = [
            Condition::Equals(vec![serde_json::json!("a"), serde_json::json!(1)]),
            Condition::NotEquals(vec![serde_json::json!(true)]),
            Condition::Contains("x".into()),
            Condition::NotContains("x".into()),
            Condition::IsSet,
            Condition::IsNotSet,
            Condition::GreaterThan(1.5),
            Condition::GreaterOrEqual(1.0),
            Condition::LessThan(2.0),
            Condition::LessOrEqual(2.0),
            Condition::Between(1.0, 2.0),
            Condition::IsTrue,
            Condition::IsFalse,
        ];
        for condition in all {
            let written = serde_json::to_value(&condition).unwrap();
            let operator = written["operator"].as_str().unwrap();
            let branch = branches
                .iter()
                .find(|b| b["properties"]["operator"]["enum"].as_array().unwrap().iter().any(|o| o == operator))
                .unwrap_or_else(|| panic!("no branch for {operator}"));
            let wants_value = branch["required"].as_array().unwrap().iter().any(|r| r == "value");
            assert_eq!(wants_value, written.get("value").is_some(), "{operator}");
            if let Some(value) = written.get("value") {
                let kind = branch["properties"]["value"]["type"].as_str().unwrap();
                let matches = match kind {
                    "array" => value.is_array(),
                    "string" => value.is_string(),
                    "number" => value.is_number(),
                    other => panic!("unexpected type {other}"),
                };
                assert!(matches, "{operator}: {value} is not {kind}");
            }
            let back: Condition = serde_json::from_value(written).unwrap();
            assert_eq!(back, condition);
        }
    }
}

/// Who is in a cohort: conditions on what users did and on their profiles, other cohorts,
/// lists of ids, joined with all/any. Computed when a query runs (membership as of now).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(tag = "kind", rename_all = "snake_case", deny_unknown_fields)]
pub enum CohortCondition {
    /// Did the event (with its filters) at least, at most or exactly `count` times in the
    /// window; `at_most` 0 is "did not do".
    Behavior {
        #[serde(flatten)]
        events: EventSelector,
        comparison: CountComparison,
        count: u64,
        window: CohortWindow,
    },
    /// A condition on the user's profile as it is now.
    Profile { filter: Filter },
    /// Members (or, with `negate`, non-members) of another saved cohort.
    Cohort {
        id: i64,
        #[serde(default)]
        negate: bool,
    },
    /// These distinct ids (a CSV upload, or users picked in a report).
    Users { distinct_ids: Vec<String> },
    /// Every condition holds.
    All {
        #[schema(no_recursion)]
        conditions: Vec<CohortCondition>,
    },
    /// At least one condition holds.
    Any {
        #[schema(no_recursion)]
        conditions: Vec<CohortCondition>,
    },
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum CountComparison {
    AtLeast,
    AtMost,
    Exactly,
}

/// When a behavior counts: the last `days` local days up to today, or whole days.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(tag = "kind", rename_all = "snake_case", deny_unknown_fields)]
pub enum CohortWindow {
    LastDays { days: u32 },
    Between { range: DateRange },
}
