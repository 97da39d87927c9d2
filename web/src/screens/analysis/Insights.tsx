// Insights: metrics (an event and what to measure), filters, a breakdown, over a date
// range; drawn as a line, bar or stacked chart, a table or one number. The report lives in
// the URL: a link (or the back button) reopens the same report. A point of the chart (or a
// cell of the table) can be chosen to save its users as a cohort.
import { useEffect, useMemo, useRef, useState } from "react";
import { ActionIcon, Button, Card, Checkbox, Group, SegmentedControl, Select, Stack, Table, Text, TextInput, Title, UnstyledButton } from "@mantine/core";
import {
  type ChartKind,
  type Insights as InsightsReport,
  type InsightsAnswer,
  type Metric,
  type Report,
  type Series,
  type SeriesView,
  change,
  defaultInsights,
  percent,
  previousOf,
  formatValue,
  insightsOption,
  seriesName,
} from "../../api/report";
import { Chart, type ChartPoint } from "./Chart";
import { EventPicker, RangePicker, RunButtons, ResultBox, SourcedPropertyPicker, useReportScreen } from "./parts";
import { FilterEditor } from "./Filters";
import { fromPickerValue, pickerValue } from "./filterModel";
import { Empty, ErrorNote, Screen } from "../common";
import { type Annotation, withAnnotations } from "../../api/boards";
import { useAnnotations } from "../boards/queries";
import { SaveReportButton } from "../boards/SaveReport";
import { AnnotationsPanel } from "./Annotations";
import { mayInProject, useCurrent } from "../../api/hooks";
import { insightsChoice, pointLabel } from "../../api/selection";
import { SaveSelectionDialog } from "../cohorts/SaveAsCohort";

const MEASURES = [
  { value: "total", label: "Total events" },
  { value: "unique", label: "Unique users" },
  { value: "per_user:average", label: "Average per user" },
  { value: "per_user:median", label: "Median per user" },
  { value: "active:1", label: "Daily active users" },
  { value: "active:7", label: "Weekly active users" },
  { value: "active:30", label: "Monthly active users" },
];

const VIEWS = [
  { value: "plain", label: "Each interval" },
  { value: "cumulative", label: "Cumulative" },
  { value: "rolling:7", label: "Rolling 7" },
  { value: "rolling:30", label: "Rolling 30" },
];

function viewValue(view: SeriesView | undefined): string {
  if (!view || view.kind === "plain") return "plain";
  return view.kind === "rolling" ? `rolling:${view.window}` : view.kind;
}

function viewOf(value: string): SeriesView {
  if (value.startsWith("rolling:")) return { kind: "rolling", window: Number(value.slice(8)) };
  return { kind: value as "plain" | "cumulative" };
}

function measureValue(metric: Metric): string {
  const measure = metric.measure ?? { kind: "total" };
  if (measure.kind === "active") return `active:${measure.days}`;
  return measure.kind === "per_user" ? `per_user:${measure.aggregate}` : measure.kind;
}

function measureOf(value: string): Metric["measure"] {
  if (value.startsWith("per_user:")) return { kind: "per_user", aggregate: value.slice(9) as "average" | "median" };
  if (value.startsWith("active:")) return { kind: "active", days: Number(value.slice(7)) };
  return { kind: value as "total" | "unique" };
}

/** No annotations, one array for every render (the chart redraws when its option changes). */
const NO_ANNOTATIONS: Annotation[] = [];

