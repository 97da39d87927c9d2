// Retention: users born by one event, coming back with another; the cohort table coloured
// by share (a heat table), whose cells save their users as a cohort, and the curve of all
// cohorts together. With a breakdown, users are also segmented by a property of their first
// birth event (or of their profile): each segment gets the same table, and a line of the curve.
// Custom brackets replace one bucket per unit with spans of units (`< 1 day`, `1–3 days`, …).
import { useMemo, useState } from "react";
import { Card, Group, NumberInput, Select, Stack, Table, Tabs, Text, TextInput, Title, UnstyledButton } from "@mantine/core";
import {
  type Report,
  type Retention as RetentionReport,
  type RetentionAnswer,
  type RetentionRow,
  type RetentionSegment,
  type RetentionUnit,
  bracketsText,
  defaultRetention,
  parseBrackets,
  percent,
  retentionBucketLabels,
  retentionHeatmapOption,
  retentionOption,
  retentionRequest,
} from "../../api/report";
import { cohortLabel, retentionCellLabel } from "../../api/selection";
import { mayInProject, useCurrent } from "../../api/hooks";
import { SaveSelectionDialog } from "../cohorts/SaveAsCohort";
import { Chart } from "./Chart";
import { BreakdownPicker, EventPicker, RangePicker, RunButtons, ResultBox, useReportScreen } from "./parts";
import { breakdownName } from "./filterModel";
import { Empty, ErrorNote, Screen } from "../common";
import { SaveReportButton } from "../boards/SaveReport";

export function Retention() {
  const { projectId, draft, setDraft, submit, running, answer, report, error, runner } = useReportScreen<RetentionReport>(
    "retention",
    () => defaultRetention(new Date()),
    true,
    retentionRequest,
  );
  const retention = answer && answer.type === "retention" ? (answer as unknown as RetentionAnswer) : null;
  const brackets = useBracketsText(draft.brackets);
  const parsed = parseBrackets(brackets.text);
  const setBrackets = (text: string) => {
    const next = parseBrackets(text);
    // Text that is not (yet) a list of brackets keeps the draft's last good ones; Run waits.
    const kept = next.error ? draft.brackets : (next.brackets ?? undefined);
    brackets.set(text, kept);
    // Without brackets the number of buckets counts again (the request leaves it out with them).
    if (!next.error) setDraft(kept ? { ...draft, brackets: kept } : { ...draft, brackets: undefined, buckets: draft.buckets ?? 7 });
  };
  const custom = !parsed.error && parsed.brackets != null;
  return (
    <Screen title="Retention" actions={<SaveReportButton projectId={projectId} type="retention" report={retentionRequest(draft)} />}>
      <Card withBorder>
        <form
          onSubmit={(event) => {
            event.preventDefault();
            if (parsed.error) return;
            submit();
          }}
        >
          <Stack gap="sm">
            <Group align="flex-end">
              <EventPicker id="born-event" projectId={projectId} label="Users who did" value={draft.born.event} onChange={(event) => setDraft({ ...draft, born: { ...draft.born, event } })} />
              <EventPicker id="return-event" projectId={projectId} label="and came back to do" value={draft.return.event} onChange={(event) => setDraft({ ...draft, return: { ...draft.return, event } })} />
              <BreakdownPicker id="retention-breakdown" projectId={projectId} value={draft.breakdown} onChange={(breakdown) => setDraft({ ...draft, breakdown })} />
            </Group>
            <Group align="flex-end">
              <Select
                id="retention-unit"
                label="Buckets of"
                data={[
                  { value: "day", label: "Days" },
                  { value: "week", label: "Weeks" },
                  { value: "month", label: "Months" },
                ]}
                value={draft.unit ?? "day"}
                onChange={(unit) => unit && setDraft({ ...draft, unit: unit as RetentionReport["unit"] })}
                allowDeselect={false}
                w={120}
              />
              <NumberInput
                id="retention-buckets"
                label="How many"
                min={1}
                max={60}
                value={draft.buckets ?? 7}
                onChange={(n) => setDraft({ ...draft, buckets: Math.max(1, Number(n) || 1) })}
                disabled={custom}
                w={120}
              />
              <TextInput
                id="retention-brackets"
                label="Custom brackets"
                placeholder="1, 3, 7, 14"
                value={brackets.text}
                onChange={(event) => setBrackets(event.currentTarget.value)}
                error={parsed.error}
                w={180}
              />
              <Select
                id="retention-criterion"
                label="Counted"
                data={[
                  { value: "on", label: "On the bucket" },
                  { value: "on_or_after", label: "On or after" },
                ]}
                value={draft.criterion ?? "on_or_after"}
                onChange={(c) => c && setDraft({ ...draft, criterion: c as RetentionReport["criterion"] })}
                allowDeselect={false}
                w={160}
              />
              <Select
                id="retention-kind"
                label="Cohorts"
                data={[
                  { value: "first_time", label: "First time" },
                  { value: "recurring", label: "Recurring" },
                ]}
                value={draft.kind ?? "first_time"}
                onChange={(kind) => kind && setDraft({ ...draft, kind: kind as RetentionReport["kind"] })}
                allowDeselect={false}
                w={150}
              />
              <RangePicker range={draft.range} onChange={(range) => setDraft({ ...draft, range })} />
              <RunButtons running={running} />
            </Group>
          </Stack>
        </form>
      </Card>
      <ResultBox runner={runner}>
        {error != null && <ErrorNote error={error} title="This retention report cannot be answered" />}
        {retention &&
          (retention.total.first ? (
            <RetentionResult answer={retention} report={report} projectId={projectId} />
          ) : (
            <Empty>Nobody was born in this range.</Empty>
          ))}
      </ResultBox>
    </Screen>
  );
}

