// Boards: the boards the caller finds (their own, those shared with them, those open to the
// whole project), each nested under its parent; a new board for those who may make one; and
// the saved reports the caller may open, each opening in its analysis screen.
import { useState } from "react";
import { Anchor, Badge, Button, Card, Group, Modal, Select, Stack, Table, Text, Textarea, TextInput, Title } from "@mantine/core";
import { useMutation, useQueryClient } from "@tanstack/react-query";
import { Link, useNavigate, useParams } from "react-router-dom";
import { post } from "../../api/client";
import { mayInProject, useCurrent } from "../../api/hooks";
import { type Board, REPORT_TYPES, boardTree, parentChoices, reportPath } from "../../api/boards";
import { Empty, ErrorNote, NotAllowed, QueryView, Screen, when } from "../common";
import { base, keys, memberName, useBoards, useBookmarks, useMembers } from "./queries";

export function Boards() {
  const projectId = Number(useParams().projectId);
  const { project } = useCurrent();
  const may = (permission: string) => mayInProject(project, permission);
  const boards = useBoards(projectId);
  const bookmarks = useBookmarks(projectId);
  const members = useMembers(projectId, may("view_project_settings"));
  const [creating, setCreating] = useState(false);
  const titleOf = (id: number) => boards.data?.find((b) => b.id === id)?.title;
  return (
    <Screen
      title="Boards"
      actions={
        may("create_boards") && (
          <Button onClick={() => setCreating(true)} id="new-board">
            New board
          </Button>
        )
      }
    >
      {!may("create_boards") && <NotAllowed>Your role may not create boards.</NotAllowed>}
      {may("create_boards") && !may("share_entities") && <NotAllowed>Boards you make are private to you: your role may not share them.</NotAllowed>}
      <QueryView query={boards}>
        {(list) =>
          list.length === 0 ? (
            <Empty>No board yet. A board gathers saved reports and notes on one page.</Empty>
          ) : (
            <Table.ScrollContainer minWidth={560}>
              <Table striped aria-label="Boards" data-testid="boards">
                <Table.Thead>
                  <Table.Tr>
                    <Table.Th>Board</Table.Th>
                    <Table.Th>Your access</Table.Th>
                    <Table.Th>Owner</Table.Th>
                    <Table.Th>Changed</Table.Th>
                  </Table.Tr>
                </Table.Thead>
                <Table.Tbody>
                  {boardTree(list).map(({ board, depth }) => (
                    <Table.Tr key={board.id} data-board={board.title} data-depth={depth}>
                      <Table.Td style={{ paddingLeft: 12 + depth * 24 }}>
                        <Group gap={6} wrap="nowrap">
                          {depth > 0 && (
                            <Text span c="dimmed" aria-hidden>
                              ↳
                            </Text>
                          )}
                          <Anchor component={Link} to={`/projects/${projectId}/boards/${board.id}`}>
                            {board.title}
                          </Anchor>
                          {board.private && (
                            <Badge variant="light" color="gray" size="sm">
                              Private
                            </Badge>
                          )}
                        </Group>
                        {board.description && (
                          <Text size="sm" c="dimmed" lineClamp={1}>
                            {board.description}
                          </Text>
                        )}
                      </Table.Td>
                      <Table.Td>{board.your_access === "editor" ? "Can edit" : "Can view"}</Table.Td>
                      <Table.Td>{memberName(members.data, board.owner_id)}</Table.Td>
                      <Table.Td>{when(board.modified_at)}</Table.Td>
                    </Table.Tr>
                  ))}
                </Table.Tbody>
              </Table>
            </Table.ScrollContainer>
          )
        }
      </QueryView>
      <Card withBorder component="section" aria-label="Saved reports">
        <Stack gap="sm">
          <Title order={2} size="h4">
            Saved reports
          </Title>
          <QueryView query={bookmarks}>
            {(list) =>
              list.length === 0 ? (
                <Empty>No saved report yet. Save one from Insights, Funnels, Retention or Flows with “Save report”.</Empty>
              ) : (
                <Table.ScrollContainer minWidth={480}>
                  <Table striped aria-label="Saved reports" data-testid="saved-reports">
                    <Table.Thead>
                      <Table.Tr>
                        <Table.Th>Report</Table.Th>
                        <Table.Th>Kind</Table.Th>
                        <Table.Th>Board</Table.Th>
                        <Table.Th>Changed</Table.Th>
                      </Table.Tr>
                    </Table.Thead>
                    <Table.Tbody>
                      {[...list]
                        .sort((a, b) => a.name.localeCompare(b.name))
                        .map((bookmark) => (
                          <Table.Tr key={bookmark.id} data-bookmark={bookmark.name}>
                            <Table.Td>
                              <Anchor component={Link} to={reportPath(projectId, bookmark.report)}>
                                {bookmark.name}
                              </Anchor>
                            </Table.Td>
                            <Table.Td>{REPORT_TYPES[bookmark.type] ?? bookmark.type}</Table.Td>
                            <Table.Td>
                              {titleOf(bookmark.board_id) ? (
                                <Anchor component={Link} to={`/projects/${projectId}/boards/${bookmark.board_id}`}>
                                  {titleOf(bookmark.board_id)}
                                </Anchor>
                              ) : (
                                "—"
                              )}
                            </Table.Td>
                            <Table.Td>{when(bookmark.modified_at)}</Table.Td>
                          </Table.Tr>
                        ))}
                    </Table.Tbody>
                  </Table>
                </Table.ScrollContainer>
              )
            }
          </QueryView>
        </Stack>
      </Card>
      {may("create_boards") && <NewBoardDialog projectId={projectId} boards={boards.data ?? []} opened={creating} onClose={() => setCreating(false)} />}
    </Screen>
  );
}

