// Project settings › Data views: the project's filtered views (which events, and conditions
// on their properties and on their users' profiles), the default one, and who may open each.
// Those who may edit the project's settings make, change and delete views and set their
// members (users and teams of the organization); everyone else sees the views open to them.
import { useMemo, useState } from "react";
import { Badge, Button, Card, Fieldset, Group, Modal, MultiSelect, SimpleGrid, Stack, Switch, TagsInput, Text, TextInput, Textarea, Title } from "@mantine/core";
import { useMutation, useQueryClient } from "@tanstack/react-query";
import { useParams } from "react-router-dom";
import { del, messageOf, patch, post, put } from "../../api/client";
import { ALL_PROJECT_DATA, dataViewPaths } from "../../api/dataViews";
import { mayInProject, useCurrent, useDataViews, useOrgMembers } from "../../api/hooks";
import type { Filter } from "../../api/report";
import type { Body, DataView, DataViewMember } from "../../api/types";
import { describeFilter } from "../analysis/filterModel";
import { FilterEditor } from "../analysis/Filters";
import { useLexicon } from "../analysis/parts";
import { ConfirmDialog } from "../boards/BoardDialogs";
import { useTeams } from "../boards/queries";
import { Empty, ErrorNote, Loading, NotAllowed, QueryView, Screen } from "../common";

const closeLabel = { "aria-label": "Close" };

