// Organization settings › Audit log: who changed what in the organization and its projects,
// newest first, filtered by event type and days (kept in the URL, so a view can be shared),
// with each change's before and after on demand and a CSV export of the same view.
import { useEffect, useState } from "react";
import { Anchor, Button, Code, Group, Stack, Text, TextInput } from "@mantine/core";
import { keepPreviousData, useQuery } from "@tanstack/react-query";
import { createColumnHelper } from "@tanstack/react-table";
import { useParams, useSearchParams } from "react-router-dom";
import { get } from "../../api/client";
import { useOrganization } from "../../api/hooks";
import type { AuditEntry } from "../../api/types";
import { DataTable } from "../DataTable";
import { Empty, ErrorNote, Loading, NotAllowed, QueryView, Screen, when } from "../common";

const PAGE = 100;
const MAX_LIMIT = 1000;

/** The filters of the URL as the API takes them; days are whole UTC days, as the log keeps UTC. */
function filterParams(eventType: string, from: string, to: string): URLSearchParams {
  const params = new URLSearchParams();
  // Empty parameters are left out: the server reads `from=` as a time and refuses it.
  if (eventType) params.set("event_type", eventType);
  if (from) params.set("from", `${from}T00:00:00Z`);
  if (to) params.set("to", `${to}T23:59:59Z`);
  return params;
}

export function AuditLog() {
  const orgId = Number(useParams().orgId);
  const org = useOrganization(orgId);
  const allowed = org.data?.your_permissions.includes("view_org_audit_log") ?? false;
  return (
    <Screen title="Audit log">
      {org.isPending ? (
        <Loading />
      ) : org.isError ? (
        <ErrorNote error={org.error} />
      ) : allowed ? (
        <Log orgId={orgId} />
      ) : (
        <NotAllowed>Only Owners and Admins of the organization read its audit log.</NotAllowed>
      )}
    </Screen>
  );
}

