import { describe, expect, it } from "vitest";
import {
  type Funnel,
  type InsightsAnswer,
  attributionChoices,
  attributionOf,
  attributionValue,
  bracketsText,
  defaultFunnel,
  defaultInsights,
  defaultRetention,
  funnelRequest,
  funnelSegmentsOption,
  parseBrackets,
  retentionBucketLabels,
  retentionRequest,
  sessionMinutes,
  formatValue,
  change,
  duration,
  funnelOverTimeOption,
  insightsOption,
  timeToConvertOption,
  lastDays,
  previousOf,
  retentionHeatmapOption,
  retentionOption,
  readReport,
  reportParams,
  seriesName,
} from "./report";
import { breakdownName, breakdownOf, filterOf, filterText, fromPickerValue, pickerValue } from "../screens/analysis/filterModel";

const answer: InsightsAnswer = {
  buckets: ["2026-12-01", "2026-12-02"],
  series: [
    { metric: 0, label: "Purchase - unique users", segment: null, values: [3, 1], total: 3 },
    { metric: 1, label: "Purchase - total", segment: "pro", values: [2, null], total: 2 },
  ],
};

describe("reports in the URL", () => {
  it("round-trips a report through the URL's parameters", () => {
    const report = defaultInsights(new Date(2026, 11, 6));
    const params = reportParams(report, "bar");
    const back = readReport(new URLSearchParams(params.toString()), null);
    expect(back).toEqual(report);
    expect(params.get("chart")).toBe("bar");
  });

  it("leaves the default chart out of the URL", () => {
    expect(reportParams({}, "line").has("chart")).toBe(false);
  });

  it("falls back when the parameter is missing or is not JSON", () => {
    const fallback = { fallback: true };
    expect(readReport(new URLSearchParams(""), fallback)).toBe(fallback);
    expect(readReport(new URLSearchParams("report=%7Bnot"), fallback)).toBe(fallback);
    expect(readReport(new URLSearchParams("report=42"), fallback)).toBe(fallback);
  });

  it("counts the last days with both ends included", () => {
    expect(lastDays(new Date(2026, 11, 6), 30)).toEqual({ from_date: "2026-11-07", to_date: "2026-12-06" });
    expect(lastDays(new Date(2026, 0, 1), 1)).toEqual({ from_date: "2026-01-01", to_date: "2026-01-01" });
  });
});

describe("formulas and the compared period", () => {
  const compared: InsightsAnswer = {
    buckets: ["2026-12-01", "2026-12-02"],
    series: [
      { metric: 0, label: "Sign up - total", segment: null, values: [4, 2], total: 6 },
      { metric: 0, formula: 0, label: "A * 2", segment: null, values: [8, 4], total: 12 },
    ],
    previous: {
      from_date: "2026-11-29",
      to_date: "2026-11-30",
      buckets: ["2026-11-29", "2026-11-30"],
      series: [
        { metric: 0, label: "Sign up - total", segment: null, values: [1, 2], total: 3 },
        { metric: 0, formula: 0, label: "A * 2", segment: null, values: [2, 4], total: 6 },
      ],
    },
  };

  it("names a formula's series by its number, not a metric letter", () => {
    expect(seriesName(compared.series[1])).toBe("ƒ1 · A * 2");
  });

  it("pairs each series with the same series of the period before", () => {
    expect(previousOf(compared, compared.series[0])?.total).toBe(3);
    expect(previousOf(compared, compared.series[1])?.total).toBe(6);
    expect(previousOf({ ...compared, previous: null }, compared.series[0])).toBeUndefined();
  });

  it("says the change as a share, and nothing when the period before had none", () => {
    expect(change(6, 3)).toBe(1);
    expect(change(3, 6)).toBe(-0.5);
    expect(change(3, 0)).toBeNull();
    expect(change(null, 3)).toBeNull();
  });

  it("draws the period before as dashed lines after the current series", () => {
    const option = insightsOption(compared, "bar");
    expect(option.series.map((s) => s.name)).toEqual([
      "A · Sign up - total",
      "ƒ1 · A * 2",
      "A · Sign up - total (previous period)",
      "ƒ1 · A * 2 (previous period)",
    ]);
    expect(option.series[2]).toMatchObject({ type: "line", data: [1, 2], lineStyle: { type: "dashed" } });
  });
});

