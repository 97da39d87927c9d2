// Boards, saved reports, public links and annotations: names for the API's shapes, and the
// pure logic the screens share (cards as rows, moving a card, nesting boards, where an
// annotation falls on a chart, an annotation's tags, what a public link's refusal means).
import type { components } from "./schema";
import { ApiError } from "./client";
import { type Report, reportParams } from "./report";

type S = components["schemas"];

export type Board = S["BoardView"];
export type BoardDetail = S["BoardDetailView"];
export type BoardCard = S["CardView"];
export type Bookmark = S["BookmarkView"];
export type Share = S["ShareView"];
export type PublicLink = S["PublicLinkView"];
export type PublicBoard = S["PublicBoardView"];
export type PublicReport = S["PublicReportView"];
export type Annotation = S["AnnotationView"];
export type AnnotationTag = S["AnnotationTagView"];

/** Everyone in the project's access to a board (and the project's default). */
export type ProjectAccess = "off" | "viewer" | "editor";

export const PROJECT_ACCESS: { value: ProjectAccess; label: string }[] = [
  { value: "off", label: "No access (by link or share only)" },
  { value: "viewer", label: "Can view" },
  { value: "editor", label: "Can edit" },
];

export const SHARE_ACCESS = [
  { value: "viewer", label: "Can view" },
  { value: "editor", label: "Can edit" },
];

/** Each kind of saved report as people name it. */
export const REPORT_TYPES: Record<string, string> = { insights: "Insights", funnels: "Funnel", retention: "Retention", flows: "Flows" };

/** A layout row holds at most this many cards (the server refuses more). */
export const MAX_ROW_CARDS = 4;

/** A card's place: what rows are made of. */
export interface Placed {
  id: number;
  row: number;
  col: number;
}

/** Cards as rows, top to bottom, each left to right. Rows are numbered by the server and may
 * have gaps (a removed card's row): only their order counts. */
export function cardRows<C extends Placed>(cards: C[]): C[][] {
  const byRow = new Map<number, C[]>();
  for (const card of cards) {
    const row = byRow.get(card.row);
    if (row) row.push(card);
    else byRow.set(card.row, [card]);
  }
  return [...byRow.entries()]
    .sort(([a], [b]) => a - b)
    .map(([, row]) => [...row].sort((a, b) => a.col - b.col || a.id - b.id));
}

/** The layout the server takes (`PUT …/layout`): rows of card ids. */
export function layoutOf(rows: { id: number }[][]): number[][] {
  return rows.map((row) => row.map((card) => card.id));
}

export type Direction = "up" | "down" | "left" | "right";

/**
 * The layout with card `id` moved one step, or `null` when it cannot go that way.
 * Left and right swap it with its neighbour. Up and down take it into the row above or
 * below, at the same column as far as that row reaches; into a full row it swaps places with
 * the card there. A card sharing the first (last) row moves up (down) into a row of its own.
 * Rows left empty are dropped.
 */
export function moveCard(layout: number[][], id: number, direction: Direction): number[][] | null {
  const r = layout.findIndex((row) => row.includes(id));
  if (r < 0) return null;
  const rows = layout.map((row) => [...row]);
  const c = rows[r].indexOf(id);
  if (direction === "left" || direction === "right") {
    const other = direction === "left" ? c - 1 : c + 1;
    if (other < 0 || other >= rows[r].length) return null;
    [rows[r][c], rows[r][other]] = [rows[r][other], rows[r][c]];
    return rows;
  }
  const target = direction === "up" ? r - 1 : r + 1;
  if (target < 0 || target >= rows.length) {
    // At the edge: alone it stays; sharing its row, it gets one of its own.
    if (rows[r].length === 1) return null;
    rows[r].splice(c, 1);
    return direction === "up" ? [[id], ...rows] : [...rows, [id]];
  }
  if (rows[target].length >= MAX_ROW_CARDS) {
    const at = Math.min(c, rows[target].length - 1);
    const swapped = rows[target][at];
    rows[target][at] = id;
    rows[r][c] = swapped;
    return rows;
  }
  rows[r].splice(c, 1);
  rows[target].splice(Math.min(c, rows[target].length), 0, id);
  return rows.filter((row) => row.length > 0);
}

/** How many of Mantine's 12 grid columns each card of a row of `count` cards spans. */
export function colSpan(count: number): number {
  return 12 / Math.min(MAX_ROW_CARDS, Math.max(1, count));
}

/** A board in the nested list, with how deep it sits (0 at the top). */
export interface BoardNode {
  board: Board;
  depth: number;
}

/** Boards in list order: each followed by the boards nested in it, by title. A board whose
 * parent the caller does not see is listed at the top. */
