// Events: a live view of what the project receives, newest first, refreshed every two
// seconds, to see an SDK set-up working. Click an event for all of its properties.
import { useState } from "react";
import { Card, Code, Switch, Table, Text, UnstyledButton } from "@mantine/core";
import { useQuery } from "@tanstack/react-query";
import { useParams } from "react-router-dom";
import { get } from "../../api/client";
import type { components } from "../../api/schema";
import { Empty, QueryView, Screen } from "../common";

type Live = components["schemas"]["LiveAnswer"];
type Exported = components["schemas"]["ExportedEvent"];

function timeOf(event: Exported): string {
  const ms = Number((event.properties as Record<string, unknown>).time);
  return Number.isFinite(ms) ? new Date(ms).toLocaleString() : "—";
}

function userOf(event: Exported): string {
  const id = (event.properties as Record<string, unknown>).distinct_id;
  return typeof id === "string" && id ? id : "(anonymous)";
}

export function Events() {
  const projectId = Number(useParams().projectId);
  const [paused, setPaused] = useState(false);
  const [open, setOpen] = useState<number | null>(null);
  const live = useQuery({
    queryKey: ["project", projectId, "live"],
    queryFn: ({ signal }) => get<Live>(`/api/app/projects/${projectId}/events/live?limit=100`, signal),
    refetchInterval: paused ? false : 2000,
  });
  return (
    <Screen
      title="Events"
      actions={<Switch id="live-pause" label="Pause" checked={paused} onChange={(e) => setPaused(e.currentTarget.checked)} />}
    >
      <Text size="sm" c="dimmed">
        The newest events this project received, refreshed every two seconds. Point an SDK at this server with the project's token
        and its events appear here.
      </Text>
      <QueryView query={live}>
        {(answer) =>
          answer.events.length === 0 ? (
            <Empty>No event in the last day yet.</Empty>
          ) : (
            <Card withBorder p={0}>
              <Table striped highlightOnHover aria-label="Newest events" data-testid="live-events">
                <Table.Thead>
                  <Table.Tr>
                    <Table.Th>Event</Table.Th>
                    <Table.Th>User</Table.Th>
                    <Table.Th>Time</Table.Th>
                  </Table.Tr>
                </Table.Thead>
                <Table.Tbody>
                  {answer.events.map((event, i) => (
                    <Table.Tr key={`${answer.read_at}-${i}`}>
                      <Table.Td>
                        <UnstyledButton onClick={() => setOpen(open === i ? null : i)} aria-expanded={open === i}>
                          <Text size="sm" fw={600} td="underline" data-testid="live-event-name">
                            {event.event}
                          </Text>
                        </UnstyledButton>
                        {open === i && (
                          <Code block mt="xs" aria-label={`Properties of ${event.event}`}>
                            {JSON.stringify(event.properties, null, 2)}
                          </Code>
                        )}
                      </Table.Td>
                      <Table.Td>{userOf(event)}</Table.Td>
                      <Table.Td>{timeOf(event)}</Table.Td>
                    </Table.Tr>
                  ))}
                </Table.Tbody>
              </Table>
            </Card>
          )
        }
      </QueryView>
    </Screen>
  );
}
