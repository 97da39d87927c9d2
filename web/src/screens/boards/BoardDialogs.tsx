// A board's dialogs: sharing (people, teams and everyone in the project), public links
// (made with or without a passcode, the passcode shown once, in a data view when there is a
// choice; revoked), giving the board to someone else, and confirming what cannot be undone.
import { type ReactNode, useEffect, useMemo, useState } from "react";
import { ActionIcon, Alert, Button, Checkbox, Code, Group, Modal, Select, Stack, Table, Text, VisuallyHidden } from "@mantine/core";
import { useMutation, useQueryClient } from "@tanstack/react-query";
import { del, messageOf, post, put } from "../../api/client";
import { ALL_PROJECT_DATA, effectiveDataView, useChosenDataView } from "../../api/dataViews";
import { useDataViews } from "../../api/hooks";
import type { Body } from "../../api/types";
import {
  type BoardDetail,
  type PublicLink,
  type Share,
  PROJECT_ACCESS,
  SHARE_ACCESS,
  shareKey,
  withShare,
  withoutShare,
} from "../../api/boards";
import { Copyable, Empty, ErrorNote, Loading, when } from "../common";
import { base, keys, memberName, useMembers, usePublicBoards, usePublicLinks, useTeams } from "./queries";

const closeLabel = { "aria-label": "Close" };

/** Asks before something that cannot be undone. */
export function ConfirmDialog({
  opened,
  onClose,
  title,
  children,
  confirm,
  onConfirm,
}: {
  opened: boolean;
  onClose: () => void;
  title: string;
  children: ReactNode;
  confirm: string;
  onConfirm: () => Promise<unknown>;
}) {
  const act = useMutation({ mutationFn: onConfirm, onSuccess: onClose });
  useEffect(() => {
    if (opened) act.reset();
  }, [opened]); // eslint-disable-line react-hooks/exhaustive-deps
  return (
    <Modal opened={opened} onClose={onClose} title={title} closeButtonProps={closeLabel}>
      <Stack>
        {children}
        {act.error && <ErrorNote error={act.error} />}
        <Group justify="flex-end">
          <Button variant="default" onClick={onClose}>
            Cancel
          </Button>
          <Button color="red" onClick={() => act.mutate()} loading={act.isPending}>
            {confirm}
          </Button>
        </Group>
      </Stack>
    </Modal>
  );
}

