// A board: its title and description (editable by its editors), the boards nested in it,
// and its cards in rows — saved reports answered as saved, each opening in its analysis
// screen, and texts. Its editors add texts and saved reports, move and remove cards; sharing,
// public links, transfer and delete are offered to those who may, and what is not offered
// says why.
import { type ReactNode, useState } from "react";
import { ActionIcon, Alert as Callout, Anchor, Badge, Breadcrumbs, Button, Card, Group, Select, Stack, Text, Textarea, TextInput, Title } from "@mantine/core";
import { useMutation, useQueryClient } from "@tanstack/react-query";
import { Link, useNavigate, useParams } from "react-router-dom";
import { del, patch, post, put } from "../../api/client";
import { mayInProject, useCurrent } from "../../api/hooks";
import { type Alert, alertPath, alertable, frequencyLabel } from "../../api/alerts";
import {
  type Board as BoardSummary,
  type BoardCard,
  type BoardDetail,
  type Bookmark,
  type Direction,
  PROJECT_ACCESS,
  REPORT_TYPES,
  cardRows,
  descendantsOf,
  layoutOf,
  moveCard,
  reportPath,
} from "../../api/boards";
import { Empty, ErrorNote, Loading, NotAllowed, Screen } from "../common";
import { CardAnswer } from "./AnswerView";
import { BoardGrid, CardText } from "./BoardGrid";
import { ConfirmDialog, PublicLinkDialog, ShareDialog, TransferDialog } from "./BoardDialogs";
import { base, keys, memberName, useBoard, useBoards, useBookmarks, useMembers, useSavedAnswer } from "./queries";
import { AlertDialog } from "../alerts/AlertDialog";

export function Board() {
  const params = useParams();
  const projectId = Number(params.projectId);
  const boardId = Number(params.boardId);
  const board = useBoard(projectId, boardId);
  if (board.isPending) {
    return (
      <Screen title="Board">
        <Loading />
      </Screen>
    );
  }
  if (board.isError) {
    return (
      <Screen title="Board">
        <ErrorNote error={board.error} title="This board cannot be opened" />
        <Anchor component={Link} to={`/projects/${projectId}/boards`}>
          All boards
        </Anchor>
      </Screen>
    );
  }
  return <BoardScreen key={boardId} projectId={projectId} detail={board.data} />;
}

type Dialog = null | "share" | "public" | "transfer" | "delete";

/** What is about to be removed, waiting for its confirmation. */
type Removal = { kind: "report"; bookmark: Bookmark } | { kind: "card"; card: BoardCard; label: string };

