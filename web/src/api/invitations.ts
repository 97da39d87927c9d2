// Bulk invitations from a CSV file: the file cut into batches of rows (each with the header
// line, so the server reads every batch as the file it is), each batch's answer renumbered to
// the rows of the whole file, and the batches sent one after another until all are answered,
// one fails, or the person cancels. Nothing here knows React.
import type { InviteOutcome } from "./types";

/** Data rows per request: small enough that progress moves and a cancel stops soon. */
export const INVITE_BATCH_ROWS = 25;

/** One request's worth of the file. */
export interface CsvBatch {
  /** The CSV text sent: the header line, then this batch's rows. */
  text: string;
  /** Data rows of the file before this batch; the server numbers each batch's rows from 2
   * (the header is row 1), so a row's number in the file is its number in the batch plus this. */
  offset: number;
  /** Data rows in this batch. */
  size: number;
}

export interface CsvInvitePlan {
  batches: CsvBatch[];
  /** Data rows in the whole file (the header not counted). */
  nRows: number;
}

/**
 * The records of a CSV text, each as written (quotes kept), read the way the server's CSV
 * reader reads them: a quote opens a quoted field only at the start of a field, a doubled
 * quote inside one is a quote, line breaks inside quotes belong to the field, `\r\n`, `\r`
 * and `\n` each end a record, and empty lines are no records at all.
 */
export function csvRecords(text: string): string[] {
  const records: string[] = [];
  let start = 0;
  let fieldStart = true;
  let quoted = false;
  let i = 0;
  const end = (at: number) => {
    if (at > start) records.push(text.slice(start, at));
  };
  while (i < text.length) {
    const ch = text[i];
    if (quoted) {
      if (ch === '"') {
        if (text[i + 1] === '"') i += 1;
        else quoted = false;
      }
      i += 1;
      continue;
    }
    if (ch === '"' && fieldStart) {
      quoted = true;
      fieldStart = false;
    } else if (ch === ",") {
      fieldStart = true;
    } else if (ch === "\r" || ch === "\n") {
      end(i);
      if (ch === "\r" && text[i + 1] === "\n") i += 1;
      start = i + 1;
      fieldStart = true;
    } else {
      fieldStart = false;
    }
    i += 1;
  }
  end(text.length);
  return records;
}

/**
 * The batches a CSV file goes in, `perBatch` data rows each. A file of one batch or less (or
 * one without even a header) goes as it is, in one request, as it always did: the server then
 * says what is wrong with it.
 */
export function csvBatches(text: string, perBatch: number = INVITE_BATCH_ROWS): CsvInvitePlan {
  const records = csvRecords(text.startsWith("\uFEFF") ? text.slice(1) : text);
  const nRows = Math.max(0, records.length - 1);
  if (nRows <= perBatch) return { batches: [{ text, offset: 0, size: nRows }], nRows };
  const [header, ...rows] = records;
  const batches: CsvBatch[] = [];
  for (let offset = 0; offset < rows.length; offset += perBatch) {
    const slice = rows.slice(offset, offset + perBatch);
    batches.push({ text: `${header}\n${slice.join("\n")}\n`, offset, size: slice.length });
  }
  return { batches, nRows };
}

/** A batch's answer with its rows numbered as in the whole file (in its error messages too,
 * which name their row as `row N:`). */
export function withRowOffset(outcome: InviteOutcome, offset: number): InviteOutcome {
  if (offset === 0) return outcome;
  return {
    ...outcome,
    rows: outcome.rows.map((row) => ({
      ...row,
      row: row.row + offset,
      error: row.error?.replace(new RegExp(`\\brow ${row.row}\\b`, "g"), `row ${row.row + offset}`) ?? row.error,
    })),
  };
}

export const NO_OUTCOME: InviteOutcome = { sent: 0, failed: 0, rows: [] };

export function mergeOutcomes(a: InviteOutcome, b: InviteOutcome): InviteOutcome {
  return { sent: a.sent + b.sent, failed: a.failed + b.failed, rows: [...a.rows, ...b.rows] };
}

/** How a run of batches ended. */
export interface CsvInviteRun {
  /** The answers of the batches answered, merged, rows numbered as in the file. */
  outcome: InviteOutcome;
  /** Data rows whose batch was answered. */
  nAnswered: number;
  /** Data rows without an answer (`nRows - nAnswered`). */
  nUnanswered: number;
  /** Rows of the batch that was on its way when the run was cancelled: the server may have
   * invited some of them (0 when nothing was in flight). */
  nInFlight: number;
  cancelled: boolean;
  /** The failure that stopped the run, if one did. */
  error: unknown;
}

/**
 * Sends the batches one after another. `signal` cancels: no further batch goes, and the one
 * in flight is aborted (its `send` gets the signal). A batch that fails stops the run; what
 * was answered before it is kept.
 */
export async function inviteInBatches(
  plan: CsvInvitePlan,
  send: (text: string, signal: AbortSignal) => Promise<InviteOutcome>,
  signal: AbortSignal,
  onProgress: (nAnswered: number) => void = () => {},
): Promise<CsvInviteRun> {
  let outcome = NO_OUTCOME;
  let nAnswered = 0;
  let nInFlight = 0;
  let error: unknown = null;
  for (const batch of plan.batches) {
    if (signal.aborted) break;
    try {
      const answer = await send(batch.text, signal);
      outcome = mergeOutcomes(outcome, withRowOffset(answer, batch.offset));
      nAnswered += batch.size;
      onProgress(nAnswered);
    } catch (failure) {
      if (signal.aborted) nInFlight = batch.size;
      else error = failure;
      break;
    }
  }
  return { outcome, nAnswered, nUnanswered: plan.nRows - nAnswered, nInFlight, cancelled: signal.aborted, error };
}
