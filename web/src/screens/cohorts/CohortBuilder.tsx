// The cohort builder: a name and description, whether the project shares it, and the
// conditions its users meet (all or any of them), each what users did, a profile property,
// or (not) being in another cohort. "Count users" counts who is in it before it is saved.
import { useEffect, useMemo, useState } from "react";
import { ActionIcon, Button, Checkbox, Group, Modal, NumberInput, Paper, Radio, Select, Stack, Text, Textarea, TextInput } from "@mantine/core";
import { useMutation, useQueryClient } from "@tanstack/react-query";
import { patch, post } from "../../api/client";
import {
  COMPARISONS,
  type Cohort,
  type CohortDraft,
  type CohortUsers,
  type CountComparison,
  DRAFT_KINDS,
  type DraftCondition,
  type DraftKind,
  bodyOf,
  definitionOf,
  draftKind,
  draftOf,
  draftProblem,
  emptyDraft,
  newCondition,
  summary,
} from "../../api/cohorts";
import type { Filter } from "../../api/report";
import { formatValue } from "../../api/report";
import { mayInProject, useCurrent } from "../../api/hooks";
import { EventPicker, useLexicon } from "../analysis/parts";
import { OPERATORS, takesValue } from "../analysis/filterModel";
import { ErrorNote } from "../common";
import { cohortKeys, cohortsBase, useCohorts } from "./queries";

