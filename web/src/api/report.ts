// Reports as the query engine takes them (`POST /api/app/projects/{id}/query`), kept in
// the URL so that a link reopens the same report, and turned into ECharts options.
import type { components } from "./schema";

export type Report = components["schemas"]["Report"];
export type Insights = components["schemas"]["Insights"];
export type Funnel = components["schemas"]["Funnel"];
export type Retention = components["schemas"]["Retention"];
export type Metric = components["schemas"]["Metric"];
export type Filter = components["schemas"]["Filter"];
export type Answer = components["schemas"]["Answer"];
export type InsightsAnswer = components["schemas"]["InsightsAnswer"];
export type Series = components["schemas"]["Series"];
export type SeriesView = components["schemas"]["SeriesView"];
export type FunnelAnswer = components["schemas"]["FunnelAnswer"];
export type RetentionAnswer = components["schemas"]["RetentionAnswer"];
export type RetentionRow = components["schemas"]["RetentionRow"];
export type RetentionSegment = components["schemas"]["RetentionSegment"];
export type TimeUnit = components["schemas"]["TimeUnit"];

export type ChartKind = "line" | "bar" | "stacked" | "table" | "number";

/** `YYYY-MM-DD` of a date, in the browser's calendar. */
export function day(date: Date): string {
  const pad = (n: number) => String(n).padStart(2, "0");
  return `${date.getFullYear()}-${pad(date.getMonth() + 1)}-${pad(date.getDate())}`;
}

/** The last `days` days up to `today`, both included. */
export function lastDays(today: Date, days: number): { from_date: string; to_date: string } {
  const from = new Date(today);
  from.setDate(from.getDate() - (days - 1));
  return { from_date: day(from), to_date: day(today) };
}

export function defaultInsights(today: Date): Insights {
  return { range: lastDays(today, 30), unit: "day", metrics: [{ event: "$all_events", measure: { kind: "total" } }] };
}

export function defaultFunnel(today: Date): Funnel {
  return { range: lastDays(today, 30), steps: [{ event: "" }, { event: "" }], window_seconds: 7 * 86400, order: "in_order" };
}

export function defaultRetention(today: Date): Retention {
  return {
    range: lastDays(today, 30),
    born: { event: "$all_events" },
    return: { event: "$all_events" },
    unit: "day",
    buckets: 7,
    criterion: "on_or_after",
  };
}

/** The report a URL's `report` parameter holds, or `fallback` when it holds none. */
export function readReport<T>(search: URLSearchParams, fallback: T): T {
  const text = search.get("report");
  if (!text) return fallback;
  try {
    const parsed = JSON.parse(text);
    return parsed && typeof parsed === "object" ? (parsed as T) : fallback;
  } catch {
    return fallback;
  }
}

/** URL parameters that hold `report` (and the chart kind when it is not the default). */
export function reportParams(report: unknown, chart?: ChartKind): URLSearchParams {
  const params = new URLSearchParams({ report: JSON.stringify(report) });
  if (chart && chart !== "line") params.set("chart", chart);
  return params;
}

const letters = "ABCDEFGHIJKLMNOPQRSTUVWXYZ";

/** A series' name as a legend shows it: the metric's letter (or the formula's number) and
 * label, and its segment. */
export function seriesName(series: Series): string {
  const mark = series.formula != null ? `ƒ${series.formula + 1}` : (letters[series.metric] ?? String(series.metric));
  const base = `${mark} · ${series.label}`;
  return series.segment == null ? base : `${base} · ${series.segment}`;
}

/** The series of the compared period that matches `series` (same metric or formula, same
 * segment), if the answer has one. */
export function previousOf(answer: InsightsAnswer, series: Series): Series | undefined {
  return answer.previous?.series.find(
    (earlier) => earlier.metric === series.metric && (earlier.formula ?? null) === (series.formula ?? null) && (earlier.segment ?? null) === (series.segment ?? null),
  );
}

/** The change from `before` to `now` as a share (`null` when there is nothing to compare). */
export function change(now: number | null | undefined, before: number | null | undefined): number | null {
  if (now == null || before == null || before === 0) return null;
  return (now - before) / before;
}

/** An ECharts option for an Insights answer drawn as a line, bar or stacked bar chart. */
export function insightsOption(answer: InsightsAnswer, kind: "line" | "bar" | "stacked") {
  return {
    aria: { enabled: true },
    tooltip: { trigger: "axis" },
    legend: { type: "scroll", bottom: 0 },
    grid: { left: 48, right: 16, top: 16, bottom: 48 },
    xAxis: { type: "category", data: answer.buckets },
    yAxis: { type: "value" },
    series: [
      ...answer.series.map((series) => ({
        name: seriesName(series),
        type: kind === "line" ? "line" : "bar",
        stack: kind === "stacked" ? "total" : undefined,
        data: series.values,
        showSymbol: answer.buckets.length <= 31,
      })),
      // The compared period as dashed lines, bucket by bucket under the current ones.
      ...(answer.previous?.series ?? []).map((series) => ({
        name: `${seriesName(series)} (previous period)`,
        type: "line",
        stack: undefined,
        data: series.values,
        showSymbol: false,
        lineStyle: { type: "dashed" },
      })),
    ],
  };
}