/** The custom brackets' text as typed. It follows the draft's brackets when they change from
 * elsewhere (a link, the back button), not when they are what the text already says. */
function useBracketsText(brackets: number[] | null | undefined) {
  const [state, setState] = useState(() => ({ text: bracketsText(brackets), brackets }));
  if (bracketsText(state.brackets) !== bracketsText(brackets)) setState({ text: bracketsText(brackets), brackets });
  return { text: state.text, set: (text: string, kept: number[] | null | undefined) => setState({ text, brackets: kept }) };
}

/** A share's cell shade: from white towards the theme's indigo. */
export function shade(share: number): string {
  const alpha = Math.max(0, Math.min(1, share));
  // At most 74% strong, so the dark text stays above 4.5:1 contrast on every cell.
  return `rgba(54, 79, 199, ${(0.04 + alpha * 0.7).toFixed(2)})`;
}

/** A cell of the table: the cohort row (its index in the answer; absent for all users) and the bucket. */
type Cell = { row: RetentionRow; index: number | undefined; bucket: number };

/** The rows a table lists: all users first, then the cohorts anybody was born in (each keeps
 * its index in the answer, which is how the server names its row). */
function listedRows(total: RetentionRow, rows: RetentionRow[]): { row: RetentionRow; index: number | undefined }[] {
  return [{ row: total, index: undefined }, ...rows.map((row, index) => ({ row, index })).filter(({ row }) => row.first > 0)];
}

function RetentionResult({ answer, report, projectId }: { answer: RetentionAnswer; report: Report | null; projectId: number }) {
  // The unit the answer is for (not the draft's, which may have changed since).
  const unit: RetentionUnit = (report?.type === "retention" ? report.unit : undefined) ?? "day";
  const option = useMemo(() => retentionOption(answer, unit), [answer, unit]);
  const heatmap = useMemo(() => retentionHeatmapOption(answer, unit), [answer, unit]);
  const labels = retentionBucketLabels(answer, unit);
  const { project } = useCurrent();
  // Saving a cell's users needs both: the cohort, and seeing who they are.
  const canSave = mayInProject(project, "edit_cohorts") && mayInProject(project, "view_users") && report != null;
  const [chosen, setChosen] = useState<Cell | null>(null);
  const [saving, setSaving] = useState(false);
  const rows = listedRows(answer.total, answer.rows);
  // The breakdown the answer is for (not the draft's, which may have changed since).
  const breakdown = report?.type === "retention" ? report.breakdown : null;
  const segments = answer.segments ?? [];
  const open = (cell: Cell) => {
    setChosen(cell);
    setSaving(true);
  };
  return (
    <Stack>
      <Tabs defaultValue="curve" keepMounted={false}>
        <Tabs.List>
          <Tabs.Tab value="curve">Curve</Tabs.Tab>
          <Tabs.Tab value="heatmap">Heat map</Tabs.Tab>
        </Tabs.List>
        <Tabs.Panel value="curve" pt="sm">
          <Chart
            option={option}
            label={segments.length ? "Retention curve of all cohorts, and of each segment" : "Retention curve of all cohorts"}
            height={segments.length ? 300 : 260}
          />
        </Tabs.Panel>
        <Tabs.Panel value="heatmap" pt="sm">
          <Chart option={heatmap} label="Retention of each cohort, bucket by bucket" height={Math.max(200, 64 + 28 * rows.length)} />
        </Tabs.Panel>
      </Tabs>
      <Title order={2} size="h4">
        Cohorts
      </Title>
      {canSave && (
        <Text size="sm" c="dimmed">
          Choose a cell to save its users as a cohort.
        </Text>
      )}
      <CohortTable label="Retention by cohort" testId="retention-table" rows={rows} labels={labels} average={answer.average} onChoose={canSave ? open : undefined} />
      {breakdown && <SegmentTables segments={segments} name={breakdownName(breakdown)} labels={labels} />}
      {canSave && (
        <SaveSelectionDialog
          projectId={projectId}
          report={report}
          selection={chosen && { kind: "retention_cell", bucket: chosen.bucket, ...(chosen.index === undefined ? {} : { cohort: chosen.index }) }}
          opened={saving && chosen != null}
          onClose={() => setSaving(false)}
          defaultName={chosen ? `Retention: ${cohortLabel(chosen.row.cohort)}, bucket ${chosen.bucket}` : ""}
          about={
            chosen
              ? `The users of ${chosen.index === undefined ? "every cohort" : `the ${chosen.row.cohort} cohort`} counted in bucket ${chosen.bucket} (${chosen.row.counts[chosen.bucket] ?? 0} in the table).`
              : undefined
          }
        />
      )}
    </Stack>
  );
}

