// Annotations: the project's notes on its timeline (a launch, an outage), which Insights marks
// on its charts. Listed by date, filtered by tag and by days (both in the URL, so a link
// reopens the same list); added, retagged, reworded and deleted by those who may annotate.
import { useState } from "react";
import { Button, Group, Modal, Select, Stack, Text, TextInput } from "@mantine/core";
import { useMutation, useQueryClient } from "@tanstack/react-query";
import { createColumnHelper } from "@tanstack/react-table";
import { useParams, useSearchParams } from "react-router-dom";
import { del, patch, post } from "../../api/client";
import { type Annotation, type AnnotationTag, annotationDate, annotationsTagged, localDateTime, tagNamesOf } from "../../api/boards";
import { mayInProject, useCurrent } from "../../api/hooks";
import type { Body } from "../../api/types";
import { ConfirmDialog } from "../boards/BoardDialogs";
import { base, keys, useAnnotationList, useAnnotationTags } from "../boards/queries";
import { DataTable } from "../DataTable";
import { Empty, ErrorNote, NotAllowed, QueryView, Screen } from "../common";
import { AnnotationTagBadges, AnnotationTagsInput, ensureTags } from "./AnnotationTags";

const closeLabel = { "aria-label": "Close" };

export function Annotations() {
  const projectId = Number(useParams().projectId);
  const { project } = useCurrent();
  const mayAnnotate = mayInProject(project, "create_annotations");
  const timeZone = project?.timezone || "UTC";
  const queryClient = useQueryClient();
  const [params, setParams] = useSearchParams();
  const tagId = Number(params.get("tag")) || null;
  const from = params.get("from") || null;
  const to = params.get("to") || null;
  const annotations = useAnnotationList(projectId, from, to);
  const tags = useAnnotationTags(projectId);
  const [editing, setEditing] = useState<Annotation | "new" | null>(null);
  const [deleting, setDeleting] = useState<Annotation | null>(null);
  const setParam = (name: string, value: string | null) =>
    setParams(
      (old) => {
        const next = new URLSearchParams(old);
        if (value) next.set(name, value);
        else next.delete(name);
        return next;
      },
      { replace: true },
    );
  const tagName = tags.data?.find((tag) => tag.id === tagId)?.name ?? (tagId !== null ? `Tag ${tagId}` : null);
  const column = createColumnHelper<Annotation>();
  const columns = [
    column.accessor("date", { header: "Date", cell: (c) => c.getValue().slice(0, 16) }),
    column.accessor("description", {
      header: "Description",
      cell: (c) => <Text style={{ overflowWrap: "anywhere" }}>{c.getValue()}</Text>,
    }),
    column.display({
      id: "tags",
      header: "Tags",
      cell: (c) => <AnnotationTagBadges names={tagNamesOf(c.row.original, tags.data ?? [])} />,
    }),
    ...(mayAnnotate
      ? [
          column.display({
            id: "actions",
            header: "Actions",
            cell: (c) => {
              const annotation = c.row.original;
              return (
                <Group gap="xs" wrap="nowrap">
                  <Button size="compact-xs" variant="default" aria-label={`Edit annotation: ${annotation.description}`} onClick={() => setEditing(annotation)}>
                    Edit
                  </Button>
                  <Button
                    size="compact-xs"
                    color="red"
                    variant="light"
                    aria-label={`Delete annotation: ${annotation.description}`}
                    onClick={() => setDeleting(annotation)}
                  >
                    Delete
                  </Button>
                </Group>
              );
            },
          }),
        ]
      : []),
  ];
  const filtered = tagId !== null || from !== null || to !== null;
  return (
    <Screen
      title="Annotations"
      actions={
        mayAnnotate && (
          <Button id="annotation-new" onClick={() => setEditing("new")}>
            New annotation
          </Button>
        )
      }
    >
      <Text size="sm" c="dimmed">
        Notes on the project's timeline, such as a launch or an outage: Insights marks them on its charts on their dates. Times are in the
        project's time zone ({timeZone}).
      </Text>
      {!mayAnnotate && <NotAllowed>Your role may not add annotations.</NotAllowed>}
      <Group align="flex-end" gap="sm" role="search" aria-label="Filter annotations">
        <Select
          id="annotation-tag-filter"
          label="Tag"
          placeholder={tags.isPending ? "Loading tags…" : "All tags"}
          data={(tags.data ?? []).map((tag) => ({ value: String(tag.id), label: tag.name }))}
          value={tagId !== null ? String(tagId) : null}
          onChange={(value) => setParam("tag", value)}
          searchable
          clearable
          clearButtonProps={{ "aria-label": "Show every tag" }}
          nothingFoundMessage="No such tag"
          error={tags.isError ? "Tags cannot be listed" : undefined}
          w={220}
        />
        <TextInput id="annotation-from" type="date" label="From" value={from ?? ""} onChange={(e) => setParam("from", e.currentTarget.value)} w={170} />
        <TextInput id="annotation-to" type="date" label="To" value={to ?? ""} onChange={(e) => setParam("to", e.currentTarget.value)} w={170} />
        {filtered && (
          <Button variant="subtle" onClick={() => setParams({}, { replace: true })}>
            Show all
          </Button>
        )}
      </Group>
      {tags.isError && <ErrorNote error={tags.error} title="The project's tags cannot be listed" />}
      <QueryView query={annotations}>
        {(all) => {
          const shown = annotationsTagged(all, tagId);
          if (shown.length === 0) {
            return (
              <Empty>
                {all.length === 0 && !filtered
                  ? "No annotation yet."
                  : `No annotation${tagName ? ` tagged ${tagName}` : ""}${from || to ? " in these days" : ""}.`}
              </Empty>
            );
          }
          return (
            <Stack gap="xs">
              <Text size="sm" c="dimmed" data-testid="annotation-count">
                {shown.length === 1 ? "1 annotation" : `${shown.length} annotations`}
                {tagName ? ` tagged ${tagName}` : ""}
              </Text>
              <DataTable data={shown} columns={columns} label="Annotations" testId="annotations-list" />
            </Stack>
          );
        }}
      </QueryView>
      {mayAnnotate && editing !== null && (
        <AnnotationDialog
          key={editing === "new" ? "new" : editing.id}
          projectId={projectId}
          annotation={editing === "new" ? null : editing}
          tags={tags.data ?? []}
          timeZone={timeZone}
          // A new annotation made while a tag is chosen carries that tag to start with.
          startTags={editing === "new" && tagName && tagId !== null && tags.data?.some((t) => t.id === tagId) ? [tagName] : []}
          onClose={() => setEditing(null)}
        />
      )}
      {mayAnnotate && (
        <ConfirmDialog
          opened={deleting !== null}
          onClose={() => setDeleting(null)}
          title="Delete annotation"
          confirm="Delete annotation"
          onConfirm={async () => {
            if (!deleting) return;
            await del(`${base(projectId)}/annotations/${deleting.id}`);
            await Promise.all([
              queryClient.invalidateQueries({ queryKey: keys.annotations(projectId) }),
              queryClient.invalidateQueries({ queryKey: keys.annotationTags(projectId) }),
            ]);
          }}
        >
          <Text>
            {deleting?.date.slice(0, 16)}: {deleting?.description}. Charts no longer mark it.
          </Text>
        </ConfirmDialog>
      )}
    </Screen>
  );
}