function NewBoardDialog({ projectId, boards, opened, onClose }: { projectId: number; boards: Board[]; opened: boolean; onClose: () => void }) {
  const queryClient = useQueryClient();
  const navigate = useNavigate();
  const [title, setTitle] = useState("");
  const [description, setDescription] = useState("");
  const [parent, setParent] = useState<string | null>(null);
  const create = useMutation({
    mutationFn: () => post<Board>(`${base(projectId)}/boards`, { title, description, parent_id: parent ? Number(parent) : null }),
    onSuccess: (board) => {
      queryClient.invalidateQueries({ queryKey: keys.boards(projectId) });
      setTitle("");
      setDescription("");
      setParent(null);
      onClose();
      navigate(`/projects/${projectId}/boards/${board.id}`);
    },
  });
  return (
    <Modal opened={opened} onClose={onClose} title="New board" closeButtonProps={{ "aria-label": "Close" }}>
      <form
        onSubmit={(event) => {
          event.preventDefault();
          create.mutate();
        }}
      >
        <Stack gap="sm">
          <TextInput id="new-board-title" label="Title" value={title} onChange={(e) => setTitle(e.currentTarget.value)} required maxLength={200} data-autofocus />
          <Textarea id="new-board-description" label="Description" value={description} onChange={(e) => setDescription(e.currentTarget.value)} autosize minRows={2} />
          <Select
            id="new-board-parent"
            label="Parent board"
            description="Optional: nest it in a board you may change"
            placeholder="None (a top-level board)"
            data={parentChoices(boards)}
            value={parent}
            onChange={setParent}
            clearable
            searchable
          />
          {create.error && <ErrorNote error={create.error} />}
          <Group justify="flex-end">
            <Button variant="default" onClick={onClose}>
              Cancel
            </Button>
            <Button type="submit" loading={create.isPending} disabled={!title.trim()}>
              Create board
            </Button>
          </Group>
        </Stack>
      </form>
    </Modal>
  );
}
