// Saving a list of users as a cohort of exactly them: the users behind a report's number (a
// funnel step, a retention cell, an Insights point), found by the server in full.
import { useEffect, useState } from "react";
import { Anchor, Button, Checkbox, Group, Modal, Stack, Text, TextInput } from "@mantine/core";
import { useMutation, useQueryClient } from "@tanstack/react-query";
import { Link } from "react-router-dom";
import { post } from "../../api/client";
import { type Cohort, usersDefinition } from "../../api/cohorts";
import { mayInProject, useCurrent } from "../../api/hooks";
import type { Report } from "../../api/report";
import { type Selection, limitNote } from "../../api/selection";
import { ErrorNote, Loading } from "../common";
import { cohortKeys, cohortsBase, useSelectionUsers } from "./queries";

export function SaveAsCohortDialog({
  projectId,
  opened,
  onClose,
  ids,
  defaultName,
  note,
  finding = false,
  findError,
  onRetry,
}: {
  projectId: number;
  opened: boolean;
  onClose: () => void;
  ids: string[];
  defaultName: string;
  /** Said under the count (who the users are, or that the list is cut short). */
  note?: string;
  /** The users are still being found: the dialog waits for them. */
  finding?: boolean;
  /** Why the users could not be found (the server's message is shown). */
  findError?: unknown;
  onRetry?: () => void;
}) {
  const { project } = useCurrent();
  const mayShare = mayInProject(project, "share_entities");
  const queryClient = useQueryClient();
  const [name, setName] = useState(defaultName);
  const [shared, setShared] = useState(false);
  const save = useMutation({
    mutationFn: () => post<Cohort>(cohortsBase(projectId), { name: name.trim(), definition: usersDefinition(ids), shared }),
    onSuccess: () => queryClient.invalidateQueries({ queryKey: cohortKeys.all(projectId) }),
  });
  useEffect(() => {
    if (!opened) return;
    setName(defaultName);
    setShared(false);
    save.reset();
  }, [opened]); // eslint-disable-line react-hooks/exhaustive-deps
  const users = `${ids.length.toLocaleString("en-US")} ${ids.length === 1 ? "user" : "users"}`;
  const cancel = (
    <Button variant="default" onClick={onClose}>
      Cancel
    </Button>
  );
  let body;
  if (save.isSuccess) {
    body = (
      <Stack gap="sm">
        <Text role="status">
          Saved “{save.data.name}” with {users}.
        </Text>
        <Group justify="flex-end">
          <Anchor component={Link} to={`/projects/${projectId}/cohorts/${save.data.id}`}>
            Open the cohort
          </Anchor>
          <Button variant="default" onClick={onClose}>
            Close
          </Button>
        </Group>
      </Stack>
    );
  } else if (finding) {
    body = (
      <Stack gap="sm" data-testid="save-cohort-finding">
        <Loading label="Finding the users…" />
        <Group justify="flex-end">{cancel}</Group>
      </Stack>
    );
  } else if (findError != null) {
    body = (
      <Stack gap="sm">
        <ErrorNote error={findError} title="The users cannot be found" />
        <Group justify="flex-end">
          {cancel}
          {onRetry && <Button onClick={onRetry}>Try again</Button>}
        </Group>
      </Stack>
    );
  } else {
    body = (
      <form
        onSubmit={(event) => {
          event.preventDefault();
          if (name.trim() && ids.length > 0) save.mutate();
        }}
      >
        <Stack gap="sm">
          {ids.length === 0 ? (
            <Text size="sm" data-testid="save-cohort-count" data-value={0}>
              Nobody is behind this number: there is no one to save.{note ? ` ${note}` : ""}
            </Text>
          ) : (
            <Text size="sm" c="dimmed" data-testid="save-cohort-count" data-value={ids.length}>
              A cohort of exactly these {users}.{note ? ` ${note}` : ""}
            </Text>
          )}
          <TextInput id="save-cohort-name" label="Name" value={name} onChange={(e) => setName(e.currentTarget.value)} required maxLength={200} data-autofocus />
          <Checkbox
            id="save-cohort-shared"
            label="Share with the project"
            description={mayShare ? undefined : "Your role may not share cohorts: this one stays private to you."}
            checked={shared}
            disabled={!mayShare}
            onChange={(e) => setShared(e.currentTarget.checked)}
          />
          {save.error && <ErrorNote error={save.error} title="The cohort was not saved" />}
          <Group justify="flex-end">
            {cancel}
            <Button type="submit" id="save-cohort-submit" loading={save.isPending} disabled={!name.trim() || ids.length === 0}>
              Save cohort
            </Button>
          </Group>
        </Stack>
      </form>
    );
  }
  return (
    <Modal opened={opened} onClose={onClose} title="Save as cohort" closeButtonProps={{ "aria-label": "Close" }}>
      {body}
    </Modal>
  );
}

/** Saves the users behind one number of `report` (the report as it was answered): the
 * server finds all of them when the dialog opens, not the answer's sample. */
export function SaveSelectionDialog({
  projectId,
  report,
  selection,
  opened,
  onClose,
  defaultName,
  about,
}: {
  projectId: number;
  report: Report | null;
  selection: Selection | null;
  opened: boolean;
  onClose: () => void;
  defaultName: string;
  /** Who the users are, in a sentence. */
  about?: string;
}) {
  const users = useSelectionUsers(projectId, report, selection, opened);
  const ids = users.data?.distinct_ids ?? [];
  const note = [about, users.data ? limitNote(users.data.count) : undefined].filter(Boolean).join(" ");
  return (
    <SaveAsCohortDialog
      projectId={projectId}
      opened={opened}
      onClose={onClose}
      ids={ids}
      defaultName={defaultName}
      note={note || undefined}
      finding={users.isFetching}
      findError={users.isError && !users.isFetching ? users.error : undefined}
      onRetry={() => void users.refetch()}
    />
  );
}