describe("funnel charts", () => {
  const funnel = {
    steps: [],
    window_seconds: 86400,
    order: "in_order",
    counting: "uniques",
    over_time: [
      { bucket: "2026-12-01", entered: 4, converted: 1 },
      { bucket: "2026-12-02", entered: 0, converted: 0 },
    ],
    time_to_convert: [
      { from_seconds: 0, to_seconds: 60, count: 2 },
      { from_seconds: 86400, to_seconds: null, count: 1 },
    ],
  } as const;

  it("shows each interval's conversion, and a gap where nobody entered", () => {
    const option = funnelOverTimeOption(funnel as never);
    expect(option.xAxis.data).toEqual(["2026-12-01", "2026-12-02"]);
    expect(option.series[0].data).toEqual([25, null]);
  });

  it("labels the time-to-convert buckets with their spans", () => {
    const option = timeToConvertOption(funnel as never);
    expect(option.xAxis.data).toEqual(["0 s–1 min", "1 d+"]);
    expect(option.series[0].data).toEqual([2, 1]);
  });

  it("says durations as people do", () => {
    expect(duration(45)).toBe("45 s");
    expect(duration(90)).toBe("1.5 min");
    expect(duration(7200)).toBe("2 h");
    expect(duration(null)).toBe("—");
  });
});

describe("the retention heat map", () => {
  it("has a row per cohort with users, all users first, each cell the share back", () => {
    const option = retentionHeatmapOption({
      criterion: "on",
      total: { cohort: "all", first: 4, counts: [4, 1] },
      rows: [
        { cohort: "2026-12-01", first: 3, counts: [3, 1] },
        { cohort: "2026-12-02", first: 0, counts: [0, 0] },
        { cohort: "2026-12-03", first: 1, counts: [1, 0] },
      ],
    } as never);
    expect(option.yAxis.data).toEqual(["All users", "2026-12-01 (3)", "2026-12-03 (1)"]);
    expect(option.series[0].data).toEqual([
      [0, 0, 100],
      [1, 0, 25],
      [0, 1, 100],
      [1, 1, 33.3],
      [0, 2, 100],
      [1, 2, 0],
    ]);
  });
});

describe("the retention curve", () => {
  const table = {
    criterion: "on",
    total: { cohort: "all", first: 4, counts: [4, 1] },
    rows: [{ cohort: "2026-12-01", first: 4, counts: [4, 1] }],
    average: [{ rate: 1, count: 4, cohorts: 1 }, null],
  };

  it("draws one line of all users without a breakdown", () => {
    const option = retentionOption(table as never);
    expect(option.series.map((s) => [s.name, s.data])).toEqual([["Retained", [100, 25]]]);
    expect(option.legend).toBeUndefined();
  });

  it("adds a line per segment, largest first as the answer has them, with a legend", () => {
    const option = retentionOption({
      ...table,
      segments: [
        { segment: "pro", total: { cohort: "all", first: 3, counts: [3, 1] }, rows: [], average: [] },
        { segment: "(not set)", total: { cohort: "all", first: 1, counts: [1, 0] }, rows: [], average: [] },
      ],
    } as never);
    expect(option.series.map((s) => s.name)).toEqual(["All users", "pro", "(not set)"]);
    expect(option.series[1].data[1]).toBeCloseTo(33.33, 1);
    expect(option.series[2].data).toEqual([100, 0]);
    expect(option.legend).toBeDefined();
  });
});

describe("charts", () => {
  it("names series by metric letter, label and segment", () => {
    expect(seriesName(answer.series[0])).toBe("A · Purchase - unique users");
    expect(seriesName(answer.series[1])).toBe("B · Purchase - total · pro");
  });

  it("stacks bars only for the stacked chart, and keeps gaps as gaps", () => {
    const stacked = insightsOption(answer, "stacked");
    expect(stacked.series.map((s) => [s.type, s.stack])).toEqual([
      ["bar", "total"],
      ["bar", "total"],
    ]);
    const line = insightsOption(answer, "line");
    expect(line.series[0].type).toBe("line");
    expect(line.series[0].stack).toBeUndefined();
    expect(line.series[1].data).toEqual([2, null]);
    expect(line.xAxis.data).toEqual(answer.buckets);
  });

  it("formats whole numbers plainly and others to two places", () => {
    expect(formatValue(1234)).toBe("1,234");
    expect(formatValue(2.3456)).toBe("2.35");
    expect(formatValue(null)).toBe("—");
  });
});

describe("filters", () => {
  it("types the value by operator", () => {
    expect(filterOf("plan", "equals", "pro, free")).toEqual({ property: "plan", operator: "equals", value: ["pro", "free"] });
    expect(filterOf("price", "greater_than", "9.5")).toEqual({ property: "price", operator: "greater_than", value: 9.5 });
    expect(filterOf("plan", "is_set", "ignored")).toEqual({ property: "plan", operator: "is_set" });
    expect(filterText(filterOf("plan", "equals", "pro, free"))).toBe("pro, free");
  });
  it("says when a property is the user's profile's", () => {
    expect(filterOf("tier", "equals", "gold", "user")).toEqual({ property: "tier", source: "user", operator: "equals", value: ["gold"] });
    expect(fromPickerValue("user:tier")).toEqual({ property: "tier", source: "user" });
    expect(fromPickerValue("plan")).toEqual({ property: "plan", source: "event" });
    expect(pickerValue("tier", "user")).toBe("user:tier");
    expect(pickerValue("plan", undefined)).toBe("plan");
    expect(pickerValue(undefined, "user")).toBeNull();
  });
});