/** Funnel steps as bars: the users at each step, labelled with the overall conversion. */
export function funnelOption(answer: FunnelAnswer) {
  return {
    aria: { enabled: true },
    tooltip: { trigger: "axis" },
    grid: { left: 48, right: 16, top: 24, bottom: 32 },
    xAxis: { type: "category", data: answer.steps.map((step, i) => `${i + 1}. ${step.event}`) },
    yAxis: { type: "value" },
    series: [
      {
        name: "Users",
        type: "bar",
        data: answer.steps.map((step) => step.count),
        label: {
          show: true,
          position: "top",
          formatter: (p: { dataIndex: number }) => percent(answer.steps[p.dataIndex]?.overall_conversion ?? 0),
        },
      },
    ],
  };
}

/** The conversion of each interval's entries, as a line of percentages. */
export function funnelOverTimeOption(answer: FunnelAnswer) {
  return {
    aria: { enabled: true },
    tooltip: { trigger: "axis" },
    grid: { left: 48, right: 16, top: 16, bottom: 32 },
    xAxis: { type: "category", data: answer.over_time.map((period) => period.bucket) },
    yAxis: { type: "value", max: 100, axisLabel: { formatter: "{value}%" } },
    series: [
      {
        name: "Converted",
        type: "line",
        // An interval without entries has no conversion: a gap, not 0%.
        data: answer.over_time.map((period) => (period.entered ? (100 * period.converted) / period.entered : null)),
        connectNulls: false,
      },
    ],
  };
}

/** A duration in seconds as people say it (`90` → `1.5 min`). */
export function duration(seconds: number | null | undefined): string {
  if (seconds == null) return "—";
  if (seconds < 60) return `${Math.round(seconds)} s`;
  if (seconds < 3600) return `${+(seconds / 60).toFixed(1)} min`;
  if (seconds < 86400) return `${+(seconds / 3600).toFixed(1)} h`;
  return `${+(seconds / 86400).toFixed(1)} d`;
}

/** The time-to-convert histogram as bars, each labelled with its span. */
export function timeToConvertOption(answer: FunnelAnswer) {
  const label = (bucket: FunnelAnswer["time_to_convert"][number]) =>
    bucket.to_seconds == null ? `${duration(bucket.from_seconds)}+` : `${duration(bucket.from_seconds)}–${duration(bucket.to_seconds)}`;
  return {
    aria: { enabled: true },
    tooltip: { trigger: "axis" },
    grid: { left: 48, right: 16, top: 16, bottom: 32 },
    xAxis: { type: "category", data: answer.time_to_convert.map(label) },
    yAxis: { type: "value", minInterval: 1 },
    series: [{ name: "Conversions", type: "bar", data: answer.time_to_convert.map((bucket) => bucket.count) }],
  };
}

/** The share of a retention row's users back in each bucket, in percent. */
function retainedShares(row: RetentionRow): number[] {
  return row.counts.map((n) => (row.first ? (100 * n) / row.first : 0));
}

/** Retention as a curve: the share of all cohorts' users back in each bucket; with a
 * breakdown, one more line per segment (its cohorts together, as the first line is). */
export function retentionOption(answer: RetentionAnswer) {
  const segments = answer.segments ?? [];
  const all = { name: segments.length ? "All users" : "Retained", type: "line", data: retainedShares(answer.total) };
  return {
    aria: { enabled: true },
    tooltip: { trigger: "axis" },
    ...(segments.length ? { legend: { type: "scroll", bottom: 0 } } : {}),
    grid: { left: 48, right: 16, top: 16, bottom: segments.length ? 56 : 32 },
    xAxis: { type: "category", data: answer.total.counts.map((_, i) => `${i}`) },
    yAxis: { type: "value", max: 100, axisLabel: { formatter: "{value}%" } },
    series: [all, ...segments.map((segment) => ({ name: segment.segment, type: "line", data: retainedShares(segment.total) }))],
  };
}

/** Retention as a heat map: one row per cohort (all users first), one column per bucket,
 * each cell the share of the cohort back in it (labelled), cohorts nobody was born in left out. */
export function retentionHeatmapOption(answer: RetentionAnswer) {
  const rows = [answer.total, ...answer.rows.filter((row) => row.first > 0)];
  const names = rows.map((row) => (row.cohort === "all" ? "All users" : `${row.cohort} (${row.first})`));
  const data: [number, number, number][] = [];
  rows.forEach((row, y) => row.counts.forEach((count, x) => data.push([x, y, row.first ? Math.round((1000 * count) / row.first) / 10 : 0])));
  return {
    aria: { enabled: true },
    tooltip: { position: "top" },
    grid: { left: 140, right: 16, top: 8, bottom: 64 },
    xAxis: { type: "category", data: answer.total.counts.map((_, i) => `${i}`), splitArea: { show: true } },
    yAxis: { type: "category", data: names, inverse: true, splitArea: { show: true } },
    visualMap: { min: 0, max: 100, calculable: false, orient: "horizontal", left: "center", bottom: 0, itemHeight: 120, text: ["100%", "0%"] },
    series: [{ name: "Retained %", type: "heatmap", data, label: { show: true, formatter: (p: { value: [number, number, number] }) => `${p.value[2]}%` } }],
  };
}

export function percent(share: number): string {
  return `${(share * 100).toFixed(1)}%`;
}

/** A number as a table shows it: whole numbers as they are, others to two places. */
export function formatValue(value: number | null | undefined): string {
  if (value == null) return "—";
  return Number.isInteger(value) ? value.toLocaleString("en-US") : value.toLocaleString("en-US", { maximumFractionDigits: 2 });
}