function BoardScreen({ projectId, detail }: { projectId: number; detail: BoardDetail }) {
  const { me, org, project } = useCurrent();
  const may = (permission: string) => mayInProject(project, permission);
  const queryClient = useQueryClient();
  const navigate = useNavigate();
  const boards = useBoards(projectId);
  const members = useMembers(projectId, may("view_project_settings"));
  const [dialog, setDialog] = useState<Dialog>(null);
  const [editing, setEditing] = useState(false);
  const [removal, setRemoval] = useState<Removal | null>(null);
  // An alert being made on one of the board's reports, and the one just made.
  const [alertOn, setAlertOn] = useState<Bookmark | null>(null);
  const [madeAlert, setMadeAlert] = useState<Alert | null>(null);
  const myId = me?.user.type === "user" ? me.user.id : undefined;
  const editor = detail.your_access === "editor";
  const manage = myId === detail.owner_id || may("edit_project_settings");
  const canShare = editor && may("share_entities") && !detail.private;
  const canPublic = editor && may("make_boards_public") && !detail.private;
  const boardKey = keys.board(projectId, detail.id);
  const refresh = () => {
    queryClient.invalidateQueries({ queryKey: boardKey });
    queryClient.invalidateQueries({ queryKey: keys.bookmarks(projectId) });
  };

  const reasons: string[] = [];
  if (!editor) reasons.push("You may view this board but not change it: ask its owner to make you an editor.");
  else if (detail.private) reasons.push("This board is private to its owner, whose role may not share: it cannot be shared or made public.");
  else {
    if (!may("share_entities")) reasons.push("Your role may not share boards.");
    if (!may("make_boards_public")) reasons.push("Your role may not make public links to boards.");
  }
  if (!manage) reasons.push("Only the board's owner or a project admin may transfer or delete it.");

  const all = boards.data ?? [];
  const ancestors: BoardSummary[] = [];
  for (let parent = detail.parent_id; parent != null && ancestors.length < 5; ) {
    const found = all.find((b) => b.id === parent);
    if (!found) break;
    ancestors.unshift(found);
    parent = found.parent_id;
  }
  const children = all.filter((b) => b.parent_id === detail.id).sort((a, b) => a.title.localeCompare(b.title));

  const rows = cardRows(detail.cards);
  const layout = layoutOf(rows);
  const labels = new Map<number, string>();
  let texts = 0;
  for (const card of rows.flat()) {
    const bookmark = detail.reports.find((r) => r.id === card.bookmark_id);
    labels.set(card.id, card.bookmark_id != null ? (bookmark?.name ?? "Missing report") : `text card ${++texts}`);
  }
  const move = useMutation({
    mutationFn: (next: number[][]) => put<BoardCard[]>(`${base(projectId)}/boards/${detail.id}/layout`, { rows: next }),
    onSuccess: (cards) => queryClient.setQueryData<BoardDetail>(boardKey, (old) => (old ? { ...old, cards } : old)),
  });
  const unlink = useMutation({
    mutationFn: (cardId: number) => del(`${base(projectId)}/boards/${detail.id}/cards/${cardId}`),
    onSuccess: refresh,
  });

  return (
    <Screen
      title={detail.title}
      actions={
        <Group gap="xs">
          {editor && (
            <Button variant="default" onClick={() => setEditing(true)} disabled={editing}>
              Edit board
            </Button>
          )}
          {canShare && (
            <Button variant="default" onClick={() => setDialog("share")}>
              Share
            </Button>
          )}
          {canPublic && (
            <Button variant="default" onClick={() => setDialog("public")}>
              Public link
            </Button>
          )}
          {manage && (
            <Button variant="default" onClick={() => setDialog("transfer")}>
              Transfer
            </Button>
          )}
          {manage && (
            <Button variant="light" color="red" onClick={() => setDialog("delete")}>
              Delete board
            </Button>
          )}
        </Group>
      }
    >
      <Breadcrumbs separator="›" data-testid="board-breadcrumbs">
        <Anchor component={Link} to={`/projects/${projectId}/boards`}>
          Boards
        </Anchor>
        {ancestors.map((a) => (
          <Anchor key={a.id} component={Link} to={`/projects/${projectId}/boards/${a.id}`}>
            {a.title}
          </Anchor>
        ))}
        <Text span>{detail.title}</Text>
      </Breadcrumbs>
      {editing ? (
        <EditBoard projectId={projectId} detail={detail} boards={all} onDone={() => setEditing(false)} />
      ) : (
        detail.description && (
          <Text style={{ whiteSpace: "pre-wrap" }} data-testid="board-description">
            {detail.description}
          </Text>
        )
      )}
      <Group gap="xs" data-testid="board-facts">
        <Text size="sm" c="dimmed">
          Owner: {memberName(members.data, detail.owner_id)}
        </Text>
        <Badge variant="light" data-testid="your-access">
          {editor ? "You can edit" : "You can view"}
        </Badge>
        {detail.private ? (
          <Badge variant="light" color="gray">
            Private
          </Badge>
        ) : (
          <Text size="sm" c="dimmed">
            Everyone in the project: {PROJECT_ACCESS.find((a) => a.value === detail.project_access)?.label ?? detail.project_access}
          </Text>
        )}
      </Group>
      {reasons.map((reason) => (
        <NotAllowed key={reason}>{reason}</NotAllowed>
      ))}
      {children.length > 0 && (
        <Stack gap={4} component="section" aria-label="Boards inside">
          <Title order={2} size="h5">
            Boards inside
          </Title>
          <Group gap="md">
            {children.map((child) => (
              <Anchor key={child.id} component={Link} to={`/projects/${projectId}/boards/${child.id}`}>
                {child.title}
              </Anchor>
            ))}
          </Group>
        </Stack>
      )}
      {madeAlert && (
        <Callout color="green" variant="light" title="Alert created" withCloseButton closeButtonLabel="Dismiss" onClose={() => setMadeAlert(null)} data-testid="alert-created">
          “{madeAlert.name}” is checked {frequencyLabel(madeAlert.frequency).toLowerCase()}.{" "}
          <Anchor component={Link} to={alertPath(projectId, madeAlert.id)}>
            Open the alert
          </Anchor>
        </Callout>
      )}
      {move.error && <ErrorNote error={move.error} title="The cards cannot be moved" />}
      {unlink.error && <ErrorNote error={unlink.error} title="The card cannot be removed" />}
      {detail.cards.length === 0 ? (
        <Empty>
          This board has no cards yet.
          {editor && " Save a report to it from an analysis screen, link a saved report or add a text."}
        </Empty>
      ) : (
        <BoardGrid
          cards={detail.cards}
          render={(card) => {
            const label = labels.get(card.id) ?? "card";
            const bookmark = detail.reports.find((r) => r.id === card.bookmark_id);
            const own = bookmark != null && bookmark.board_id === detail.id;
            // A report saved to this board is deleted (from every board); one linked from
            // another board is only taken off this one.
            const remove = !editor
              ? undefined
              : own
                ? may("save_reports")
                  ? { label: `Delete ${label}`, act: () => setRemoval({ kind: "report", bookmark }) }
                  : undefined
                : card.bookmark_id != null
                  ? { label: `Remove ${label}`, act: () => unlink.mutate(card.id) }
                  : { label: `Remove ${label}`, act: () => setRemoval({ kind: "card", card, label }) };
            const controls = editor ? (
              <CardControls label={label} cardId={card.id} layout={layout} busy={move.isPending} onMove={(next) => move.mutate(next)} remove={remove} />
            ) : null;
            return card.bookmark_id != null ? (
              <ReportCard
                projectId={projectId}
                card={card}
                bookmark={bookmark}
                label={label}
                controls={controls}
                onCreateAlert={bookmark && alertable(bookmark) && may("create_alerts") ? () => setAlertOn(bookmark) : undefined}
              />
            ) : (
              <TextCard projectId={projectId} boardId={detail.id} card={card} label={label} controls={controls} editor={editor} />
            );
          }}
        />
      )}
      {editor && <AddCards projectId={projectId} detail={detail} maySave={may("save_reports")} />}

      {alertOn && (
        <AlertDialog key={alertOn.id} projectId={projectId} alert={null} bookmarkId={alertOn.id} onClose={() => setAlertOn(null)} onSaved={setMadeAlert} />
      )}
      {canShare && <ShareDialog projectId={projectId} orgId={org?.id} board={detail} opened={dialog === "share"} onClose={() => setDialog(null)} />}
      {canPublic && <PublicLinkDialog projectId={projectId} board={detail} opened={dialog === "public"} onClose={() => setDialog(null)} />}
      {manage && <TransferDialog projectId={projectId} board={detail} opened={dialog === "transfer"} onClose={() => setDialog(null)} />}
      <ConfirmDialog
        opened={dialog === "delete"}
        onClose={() => setDialog(null)}
        title="Delete board"
        confirm="Delete for good"
        onConfirm={async () => {
          await del(`${base(projectId)}/boards/${detail.id}`);
          queryClient.invalidateQueries({ queryKey: keys.boards(projectId) });
          queryClient.invalidateQueries({ queryKey: keys.bookmarks(projectId) });
          queryClient.removeQueries({ queryKey: boardKey });
          navigate(`/projects/${projectId}/boards`);
        }}
      >
        <Text>
          This deletes “{detail.title}” and the reports saved to it, for everyone. It cannot be undone.
        </Text>
      </ConfirmDialog>
      <ConfirmDialog
        opened={removal != null}
        onClose={() => setRemoval(null)}
        title={removal?.kind === "report" ? "Delete the saved report" : "Remove the text"}
        confirm={removal?.kind === "report" ? "Delete report" : "Remove text"}
        onConfirm={async () => {
          if (removal?.kind === "report") await del(`${base(projectId)}/bookmarks/${removal.bookmark.id}`);
          else if (removal?.kind === "card") await del(`${base(projectId)}/boards/${detail.id}/cards/${removal.card.id}`);
          refresh();
        }}
      >
        <Text>
          {removal?.kind === "report"
            ? `“${removal.bookmark.name}” was saved to this board: deleting it takes it off every board that shows it.`
            : "The text is removed from the board."}
        </Text>
      </ConfirmDialog>
    </Screen>
  );
}

