// Organization settings › Teams: teams live at organization level; each has members
// (people and service accounts) and project roles that its members receive.
import { useState } from "react";
import { Button, Card, Group, Select, SimpleGrid, Stack, Text, TextInput, Title } from "@mantine/core";
import { useMutation, useQuery, useQueryClient } from "@tanstack/react-query";
import { useParams } from "react-router-dom";
import { del, get, post, put } from "../../api/client";
import { useOrganization } from "../../api/hooks";
import type { Body, OrgMember, OrgProject, ServiceAccount, Team, TeamDetail } from "../../api/types";
import { Empty, ErrorNote, NotAllowed, PROJECT_ROLES, QueryView, roleLabel, Screen } from "../common";

export function Teams() {
  const orgId = Number(useParams().orgId);
  const org = useOrganization(orgId);
  const manage = org.data?.your_permissions.includes("manage_teams") ?? false;
  const queryClient = useQueryClient();
  const teams = useQuery({
    queryKey: ["org", orgId, "teams"],
    queryFn: ({ signal }) => get<Team[]>(`/api/app/organizations/${orgId}/teams`, signal),
  });
  const [name, setName] = useState("");
  const create = useMutation({
    mutationFn: () => post<Team>(`/api/app/organizations/${orgId}/teams`, { name } satisfies Body<"TeamNameBody">),
    onSuccess: () => {
      setName("");
      queryClient.invalidateQueries({ queryKey: ["org", orgId, "teams"] });
    },
  });
  return (
    <Screen title="Teams">
      {manage ? (
        <form
          onSubmit={(event) => {
            event.preventDefault();
            create.mutate();
          }}
        >
          <Group align="flex-end">
            <TextInput id="team-name" label="New team" placeholder="Growth" value={name} onChange={(e) => setName(e.currentTarget.value)} required />
            <Button type="submit" loading={create.isPending} id="team-create">
              Create team
            </Button>
          </Group>
        </form>
      ) : (
        <NotAllowed>Only Owners and Admins of the organization manage teams.</NotAllowed>
      )}
      {create.error && <ErrorNote error={create.error} />}
      <QueryView query={teams}>
        {(rows) =>
          rows.length === 0 ? (
            <Empty>No team yet. Teams give a group of people the same role on projects.</Empty>
          ) : (
            <SimpleGrid cols={{ base: 1, md: 2 }}>
              {rows.map((team) => (
                <TeamCard key={team.id} orgId={orgId} team={team} manage={manage} />
              ))}
            </SimpleGrid>
          )
        }
      </QueryView>
    </Screen>
  );
}

