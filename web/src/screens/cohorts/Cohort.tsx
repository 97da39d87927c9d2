// A cohort: its definition in words, how many users it holds now and who they are (a page
// at a time, each a link to their profile), its CSV export, and changing or deleting it for
// its creator or a project admin.
import { useState } from "react";
import { Anchor, Badge, Button, Card, Group, Pagination, Stack, Table, Text, Title } from "@mantine/core";
import { useQueryClient } from "@tanstack/react-query";
import { Link, useNavigate, useParams } from "react-router-dom";
import { del } from "../../api/client";
import { type Cohort, mayManage, summary } from "../../api/cohorts";
import { withDataView } from "../../api/dataViews";
import { formatValue } from "../../api/report";
import { mayInProject, useCurrent } from "../../api/hooks";
import { Empty, ErrorNote, Loading, NotAllowed, QueryView, Screen, when } from "../common";
import { ConfirmDialog } from "../boards/BoardDialogs";
import { profilePath, showValue } from "../analysis/Users";
import { CohortBuilder } from "./CohortBuilder";
import { cohortKeys, cohortsBase, useCohort, useCohortUsers, useCohorts } from "./queries";

/** Members per page. */
const PAGE_SIZE = 50;

export function CohortScreen() {
  const params = useParams();
  const projectId = Number(params.projectId);
  const cohortId = Number(params.cohortId);
  const cohort = useCohort(projectId, cohortId);
  return (
    <QueryView query={cohort}>
      {(detail) => <CohortDetail key={detail.id} projectId={projectId} cohort={detail} />}
    </QueryView>
  );
}

function CohortDetail({ projectId, cohort }: { projectId: number; cohort: Cohort }) {
  const { me, project } = useCurrent();
  const may = (permission: string) => mayInProject(project, permission);
  const navigate = useNavigate();
  const queryClient = useQueryClient();
  const cohorts = useCohorts(projectId);
  const [editing, setEditing] = useState(false);
  const [deleting, setDeleting] = useState(false);
  const myId = me?.user.type === "user" ? me.user.id : undefined;
  const manage = mayManage(cohort, myId, may("edit_project_settings"));
  const nameOf = (id: number) => (id === cohort.id ? cohort.name : cohorts.data?.find((c) => c.id === id)?.name);
  // A download link, not a request of the client's: it names the data view itself.
  const exportUrl = withDataView(`${cohortsBase(projectId)}/${cohort.id}/export`);

  const reasons: string[] = [];
  if (!may("export_cohorts")) reasons.push("Your role may not export cohorts.");
  if (!manage) reasons.push("Only the cohort's creator or a project admin may change or delete it.");

  return (
    <Screen
      title={cohort.name}
      actions={
        <Group gap="xs">
          {may("export_cohorts") && (
            <Button component="a" href={exportUrl} download={`cohort-${cohort.id}.csv`} variant="default">
              Export CSV
            </Button>
          )}
          {manage && (
            <Button variant="default" onClick={() => setEditing(true)}>
              Edit
            </Button>
          )}
          {manage && (
            <Button variant="light" color="red" onClick={() => setDeleting(true)}>
              Delete
            </Button>
          )}
        </Group>
      }
    >
      <Group gap="xs">
        <Anchor component={Link} to={`/projects/${projectId}/cohorts`} size="sm">
          ← Cohorts
        </Anchor>
        {cohort.shared ? (
          <Badge variant="light" size="sm">
            Shared
          </Badge>
        ) : (
          <Badge variant="light" color="gray" size="sm">
            Private
          </Badge>
        )}
        <Text size="sm" c="dimmed">
          Changed {when(cohort.modified_at)}
        </Text>
      </Group>
      {reasons.map((reason) => (
        <NotAllowed key={reason}>{reason}</NotAllowed>
      ))}
      {cohort.description && <Text>{cohort.description}</Text>}
      <Card withBorder component="section" aria-label="Definition">
        <Title order={2} size="h4" mb={4}>
          Who is in it
        </Title>
        <Text data-testid="cohort-summary">{summary(cohort.definition, nameOf)}</Text>
      </Card>
      {may("view_users") ? (
        <Members projectId={projectId} cohortId={cohort.id} />
      ) : (
        <NotAllowed>Your role may not view users, so the cohort's members are not shown.</NotAllowed>
      )}
      {manage && (
        <CohortBuilder
          projectId={projectId}
          opened={editing}
          onClose={() => setEditing(false)}
          cohort={cohort}
          onSaved={(saved) => queryClient.setQueryData(cohortKeys.one(projectId, saved.id), saved)}
        />
      )}
      <ConfirmDialog
        opened={deleting}
        onClose={() => setDeleting(false)}
        title="Delete cohort"
        confirm="Delete for good"
        onConfirm={async () => {
          await del(`${cohortsBase(projectId)}/${cohort.id}`);
          queryClient.removeQueries({ queryKey: cohortKeys.one(projectId, cohort.id) });
          await queryClient.invalidateQueries({ queryKey: cohortKeys.list(projectId) });
          navigate(`/projects/${projectId}/cohorts`);
        }}
      >
        <Text>
          This deletes “{cohort.name}” for everyone. Reports that filter or segment by it will no longer run. It cannot be undone.
        </Text>
      </ConfirmDialog>
    </Screen>
  );
}

