// Flows: what users did right after (and before) an anchor event, one path per user from
// their first anchor in the range; drawn as a Sankey, with the commonest paths listed.
import { useMemo } from "react";
import { Card, Group, NumberInput, Stack, Table, Text, Title } from "@mantine/core";
import { type Flows as FlowsReport, type FlowsAnswer, MAX_FLOW_STEPS, defaultFlows, flowsOption, pathText, stepLabel } from "../../api/flows";
import { formatValue, percent } from "../../api/report";
import { Chart } from "./Chart";
import { EventPicker, RangePicker, RunButtons, ResultBox, useReportScreen } from "./parts";
import { Empty, ErrorNote, Screen } from "../common";
import { SaveReportButton } from "../boards/SaveReport";

/** A whole number typed into a field, kept inside the bounds the engine accepts. */
function bounded(value: string | number, min: number, max: number, fallback: number): number {
  const n = Math.round(Number(value));
  return Number.isFinite(n) && value !== "" ? Math.min(max, Math.max(min, n)) : fallback;
}

export function Flows() {
  const { projectId, draft, setDraft, submit, running, answer, error, answered, runner } = useReportScreen<FlowsReport>(
    "flows",
    () => defaultFlows(new Date()),
    false,
  );
  const flows = answer && answer.type === "flows" ? (answer as unknown as FlowsAnswer) : null;
  const after = draft.steps_after ?? 3;
  const before = draft.steps_before ?? 0;
  const ready = Boolean(draft.anchor.event) && after + before > 0;
  return (
    <Screen title="Flows" actions={<SaveReportButton projectId={projectId} type="flows" report={draft} />}>
      <Card withBorder>
        <form
          onSubmit={(event) => {
            event.preventDefault();
            if (!ready) return;
            submit();
          }}
        >
          <Stack gap="sm">
            <Group align="flex-end">
              <EventPicker
                id="flows-anchor"
                projectId={projectId}
                label="Anchor event"
                allEvents={false}
                value={draft.anchor.event}
                onChange={(name) => setDraft({ ...draft, anchor: { ...draft.anchor, event: name } })}
              />
              <NumberInput
                id="flows-steps-before"
                label="Steps before"
                min={0}
                max={MAX_FLOW_STEPS}
                value={before}
                onChange={(n) => setDraft({ ...draft, steps_before: bounded(n, 0, MAX_FLOW_STEPS, 0) })}
                w={120}
              />
              <NumberInput
                id="flows-steps-after"
                label="Steps after"
                min={0}
                max={MAX_FLOW_STEPS}
                value={after}
                onChange={(n) => setDraft({ ...draft, steps_after: bounded(n, 0, MAX_FLOW_STEPS, 0) })}
                w={120}
              />
              <NumberInput
                id="flows-top-events"
                label="Events per step"
                min={1}
                max={50}
                value={draft.top_events ?? 3}
                onChange={(n) => setDraft({ ...draft, top_events: bounded(n, 1, 50, 3) })}
                w={140}
              />
            </Group>
            <Group align="flex-end">
              <NumberInput
                id="flows-window-days"
                label="Conversion window (days)"
                min={1}
                max={366}
                value={Math.round((draft.window_seconds ?? 30 * 86400) / 86400)}
                onChange={(days) => setDraft({ ...draft, window_seconds: bounded(days, 1, 366, 1) * 86400 })}
                w={200}
              />
              <RangePicker range={draft.range} onChange={(range) => setDraft({ ...draft, range })} />
              <RunButtons running={running} />
            </Group>
            {!draft.anchor.event && <Text size="sm" c="dimmed">Choose the event the paths start from.</Text>}
            {draft.anchor.event && after + before === 0 && <Text size="sm" c="dimmed">Show at least one step before or after the anchor.</Text>}
          </Stack>
        </form>
      </Card>
      <ResultBox runner={runner}>
        {error != null && <ErrorNote error={error} title="This flow cannot be answered" />}
        {flows && (flows.users > 0 ? <FlowsResult answer={flows} anchor={anchorOf(answered)} /> : <Empty>Nobody did the anchor event in this range.</Empty>)}
      </ResultBox>
    </Screen>
  );
}

/** The anchor of the report an answer is for (the draft may have moved on since). */
function anchorOf(answered: string): string {
  try {
    return (JSON.parse(answered) as FlowsReport).anchor.event;
  } catch {
    return "the anchor event";
  }
}

function FlowsResult({ answer, anchor }: { answer: FlowsAnswer; anchor: string }) {
  const option = useMemo(() => flowsOption(answer), [answer]);
  // Tall enough that the busiest step's nodes and labels do not overlap.
  const busiest = Math.max(1, ...answer.steps.map((s) => s.nodes.length));
  const height = Math.max(320, busiest * 64);
  return (
    <Stack>
      <Title order={2} size="h4" data-testid="flow-users" data-value={answer.users}>
        {formatValue(answer.users)} users did {anchor}
      </Title>
      <Chart option={option} label={`Flow of users around ${anchor}: ${answer.steps.length} steps, the anchor's users split by the event they did at each step`} height={height} />
      <Title order={3} size="h5">
        Steps
      </Title>
      <Table.ScrollContainer minWidth={480}>
        <Table striped aria-label="Flow steps" data-testid="flow-steps-table">
          <Table.Thead>
            <Table.Tr>
              <Table.Th>Step</Table.Th>
              <Table.Th>Events (users)</Table.Th>
              <Table.Th>Dropped off</Table.Th>
            </Table.Tr>
          </Table.Thead>
          <Table.Tbody>
            {answer.steps.map((step) => (
              <Table.Tr key={step.step} data-step={step.step}>
                <Table.Td>{stepLabel(step.step)}</Table.Td>
                <Table.Td>{step.nodes.length ? step.nodes.map((n) => `${n.event} (${formatValue(n.users)})`).join(", ") : "—"}</Table.Td>
                <Table.Td data-value={step.dropped}>{formatValue(step.dropped)}</Table.Td>
              </Table.Tr>
            ))}
          </Table.Tbody>
        </Table>
      </Table.ScrollContainer>
      <Title order={3} size="h5">
        Top paths
      </Title>
      {answer.paths.length === 0 ? (
        <Empty>No path to list.</Empty>
      ) : (
        <Table.ScrollContainer minWidth={480}>
          <Table striped aria-label="Top paths" data-testid="paths-table">
            <Table.Thead>
              <Table.Tr>
                <Table.Th>Path</Table.Th>
                <Table.Th>Users</Table.Th>
                <Table.Th>Share of the anchor's users</Table.Th>
              </Table.Tr>
            </Table.Thead>
            <Table.Tbody>
              {answer.paths.map((path, i) => (
                <Table.Tr key={i}>
                  <Table.Td>{pathText(path)}</Table.Td>
                  <Table.Td data-testid="path-users" data-value={path.users}>
                    {formatValue(path.users)}
                  </Table.Td>
                  <Table.Td>{percent(answer.users ? path.users / answer.users : 0)}</Table.Td>
                </Table.Tr>
              ))}
            </Table.Tbody>
          </Table>
        </Table.ScrollContainer>
      )}
    </Stack>
  );
}
