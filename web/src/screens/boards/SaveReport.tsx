// "Save report" on the analysis screens: the report as built on the screen, saved under a
// name to a board the caller may change (or to a new board made on the spot). Shown only to
// those who may save reports.
import { useEffect, useRef, useState } from "react";
import { Alert, Anchor, Button, Group, Modal, Select, Stack, Textarea, TextInput } from "@mantine/core";
import { useMutation, useQueryClient } from "@tanstack/react-query";
import { Link } from "react-router-dom";
import { post } from "../../api/client";
import { mayInProject, useCurrent } from "../../api/hooks";
import type { Board, Bookmark } from "../../api/boards";
import type { Report } from "../../api/report";
import { ErrorNote } from "../common";
import { base, keys, useBoards } from "./queries";

const NEW_BOARD = "new";

/** The button and its dialog; nothing for those who may not save reports. */
export function SaveReportButton({ projectId, type, report }: { projectId: number; type: Report["type"]; report: object }) {
  const { project } = useCurrent();
  if (!mayInProject(project, "save_reports")) return null;
  return <SaveReport projectId={projectId} type={type} report={report} mayCreateBoards={mayInProject(project, "create_boards")} />;
}

function SaveReport({ projectId, type, report, mayCreateBoards }: { projectId: number; type: Report["type"]; report: object; mayCreateBoards: boolean }) {
  const [opened, setOpened] = useState(false);
  return (
    <>
      <Button variant="default" onClick={() => setOpened(true)} id="save-report">
        Save report
      </Button>
      <SaveDialog
        projectId={projectId}
        report={{ type, ...report } as Report}
        mayCreateBoards={mayCreateBoards}
        opened={opened}
        onClose={() => setOpened(false)}
      />
    </>
  );
}

function SaveDialog({
  projectId,
  report,
  mayCreateBoards,
  opened,
  onClose,
}: {
  projectId: number;
  report: Report;
  mayCreateBoards: boolean;
  opened: boolean;
  onClose: () => void;
}) {
  const queryClient = useQueryClient();
  const boards = useBoards(projectId, opened);
  const editable = (boards.data ?? []).filter((b) => b.your_access === "editor").sort((a, b) => a.title.localeCompare(b.title));
  const [name, setName] = useState("");
  const [description, setDescription] = useState("");
  const [board, setBoard] = useState<string | null>(null);
  const [newTitle, setNewTitle] = useState("");
  // A board made for the report stays made if saving the report then fails: a retry uses it.
  const made = useRef<Board | null>(null);
  const save = useMutation({
    mutationFn: async () => {
      let target: Board | undefined = editable.find((b) => String(b.id) === board);
      if (board === NEW_BOARD) {
        target = made.current && made.current.title === newTitle.trim() ? made.current : await post<Board>(`${base(projectId)}/boards`, { title: newTitle });
        made.current = target;
      }
      if (!target) throw new Error("Choose a board to save the report to.");
      const bookmark = await post<Bookmark>(`${base(projectId)}/bookmarks`, { board_id: target.id, name, description, report });
      return { bookmark, board: target };
    },
    onSuccess: ({ board: target }) => {
      queryClient.invalidateQueries({ queryKey: keys.boards(projectId) });
      queryClient.invalidateQueries({ queryKey: keys.bookmarks(projectId) });
      queryClient.invalidateQueries({ queryKey: keys.board(projectId, target.id) });
    },
  });
  useEffect(() => {
    if (!opened) return;
    save.reset();
    made.current = null;
    setBoard(null);
    setName("");
    setDescription("");
    setNewTitle("");
  }, [opened]); // eslint-disable-line react-hooks/exhaustive-deps
  // With no board to save to, a new one (when the caller may make one).
  useEffect(() => {
    if (opened && boards.data && board == null) {
      if (editable.length > 0) setBoard(String(editable[0].id));
      else if (mayCreateBoards) setBoard(NEW_BOARD);
    }
  }, [opened, boards.data, board]); // eslint-disable-line react-hooks/exhaustive-deps
  const choices = [
    ...editable.map((b) => ({ value: String(b.id), label: b.title })),
    ...(mayCreateBoards ? [{ value: NEW_BOARD, label: "New board…" }] : []),
  ];
  const ready = name.trim() !== "" && board != null && (board !== NEW_BOARD || newTitle.trim() !== "");
  return (
    <Modal opened={opened} onClose={onClose} title="Save report" closeButtonProps={{ "aria-label": "Close" }}>
      {save.data ? (
        <Stack>
          <Alert color="green" title="Saved" data-testid="report-saved">
            “{save.data.bookmark.name}” is on{" "}
            <Anchor component={Link} to={`/projects/${projectId}/boards/${save.data.board.id}`} onClick={onClose}>
              {save.data.board.title}
            </Anchor>
            .
          </Alert>
          <Group justify="flex-end">
            <Button onClick={onClose}>Done</Button>
          </Group>
        </Stack>
      ) : (
        <form
          onSubmit={(event) => {
            event.preventDefault();
            if (ready) save.mutate();
          }}
        >
          <Stack gap="sm">
            <TextInput id="save-report-name" label="Name" value={name} onChange={(e) => setName(e.currentTarget.value)} required maxLength={200} data-autofocus />
            <Textarea id="save-report-description" label="Description" value={description} onChange={(e) => setDescription(e.currentTarget.value)} autosize minRows={2} />
            <Select
              id="save-report-board"
              label="Board"
              placeholder={boards.isPending ? "Loading…" : choices.length ? "Choose a board" : "No board you may change"}
              data={choices}
              value={board}
              onChange={setBoard}
              allowDeselect={false}
              searchable
            />
            {board === NEW_BOARD && (
              <TextInput id="save-report-new-board" label="New board title" value={newTitle} onChange={(e) => setNewTitle(e.currentTarget.value)} required maxLength={200} />
            )}
            {boards.error && <ErrorNote error={boards.error} />}
            {!boards.isPending && choices.length === 0 && (
              <Alert color="yellow">You may not change any board, nor make one: ask a board's owner to make you an editor.</Alert>
            )}
            {save.error && <ErrorNote error={save.error} title="The report was not saved" />}
            <Group justify="flex-end">
              <Button variant="default" onClick={onClose}>
                Cancel
              </Button>
              <Button type="submit" loading={save.isPending} disabled={!ready}>
                Save to board
              </Button>
            </Group>
          </Stack>
        </form>
      )}
    </Modal>
  );
}