const ARROWS: Record<Direction, string> = { up: "↑", down: "↓", left: "←", right: "→" };

/** A card's editing buttons: move it a step (where it can go), and remove it. */
function CardControls({
  label,
  cardId,
  layout,
  busy,
  onMove,
  remove,
  onEdit,
}: {
  label: string;
  cardId: number;
  layout: number[][];
  busy: boolean;
  onMove: (layout: number[][]) => void;
  remove?: { label: string; act: () => void };
  onEdit?: () => void;
}) {
  return (
    <Group gap={2} wrap="nowrap" role="group" aria-label={`Arrange ${label}`}>
      {(Object.keys(ARROWS) as Direction[]).map((direction) => {
        const next = moveCard(layout, cardId, direction);
        return (
          <ActionIcon
            key={direction}
            variant="subtle"
            color="gray"
            size="sm"
            aria-label={`Move ${label} ${direction}`}
            disabled={busy || next == null}
            onClick={() => next && onMove(next)}
          >
            {ARROWS[direction]}
          </ActionIcon>
        );
      })}
      {onEdit && (
        <ActionIcon variant="subtle" color="gray" size="sm" aria-label={`Edit ${label}`} onClick={onEdit}>
          ✎
        </ActionIcon>
      )}
      {remove && (
        <ActionIcon variant="subtle" color="red" size="sm" aria-label={remove.label} onClick={remove.act}>
          ×
        </ActionIcon>
      )}
    </Group>
  );
}

