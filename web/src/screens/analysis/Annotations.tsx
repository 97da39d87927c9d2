// The project's annotations over an Insights answer's range: listed under the chart (the
// chart marks them on their dates), and a small "Annotate" form for those who may add them.
import { useState } from "react";
import { ActionIcon, Button, Card, Group, Stack, Text, TextInput, Title } from "@mantine/core";
import { type UseQueryResult, useMutation, useQueryClient } from "@tanstack/react-query";
import { del, post } from "../../api/client";
import { mayInProject, useCurrent } from "../../api/hooks";
import { type Annotation, annotationDate } from "../../api/boards";
import { base, keys } from "../boards/queries";
import { Empty, ErrorNote, Loading, NotAllowed } from "../common";

export function AnnotationsPanel({
  projectId,
  query,
  lastDay,
  timeZone,
}: {
  projectId: number;
  query: UseQueryResult<Annotation[]>;
  /** The range's last day (`YYYY-MM-DD`): the form starts there. */
  lastDay: string;
  timeZone: string;
}) {
  const { project } = useCurrent();
  const mayAnnotate = mayInProject(project, "create_annotations");
  const queryClient = useQueryClient();
  const [open, setOpen] = useState(false);
  const [at, setAt] = useState(`${lastDay}T12:00`);
  const [description, setDescription] = useState("");
  const refresh = () => queryClient.invalidateQueries({ queryKey: keys.annotations(projectId) });
  const create = useMutation({
    mutationFn: () => {
      const date = annotationDate(at);
      if (!date) throw new Error("Give the date and time the annotation marks.");
      return post<Annotation>(`${base(projectId)}/annotations`, { date, description });
    },
    onSuccess: () => {
      setDescription("");
      setOpen(false);
      refresh();
    },
  });
  const remove = useMutation({ mutationFn: (id: number) => del(`${base(projectId)}/annotations/${id}`), onSuccess: refresh });
  const annotations = [...(query.data ?? [])].sort((a, b) => a.date.localeCompare(b.date));
  return (
    <Card withBorder component="section" aria-label="Annotations" data-testid="annotations">
      <Stack gap="xs">
        <Group justify="space-between">
          <Title order={3} size="h5">
            Annotations
          </Title>
          {mayAnnotate && !open && (
            <Button
              size="compact-sm"
              variant="default"
              onClick={() => {
                setAt(`${lastDay}T12:00`);
                create.reset();
                setOpen(true);
              }}
            >
              Annotate
            </Button>
          )}
        </Group>
        {open && (
          <form
            onSubmit={(event) => {
              event.preventDefault();
              create.mutate();
            }}
          >
            <Group align="flex-end" gap="xs">
              <TextInput
                id="annotation-date"
                type="datetime-local"
                label="Date and time"
                description={`In the project's time zone (${timeZone})`}
                value={at}
                onChange={(e) => setAt(e.currentTarget.value)}
                required
                w={220}
              />
              <TextInput
                id="annotation-description"
                label="Description"
                description="What happened then"
                value={description}
                onChange={(e) => setDescription(e.currentTarget.value)}
                required
                maxLength={200}
                w={300}
              />
              <Button type="submit" loading={create.isPending} disabled={!description.trim()}>
                Add annotation
              </Button>
              <Button variant="default" onClick={() => setOpen(false)}>
                Cancel
              </Button>
            </Group>
            {create.error && <ErrorNote error={create.error} title="The annotation was not added" />}
          </form>
        )}
        {query.isPending ? (
          <Loading label="Loading annotations…" />
        ) : query.isError ? (
          <ErrorNote error={query.error} title="Annotations cannot be shown" />
        ) : annotations.length === 0 ? (
          <Empty>No annotation in this range.</Empty>
        ) : (
          <Stack gap={4} role="list" aria-label="Annotations in this range">
            {annotations.map((annotation) => (
              <Group key={annotation.id} gap="xs" role="listitem" wrap="nowrap" data-annotation={annotation.date}>
                <Text size="sm" c="dimmed" w={150} style={{ flexShrink: 0 }}>
                  {annotation.date.slice(0, 16)}
                </Text>
                <Text size="sm" style={{ overflowWrap: "anywhere" }}>
                  {annotation.description}
                </Text>
                {mayAnnotate && (
                  <ActionIcon
                    variant="subtle"
                    color="gray"
                    size="sm"
                    aria-label={`Delete annotation: ${annotation.description}`}
                    loading={remove.isPending && remove.variables === annotation.id}
                    onClick={() => remove.mutate(annotation.id)}
                  >
                    ×
                  </ActionIcon>
                )}
              </Group>
            ))}
          </Stack>
        )}
        {remove.error && <ErrorNote error={remove.error} />}
        {!mayAnnotate && <NotAllowed>Your role may not add annotations.</NotAllowed>}
      </Stack>
    </Card>
  );
}
