// The users behind one number of a report (`POST /api/app/projects/{id}/query/users`): a
// funnel step, a retention cell, an Insights point. All of them (up to 100,000), not the
// answer's sample, so that a cohort saved from them holds everyone the number counts.
import type { components } from "./schema";
import { type Insights, type InsightsAnswer, type Series, seriesName } from "./report";

export type Selection = components["schemas"]["Selection"];
export type SelectionBody = components["schemas"]["SelectionBody"];
export type SelectionUsers = components["schemas"]["SelectionUsersView"];

export const selectionPath = (projectId: number) => `/api/app/projects/${projectId}/query/users`;

/** The most users the server returns for one number. */
export const MAX_SELECTION_USERS = 100_000;

// Segments that are not one value of the property: the server finds users by the value.
const OTHER = "$other";
const NOT_SET = "(not set)";

/** A selection the server can answer, or why the number's users cannot be saved. */
export type Choice = { selection: Selection; reason?: undefined } | { selection?: undefined; reason: string };

/** Whether a breakdown's segments are values of one property (not ranges, an expression or cohorts). */
export function segmentsAreValues(breakdown: Insights["breakdown"]): boolean {
  return breakdown != null && !!breakdown.property && breakdown.bins == null && !breakdown.expression && breakdown.source !== "cohort";
}

/** The selection of an Insights point: `series` in bucket `bucket` (undefined: the whole
 * range), whose value is `value`; or why it cannot be selected. */
export function insightsChoice(report: Insights, series: Series, bucket: number | undefined, value: number | null | undefined): Choice {
  if (series.formula != null) return { reason: "A formula's value is not one group of users: choose a point of a metric (A, B, …) instead." };
  if (!value) return { reason: "Nobody is behind this point." };
  const at = bucket === undefined ? {} : { bucket };
  if (report.breakdown == null) return { selection: { kind: "insights_point", metric: series.metric, ...at } };
  if (!segmentsAreValues(report.breakdown) || series.segment == null) {
    return { reason: "The users of a segment can be saved only for a breakdown by one property, without numeric ranges." };
  }
  if (series.segment === OTHER) return { reason: "“$other” gathers the segments beyond the breakdown's limit: its users cannot be saved." };
  if (series.segment === NOT_SET) return { reason: "“(not set)” gathers the events without the property: its users cannot be saved." };
  return { selection: { kind: "insights_point", metric: series.metric, ...at, segment: series.segment } };
}

/** An Insights point as people read it: the series, then the bucket or the whole range. */
export function pointLabel(answer: InsightsAnswer, series: Series, bucket: number | undefined): string {
  return `${seriesName(series)}, ${bucket === undefined ? "whole range" : (answer.buckets[bucket] ?? `bucket ${bucket}`)}`;
}

/** A retention cohort as the table names it ("all" is every cohort together). */
export function cohortLabel(cohort: string): string {
  return cohort === "all" ? "All users" : cohort;
}

/** The name of a retention cell's users (the cell button's accessible name). */
export function retentionCellLabel(cohort: string, bucket: number): string {
  return `Users of ${cohortLabel(cohort)}, bucket ${bucket}`;
}

/** Said under a saved list's count when the server cut it at its limit. */
export function limitNote(count: number): string | undefined {
  return count >= MAX_SELECTION_USERS ? `Only the first ${MAX_SELECTION_USERS.toLocaleString("en-US")} users by id are saved.` : undefined;
}