/** Who a board is shared with, and everyone in the project's access (its editors who may share). */
export function ShareDialog({
  projectId,
  orgId,
  board,
  opened,
  onClose,
}: {
  projectId: number;
  orgId: number | undefined;
  board: BoardDetail;
  opened: boolean;
  onClose: () => void;
}) {
  const queryClient = useQueryClient();
  const members = useMembers(projectId, opened);
  const teams = useTeams(opened ? orgId : undefined);
  const [shares, setShares] = useState<Share[]>(board.shares);
  const [projectAccess, setProjectAccess] = useState<string>(board.project_access);
  const [pick, setPick] = useState<string | null>(null);
  const [access, setAccess] = useState<string>("viewer");
  const save = useMutation({
    mutationFn: () => put<BoardDetail>(`${base(projectId)}/boards/${board.id}/sharing`, { shares, project_access: projectAccess }),
    onSuccess: (detail) => {
      queryClient.setQueryData(keys.board(projectId, board.id), detail);
      queryClient.invalidateQueries({ queryKey: keys.boards(projectId) });
      onClose();
    },
  });
  useEffect(() => {
    if (!opened) return;
    setShares(board.shares);
    setProjectAccess(board.project_access);
    setPick(null);
    setAccess("viewer");
    save.reset();
  }, [opened]); // eslint-disable-line react-hooks/exhaustive-deps
  const nameOf = (share: Share) =>
    share.team_id != null ? `Team ${teams.data?.find((t) => t.id === share.team_id)?.name ?? share.team_id}` : memberName(members.data, share.user_id);
  const taken = new Set(shares.map(shareKey));
  const options = useMemo(
    () => [
      {
        group: "People",
        items: (members.data ?? [])
          .filter((m) => m.principal.type === "user" && m.principal.id !== board.owner_id)
          .map((m) => ({ value: `user:${m.principal.id}`, label: m.label })),
      },
      { group: "Teams", items: (teams.data ?? []).map((t) => ({ value: `team:${t.id}`, label: `Team ${t.name}` })) },
    ],
    [members.data, teams.data, board.owner_id],
  );
  const available = options.map((g) => ({ ...g, items: g.items.filter((i) => !taken.has(i.value)) })).filter((g) => g.items.length > 0);
  return (
    <Modal opened={opened} onClose={onClose} title="Share board" size="lg" closeButtonProps={closeLabel}>
      <Stack>
        <Select
          id="share-project-access"
          label="Everyone in the project"
          description="What every member of the project may do with this board"
          data={PROJECT_ACCESS}
          value={projectAccess}
          onChange={(value) => value && setProjectAccess(value)}
          allowDeselect={false}
        />
        <Text fw={600} size="sm">
          Shared with
        </Text>
        {members.isPending && <Loading label="Loading the project's members…" />}
        {members.isError && <ErrorNote error={members.error} title="The project's members cannot be listed" />}
        {shares.length === 0 ? (
          <Empty>Nobody yet besides its owner.</Empty>
        ) : (
          <Table aria-label="Shared with" data-testid="board-shares">
            <Table.Tbody>
              {shares.map((share) => {
                const key = shareKey(share);
                const name = nameOf(share);
                return (
                  <Table.Tr key={key} data-share={key}>
                    <Table.Td>{name}</Table.Td>
                    <Table.Td>
                      <Select
                        aria-label={`Access of ${name}`}
                        data={SHARE_ACCESS}
                        value={share.access}
                        onChange={(value) => value && setShares(withShare(shares, key, value))}
                        allowDeselect={false}
                        w={140}
                      />
                    </Table.Td>
                    <Table.Td>
                      <ActionIcon variant="subtle" color="gray" aria-label={`Remove ${name}`} onClick={() => setShares(withoutShare(shares, key))}>
                        ×
                      </ActionIcon>
                    </Table.Td>
                  </Table.Tr>
                );
              })}
            </Table.Tbody>
          </Table>
        )}
        <Group align="flex-end" gap="xs">
          <Select
            id="share-pick"
            label="User or team"
            placeholder={available.length ? "Choose someone" : "Nobody else to add"}
            data={available}
            value={pick}
            onChange={setPick}
            searchable
            nothingFoundMessage="No such member or team"
            w={240}
          />
          <Select
            id="share-access"
            label="Access"
            data={SHARE_ACCESS}
            value={access}
            onChange={(value) => value && setAccess(value)}
            allowDeselect={false}
            w={140}
          />
          <Button
            variant="default"
            disabled={!pick}
            onClick={() => {
              if (!pick) return;
              setShares(withShare(shares, pick, access));
              setPick(null);
            }}
          >
            Add person or team
          </Button>
        </Group>
        {teams.isError && <Text size="sm" c="dimmed">Teams cannot be listed: {messageOf(teams.error)}</Text>}
        {save.error && <ErrorNote error={save.error} />}
        <Group justify="flex-end">
          <Button variant="default" onClick={onClose}>
            Cancel
          </Button>
          <Button onClick={() => save.mutate()} loading={save.isPending}>
            Save sharing
          </Button>
        </Group>
      </Stack>
    </Modal>
  );
}