function Members({ projectId, cohortId }: { projectId: number; cohortId: number }) {
  const [page, setPage] = useState(0);
  const users = useCohortUsers(projectId, cohortId, page, PAGE_SIZE);
  if (users.isPending) return <Loading label="Finding the cohort's users…" />;
  if (users.isError) return <ErrorNote error={users.error} title="The cohort's users cannot be listed" />;
  const { count, users: list } = users.data;
  const pages = Math.max(1, Math.ceil(count / PAGE_SIZE));
  const text = (properties: unknown, name: string) => showValue((properties as Record<string, unknown> | null)?.[name]);
  return (
    <Card withBorder component="section" aria-label="Members">
      <Stack gap="sm">
        <Title order={2} size="h4" data-testid="cohort-member-count" data-value={count}>
          {formatValue(count)} {count === 1 ? "user" : "users"}
        </Title>
        {count === 0 ? (
          <Empty>Nobody is in this cohort now.</Empty>
        ) : (
          <>
            <Table.ScrollContainer minWidth={480}>
              <Table striped aria-label="Cohort members" data-testid="cohort-members" aria-busy={users.isFetching}>
                <Table.Thead>
                  <Table.Tr>
                    <Table.Th>Distinct id</Table.Th>
                    <Table.Th>Email</Table.Th>
                    <Table.Th>Name</Table.Th>
                  </Table.Tr>
                </Table.Thead>
                <Table.Tbody>
                  {list.map((user) => (
                    <Table.Tr key={user.distinct_id}>
                      <Table.Td>
                        <Anchor component={Link} to={profilePath(projectId, user.distinct_id)} size="sm">
                          {user.distinct_id}
                        </Anchor>
                      </Table.Td>
                      <Table.Td>{text(user.properties, "$email")}</Table.Td>
                      <Table.Td>{text(user.properties, "$name")}</Table.Td>
                    </Table.Tr>
                  ))}
                </Table.Tbody>
              </Table>
            </Table.ScrollContainer>
            {pages > 1 && (
              <Group justify="space-between">
                <Text size="sm" c="dimmed">
                  Page {page + 1} of {pages}
                </Text>
                <Pagination
                  total={pages}
                  value={page + 1}
                  onChange={(next) => setPage(next - 1)}
                  getItemProps={(n) => ({ "aria-label": `Page ${n}`, "aria-current": n === page + 1 ? "page" : undefined })}
                  getControlProps={(control) => ({ "aria-label": `${control[0].toUpperCase()}${control.slice(1)} page` })}
                  withEdges
                  data-testid="cohort-pages"
                />
              </Group>
            )}
          </>
        )}
      </Stack>
    </Card>
  );
}
