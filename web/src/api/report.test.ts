import { describe, expect, it } from "vitest";
import {
  type InsightsAnswer,
  defaultInsights,
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
import { filterOf, filterText, fromPickerValue, pickerValue } from "../screens/analysis/filterModel";

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
