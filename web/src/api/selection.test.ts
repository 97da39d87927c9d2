import { describe, expect, it } from "vitest";
import type { Insights, InsightsAnswer, Series } from "./report";
import { cohortLabel, insightsChoice, limitNote, pointLabel, retentionCellLabel, segmentsAreValues, selectionPath } from "./selection";

const range = { from_date: "2026-01-01", to_date: "2026-01-02" };
const plain: Insights = { range, metrics: [{ event: "Purchase" }] };
const byPlan: Insights = { ...plain, breakdown: { property: "plan" } };
const series = (change: Partial<Series> = {}): Series => ({ label: "Purchase", metric: 0, values: [3, 0], total: 3, ...change });

describe("the users behind a report's number", () => {
  it("selects a metric's point, in a bucket or over the whole range", () => {
    expect(insightsChoice(plain, series(), 0, 3)).toEqual({ selection: { kind: "insights_point", metric: 0, bucket: 0 } });
    expect(insightsChoice(plain, series({ metric: 1 }), undefined, 3)).toEqual({ selection: { kind: "insights_point", metric: 1 } });
  });
  it("names the segment of a breakdown by one property", () => {
    expect(insightsChoice(byPlan, series({ segment: "pro" }), 1, 2)).toEqual({ selection: { kind: "insights_point", metric: 0, bucket: 1, segment: "pro" } });
    expect(insightsChoice({ ...plain, breakdown: { property: "plan", source: "user" } }, series({ segment: "pro" }), 0, 1).selection).toBeDefined();
  });
  it("refuses what the server cannot answer, saying why", () => {
    expect(insightsChoice(plain, series({ formula: 0 }), 0, 3).reason).toMatch(/formula/);
    expect(insightsChoice(plain, series(), 1, 0).reason).toMatch(/Nobody/);
    expect(insightsChoice(plain, series(), 1, null).reason).toMatch(/Nobody/);
    const ranges: Insights = { ...plain, breakdown: { property: "age", bins: { kind: "auto", count: 10 } } };
    expect(insightsChoice(ranges, series({ segment: "10 – 20" }), 0, 3).reason).toMatch(/one property, without numeric ranges/);
    expect(insightsChoice({ ...plain, breakdown: { expression: 'properties["plan"]' } }, series({ segment: "pro" }), 0, 3).reason).toBeDefined();
    expect(insightsChoice({ ...plain, breakdown: { property: "7", source: "cohort" } }, series({ segment: "true" }), 0, 3).reason).toBeDefined();
    expect(insightsChoice(byPlan, series({ segment: "$other" }), 0, 3).reason).toMatch(/\$other/);
    expect(insightsChoice(byPlan, series({ segment: "(not set)" }), 0, 3).reason).toMatch(/not set/);
  });
  it("tells value breakdowns from the others", () => {
    expect(segmentsAreValues(undefined)).toBe(false);
    expect(segmentsAreValues({ property: "plan" })).toBe(true);
    expect(segmentsAreValues({ property: "plan", bins: { kind: "edges", edges: [1, 2] } })).toBe(false);
  });
  it("labels points and cells", () => {
    const answer: InsightsAnswer = { buckets: ["2026-01-01", "2026-01-02"], series: [series()] };
    expect(pointLabel(answer, series(), 1)).toBe("A · Purchase, 2026-01-02");
    expect(pointLabel(answer, series({ segment: "pro" }), undefined)).toBe("A · Purchase · pro, whole range");
    expect(cohortLabel("all")).toBe("All users");
    expect(retentionCellLabel("2026-01-01", 3)).toBe("Users of 2026-01-01, bucket 3");
    expect(retentionCellLabel("all", 0)).toBe("Users of All users, bucket 0");
    expect(selectionPath(4)).toBe("/api/app/projects/4/query/users");
    expect(limitNote(12)).toBeUndefined();
    expect(limitNote(100_000)).toMatch(/100,000/);
  });
});
