// Project settings › Roles: the project's custom roles (up to five), each a set of the
// project permissions the server lists; create, edit, delete (holders become Consumers) and
// copy to another project where the caller also manages roles.
import { useState } from "react";
import { Badge, Button, Card, Checkbox, Group, Select, SimpleGrid, Stack, Text, TextInput, Title } from "@mantine/core";
import { useMutation, useQuery, useQueryClient } from "@tanstack/react-query";
import { useParams } from "react-router-dom";
import { del, get, post, put } from "../../api/client";
import { mayInProject, useCurrent } from "../../api/hooks";
import type { Body, CustomRole, PermissionCatalog } from "../../api/types";
import { Empty, ErrorNote, NotAllowed, QueryView, Screen } from "../common";

/** `view_reports` → "View reports". */
export function permissionLabel(name: string): string {
  const words = name.replace(/_/g, " ");
  return words.charAt(0).toUpperCase() + words.slice(1);
}

export function CustomRoles() {
  const projectId = Number(useParams().projectId);
  const { project, org } = useCurrent();
  const manage = mayInProject(project, "manage_custom_roles");
  const queryClient = useQueryClient();
  const roles = useQuery({
    queryKey: ["project", projectId, "custom-roles"],
    queryFn: ({ signal }) => get<CustomRole[]>(`/api/app/projects/${projectId}/custom-roles`, signal),
  });
  const catalog = useQuery({
    queryKey: ["permissions"],
    queryFn: ({ signal }) => get<PermissionCatalog>("/api/app/permissions", signal),
    staleTime: Infinity,
  });
  const [editing, setEditing] = useState<CustomRole | "new" | null>(null);
  const refresh = () => queryClient.invalidateQueries({ queryKey: ["project", projectId] });
  const act = useMutation({ mutationFn: (action: () => Promise<unknown>) => action(), onSuccess: refresh });
  const [copyTo, setCopyTo] = useState<Record<string, string | null>>({});
  const otherProjects = (org?.projects ?? []).filter((p) => p.id !== projectId && p.permissions.includes("manage_custom_roles"));
  return (
    <Screen
      title="Roles"
      actions={
        manage && editing === null ? (
          <Button id="role-new" onClick={() => setEditing("new")}>
            New role
          </Button>
        ) : undefined
      }
    >
      {!manage && <NotAllowed>Only the project's Owners and Admins manage its custom roles.</NotAllowed>}
      {editing !== null && catalog.data && (
        <RoleForm
          projectId={projectId}
          role={editing === "new" ? null : editing}
          permissions={catalog.data.project}
          descriptions={catalog.data.descriptions}
          onDone={() => {
            setEditing(null);
            refresh();
          }}
        />
      )}
      {catalog.error && <ErrorNote error={catalog.error} />}
      {act.error && <ErrorNote error={act.error} />}
      <QueryView query={roles}>
        {(list) =>
          list.length === 0 ? (
            <Empty>No custom role yet: everyone here has Owner, Admin, Analyst or Consumer.</Empty>
          ) : (
            <SimpleGrid cols={{ base: 1, md: 2 }}>
              {list.map((role) => (
                <Card withBorder key={role.id} data-testid={`role-${role.name}`} component="section" aria-label={`Role ${role.name}`}>
                  <Group justify="space-between">
                    <Title order={2} size="h4">
                      {role.name}
                    </Title>
                    <Badge variant="light">{role.permissions.length} permissions</Badge>
                  </Group>
                  {role.description && <Text size="sm">{role.description}</Text>}
                  <Text size="xs" c="dimmed" mt="xs">
                    {role.permissions.map(permissionLabel).join(", ")}
                  </Text>
                  {manage && (
                    <Group mt="sm" gap="xs" align="flex-end">
                      <Button size="compact-sm" variant="default" onClick={() => setEditing(role)}>
                        Edit
                      </Button>
                      <Button
                        size="compact-sm"
                        color="red"
                        variant="light"
                        onClick={() =>
                          window.confirm(`Delete ${role.name}? Whoever holds it becomes a Consumer.`) &&
                          act.mutate(() => del(`/api/app/projects/${projectId}/custom-roles/${role.id}`))
                        }
                      >
                        Delete
                      </Button>
                      {otherProjects.length > 0 && (
                        <>
                          <Select
                            aria-label={`Project to copy ${role.name} to`}
                            placeholder="Copy to…"
                            data={otherProjects.map((p) => ({ value: String(p.id), label: p.name }))}
                            value={copyTo[role.id] ?? null}
                            onChange={(value) => setCopyTo({ ...copyTo, [role.id]: value })}
                            size="xs"
                            w={160}
                          />
                          <Button
                            size="compact-sm"
                            variant="default"
                            disabled={!copyTo[role.id]}
                            onClick={() =>
                              act.mutate(() =>
                                post(`/api/app/projects/${projectId}/custom-roles/${role.id}/copy`, {
                                  project_id: Number(copyTo[role.id]),
                                } satisfies Body<"CopyCustomRoleBody">),
                              )
                            }
                          >
                            Copy
                          </Button>
                        </>
                      )}
                    </Group>
                  )}
                </Card>
              ))}
            </SimpleGrid>
          )
        }
      </QueryView>
    </Screen>
  );
}

function RoleForm({
  projectId,
  role,
  permissions,
  descriptions,
  onDone,
}: {
  projectId: number;
  role: CustomRole | null;
  permissions: string[];
  descriptions: Record<string, string>;
  onDone: () => void;
}) {
  const [name, setName] = useState(role?.name ?? "");
  const [description, setDescription] = useState(role?.description ?? "");
  const [chosen, setChosen] = useState<string[]>(role?.permissions ?? ["view_reports"]);
  const save = useMutation({
    mutationFn: () => {
      const body: Body<"CustomRoleBody"> = { name, description, permissions: chosen };
      return role ? put(`/api/app/projects/${projectId}/custom-roles/${role.id}`, body) : post(`/api/app/projects/${projectId}/custom-roles`, body);
    },
    onSuccess: onDone,
  });
  return (
    <Card withBorder component="section" aria-label={role ? `Edit ${role.name}` : "New role"}>
      <form
        onSubmit={(event) => {
          event.preventDefault();
          save.mutate();
        }}
      >
        <Stack gap="sm">
          <Group grow>
            <TextInput id="role-name" label="Name" value={name} onChange={(e) => setName(e.currentTarget.value)} required />
            <TextInput id="role-description" label="Description" value={description} onChange={(e) => setDescription(e.currentTarget.value)} />
          </Group>
          <Checkbox.Group label="Permissions" value={chosen} onChange={setChosen}>
            <SimpleGrid cols={{ base: 1, sm: 2, lg: 3 }} mt="xs" spacing={6}>
              {permissions.map((permission) => (
                <Checkbox key={permission} value={permission} label={permissionLabel(permission)} description={descriptions[permission]} />
              ))}
            </SimpleGrid>
          </Checkbox.Group>
          {save.error && <ErrorNote error={save.error} />}
          <Group>
            <Button type="submit" loading={save.isPending} id="role-save">
              {role ? "Save" : "Create role"}
            </Button>
            <Button variant="default" onClick={onDone}>
              Cancel
            </Button>
          </Group>
        </Stack>
      </form>
    </Card>
  );
}