function ReportCard({
  projectId,
  card,
  bookmark,
  label,
  controls,
  onCreateAlert,
}: {
  projectId: number;
  card: BoardCard;
  bookmark: Bookmark | undefined;
  label: string;
  controls: ReactNode;
  onCreateAlert?: () => void;
}) {
  return (
    <Card withBorder component="article" aria-label={label} data-testid="board-card" data-card-id={card.id} data-bookmark-id={card.bookmark_id ?? ""} h="100%">
      <Stack gap="xs">
        <Group justify="space-between" align="flex-start" wrap="nowrap">
          <Stack gap={2}>
            <Group gap="xs">
              <Title order={2} size="h5">
                {bookmark ? (
                  <Anchor component={Link} to={reportPath(projectId, bookmark.report)}>
                    {bookmark.name}
                  </Anchor>
                ) : (
                  "Missing report"
                )}
              </Title>
              {bookmark && (
                <Badge variant="light" size="sm">
                  {REPORT_TYPES[bookmark.type] ?? bookmark.type}
                </Badge>
              )}
            </Group>
            {bookmark?.description && (
              <Text size="sm" c="dimmed">
                {bookmark.description}
              </Text>
            )}
          </Stack>
          <Group gap={4} wrap="nowrap">
            {onCreateAlert && bookmark && (
              <Button size="compact-xs" variant="subtle" onClick={onCreateAlert} aria-label={`Create alert on ${bookmark.name}`}>
                Create alert
              </Button>
            )}
            {controls}
          </Group>
        </Group>
        {bookmark ? <SavedAnswer projectId={projectId} bookmark={bookmark} /> : <Empty>This saved report is no longer there.</Empty>}
      </Stack>
    </Card>
  );
}

