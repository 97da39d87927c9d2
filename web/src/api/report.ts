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
export type Breakdown = components["schemas"]["Breakdown"];
export type FunnelAttribution = components["schemas"]["FunnelAttribution"];
export type FunnelCounting = components["schemas"]["FunnelCounting"];
export type FunnelSegment = components["schemas"]["FunnelSegment"];
export type RetentionUnit = components["schemas"]["RetentionUnit"];

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

/** The most event properties a funnel holds constant (the engine's limit). */
export const MAX_HELD_CONSTANT = 3;

/** The session lengths a funnel counting sessions takes, in minutes idle (the engine's). */
export const SESSION_MINUTES = { min: 1, max: 1440, default: 30 } as const;

/** A funnel as the engine takes it, from the screen's draft: the options that do not apply
 * are left out (session length unless counting sessions, re-entry unless counting users,
 * attribution unless broken down by an event property), the attributed step kept among the
 * steps, and at most three properties held constant. What is left goes in the URL, so a
 * link holds only what the report means. */
export function funnelRequest(draft: Funnel): Funnel {
  const { session_minutes, optimized_reentry, attribution, hold_constant, breakdown, ...rest } = draft;
  const counting = draft.counting ?? "uniques";
  const request: Funnel = { ...rest };
  if (breakdown) {
    request.breakdown = breakdown;
    if (breakdown.source !== "user") request.attribution = keptAttribution(attribution, draft.steps.length);
  }
  const held = (hold_constant ?? []).filter(Boolean).slice(0, MAX_HELD_CONSTANT);
  if (held.length > 0) request.hold_constant = held;
  if (optimized_reentry && counting === "uniques") request.optimized_reentry = true;
  if (counting === "sessions") request.session_minutes = sessionMinutes(session_minutes);
  return request;
}

/** The attribution as sent: step 1 by default, and the first step for one no longer there. */
function keptAttribution(attribution: FunnelAttribution | undefined, steps: number): FunnelAttribution {
  if (attribution == null) return { step: 0 };
  if (typeof attribution === "object") return attribution.step < steps ? attribution : { step: 0 };
  return attribution;
}

/** Minutes idle, whole and within what the engine takes (30 when unset). */
export function sessionMinutes(minutes: number | null | undefined): number {
  if (minutes == null || !Number.isFinite(minutes)) return SESSION_MINUTES.default;
  return Math.min(SESSION_MINUTES.max, Math.max(SESSION_MINUTES.min, Math.round(minutes)));
}

/** The attribution picker's value for a funnel of `steps` steps: the step's position, or the
 * rule's name (step 1 when unset, or when its step is no longer there). */
export function attributionValue(attribution: FunnelAttribution | undefined, steps: number): string {
  const kept = keptAttribution(attribution, steps);
  return typeof kept === "object" ? String(kept.step) : kept;
}

/** The attribution a picker's value stands for. */
export function attributionOf(value: string): FunnelAttribution {
  return value === "first_defined" || value === "last_defined" ? value : { step: Number(value) || 0 };
}

/** The attribution picker's choices for a funnel of `steps` steps. */
export function attributionChoices(steps: number): { value: string; label: string }[] {
  return [
    ...Array.from({ length: steps }, (_, i) => ({ value: String(i), label: `Step ${i + 1}` })),
    { value: "first_defined", label: "First step defined" },
    { value: "last_defined", label: "Last step defined" },
  ];
}

/** What a funnel counts, in words: users, attempts or sessions. */
export function countedName(counting: FunnelCounting | undefined): string {
  return counting === "totals" ? "attempts" : counting === "sessions" ? "sessions" : "users";
}

/** The most custom brackets, and the latest end, the engine takes. */
export const MAX_BRACKETS = 63;
export const MAX_BRACKET_END = 732;

/** Custom retention brackets from their text (`1, 3, 7, 14`): the ends, none for an empty
 * text, or why the text is not a list of whole numbers ascending from 1. */
export function parseBrackets(text: string): { brackets: number[] | null; error?: undefined } | { brackets?: undefined; error: string } {
  const parts = text.split(/[\s,]+/).filter(Boolean);
  if (parts.length === 0) return { brackets: null };
  if (!parts.every((part) => /^\d+$/.test(part))) return { error: "Use whole numbers, like 1, 3, 7, 14." };
  const ends = parts.map(Number);
  if (ends[0] < 1) return { error: "Brackets start from 1." };
  if (ends.some((end, i) => i > 0 && end <= ends[i - 1])) return { error: "Each end must be larger than the one before." };
  if (ends.length > MAX_BRACKETS) return { error: `At most ${MAX_BRACKETS} brackets.` };
  if (ends[ends.length - 1] > MAX_BRACKET_END) return { error: `The last end is at most ${MAX_BRACKET_END}.` };
  return { brackets: ends };
}