function Log({ orgId }: { orgId: number }) {
  const [search, setSearch] = useSearchParams();
  const eventType = search.get("event_type") ?? "";
  const from = search.get("from") ?? "";
  const to = search.get("to") ?? "";
  const limit = Math.min(MAX_LIMIT, Math.max(PAGE, Math.floor(Number(search.get("limit"))) || PAGE));
  const [draft, setDraft] = useState({ eventType, from, to });
  // Back and forward change the URL: the form follows it.
  useEffect(() => setDraft({ eventType, from, to }), [eventType, from, to]);
  const [open, setOpen] = useState<Set<number>>(new Set());

  /** A new view in the URL: parameters set to "" are left out. */
  const update = (changes: Record<string, string>) => {
    const params = new URLSearchParams(search);
    for (const [key, value] of Object.entries(changes)) {
      if (value) params.set(key, value);
      else params.delete(key);
    }
    setSearch(params);
  };

  const filters = filterParams(eventType, from, to);
  const query = new URLSearchParams(filters);
  query.set("limit", String(limit));
  const entries = useQuery({
    queryKey: ["org", orgId, "audit-log", { eventType, from, to, limit }],
    queryFn: ({ signal }) => get<AuditEntry[]>(`/api/app/organizations/${orgId}/audit-log?${query}`, signal),
    // The rows already read stay on screen while more load, instead of a spinner.
    placeholderData: keepPreviousData,
  });
  // The export takes the same filters but not the page size: the file is not cut at the rows
  // shown, it holds as many as the server exports at once.
  const csv = new URLSearchParams(filters);
  csv.set("format", "csv");

  const toggle = (id: number) =>
    setOpen((current) => {
      const next = new Set(current);
      if (next.has(id)) next.delete(id);
      else next.add(id);
      return next;
    });
  const column = createColumnHelper<AuditEntry>();
  const columns = [
    column.accessor("time", { header: "Time", cell: (c) => <span title={c.getValue()}>{when(c.getValue())}</span> }),
    column.accessor("event_type", { header: "Event type", cell: (c) => <Code>{c.getValue()}</Code> }),
    column.accessor((entry) => entry.actor.label, {
      id: "actor",
      header: "Actor",
      cell: (c) => (
        <Stack gap={0}>
          <Text size="sm">{c.getValue() || "—"}</Text>
          <Text size="xs" c="dimmed">
            {c.row.original.actor.kind}
          </Text>
        </Stack>
      ),
    }),
    column.accessor((entry) => `${entry.target.kind} ${entry.target.id}`, {
      id: "target",
      header: "Target",
      cell: (c) => (
        <Text size="sm">
          {c.row.original.target.kind} <Code>{c.row.original.target.id}</Code>
        </Text>
      ),
    }),
    column.accessor("ip", { header: "IP", cell: (c) => c.getValue() || "—" }),
    column.display({
      id: "changes",
      header: "Changes",
      cell: (c) => {
        const entry = c.row.original;
        if (entry.before == null && entry.after == null) return <Text size="sm" c="dimmed">—</Text>;
        const expanded = open.has(entry.id);
        const panel = `audit-changes-${entry.id}`;
        return (
          <Stack gap="xs" align="flex-start">
            <Button
              size="compact-xs"
              variant="default"
              aria-expanded={expanded}
              aria-controls={panel}
              onClick={() => toggle(entry.id)}
              data-testid="audit-toggle"
            >
              {expanded ? "Hide changes" : "Show changes"}
            </Button>
            {expanded && (
              <Stack gap={4} id={panel} data-testid="audit-changes">
                <Text size="xs" fw={600}>
                  Before
                </Text>
                <Code block>{entry.before == null ? "—" : JSON.stringify(entry.before, null, 2)}</Code>
                <Text size="xs" fw={600}>
                  After
                </Text>
                <Code block>{entry.after == null ? "—" : JSON.stringify(entry.after, null, 2)}</Code>
              </Stack>
            )}
          </Stack>
        );
      },
    }),
  ];

  return (
    <Stack gap="md">
      <form
        onSubmit={(event) => {
          event.preventDefault();
          // A new filter starts again from the first page.
          update({ event_type: draft.eventType.trim(), from: draft.from, to: draft.to, limit: "" });
        }}
      >
        <Group align="flex-end">
          <TextInput
            id="audit-event-type"
            label="Event type"
            placeholder="e.g. team.created"
            value={draft.eventType}
            onChange={(e) => setDraft({ ...draft, eventType: e.currentTarget.value })}
            w={220}
          />
          <TextInput
            id="audit-from"
            label="From (UTC)"
            type="date"
            value={draft.from}
            max={draft.to || undefined}
            onChange={(e) => setDraft({ ...draft, from: e.currentTarget.value })}
            w={170}
          />
          <TextInput
            id="audit-to"
            label="To (UTC)"
            type="date"
            value={draft.to}
            min={draft.from || undefined}
            onChange={(e) => setDraft({ ...draft, to: e.currentTarget.value })}
            w={170}
          />
          <Button type="submit" id="audit-apply">
            Apply
          </Button>
          <Anchor
            id="audit-csv"
            href={`/api/app/organizations/${orgId}/audit-log?${csv}`}
            download="audit-log.csv"
            size="sm"
            pb={8}
          >
            Export CSV
          </Anchor>
        </Group>
      </form>
      <QueryView query={entries}>
        {(rows) =>
          rows.length === 0 ? (
            <Empty>{eventType || from || to ? "No entry matches these filters." : "Nothing has been recorded yet."}</Empty>
          ) : (
            <Stack gap="xs">
              <DataTable data={rows} columns={columns} label="Audit log" testId="audit-log" />
              <Group>
                <Text size="sm" c="dimmed">
                  {rows.length === 1 ? "1 entry" : `${rows.length} entries`}, newest first.
                </Text>
                {/* A full page means there may be more (the button stays while they load); past the
                    cap, narrower dates read further back. */}
                {(rows.length >= limit || entries.isPlaceholderData) && limit < MAX_LIMIT && (
                  <Button
                    id="audit-more"
                    variant="default"
                    size="compact-sm"
                    loading={entries.isFetching}
                    onClick={() => update({ limit: String(Math.min(MAX_LIMIT, limit + PAGE)) })}
                  >
                    Load more
                  </Button>
                )}
              </Group>
            </Stack>
          )
        }
      </QueryView>
    </Stack>
  );
}
