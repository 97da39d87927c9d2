// Users: the project's profiles, filtered by a segmentation expression over their
// properties, sorted by one of them, a page at a time. The view lives in the URL, so a link
// (or the back button) reopens the same page; a user's id opens their profile.
import { useEffect, useMemo, useState } from "react";
import { Anchor, Button, Card, Group, Pagination, Select, Stack, Text, TextInput } from "@mantine/core";
import { keepPreviousData, useQuery } from "@tanstack/react-query";
import { type ColumnDef, createColumnHelper } from "@tanstack/react-table";
import { Link, useParams, useSearchParams } from "react-router-dom";
import type { components } from "../../api/schema";
import { get } from "../../api/client";
import { formatValue } from "../../api/report";
import { DataTable } from "../DataTable";
import { Empty, ErrorNote, Loading, Screen } from "../common";

export type UsersPage = components["schemas"]["UsersPage"];
export type UserProfile = components["schemas"]["UserProfile"];

/** Profiles per page. */
const PAGE_SIZE = 50;
/** Property columns beside the id: enough to tell users apart, few enough to read. */
const MAX_COLUMNS = 6;
/** Reserved properties people look for first. */
const FIRST = ["$name", "$email"];

/** What a profile link carries, so the profile opens without looking the user up again. */
export interface ProfileLinkState {
  profile: UserProfile;
  /** The list's search parameters, for the way back. */
  back: string;
}

/** A profile's properties as plain values (the schema types them as an opaque object). */
export function propertiesOf(profile: UserProfile): Record<string, unknown> {
  return profile.properties as Record<string, unknown>;
}

/** A property's value as a cell shows it. */
export function showValue(value: unknown): string {
  if (value === null || value === undefined || value === "") return "—";
  if (typeof value === "string") return value;
  if (typeof value === "number") return formatValue(value);
  if (typeof value === "boolean") return value ? "true" : "false";
  return JSON.stringify(value);
}

/** `$name` and `$email` first, then the rest alphabetically. */
export function byReservedFirst(a: string, b: string): number {
  const ra = FIRST.indexOf(a);
  const rb = FIRST.indexOf(b);
  if (ra !== -1 || rb !== -1) return (ra === -1 ? FIRST.length : ra) - (rb === -1 ? FIRST.length : rb);
  return a.localeCompare(b);
}

/** The page's commonest property names, `$name` and `$email` first when present. */
function commonProperties(users: UserProfile[]): string[] {
  const counts = new Map<string, number>();
  for (const user of users) for (const name of Object.keys(propertiesOf(user))) counts.set(name, (counts.get(name) ?? 0) + 1);
  const first = FIRST.filter((name) => counts.has(name));
  const rest = [...counts.entries()]
    .filter(([name]) => !FIRST.includes(name))
    .sort((a, b) => b[1] - a[1] || a[0].localeCompare(b[0]))
    .map(([name]) => name);
  return [...first, ...rest].slice(0, Math.max(MAX_COLUMNS, first.length));
}

/** "51–100 of 1,234 users": where this page is among every match. */
function countText(data: UsersPage): string {
  const users = `${formatValue(data.total)} ${data.total === 1 ? "user" : "users"}`;
  if (data.users.length === 0) return users;
  const first = data.page * data.page_size + 1;
  return `${formatValue(first)}–${formatValue(first + data.users.length - 1)} of ${users}`;
}

export function profilePath(projectId: number, distinctId: string): string {
  return `/projects/${projectId}/users/${encodeURIComponent(distinctId)}`;
}