/** Custom brackets as their text shows them. */
export function bracketsText(brackets: number[] | null | undefined): string {
  return (brackets ?? []).join(", ");
}

/** A retention report as the engine takes it, from the screen's draft: custom brackets
 * replace the number of buckets, and empty ones are left out. */
export function retentionRequest(draft: Retention): Retention {
  const request: Retention = { ...draft };
  if (draft.brackets && draft.brackets.length > 0) delete request.buckets;
  else delete request.brackets;
  return request;
}

/** A number of retention units in words (`1 day`, `3 weeks`), or the bare number when the
 * unit is not known. */
function units(count: number, unit: RetentionUnit | undefined): string {
  return unit ? `${count} ${unit}${count === 1 ? "" : "s"}` : `${count}`;
}

/** The buckets' labels: with custom brackets each bracket's span (`< 1 day`, `1–3 days`),
 * else each bucket's number (`0`, `1`, …). */
export function retentionBucketLabels(answer: Pick<RetentionAnswer, "brackets" | "total">, unit?: RetentionUnit): string[] {
  const ends = answer.brackets;
  if (ends && ends.length > 0) return ends.map((end, i) => (i === 0 ? `< ${units(end, unit)}` : `${ends[i - 1]}–${units(end, unit)}`));
  return answer.total.counts.map((_, i) => `${i}`);
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

/** The legend of a chart with a line or bar per segment, and the room it takes below. */
const SEGMENT_LEGEND = { type: "scroll", bottom: 0 } as const;
const SEGMENT_LEGEND_ROOM = 56;

/** A funnel step as tables and charts name it: `1. Sign up`. */
export function stepName(step: { event: string }, index: number): string {
  return `${index + 1}. ${step.event}`;
}

/** Funnel steps as bars: the users at each step, labelled with the overall conversion. */
export function funnelOption(answer: FunnelAnswer) {
  return {
    aria: { enabled: true },
    tooltip: { trigger: "axis" },
    grid: { left: 48, right: 16, top: 24, bottom: 32 },
    xAxis: { type: "category", data: answer.steps.map(stepName) },
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

/** A funnel broken down, as grouped bars: per step, a bar for each segment's count. */
export function funnelSegmentsOption(answer: FunnelAnswer) {
  return {
    aria: { enabled: true },
    tooltip: { trigger: "axis" },
    legend: SEGMENT_LEGEND,
    grid: { left: 48, right: 16, top: 16, bottom: SEGMENT_LEGEND_ROOM },
    xAxis: { type: "category", data: answer.steps.map(stepName) },
    yAxis: { type: "value", minInterval: 1 },
    series: (answer.segments ?? []).map((segment) => ({ name: segment.segment, type: "bar", data: segment.counts })),
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
export function retentionOption(answer: RetentionAnswer, unit?: RetentionUnit) {
  const segments = answer.segments ?? [];
  const all = { name: segments.length ? "All users" : "Retained", type: "line", data: retainedShares(answer.total) };
  return {
    aria: { enabled: true },
    tooltip: { trigger: "axis" },
    ...(segments.length ? { legend: SEGMENT_LEGEND } : {}),
    grid: { left: 48, right: 16, top: 16, bottom: segments.length ? SEGMENT_LEGEND_ROOM : 32 },
    xAxis: { type: "category", data: retentionBucketLabels(answer, unit) },
    yAxis: { type: "value", max: 100, axisLabel: { formatter: "{value}%" } },
    series: [all, ...segments.map((segment) => ({ name: segment.segment, type: "line", data: retainedShares(segment.total) }))],
  };
}

/** Retention as a heat map: one row per cohort (all users first), one column per bucket,
 * each cell the share of the cohort back in it (labelled), cohorts nobody was born in left out. */
export function retentionHeatmapOption(answer: RetentionAnswer, unit?: RetentionUnit) {
  const rows = [answer.total, ...answer.rows.filter((row) => row.first > 0)];
  const names = rows.map((row) => (row.cohort === "all" ? "All users" : `${row.cohort} (${row.first})`));
  const data: [number, number, number][] = [];
  rows.forEach((row, y) => row.counts.forEach((count, x) => data.push([x, y, row.first ? Math.round((1000 * count) / row.first) / 10 : 0])));
  return {
    aria: { enabled: true },
    tooltip: { position: "top" },
    grid: { left: 140, right: 16, top: 8, bottom: 64 },
    xAxis: { type: "category", data: retentionBucketLabels(answer, unit), splitArea: { show: true } },
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