/** New (no `cohort`) or changing a saved one; `onSaved` gets the saved cohort. */
export function CohortBuilder({
  projectId,
  opened,
  onClose,
  cohort,
  onSaved,
}: {
  projectId: number;
  opened: boolean;
  onClose: () => void;
  cohort?: Cohort;
  onSaved?: (cohort: Cohort) => void;
}) {
  const { project } = useCurrent();
  const mayShare = mayInProject(project, "share_entities");
  const mayCount = mayInProject(project, "view_users");
  const queryClient = useQueryClient();
  const cohorts = useCohorts(projectId);
  const [draft, setDraft] = useState<CohortDraft>(emptyDraft);
  const [counted, setCounted] = useState<{ count: number; definition: string } | null>(null);
  const definitionText = JSON.stringify(definitionOf(draft));
  const preview = useMutation({
    mutationFn: () => post<CohortUsers>(`${cohortsBase(projectId)}/preview`, { definition: definitionOf(draft) }),
    onSuccess: (answer) => setCounted({ count: answer.count, definition: definitionText }),
  });
  const save = useMutation({
    mutationFn: () =>
      cohort ? patch<Cohort>(`${cohortsBase(projectId)}/${cohort.id}`, bodyOf(draft)) : post<Cohort>(cohortsBase(projectId), bodyOf(draft)),
    onSuccess: (saved) => {
      queryClient.invalidateQueries({ queryKey: cohortKeys.all(projectId) });
      onClose();
      onSaved?.(saved);
    },
  });

  // Each opening starts afresh: empty, or the saved cohort as it is now.
  useEffect(() => {
    if (!opened) return;
    setDraft(cohort ? draftOf(cohort) : emptyDraft());
    setCounted(null);
    save.reset();
    preview.reset();
  }, [opened, cohort]); // eslint-disable-line react-hooks/exhaustive-deps

  const problem = draftProblem(draft);
  const countProblem = draftProblem(draft, false);
  // Others' cohorts may be chosen too; a cohort cannot name itself.
  const choices = (cohorts.data ?? []).filter((c) => c.id !== cohort?.id).map((c) => ({ value: String(c.id), label: c.name }));
  const nameOf = (id: number) => cohorts.data?.find((c) => c.id === id)?.name;
  const setCondition = (index: number, condition: DraftCondition) =>
    setDraft({ ...draft, conditions: draft.conditions.map((c, i) => (i === index ? condition : c)) });
  // Sharing is kept as it is when the caller may not change it.
  const shareReason = mayShare ? undefined : "Your role may not share cohorts: this one stays private to you.";

  return (
    <Modal opened={opened} onClose={onClose} title={cohort ? `Edit cohort “${cohort.name}”` : "New cohort"} size="xl" closeButtonProps={{ "aria-label": "Close" }}>
      <form
        onSubmit={(event) => {
          event.preventDefault();
          if (!problem) save.mutate();
        }}
      >
        <Stack gap="sm">
          <TextInput id="cohort-name" label="Name" value={draft.name} onChange={(e) => setDraft({ ...draft, name: e.currentTarget.value })} required maxLength={200} data-autofocus />
          <Textarea id="cohort-description" label="Description" value={draft.description} onChange={(e) => setDraft({ ...draft, description: e.currentTarget.value })} autosize minRows={2} />
          <Checkbox
            id="cohort-shared"
            label="Share with the project"
            description={shareReason ?? "Everyone in the project may then use it in reports."}
            checked={draft.shared}
            disabled={!mayShare}
            onChange={(e) => setDraft({ ...draft, shared: e.currentTarget.checked })}
          />
          <Radio.Group label="Match" value={draft.match} onChange={(value) => setDraft({ ...draft, match: value as CohortDraft["match"] })}>
            <Group mt={4}>
              <Radio value="all" label="All" description="Users meet every condition" />
              <Radio value="any" label="Any" description="Users meet at least one condition" />
            </Group>
          </Radio.Group>
          <Stack gap="xs" role="list" aria-label="Conditions">
            {draft.conditions.map((condition, index) => (
              <Paper key={index} withBorder p="xs" role="listitem">
                <Group align="flex-end" gap="xs" role="group" aria-label={`Condition ${index + 1}`}>
                  <ConditionFields
                    projectId={projectId}
                    index={index}
                    condition={condition}
                    onChange={(next) => setCondition(index, next)}
                    choices={choices}
                    cohortsLoading={cohorts.isPending}
                    nameOf={nameOf}
                  />
                  <ActionIcon
                    variant="subtle"
                    color="gray"
                    aria-label={`Remove condition ${index + 1}`}
                    onClick={() => setDraft({ ...draft, conditions: draft.conditions.filter((_, i) => i !== index) })}
                  >
                    ×
                  </ActionIcon>
                </Group>
              </Paper>
            ))}
          </Stack>
          <Group>
            <Button variant="subtle" size="compact-sm" onClick={() => setDraft({ ...draft, conditions: [...draft.conditions, newCondition("behavior")] })}>
              Add condition
            </Button>
          </Group>
          <Group align="center">
            <Button
              variant="default"
              onClick={() => preview.mutate()}
              loading={preview.isPending}
              disabled={!mayCount || countProblem != null}
              title={!mayCount ? "Your role may not view users, so it may not count them." : undefined}
            >
              Count users
            </Button>
            <Text size="sm" role="status" aria-live="polite" data-testid="cohort-preview">
              {counted
                ? `${formatValue(counted.count)} ${counted.count === 1 ? "user" : "users"}${counted.definition === definitionText ? "" : " (before your last change)"}`
                : !mayCount
                  ? "Your role may not view users, so it may not count them."
                  : ""}
            </Text>
          </Group>
          {preview.error && <ErrorNote error={preview.error} title="The users cannot be counted" />}
          {problem && (
            <Text size="sm" c="dimmed" data-testid="cohort-problem">
              {problem}
            </Text>
          )}
          {save.error && <ErrorNote error={save.error} title="The cohort was not saved" />}
          <Group justify="flex-end">
            <Button variant="default" onClick={onClose}>
              Cancel
            </Button>
            <Button type="submit" loading={save.isPending} disabled={problem != null}>
              Save cohort
            </Button>
          </Group>
        </Stack>
      </form>
    </Modal>
  );
}

