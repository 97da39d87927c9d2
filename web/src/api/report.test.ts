import { describe, expect, it } from "vitest";
import {
  type InsightsAnswer,
  defaultInsights,
  formatValue,
  insightsOption,
  lastDays,
  readReport,
  reportParams,
  seriesName,
} from "./report";
import { filterOf, filterText } from "../screens/analysis/filterModel";

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
});