function TeamCard({ orgId, team, manage }: { orgId: number; team: Team; manage: boolean }) {
  const queryClient = useQueryClient();
  const key = ["org", orgId, "team", team.id];
  const detail = useQuery({
    queryKey: key,
    queryFn: ({ signal }) => get<TeamDetail>(`/api/app/organizations/${orgId}/teams/${team.id}`, signal),
  });
  const members = useQuery({
    queryKey: ["org", orgId, "members"],
    queryFn: ({ signal }) => get<OrgMember[]>(`/api/app/organizations/${orgId}/members`, signal),
    enabled: manage,
  });
  // Service accounts join teams too, for those who may see them.
  const mayServiceAccounts = useOrganization(orgId).data?.your_permissions.includes("manage_service_accounts") ?? false;
  const accounts = useQuery({
    queryKey: ["org", orgId, "service-accounts"],
    queryFn: ({ signal }) => get<ServiceAccount[]>(`/api/app/organizations/${orgId}/service-accounts`, signal),
    enabled: manage && mayServiceAccounts,
  });
  const projects = useQuery({
    queryKey: ["org", orgId, "projects"],
    queryFn: ({ signal }) => get<OrgProject[]>(`/api/app/organizations/${orgId}/projects`, signal),
  });
  const [member, setMember] = useState<string | null>(null);
  const [project, setProject] = useState<string | null>(null);
  const [role, setRole] = useState<string>("analyst");
  const base = `/api/app/organizations/${orgId}/teams/${team.id}`;
  const refresh = () => {
    queryClient.invalidateQueries({ queryKey: key });
    queryClient.invalidateQueries({ queryKey: ["me"] });
  };
  const change = useMutation({ mutationFn: (action: () => Promise<unknown>) => action(), onSuccess: refresh });
  const projectName = (id: number) => projects.data?.find((p) => p.id === id)?.name ?? `Project ${id}`;
  const teamName = team.name;
  return (
    <Card withBorder data-testid={`team-${team.name}`} component="section" aria-label={`Team ${teamName}`}>
      <Group justify="space-between">
        <Title order={2} size="h4">
          {team.name}
        </Title>
        {manage && (
          <Button
            size="compact-xs"
            color="red"
            variant="light"
            onClick={() =>
              window.confirm(`Delete the team ${team.name}? Its members lose the roles it gave them.`) &&
              change.mutate(async () => {
                await del(base);
                queryClient.invalidateQueries({ queryKey: ["org", orgId, "teams"] });
              })
            }
          >
            Delete
          </Button>
        )}
      </Group>
      {change.error && <ErrorNote error={change.error} />}
      <QueryView query={detail}>
        {(team) => (
          <Stack gap="xs" mt="xs">
            <Text fw={600} size="sm">
              Members
            </Text>
            {team.members.length === 0 && <Text size="sm" c="dimmed">Nobody yet.</Text>}
            {team.members.map((m) => (
              <Group key={`${m.principal.type}-${m.principal.id}`} justify="space-between">
                <Text size="sm">{m.label}</Text>
                {manage && (
                  <Button
                    size="compact-xs"
                    variant="subtle"
                    aria-label={`Remove ${m.label} from ${teamName}`}
                    onClick={() =>
                      change.mutate(() =>
                        del(`${base}/members/${m.principal.type === "user" ? "users" : "service-accounts"}/${m.principal.id}`),
                      )
                    }
                  >
                    Remove
                  </Button>
                )}
              </Group>
            ))}
            {manage && (
              <Group align="flex-end" gap="xs">
                <Select
                  aria-label={`Person to add to ${teamName}`}
                  placeholder="Add a member"
                  data={[
                    ...(members.data ?? [])
                      .filter((u) => !team.members.some((m) => m.principal.type === "user" && m.principal.id === u.user_id))
                      .map((u) => ({ value: `user:${u.user_id}`, label: u.email })),
                    ...(accounts.data ?? [])
                      .filter((a) => !team.members.some((m) => m.principal.type === "service_account" && m.principal.id === a.id))
                      .map((a) => ({ value: `service_account:${a.id}`, label: `${a.username} (service account)` })),
                  ]}
                  value={member}
                  onChange={setMember}
                  searchable
                  flex={1}
                />
                <Button
                  size="sm"
                  disabled={!member}
                  onClick={() => change.mutate(async () => {
                    const [kind, id] = (member ?? "").split(":");
                    const body: Body<"TeamMemberBody"> = kind === "user" ? { user_id: Number(id) } : { service_account_id: Number(id) };
                    await post(`${base}/members`, body);
                    setMember(null);
                  })}
                >
                  Add
                </Button>
              </Group>
            )}
            <Text fw={600} size="sm" mt="sm">
              Project roles
            </Text>
            {team.projects.length === 0 && <Text size="sm" c="dimmed">No project yet.</Text>}
            {team.projects.map((p) => (
              <Group key={p.id} justify="space-between">
                <Text size="sm">
                  {projectName(p.id)}: {roleLabel(p.role)}
                </Text>
                {manage && (
                  <Button size="compact-xs" variant="subtle" onClick={() => change.mutate(() => del(`${base}/projects/${p.id}`))}>
                    Remove
                  </Button>
                )}
              </Group>
            ))}
            {manage && (
              <Group align="flex-end" gap="xs">
                <Select
                  aria-label={`Project for ${teamName}`}
                  placeholder="Project"
                  data={(projects.data ?? []).map((p) => ({ value: String(p.id), label: p.name }))}
                  value={project}
                  onChange={setProject}
                  flex={1}
                />
                <Select aria-label={`Role on the project for ${teamName}`} data={PROJECT_ROLES} value={role} onChange={(v) => v && setRole(v)} w={130} allowDeselect={false} />
                <Button
                  size="sm"
                  disabled={!project}
                  onClick={() => change.mutate(async () => {
                    await put(`${base}/projects/${project}`, { role } satisfies Body<"TeamProjectRoleBody">);
                    setProject(null);
                  })}
                >
                  Give role
                </Button>
              </Group>
            )}
          </Stack>
        )}
      </QueryView>
    </Card>
  );
}
