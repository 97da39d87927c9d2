// Lexicon: every event and property the project has received, with types, counts, first
// and last seen; its editors name, describe, tag, hide and give owners to them, and import
// the whole dictionary from a CSV; its Owners drop events and merge an event or property
// into another; those who may mark classified data mark properties whose values only some
// may see.
import { useMemo, useState } from "react";
import { Badge, Button, Checkbox, Group, Input, Modal, MultiSelect, Select, Stack, Table, TagsInput, Text, TextInput, Textarea } from "@mantine/core";
import { useMutation, useQueryClient } from "@tanstack/react-query";
import { createColumnHelper } from "@tanstack/react-table";
import { useParams } from "react-router-dom";
import { patch, post, put } from "../../api/client";
import { mayInProject, useCurrent, useOrgMembers } from "../../api/hooks";
import { type Imported, type LexiconEdit, type LexiconForm, type MergedBody, editBody, formOf, lexiconPaths, mergeTargets } from "../../api/lexicon";
import type { LexiconEvent } from "../../api/types";
import { ConfirmDialog } from "../boards/BoardDialogs";
import { DataTable } from "../DataTable";
import { Empty, ErrorNote, NotAllowed, QueryView, Screen, when } from "../common";
import { useLexicon } from "./parts";

type Editing = { kind: "event" | "property"; name: string; entry: LexiconEdit };
type Merging = { kind: "event" | "property"; name: string };

const lexiconKey = (projectId: number) => ["project", projectId, "lexicon"];

/** Description, tags, owners and the Hidden / Dropped / Classified / Merged marks of an entry. */
function About({ entry }: { entry: LexiconEdit }) {
  const marks = entry.tags.length > 0 || entry.hidden || entry.dropped || entry.classified || !!entry.merged_into;
  const owners = entry.owners ?? [];
  if (!entry.description && !marks && owners.length === 0) return null;
  return (
    <Stack gap={4}>
      {entry.description && (
        <Text size="sm" c="dimmed">
          {entry.description}
        </Text>
      )}
      {marks && (
        <Group gap={4}>
          {entry.tags.map((t) => (
            <Badge key={t} variant="outline" size="sm">
              {t}
            </Badge>
          ))}
          {entry.hidden && (
            <Badge color="gray" size="sm">
              Hidden
            </Badge>
          )}
          {entry.dropped && (
            <Badge color="red" size="sm">
              Dropped
            </Badge>
          )}
          {entry.classified && (
            <Badge color="grape" size="sm" data-testid="classified">
              Classified
            </Badge>
          )}
          {entry.merged_into && (
            <Badge color="orange" size="sm" data-testid="merged-into" data-value={entry.merged_into} style={{ textTransform: "none" }}>
              Merged into {entry.merged_into}
            </Badge>
          )}
        </Group>
      )}
      {owners.length > 0 && (
        <Text size="xs" c="dimmed" data-testid="owners">
          Owners: {owners.join(", ")}
        </Text>
      )}
    </Stack>
  );
}

/** The raw name, under its display name when it has one. */
function Named({ name, display }: { name: string; display: string }) {
  if (!display) return <>{name}</>;
  return (
    <Stack gap={0}>
      <Text size="sm" fw={500}>
        {display}
      </Text>
      <Text size="xs" c="dimmed" ff="monospace">
        {name}
      </Text>
    </Stack>
  );
}