/** Public links to a board: make one (with a passcode, shown this once), see and revoke them. */
export function PublicLinkDialog({
  projectId,
  board,
  opened,
  onClose,
}: {
  projectId: number;
  board: BoardDetail;
  opened: boolean;
  onClose: () => void;
}) {
  const queryClient = useQueryClient();
  const feature = usePublicBoards(projectId);
  const links = usePublicLinks(projectId, opened);
  const views = useDataViews(projectId, opened);
  const chosenView = useChosenDataView(projectId);
  const [passcode, setPasscode] = useState(false);
  const [viewPick, setViewPick] = useState<string | null>(null);
  // With a choice of views, the link shows the one picked (at first, the one being read).
  const viewList = views.data && views.data.length > 1 ? views.data : [];
  const viewId = viewPick ?? (viewList.length > 0 ? String(effectiveDataView(viewList, chosenView)?.id ?? "") : null);
  const make = useMutation({
    mutationFn: () =>
      post<PublicLink>(`${base(projectId)}/boards/${board.id}/public-links`, {
        passcode,
        ...(viewId ? { view_id: Number(viewId) } : {}),
      } satisfies Body<"PublicLinkBody">),
    onSuccess: () => queryClient.invalidateQueries({ queryKey: keys.publicLinks(projectId) }),
  });
  const revoke = useMutation({
    mutationFn: (id: number) => del(`${base(projectId)}/public-links/${id}`),
    onSuccess: () => queryClient.invalidateQueries({ queryKey: keys.publicLinks(projectId) }),
  });
  useEffect(() => {
    if (!opened) return;
    make.reset();
    revoke.reset();
    setPasscode(false);
    setViewPick(null);
  }, [opened]); // eslint-disable-line react-hooks/exhaustive-deps
  const mine = (links.data ?? []).filter((link) => link.board_id === board.id);
  const enabled = feature.data?.enabled ?? true;
  return (
    <Modal opened={opened} onClose={onClose} title="Public link" size="lg" closeButtonProps={closeLabel}>
      <Stack>
        <Text size="sm">Anyone with a public link sees this board and its reports without signing in.</Text>
        {feature.data && !enabled ? (
          <Alert color="yellow" title="Public links are turned off" data-testid="public-links-off">
            The project's Owner turns them on in Project settings, under Boards.
          </Alert>
        ) : (
          <Group align="flex-end">
            {viewList.length > 0 && (
              <Select
                id="public-link-view"
                label="Data view"
                description="What the link shows (never classified values)"
                data={viewList.map((v) => ({ value: String(v.id), label: v.name }))}
                value={viewId}
                onChange={(value) => value && setViewPick(value)}
                allowDeselect={false}
                w={240}
              />
            )}
            <Checkbox id="public-link-passcode" label="Protect with a passcode" checked={passcode} onChange={(e) => setPasscode(e.currentTarget.checked)} />
            <Button onClick={() => make.mutate()} loading={make.isPending}>
              Make a link
            </Button>
          </Group>
        )}
        {make.data && (
          <Alert color="green" title="Link made" data-testid="public-link-made">
            <Stack gap="xs">
              <Copyable label="Link" value={make.data.url} testId="public-link-url" />
              {make.data.passcode && (
                <>
                  <Copyable label="Passcode" value={make.data.passcode} testId="public-link-passcode" />
                  <Text size="sm" fw={600} c="red.9" role="alert">
                    Copy the passcode now: it cannot be shown again.
                  </Text>
                </>
              )}
            </Stack>
          </Alert>
        )}
        {make.error && <ErrorNote error={make.error} />}
        <Text fw={600} size="sm">
          Links to this board
        </Text>
        {links.isPending ? (
          <Loading />
        ) : links.isError ? (
          <ErrorNote error={links.error} />
        ) : mine.length === 0 ? (
          <Empty>No public link to this board.</Empty>
        ) : (
          <PublicLinkTable
            links={mine}
            onRevoke={(id) => revoke.mutate(id)}
            revoking={revoke.isPending ? revoke.variables : undefined}
            viewName={viewList.length > 0 ? (id) => viewList.find((v) => v.id === (id ?? ALL_PROJECT_DATA))?.name ?? `View ${id}` : undefined}
          />
        )}
        {revoke.error && <ErrorNote error={revoke.error} />}
      </Stack>
    </Modal>
  );
}

