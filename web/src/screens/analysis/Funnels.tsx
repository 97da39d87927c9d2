// Funnels: ordered steps within a conversion window, exclusions between steps, counted by
// users, by attempts or by sessions; the users at each step with the conversion from the
// previous step and overall, the time it took, the conversion over time and who is at each
// step. With a breakdown, each segment's counts at each step, as a table and grouped bars.
import { useMemo, useState } from "react";
import { Link } from "react-router-dom";
import { ActionIcon, Anchor, Button, Card, Group, NumberInput, Popover, ScrollArea, Select, Stack, Switch, Table, Tabs, Text, Title } from "@mantine/core";
import {
  type Breakdown,
  type Funnel,
  type FunnelAnswer,
  type FunnelSegment,
  type Report,
  MAX_HELD_CONSTANT,
  SESSION_MINUTES,
  attributionChoices,
  attributionOf,
  attributionValue,
  countedName,
  defaultFunnel,
  duration,
  funnelOption,
  funnelOverTimeOption,
  funnelRequest,
  funnelSegmentsOption,
  formatValue,
  percent,
  stepName,
  timeToConvertOption,
} from "../../api/report";
import { Chart } from "./Chart";
import { BreakdownPicker, EventPicker, EventPropertiesPicker, RangePicker, RunButtons, ResultBox, useReportScreen } from "./parts";
import { breakdownName } from "./filterModel";
import { profilePath } from "./Users";
import { Empty, ErrorNote, Screen } from "../common";
import { SaveReportButton } from "../boards/SaveReport";
import { SaveSelectionDialog } from "../cohorts/SaveAsCohort";
import type { Selection } from "../../api/selection";
import { mayInProject, useCurrent } from "../../api/hooks";