function EditDialog({ projectId, editing, onClose }: { projectId: number; editing: Editing; onClose: () => void }) {
  const queryClient = useQueryClient();
  const { org } = useCurrent();
  const members = useOrgMembers(org?.id);
  const [form, setForm] = useState<LexiconForm>(() => formOf(editing.entry));
  // The members' e-mails, and an owner they do not list (who left, say) still shown as chosen.
  const ownerOptions = useMemo(() => {
    const known = (members.data ?? []).map((m) => m.email).sort((a, b) => a.localeCompare(b));
    const others = form.owners.filter((e) => !known.some((k) => k.toLowerCase() === e.toLowerCase()));
    return [...known, ...others];
  }, [members.data, form.owners]);
  const save = useMutation({
    mutationFn: async () => {
      const body = editBody(editing.entry, form);
      if (Object.keys(body).length === 0) return;
      const path = editing.kind === "event" ? lexiconPaths.event(projectId, editing.name) : lexiconPaths.property(projectId, editing.name);
      await patch<LexiconEdit>(path, body);
      await queryClient.invalidateQueries({ queryKey: lexiconKey(projectId) });
    },
    onSuccess: onClose,
  });
  return (
    <Modal opened onClose={onClose} title={`Edit ${editing.name}`} closeButtonProps={{ "aria-label": "Close" }}>
      <form
        onSubmit={(event) => {
          event.preventDefault();
          save.mutate();
        }}
      >
        <Stack gap="sm">
          <TextInput label="Display name" value={form.display_name} onChange={(e) => setForm({ ...form, display_name: e.currentTarget.value })} maxLength={200} data-autofocus />
          <Textarea label="Description" value={form.description} onChange={(e) => setForm({ ...form, description: e.currentTarget.value })} autosize minRows={2} />
          <TagsInput label="Tags" value={form.tags} onChange={(tags) => setForm({ ...form, tags })} clearable />
          {members.isError ? (
            <TagsInput
              id="lexicon-owners"
              label="Owners"
              description="Members of the organization to ask about it. Their list cannot be read: type each e-mail and press Enter."
              value={form.owners}
              onChange={(owners) => setForm({ ...form, owners })}
              clearable
            />
          ) : (
            <MultiSelect
              id="lexicon-owners"
              label="Owners"
              description="Members of the organization to ask about it"
              placeholder={members.isPending && org ? "Loading…" : form.owners.length ? undefined : "Choose members"}
              data={ownerOptions}
              value={form.owners}
              onChange={(owners) => setForm({ ...form, owners })}
              searchable
              clearable
              nothingFoundMessage="No such member"
            />
          )}
          <Checkbox
            label="Hidden from menus"
            description="Its data is still stored."
            checked={form.hidden}
            onChange={(e) => setForm({ ...form, hidden: e.currentTarget.checked })}
          />
          {save.error && <ErrorNote error={save.error} title="The Lexicon was not changed" />}
          <Group justify="flex-end">
            <Button variant="default" onClick={onClose}>
              Cancel
            </Button>
            <Button type="submit" loading={save.isPending}>
              Save
            </Button>
          </Group>
        </Stack>
      </form>
    </Modal>
  );
}

/** Merging an event or an event property into another of its kind, for every query. */
function MergeDialog({ projectId, merging, targets, onClose }: { projectId: number; merging: Merging; targets: string[]; onClose: () => void }) {
  const queryClient = useQueryClient();
  const [into, setInto] = useState<string | null>(null);
  const noun = merging.kind === "event" ? "event" : "property";
  const save = useMutation({
    mutationFn: async () => {
      await put<LexiconEdit>(lexiconPaths.merged(projectId, merging.kind, merging.name), { into } satisfies MergedBody);
      await queryClient.invalidateQueries({ queryKey: lexiconKey(projectId) });
    },
    onSuccess: onClose,
  });
  return (
    <Modal opened onClose={onClose} title={`Merge ${merging.name}`} closeButtonProps={{ "aria-label": "Close" }}>
      <form
        onSubmit={(event) => {
          event.preventDefault();
          if (into) save.mutate();
        }}
      >
        <Stack gap="sm">
          <Text size="sm">
            Every report reads “{merging.name}” as the {noun} you choose, counted together with it. What is stored does not change: unmerging
            brings them apart again.
          </Text>
          <Select
            id="merge-into"
            label="Merge into"
            description={`Another ${noun}; those merged into one are not listed (merges do not chain).`}
            placeholder={merging.kind === "event" ? "Choose an event" : "Choose a property"}
            data={targets}
            value={into}
            onChange={setInto}
            searchable
            required
            nothingFoundMessage={`No such ${noun}`}
            data-autofocus
          />
          {save.error && <ErrorNote error={save.error} title={`The ${noun} was not merged`} />}
          <Group justify="flex-end">
            <Button variant="default" onClick={onClose}>
              Cancel
            </Button>
            <Button type="submit" id="merge-submit" loading={save.isPending} disabled={!into}>
              Merge
            </Button>
          </Group>
        </Stack>
      </form>
    </Modal>
  );
}