function SavedAnswer({ projectId, bookmark }: { projectId: number; bookmark: Bookmark }) {
  const answer = useSavedAnswer(projectId, bookmark.report);
  const unit = bookmark.report?.type === "retention" ? (bookmark.report.unit ?? "day") : undefined;
  return <CardAnswer query={answer} name={bookmark.name} unit={unit} />;
}

function TextCard({
  projectId,
  boardId,
  card,
  label,
  controls,
  editor,
}: {
  projectId: number;
  boardId: number;
  card: BoardCard;
  label: string;
  controls: ReactNode;
  editor: boolean;
}) {
  const queryClient = useQueryClient();
  const [draft, setDraft] = useState<string | null>(null);
  const save = useMutation({
    mutationFn: (text: string) => patch(`${base(projectId)}/boards/${boardId}/cards/${card.id}`, { text }),
    onSuccess: () => {
      setDraft(null);
      queryClient.invalidateQueries({ queryKey: keys.board(projectId, boardId) });
    },
  });
  return (
    <Card withBorder component="article" aria-label={label} data-testid="board-card" data-card-id={card.id} h="100%">
      <Group justify="space-between" align="flex-start" wrap="nowrap">
        {draft == null ? <CardText text={card.text ?? ""} /> : <span />}
        <Group gap={2} wrap="nowrap">
          {editor && draft == null && (
            <ActionIcon variant="subtle" color="gray" size="sm" aria-label={`Edit ${label}`} onClick={() => setDraft(card.text ?? "")}>
              ✎
            </ActionIcon>
          )}
          {controls}
        </Group>
      </Group>
      {draft != null && (
        <form
          onSubmit={(event) => {
            event.preventDefault();
            save.mutate(draft);
          }}
        >
          <Stack gap="xs">
            <Textarea id={`card-${card.id}-text`} label={`Text of ${label}`} value={draft} onChange={(e) => setDraft(e.currentTarget.value)} autosize minRows={3} />
            {save.error && <ErrorNote error={save.error} />}
            <Group gap="xs">
              <Button type="submit" size="compact-sm" loading={save.isPending}>
                Save text
              </Button>
              <Button variant="default" size="compact-sm" onClick={() => setDraft(null)}>
                Cancel
              </Button>
            </Group>
          </Stack>
        </form>
      )}
    </Card>
  );
}