export function DataViews() {
  const projectId = Number(useParams().projectId);
  const { project, org } = useCurrent();
  const manage = mayInProject(project, "edit_project_settings");
  const queryClient = useQueryClient();
  const views = useDataViews(projectId);
  const [editing, setEditing] = useState<DataView | "new" | null>(null);
  const [deleting, setDeleting] = useState<DataView | null>(null);
  const [membersOf, setMembersOf] = useState<DataView | null>(null);
  // A changed view changes what its readers see: everything read of the project is read again.
  const refresh = () => queryClient.invalidateQueries({ queryKey: ["project", projectId] });
  return (
    <Screen
      title="Data views"
      actions={
        manage ? (
          <Button id="data-view-new" onClick={() => setEditing("new")}>
            New data view
          </Button>
        ) : undefined
      }
    >
      <Text size="sm" c="dimmed">
        A data view shows only some of the project's events and users. Its members read the project through it; a view marked default is what
        everyone without another view reads.
      </Text>
      {!manage && <NotAllowed>Only those who may edit the project's settings manage its data views.</NotAllowed>}
      <QueryView query={views}>
        {(list) =>
          list.length === 0 ? (
            <Empty>No data view is open to you.</Empty>
          ) : (
            <SimpleGrid cols={{ base: 1, md: 2 }}>
              {list.map((view) => (
                <DataViewCard
                  key={view.id}
                  view={view}
                  orgId={manage ? org?.id : undefined}
                  onEdit={manage && view.id !== ALL_PROJECT_DATA ? () => setEditing(view) : undefined}
                  onMembers={manage ? () => setMembersOf(view) : undefined}
                  onDelete={manage && view.id !== ALL_PROJECT_DATA ? () => setDeleting(view) : undefined}
                />
              ))}
            </SimpleGrid>
          )
        }
      </QueryView>
      {manage && editing !== null && (
        <DataViewDialog
          key={editing === "new" ? "new" : editing.id}
          projectId={projectId}
          view={editing === "new" ? null : editing}
          onClose={() => setEditing(null)}
          onSaved={refresh}
        />
      )}
      {manage && membersOf !== null && (
        <MembersDialog key={membersOf.id} projectId={projectId} orgId={org?.id} view={membersOf} onClose={() => setMembersOf(null)} onSaved={refresh} />
      )}
      {manage && (
        <ConfirmDialog
          opened={deleting !== null}
          onClose={() => setDeleting(null)}
          title={`Delete ${deleting?.name ?? ""}`}
          confirm="Delete data view"
          onConfirm={async () => {
            if (!deleting) return;
            await del(dataViewPaths.one(projectId, deleting.id));
            await refresh();
          }}
        >
          <Text>
            Its members then read the project's default view, and the public links made in it stop working. The data itself stays.
          </Text>
        </ConfirmDialog>
      )}
    </Screen>
  );
}

/** Who a member is: a user's email or a team's name, as the organization lists them. */
function useMemberNames(orgId: number | undefined) {
  const people = useOrgMembers(orgId);
  const teams = useTeams(orgId);
  return (member: DataViewMember) => {
    if (member.kind === "team") return `Team ${teams.data?.find((t) => t.id === member.id)?.name ?? member.id}`;
    return people.data?.find((p) => p.user_id === member.id)?.email ?? `User ${member.id}`;
  };
}

/** A view: its description, events and conditions, and (to its managers) its members. */
function DataViewCard({
  view,
  orgId,
  onEdit,
  onMembers,
  onDelete,
}: {
  view: DataView;
  orgId: number | undefined;
  onEdit?: () => void;
  onMembers?: () => void;
  onDelete?: () => void;
}) {
  const nameOf = useMemberNames(orgId);
  const events = view.filters.events ?? [];
  const conditions = view.filters.filters ?? [];
  return (
    <Card withBorder component="section" aria-label={`Data view ${view.name}`} data-testid={`data-view-${view.id}`}>
      <Group justify="space-between" wrap="nowrap">
        <Title order={2} size="h4">
          {view.name}
        </Title>
        {view.is_default && (
          <Badge variant="light" data-testid="data-view-default">
            Default
          </Badge>
        )}
      </Group>
      {view.description && <Text size="sm">{view.description}</Text>}
      <Stack gap={2} mt="xs">
        <Text size="sm" data-testid="data-view-events">
          <b>Events:</b> {events.length > 0 ? events.join(", ") : "All events"}
        </Text>
        <Text size="sm" data-testid="data-view-conditions">
          <b>Conditions:</b> {conditions.length > 0 ? conditions.map(describeFilter).join("; ") : "None"}
        </Text>
        {onMembers && (
          <Text size="sm" data-testid="data-view-members">
            <b>Members:</b> {view.members.length > 0 ? view.members.map(nameOf).join(", ") : "None added"}
          </Text>
        )}
      </Stack>
      {(onEdit || onMembers || onDelete) && (
        <Group mt="sm" gap="xs">
          {onEdit && (
            <Button size="compact-sm" variant="default" aria-label={`Edit ${view.name}`} onClick={onEdit}>
              Edit
            </Button>
          )}
          {onMembers && (
            <Button size="compact-sm" variant="default" aria-label={`Members of ${view.name}`} onClick={onMembers}>
              Members
            </Button>
          )}
          {onDelete && (
            <Button size="compact-sm" color="red" variant="light" aria-label={`Delete ${view.name}`} onClick={onDelete}>
              Delete
            </Button>
          )}
        </Group>
      )}
    </Card>
  );
}

/** Makes a view or changes one: its name, description, events, conditions and default mark. */
function DataViewDialog({ projectId, view, onClose, onSaved }: { projectId: number; view: DataView | null; onClose: () => void; onSaved: () => void }) {
  const lexicon = useLexicon(projectId);
  const [name, setName] = useState(view?.name ?? "");
  const [description, setDescription] = useState(view?.description ?? "");
  const [events, setEvents] = useState<string[]>(view?.filters.events ?? []);
  const [filters, setFilters] = useState<Filter[]>(view?.filters.filters ?? []);
  const [isDefault, setIsDefault] = useState(view?.is_default ?? false);
  const eventNames = useMemo(() => (lexicon.data?.events ?? []).map((e) => e.name).sort(), [lexicon.data]);
  const save = useMutation({
    mutationFn: () => {
      // A condition left without a property says nothing: it is not sent.
      const body: Body<"DataViewBody"> = {
        name: name.trim(),
        description: description.trim(),
        filters: { events, filters: filters.filter((f) => f.property) },
        is_default: isDefault,
      };
      return view ? patch<DataView>(dataViewPaths.one(projectId, view.id), body) : post<DataView>(dataViewPaths.list(projectId), body);
    },
    onSuccess: () => {
      onSaved();
      onClose();
    },
  });
  return (
    <Modal opened onClose={onClose} title={view ? `Edit ${view.name}` : "New data view"} size="xl" closeButtonProps={closeLabel}>
      <form
        onSubmit={(event) => {
          event.preventDefault();
          save.mutate();
        }}
      >
        <Stack gap="sm">
          <TextInput id="data-view-name" label="Name" value={name} onChange={(e) => setName(e.currentTarget.value)} maxLength={255} required data-autofocus />
          <Textarea id="data-view-description" label="Description" value={description} onChange={(e) => setDescription(e.currentTarget.value)} autosize minRows={2} />
          <TagsInput
            id="data-view-events"
            label="Events"
            description="Only these events; none: every event. Choose from the Lexicon or type a name and press Enter."
            placeholder={events.length ? undefined : "All events"}
            data={eventNames}
            value={events}
            onChange={setEvents}
            clearable
          />
          {lexicon.isError && <Text size="sm" c="dimmed">The Lexicon cannot be read: {messageOf(lexicon.error)}</Text>}
          <Fieldset legend="Conditions" variant="unstyled">
            <Text size="xs" c="dimmed" mb="xs">
              All must hold. A condition on a user property keeps only the users whose profiles meet it, with their events.
            </Text>
            <FilterEditor projectId={projectId} filters={filters} onChange={setFilters} cohorts={false} />
          </Fieldset>
          <Switch
            id="data-view-default"
            label="Default view"
            description="What everyone in the project without another view reads. All Project Data then stays open only to its members and to those who manage views."
            checked={isDefault}
            onChange={(e) => setIsDefault(e.currentTarget.checked)}
          />
          {save.error && <ErrorNote error={save.error} title="The data view was not saved" />}
          <Group justify="flex-end">
            <Button variant="default" onClick={onClose}>
              Cancel
            </Button>
            <Button type="submit" loading={save.isPending} id="data-view-save">
              {view ? "Save" : "Create data view"}
            </Button>
          </Group>
        </Stack>
      </form>
    </Modal>
  );
}

const memberValue = (member: DataViewMember) => `${member.kind}:${member.id}`;

function memberOf(value: string): DataViewMember {
  const [kind, id] = value.split(":");
  return { kind, id: Number(id) };
}

/** Sets who may open a view: users and teams of the organization. */
function MembersDialog({
  projectId,
  orgId,
  view,
  onClose,
  onSaved,
}: {
  projectId: number;
  orgId: number | undefined;
  view: DataView;
  onClose: () => void;
  onSaved: () => void;
}) {
  const people = useOrgMembers(orgId);
  const teams = useTeams(orgId);
  const nameOf = useMemberNames(orgId);
  const [chosen, setChosen] = useState<string[]>(() => view.members.map(memberValue));
  const options = useMemo(() => {
    const listed = [
      { group: "People", items: (people.data ?? []).map((p) => ({ value: `user:${p.user_id}`, label: p.email })) },
      { group: "Teams", items: (teams.data ?? []).map((t) => ({ value: `team:${t.id}`, label: `Team ${t.name}` })) },
    ];
    // A member the lists do not name (they cannot be read, or it left) still shows as chosen.
    const known = new Set(listed.flatMap((g) => g.items.map((i) => i.value)));
    const others = view.members.filter((m) => !known.has(memberValue(m))).map((m) => ({ value: memberValue(m), label: nameOf(m) }));
    return others.length > 0 ? [...listed, { group: "Others", items: others }] : listed;
  }, [people.data, teams.data, view.members]); // eslint-disable-line react-hooks/exhaustive-deps
  const save = useMutation({
    mutationFn: () => put<DataViewMember[]>(dataViewPaths.members(projectId, view.id), { members: chosen.map(memberOf) } satisfies Body<"DataViewMembersBody">),
    onSuccess: () => {
      onSaved();
      onClose();
    },
  });
  return (
    <Modal opened onClose={onClose} title={`Members of ${view.name}`} size="lg" closeButtonProps={closeLabel}>
      <form
        onSubmit={(event) => {
          event.preventDefault();
          save.mutate();
        }}
      >
        <Stack gap="sm">
          <Text size="sm">
            {view.id === ALL_PROJECT_DATA
              ? "Who may still read All Project Data once another view is the default (those who manage views always may)."
              : "Who may open this view, besides those who manage views (and everyone, when it is the default)."}
          </Text>
          {(people.isPending || teams.isPending) && orgId !== undefined && <Loading label="Loading the organization's users and teams…" />}
          {people.isError && <ErrorNote error={people.error} title="The organization's users cannot be listed" />}
          {teams.isError && <ErrorNote error={teams.error} title="The organization's teams cannot be listed" />}
          <MultiSelect
            id="data-view-members"
            label="Users and teams"
            placeholder={chosen.length ? undefined : "Choose users or teams"}
            data={options}
            value={chosen}
            onChange={setChosen}
            searchable
            clearable
            nothingFoundMessage="No such user or team"
          />
          {save.error && <ErrorNote error={save.error} title="The members were not changed" />}
          <Group justify="flex-end">
            <Button variant="default" onClick={onClose}>
              Cancel
            </Button>
            <Button type="submit" loading={save.isPending} id="data-view-members-save">
              Save members
            </Button>
          </Group>
        </Stack>
      </form>
    </Modal>
  );
}