export function Funnels() {
  const { projectId, draft, setDraft, submit, running, answer, report, error, runner } = useReportScreen<Funnel>(
    "funnels",
    () => defaultFunnel(new Date()),
    false,
    funnelRequest,
  );
  const funnel = answer && answer.type === "funnels" ? (answer as unknown as FunnelAnswer) : null;
  const ready = draft.steps.length >= 2 && draft.steps.every((s) => s.event) && (draft.exclusions ?? []).every((x) => x.event);
  type Exclusion = NonNullable<Funnel["exclusions"]>[number];
  const setExclusion = (index: number, exclusion: Exclusion) =>
    setDraft({ ...draft, exclusions: (draft.exclusions ?? []).map((x, i) => (i === index ? exclusion : x)) });
  const counting = draft.counting ?? "uniques";
  // Attribution picks one step's value of an event property; a profile has one value anyway.
  const attributed = draft.breakdown != null && draft.breakdown.source !== "user";
  return (
    <Screen title="Funnels" actions={<SaveReportButton projectId={projectId} type="funnels" report={funnelRequest(draft)} />}>
      <Card withBorder>
        <form
          onSubmit={(event) => {
            event.preventDefault();
            if (!ready) return;
            submit();
          }}
        >
          <Stack gap="sm">
            {draft.steps.map((step, index) => (
              <Group key={index} align="flex-end" gap="xs">
                <EventPicker
                  id={`step-${index}`}
                  projectId={projectId}
                  label={`Step ${index + 1}`}
                  allEvents={false}
                  value={step.event}
                  onChange={(name) => setDraft({ ...draft, steps: draft.steps.map((s, i) => (i === index ? { ...s, event: name } : s)) })}
                />
                {draft.steps.length > 2 && (
                  <ActionIcon variant="subtle" color="gray" aria-label={`Remove step ${index + 1}`} onClick={() => setDraft({ ...draft, steps: draft.steps.filter((_, i) => i !== index) })}>
                    ×
                  </ActionIcon>
                )}
              </Group>
            ))}
            {(draft.exclusions ?? []).map((exclusion, index) => (
              <Group key={`exclusion-${index}`} align="flex-end" gap="xs" role="group" aria-label={`Exclusion ${index + 1}`}>
                <EventPicker
                  id={`exclusion-${index}`}
                  projectId={projectId}
                  label="Exclude users who did"
                  allEvents={false}
                  value={exclusion.event}
                  onChange={(name) => setExclusion(index, { ...exclusion, event: name })}
                />
                <Select
                  id={`exclusion-${index}-between`}
                  label="Between"
                  data={draft.steps.slice(0, -1).map((_, i) => ({ value: String(i), label: `step ${i + 1} and step ${i + 2}` }))}
                  value={String(exclusion.after)}
                  onChange={(value) => value != null && setExclusion(index, { ...exclusion, after: Number(value), before: Number(value) + 1 })}
                  allowDeselect={false}
                  w={200}
                />
                <ActionIcon
                  variant="subtle"
                  color="gray"
                  aria-label={`Remove exclusion ${index + 1}`}
                  onClick={() => setDraft({ ...draft, exclusions: (draft.exclusions ?? []).filter((_, i) => i !== index) })}
                >
                  ×
                </ActionIcon>
              </Group>
            ))}
            <Group>
              <Button variant="subtle" size="compact-sm" onClick={() => setDraft({ ...draft, steps: [...draft.steps, { event: "" }] })}>
                + Step
              </Button>
              <Button
                variant="subtle"
                size="compact-sm"
                onClick={() => setDraft({ ...draft, exclusions: [...(draft.exclusions ?? []), { event: "", after: 0, before: 1 }] })}
              >
                + Exclusion
              </Button>
            </Group>
            <Group align="flex-end">
              <NumberInput
                id="window-days"
                label="Conversion window (days)"
                min={1}
                max={366}
                value={Math.round((draft.window_seconds ?? 604800) / 86400)}
                onChange={(days) => setDraft({ ...draft, window_seconds: Math.max(1, Number(days) || 1) * 86400 })}
                w={200}
              />
              <Select
                id="counting"
                label="Counting"
                data={[
                  { value: "uniques", label: "Unique users" },
                  { value: "totals", label: "Total conversions" },
                  { value: "sessions", label: "Sessions" },
                ]}
                value={counting}
                onChange={(value) =>
                  value &&
                  setDraft({
                    ...draft,
                    counting: value as Funnel["counting"],
                    ...(value === "sessions" ? { session_minutes: draft.session_minutes ?? SESSION_MINUTES.default } : {}),
                  })
                }
                allowDeselect={false}
                w={180}
              />
              {counting === "sessions" && (
                <NumberInput
                  id="session-minutes"
                  label="Session ends after (minutes idle)"
                  min={SESSION_MINUTES.min}
                  max={SESSION_MINUTES.max}
                  allowDecimal={false}
                  placeholder={String(SESSION_MINUTES.default)}
                  value={draft.session_minutes ?? ""}
                  // Left empty while typing; the request sends the default for it, and keeps it within 1 to 1440.
                  onChange={(minutes) => setDraft({ ...draft, session_minutes: typeof minutes === "number" ? minutes : undefined })}
                  w={240}
                />
              )}
            </Group>
            <Group align="flex-end">
              <BreakdownPicker id="funnel-breakdown" projectId={projectId} value={draft.breakdown} onChange={(breakdown) => setDraft({ ...draft, breakdown })} />
              {attributed && (
                <Select
                  id="funnel-attribution"
                  label="Attributed to"
                  data={attributionChoices(draft.steps.length)}
                  value={attributionValue(draft.attribution, draft.steps.length)}
                  onChange={(value) => value != null && setDraft({ ...draft, attribution: attributionOf(value) })}
                  allowDeselect={false}
                  w={180}
                />
              )}
              <EventPropertiesPicker
                id="hold-constant"
                projectId={projectId}
                label="Hold constant"
                max={MAX_HELD_CONSTANT}
                value={draft.hold_constant ?? []}
                onChange={(hold_constant) => setDraft({ ...draft, hold_constant })}
              />
            </Group>
            <Switch
              id="optimized-reentry"
              label="Optimized re-entry"
              description="Counts each user's best attempt: the latest step 1 before step 2"
              checked={counting === "uniques" && (draft.optimized_reentry ?? false)}
              disabled={counting !== "uniques"}
              onChange={(event) => setDraft({ ...draft, optimized_reentry: event.currentTarget.checked })}
            />
            <Group align="flex-end">
              <RangePicker range={draft.range} onChange={(range) => setDraft({ ...draft, range })} />
              <RunButtons running={running} />
            </Group>
            {!ready && <Text size="sm" c="dimmed">Choose an event for every step and exclusion.</Text>}
          </Stack>
        </form>
      </Card>
      <ResultBox runner={runner}>
        {error != null && <ErrorNote error={error} title="This funnel cannot be answered" />}
        {funnel && (funnel.steps[0]?.count ? <FunnelResult answer={funnel} report={report} projectId={projectId} /> : <Empty>Nobody did the first step in this range.</Empty>)}
      </ResultBox>
    </Screen>
  );
}

