//! The users behind one number of a report: those at (or dropping off after) a funnel step,
//! in a retention cell, or behind an Insights point (a metric in a bucket, in a segment).
//! The web app saves them as a cohort of exactly those users.

use std::collections::BTreeSet;

use datafusion::logical_expr::lit;
use datafusion::prelude::ident;
use serde::{Deserialize, Serialize};
use tally_iam::authz::DataScope;
use tally_types::permissions::project::ViewReports;

use crate::model::{Insights, PropertySource, Report};
use crate::{Profiles, QueryEngine, QueryError, SavedCohorts, cohorts, engine_error, filters, zone_of};

/// At most this many users come back.
pub const MAX_USERS: usize = 100_000;

/// Which number of a report.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(tag = "kind", rename_all = "snake_case", deny_unknown_fields)]
pub enum Selection {
    /// The users who reached step `step` (0 = the first) of a Funnels report, or with
    /// `dropped` those who reached it and not the next.
    FunnelStep {
        step: usize,
        #[serde(default)]
        dropped: bool,
    },
    /// The users of a Retention report's cohort row `cohort` (absent: every row) counted in
    /// bucket `bucket`.
    RetentionCell {
        #[serde(default)]
        cohort: Option<usize>,
        bucket: usize,
    },
    /// The users who did metric `metric` of an Insights report in bucket `bucket` (absent:
    /// the whole range), in the breakdown's segment `segment` when given.
    InsightsPoint {
        metric: usize,
        #[serde(default)]
        bucket: Option<usize>,
        #[serde(default)]
        segment: Option<String>,
    },
}

/// What a report's run collects besides its answer.
#[derive(Debug, Default)]
pub(crate) enum Pick {
    #[default]
    None,
    Funnel {
        step: usize,
        dropped: bool,
        users: BTreeSet<String>,
    },
    Retention {
        cohort: Option<usize>,
        bucket: usize,
        users: BTreeSet<String>,
    },
}

impl Pick {
    /// A funnel attempt of `user` that reached `reached` of `steps` steps.
    pub(crate) fn funnel(&mut self, reached: usize, steps: usize, user: &str) {
        if let Pick::Funnel { step, dropped, users } = self {
            let wanted = if *dropped { reached == *step + 1 && reached < steps } else { reached > *step };
            if wanted && users.len() < MAX_USERS {
                users.insert(user.to_string());
            }
        }
    }

    /// `user`, counted in retention row `row`, bucket `at`.
    pub(crate) fn retention(&mut self, row: usize, at: usize, user: &str) {
        if let Pick::Retention { cohort, bucket, users } = self
            && *bucket == at
            && cohort.is_none_or(|cohort| cohort == row)
            && users.len() < MAX_USERS
        {
            users.insert(user.to_string());
        }
    }

    fn users(self) -> Vec<String> {
        match self {
            Pick::None => Vec::new(),
            Pick::Funnel { users, .. } | Pick::Retention { users, .. } => users.into_iter().collect(),
        }
    }
}

fn mismatch() -> QueryError {
    QueryError::invalid(
        "a funnel_step selects in a Funnels report, a retention_cell in a Retention report, an insights_point in an Insights report",
    )
}

impl QueryEngine {
    /// The users behind `selection` in `report` (canonical ids, sorted, at most
    /// [`MAX_USERS`]), with the caller's saved cohorts for the report to name.
    pub async fn selection_users(
        &self,
        scope: &DataScope<ViewReports>,
        report: &Report,
        selection: &Selection,
        saved: &SavedCohorts,
    ) -> Result<Vec<String>, QueryError> {
        self.limited(async {
            let members = self.members_of_named_cohorts(scope, report, saved).await?;
            cohorts::with_members(members, async {
                let mut pick = match (report, selection) {
                    (Report::Funnels(funnel), Selection::FunnelStep { step, dropped }) => {
                        if *step >= funnel.steps.len() {
                            return Err(QueryError::invalid(format!("the funnel has {} steps", funnel.steps.len())));
                        }
                        Pick::Funnel { step: *step, dropped: *dropped, users: BTreeSet::new() }
                    }
                    (Report::Retention(_), Selection::RetentionCell { cohort, bucket }) => {
                        Pick::Retention { cohort: *cohort, bucket: *bucket, users: BTreeSet::new() }
                    }
                    (Report::Insights(insights), Selection::InsightsPoint { metric, bucket, segment }) => {
                        return self.insights_point(scope, insights, *metric, *bucket, segment.as_deref()).await;
                    }
                    _ => return Err(mismatch()),
                };
                self.run_picking(scope, report, &mut pick).await?;
                Ok(pick.users())
            })
            .await
        })
        .await
    }

    async fn insights_point(
        &self,
        scope: &DataScope<ViewReports>,
        report: &Insights,
        metric: usize,
        bucket: Option<usize>,
        segment: Option<&str>,
    ) -> Result<Vec<String>, QueryError> {
        let chosen = report
            .metrics
            .get(metric)
            .ok_or_else(|| QueryError::invalid(format!("the report has {} metrics", report.metrics.len())))?;
        let zone = zone_of(scope);
        let buckets = crate::buckets::buckets(&report.range, report.unit, &zone)?;
        let (from_ms, to_ms) = match bucket {
            None => (buckets.from_ms, buckets.to_ms),
            Some(index) => {
                let start = *buckets
                    .starts
                    .get(index)
                    .ok_or_else(|| QueryError::invalid(format!("the report has {} buckets", buckets.starts.len())))?;
                (start, buckets.starts.get(index + 1).copied().unwrap_or(buckets.to_ms))
            }
        };
        let mut condition = filters::selects(&chosen.events, &report.filters)?;
        let mut profiles = Profiles::for_filters(
            report.filters.iter().chain(&chosen.events.filters),
            report.where_expression.as_deref(),
        );
        if let Some(segment) = segment {
            let breakdown = report
                .breakdown
                .as_ref()
                .ok_or_else(|| QueryError::invalid("the report has no breakdown: leave the segment out"))?;
            match (&breakdown.property, &breakdown.bins, &breakdown.expression, breakdown.source) {
                (Some(property), None, None, source) if source != PropertySource::Cohort => {
                    if source == PropertySource::User {
                        profiles = Profiles::Joined;
                    }
                    condition = condition.and(crate::functions::sourced_text(source, property).eq(lit(segment)));
                }
                _ => {
                    return Err(QueryError::invalid(
                        "the users of a segment are found for a breakdown by one property, without numeric ranges",
                    ));
                }
            }
        }
        let context = self.context();
        let (_events, frame) = self.events(scope, &context, from_ms, to_ms, profiles).await?;
        let Some(frame) = frame else { return Ok(Vec::new()) };
        let frame = crate::expression::filtered(frame, report.where_expression.as_deref())?;
        let batches = frame
            .filter(condition)
            .and_then(|frame| frame.aggregate(vec![ident("distinct_id")], vec![]))
            .map_err(engine_error)?
            .collect()
            .await
            .map_err(engine_error)?;
        let mut users = Vec::new();
        for batch in batches {
            users.extend(crate::texts(batch.column(0))?.flatten());
        }
        users.retain(|user| !user.is_empty());
        users.sort_unstable();
        users.truncate(MAX_USERS);
        Ok(users)
    }
}