/** Importing the Lexicon from a CSV in the export's columns, over it or in place of it. */
function ImportDialog({ projectId, onClose }: { projectId: number; onClose: () => void }) {
  const queryClient = useQueryClient();
  const [file, setFile] = useState<File | null>(null);
  const [replace, setReplace] = useState(false);
  const upload = useMutation({
    mutationFn: async () => {
      if (!file) throw new Error("Choose a CSV file.");
      // Sent as CSV whatever the browser calls the file's type.
      const body = new Blob([await file.text()], { type: "text/csv" });
      const imported = await post<Imported>(lexiconPaths.import(projectId, replace), body);
      await queryClient.invalidateQueries({ queryKey: lexiconKey(projectId) });
      return imported;
    },
  });
  return (
    <Modal opened onClose={onClose} title="Import the Lexicon" closeButtonProps={{ "aria-label": "Close" }}>
      {upload.isSuccess ? (
        <Stack gap="sm">
          <Text role="status" data-testid="lexicon-imported" data-value={upload.data.imported}>
            Imported {upload.data.imported} {upload.data.imported === 1 ? "entry" : "entries"}.
          </Text>
          <Group justify="flex-end">
            <Button variant="default" onClick={onClose}>
              Close
            </Button>
          </Group>
        </Stack>
      ) : (
        <form
          onSubmit={(event) => {
            event.preventDefault();
            if (file) upload.mutate();
          }}
        >
          <Stack gap="sm">
            <Text size="sm">
              A CSV with the Lexicon export's columns: kind (event or property), name, display_name, description, tags, hidden and owners, lists
              separated by “;”. Each row replaces what its entry said.
            </Text>
            <Input.Wrapper id="lexicon-import-file" label="CSV file" required>
              <input
                id="lexicon-import-file"
                type="file"
                accept=".csv,text/csv"
                required
                data-autofocus
                onChange={(e) => {
                  setFile(e.currentTarget.files?.[0] ?? null);
                  upload.reset();
                }}
                style={{ display: "block", marginTop: 4 }}
              />
            </Input.Wrapper>
            <Checkbox
              id="lexicon-import-replace"
              label="Replace the whole dictionary"
              description="Entries the file does not name lose their display names, descriptions, tags, owners, hidden marks and merges."
              checked={replace}
              onChange={(e) => setReplace(e.currentTarget.checked)}
            />
            {upload.error && <ErrorNote error={upload.error} title="The Lexicon was not imported" />}
            <Group justify="flex-end">
              <Button variant="default" onClick={onClose}>
                Cancel
              </Button>
              <Button type="submit" id="lexicon-import-submit" loading={upload.isPending} disabled={!file}>
                Import
              </Button>
            </Group>
          </Stack>
        </form>
      )}
    </Modal>
  );
}

