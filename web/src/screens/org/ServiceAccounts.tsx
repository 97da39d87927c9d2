// Organization settings › Service accounts: the machine identities of the organization
// (for the query and export APIs), a new one with an optional project role, and its secret,
// which the server returns once, in the answer that made it.
import { useState } from "react";
import { Alert, Badge, Button, Code, Group, Select, Stack, Text, TextInput, Title } from "@mantine/core";
import { useMutation, useQuery, useQueryClient } from "@tanstack/react-query";
import { createColumnHelper } from "@tanstack/react-table";
import { useParams } from "react-router-dom";
import { del, get, post } from "../../api/client";
import { useOrganization } from "../../api/hooks";
import type { OrgProject, ServiceAccount } from "../../api/types";
import { DataTable } from "../DataTable";
import { ProjectRolePicker } from "./ProjectRolePicker";
import { Copyable, Empty, ErrorNote, Loading, NotAllowed, ORG_ROLES, QueryView, roleLabel, Screen, when } from "../common";

// Owner is not offered: owners of an organization are people, and a secret kept in a script
// needs no more than Admin.
const ACCOUNT_ROLES = ["member", "admin", "billing_admin"].map((value) => ORG_ROLES.find((role) => role.value === value)!);

export function ServiceAccounts() {
  const orgId = Number(useParams().orgId);
  const org = useOrganization(orgId);
  const manage = org.data?.your_permissions.includes("manage_service_accounts") ?? false;
  return (
    <Screen title="Service accounts">
      <Text size="sm" c="dimmed">
        Service accounts call Tally's APIs from scripts and other systems, with HTTP Basic authentication as
        username:secret.
      </Text>
      {org.isPending ? (
        <Loading />
      ) : org.isError ? (
        <ErrorNote error={org.error} />
      ) : manage ? (
        <>
          <AccountTable orgId={orgId} />
          <CreateForm orgId={orgId} />
        </>
      ) : (
        <NotAllowed>Only Owners and Admins of the organization manage service accounts.</NotAllowed>
      )}
    </Screen>
  );
}

function useProjects(orgId: number) {
  return useQuery({
    queryKey: ["org", orgId, "projects"],
    queryFn: ({ signal }) => get<OrgProject[]>(`/api/app/organizations/${orgId}/projects`, signal),
  });
}

function AccountTable({ orgId }: { orgId: number }) {
  const queryClient = useQueryClient();
  const accounts = useQuery({
    queryKey: ["org", orgId, "service-accounts"],
    queryFn: ({ signal }) => get<ServiceAccount[]>(`/api/app/organizations/${orgId}/service-accounts`, signal),
  });
  const projects = useProjects(orgId);
  const remove = useMutation({
    mutationFn: (id: number) => del(`/api/app/organizations/${orgId}/service-accounts/${id}`),
    onSuccess: () => {
      queryClient.invalidateQueries({ queryKey: ["org", orgId, "service-accounts"] });
      // A deleted account also leaves the teams it was in.
      queryClient.invalidateQueries({ queryKey: ["org", orgId, "team"] });
    },
  });
  const projectName = (id: number | null | undefined) =>
    id == null ? "—" : (projects.data?.find((p) => p.id === id)?.name ?? `Project ${id}`);
  const column = createColumnHelper<ServiceAccount>();
  const columns = [
    column.accessor("username", { header: "Username" }),
    column.accessor("organization_role", {
      header: "Organization role",
      cell: (c) => <Badge variant="light">{roleLabel(c.getValue())}</Badge>,
    }),
    column.accessor((account) => projectName(account.project_id), { id: "project", header: "Project" }),
    column.accessor("created", { header: "Created", cell: (c) => when(c.getValue()) }),
    column.accessor("expires", { header: "Expires", cell: (c) => (c.getValue() ? when(c.getValue()) : "Never") }),
    column.accessor("last_used", { header: "Last used", cell: (c) => (c.getValue() ? when(c.getValue()) : "Never") }),
    column.display({
      id: "actions",
      header: "Actions",
      cell: (c) => {
        const account = c.row.original;
        return (
          <Button
            size="compact-xs"
            color="red"
            variant="light"
            aria-label={`Delete ${account.username}`}
            loading={remove.isPending && remove.variables === account.id}
            onClick={() =>
              window.confirm(`Delete the service account ${account.username}? Whatever uses its secret stops working.`) &&
              remove.mutate(account.id)
            }
          >
            Delete
          </Button>
        );
      },
    }),
  ];
  return (
    <Stack gap="xs">
      {remove.error && <ErrorNote error={remove.error} />}
      <QueryView query={accounts}>
        {(rows) =>
          rows.length === 0 ? (
            <Empty>No service account yet.</Empty>
          ) : (
            <DataTable data={rows} columns={columns} label="Service accounts" testId="service-accounts" />
          )
        }
      </QueryView>
    </Stack>
  );
}

