// Cohorts: the saved cohorts the caller may use (their own and the shared ones), how many
// users each holds now, and a new cohort for those who may make one.
import { useState } from "react";
import { Anchor, Badge, Button, Group, Table, Text } from "@mantine/core";
import { Link, useNavigate, useParams } from "react-router-dom";
import { type Cohort, mayManage, summary } from "../../api/cohorts";
import { formatValue } from "../../api/report";
import { mayInProject, useCurrent } from "../../api/hooks";
import { Empty, NotAllowed, QueryView, Screen, when } from "../common";
import { CohortBuilder } from "./CohortBuilder";
import { useCohortUsers, useCohorts } from "./queries";

export function cohortPath(projectId: number, id: number): string {
  return `/projects/${projectId}/cohorts/${id}`;
}

export function Cohorts() {
  const projectId = Number(useParams().projectId);
  const { me, project } = useCurrent();
  const may = (permission: string) => mayInProject(project, permission);
  const navigate = useNavigate();
  const cohorts = useCohorts(projectId);
  const [creating, setCreating] = useState(false);
  const [editing, setEditing] = useState<Cohort | null>(null);
  const myId = me?.user.type === "user" ? me.user.id : undefined;
  const nameOf = (id: number) => cohorts.data?.find((c) => c.id === id)?.name;
  return (
    <Screen
      title="Cohorts"
      actions={
        may("edit_cohorts") && (
          <Button onClick={() => setCreating(true)} id="new-cohort">
            New cohort
          </Button>
        )
      }
    >
      {!may("edit_cohorts") && <NotAllowed>Your role may not make cohorts.</NotAllowed>}
      {may("edit_cohorts") && !may("share_entities") && <NotAllowed>Cohorts you make are private to you: your role may not share them.</NotAllowed>}
      {!may("view_users") && <NotAllowed>Your role may not view users, so the cohorts' sizes are not shown.</NotAllowed>}
      <QueryView query={cohorts}>
        {(list) =>
          list.length === 0 ? (
            <Empty>No cohort yet. A cohort is a group of users: who did an event, whose profile matches, or a list of them.</Empty>
          ) : (
            <Table.ScrollContainer minWidth={640}>
              <Table striped aria-label="Cohorts" data-testid="cohorts">
                <Table.Thead>
                  <Table.Tr>
                    <Table.Th>Cohort</Table.Th>
                    <Table.Th>Visibility</Table.Th>
                    <Table.Th>Users</Table.Th>
                    <Table.Th>Changed</Table.Th>
                    <Table.Th>Actions</Table.Th>
                  </Table.Tr>
                </Table.Thead>
                <Table.Tbody>
                  {[...list]
                    .sort((a, b) => a.name.localeCompare(b.name))
                    .map((cohort) => (
                      <Table.Tr key={cohort.id} data-cohort={cohort.name}>
                        <Table.Td>
                          <Anchor component={Link} to={cohortPath(projectId, cohort.id)}>
                            {cohort.name}
                          </Anchor>
                          <Text size="sm" c="dimmed" lineClamp={2}>
                            {cohort.description || summary(cohort.definition, nameOf)}
                          </Text>
                        </Table.Td>
                        <Table.Td>
                          {cohort.shared ? (
                            <Badge variant="light" size="sm">
                              Shared
                            </Badge>
                          ) : (
                            <Badge variant="light" color="gray" size="sm">
                              Private
                            </Badge>
                          )}
                        </Table.Td>
                        <Table.Td>{may("view_users") ? <MemberCount projectId={projectId} id={cohort.id} /> : "—"}</Table.Td>
                        <Table.Td>{when(cohort.modified_at)}</Table.Td>
                        <Table.Td>
                          <Group gap="xs" wrap="nowrap">
                            <Button component={Link} to={cohortPath(projectId, cohort.id)} variant="subtle" size="compact-sm" aria-label={`Open ${cohort.name}`}>
                              Open
                            </Button>
                            {mayManage(cohort, myId, may("edit_project_settings")) && (
                              <Button variant="subtle" size="compact-sm" aria-label={`Edit ${cohort.name}`} onClick={() => setEditing(cohort)}>
                                Edit
                              </Button>
                            )}
                          </Group>
                        </Table.Td>
                      </Table.Tr>
                    ))}
                </Table.Tbody>
              </Table>
            </Table.ScrollContainer>
          )
        }
      </QueryView>
      {may("edit_cohorts") && (
        <CohortBuilder projectId={projectId} opened={creating} onClose={() => setCreating(false)} onSaved={(saved) => navigate(cohortPath(projectId, saved.id))} />
      )}
      {editing && <CohortBuilder projectId={projectId} opened onClose={() => setEditing(null)} cohort={editing} />}
    </Screen>
  );
}

/** How many users a cohort holds now (one member asked for, the count comes with it). */
function MemberCount({ projectId, id }: { projectId: number; id: number }) {
  const users = useCohortUsers(projectId, id, 0, 1);
  if (users.isPending) return <Text size="sm" c="dimmed">…</Text>;
  if (users.isError)
    return (
      <Text size="sm" c="red" title={users.error.message}>
        Cannot count
      </Text>
    );
  return (
    <Text size="sm" data-testid="cohort-count" data-value={users.data.count}>
      {formatValue(users.data.count)}
    </Text>
  );
}
