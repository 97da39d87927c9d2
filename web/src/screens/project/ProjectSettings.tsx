// Project settings › Overview: id, region, time zone; the token for SDKs and the API
// secret only for those allowed to see access keys.
import { Button, Card, Code, Group, Stack, Table, Text, Title } from "@mantine/core";
import { useMutation, useQuery } from "@tanstack/react-query";
import { useParams } from "react-router-dom";
import { get } from "../../api/client";
import { mayInProject, useCurrent } from "../../api/hooks";
import type { Keys, ProjectSettings as Settings } from "../../api/types";
import { ErrorNote, NotAllowed, QueryView, Screen, when } from "../common";

export function ProjectSettings() {
  const projectId = Number(useParams().projectId);
  const { project } = useCurrent();
  const settings = useQuery({
    queryKey: ["project", projectId, "settings"],
    queryFn: ({ signal }) => get<Settings>(`/api/app/projects/${projectId}`, signal),
  });
  const keys = useMutation({
    mutationFn: () => get<Keys>(`/api/app/projects/${projectId}/keys`),
  });
  return (
    <Screen title="Project settings">
      <QueryView query={settings}>
        {(s) => (
          <Card withBorder>
            <Table aria-label="Project overview" data-testid="project-overview">
              <Table.Tbody>
                <Table.Tr><Table.Th>Name</Table.Th><Table.Td>{s.name}</Table.Td></Table.Tr>
                <Table.Tr><Table.Th>Project ID</Table.Th><Table.Td><Code>{s.id}</Code></Table.Td></Table.Tr>
                <Table.Tr><Table.Th>Environment</Table.Th><Table.Td>{s.environment ?? "—"}</Table.Td></Table.Tr>
                <Table.Tr><Table.Th>Data residency</Table.Th><Table.Td>{s.region} (fixed at creation)</Table.Td></Table.Tr>
                <Table.Tr><Table.Th>Time zone</Table.Th><Table.Td>{s.timezone}</Table.Td></Table.Tr>
                <Table.Tr><Table.Th>ID merge</Table.Th><Table.Td>{s.id_merge}</Table.Td></Table.Tr>
                <Table.Tr><Table.Th>Created</Table.Th><Table.Td>{when(s.created)}</Table.Td></Table.Tr>
                {project?.token && (
                  <Table.Tr><Table.Th>Project token</Table.Th><Table.Td><Code data-testid="project-token">{project.token}</Code></Table.Td></Table.Tr>
                )}
              </Table.Tbody>
            </Table>
          </Card>
        )}
      </QueryView>
      <Card withBorder component="section" aria-label="Access keys">
        <Title order={2} size="h4">Access keys</Title>
        {mayInProject(project, "view_access_keys") ? (
          <Stack gap="xs" mt="xs">
            <Text size="sm" c="dimmed">The API secret reads and imports data: keep it on servers only.</Text>
            <Group>
              <Button variant="default" onClick={() => keys.mutate()} loading={keys.isPending}>Show the API secret</Button>
            </Group>
            {keys.data && <Code data-testid="api-secret">{keys.data.api_secret}</Code>}
            {keys.error && <ErrorNote error={keys.error} />}
          </Stack>
        ) : (
          <NotAllowed>Your role does not show this project's API secret.</NotAllowed>
        )}
      </Card>
    </Screen>
  );
}
