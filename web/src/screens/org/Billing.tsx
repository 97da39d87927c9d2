// Organization settings › Billing: the plan, seats and events per project and month.
import { Card, Group, Stack, Table, Text, Title } from "@mantine/core";
import { useQuery } from "@tanstack/react-query";
import { useParams } from "react-router-dom";
import { get } from "../../api/client";
import type { Billing as BillingAnswer, OrgProject } from "../../api/types";
import { Empty, QueryView, Screen } from "../common";


export function Billing() {
  const orgId = Number(useParams().orgId);
  const projects = useQuery({
    queryKey: ["org", orgId, "projects"],
    queryFn: ({ signal }) => get<OrgProject[]>(`/api/app/organizations/${orgId}/projects`, signal),
  });
  const projectName = (id: number) => projects.data?.find((p) => p.id === id)?.name ?? `Project ${id}`;
  const billing = useQuery({
    queryKey: ["org", orgId, "billing"],
    queryFn: ({ signal }) => get<BillingAnswer>(`/api/app/organizations/${orgId}/billing`, signal),
  });
  return (
    <Screen title="Billing">
      <QueryView query={billing}>
        {(b) => (
          <Stack>
            <Group>
              <Card withBorder data-testid="plan">
                <Text size="sm" c="dimmed">Plan</Text>
                <Title order={2} size="h3">{b.plan}</Title>
              </Card>
              <Card withBorder>
                <Text size="sm" c="dimmed">Seats</Text>
                <Title order={2} size="h3">{b.seats_used} of {b.seats}</Title>
              </Card>
              <Card withBorder>
                <Text size="sm" c="dimmed">Events a month</Text>
                <Title order={2} size="h3">{b.monthly_event_quota.toLocaleString()}</Title>
              </Card>
            </Group>
            <Title order={2} size="h4">Usage</Title>
            {b.usage.length === 0 ? (
              <Empty>No events received yet.</Empty>
            ) : (
              <Table aria-label="Usage by project and month">
                <Table.Thead>
                  <Table.Tr>
                    <Table.Th>Project</Table.Th>
                    <Table.Th>Month</Table.Th>
                    <Table.Th>Events</Table.Th>
                  </Table.Tr>
                </Table.Thead>
                <Table.Tbody>
                  {b.usage.map((u) => (
                    <Table.Tr key={`${u.project_id}-${u.month}`}>
                      <Table.Td>{projectName(u.project_id)}</Table.Td>
                      <Table.Td>{u.month}</Table.Td>
                      <Table.Td>{u.events.toLocaleString()}</Table.Td>
                    </Table.Tr>
                  ))}
                </Table.Tbody>
              </Table>
            )}
          </Stack>
        )}
      </QueryView>
    </Screen>
  );
}
