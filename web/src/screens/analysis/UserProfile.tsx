// One user: their profile's properties and their activity feed (their events newest
// first, across every id merged into them), over a date range kept in the URL.
import { useEffect, useMemo, useState } from "react";
import { Anchor, Button, Card, Group, Stack, Table, Text, Title } from "@mantine/core";
import { useQuery } from "@tanstack/react-query";
import { Link, useLocation, useParams, useSearchParams } from "react-router-dom";
import type { components } from "../../api/schema";
import { get } from "../../api/client";
import { lastDays } from "../../api/report";
import { RangePicker } from "./parts";
import { type ProfileLinkState, type UserProfile as Profile, type UsersPage, byReservedFirst, profilePath, propertiesOf, showValue } from "./Users";
import { Empty, ErrorNote, Loading, Screen } from "../common";

type ActivityAnswer = components["schemas"]["ActivityAnswer"];
type ExportedEvent = components["schemas"]["ExportedEvent"];

/** Events asked for at first; "Show more" doubles it up to the server's most. */
const FEED_PAGE = 100;
const MAX_FEED = 1000;
/** The most profiles one request lists. */
const LOOKUP_PAGE = 1000;
/** Properties every exported event carries, shown in their own columns or not at all. */
const PLUMBING = new Set(["time", "distinct_id", "$insert_id"]);

/** Rust's order of strings (by code point, as UTF-8 bytes compare), which the list uses. */
function byCodePoint(a: string, b: string): number {
  const x = Array.from(a);
  const y = Array.from(b);
  for (let i = 0; i < Math.min(x.length, y.length); i++) {
    const d = (x[i].codePointAt(0) ?? 0) - (y[i].codePointAt(0) ?? 0);
    if (d !== 0) return d;
  }
  return x.length - y.length;
}

/**
 * One profile by its id. The server has no endpoint for one profile, but its list, unsorted,
 * is in id order: a binary search over its pages finds the profile in a few requests.
 */
async function findProfile(projectId: number, distinctId: string, signal: AbortSignal): Promise<Profile | null> {
  const pageOf = (page: number) => get<UsersPage>(`/api/app/projects/${projectId}/users?page=${page}&page_size=${LOOKUP_PAGE}`, signal);
  const where = (page: UsersPage): "before" | "here" | "after" => {
    const users = page.users;
    if (users.length === 0 || byCodePoint(distinctId, users[0].distinct_id) < 0) return "before";
    return byCodePoint(distinctId, users[users.length - 1].distinct_id) > 0 ? "after" : "here";
  };
  const first = await pageOf(0);
  let low = 0;
  let high = Math.ceil(first.total / LOOKUP_PAGE) - 1;
  let page: UsersPage | null = first;
  while (low <= high) {
    if (!page) page = await pageOf(Math.floor((low + high) / 2));
    const side = where(page);
    if (side === "here") return page.users.find((u) => u.distinct_id === distinctId) ?? null;
    if (side === "before") high = page.page - 1;
    else low = page.page + 1;
    page = null;
  }
  return null;
}

/** An exported event's properties as plain values (the schema types them as an opaque object). */
function eventProperties(event: ExportedEvent): Record<string, unknown> {
  return event.properties as Record<string, unknown>;
}