function CreateForm({ orgId }: { orgId: number }) {
  const queryClient = useQueryClient();
  const projects = useProjects(orgId);
  const [username, setUsername] = useState("");
  const [role, setRole] = useState("member");
  const [expires, setExpires] = useState("");
  const [projectId, setProjectId] = useState<string | null>(null);
  const [projectRole, setProjectRole] = useState("consumer");
  // Kept in this component only, never in the query cache: once it is gone, it is gone.
  const [created, setCreated] = useState<ServiceAccount | null>(null);
  const create = useMutation({
    mutationFn: () =>
      post<ServiceAccount>(`/api/app/organizations/${orgId}/service-accounts`, {
        username: username.trim(),
        role,
        // The chosen day is valid to its end, in UTC, as the server keeps times.
        expires: expires ? `${expires}T23:59:59Z` : undefined,
        projects: projectId ? [{ id: Number(projectId), role: projectRole }] : [],
      }),
    onSuccess: (account) => {
      setCreated(account);
      setUsername("");
      setExpires("");
      setProjectId(null);
      queryClient.invalidateQueries({ queryKey: ["org", orgId, "service-accounts"] });
      if (projectId) queryClient.invalidateQueries({ queryKey: ["project", Number(projectId), "members"] });
    },
  });
  const today = new Date().toISOString().slice(0, 10);
  return (
    <Stack gap="xs" component="section" aria-label="New service account">
      <Title order={2} size="h4">
        New service account
      </Title>
      <form
        onSubmit={(event) => {
          event.preventDefault();
          setCreated(null);
          create.mutate();
        }}
      >
        <Stack gap="sm" maw={760}>
          <Group grow align="flex-start">
            <TextInput
              id="sa-username"
              label="Username"
              placeholder="nightly-export"
              value={username}
              onChange={(e) => setUsername(e.currentTarget.value)}
              required
            />
            <Select
              id="sa-role"
              label="Organization role"
              data={ACCOUNT_ROLES}
              value={role}
              onChange={(value) => value && setRole(value)}
              allowDeselect={false}
            />
            <TextInput
              id="sa-expires"
              label="Expires"
              description="Leave empty for no expiry."
              type="date"
              min={today}
              value={expires}
              onChange={(e) => setExpires(e.currentTarget.value)}
            />
          </Group>
          <Group grow align="flex-start">
            <ProjectRolePicker
              idPrefix="sa"
              projects={projects.data ?? []}
              projectId={projectId}
              onProject={setProjectId}
              role={projectRole}
              onRole={setProjectRole}
            />
          </Group>
          {projects.error && <ErrorNote error={projects.error} title="The projects could not be loaded" />}
          <Group>
            <Button type="submit" loading={create.isPending} id="sa-create">
              Create service account
            </Button>
          </Group>
        </Stack>
      </form>
      {create.error && <ErrorNote error={create.error} />}
      {created?.token && (
        <Alert
          color="yellow"
          title={`Secret of ${created.username}: copy it now`}
          data-testid="service-account-secret"
          withCloseButton
          closeButtonLabel="Hide the secret"
          onClose={() => setCreated(null)}
        >
          <Stack gap="xs">
            <Text size="sm">This secret is not shown again. If it is lost, delete the account and make a new one.</Text>
            <Copyable label="the secret" value={created.token} showLabel={false} testId="service-account-token" />
            <Text size="sm">
              Use HTTP Basic authentication with <Code>{created.username}:secret</Code>, for example{" "}
              <Code>curl -u {created.username}:SECRET …</Code>
            </Text>
          </Stack>
        </Alert>
      )}
    </Stack>
  );
}