export function boardTree(boards: Board[]): BoardNode[] {
  const ids = new Set(boards.map((b) => b.id));
  const children = new Map<number | null, Board[]>();
  for (const board of boards) {
    const parent = board.parent_id != null && ids.has(board.parent_id) && board.parent_id !== board.id ? board.parent_id : null;
    const siblings = children.get(parent);
    if (siblings) siblings.push(board);
    else children.set(parent, [board]);
  }
  const out: BoardNode[] = [];
  const seen = new Set<number>();
  const walk = (parent: number | null, depth: number) => {
    const siblings = [...(children.get(parent) ?? [])].sort((a, b) => a.title.localeCompare(b.title) || a.id - b.id);
    for (const board of siblings) {
      if (seen.has(board.id)) continue;
      seen.add(board.id);
      out.push({ board, depth });
      walk(board.id, depth + 1);
    }
  };
  walk(null, 0);
  // A cycle (which the server refuses) would leave boards out: list them anyway.
  for (const board of boards) if (!seen.has(board.id)) out.push({ board, depth: 0 });
  return out;
}

/** Boards a new board may be nested in: those the caller may change, not already at the
 * deepest level (boards nest three levels at most). */
export function parentChoices(boards: Board[]): { value: string; label: string }[] {
  return boardTree(boards)
    .filter(({ board, depth }) => board.your_access === "editor" && depth < 2)
    .map(({ board, depth }) => ({ value: String(board.id), label: `${"— ".repeat(depth)}${board.title}` }));
}

/** The ids of the boards nested in `id`, at any depth. */
export function descendantsOf(boards: Board[], id: number): Set<number> {
  const found = new Set<number>();
  let frontier = [id];
  while (frontier.length > 0) {
    const next: number[] = [];
    for (const board of boards) {
      if (board.parent_id != null && frontier.includes(board.parent_id) && !found.has(board.id) && board.id !== id) {
        found.add(board.id);
        next.push(board.id);
      }
    }
    frontier = next;
  }
  return found;
}

/** Where a saved report opens: its analysis screen, with the report in the URL as the screen
 * keeps it (without its `type`, which the screen adds). */
export function reportPath(projectId: number, report: Report): string {
  const { type, ...rest } = report as Report & { type: string };
  return `/projects/${projectId}/${type}?${reportParams(rest).toString()}`;
}

/** The key of a share in forms and lists: `user:1` or `team:2`. */
export function shareKey(share: Share): string {
  return share.team_id != null ? `team:${share.team_id}` : `user:${share.user_id}`;
}

/** A share from its key and access, or `null` when the key names neither a user nor a team. */
export function shareOf(key: string, access: string): Share | null {
  const [kind, id] = key.split(":");
  const n = Number(id);
  if (!Number.isInteger(n) || n <= 0) return null;
  if (kind === "user") return { user_id: n, access };
  if (kind === "team") return { team_id: n, access };
  return null;
}

/** The shares with `key` given `access` (added at the end when it had none). */
export function withShare(shares: Share[], key: string, access: string): Share[] {
  const share = shareOf(key, access);
  if (!share) return shares;
  const at = shares.findIndex((s) => shareKey(s) === key);
  if (at < 0) return [...shares, share];
  return shares.map((s, i) => (i === at ? share : s));
}

export function withoutShare(shares: Share[], key: string): Share[] {
  return shares.filter((s) => shareKey(s) !== key);
}

/** An annotation's time as `<input type="datetime-local">` gives it (`2026-12-01T14:30`) in
 * the form the API takes (`2026-12-01 14:30:00`), or `null` when it is not a time. */
export function annotationDate(local: string): string | null {
  const match = /^(\d{4}-\d{2}-\d{2})[T ](\d{2}):(\d{2})(?::(\d{2}))?/.exec(local.trim());
  if (!match) return null;
  return `${match[1]} ${match[2]}:${match[3]}:${match[4] ?? "00"}`;
}

/** A moment as `<input type="datetime-local">` shows it (`2026-12-01T14:30`), in a time zone
 * (UTC when the zone is unknown). */
export function localDateTime(moment: Date, timeZone: string): string {
  const format = (zone: string) =>
    new Intl.DateTimeFormat("en-CA", { timeZone: zone, year: "numeric", month: "2-digit", day: "2-digit", hour: "2-digit", minute: "2-digit", hourCycle: "h23" })
      .formatToParts(moment)
      .reduce<Record<string, string>>((parts, part) => ({ ...parts, [part.type]: part.value }), {});
  let parts: Record<string, string>;
  try {
    parts = format(timeZone);
  } catch {
    parts = format("UTC");
  }
  return `${parts.year}-${parts.month}-${parts.day}T${parts.hour}:${parts.minute}`;
}

/** The bucket of a chart an annotation (`YYYY-MM-DD HH:mm:ss`) falls in: the last bucket
 * starting at or before it. Labels are local starts (`YYYY-MM-DD`, or with the time for hours),
 * which sort as text. `null` before the first bucket. */
