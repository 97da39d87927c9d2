// A saved report's answer as a board card shows it: the chart the analysis screens draw
// (Insights as lines, a funnel's steps as bars, the flow as a Sankey) with its numbers, and
// retention as the cohort table. Used by boards and by public links.
import { useMemo } from "react";
import { Stack, Table, Text } from "@mantine/core";
import type { UseQueryResult } from "@tanstack/react-query";
import {
  type Answer,
  type FunnelAnswer,
  type InsightsAnswer,
  type RetentionAnswer,
  type RetentionUnit,
  countedName,
  formatValue,
  funnelOption,
  insightsOption,
  percent,
  retentionBucketLabels,
  seriesName,
} from "../../api/report";
import { type FlowsAnswer, flowsOption } from "../../api/flows";
import { Chart } from "../analysis/Chart";
import { shade } from "../analysis/Retention";
import { Empty, ErrorNote, Loading } from "../common";

/** A card's answer, or its loading or error state. `unit` is a retention report's, when known. */
export function CardAnswer({ query, name, unit }: { query: UseQueryResult<Answer>; name: string; unit?: RetentionUnit }) {
  return (
    <div data-testid="card-result" aria-busy={query.isFetching}>
      {query.isPending ? (
        <Loading label="Counting…" />
      ) : query.isError ? (
        <ErrorNote error={query.error} title="This report cannot be answered" />
      ) : (
        <AnswerView answer={query.data} name={name} unit={unit} />
      )}
    </div>
  );
}

export function AnswerView({ answer, name, unit }: { answer: Answer; name: string; unit?: RetentionUnit }) {
  switch (answer.type) {
    case "insights":
      return <InsightsCard answer={answer} name={name} />;
    case "funnels":
      return <FunnelCard answer={answer} name={name} />;
    case "retention":
      return <RetentionCard answer={answer} name={name} unit={unit} />;
    case "flows":
      return <FlowsCard answer={answer} name={name} />;
    default:
      return <Empty>This kind of report cannot be shown here.</Empty>;
  }
}

function InsightsCard({ answer, name }: { answer: InsightsAnswer; name: string }) {
  const option = useMemo(() => insightsOption(answer, "line"), [answer]);
  if (answer.series.every((s) => (s.total ?? 0) === 0)) return <Empty>No events match this report in this range.</Empty>;
  return (
    <Stack gap="xs">
      <Chart option={option} label={`${name}: ${answer.series.map(seriesName).join(", ")}`} height={240} />
      <Table.ScrollContainer minWidth={240}>
        <Table striped aria-label={`${name}: totals`} data-testid="insights-table">
          <Table.Thead>
            <Table.Tr>
              <Table.Th>Series</Table.Th>
              <Table.Th>Total</Table.Th>
            </Table.Tr>
          </Table.Thead>
          <Table.Tbody>
            {answer.series.map((series) => (
              <Table.Tr key={seriesName(series)} data-series={seriesName(series)}>
                <Table.Td>{seriesName(series)}</Table.Td>
                <Table.Td data-testid="series-total" data-value={series.total ?? ""}>
                  {formatValue(series.total)}
                </Table.Td>
              </Table.Tr>
            ))}
          </Table.Tbody>
        </Table>
      </Table.ScrollContainer>
    </Stack>
  );
}

function FunnelCard({ answer, name }: { answer: FunnelAnswer; name: string }) {
  const option = useMemo(() => funnelOption(answer), [answer]);
  if (!answer.steps[0]?.count) return <Empty>Nobody did the first step in this range.</Empty>;
  return (
    <Stack gap="xs">
      <Text fw={600}>{percent(answer.steps[answer.steps.length - 1]?.overall_conversion ?? 0)} converted</Text>
      <Chart option={option} label={`${name}: ${countedName(answer.counting)} at each step`} height={240} />
      <Table.ScrollContainer minWidth={240}>
        <Table striped aria-label={`${name}: steps`} data-testid="funnel-table">
          <Table.Thead>
            <Table.Tr>
              <Table.Th>Step</Table.Th>
              <Table.Th>Users</Table.Th>
              <Table.Th>Overall</Table.Th>
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
                <Table.Td>{percent(step.overall_conversion)}</Table.Td>
              </Table.Tr>
            ))}
          </Table.Tbody>
        </Table>
      </Table.ScrollContainer>
    </Stack>
  );
}

function RetentionCard({ answer, name, unit }: { answer: RetentionAnswer; name: string; unit?: RetentionUnit }) {
  if (!answer.total.first) return <Empty>Nobody was born in this range.</Empty>;
  const rows = [answer.total, ...answer.rows.filter((row) => row.first > 0)];
  return (
    <Table.ScrollContainer minWidth={320}>
      <Table aria-label={`${name}: retention by cohort`} data-testid="retention-table">
        <Table.Thead>
          <Table.Tr>
            <Table.Th>Cohort</Table.Th>
            <Table.Th>Users</Table.Th>
            {retentionBucketLabels(answer, unit).map((bucket, i) => (
              <Table.Th key={i}>{bucket}</Table.Th>
            ))}
          </Table.Tr>
        </Table.Thead>
        <Table.Tbody>
          {rows.map((row) => (
            <Table.Tr key={row.cohort} data-cohort={row.cohort}>
              <Table.Td>{row.cohort === "all" ? "All users" : row.cohort}</Table.Td>
              <Table.Td data-testid="cohort-first" data-value={row.first}>
                {row.first}
              </Table.Td>
              {row.counts.map((count, i) => {
                const share = row.first ? count / row.first : 0;
                return (
                  <Table.Td key={i} style={{ background: shade(share) }} data-value={count} title={`${count} users`}>
                    {percent(share)}
                  </Table.Td>
                );
              })}
            </Table.Tr>
          ))}
        </Table.Tbody>
      </Table>
    </Table.ScrollContainer>
  );
}

function FlowsCard({ answer, name }: { answer: FlowsAnswer; name: string }) {
  const option = useMemo(() => flowsOption(answer), [answer]);
  if (answer.users === 0) return <Empty>Nobody did the anchor event in this range.</Empty>;
  const busiest = Math.max(1, ...answer.steps.map((s) => s.nodes.length));
  return (
    <Stack gap="xs">
      <Text fw={600} data-testid="flow-users" data-value={answer.users}>
        {formatValue(answer.users)} users
      </Text>
      <Chart option={option} label={`${name}: the users' paths, step by step`} height={Math.max(260, busiest * 56)} />
    </Stack>
  );
}