describe("the funnel request", () => {
  const today = new Date(2026, 11, 6);
  const steps = [{ event: "Sign up" }, { event: "Purchase" }, { event: "Renew" }];
  const base: Funnel = { ...defaultFunnel(today), steps };

  it("sends the default funnel as it is", () => {
    expect(funnelRequest(base)).toEqual(base);
    expect(Object.keys(funnelRequest(base))).toEqual(Object.keys(base));
  });

  it("sends the session length only when counting sessions, whole and within 1 to 1440", () => {
    expect(funnelRequest({ ...base, counting: "sessions" }).session_minutes).toBe(30);
    expect(funnelRequest({ ...base, counting: "sessions", session_minutes: 45 })).toMatchObject({ counting: "sessions", session_minutes: 45 });
    expect(funnelRequest({ ...base, counting: "sessions", session_minutes: 5000 }).session_minutes).toBe(1440);
    expect(funnelRequest({ ...base, counting: "totals", session_minutes: 45 })).not.toHaveProperty("session_minutes");
    expect(sessionMinutes(0)).toBe(1);
    expect(sessionMinutes(12.4)).toBe(12);
    expect(sessionMinutes(null)).toBe(30);
  });

  it("sends optimized re-entry only when on and counting unique users", () => {
    expect(funnelRequest({ ...base, optimized_reentry: true }).optimized_reentry).toBe(true);
    expect(funnelRequest({ ...base, counting: "uniques", optimized_reentry: true }).optimized_reentry).toBe(true);
    expect(funnelRequest({ ...base, counting: "totals", optimized_reentry: true })).not.toHaveProperty("optimized_reentry");
    expect(funnelRequest({ ...base, counting: "sessions", optimized_reentry: true })).not.toHaveProperty("optimized_reentry");
    expect(funnelRequest({ ...base, optimized_reentry: false })).not.toHaveProperty("optimized_reentry");
  });

  it("attributes an event-property breakdown to step 1 unless told otherwise", () => {
    const breakdown = breakdownOf("plan", null);
    expect(funnelRequest({ ...base, breakdown })).toMatchObject({ breakdown: { property: "plan" }, attribution: { step: 0 } });
    expect(funnelRequest({ ...base, breakdown, attribution: { step: 2 } }).attribution).toEqual({ step: 2 });
    expect(funnelRequest({ ...base, breakdown, attribution: "last_defined" }).attribution).toBe("last_defined");
  });

  it("moves the attribution back to step 1 when its step is gone", () => {
    const request = funnelRequest({ ...base, steps: steps.slice(0, 2), breakdown: { property: "plan" }, attribution: { step: 2 } });
    expect(request.attribution).toEqual({ step: 0 });
  });

  it("sends no attribution for a profile breakdown, nor without a breakdown", () => {
    const byProfile = funnelRequest({ ...base, breakdown: breakdownOf("user:tier", null), attribution: { step: 1 } });
    expect(byProfile.breakdown).toEqual({ property: "tier", source: "user" });
    expect(byProfile).not.toHaveProperty("attribution");
    const none = funnelRequest({ ...base, breakdown: null, attribution: { step: 1 } });
    expect(none).not.toHaveProperty("attribution");
    expect(none).not.toHaveProperty("breakdown");
  });

  it("keeps a breakdown's limit", () => {
    const breakdown = breakdownOf("country", { property: "plan", limit: 5 });
    expect(funnelRequest({ ...base, breakdown }).breakdown).toEqual({ property: "country", limit: 5 });
  });

  it("holds at most three properties constant, and sends none when empty", () => {
    expect(funnelRequest({ ...base, hold_constant: ["plan", "country", "device", "os"] }).hold_constant).toEqual(["plan", "country", "device"]);
    expect(funnelRequest({ ...base, hold_constant: [] })).not.toHaveProperty("hold_constant");
  });

  it("round-trips through the URL as the request it sends", () => {
    const request = funnelRequest({
      ...base,
      counting: "sessions",
      session_minutes: 20,
      breakdown: { property: "plan" },
      attribution: "first_defined",
      hold_constant: ["country"],
      optimized_reentry: true,
    });
    expect(request).toEqual({
      ...base,
      counting: "sessions",
      session_minutes: 20,
      breakdown: { property: "plan" },
      attribution: "first_defined",
      hold_constant: ["country"],
    });
    const back = readReport<Funnel | null>(new URLSearchParams(reportParams(request).toString()), null);
    expect(back).toEqual(request);
    // What the URL reopens is sent unchanged.
    expect(back && funnelRequest(back)).toEqual(request);
  });

  it("names the attribution choices and reads them back", () => {
    expect(attributionChoices(2).map((c) => c.label)).toEqual(["Step 1", "Step 2", "First step defined", "Last step defined"]);
    expect(attributionOf("1")).toEqual({ step: 1 });
    expect(attributionOf("first_defined")).toBe("first_defined");
    expect(attributionValue(undefined, 2)).toBe("0");
    expect(attributionValue({ step: 1 }, 2)).toBe("1");
    expect(attributionValue({ step: 3 }, 2)).toBe("0");
    expect(attributionValue("last_defined", 2)).toBe("last_defined");
  });

  it("says a breakdown's property, and whose", () => {
    expect(breakdownName({ property: "plan" })).toBe("plan");
    expect(breakdownName({ property: "tier", source: "user" })).toBe("tier (user)");
    expect(breakdownOf(null, { property: "plan" })).toBeUndefined();
  });
});