export function Insights() {
  const { projectId, search, setSearch, draft, setDraft, submit, running, answer, report, error, runner } = useReportScreen<InsightsReport>(
    "insights",
    () => defaultInsights(new Date()),
    true,
  );
  const chart = (search.get("chart") as ChartKind | null) ?? "line";
  const setMetric = (index: number, metric: Metric) => setDraft({ ...draft, metrics: draft.metrics.map((m, i) => (i === index ? metric : m)) });
  type Formula = NonNullable<InsightsReport["formulas"]>[number];
  const setFormula = (index: number, formula: Formula) =>
    setDraft({ ...draft, formulas: (draft.formulas ?? []).map((f, i) => (i === index ? formula : f)) });
  const insights = answer && answer.type === "insights" ? (answer as unknown as InsightsAnswer & { range: { time_zone: string } }) : null;
  // The project's annotations over the answered range, marked on the chart.
  const range = answer?.range;
  const annotations = useAnnotations(projectId, range?.from_date, range?.to_date);
  const { project } = useCurrent();
  return (
    <Screen title="Insights" actions={<SaveReportButton projectId={projectId} type="insights" report={draft} />}>
      <Card withBorder>
        <form
          onSubmit={(event) => {
            event.preventDefault();
            submit(chart);
          }}
        >
          <Stack gap="sm">
            {draft.metrics.map((metric, index) => (
              <Group key={index} align="flex-end" gap="xs" aria-label={`Metric ${String.fromCharCode(65 + index)}`} role="group">
                <Text fw={700} w={20}>
                  {String.fromCharCode(65 + index)}
                </Text>
                <EventPicker id={`metric-${index}-event`} projectId={projectId} label="Event" value={metric.event} onChange={(event) => setMetric(index, { ...metric, event })} />
                <Select
                  id={`metric-${index}-measure`}
                  label="Measure"
                  data={MEASURES}
                  value={measureValue(metric)}
                  onChange={(value) => value && setMetric(index, { ...metric, measure: measureOf(value) })}
                  allowDeselect={false}
                  w={200}
                />
                {draft.metrics.length > 1 && (
                  <ActionIcon variant="subtle" color="gray" aria-label={`Remove metric ${String.fromCharCode(65 + index)}`} onClick={() => setDraft({ ...draft, metrics: draft.metrics.filter((_, i) => i !== index) })}>
                    ×
                  </ActionIcon>
                )}
              </Group>
            ))}
            {(draft.formulas ?? []).map((formula, index) => (
              <Group key={`formula-${index}`} align="flex-end" gap="xs" role="group" aria-label={`Formula ${index + 1}`}>
                <Text fw={700} w={20}>
                  ƒ{index + 1}
                </Text>
                <TextInput
                  id={`formula-${index}-expression`}
                  label="Formula"
                  description="Metric letters, numbers, + - * / and parentheses"
                  placeholder="B / A * 100"
                  value={formula.expression}
                  onChange={(event) => setFormula(index, { ...formula, expression: event.currentTarget.value })}
                  w={260}
                />
                <TextInput
                  id={`formula-${index}-label`}
                  label="Name"
                  placeholder="Conversion %"
                  value={formula.label ?? ""}
                  onChange={(event) => setFormula(index, { ...formula, label: event.currentTarget.value || null })}
                  w={200}
                />
                <ActionIcon
                  variant="subtle"
                  color="gray"
                  aria-label={`Remove formula ${index + 1}`}
                  onClick={() => setDraft({ ...draft, formulas: (draft.formulas ?? []).filter((_, i) => i !== index) })}
                >
                  ×
                </ActionIcon>
              </Group>
            ))}
            <Group>
              <Button variant="subtle" size="compact-sm" onClick={() => setDraft({ ...draft, metrics: [...draft.metrics, { event: "$all_events", measure: { kind: "unique" } }] })}>
                + Metric
              </Button>
              <Button
                variant="subtle"
                size="compact-sm"
                onClick={() => setDraft({ ...draft, formulas: [...(draft.formulas ?? []), { expression: draft.metrics.length > 1 ? "B / A" : "A" }] })}
              >
                + Formula
              </Button>
            </Group>
            <FilterEditor projectId={projectId} filters={draft.filters ?? []} onChange={(filters) => setDraft({ ...draft, filters })} />
            <Group align="flex-end" gap="md">
              <SourcedPropertyPicker
                id="breakdown"
                projectId={projectId}
                label="Breakdown"
                value={pickerValue(draft.breakdown?.property, draft.breakdown?.source)}
                onChange={(value) => {
                  if (!value) return setDraft({ ...draft, breakdown: undefined });
                  const { property, source } = fromPickerValue(value);
                  setDraft({ ...draft, breakdown: source === "event" ? { property } : { property, source } });
                }}
              />
              {draft.breakdown && draft.breakdown.source !== "cohort" && (
                <Checkbox
                  label="Numeric ranges"
                  description="Segment by ranges of the value"
                  checked={draft.breakdown.bins != null}
                  onChange={(e) => {
                    const { bins: _bins, ...rest } = draft.breakdown!;
                    setDraft({ ...draft, breakdown: e.currentTarget.checked ? { ...rest, bins: { kind: "auto", count: 10 } } : rest });
                  }}
                />
              )}
              <RangePicker range={draft.range} onChange={(range) => setDraft({ ...draft, range })} />
              <Select
                id="unit"
                label="Interval"
                data={[
                  { value: "hour", label: "Hour" },
                  { value: "day", label: "Day" },
                  { value: "week", label: "Week" },
                  { value: "month", label: "Month" },
                ]}
                value={draft.unit ?? "day"}
                onChange={(unit) => unit && setDraft({ ...draft, unit: unit as InsightsReport["unit"] })}
                allowDeselect={false}
                w={120}
              />
              <Select
                id="view"
                label="Show"
                data={VIEWS}
                value={viewValue(draft.view)}
                onChange={(value) => value && setDraft({ ...draft, view: viewOf(value) })}
                allowDeselect={false}
                w={150}
              />
              <Checkbox
                id="compare"
                label="Compare to previous period"
                checked={draft.compare ?? false}
                onChange={(event) => setDraft({ ...draft, compare: event.currentTarget.checked })}
                mb={8}
              />
              <RunButtons running={running} />
            </Group>
          </Stack>
        </form>
      </Card>
      <Group justify="space-between">
        <Title order={2} size="h4">
          Result
        </Title>
        <SegmentedControl
          aria-label="Chart"
          data={[
            { value: "line", label: "Line" },
            { value: "bar", label: "Bar" },
            { value: "stacked", label: "Stacked" },
            { value: "table", label: "Table" },
            { value: "number", label: "Number" },
          ]}
          value={chart}
          onChange={(kind) => {
            const params = new URLSearchParams(search);
            params.set("chart", kind);
            setSearch(params, { replace: true });
          }}
        />
      </Group>
      <ResultBox runner={runner}>
        {error != null && <ErrorNote error={error} title="This report cannot be answered" />}
        {insights && (
          <InsightsResult
            projectId={projectId}
            answer={insights}
            report={report?.type === "insights" ? report : null}
            chart={chart}
            annotations={annotations.data ?? NO_ANNOTATIONS}
          />
        )}
      </ResultBox>
      {insights && range && (
        <AnnotationsPanel projectId={projectId} query={annotations} lastDay={range.to_date} timeZone={range.time_zone || project?.timezone || "UTC"} />
      )}
    </Screen>
  );
}