function ConditionFields({
  projectId,
  index,
  condition,
  onChange,
  choices,
  cohortsLoading,
  nameOf,
}: {
  projectId: number;
  index: number;
  condition: DraftCondition;
  onChange: (condition: DraftCondition) => void;
  choices: { value: string; label: string }[];
  cohortsLoading: boolean;
  nameOf: (id: number) => string | undefined;
}) {
  const id = (field: string) => `condition-${index}-${field}`;
  const kind = draftKind(condition);
  if (condition.kind === "fixed") {
    return (
      <Stack gap={2} style={{ flex: 1 }}>
        <Text size="sm" fw={500}>
          {summary(condition.condition, nameOf)}
        </Text>
        <Text size="xs" c="dimmed">
          Kept as saved: the builder cannot change this condition, only remove it.
        </Text>
      </Stack>
    );
  }
  return (
    <>
      <Select
        id={id("kind")}
        label="Condition type"
        data={DRAFT_KINDS}
        value={kind}
        onChange={(value) => value && value !== kind && onChange(newCondition(value as DraftKind))}
        allowDeselect={false}
        w={170}
      />
      {condition.kind === "behavior" && (
        <>
          <EventPicker id={id("event")} projectId={projectId} label="Event" value={condition.event} onChange={(event) => onChange({ ...condition, event })} />
          <Select
            id={id("comparison")}
            label="Comparison"
            data={COMPARISONS}
            value={condition.comparison}
            onChange={(value) => value && onChange({ ...condition, comparison: value as CountComparison })}
            allowDeselect={false}
            w={120}
          />
          <NumberInput
            id={id("count")}
            label="Count"
            min={0}
            allowDecimal={false}
            value={condition.count}
            onChange={(value) => onChange({ ...condition, count: Math.max(0, Math.floor(Number(value) || 0)) })}
            w={90}
          />
          <NumberInput
            id={id("days")}
            label="In the last (days)"
            min={1}
            max={3660}
            allowDecimal={false}
            value={condition.days}
            onChange={(value) => onChange({ ...condition, days: Math.max(1, Math.floor(Number(value) || 1)) })}
            w={130}
          />
        </>
      )}
      {condition.kind === "profile" && <ProfileFields projectId={projectId} id={id} condition={condition} onChange={onChange} />}
      {condition.kind === "cohort" && (
        <Select
          id={id("cohort")}
          label="Cohort"
          placeholder={cohortsLoading ? "Loading…" : "Choose a cohort"}
          data={
            condition.id != null && !choices.some((c) => c.value === String(condition.id))
              ? [...choices, { value: String(condition.id), label: nameOf(condition.id) ?? `Cohort #${condition.id}` }]
              : choices
          }
          value={condition.id == null ? null : String(condition.id)}
          onChange={(value) => value && onChange({ ...condition, id: Number(value) })}
          searchable
          allowDeselect={false}
          nothingFoundMessage="No other cohort yet"
          w={240}
        />
      )}
    </>
  );
}

function ProfileFields({
  projectId,
  id,
  condition,
  onChange,
}: {
  projectId: number;
  id: (field: string) => string;
  condition: Extract<DraftCondition, { kind: "profile" }>;
  onChange: (condition: DraftCondition) => void;
}) {
  const lexicon = useLexicon(projectId);
  const properties = useMemo(() => {
    const names = (lexicon.data?.user_properties ?? []).map((p) => p.name).sort();
    if (condition.property && !names.includes(condition.property)) names.unshift(condition.property);
    return names;
  }, [lexicon.data, condition.property]);
  return (
    <>
      <Select
        id={id("property")}
        label="Property"
        placeholder="Choose a profile property"
        data={properties}
        value={condition.property || null}
        onChange={(value) => value && onChange({ ...condition, property: value })}
        searchable
        allowDeselect={false}
        nothingFoundMessage="No profile property yet"
        w={220}
      />
      <Select
        id={id("operator")}
        label="Operator"
        data={OPERATORS}
        value={condition.operator}
        onChange={(value) => value && onChange({ ...condition, operator: value as Filter["operator"] })}
        allowDeselect={false}
        w={160}
      />
      {takesValue(condition.operator) && (
        <TextInput
          id={id("value")}
          label="Value"
          description={condition.operator === "equals" || condition.operator === "not_equals" ? "Several: separate with commas" : undefined}
          value={condition.value}
          onChange={(e) => onChange({ ...condition, value: e.currentTarget.value })}
          w={200}
        />
      )}
    </>
  );
}
