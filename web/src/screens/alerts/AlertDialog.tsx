// Makes an alert or changes one: the saved Insights or Funnels report it watches, its name,
// when it fires, how often it is checked, and where it goes (members of the organization by
// e-mail, an HTTPS webhook with optional Basic credentials). Opened from the Alerts screen
// and from a saved report's card on a board (then on that report).
import { useMemo, useState } from "react";
import { Button, Checkbox, Fieldset, Group, Modal, MultiSelect, NumberInput, PasswordInput, Select, Stack, TagsInput, Text, TextInput } from "@mantine/core";
import { useMutation, useQueryClient } from "@tanstack/react-query";
import { patch, post } from "../../api/client";
import {
  type Alert,
  type AlertDraft,
  CONDITION_KINDS,
  type ConditionKind,
  FREQUENCIES,
  type Frequency,
  alertBody,
  alertPaths,
  alertable,
  draftOf,
  valueProblem,
} from "../../api/alerts";
import { REPORT_TYPES } from "../../api/boards";
import { useCurrent, useOrgMembers } from "../../api/hooks";
import { ErrorNote } from "../common";
import { useBookmarks } from "../boards/queries";
import { alertKeys } from "./queries";

const closeLabel = { "aria-label": "Close" };

const VALUE_HINTS: Record<ConditionKind, string> = {
  above: "It fires when the report's number is above this",
  below: "It fires when the report's number is below this",
  changes_by: "It fires when the number moves this much or more from the previous period",
  changes_by_percent: "In percent of the previous period's number",
};

/** The dialog, open while mounted: `alert` to change one, else a new one (on `bookmarkId`
 * when given). */
