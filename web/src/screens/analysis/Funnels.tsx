// Funnels: ordered steps within a conversion window; the users at each step with the
// conversion from the previous step and overall, and the time it took.
import { useMemo } from "react";
import { ActionIcon, Button, Card, Group, NumberInput, Stack, Table, Text, Title } from "@mantine/core";
import { type Funnel, type FunnelAnswer, defaultFunnel, funnelOption, formatValue, percent } from "../../api/report";
import { Chart } from "./Chart";
import { EventPicker, RangePicker, RunButtons, ResultBox, useReportScreen } from "./parts";
import { Empty, ErrorNote, Loading, Screen } from "../common";

function duration(seconds: number | null | undefined): string {
  if (seconds == null) return "—";
  if (seconds < 60) return `${Math.round(seconds)} s`;
  if (seconds < 3600) return `${(seconds / 60).toFixed(1)} min`;
  if (seconds < 86400) return `${(seconds / 3600).toFixed(1)} h`;
  return `${(seconds / 86400).toFixed(1)} d`;
}

export function Funnels() {
  const { projectId, draft, setDraft, submit, running, answer, error, answered, cancel } = useReportScreen<Funnel>(
    "funnels",
    () => defaultFunnel(new Date()),
    false,
  );
  const funnel = answer && answer.type === "funnels" ? (answer as unknown as FunnelAnswer) : null;
  const ready = draft.steps.length >= 2 && draft.steps.every((s) => s.event);
  return (
    <Screen title="Funnels">
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
            <Group>
              <Button variant="subtle" size="compact-sm" onClick={() => setDraft({ ...draft, steps: [...draft.steps, { event: "" }] })}>
                + Step
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
              <RangePicker range={draft.range} onChange={(range) => setDraft({ ...draft, range })} />
              <RunButtons running={running} onCancel={cancel} />
            </Group>
            {!ready && <Text size="sm" c="dimmed">Choose an event for every step.</Text>}
          </Stack>
        </form>
      </Card>
      <ResultBox answered={answered} running={running}>
        {error != null && <ErrorNote error={error} title="This funnel cannot be answered" />}
        {running && !funnel && <Loading label="Following users through the steps…" />}
        {funnel && (funnel.steps[0]?.count ? <FunnelResult answer={funnel} /> : <Empty>Nobody did the first step in this range.</Empty>)}
      </ResultBox>
    </Screen>
  );
}

function FunnelResult({ answer }: { answer: FunnelAnswer }) {
  const option = useMemo(() => funnelOption(answer), [answer]);
  return (
    <Stack>
      <Title order={2} size="h4">
        {percent(answer.steps[answer.steps.length - 1]?.overall_conversion ?? 0)} converted
      </Title>
      <Chart option={option} label="Funnel: users at each step" />
      <Table striped aria-label="Funnel steps" data-testid="funnel-table">
        <Table.Thead>
          <Table.Tr>
            <Table.Th>Step</Table.Th>
            <Table.Th>Users</Table.Th>
            <Table.Th>From previous</Table.Th>
            <Table.Th>Overall</Table.Th>
            <Table.Th>Average time from previous</Table.Th>
          </Table.Tr>
        </Table.Thead>
        <Table.Tbody>
          {answer.steps.map((step, i) => (
            <Table.Tr key={i}>
              <Table.Td>
                {i + 1}. {step.event}
              </Table.Td>
              <Table.Td data-testid="step-count" data-value={step.count}>
                {formatValue(step.count)}
              </Table.Td>
              <Table.Td>{percent(step.step_conversion)}</Table.Td>
              <Table.Td>{percent(step.overall_conversion)}</Table.Td>
              <Table.Td>{duration(step.avg_time_from_previous)}</Table.Td>
            </Table.Tr>
          ))}
        </Table.Tbody>
      </Table>
    </Stack>
  );
}