export function Lexicon() {
  const projectId = Number(useParams().projectId);
  const lexicon = useLexicon(projectId);
  const { project } = useCurrent();
  const mayEdit = mayInProject(project, "edit_lexicon");
  const mayDrop = mayInProject(project, "merge_drop_data");
  const mayClassify = mayInProject(project, "mark_classified_data");
  const queryClient = useQueryClient();
  const [filter, setFilter] = useState("");
  const [open, setOpen] = useState<string | null>(null);
  const [editing, setEditing] = useState<Editing | null>(null);
  const [dropping, setDropping] = useState<LexiconEvent | null>(null);
  const [merging, setMerging] = useState<Merging | null>(null);
  const [importing, setImporting] = useState(false);
  const unmerge = useMutation({
    mutationFn: async ({ kind, name }: Merging) => {
      await put<LexiconEdit>(lexiconPaths.merged(projectId, kind, name), { into: null } satisfies MergedBody);
      await queryClient.invalidateQueries({ queryKey: lexiconKey(projectId) });
    },
  });
  const unmerging = (kind: Merging["kind"], name: string) => unmerge.isPending && unmerge.variables?.kind === kind && unmerge.variables.name === name;
  /** The Owner's merge action of an entry: Merge into… or, once merged, Unmerge. */
  const mergeButton = (kind: Merging["kind"], name: string, entry: LexiconEdit) =>
    entry.merged_into ? (
      <Button variant="subtle" size="compact-sm" aria-label={`Unmerge ${name}`} loading={unmerging(kind, name)} onClick={() => unmerge.mutate({ kind, name })}>
        Unmerge
      </Button>
    ) : (
      <Button variant="subtle" size="compact-sm" aria-label={`Merge ${name} into another ${kind}`} onClick={() => setMerging({ kind, name })}>
        Merge into…
      </Button>
    );
  const setDropped = async (name: string, dropped: boolean) => {
    await put<LexiconEdit>(lexiconPaths.dropped(projectId, name), { dropped });
    await queryClient.invalidateQueries({ queryKey: lexiconKey(projectId) });
  };
  const undrop = useMutation({ mutationFn: (name: string) => setDropped(name, false) });
  const classify = useMutation({
    mutationFn: async ({ name, classified }: { name: string; classified: boolean }) => {
      await put<LexiconEdit>(lexiconPaths.classified(projectId, name), { classified });
      await queryClient.invalidateQueries({ queryKey: lexiconKey(projectId) });
    },
  });
  const column = createColumnHelper<LexiconEvent>();
  const columns = [
    column.accessor("name", {
      header: "Event",
      cell: (c) => {
        const e = c.row.original;
        return (
          <Stack gap={0}>
            <Text component="button" type="button" size="sm" td="underline" onClick={() => setOpen(open === e.name ? null : e.name)} style={{ background: "none", border: 0, cursor: "pointer", padding: 0, textAlign: "left" }}>
              {e.display_name || e.name}
            </Text>
            {e.display_name && (
              <Text size="xs" c="dimmed" ff="monospace">
                {e.name}
              </Text>
            )}
          </Stack>
        );
      },
    }),
    column.accessor("description", { header: "About", enableSorting: false, cell: (c) => <About entry={c.row.original} /> }),
    column.accessor("count", { header: "Events", cell: (c) => c.getValue().toLocaleString() }),
    column.accessor((e) => e.properties.length, { id: "properties", header: "Properties" }),
    column.accessor("first_seen", { header: "First seen", cell: (c) => when(c.getValue()) }),
    column.accessor("last_seen", { header: "Last seen", cell: (c) => when(c.getValue()) }),
    ...(mayEdit || mayDrop
      ? [
          column.display({
            id: "actions",
            header: "Actions",
            cell: (c) => {
              const e = c.row.original;
              return (
                <Group gap="xs" wrap="nowrap">
                  {mayEdit && (
                    <Button variant="subtle" size="compact-sm" aria-label={`Edit ${e.name}`} onClick={() => setEditing({ kind: "event", name: e.name, entry: e })}>
                      Edit
                    </Button>
                  )}
                  {mayDrop && mergeButton("event", e.name, e)}
                  {mayDrop &&
                    (e.dropped ? (
                      <Button variant="subtle" size="compact-sm" aria-label={`Stop dropping ${e.name}`} loading={undrop.isPending && undrop.variables === e.name} onClick={() => undrop.mutate(e.name)}>
                        Stop dropping
                      </Button>
                    ) : (
                      <Button variant="subtle" color="red" size="compact-sm" aria-label={`Drop ${e.name}`} onClick={() => setDropping(e)}>
                        Drop
                      </Button>
                    ))}
                </Group>
              );
            },
          }),
        ]
      : []),
  ];
  return (
    <Screen
      title="Lexicon"
      actions={
        mayEdit && (
          <Button variant="default" id="lexicon-import" onClick={() => setImporting(true)}>
            Import CSV
          </Button>
        )
      }
    >
      {!mayEdit && <NotAllowed>Only project Owners and Admins edit the Lexicon.</NotAllowed>}
      <TextInput label="Search events" value={filter} onChange={(e) => setFilter(e.currentTarget.value)} maw={320} />
      {undrop.error && <ErrorNote error={undrop.error} title="The event is still dropped" />}
      {unmerge.error && <ErrorNote error={unmerge.error} title="The merge was not undone" />}
      {classify.error && <ErrorNote error={classify.error} title="The property's classification was not changed" />}
      <QueryView query={lexicon}>
        {(data) => {
          const needle = filter.toLowerCase();
          const events = data.events.filter((e) => e.name.toLowerCase().includes(needle) || e.display_name.toLowerCase().includes(needle));
          const selected = data.events.find((e) => e.name === open);
          if (data.events.length === 0) return <Empty>No event received yet. Send one with any Mixpanel SDK pointed at this server.</Empty>;
          return (
            <Stack>
              <DataTable data={events} columns={columns} label="Events" testId="lexicon" />
              {selected && (
                <Stack gap="xs" component="section" aria-label={`Properties of ${selected.name}`}>
                  <Text fw={600}>Properties of {selected.name}</Text>
                  <Table aria-label={`Properties of ${selected.name}`}>
                    <Table.Thead>
                      <Table.Tr>
                        <Table.Th>Property</Table.Th>
                        <Table.Th>About</Table.Th>
                        <Table.Th>Types</Table.Th>
                        <Table.Th>Seen</Table.Th>
                        <Table.Th>Last seen</Table.Th>
                        {(mayEdit || mayClassify || mayDrop) && <Table.Th>Actions</Table.Th>}
                      </Table.Tr>
                    </Table.Thead>
                    <Table.Tbody>
                      {selected.properties.map((p) => (
                        <Table.Tr key={p.name}>
                          <Table.Td>
                            <Named name={p.name} display={p.display_name} />
                          </Table.Td>
                          <Table.Td>
                            <About entry={p} />
                          </Table.Td>
                          <Table.Td>
                            <Group gap={4}>
                              {p.types.map((t) => (
                                <Badge key={t} variant="light" size="sm">
                                  {t}
                                </Badge>
                              ))}
                            </Group>
                          </Table.Td>
                          <Table.Td>{p.count.toLocaleString()}</Table.Td>
                          <Table.Td>{when(p.last_seen)}</Table.Td>
                          {(mayEdit || mayClassify || mayDrop) && (
                            <Table.Td>
                              <Group gap="xs" wrap="nowrap">
                                {mayEdit && (
                                  <Button variant="subtle" size="compact-sm" aria-label={`Edit ${p.name}`} onClick={() => setEditing({ kind: "property", name: p.name, entry: p })}>
                                    Edit
                                  </Button>
                                )}
                                {mayClassify && (
                                  <Button
                                    variant="subtle"
                                    size="compact-sm"
                                    aria-label={`${p.classified ? "Unmark" : "Mark"} ${p.name} classified`}
                                    loading={classify.isPending && classify.variables?.name === p.name}
                                    onClick={() => classify.mutate({ name: p.name, classified: !p.classified })}
                                  >
                                    {p.classified ? "Unmark classified" : "Mark classified"}
                                  </Button>
                                )}
                                {mayDrop && mergeButton("property", p.name, p)}
                              </Group>
                            </Table.Td>
                          )}
                        </Table.Tr>
                      ))}
                    </Table.Tbody>
                  </Table>
                </Stack>
              )}
            </Stack>
          );
        }}
      </QueryView>
      {mayEdit && editing && <EditDialog key={`${editing.kind}:${editing.name}`} projectId={projectId} editing={editing} onClose={() => setEditing(null)} />}
      {mayEdit && importing && <ImportDialog projectId={projectId} onClose={() => setImporting(false)} />}
      {mayDrop && merging && lexicon.data && (
        <MergeDialog
          key={`${merging.kind}:${merging.name}`}
          projectId={projectId}
          merging={merging}
          targets={
            merging.kind === "event"
              ? mergeTargets(merging.name, lexicon.data.events)
              : mergeTargets(merging.name, lexicon.data.events.flatMap((e) => e.properties))
          }
          onClose={() => setMerging(null)}
        />
      )}
      {mayDrop && (
        <ConfirmDialog
          opened={dropping != null}
          onClose={() => setDropping(null)}
          title={`Drop ${dropping?.name ?? ""}`}
          confirm="Drop event"
          onConfirm={() => (dropping ? setDropped(dropping.name, true) : Promise.resolve())}
        >
          <Text>
            From now on, new “{dropping?.name}” events are not stored. What is not stored is lost: stopping the drop later does not bring it back. What was stored already stays.
          </Text>
        </ConfirmDialog>
      )}
    </Screen>
  );
}