export function annotationBucket(date: string, buckets: string[]): string | null {
  let found: string | null = null;
  for (const bucket of buckets) {
    if (bucket <= date) found = bucket;
    else break;
  }
  return found;
}

/** One mark per bucket holding annotations, their descriptions joined. The annotations are
 * those of the answer's range, so the last bucket holds any after its start. */
export function annotationMarks(annotations: Annotation[], buckets: string[]): { bucket: string; text: string }[] {
  const byBucket = new Map<string, string[]>();
  for (const annotation of [...annotations].sort((a, b) => a.date.localeCompare(b.date) || a.id - b.id)) {
    const bucket = annotationBucket(annotation.date, buckets);
    if (bucket == null) continue;
    const texts = byBucket.get(bucket);
    if (texts) texts.push(annotation.description);
    else byBucket.set(bucket, [annotation.description]);
  }
  return [...byBucket.entries()].map(([bucket, texts]) => ({ bucket, text: texts.join("; ") }));
}

/** A category chart's option with the annotations as dotted vertical lines on their buckets,
 * each labelled with its description (on the first series: ECharts draws them once). */
export function withAnnotations<O extends { series: object[] }>(option: O, annotations: Annotation[], buckets: string[]): O {
  const marks = annotationMarks(annotations, buckets);
  if (marks.length === 0 || option.series.length === 0) return option;
  const markLine = {
    symbol: ["none", "none"],
    silent: false,
    animation: false,
    lineStyle: { type: "dotted", color: "#862e9c", width: 1.5 },
    label: { show: true, position: "insideEndTop", formatter: (p: { name: string }) => truncate(p.name, 40), color: "#5f3dc4" },
    tooltip: { show: true },
    data: marks.map((mark) => ({ name: mark.text, xAxis: mark.bucket })),
  };
  return { ...option, series: option.series.map((series, i) => (i === 0 ? { ...series, markLine } : series)) };
}

function truncate(text: string, most: number): string {
  return text.length > most ? `${text.slice(0, most - 1)}…` : text;
}

/** How the server tells tag names apart: trimmed, case aside ("Launch " is "launch"). */
export function tagKey(name: string): string {
  return name.trim().toLowerCase();
}

/** The ids of the tags named, and the names no tag has yet (to make), each once, in the
 * order given. */
export function tagIdsOf(names: string[], tags: AnnotationTag[]): { ids: number[]; missing: string[] } {
  const byKey = new Map(tags.map((tag) => [tagKey(tag.name), tag.id]));
  const ids: number[] = [];
  const missing: string[] = [];
  const seen = new Set<string>();
  for (const name of names) {
    const key = tagKey(name);
    if (!key || seen.has(key)) continue;
    seen.add(key);
    const id = byKey.get(key);
    if (id !== undefined) ids.push(id);
    else missing.push(name.trim());
  }
  return { ids, missing };
}

/** An annotation's tags by name, in the project's order of tags (a tag not listed, by id). */
export function tagNamesOf(annotation: Annotation, tags: AnnotationTag[]): string[] {
  const known = tags.filter((tag) => annotation.tags.includes(tag.id)).map((tag) => tag.name);
  const unknown = annotation.tags.filter((id) => !tags.some((tag) => tag.id === id)).map((id) => `Tag ${id}`);
  return [...known, ...unknown];
}

/** The annotations carrying the tag (all of them for `null`), oldest first. */
export function annotationsTagged(annotations: Annotation[], tagId: number | null): Annotation[] {
  return annotations
    .filter((annotation) => tagId === null || annotation.tags.includes(tagId))
    .sort((a, b) => a.date.localeCompare(b.date) || a.id - b.id);
}

/** Why a public link shows no board, and what to tell its visitor. */
export interface PublicProblem {
  kind: "passcode" | "wrong_passcode" | "gone" | "busy" | "error";
  message: string;
}

/** What a failure to open a public link means (`passcodeSent`: the request carried one). */
export function publicProblem(error: unknown, passcodeSent: boolean): PublicProblem {
  if (error instanceof ApiError) {
    if (error.status === 401 || error.code === "passcode_required") {
      return passcodeSent
        ? { kind: "wrong_passcode", message: "That passcode is not right. Check it with whoever shared the link." }
        : { kind: "passcode", message: "This board is protected: enter the passcode you were given with the link." };
    }
    if (error.status === 404) return { kind: "gone", message: "This link was revoked or no longer works." };
    if (error.status === 429) return { kind: "busy", message: "This board has been opened too often. Try again later." };
    return { kind: "error", message: error.message };
  }
  return { kind: "error", message: error instanceof Error ? error.message : String(error) };
}

/** The request headers a public board's requests carry. */
export function passcodeHeaders(passcode: string | null): Record<string, string> {
  return passcode ? { "X-Tally-Passcode": passcode } : {};
}