export function UserProfile() {
  const projectId = Number(useParams().projectId);
  // The router hands the id back decoded, whatever it holds (slashes, spaces, `%`).
  const distinctId = useParams().distinctId ?? "";
  const location = useLocation();
  const [search, setSearch] = useSearchParams();
  const linked = location.state as ProfileLinkState | null;
  const passed = linked?.profile?.distinct_id === distinctId ? linked.profile : undefined;
  const fallback = useMemo(() => lastDays(new Date(), 30), []);
  const range = { from_date: search.get("from") ?? fallback.from_date, to_date: search.get("to") ?? fallback.to_date };
  const [draft, setDraft] = useState(range);
  useEffect(() => setDraft(range), [range.from_date, range.to_date]); // eslint-disable-line react-hooks/exhaustive-deps
  const [limit, setLimit] = useState(FEED_PAGE);
  useEffect(() => setLimit(FEED_PAGE), [distinctId, range.from_date, range.to_date]);

  const profile = useQuery({
    queryKey: ["project", projectId, "users", "profile", distinctId],
    queryFn: ({ signal }) => findProfile(projectId, distinctId, signal),
    // The list's row is the profile as it was a click ago: no need to look it up again.
    initialData: passed,
    staleTime: passed ? 60_000 : 0,
  });
  const activity = useQuery({
    queryKey: ["project", projectId, "users", "activity", distinctId, range.from_date, range.to_date, limit],
    queryFn: ({ signal }) => {
      const query = new URLSearchParams({ distinct_id: distinctId, from_date: range.from_date, to_date: range.to_date, limit: String(limit) });
      return get<ActivityAnswer>(`/api/app/projects/${projectId}/users/activity?${query}`, signal);
    },
    // "Show more" keeps the events already shown while the longer feed loads; another user
    // or range starts afresh, so an old feed is never shown as theirs.
    placeholderData: (previous, query) => {
      const key = query?.queryKey ?? [];
      return key[4] === distinctId && key[5] === range.from_date && key[6] === range.to_date ? previous : undefined;
    },
  });

  const canonical = activity.data?.distinct_id;
  const name = profile.data ? propertiesOf(profile.data)["$name"] : undefined;
  const title = typeof name === "string" && name ? name : distinctId;
  const back = linked?.back ? `?${linked.back}` : "";
  return (
    <Screen
      title={title}
      actions={
        <Anchor component={Link} to={`/projects/${projectId}/users${back}`} size="sm">
          ← All users
        </Anchor>
      }
    >
      <Text size="sm" c="dimmed">
        Distinct ID <Text span ff="monospace" c="dark" data-testid="profile-distinct-id">{distinctId}</Text>
      </Text>
      <Stack gap="xs" component="section" aria-label="Profile">
        <Title order={2} size="h4">
          Profile
        </Title>
        {profile.isPending && <Loading label="Looking up the profile…" />}
        {profile.isError && <ErrorNote error={profile.error} title="The profile cannot be read" />}
        {profile.isSuccess &&
          (profile.data ? (
            <ProfileTable profile={profile.data} />
          ) : (
            <Empty>
              This id has no profile: only its events are known.
              {/* A merged id's profile may be kept under the id it was merged into. */}
              {canonical && canonical !== distinctId && (
                <>
                  {" "}
                  <Anchor component={Link} to={profilePath(projectId, canonical)} data-testid="canonical-profile">
                    Open {canonical}
                  </Anchor>
                </>
              )}
            </Empty>
          ))}
      </Stack>
      <Stack gap="xs" component="section" aria-label="Activity">
        <Title order={2} size="h4">
          Activity
        </Title>
        <Card withBorder>
          <form
            onSubmit={(event) => {
              event.preventDefault();
              const params = new URLSearchParams(search);
              params.set("from", draft.from_date);
              params.set("to", draft.to_date);
              // Keep the profile the link brought along, so it is not looked up again.
              if (params.toString() === search.toString()) void activity.refetch();
              else setSearch(params, { state: location.state });
            }}
          >
            <Group align="flex-end">
              <RangePicker range={draft} onChange={setDraft} />
              <Button type="submit" id="activity-show">
                Show
              </Button>
            </Group>
          </form>
        </Card>
        <div data-testid="activity-result" aria-busy={activity.isFetching}>
          {activity.isPending && <Loading label="Reading their events…" />}
          {activity.isError && <ErrorNote error={activity.error} title="The activity cannot be read" />}
          {activity.data && (
            <ActivityFeed
              answer={activity.data}
              asked={distinctId}
              more={(activity.isPlaceholderData || activity.data.events.length >= limit) && limit < MAX_FEED}
              loadingMore={activity.isPlaceholderData}
              onMore={() => setLimit(Math.min(MAX_FEED, limit * 2))}
            />
          )}
        </div>
      </Stack>
    </Screen>
  );
}

