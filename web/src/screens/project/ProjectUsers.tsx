// Project settings › Users: everyone with access, every grant with its source (organization
// role, individual, team, all users); individual roles; the role that every member of the
// organization gets; access requests.
import { useState } from "react";
import { Badge, Button, Card, Group, Select, Stack, Text, Title } from "@mantine/core";
import { useMutation, useQuery, useQueryClient } from "@tanstack/react-query";
import { createColumnHelper } from "@tanstack/react-table";
import { useParams } from "react-router-dom";
import { del, get, post, put } from "../../api/client";
import { mayInProject, useCurrent } from "../../api/hooks";
import type { AccessRequest, OrgMember, ProjectMember } from "../../api/types";
import { DataTable } from "../DataTable";
import { Empty, ErrorNote, NotAllowed, PROJECT_ROLES, QueryView, roleLabel, Screen } from "../common";


export function ProjectUsers() {
  const projectId = Number(useParams().projectId);
  const { project, org } = useCurrent();
  const manage = mayInProject(project, "manage_project_members");
  const queryClient = useQueryClient();
  const members = useQuery({
    queryKey: ["project", projectId, "members"],
    queryFn: ({ signal }) => get<ProjectMember[]>(`/api/app/projects/${projectId}/members`, signal),
  });
  const refresh = () => {
    queryClient.invalidateQueries({ queryKey: ["project", projectId] });
    queryClient.invalidateQueries({ queryKey: ["me"] });
  };
  const change = useMutation({ mutationFn: (action: () => Promise<unknown>) => action(), onSuccess: refresh });
  const column = createColumnHelper<ProjectMember>();
  const columns = [
    column.accessor("label", { header: "Member" }),
    column.accessor((m) => m.principal.type, { id: "kind", header: "Kind", cell: (c) => (c.getValue() === "user" ? "Person" : "Service account") }),
    column.accessor("grants", {
      header: "Roles and where they come from",
      enableSorting: false,
      cell: (c) => (
        <Group gap={4}>
          {c.getValue().map((g) => (
            <Badge key={`${g.source}-${g.role}`} variant="light">
              {roleLabel(g.role)} · {g.source}
            </Badge>
          ))}
        </Group>
      ),
    }),
    column.display({
      id: "actions",
      header: "Individual role",
      cell: (c) => {
        const member = c.row.original;
        if (!manage || member.principal.type !== "user") return null;
        const userId = member.principal.id;
        const individual = member.grants.find((g) => g.source === "individual");
        return (
          <Group gap="xs" wrap="nowrap">
            <Select
              aria-label={`Individual role of ${member.label}`}
              placeholder="None"
              data={PROJECT_ROLES}
              value={individual?.role ?? null}
              onChange={(role) =>
                change.mutate(() =>
                  role ? put(`/api/app/projects/${projectId}/members/users/${userId}`, { role }) : del(`/api/app/projects/${projectId}/members/users/${userId}`),
                )
              }
              w={140}
              clearable
            />
          </Group>
        );
      },
    }),
  ];
  return (
    <Screen title="Project users">
      {change.error && <ErrorNote error={change.error} />}
      <QueryView query={members}>{(rows) => <DataTable data={rows} columns={columns} label="Project members" testId="project-members" />}</QueryView>
      {manage ? (
        <>
          <DefaultRole projectId={projectId} members={members.data ?? []} onChange={(action) => change.mutate(action)} />
          {org && <AddMember projectId={projectId} orgId={org.id} onChange={(action) => change.mutate(action)} />}
          <AccessRequests projectId={projectId} />
        </>
      ) : (
        <NotAllowed>Only the project's Owners and Admins manage who has access.</NotAllowed>
      )}
    </Screen>
  );
}

function DefaultRole({ projectId, members, onChange }: { projectId: number; members: ProjectMember[]; onChange: (action: () => Promise<unknown>) => void }) {
  // The default role shows on every member who holds it through "all users".
  const current = members.flatMap((m) => m.grants).find((g) => g.source === "all_users")?.role ?? null;
  return (
    <Card withBorder component="section" aria-label="All users of the organization">
      <Title order={2} size="h4">All users of the organization</Title>
      <Text size="sm" c="dimmed">Everyone in the organization gets at least this role on the project.</Text>
      <Select
        id="default-role"
        mt="xs"
        label="Role for all organization users"
        placeholder="No access"
        data={PROJECT_ROLES}
        value={current}
        onChange={(role) => onChange(() => (role ? put(`/api/app/projects/${projectId}/default-role`, { role }) : del(`/api/app/projects/${projectId}/default-role`)))}
        clearable
        maw={260}
      />
    </Card>
  );
}

function AddMember({ projectId, orgId, onChange }: { projectId: number; orgId: number; onChange: (action: () => Promise<unknown>) => void }) {
  const people = useQuery({
    queryKey: ["org", orgId, "members"],
    queryFn: ({ signal }) => get<OrgMember[]>(`/api/app/organizations/${orgId}/members`, signal),
  });
  const [user, setUser] = useState<string | null>(null);
  const [role, setRole] = useState("analyst");
  return (
    <Card withBorder component="section" aria-label="Give someone a role">
      <Title order={2} size="h4">Give someone a role</Title>
      <Group align="flex-end" mt="xs">
        <Select
          id="grant-user"
          label="Person"
          data={(people.data ?? []).map((p) => ({ value: String(p.user_id), label: p.email }))}
          value={user}
          onChange={setUser}
          searchable
          w={280}
        />
        <Select id="grant-role" label="Role" data={PROJECT_ROLES} value={role} onChange={(v) => v && setRole(v)} allowDeselect={false} w={160} />
        <Button disabled={!user} onClick={() => onChange(() => put(`/api/app/projects/${projectId}/members/users/${user}`, { role }))}>
          Give role
        </Button>
      </Group>
    </Card>
  );
}

function AccessRequests({ projectId }: { projectId: number }) {
  const queryClient = useQueryClient();
  const requests = useQuery({
    queryKey: ["project", projectId, "access-requests"],
    queryFn: ({ signal }) => get<AccessRequest[]>(`/api/app/projects/${projectId}/access-requests`, signal),
  });
  const decide = useMutation({
    mutationFn: (action: () => Promise<unknown>) => action(),
    onSuccess: () => queryClient.invalidateQueries({ queryKey: ["project", projectId] }),
  });
  return (
    <Card withBorder component="section" aria-label="Access requests">
      <Title order={2} size="h4">Access requests</Title>
      <QueryView query={requests}>
        {(rows) => {
          const open = rows.filter((r) => r.status === "pending");
          return open.length === 0 ? (
            <Empty>Nobody is waiting for access.</Empty>
          ) : (
            <Stack gap="xs" mt="xs">
              {open.map((r) => (
                <Group key={r.id} justify="space-between">
                  <Text size="sm">
                    {r.email}
                    {r.message && `: “${r.message}”`}
                  </Text>
                  <Group gap="xs">
                    <Button size="compact-xs" onClick={() => decide.mutate(() => post(`/api/app/projects/${projectId}/access-requests/${r.id}/approve`, { role: "consumer" }))}>
                      Approve as Consumer
                    </Button>
                    <Button size="compact-xs" variant="light" color="red" onClick={() => decide.mutate(() => post(`/api/app/projects/${projectId}/access-requests/${r.id}/deny`))}>
                      Deny
                    </Button>
                  </Group>
                </Group>
              ))}
            </Stack>
          );
        }}
      </QueryView>
      {decide.error && <ErrorNote error={decide.error} />}
    </Card>
  );
}