describe("the funnel broken down", () => {
  it("draws a bar per segment at each step", () => {
    const option = funnelSegmentsOption({
      steps: [{ event: "Sign up" }, { event: "Purchase" }],
      segments: [
        { segment: "pro", counts: [4, 2], overall_conversion: 0.5 },
        { segment: "free", counts: [3, 0], overall_conversion: 0 },
      ],
    } as never);
    expect(option.xAxis.data).toEqual(["1. Sign up", "2. Purchase"]);
    expect(option.series).toEqual([
      { name: "pro", type: "bar", data: [4, 2] },
      { name: "free", type: "bar", data: [3, 0] },
    ]);
    expect(option.legend).toBeDefined();
  });
});

describe("custom retention brackets", () => {
  it("reads ascending whole numbers from 1", () => {
    expect(parseBrackets("1, 3, 7, 14")).toEqual({ brackets: [1, 3, 7, 14] });
    expect(parseBrackets(" 1 3,7 ")).toEqual({ brackets: [1, 3, 7] });
    expect(parseBrackets("  ")).toEqual({ brackets: null });
  });

  it("says why other text is not brackets", () => {
    expect(parseBrackets("1, 2.5").error).toBeDefined();
    expect(parseBrackets("1, -3").error).toBeDefined();
    expect(parseBrackets("a week").error).toBeDefined();
    expect(parseBrackets("0, 3").error).toBeDefined();
    expect(parseBrackets("3, 1").error).toBeDefined();
    expect(parseBrackets("1, 1").error).toBeDefined();
    expect(parseBrackets("1, 800").error).toBeDefined();
  });

  it("shows brackets as the text they came from", () => {
    expect(bracketsText([1, 3, 7, 14])).toBe("1, 3, 7, 14");
    expect(bracketsText(null)).toBe("");
    const parsed = parseBrackets(bracketsText([2, 4]));
    expect(parsed.brackets).toEqual([2, 4]);
  });

  it("sends brackets instead of the number of buckets", () => {
    const report = defaultRetention(new Date(2026, 11, 6));
    const custom = retentionRequest({ ...report, brackets: [1, 3, 7, 14] });
    expect(custom.brackets).toEqual([1, 3, 7, 14]);
    expect(custom).not.toHaveProperty("buckets");
    expect(retentionRequest(report)).toEqual(report);
    expect(Object.keys(retentionRequest(report))).toEqual(Object.keys(report));
    expect(retentionRequest({ ...report, brackets: [] })).toEqual(report);
    expect(retentionRequest({ ...report, brackets: null })).not.toHaveProperty("brackets");
    expect(readReport(new URLSearchParams(reportParams(custom).toString()), null)).toEqual(custom);
  });

  it("labels each bracket with its span and the unit", () => {
    const answer = { brackets: [1, 3, 7, 14], total: { cohort: "all", first: 4, counts: [4, 3, 2, 1] } };
    expect(retentionBucketLabels(answer, "day")).toEqual(["< 1 day", "1–3 days", "3–7 days", "7–14 days"]);
    expect(retentionBucketLabels(answer, "week")[0]).toBe("< 1 week");
    expect(retentionBucketLabels(answer)).toEqual(["< 1", "1–3", "3–7", "7–14"]);
    expect(retentionBucketLabels({ brackets: null, total: answer.total }, "day")).toEqual(["0", "1", "2", "3"]);
  });

  it("puts the brackets on the curve's axis", () => {
    const option = retentionOption(
      { criterion: "on", brackets: [1, 3], total: { cohort: "all", first: 2, counts: [2, 1] }, rows: [], average: [] } as never,
      "day",
    );
    expect(option.xAxis.data).toEqual(["< 1 day", "1–3 days"]);
  });
});
