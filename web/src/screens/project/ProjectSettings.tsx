// Project settings › Overview: id, region, time zone; the token for SDKs and the API
// secret only for those allowed to see access keys; renaming, the time zone and the ID
// merge mode for those who may edit the settings; reset, transfer and delete for those who
// may, each confirmed by typing the project's name; boards' default access and public links.
import { useEffect, useState } from "react";
import { Alert, Button, Card, Code, Group, Select, Stack, Table, Text, TextInput, Title } from "@mantine/core";
import { useMutation, useQuery, useQueryClient } from "@tanstack/react-query";
import { useNavigate, useParams } from "react-router-dom";
import { del, get, patch, post } from "../../api/client";
import { mayInProject, useCurrent, useMe } from "../../api/hooks";
import type { Body, Keys, ProjectSettings as Settings } from "../../api/types";
import { ErrorNote, NotAllowed, QueryView, Screen, when } from "../common";
import { BoardsSettings } from "../boards/BoardsSettings";

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
          <>
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
            {s.your_permissions.includes("edit_project_settings") ? (
              <EditSettings settings={s} />
            ) : (
              <NotAllowed>Only the project's Owners and Admins change its settings.</NotAllowed>
            )}
          </>
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
      <BoardsSettings projectId={projectId} />
      {settings.data && <DangerZone settings={settings.data} />}
    </Screen>
  );
}

function EditSettings({ settings }: { settings: Settings }) {
  const queryClient = useQueryClient();
  const [form, setForm] = useState({ name: settings.name, timezone: settings.timezone, id_merge: settings.id_merge });
  useEffect(() => setForm({ name: settings.name, timezone: settings.timezone, id_merge: settings.id_merge }), [settings]);
  const save = useMutation({
    mutationFn: () => {
      const body: Body<"ProjectUpdateBody"> = {};
      if (form.name !== settings.name) body.name = form.name;
      if (form.timezone !== settings.timezone) body.timezone = form.timezone;
      if (form.id_merge !== settings.id_merge) body.id_merge = form.id_merge;
      return patch(`/api/app/projects/${settings.id}`, body);
    },
    onSuccess: () => {
      queryClient.invalidateQueries({ queryKey: ["project", settings.id] });
      queryClient.invalidateQueries({ queryKey: ["me"] });
    },
  });
  return (
    <Card withBorder component="section" aria-label="Edit the project">
      <Title order={2} size="h4">Edit</Title>
      <form
        onSubmit={(event) => {
          event.preventDefault();
          save.mutate();
        }}
      >
        <Group align="flex-end" mt="xs">
          <TextInput id="project-edit-name" label="Name" value={form.name} onChange={(e) => setForm({ ...form, name: e.currentTarget.value })} required />
          <TextInput
            id="project-edit-timezone"
            label="Time zone"
            description="IANA name; reports count days in it"
            value={form.timezone}
            onChange={(e) => setForm({ ...form, timezone: e.currentTarget.value })}
            required
          />
          <Select
            id="project-edit-id-merge"
            label="ID merge"
            description="Only while the project has no data"
            data={[
              { value: "simplified", label: "Simplified" },
              { value: "original", label: "Original" },
            ]}
            value={form.id_merge}
            onChange={(value) => value && setForm({ ...form, id_merge: value as Settings["id_merge"] })}
            allowDeselect={false}
          />
          <Button type="submit" loading={save.isPending} id="project-edit-save">
            Save
          </Button>
        </Group>
      </form>
      {save.isSuccess && <Alert color="green" mt="xs">Saved.</Alert>}
      {save.error && <ErrorNote error={save.error} />}
    </Card>
  );
}

/** Reset, transfer and delete: each asks for the project's name typed out. */
function DangerZone({ settings }: { settings: Settings }) {
  const may = (permission: string) => settings.your_permissions.includes(permission);
  const navigate = useNavigate();
  const queryClient = useQueryClient();
  const { data: me } = useMe();
  const [typed, setTyped] = useState("");
  const [target, setTarget] = useState<string | null>(null);
  const confirmed = typed === settings.name;
  const act = useMutation({
    mutationFn: (action: () => Promise<unknown>) => action(),
    onSuccess: () => {
      setTyped("");
      queryClient.invalidateQueries();
    },
  });
  if (!may("reset_project") && !may("delete_project") && !may("transfer_project")) return null;
  const otherOrgs = (me?.organizations ?? [])
    .filter((o) => o.id !== settings.organization_id && !o.sign_in_required)
    .map((o) => ({ value: String(o.id), label: o.name }));
  return (
    <Card withBorder component="section" aria-label="Danger zone">
      <Title order={2} size="h4" c="red.9">
        Danger zone
      </Title>
      <Stack gap="sm" mt="xs">
        <TextInput
          id="danger-confirm"
          label={`Type the project's name (${settings.name}) to confirm`}
          value={typed}
          onChange={(e) => setTyped(e.currentTarget.value)}
          maw={360}
        />
        <Group>
          {may("reset_project") && (
            <Button color="red" variant="light" disabled={!confirmed} loading={act.isPending} onClick={() => act.mutate(() => post(`/api/app/projects/${settings.id}/reset`))}>
              Reset: delete all its data
            </Button>
          )}
          {may("delete_project") && (
            <Button
              color="red"
              disabled={!confirmed}
              loading={act.isPending}
              onClick={() =>
                act.mutate(async () => {
                  await del(`/api/app/projects/${settings.id}`);
                  navigate("/");
                })
              }
            >
              Delete the project
            </Button>
          )}
        </Group>
        {may("transfer_project") && otherOrgs.length > 0 && (
          <Group align="flex-end">
            <Select id="transfer-org" label="Move to another organization of yours" data={otherOrgs} value={target} onChange={setTarget} w={280} />
            <Button
              color="red"
              variant="light"
              disabled={!confirmed || !target}
              onClick={() =>
                act.mutate(() => post(`/api/app/projects/${settings.id}/transfer`, { organization_id: Number(target) } satisfies Body<"TransferBody">))
              }
            >
              Transfer
            </Button>
          </Group>
        )}
        {act.isSuccess && <Alert color="green">Done.</Alert>}
        {act.error && <ErrorNote error={act.error} />}
      </Stack>
    </Card>
  );
}
