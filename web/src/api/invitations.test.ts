import { describe, expect, it } from "vitest";
import { type CsvInvitePlan, csvBatches, csvRecords, inviteInBatches, mergeOutcomes, withRowOffset } from "./invitations";
import type { InviteOutcome } from "./types";

const HEADER = "email,organization_role,projects,project_role";
const fileOf = (n: number) => [HEADER, ...Array.from({ length: n }, (_, i) => `user${i + 1}@example.com,member,,`)].join("\n");

/** What the server answers for a batch: every row sent, numbered from 2 (the header is row 1). */
function answerOf(text: string): InviteOutcome {
  const rows = csvRecords(text)
    .slice(1)
    .map((record, i) => ({ row: i + 2, email: record.split(",")[0], status: "ok" }));
  return { sent: rows.length, failed: 0, rows };
}

describe("CSV invitations in batches", () => {
  it("reads records as the server does: quoted line breaks and commas kept, empty lines skipped", () => {
    expect(csvRecords("email\r\na@x.io\r\n\r\nb@x.io\n\n")).toEqual(["email", "a@x.io", "b@x.io"]);
    expect(csvRecords('email,note\n"c@x.io","two\nlines, ""quoted"""\nd@x.io,x"y\n')).toEqual([
      "email,note",
      '"c@x.io","two\nlines, ""quoted"""',
      'd@x.io,x"y',
    ]);
    expect(csvRecords("email\ra@x.io")).toEqual(["email", "a@x.io"]);
    expect(csvRecords("")).toEqual([]);
  });

  it("sends a small file as it is, in one request", () => {
    const text = `\uFEFF${fileOf(25)}\r\n`;
    expect(csvBatches(text)).toEqual({ batches: [{ text, offset: 0, size: 25 }], nRows: 25 });
    expect(csvBatches("")).toEqual({ batches: [{ text: "", offset: 0, size: 0 }], nRows: 0 });
  });

  it("cuts a big file into batches, each with the header line", () => {
    const plan = csvBatches(`\uFEFF${fileOf(60)}`);
    expect(plan.nRows).toBe(60);
    expect(plan.batches.map((b) => [b.offset, b.size])).toEqual([
      [0, 25],
      [25, 25],
      [50, 10],
    ]);
    for (const batch of plan.batches) expect(batch.text.split("\n")[0]).toBe(HEADER);
    expect(plan.batches[1].text.split("\n")[1]).toBe("user26@example.com,member,,");
    expect(plan.batches[2].text).toBe(`${HEADER}\n${Array.from({ length: 10 }, (_, i) => `user${i + 51}@example.com,member,,`).join("\n")}\n`);
  });

  it("numbers each batch's rows as in the whole file, in messages too", () => {
    const answer: InviteOutcome = {
      sent: 1,
      failed: 1,
      rows: [
        { row: 2, email: "a@x.io", status: "ok" },
        { row: 3, email: "", status: "error", code: "invalid", error: "invalid role: row 3: no role named boss (not row 30)" },
      ],
    };
    const moved = withRowOffset(answer, 25);
    expect(moved.rows.map((r) => r.row)).toEqual([27, 28]);
    expect(moved.rows[1].error).toBe("invalid role: row 28: no role named boss (not row 30)");
    expect(moved.rows[0].error).toBeUndefined();
    expect(withRowOffset(answer, 0)).toBe(answer);
    expect(mergeOutcomes(answer, moved)).toEqual({ sent: 2, failed: 2, rows: [...answer.rows, ...moved.rows] });
  });

  it("sends every batch and merges the answers, rows numbered 2 to the last line", async () => {
    const plan = csvBatches(fileOf(60));
    const progress: number[] = [];
    const run = await inviteInBatches(plan, async (text) => answerOf(text), new AbortController().signal, (n) => progress.push(n));
    expect(progress).toEqual([25, 50, 60]);
    expect(run).toMatchObject({ nAnswered: 60, nUnanswered: 0, nInFlight: 0, cancelled: false, error: null });
    expect(run.outcome.sent).toBe(60);
    expect(run.outcome.rows.map((r) => r.row)).toEqual(Array.from({ length: 60 }, (_, i) => i + 2));
    expect(run.outcome.rows[59].email).toBe("user60@example.com");
  });

  it("stops on cancel: no further batch, the one in flight aborted, the answers so far kept", async () => {
    const plan: CsvInvitePlan = csvBatches(fileOf(100));
    const controller = new AbortController();
    const sent: string[] = [];
    const run = await inviteInBatches(
      plan,
      (text, signal) => {
        sent.push(text);
        if (sent.length < 3) return Promise.resolve(answerOf(text));
        // The third batch is on its way when the person cancels.
        return new Promise((_, reject) => {
          signal.addEventListener("abort", () => reject(new DOMException("aborted", "AbortError")));
          controller.abort();
        });
      },
      controller.signal,
    );
    expect(sent).toHaveLength(3);
    expect(run).toMatchObject({ nAnswered: 50, nUnanswered: 50, nInFlight: 25, cancelled: true, error: null });
    expect(run.outcome.rows).toHaveLength(50);
  });

  it("stops at a failed batch and keeps what was answered before it", async () => {
    const failure = new Error("the server is busy");
    let calls = 0;
    const run = await inviteInBatches(
      csvBatches(fileOf(80)),
      async (text) => {
        calls += 1;
        if (calls === 2) throw failure;
        return answerOf(text);
      },
      new AbortController().signal,
    );
    expect(calls).toBe(2);
    expect(run).toMatchObject({ nAnswered: 25, nUnanswered: 55, nInFlight: 0, cancelled: false, error: failure });
  });
});
