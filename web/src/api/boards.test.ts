import { describe, expect, it } from "vitest";
import { ApiError } from "./client";
import {
  type Annotation,
  type AnnotationTag,
  type Board,
  annotationBucket,
  annotationDate,
  annotationMarks,
  annotationsTagged,
  boardTree,
  cardRows,
  colSpan,
  descendantsOf,
  layoutOf,
  localDateTime,
  moveCard,
  parentChoices,
  passcodeHeaders,
  publicProblem,
  reportPath,
  shareKey,
  shareOf,
  tagIdsOf,
  tagKey,
  tagNamesOf,
  withAnnotations,
  withShare,
  withoutShare,
} from "./boards";
import { type Report, readReport } from "./report";

const card = (id: number, row: number, col: number) => ({ id, row, col, bookmark_id: null, text: "t" });

describe("cards as rows", () => {
  it("groups cards by row in order, each row left to right, whatever the row numbers", () => {
    const cards = [card(5, 7, 1), card(1, 0, 0), card(4, 7, 0), card(2, 3, 0), card(3, 3, 1)];
    expect(layoutOf(cardRows(cards))).toEqual([[1], [2, 3], [4, 5]]);
  });

  it("has no rows without cards", () => {
    expect(cardRows([])).toEqual([]);
  });

  it("splits the grid's twelve columns between a row's cards", () => {
    expect([1, 2, 3, 4].map(colSpan)).toEqual([12, 6, 4, 3]);
  });
});

describe("moving a card", () => {
  const layout = [[1, 2], [3], [4, 5, 6, 7]];

  it("swaps with its neighbour left and right, not past the row's ends", () => {
    expect(moveCard(layout, 2, "left")).toEqual([[2, 1], [3], [4, 5, 6, 7]]);
    expect(moveCard(layout, 1, "right")).toEqual([[2, 1], [3], [4, 5, 6, 7]]);
    expect(moveCard(layout, 1, "left")).toBeNull();
    expect(moveCard(layout, 3, "right")).toBeNull();
  });

  it("goes into the row above or below at its column, dropping the row it leaves empty", () => {
    expect(moveCard(layout, 3, "up")).toEqual([[3, 1, 2], [4, 5, 6, 7]]);
    expect(moveCard(layout, 2, "down")).toEqual([[1], [3, 2], [4, 5, 6, 7]]);
  });

  it("swaps places with the card of a full row", () => {
    expect(moveCard(layout, 3, "down")).toEqual([[1, 2], [4], [3, 5, 6, 7]]);
    expect(moveCard([[1, 2, 3, 4], [5, 6]], 6, "up")).toEqual([[1, 6, 3, 4], [5, 2]]);
  });

  it("gets a row of its own past the first or last row, unless it is alone there", () => {
    expect(moveCard(layout, 2, "up")).toEqual([[2], [1], [3], [4, 5, 6, 7]]);
    expect(moveCard(layout, 5, "down")).toEqual([[1, 2], [3], [4, 6, 7], [5]]);
    expect(moveCard([[1], [2]], 1, "up")).toBeNull();
    expect(moveCard([[1], [2]], 2, "down")).toBeNull();
  });

  it("keeps every card exactly once, rows of at most four", () => {
    const directions = ["up", "down", "left", "right"] as const;
    let current = [[1, 2, 3, 4], [5], [6, 7]];
    for (let i = 0; i < 200; i++) {
      const id = 1 + ((i * 5) % 7);
      const next = moveCard(current, id, directions[(i * 3) % 4]);
      if (next) current = next;
      expect(current.flat().sort()).toEqual([1, 2, 3, 4, 5, 6, 7]);
      expect(current.every((row) => row.length >= 1 && row.length <= 4)).toBe(true);
    }
  });

  it("does not change the layout it is given", () => {
    const given = [[1, 2], [3]];
    moveCard(given, 1, "down");
    expect(given).toEqual([[1, 2], [3]]);
  });

  it("cannot move a card that is not on the board", () => {
    expect(moveCard(layout, 99, "up")).toBeNull();
  });
});

const board = (id: number, title: string, parent_id: number | null = null, your_access = "editor"): Board => ({
  id,
  title,
  parent_id,
  your_access,
  description: "",
  owner_id: 1,
  private: false,
  created_at: "",
  modified_at: "",
});