/** The breakdown's segments, largest first: each its own compact cohort table. */
function SegmentTables({ segments, name, labels }: { segments: RetentionSegment[]; name: string; labels: string[] }) {
  return (
    <>
      <Title order={2} size="h4">
        By {name}
      </Title>
      {segments.length === 0 ? (
        <Empty>No segment of {name} in this range.</Empty>
      ) : (
        segments.map((segment) => (
          <section key={segment.segment} aria-label={`Retention of ${segment.segment}`} data-testid="retention-segment" data-segment={segment.segment}>
            <Group gap="xs" align="baseline" mb={4}>
              <Title order={3} size="h5">
                {segment.segment}
              </Title>
              <Text size="sm" c="dimmed">
                {segment.total.first.toLocaleString("en-US")} {segment.total.first === 1 ? "user" : "users"}
              </Text>
            </Group>
            <CohortTable
              label={`Retention of ${segment.segment} by cohort`}
              testId="retention-segment-table"
              rows={listedRows(segment.total, segment.rows)}
              labels={labels}
              average={segment.average}
              compact
            />
          </section>
        ))
      )}
    </>
  );
}

/** A cohort table: all users, each cohort, and the average row, each cell shaded by its
 * share, under the buckets' `labels`. With `onChoose`, a cell with users is a button that
 * chooses it. */
function CohortTable({
  label,
  testId,
  rows,
  labels,
  average,
  onChoose,
  compact = false,
}: {
  label: string;
  testId: string;
  rows: { row: RetentionRow; index: number | undefined }[];
  labels: string[];
  average: RetentionAnswer["average"];
  onChoose?: (cell: Cell) => void;
  compact?: boolean;
}) {
  return (
    <Table.ScrollContainer minWidth={600}>
      <Table aria-label={label} data-testid={testId} {...(compact ? { verticalSpacing: 4, fz: "sm" } : {})}>
        <Table.Thead>
          <Table.Tr>
            <Table.Th>Cohort</Table.Th>
            <Table.Th>Users</Table.Th>
            {labels.map((bucket, i) => (
              <Table.Th key={i}>{bucket}</Table.Th>
            ))}
          </Table.Tr>
        </Table.Thead>
        <Table.Tbody>
          {rows.map(({ row, index }) => (
            <Table.Tr key={row.cohort} data-cohort={row.cohort}>
              <Table.Td>{cohortLabel(row.cohort)}</Table.Td>
              <Table.Td data-testid="cohort-first" data-value={row.first}>
                {row.first}
              </Table.Td>
              {row.counts.map((count, i) => {
                const share = row.first ? count / row.first : 0;
                return (
                  <Table.Td key={i} style={{ background: shade(share) }} data-value={count} title={`${count} users`}>
                    {onChoose && count > 0 ? (
                      <UnstyledButton
                        aria-label={retentionCellLabel(row.cohort, i)}
                        data-testid="retention-cell"
                        data-cohort={row.cohort}
                        data-bucket={i}
                        onClick={() => onChoose({ row, index, bucket: i })}
                        style={{ font: "inherit", textDecoration: "underline dotted", width: "100%", textAlign: "left" }}
                      >
                        {percent(share)}
                      </UnstyledButton>
                    ) : (
                      percent(share)
                    )}
                  </Table.Td>
                );
              })}
            </Table.Tr>
          ))}
          <Table.Tr data-cohort="average">
            <Table.Td>Average (complete cohorts)</Table.Td>
            <Table.Td />
            {average.map((cell, i) => (
              <Table.Td key={i} data-value={cell?.rate ?? ""} title={cell ? `${cell.cohorts} cohorts, ${cell.count.toFixed(1)} users on average` : "no cohort has reached this bucket yet"}>
                {cell ? percent(cell.rate) : "—"}
              </Table.Td>
            ))}
          </Table.Tr>
        </Table.Tbody>
      </Table>
    </Table.ScrollContainer>
  );
}