export function Users() {
  const projectId = Number(useParams().projectId);
  const [search, setSearch] = useSearchParams();
  const where = search.get("where") ?? "";
  const sort = search.get("sort") ?? "";
  const order = search.get("order") === "desc" ? "desc" : "asc";
  // Pages are counted from 1 in the URL, as people count them; the server counts from 0.
  const page = Math.max(1, Math.floor(Number(search.get("page"))) || 1);
  const [draft, setDraft] = useState(where);
  useEffect(() => setDraft(where), [where]);

  /** A new view in the URL: parameters set to "" (or null) are left out. */
  const update = (changes: Record<string, string | null>) => {
    const params = new URLSearchParams(search);
    for (const [key, value] of Object.entries(changes)) {
      if (value) params.set(key, value);
      else params.delete(key);
    }
    setSearch(params);
  };

  const query = new URLSearchParams({ page: String(page - 1), page_size: String(PAGE_SIZE) });
  if (where) query.set("where", where);
  if (sort) {
    query.set("sort", sort);
    query.set("order", order);
  }
  const users = useQuery({
    queryKey: ["project", projectId, "users", { where, sort, order, page }],
    queryFn: ({ signal }) => get<UsersPage>(`/api/app/projects/${projectId}/users?${query}`, signal),
    // The previous page stays on screen while the next one loads, instead of a spinner.
    placeholderData: keepPreviousData,
  });

  const data = users.data;
  const properties = useMemo(() => commonProperties(data?.users ?? []), [data]);
  const sortOptions = useMemo(() => {
    const names = new Set(properties);
    if (sort) names.add(sort);
    return [...names].sort(byReservedFirst);
  }, [properties, sort]);
  const back = search.toString();
  const columns = useMemo(() => {
    const column = createColumnHelper<UserProfile>();
    // The server sorts across every page; sorting one page by its headers would mislead.
    // eslint-disable-next-line @typescript-eslint/no-explicit-any
    const list: ColumnDef<UserProfile, any>[] = [
      column.accessor("distinct_id", {
        header: "Distinct ID",
        enableSorting: false,
        cell: (c) => (
          <Anchor
            component={Link}
            to={profilePath(projectId, c.getValue())}
            state={{ profile: c.row.original, back } satisfies ProfileLinkState}
            size="sm"
            data-testid="user-link"
          >
            {c.getValue()}
          </Anchor>
        ),
      }),
      ...properties.map((name) =>
        column.accessor((user) => propertiesOf(user)[name], { id: `property:${name}`, header: name, enableSorting: false, cell: (c) => showValue(c.getValue()) }),
      ),
    ];
    return list;
  }, [properties, projectId, back]);

  const pages = data ? Math.max(1, Math.ceil(data.total / PAGE_SIZE)) : 1;
  // The view (the URL's parameters) the shown page or error answers: empty while the previous
  // page stays on screen for a new one, so a reader (or a test) can tell them apart.
  const answered = users.isPending || users.isPlaceholderData ? "" : search.toString();
  return (
    <Screen title="Users">
      <Card withBorder>
        <Stack gap="sm">
          <form
            onSubmit={(event) => {
              event.preventDefault();
              const next = draft.trim();
              // The same filter again asks again (the profiles may have changed since).
              if (next === where) void users.refetch();
              else update({ where: next, page: null });
            }}
          >
            <Group align="flex-end" gap="xs">
              <TextInput
                id="users-where"
                label="Filter profiles (segmentation expression)"
                placeholder={'properties["plan"] == "pro"'}
                value={draft}
                onChange={(e) => setDraft(e.currentTarget.value)}
                styles={{ input: { fontFamily: "var(--mantine-font-family-monospace)" } }}
                w={420}
                maw="100%"
              />
              <Button type="submit" id="users-apply">
                Apply
              </Button>
              {where && (
                <Button variant="default" id="users-clear" onClick={() => update({ where: null, page: null })}>
                  Clear
                </Button>
              )}
            </Group>
          </form>
          <Group align="flex-end" gap="md">
            <Select
              id="users-sort"
              label="Sort by"
              placeholder="Distinct ID"
              data={sortOptions}
              value={sort || null}
              // Without a sort the order means nothing: it leaves the URL with it.
              onChange={(next) => update({ sort: next, page: null, ...(next ? {} : { order: null }) })}
              searchable
              clearable
              nothingFoundMessage="No such property on this page"
              w={240}
            />
            <Select
              id="users-order"
              label="Order"
              data={[
                { value: "asc", label: "Ascending" },
                { value: "desc", label: "Descending" },
              ]}
              value={order}
              onChange={(next) => next && update({ order: next === "desc" ? "desc" : null, page: null })}
              allowDeselect={false}
              disabled={!sort}
              w={160}
            />
          </Group>
        </Stack>
      </Card>
      <div data-testid="users-result" data-answered={answered} aria-busy={users.isFetching}>
        {users.isPending && <Loading label="Loading users…" />}
        {users.isError && <ErrorNote error={users.error} title={where ? "This filter cannot be applied" : "The users cannot be listed"} />}
        {data && !users.isError && (
          <Stack>
            <Text size="sm" data-testid="users-total" data-value={data.total} aria-live="polite">
              {countText(data)}
            </Text>
            {data.total === 0 ? (
              <Empty>{where ? "No user profile matches this filter." : "No user profile yet: profiles are set with the SDKs' people calls (the /engage endpoint)."}</Empty>
            ) : data.users.length === 0 ? (
              <Empty>This page is past the last one.</Empty>
            ) : (
              <DataTable data={data.users} columns={columns} label="User profiles" testId="users-table" />
            )}
            {data.total > 0 && (
              <Group justify="center" component="nav" aria-label="Pages of users">
                <Pagination
                  total={Math.max(pages, page)}
                  value={page}
                  onChange={(next) => update({ page: next === 1 ? null : String(next) })}
                  getItemProps={(n) => ({ "aria-label": `Page ${n}`, "aria-current": n === page ? "page" : undefined })}
                  getControlProps={(control) => ({ "aria-label": `${control[0].toUpperCase()}${control.slice(1)} page` })}
                  withEdges
                  hideWithOnePage
                  data-testid="users-pages"
                />
              </Group>
            )}
          </Stack>
        )}
      </div>
    </Screen>
  );
}