function PreviousCells({ now, before }: { now: number | null | undefined; before: number | null | undefined }) {
  const share = change(now, before);
  return (
    <>
      <Table.Td data-testid="series-previous" data-value={before ?? ""}>
        {formatValue(before)}
      </Table.Td>
      <Table.Td c={share == null ? undefined : share >= 0 ? "teal" : "red"}>{share == null ? "—" : `${share >= 0 ? "+" : ""}${percent(share)}`}</Table.Td>
    </>
  );
}

/** An Insights report as it was sent to be answered. */
type InsightsQuery = Extract<Report, { type: "insights" }>;

/** A chosen point: a series of the answer, in a bucket (undefined: over the whole range);
 * `fromTable` when the keyboard chose it, so the focus follows to what it offers. */
type Point = { seriesIndex: number; bucket: number | undefined; fromTable: boolean };

function InsightsResult({
  projectId,
  answer,
  report,
  chart,
  annotations,
}: {
  projectId: number;
  answer: InsightsAnswer;
  report: InsightsQuery | null;
  chart: ChartKind;
  annotations: Annotation[];
}) {
  const option = useMemo(
    () => (chart === "line" || chart === "bar" || chart === "stacked" ? withAnnotations(insightsOption(answer, chart), annotations, answer.buckets) : null),
    [answer, chart, annotations],
  );
  const { project } = useCurrent();
  // Saving a point's users needs both: the cohort, and seeing who they are.
  const canSave = mayInProject(project, "edit_cohorts") && mayInProject(project, "view_users") && report != null;
  const [point, setPoint] = useState<Point | null>(null);
  useEffect(() => setPoint(null), [answer]);
  // The compared period's series follow the answer's in the chart: they are not chosen.
  const onChartClick = useMemo(
    () => (canSave ? ({ seriesIndex, dataIndex }: ChartPoint) => seriesIndex < answer.series.length && setPoint({ seriesIndex, bucket: dataIndex, fromTable: false }) : undefined),
    [canSave, answer],
  );
  const choose = (seriesIndex: number, bucket: number | undefined) => setPoint({ seriesIndex, bucket, fromTable: true });
  /** A value of the table: a button that chooses its point when it has users to save. */
  const cell = (series: Series, seriesIndex: number, bucket: number | undefined, value: number | null | undefined) =>
    canSave && value ? (
      <UnstyledButton
        aria-label={`Users of ${pointLabel(answer, series, bucket)}`}
        data-testid="insights-point-button"
        data-bucket={bucket ?? "total"}
        onClick={() => choose(seriesIndex, bucket)}
        style={{ font: "inherit", textDecoration: "underline dotted" }}
      >
        {formatValue(value)}
      </UnstyledButton>
    ) : (
      formatValue(value)
    );
  if (answer.series.every((s) => (s.total ?? 0) === 0)) return <Empty>No events match this report in this range.</Empty>;
  const chosen = point ? answer.series[point.seriesIndex] : undefined;
  return (
    <Stack>
      {chart === "number" ? (
        <Group>
          {answer.series.map((series) => (
            <Card withBorder key={seriesName(series)}>
              <Text size="sm" c="dimmed">
                {seriesName(series)}
              </Text>
              <Title order={3} size="h1">
                {formatValue(series.total)}
              </Title>
            </Card>
          ))}
        </Group>
      ) : (
        option && <Chart option={option} label={`Insights chart: ${answer.series.map(seriesName).join(", ")}`} onClick={onChartClick} />
      )}
      {canSave && !chosen && (
        <Text size="sm" c="dimmed">
          Choose a point of the chart, or a value of the table, to save its users as a cohort.
        </Text>
      )}
      {canSave && chosen && point && report && (
        <ChosenPoint projectId={projectId} answer={answer} report={report} series={chosen} point={point} onClear={() => setPoint(null)} />
      )}
      <Table.ScrollContainer minWidth={480}>
        <Table striped aria-label="Insights values" data-testid="insights-table">
          <Table.Thead>
            <Table.Tr>
              <Table.Th>Series</Table.Th>
              <Table.Th>Total</Table.Th>
              {answer.previous && (
                <>
                  <Table.Th>
                    Previous period ({answer.previous.from_date} – {answer.previous.to_date})
                  </Table.Th>
                  <Table.Th>Change</Table.Th>
                </>
              )}
              {(chart === "table" ? answer.buckets : []).map((bucket) => (
                <Table.Th key={bucket}>{bucket}</Table.Th>
              ))}
            </Table.Tr>
          </Table.Thead>
          <Table.Tbody>
            {answer.series.map((series, seriesIndex) => (
              <Table.Tr key={seriesName(series)} data-series={seriesName(series)}>
                <Table.Td>{seriesName(series)}</Table.Td>
                <Table.Td data-testid="series-total" data-value={series.total ?? ""}>
                  {cell(series, seriesIndex, undefined, series.total)}
                </Table.Td>
                {answer.previous && <PreviousCells now={series.total} before={previousOf(answer, series)?.total} />}
                {(chart === "table" ? series.values : []).map((value, i) => (
                  <Table.Td key={i}>{cell(series, seriesIndex, i, value)}</Table.Td>
                ))}
              </Table.Tr>
            ))}
          </Table.Tbody>
        </Table>
      </Table.ScrollContainer>
    </Stack>
  );
}