function FunnelResult({ answer, report, projectId }: { answer: FunnelAnswer; report: Report | null; projectId: number }) {
  const option = useMemo(() => funnelOption(answer), [answer]);
  const overTime = useMemo(() => funnelOverTimeOption(answer), [answer]);
  const timing = useMemo(() => timeToConvertOption(answer), [answer]);
  const who = countedName(answer.counting);
  // The breakdown the answer is for (not the draft's, which may have changed since).
  const breakdown = report?.type === "funnels" ? report.breakdown : null;
  return (
    <Stack>
      <Title order={2} size="h4">
        {percent(answer.steps[answer.steps.length - 1]?.overall_conversion ?? 0)} converted
      </Title>
      <Tabs defaultValue="steps" keepMounted={false}>
        <Tabs.List>
          <Tabs.Tab value="steps">Steps</Tabs.Tab>
          <Tabs.Tab value="over-time">Conversion over time</Tabs.Tab>
          <Tabs.Tab value="time-to-convert">Time to convert</Tabs.Tab>
        </Tabs.List>
        <Tabs.Panel value="steps" pt="sm">
          <Chart option={option} label={`Funnel: ${who} at each step`} />
        </Tabs.Panel>
        <Tabs.Panel value="over-time" pt="sm">
          <Chart option={overTime} label="Funnel: the conversion of each interval's entries" />
        </Tabs.Panel>
        <Tabs.Panel value="time-to-convert" pt="sm">
          <Chart option={timing} label="Funnel: how long conversions took" />
        </Tabs.Panel>
      </Tabs>
      <Table striped aria-label="Funnel steps" data-testid="funnel-table">
        <Table.Thead>
          <Table.Tr>
            <Table.Th>Step</Table.Th>
            <Table.Th>Users</Table.Th>
            <Table.Th>From previous</Table.Th>
            <Table.Th>Overall</Table.Th>
            <Table.Th>Average time from previous</Table.Th>
            <Table.Th>Median time from start</Table.Th>
            <Table.Th>People</Table.Th>
          </Table.Tr>
        </Table.Thead>
        <Table.Tbody>
          {answer.steps.map((step, i) => (
            <Table.Tr key={i}>
              <Table.Td>{stepName(step, i)}</Table.Td>
              <Table.Td data-testid="step-count" data-value={step.count}>
                {formatValue(step.count)}
              </Table.Td>
              <Table.Td>{percent(step.step_conversion)}</Table.Td>
              <Table.Td>{percent(step.overall_conversion)}</Table.Td>
              <Table.Td>{duration(step.avg_time_from_previous)}</Table.Td>
              <Table.Td>{duration(step.median_time_from_start)}</Table.Td>
              <Table.Td>
                <Group gap="xs">
                  <PeopleList
                    projectId={projectId}
                    label={`Reached step ${i + 1}`}
                    ids={step.users}
                    testId={`step-${i}-users`}
                    report={report}
                    selection={{ kind: "funnel_step", step: i }}
                  />
                  {i < answer.steps.length - 1 && (
                    <PeopleList
                      projectId={projectId}
                      label={`Dropped after step ${i + 1}`}
                      ids={step.dropped}
                      testId={`step-${i}-dropped`}
                      report={report}
                      selection={{ kind: "funnel_step", step: i, dropped: true }}
                    />
                  )}
                </Group>
              </Table.Td>
            </Table.Tr>
          ))}
        </Table.Tbody>
      </Table>
      {breakdown && <FunnelSegments answer={answer} breakdown={breakdown} who={who} />}
    </Stack>
  );
}