/** An editor's ways to add cards: a text, or a saved report linked from another board. */
function AddCards({ projectId, detail, maySave }: { projectId: number; detail: BoardDetail; maySave: boolean }) {
  const queryClient = useQueryClient();
  const [text, setText] = useState<string | null>(null);
  const [pick, setPick] = useState<string | null>(null);
  const bookmarks = useBookmarks(projectId, maySave);
  const refresh = () => queryClient.invalidateQueries({ queryKey: keys.board(projectId, detail.id) });
  const addText = useMutation({
    mutationFn: (body: string) => post(`${base(projectId)}/boards/${detail.id}/cards`, { text: body }),
    onSuccess: () => {
      setText(null);
      refresh();
    },
  });
  const addReport = useMutation({
    mutationFn: (bookmarkId: number) => post(`${base(projectId)}/boards/${detail.id}/cards`, { bookmark_id: bookmarkId }),
    onSuccess: () => {
      setPick(null);
      refresh();
    },
  });
  const shown = new Set(detail.cards.map((c) => c.bookmark_id));
  const choices = (bookmarks.data ?? [])
    .filter((b) => !shown.has(b.id))
    .sort((a, b) => a.name.localeCompare(b.name))
    .map((b) => ({ value: String(b.id), label: `${b.name} (${REPORT_TYPES[b.type] ?? b.type})` }));
  return (
    <Card withBorder component="section" aria-label="Add cards">
      <Stack gap="sm">
        {text == null ? (
          <Group>
            <Button variant="default" onClick={() => setText("")}>
              Add text
            </Button>
          </Group>
        ) : (
          <form
            onSubmit={(event) => {
              event.preventDefault();
              addText.mutate(text);
            }}
          >
            <Stack gap="xs">
              <Textarea id="new-text-card" label="Text" description="Markdown; shown as typed" value={text} onChange={(e) => setText(e.currentTarget.value)} autosize minRows={3} required />
              {addText.error && <ErrorNote error={addText.error} />}
              <Group gap="xs">
                <Button type="submit" loading={addText.isPending} disabled={!text.trim()}>
                  Add card
                </Button>
                <Button variant="default" onClick={() => setText(null)}>
                  Cancel
                </Button>
              </Group>
            </Stack>
          </form>
        )}
        {maySave ? (
          <Group align="flex-end" gap="xs">
            <Select
              id="link-report"
              label="Saved report"
              description="Show a report saved to another board here too"
              placeholder={bookmarks.isPending ? "Loading…" : choices.length ? "Choose a saved report" : "No other saved report"}
              data={choices}
              value={pick}
              onChange={setPick}
              searchable
              w={320}
            />
            <Button variant="default" disabled={!pick} loading={addReport.isPending} onClick={() => pick && addReport.mutate(Number(pick))}>
              Add report
            </Button>
          </Group>
        ) : (
          <NotAllowed>Your role may not save reports, so it cannot link saved reports to boards.</NotAllowed>
        )}
        {bookmarks.error && <ErrorNote error={bookmarks.error} />}
        {addReport.error && <ErrorNote error={addReport.error} />}
      </Stack>
    </Card>
  );
}

/** The board's title, description and place among the boards, for its editors. */
function EditBoard({ projectId, detail, boards, onDone }: { projectId: number; detail: BoardDetail; boards: BoardSummary[]; onDone: () => void }) {
  const queryClient = useQueryClient();
  const [title, setTitle] = useState(detail.title);
  const [description, setDescription] = useState(detail.description);
  const current = detail.parent_id != null ? String(detail.parent_id) : "top";
  const [parent, setParent] = useState(current);
  const below = descendantsOf(boards, detail.id);
  const parents = [
    { value: "top", label: "None (a top-level board)" },
    ...boards
      .filter((b) => b.your_access === "editor" && b.id !== detail.id && !below.has(b.id))
      .sort((a, b) => a.title.localeCompare(b.title))
      .map((b) => ({ value: String(b.id), label: b.title })),
  ];
  if (!parents.some((p) => p.value === current)) parents.push({ value: current, label: `Board ${current}` });
  const save = useMutation({
    mutationFn: () => {
      const body: { title?: string; description?: string; parent_id?: number | null } = {};
      if (title !== detail.title) body.title = title;
      if (description !== detail.description) body.description = description;
      if (parent !== current) body.parent_id = parent === "top" ? null : Number(parent);
      return patch<BoardDetail>(`${base(projectId)}/boards/${detail.id}`, body);
    },
    onSuccess: (updated) => {
      queryClient.setQueryData(keys.board(projectId, detail.id), updated);
      queryClient.invalidateQueries({ queryKey: keys.boards(projectId) });
      onDone();
    },
  });
  return (
    <Card withBorder component="section" aria-label="Edit board">
      <form
        onSubmit={(event) => {
          event.preventDefault();
          save.mutate();
        }}
      >
        <Stack gap="sm">
          <TextInput id="board-edit-title" label="Title" value={title} onChange={(e) => setTitle(e.currentTarget.value)} required maxLength={200} />
          <Textarea id="board-edit-description" label="Description" value={description} onChange={(e) => setDescription(e.currentTarget.value)} autosize minRows={2} />
          <Select id="board-edit-parent" label="Parent board" data={parents} value={parent} onChange={(v) => v && setParent(v)} allowDeselect={false} w={320} />
          {save.error && <ErrorNote error={save.error} />}
          <Group gap="xs">
            <Button type="submit" loading={save.isPending} disabled={!title.trim()}>
              Save changes
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