function ProfileTable({ profile }: { profile: Profile }) {
  const properties = propertiesOf(profile);
  const names = Object.keys(properties).sort(byReservedFirst);
  if (names.length === 0) return <Empty>The profile has no properties.</Empty>;
  return (
    <Table.ScrollContainer minWidth={400}>
      <Table striped aria-label="Profile properties" data-testid="profile-properties">
        <Table.Thead>
          <Table.Tr>
            <Table.Th>Property</Table.Th>
            <Table.Th>Value</Table.Th>
          </Table.Tr>
        </Table.Thead>
        <Table.Tbody>
          {names.map((name) => (
            <Table.Tr key={name} data-property={name}>
              <Table.Td ff="monospace">{name}</Table.Td>
              <Table.Td style={{ wordBreak: "break-word" }}>{showValue(properties[name])}</Table.Td>
            </Table.Tr>
          ))}
        </Table.Tbody>
      </Table>
    </Table.ScrollContainer>
  );
}

function ActivityFeed({
  answer,
  asked,
  more,
  loadingMore,
  onMore,
}: {
  answer: ActivityAnswer;
  asked: string;
  more: boolean;
  loadingMore: boolean;
  onMore: () => void;
}) {
  return (
    <Stack gap="xs">
      {answer.distinct_id !== asked && (
        <Text size="sm" data-testid="activity-canonical">
          This id is merged into <Text span ff="monospace">{answer.distinct_id}</Text>: the feed shows every event of the merged user.
        </Text>
      )}
      {answer.events.length === 0 ? (
        <Empty>
          No event from this user between {answer.range.from_date} and {answer.range.to_date}.
        </Empty>
      ) : (
        <>
          <Text size="sm" c="dimmed">
            {answer.events.length} {answer.events.length === 1 ? "event" : "events"}, newest first ({answer.range.time_zone})
          </Text>
          <Table.ScrollContainer minWidth={600}>
            <Table striped aria-label="Activity feed" data-testid="activity-table">
              <Table.Thead>
                <Table.Tr>
                  <Table.Th>Time</Table.Th>
                  <Table.Th>Event</Table.Th>
                  <Table.Th>Properties</Table.Th>
                </Table.Tr>
              </Table.Thead>
              <Table.Tbody>
                {answer.events.map((event, i) => {
                  const properties = eventProperties(event);
                  const time = Number(properties.time);
                  const rest = Object.keys(properties)
                    .filter((key) => !PLUMBING.has(key))
                    .sort(byReservedFirst)
                    .map((key) => `${key}: ${showValue(properties[key])}`)
                    .join(", ");
                  return (
                    <Table.Tr key={String(properties.$insert_id ?? i)} data-event={event.event}>
                      <Table.Td style={{ whiteSpace: "nowrap" }} data-value={Number.isFinite(time) ? time : ""}>
                        {Number.isFinite(time) ? new Date(time).toLocaleString() : "—"}
                      </Table.Td>
                      <Table.Td>{event.event}</Table.Td>
                      <Table.Td>
                        {/* Clamped on screen only: the whole text stays for screen readers. */}
                        <Text size="xs" ff="monospace" lineClamp={2} style={{ wordBreak: "break-word" }}>
                          {rest || "—"}
                        </Text>
                      </Table.Td>
                    </Table.Tr>
                  );
                })}
              </Table.Tbody>
            </Table>
          </Table.ScrollContainer>
          {more && (
            <Group>
              <Button variant="default" id="activity-more" onClick={onMore} loading={loadingMore}>
                Show more
              </Button>
            </Group>
          )}
        </>
      )}
    </Stack>
  );
}