describe("nested boards", () => {
  const boards = [board(1, "Marketing"), board(2, "Ads", 1), board(3, "Search", 2), board(4, "Growth"), board(5, "Orphan", 99), board(6, "Brand", 1, "viewer")];

  it("lists each board under its parent, siblings by title", () => {
    expect(boardTree(boards).map(({ board, depth }) => `${"  ".repeat(depth)}${board.title}`)).toEqual([
      "Growth",
      "Marketing",
      "  Ads",
      "    Search",
      "  Brand",
      "Orphan",
    ]);
  });

  it("finds the boards nested in one, at any depth", () => {
    expect([...descendantsOf(boards, 1)].sort()).toEqual([2, 3, 6]);
    expect(descendantsOf(boards, 3).size).toBe(0);
  });

  it("offers as parents only boards the caller may change, above the deepest level", () => {
    expect(parentChoices(boards).map((c) => c.value)).toEqual(["4", "1", "2", "5"]);
  });
});

describe("saved reports open in their analysis screen", () => {
  it("puts the report in the URL without its type, as the screens keep it", () => {
    const report = { type: "funnels", range: { from_date: "2026-12-01", to_date: "2026-12-07" }, steps: [{ event: "A" }, { event: "B" }] } as Report;
    const path = reportPath(7, report);
    expect(path.startsWith("/projects/7/funnels?")).toBe(true);
    const back = readReport<Record<string, unknown>>(new URLSearchParams(path.split("?")[1]), {});
    expect(back).toEqual({ range: report.range, steps: [{ event: "A" }, { event: "B" }] });
  });
});

describe("shares", () => {
  it("keys users and teams apart, and back", () => {
    expect(shareKey({ user_id: 3, access: "viewer" })).toBe("user:3");
    expect(shareKey({ team_id: 3, access: "editor" })).toBe("team:3");
    expect(shareOf("team:4", "editor")).toEqual({ team_id: 4, access: "editor" });
    expect(shareOf("user:x", "editor")).toBeNull();
    expect(shareOf("robot:1", "editor")).toBeNull();
  });

  it("adds, changes and removes a share", () => {
    let shares = withShare([], "user:1", "viewer");
    shares = withShare(shares, "team:2", "editor");
    shares = withShare(shares, "user:1", "editor");
    expect(shares).toEqual([
      { user_id: 1, access: "editor" },
      { team_id: 2, access: "editor" },
    ]);
    expect(withoutShare(shares, "team:2")).toEqual([{ user_id: 1, access: "editor" }]);
  });
});

const note = (id: number, date: string, description: string): Annotation => ({ id, date, description, tags: [] });

describe("annotations on a chart", () => {
  it("takes a datetime-local value to the API's form", () => {
    expect(annotationDate("2026-12-01T14:30")).toBe("2026-12-01 14:30:00");
    expect(annotationDate("2026-12-01T14:30:15")).toBe("2026-12-01 14:30:15");
    expect(annotationDate("")).toBeNull();
    expect(annotationDate("yesterday")).toBeNull();
  });

  it("finds the bucket a time falls in, for days, weeks and hours", () => {
    const days = ["2026-12-01", "2026-12-02", "2026-12-03"];
    expect(annotationBucket("2026-12-02 23:59:59", days)).toBe("2026-12-02");
    expect(annotationBucket("2026-12-01 00:00:00", days)).toBe("2026-12-01");
    expect(annotationBucket("2026-11-30 12:00:00", days)).toBeNull();
    const weeks = ["2026-11-30", "2026-12-07"];
    expect(annotationBucket("2026-12-09 08:00:00", weeks)).toBe("2026-12-07");
    const hours = ["2026-12-01 00:00:00", "2026-12-01 01:00:00", "2026-12-01 02:00:00"];
    expect(annotationBucket("2026-12-01 01:59:00", hours)).toBe("2026-12-01 01:00:00");
  });

  it("joins the annotations of one bucket into one mark", () => {
    const buckets = ["2026-12-01", "2026-12-02"];
    const marks = annotationMarks([note(2, "2026-12-02 18:00:00", "Launch"), note(1, "2026-12-02 09:00:00", "Email"), note(3, "2026-11-01 09:00:00", "Too early")], buckets);
    expect(marks).toEqual([{ bucket: "2026-12-02", text: "Email; Launch" }]);
  });

  it("draws them as mark lines on the first series only, and leaves the option alone without any", () => {
    const option = { xAxis: {}, series: [{ name: "A" }, { name: "B" }] };
    expect(withAnnotations(option, [], ["2026-12-01"])).toBe(option);
    const marked = withAnnotations(option, [note(1, "2026-12-01 10:00:00", "Launch")], ["2026-12-01"]);
    const first = marked.series[0] as { markLine?: { data: { name: string; xAxis: string }[] } };
    expect(first.markLine?.data).toEqual([{ name: "Launch", xAxis: "2026-12-01" }]);
    expect("markLine" in marked.series[1]).toBe(false);
    expect("markLine" in option.series[0]).toBe(false);
  });
});