/** The breakdown's segments, largest first: grouped bars of each step's count per segment,
 * and a table of the same counts with each segment's overall conversion. */
function FunnelSegments({ answer, breakdown, who }: { answer: FunnelAnswer; breakdown: Breakdown; who: string }) {
  const option = useMemo(() => funnelSegmentsOption(answer), [answer]);
  const segments: FunnelSegment[] = answer.segments ?? [];
  const name = breakdownName(breakdown);
  return (
    <>
      <Title order={2} size="h4">
        By {name}
      </Title>
      {segments.length === 0 ? (
        <Empty>No segment of {name} in this range.</Empty>
      ) : (
        <>
          <Chart option={option} label={`Funnel by ${name}: ${who} at each step in each segment`} height={300} />
          <Table.ScrollContainer minWidth={480}>
            <Table striped aria-label={`Funnel by ${name}`} data-testid="funnel-segment-table">
              <Table.Thead>
                <Table.Tr>
                  <Table.Th>Segment</Table.Th>
                  {answer.steps.map((step, i) => (
                    <Table.Th key={i}>{stepName(step, i)}</Table.Th>
                  ))}
                  <Table.Th>Overall conversion</Table.Th>
                </Table.Tr>
              </Table.Thead>
              <Table.Tbody>
                {segments.map((segment) => (
                  <Table.Tr key={segment.segment} data-segment={segment.segment}>
                    <Table.Td>{segment.segment}</Table.Td>
                    {segment.counts.map((count, i) => (
                      <Table.Td key={i} data-testid="segment-step-count" data-value={count}>
                        {formatValue(count)}
                      </Table.Td>
                    ))}
                    <Table.Td data-testid="segment-conversion" data-value={segment.overall_conversion}>
                      {percent(segment.overall_conversion)}
                    </Table.Td>
                  </Table.Tr>
                ))}
              </Table.Tbody>
            </Table>
          </Table.ScrollContainer>
        </>
      )}
    </>
  );
}

/** Who is at a step: the first hundred by id, each a link to their profile, and (for those
 * who may make cohorts and see users) a way to save all of them, found by the server, as a
 * cohort. */
function PeopleList({
  projectId,
  label,
  ids,
  testId,
  report,
  selection,
}: {
  projectId: number;
  label: string;
  ids: string[];
  testId: string;
  report: Report | null;
  selection: Selection;
}) {
  const { project } = useCurrent();
  const canSave = mayInProject(project, "edit_cohorts") && mayInProject(project, "view_users") && report != null;
  const [open, setOpen] = useState(false);
  const [saving, setSaving] = useState(false);
  if (ids.length === 0) return <Text size="sm" c="dimmed">—</Text>;
  return (
    <>
      <Popover width={280} position="bottom-start" shadow="md" opened={open} onChange={setOpen}>
        <Popover.Target>
          <Button variant="subtle" size="compact-sm" data-testid={testId} onClick={() => setOpen((o) => !o)}>
            {label.startsWith("Dropped") ? "Dropped" : "Reached"} ({ids.length}
            {ids.length >= 100 ? "+" : ""})
          </Button>
        </Popover.Target>
        <Popover.Dropdown>
          <Text size="sm" fw={600} mb="xs">
            {label}
          </Text>
          <ScrollArea.Autosize mah={240}>
            <Stack gap={2} role="list" aria-label={label}>
              {ids.map((id) => (
                <Anchor key={id} component={Link} to={profilePath(projectId, id)} size="sm" role="listitem">
                  {id}
                </Anchor>
              ))}
            </Stack>
          </ScrollArea.Autosize>
          {canSave && (
            <Button
              mt="xs"
              size="compact-sm"
              variant="light"
              data-testid={`${testId}-save`}
              onClick={() => {
                setOpen(false);
                setSaving(true);
              }}
            >
              Save as cohort
            </Button>
          )}
        </Popover.Dropdown>
      </Popover>
      {canSave && (
        <SaveSelectionDialog
          projectId={projectId}
          report={report}
          selection={selection}
          opened={saving}
          onClose={() => setSaving(false)}
          defaultName={`Funnel: ${label.toLowerCase()}`}
          about={`The users who ${label.toLowerCase()} of this funnel.`}
        />
      )}
    </>
  );
}
