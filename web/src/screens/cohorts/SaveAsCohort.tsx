// Saving a list of users (a funnel step's, say) as a cohort of exactly them.
import { useEffect, useState } from "react";
import { Anchor, Button, Checkbox, Group, Modal, Stack, Text, TextInput } from "@mantine/core";
import { useMutation, useQueryClient } from "@tanstack/react-query";
import { Link } from "react-router-dom";
import { post } from "../../api/client";
import { type Cohort, usersDefinition } from "../../api/cohorts";
import { mayInProject, useCurrent } from "../../api/hooks";
import { ErrorNote } from "../common";
import { cohortKeys, cohortsBase } from "./queries";

export function SaveAsCohortDialog({
  projectId,
  opened,
  onClose,
  ids,
  defaultName,
  note,
}: {
  projectId: number;
  opened: boolean;
  onClose: () => void;
  ids: string[];
  defaultName: string;
  /** Said under the count (that the list is cut short, say). */
  note?: string;
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
  return (
    <Modal opened={opened} onClose={onClose} title="Save as cohort" closeButtonProps={{ "aria-label": "Close" }}>
      {save.isSuccess ? (
        <Stack gap="sm">
          <Text role="status">
            Saved “{save.data.name}” with {ids.length} {ids.length === 1 ? "user" : "users"}.
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
      ) : (
        <form
          onSubmit={(event) => {
            event.preventDefault();
            if (name.trim()) save.mutate();
          }}
        >
          <Stack gap="sm">
            <Text size="sm" c="dimmed">
              A cohort of exactly these {ids.length} {ids.length === 1 ? "user" : "users"}.{note ? ` ${note}` : ""}
            </Text>
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
              <Button variant="default" onClick={onClose}>
                Cancel
              </Button>
              <Button type="submit" loading={save.isPending} disabled={!name.trim()}>
                Save cohort
              </Button>
            </Group>
          </Stack>
        </form>
      )}
    </Modal>
  );
}