describe("public links", () => {
  it("asks for the passcode, then says when it is wrong", () => {
    const refusal = new ApiError(401, "passcode_required", "this board needs its passcode");
    expect(publicProblem(refusal, false).kind).toBe("passcode");
    expect(publicProblem(refusal, true).kind).toBe("wrong_passcode");
  });

  it("says a revoked link no longer works, and a busy one to wait", () => {
    expect(publicProblem(new ApiError(404, "not_found", "not found"), false)).toEqual({
      kind: "gone",
      message: "This link was revoked or no longer works.",
    });
    expect(publicProblem(new ApiError(429, "rate_limited", "too often"), true).kind).toBe("busy");
  });

  it("passes on any other failure's own message", () => {
    expect(publicProblem(new ApiError(500, "http", "The server answered 500."), false)).toEqual({ kind: "error", message: "The server answered 500." });
    expect(publicProblem(new Error("offline"), false)).toEqual({ kind: "error", message: "offline" });
  });

  it("sends the passcode only when there is one", () => {
    expect(passcodeHeaders(null)).toEqual({});
    expect(passcodeHeaders("abc123")).toEqual({ "X-Tally-Passcode": "abc123" });
  });
});

describe("annotation tags", () => {
  const tag = (id: number, name: string): AnnotationTag => ({ id, name, project_id: 1, has_annotations: false });
  const tags = [tag(1, "Launch"), tag(2, "Marketing")];
  const tagged = (id: number, date: string, ids: number[]): Annotation => ({ id, date, description: `n${id}`, tags: ids });

  it("starts a new annotation at the project's present time", () => {
    const moment = new Date("2026-12-01T23:30:00Z");
    expect(localDateTime(moment, "UTC")).toBe("2026-12-01T23:30");
    expect(localDateTime(moment, "Europe/Paris")).toBe("2026-12-02T00:30");
    expect(localDateTime(moment, "America/New_York")).toBe("2026-12-01T18:30");
    expect(localDateTime(moment, "Not/AZone")).toBe("2026-12-01T23:30");
  });
  it("tells names apart as the server does", () => {
    expect(tagKey("  Launch ")).toBe("launch");
  });
  it("finds the tags named and the names still to make, each once", () => {
    expect(tagIdsOf(["marketing", "Release", " launch ", "release ", "", "Marketing"], tags)).toEqual({ ids: [2, 1], missing: ["Release"] });
    expect(tagIdsOf([], tags)).toEqual({ ids: [], missing: [] });
  });
  it("names an annotation's tags", () => {
    expect(tagNamesOf(tagged(1, "2026-12-01 10:00:00", [2, 9, 1]), tags)).toEqual(["Launch", "Marketing", "Tag 9"]);
    expect(tagNamesOf(tagged(1, "2026-12-01 10:00:00", []), tags)).toEqual([]);
  });
  it("keeps the annotations with a tag, oldest first", () => {
    const all = [tagged(3, "2026-12-03 00:00:00", [1]), tagged(1, "2026-12-01 00:00:00", [1, 2]), tagged(2, "2026-12-02 00:00:00", [])];
    expect(annotationsTagged(all, 1).map((a) => a.id)).toEqual([1, 3]);
    expect(annotationsTagged(all, 2).map((a) => a.id)).toEqual([1]);
    expect(annotationsTagged(all, null).map((a) => a.id)).toEqual([1, 2, 3]);
    expect(annotationsTagged(all, 7)).toEqual([]);
  });
});