/** Adds an annotation (`annotation` null) or changes one's description and tags (its time
 * never changes). Open while mounted. */
function AnnotationDialog({
  projectId,
  annotation,
  tags,
  timeZone,
  startTags,
  onClose,
}: {
  projectId: number;
  annotation: Annotation | null;
  tags: AnnotationTag[];
  timeZone: string;
  startTags: string[];
  onClose: () => void;
}) {
  const queryClient = useQueryClient();
  const [at, setAt] = useState(() => localDateTime(new Date(), timeZone));
  const [description, setDescription] = useState(annotation?.description ?? "");
  // `null` while an annotation's tags are left as they are (then they are not sent).
  const [tagNames, setTagNames] = useState<string[] | null>(annotation ? null : startTags);
  const shownTags = tagNames ?? (annotation ? tagNamesOf(annotation, tags) : []);
  const save = useMutation({
    mutationFn: async () => {
      const date = annotation ? annotation.date : annotationDate(at);
      if (!date) throw new Error("Give the date and time the annotation marks.");
      const ids = tagNames === null ? undefined : await ensureTags(projectId, tagNames, tags);
      return annotation
        ? patch<Annotation>(`${base(projectId)}/annotations/${annotation.id}`, { description, ...(ids ? { tags: ids } : {}) } satisfies Body<"AnnotationPatchBody">)
        : post<Annotation>(`${base(projectId)}/annotations`, { date, description, tags: ids ?? [] } satisfies Body<"AnnotationBody">);
    },
    onSettled: () => queryClient.invalidateQueries({ queryKey: keys.annotationTags(projectId) }),
    onSuccess: async () => {
      await queryClient.invalidateQueries({ queryKey: keys.annotations(projectId) });
      onClose();
    },
  });
  return (
    <Modal opened onClose={onClose} title={annotation ? "Edit annotation" : "New annotation"} closeButtonProps={closeLabel}>
      <form
        onSubmit={(event) => {
          event.preventDefault();
          save.mutate();
        }}
      >
        <Stack>
          {annotation ? (
            <Text size="sm" data-testid="annotation-fixed-date">
              {annotation.date.slice(0, 16)} ({timeZone}). An annotation's time does not change.
            </Text>
          ) : (
            <TextInput
              id="annotation-date"
              type="datetime-local"
              label="Date and time"
              description={`In the project's time zone (${timeZone})`}
              value={at}
              onChange={(e) => setAt(e.currentTarget.value)}
              required
              data-autofocus
            />
          )}
          <TextInput
            id="annotation-description"
            label="Description"
            description="What happened then"
            value={description}
            onChange={(e) => setDescription(e.currentTarget.value)}
            required
            maxLength={200}
            data-autofocus={annotation ? true : undefined}
          />
          <AnnotationTagsInput projectId={projectId} value={shownTags} onChange={setTagNames} />
          {save.error && <ErrorNote error={save.error} title={annotation ? "The annotation was not changed" : "The annotation was not added"} />}
          <Group justify="flex-end">
            <Button variant="default" onClick={onClose}>
              Cancel
            </Button>
            <Button type="submit" id="annotation-save" loading={save.isPending} disabled={!description.trim()}>
              {annotation ? "Save annotation" : "Add annotation"}
            </Button>
          </Group>
        </Stack>
      </form>
    </Modal>
  );
}
