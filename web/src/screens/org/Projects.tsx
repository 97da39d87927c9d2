// Organization settings › Projects: every project with the caller's access, and a new
// project (its region is fixed for good once it is made).
import { useState } from "react";
import { Anchor, Button, Group, Select, Stack, TextInput, Title } from "@mantine/core";
import { useMutation, useQuery, useQueryClient } from "@tanstack/react-query";
import { createColumnHelper } from "@tanstack/react-table";
import { Link, useParams } from "react-router-dom";
import { get, post } from "../../api/client";
import { useOrganization } from "../../api/hooks";
import type { OrgProject } from "../../api/types";
import { DataTable } from "../DataTable";
import { ErrorNote, NotAllowed, QueryView, roleLabel, Screen } from "../common";

export function Projects() {
  const orgId = Number(useParams().orgId);
  const org = useOrganization(orgId);
  const queryClient = useQueryClient();
  const projects = useQuery({
    queryKey: ["org", orgId, "projects"],
    queryFn: ({ signal }) => get<OrgProject[]>(`/api/app/organizations/${orgId}/projects`, signal),
  });
  const [form, setForm] = useState({ name: "", timezone: "UTC", region: "us", environment: "production" });
  const create = useMutation({
    mutationFn: () => post<OrgProject>(`/api/app/organizations/${orgId}/projects`, form),
    onSuccess: () => {
      setForm({ ...form, name: "" });
      queryClient.invalidateQueries({ queryKey: ["org", orgId] });
      queryClient.invalidateQueries({ queryKey: ["me"] });
    },
  });
  const column = createColumnHelper<OrgProject>();
  const columns = [
    column.accessor("name", {
      header: "Project",
      cell: (c) =>
        c.row.original.your_permissions.length > 0 ? (
          <Anchor component={Link} to={`/projects/${c.row.original.id}`}>
            {c.getValue()}
          </Anchor>
        ) : (
          c.getValue()
        ),
    }),
    column.accessor("environment", { header: "Environment", cell: (c) => c.getValue() ?? "—" }),
    column.accessor("region", { header: "Region" }),
    column.accessor("timezone", { header: "Time zone" }),
    column.accessor("your_grants", {
      header: "Your access",
      enableSorting: false,
      cell: (c) => c.getValue().map((g) => `${roleLabel(g.role)} (${g.source})`).join(", ") || "None",
    }),
  ];
  const mayCreate = org.data?.your_permissions.includes("create_projects") ?? false;
  return (
    <Screen title="Projects">
      <QueryView query={projects}>{(rows) => <DataTable data={rows} columns={columns} label="Projects" testId="projects" />}</QueryView>
      {org.data &&
        (mayCreate ? (
          <Stack gap="xs" component="section" aria-label="New project">
            <Title order={2} size="h4">
              New project
            </Title>
            <form
              onSubmit={(event) => {
                event.preventDefault();
                create.mutate();
              }}
            >
              <Group align="flex-end">
                <TextInput id="project-name" label="Name" required value={form.name} onChange={(e) => setForm({ ...form, name: e.currentTarget.value })} />
                <TextInput id="project-timezone" label="Time zone" description="IANA name, e.g. Europe/Paris" value={form.timezone} onChange={(e) => setForm({ ...form, timezone: e.currentTarget.value })} />
                <Select
                  id="project-region"
                  label="Data residency"
                  data={[
                    { value: "us", label: "US" },
                    { value: "eu", label: "EU" },
                    { value: "in", label: "India" },
                  ]}
                  value={form.region}
                  onChange={(v) => v && setForm({ ...form, region: v })}
                  allowDeselect={false}
                />
                <Select
                  id="project-environment"
                  label="Environment"
                  data={[
                    { value: "production", label: "Production" },
                    { value: "development", label: "Development" },
                  ]}
                  value={form.environment}
                  onChange={(v) => v && setForm({ ...form, environment: v })}
                  allowDeselect={false}
                />
                <Button type="submit" loading={create.isPending} id="project-create">
                  Create project
                </Button>
              </Group>
            </form>
            {create.error && <ErrorNote error={create.error} />}
          </Stack>
        ) : (
          <NotAllowed>Only Owners and Admins of the organization create projects.</NotAllowed>
        ))}
    </Screen>
  );
}
