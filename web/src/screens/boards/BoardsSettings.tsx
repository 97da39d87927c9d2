// Project settings › Boards: the access everyone in the project has to boards that set none
// (changed by those who may edit the settings), public board links on or off (the project's
// Owner; off revokes every link), and every public link, each revocable.
import { useEffect, useState } from "react";
import { Alert, Anchor, Button, Card, Group, Select, Stack, Switch, Text, Title } from "@mantine/core";
import { useMutation, useQueryClient } from "@tanstack/react-query";
import { Link } from "react-router-dom";
import { del, put } from "../../api/client";
import { mayInProject, useCurrent } from "../../api/hooks";
import { PROJECT_ACCESS } from "../../api/boards";
import { Empty, ErrorNote, Loading, NotAllowed } from "../common";
import { PublicLinkTable } from "./BoardDialogs";
import { base, keys, memberName, useBoardSettings, useBoards, useMembers, usePublicBoards, usePublicLinks } from "./queries";

export function BoardsSettings({ projectId }: { projectId: number }) {
  const { project } = useCurrent();
  const may = (permission: string) => mayInProject(project, permission);
  if (!may("view_reports")) return null;
  return (
    <Card withBorder component="section" aria-label="Boards" data-testid="boards-settings">
      <Title order={2} size="h4">
        Boards
      </Title>
      <Stack gap="md" mt="xs">
        <DefaultAccess projectId={projectId} mayEdit={may("edit_project_settings")} />
        <PublicBoards projectId={projectId} mayManage={may("manage_public_boards_feature")} />
        {may("make_boards_public") ? (
          <PublicLinks projectId={projectId} />
        ) : (
          <NotAllowed>Your role may not make public links, so it does not list them.</NotAllowed>
        )}
      </Stack>
    </Card>
  );
}

function DefaultAccess({ projectId, mayEdit }: { projectId: number; mayEdit: boolean }) {
  const queryClient = useQueryClient();
  const settings = useBoardSettings(projectId);
  const [value, setValue] = useState<string | null>(null);
  useEffect(() => {
    if (settings.data) setValue(settings.data.default_access);
  }, [settings.data]);
  const save = useMutation({
    mutationFn: (access: string) => put<{ default_access: string }>(`${base(projectId)}/board-settings`, { default_access: access }),
    onSuccess: (data) => {
      queryClient.setQueryData(keys.boardSettings(projectId), data);
      queryClient.invalidateQueries({ queryKey: keys.boards(projectId) });
    },
  });
  if (settings.isPending) return <Loading />;
  if (settings.isError) return <ErrorNote error={settings.error} />;
  const label = (access: string) => PROJECT_ACCESS.find((a) => a.value === access)?.label ?? access;
  return (
    <Stack gap="xs">
      {mayEdit ? (
        <form
          onSubmit={(event) => {
            event.preventDefault();
            if (value) save.mutate(value);
          }}
        >
          <Group align="flex-end">
            <Select
              id="board-default-access"
              label="Default board access"
              description="What everyone in the project may do with a board that sets nothing itself"
              data={PROJECT_ACCESS}
              value={value}
              onChange={setValue}
              allowDeselect={false}
              w={320}
            />
            <Button type="submit" variant="default" loading={save.isPending} disabled={!value || value === settings.data.default_access}>
              Save default access
            </Button>
          </Group>
        </form>
      ) : (
        <>
          <Text size="sm">
            Default board access: <b data-testid="board-default-access">{label(settings.data.default_access)}</b>
          </Text>
          <NotAllowed>Only those who may edit the project's settings change the default board access.</NotAllowed>
        </>
      )}
      {save.isSuccess && <Alert color="green">Saved.</Alert>}
      {save.error && <ErrorNote error={save.error} />}
    </Stack>
  );
}

function PublicBoards({ projectId, mayManage }: { projectId: number; mayManage: boolean }) {
  const queryClient = useQueryClient();
  const feature = usePublicBoards(projectId);
  const [confirming, setConfirming] = useState(false);
  const set = useMutation({
    mutationFn: (enabled: boolean) => put<{ enabled: boolean }>(`${base(projectId)}/public-boards`, { enabled }),
    onSuccess: (data) => {
      setConfirming(false);
      queryClient.setQueryData(keys.publicBoards(projectId), data);
      queryClient.invalidateQueries({ queryKey: keys.publicLinks(projectId) });
    },
  });
  if (feature.isPending) return <Loading />;
  if (feature.isError) return <ErrorNote error={feature.error} />;
  const enabled = feature.data.enabled;
  return (
    <Stack gap="xs">
      {mayManage ? (
        <Switch
          id="public-boards"
          label="Public board links"
          description="Links that open a board to anyone, signed out. Turning them off revokes every link."
          checked={enabled}
          disabled={set.isPending}
          onChange={(event) => (event.currentTarget.checked ? set.mutate(true) : setConfirming(true))}
        />
      ) : (
        <>
          <Text size="sm">
            Public board links are <b data-testid="public-boards-state">{enabled ? "on" : "off"}</b>.
          </Text>
          <NotAllowed>Only the project's Owner turns public board links on or off.</NotAllowed>
        </>
      )}
      {confirming && (
        <Alert color="red" title="Turn public links off?" data-testid="public-boards-confirm">
          <Stack gap="xs">
            <Text size="sm">Every public link to this project's boards stops working, for good.</Text>
            <Group gap="xs">
              <Button color="red" size="compact-sm" onClick={() => set.mutate(false)} loading={set.isPending}>
                Turn off and revoke every link
              </Button>
              <Button variant="default" size="compact-sm" onClick={() => setConfirming(false)}>
                Keep them on
              </Button>
            </Group>
          </Stack>
        </Alert>
      )}
      {set.error && <ErrorNote error={set.error} />}
    </Stack>
  );
}

function PublicLinks({ projectId }: { projectId: number }) {
  const queryClient = useQueryClient();
  const links = usePublicLinks(projectId);
  const boards = useBoards(projectId);
  const { project } = useCurrent();
  const members = useMembers(projectId, mayInProject(project, "view_project_settings"));
  const revoke = useMutation({
    mutationFn: (id: number) => del(`${base(projectId)}/public-links/${id}`),
    onSuccess: () => queryClient.invalidateQueries({ queryKey: keys.publicLinks(projectId) }),
  });
  const boardName = (boardId: number) => {
    const board = boards.data?.find((b) => b.id === boardId);
    return (
      <Anchor component={Link} to={`/projects/${projectId}/boards/${boardId}`}>
        {board?.title ?? `Board ${boardId}`}
      </Anchor>
    );
  };
  return (
    <Stack gap="xs">
      <Title order={3} size="h5">
        Public links
      </Title>
      {links.isPending ? (
        <Loading />
      ) : links.isError ? (
        <ErrorNote error={links.error} />
      ) : links.data.length === 0 ? (
        <Empty>No board has a public link.</Empty>
      ) : (
        <PublicLinkTable
          links={links.data}
          onRevoke={(id) => revoke.mutate(id)}
          revoking={revoke.isPending ? revoke.variables : undefined}
          boardName={boardName}
          makerName={(userId) => memberName(members.data, userId)}
        />
      )}
      {revoke.error && <ErrorNote error={revoke.error} />}
    </Stack>
  );
}