export function AlertDialog({
  projectId,
  alert,
  bookmarkId,
  onClose,
  onSaved,
}: {
  projectId: number;
  alert: Alert | null;
  bookmarkId?: number;
  onClose: () => void;
  onSaved?: (alert: Alert) => void;
}) {
  const queryClient = useQueryClient();
  const { me, org } = useCurrent();
  const bookmarks = useBookmarks(projectId);
  const members = useOrgMembers(org?.id);
  const myEmail = me?.user.type === "user" ? me.user.email : undefined;
  const [draft, setDraft] = useState<AlertDraft>(() => {
    const initial = draftOf(alert, null, myEmail);
    if (!alert && bookmarkId !== undefined) initial.bookmarkId = bookmarkId;
    return initial;
  });
  // A new alert is named after its report until its name is typed.
  const [named, setNamed] = useState(alert !== null);
  const set = (change: Partial<AlertDraft>) => setDraft((old) => ({ ...old, ...change }));

  const reports = useMemo(() => {
    const listed = (bookmarks.data ?? [])
      .filter(alertable)
      .sort((a, b) => a.name.localeCompare(b.name))
      .map((b) => ({ value: String(b.id), label: `${b.name} (${REPORT_TYPES[b.type] ?? b.type})` }));
    // The report an alert watches may be gone, or no longer an Insights or Funnels report.
    if (draft.bookmarkId !== null && !listed.some((r) => r.value === String(draft.bookmarkId))) {
      listed.push({ value: String(draft.bookmarkId), label: bookmarks.isPending ? "Loading…" : `Report ${draft.bookmarkId} (not available for alerts)` });
    }
    return listed;
  }, [bookmarks.data, bookmarks.isPending, draft.bookmarkId]);
  // A name the dialog was opened with for a report it has not loaded yet.
  const chosenBookmark = bookmarks.data?.find((b) => b.id === draft.bookmarkId);
  const name = !named && !draft.name && chosenBookmark ? chosenBookmark.name : draft.name;

  const emailOptions = useMemo(() => {
    const known = (members.data ?? []).map((m) => m.email).sort((a, b) => a.localeCompare(b));
    const others = draft.emails.filter((e) => !known.some((k) => k.toLowerCase() === e.toLowerCase()));
    return [...known, ...others];
  }, [members.data, draft.emails]);

  const problem = valueProblem(draft);
  const save = useMutation({
    mutationFn: () => {
      const body = alertBody({ ...draft, name }, alert);
      return alert ? patch<Alert>(alertPaths.one(projectId, alert.id), body) : post<Alert>(alertPaths.list(projectId), body);
    },
    onSuccess: (saved) => {
      queryClient.invalidateQueries({ queryKey: alertKeys.all(projectId) });
      onSaved?.(saved);
      onClose();
    },
  });

  return (
    <Modal opened onClose={onClose} title={alert ? `Edit ${alert.name}` : "New alert"} size="lg" closeButtonProps={closeLabel}>
      <form
        onSubmit={(event) => {
          event.preventDefault();
          if (draft.bookmarkId !== null && !problem) save.mutate();
        }}
      >
        <Stack gap="sm">
          <Select
            id="alert-report"
            label="Saved report"
            description="An Insights or Funnels report saved to a board"
            placeholder={bookmarks.isPending ? "Loading…" : reports.length ? "Choose a saved report" : "No saved Insights or Funnels report"}
            data={reports}
            value={draft.bookmarkId !== null ? String(draft.bookmarkId) : null}
            onChange={(value) => {
              const id = value ? Number(value) : null;
              const picked = bookmarks.data?.find((b) => b.id === id);
              set({ bookmarkId: id, ...(!named && picked ? { name: picked.name } : {}) });
            }}
            searchable
            required
            nothingFoundMessage="No such saved report"
            data-autofocus={bookmarkId === undefined && !alert ? true : undefined}
          />
          {bookmarks.isError && <ErrorNote error={bookmarks.error} title="The saved reports cannot be listed" />}
          <TextInput
            id="alert-name"
            label="Name"
            description="Shown in its messages; the report's name when left empty"
            value={name}
            onChange={(e) => {
              setNamed(true);
              set({ name: e.currentTarget.value });
            }}
            maxLength={200}
            data-autofocus={bookmarkId !== undefined || alert ? true : undefined}
          />
          <Group align="flex-start" grow>
            <Select
              id="alert-condition-kind"
              label="Condition"
              description="When it fires"
              data={CONDITION_KINDS}
              value={draft.kind}
              onChange={(value) => value && set({ kind: value as ConditionKind })}
              allowDeselect={false}
            />
            <NumberInput
              id="alert-condition-value"
              label={draft.kind === "changes_by_percent" ? "Value (%)" : "Value"}
              description={VALUE_HINTS[draft.kind]}
              value={draft.value}
              onChange={(value) => set({ value })}
              allowNegative={draft.kind === "above" || draft.kind === "below"}
              error={draft.value !== "" ? problem : undefined}
              required
            />
          </Group>
          <Select
            id="alert-frequency"
            label="Check it"
            description="Each check compares the period just ended with the one before"
            data={FREQUENCIES}
            value={draft.frequency}
            onChange={(value) => value && set({ frequency: value as Frequency })}
            allowDeselect={false}
          />
          <Fieldset legend="Where it goes" variant="unstyled">
            <Stack gap="sm">
              <Text size="xs" c="dimmed">
                E-mail recipients, a webhook, or both.
              </Text>
              {members.isError ? (
                <TagsInput
                  id="alert-emails"
                  label="E-mail recipients"
                  description="Members of the organization only. Their list cannot be read: type each address and press Enter."
                  value={draft.emails}
                  onChange={(emails) => set({ emails })}
                  clearable
                />
              ) : (
                <MultiSelect
                  id="alert-emails"
                  label="E-mail recipients"
                  description="Members of the organization"
                  placeholder={members.isPending && org ? "Loading…" : draft.emails.length ? undefined : "Choose members"}
                  data={emailOptions}
                  value={draft.emails}
                  onChange={(emails) => set({ emails })}
                  searchable
                  clearable
                  nothingFoundMessage="No such member"
                />
              )}
              <TextInput
                id="alert-webhook-url"
                label="Webhook URL"
                description="An https:// address that receives each alert as JSON; empty for none"
                placeholder="https://"
                type="url"
                value={draft.webhookUrl}
                onChange={(e) => set({ webhookUrl: e.currentTarget.value })}
              />
              {draft.webhookUrl.trim() !== "" && (
                <Group align="flex-start" grow>
                  <TextInput
                    id="alert-webhook-username"
                    label="Webhook user name"
                    description="Optional: sent with Basic authentication"
                    value={draft.webhookUsername}
                    onChange={(e) => set({ webhookUsername: e.currentTarget.value })}
                    maxLength={200}
                    autoComplete="off"
                  />
                  <PasswordInput
                    id="alert-webhook-password"
                    label="Webhook password"
                    description={alert?.webhook?.has_password ? "A password is stored: leave empty to keep it" : "Optional"}
                    value={draft.webhookPassword}
                    onChange={(e) => set({ webhookPassword: e.currentTarget.value, removePassword: false })}
                    disabled={draft.removePassword}
                    autoComplete="new-password"
                  />
                </Group>
              )}
              {draft.webhookUrl.trim() !== "" && alert?.webhook?.has_password && (
                <Checkbox
                  id="alert-webhook-password-remove"
                  label="Remove the stored password"
                  checked={draft.removePassword}
                  onChange={(e) => set({ removePassword: e.currentTarget.checked, webhookPassword: "" })}
                />
              )}
            </Stack>
          </Fieldset>
          {alert?.status === "invalid" && (
            <Text size="sm" c="dimmed">
              Saving follows the report's current shape, and the alert is checked again.
            </Text>
          )}
          {save.error && <ErrorNote error={save.error} title="The alert was not saved" />}
          <Group justify="flex-end">
            <Button variant="default" onClick={onClose}>
              Cancel
            </Button>
            <Button type="submit" id="alert-save" loading={save.isPending} disabled={draft.bookmarkId === null || problem !== null}>
              {alert ? "Save alert" : "Create alert"}
            </Button>
          </Group>
        </Stack>
      </form>
    </Modal>
  );
}