/** Public links with their address, passcode protection, maker and date, each revocable. */
export function PublicLinkTable({
  links,
  onRevoke,
  revoking,
  boardName,
  makerName,
  viewName,
}: {
  links: PublicLink[];
  onRevoke: (id: number) => void;
  revoking?: number;
  boardName?: (boardId: number) => ReactNode;
  makerName?: (userId: number | null | undefined) => string;
  viewName?: (viewId: number | null | undefined) => string;
}) {
  return (
    <Table.ScrollContainer minWidth={480}>
      <Table aria-label="Public links" data-testid="public-links">
        <Table.Thead>
          <Table.Tr>
            {boardName && <Table.Th>Board</Table.Th>}
            <Table.Th>Address</Table.Th>
            <Table.Th>Passcode</Table.Th>
            {viewName && <Table.Th>Data view</Table.Th>}
            {makerName && <Table.Th>Made by</Table.Th>}
            <Table.Th>Made</Table.Th>
            <Table.Th>
              <VisuallyHidden>Actions</VisuallyHidden>
            </Table.Th>
          </Table.Tr>
        </Table.Thead>
        <Table.Tbody>
          {links.map((link) => (
            <Table.Tr key={link.id} data-link={link.id}>
              {boardName && <Table.Td>{boardName(link.board_id)}</Table.Td>}
              <Table.Td>
                <Code style={{ overflowWrap: "anywhere" }}>{link.url}</Code>
              </Table.Td>
              <Table.Td>{link.passcode_protected ? "Yes" : "No"}</Table.Td>
              {viewName && <Table.Td>{viewName(link.view_id)}</Table.Td>}
              {makerName && <Table.Td>{makerName(link.created_by)}</Table.Td>}
              <Table.Td>{when(link.created_at)}</Table.Td>
              <Table.Td>
                <Button size="compact-sm" variant="light" color="red" aria-label={`Revoke link ${link.id}`} loading={revoking === link.id} onClick={() => onRevoke(link.id)}>
                  Revoke
                </Button>
              </Table.Td>
            </Table.Tr>
          ))}
        </Table.Tbody>
      </Table>
    </Table.ScrollContainer>
  );
}

/** Gives the board to another member of the project. */
export function TransferDialog({
  projectId,
  board,
  opened,
  onClose,
}: {
  projectId: number;
  board: BoardDetail;
  opened: boolean;
  onClose: () => void;
}) {
  const queryClient = useQueryClient();
  const members = useMembers(projectId, opened);
  const [owner, setOwner] = useState<string | null>(null);
  const transfer = useMutation({
    mutationFn: () => post<BoardDetail>(`${base(projectId)}/boards/${board.id}/transfer`, { owner_id: Number(owner) }),
    onSuccess: (detail) => {
      queryClient.setQueryData(keys.board(projectId, board.id), detail);
      queryClient.invalidateQueries({ queryKey: keys.boards(projectId) });
      onClose();
    },
  });
  useEffect(() => {
    if (!opened) return;
    setOwner(null);
    transfer.reset();
  }, [opened]); // eslint-disable-line react-hooks/exhaustive-deps
  const people = (members.data ?? [])
    .filter((m) => m.principal.type === "user" && m.principal.id !== board.owner_id)
    .map((m) => ({ value: String(m.principal.id), label: m.label }));
  return (
    <Modal opened={opened} onClose={onClose} title="Transfer the board" closeButtonProps={closeLabel}>
      <Stack>
        <Text size="sm">
          The new owner may change, share, give away and delete it. It is now {memberName(members.data, board.owner_id)}'s.
        </Text>
        {members.isError ? (
          <ErrorNote error={members.error} title="The project's members cannot be listed" />
        ) : (
          <Select
            id="transfer-owner"
            label="New owner"
            placeholder={members.isPending ? "Loading…" : "Choose a member"}
            data={people}
            value={owner}
            onChange={setOwner}
            searchable
          />
        )}
        {transfer.error && <ErrorNote error={transfer.error} />}
        <Group justify="flex-end">
          <Button variant="default" onClick={onClose}>
            Cancel
          </Button>
          <Button onClick={() => transfer.mutate()} disabled={!owner} loading={transfer.isPending}>
            Make them the owner
          </Button>
        </Group>
      </Stack>
    </Modal>
  );
}