/** The chosen point, its value, and saving its users as a cohort (or why they cannot be). */
function ChosenPoint({
  projectId,
  answer,
  report,
  series,
  point,
  onClear,
}: {
  projectId: number;
  answer: InsightsAnswer;
  report: InsightsQuery;
  series: Series;
  point: Point;
  onClear: () => void;
}) {
  const { bucket } = point;
  const [saving, setSaving] = useState(false);
  const region = useRef<HTMLDivElement>(null);
  const value = bucket === undefined ? series.total : series.values[bucket];
  const label = pointLabel(answer, series, bucket);
  const choice = insightsChoice(report, series, bucket, value);
  // Chosen from the table: the focus moves here, so the next Tab reaches the button.
  useEffect(() => {
    if (point.fromTable) region.current?.focus();
  }, [point]);
  const metric = report.metrics[series.metric];
  const event = !metric || metric.event === "$all_events" ? "any event" : `“${metric.event}”`;
  // A rolling or cumulative view, or active users over days, draws more than the interval's users.
  const wider = bucket !== undefined && ((report.view != null && report.view.kind !== "plain") || metric?.measure?.kind === "active");
  const about = [
    `The users who did ${event} ${bucket === undefined ? "in the report's range" : `in the interval of ${answer.buckets[bucket]}`}${series.segment != null ? ` with ${report.breakdown?.property} “${series.segment}”` : ""}, with the report's filters.`,
    wider ? "The chart's value at this point also covers earlier days; the cohort holds the users of this interval only." : "",
  ]
    .filter(Boolean)
    .join(" ");
  return (
    <Card withBorder ref={region} tabIndex={-1} role="region" aria-label="Chosen point" data-testid="insights-point">
      <Group justify="space-between" wrap="nowrap">
        <Text size="sm">
          <Text span fw={600}>
            {label}
          </Text>
          : {formatValue(value)}
        </Text>
        <Group gap="xs" wrap="nowrap">
          <Button
            id="save-point-as-cohort"
            size="compact-sm"
            variant="light"
            disabled={choice.selection === undefined}
            aria-describedby={choice.reason ? "save-point-reason" : undefined}
            onClick={() => setSaving(true)}
          >
            Save as cohort
          </Button>
          <ActionIcon variant="subtle" color="gray" aria-label="Clear the chosen point" onClick={onClear}>
            ×
          </ActionIcon>
        </Group>
      </Group>
      {choice.reason && (
        <Text id="save-point-reason" size="sm" c="dimmed" mt={4} data-testid="save-point-reason">
          {choice.reason}
        </Text>
      )}
      <SaveSelectionDialog
        projectId={projectId}
        report={report}
        selection={choice.selection ?? null}
        opened={saving && choice.selection !== undefined}
        onClose={() => setSaving(false)}
        defaultName={`Insights: ${label}`}
        about={about}
      />
    </Card>
  );
}
