// Alerts on saved Insights and Funnels reports: names for the API's shapes, an alert in
// words (its condition, how often it is checked, where it goes, what a delivery answered),
// and the dialog's draft with the body it sends. Nothing here talks to the server.
import type { Bookmark } from "./boards";
import { formatValue } from "./report";
import type { components } from "./schema";

type S = components["schemas"];

export type Alert = S["AlertView"];
export type AlertBody = S["AlertBody"];
export type AlertCheck = S["AlertCheckView"];
export type AlertCondition = S["AlertConditionBody"];

export type ConditionKind = "above" | "below" | "changes_by" | "changes_by_percent";
export type Frequency = "hourly" | "daily" | "weekly";

export const CONDITION_KINDS: { value: ConditionKind; label: string }[] = [
  { value: "above", label: "Goes above" },
  { value: "below", label: "Goes below" },
  { value: "changes_by", label: "Changes by (up or down)" },
  { value: "changes_by_percent", label: "Changes by a percentage (up or down)" },
];

export const FREQUENCIES: { value: Frequency; label: string }[] = [
  { value: "hourly", label: "Every hour" },
  { value: "daily", label: "Every day" },
  { value: "weekly", label: "Every week" },
];

/** The kinds of saved report an alert may watch. */
export const ALERTABLE_TYPES = ["insights", "funnels"];

export function alertable(bookmark: Pick<Bookmark, "type">): boolean {
  return ALERTABLE_TYPES.includes(bookmark.type);
}

export const alertPaths = {
  list: (projectId: number) => `/api/app/projects/${projectId}/alerts`,
  one: (projectId: number, alertId: number) => `/api/app/projects/${projectId}/alerts/${alertId}`,
  test: (projectId: number, alertId: number) => `/api/app/projects/${projectId}/alerts/${alertId}/test`,
  history: (projectId: number, alertId: number) => `/api/app/projects/${projectId}/alerts/${alertId}/history`,
};

/** Where an alert's screen is: its facts and its checks. */
export function alertPath(projectId: number, alertId: number): string {
  return `/projects/${projectId}/alerts/${alertId}`;
}

/** When an alert fires, as a sentence. */
export function describeCondition(condition: AlertCondition): string {
  const value = formatValue(condition.value);
  switch (condition.kind) {
    case "above":
      return `Fires when the value is above ${value}`;
    case "below":
      return `Fires when the value is below ${value}`;
    case "changes_by":
      return `Fires when the value changes by ${value} or more (up or down) from the previous period`;
    case "changes_by_percent":
      return `Fires when the value changes by ${value}% or more (up or down) from the previous period`;
    default:
      return `Fires when the value ${condition.kind.replace(/_/g, " ")} ${value}`;
  }
}

export function frequencyLabel(frequency: string): string {
  return FREQUENCIES.find((f) => f.value === frequency)?.label ?? frequency;
}

/** What a check's deliveries answered, in words (empty when nothing was sent). The server
 * records `email: {sent, failed}` and `webhook: {status, attempts}` or `{error, attempts}`. */
export function describeDelivery(delivery: unknown): string {
  if (delivery == null || typeof delivery !== "object") return "";
  const parts: string[] = [];
  const record = delivery as Record<string, unknown>;
  const email = record.email as { sent?: number; failed?: unknown[] } | undefined;
  if (email && typeof email === "object") {
    const failed = Array.isArray(email.failed) ? email.failed.map(String) : [];
    let text = `E-mail: ${email.sent ?? 0} sent`;
    if (failed.length > 0) text += `, ${failed.length} failed (${failed.join("; ")})`;
    parts.push(text);
  }
  const webhook = record.webhook as { status?: number; error?: string; attempts?: number } | undefined;
  if (webhook && typeof webhook === "object") {
    const attempts = webhook.attempts && webhook.attempts > 1 ? ` after ${webhook.attempts} attempts` : "";
    if (webhook.error) parts.push(`Webhook: ${webhook.error}${attempts}`);
    else if (webhook.status != null) parts.push(`Webhook: HTTP ${webhook.status}${attempts}`);
  }
  return parts.join("; ");
}

/** The alert's invalid reason as a sentence: capitalized, with a full stop. */
export function sentence(text: string): string {
  const trimmed = text.trim();
  if (!trimmed) return "";
  const first = trimmed[0].toUpperCase() + trimmed.slice(1);
  return /[.!?]$/.test(first) ? first : `${first}.`;
}

/** An alert as its dialog edits it. */
export interface AlertDraft {
  bookmarkId: number | null;
  name: string;
  kind: ConditionKind;
  /** As typed: a number, or "" while empty. */
  value: number | string;
  frequency: Frequency;
  emails: string[];
  webhookUrl: string;
  webhookUsername: string;
  /** Empty: keep the stored password (if any). */
  webhookPassword: string;
  removePassword: boolean;
}

/** The draft of an alert being changed, or of a new one (on `bookmark` when given). */
export function draftOf(alert: Alert | null, bookmark?: Pick<Bookmark, "id" | "name"> | null, email?: string): AlertDraft {
  if (alert) {
    return {
      bookmarkId: alert.bookmark_id,
      name: alert.name,
      kind: (CONDITION_KINDS.some((k) => k.value === alert.condition.kind) ? alert.condition.kind : "above") as ConditionKind,
      value: alert.condition.value,
      frequency: (FREQUENCIES.some((f) => f.value === alert.frequency) ? alert.frequency : "daily") as Frequency,
      emails: alert.emails,
      webhookUrl: alert.webhook?.url ?? "",
      webhookUsername: alert.webhook?.username ?? "",
      webhookPassword: "",
      removePassword: false,
    };
  }
  return {
    bookmarkId: bookmark?.id ?? null,
    name: bookmark?.name ?? "",
    kind: "above",
    value: "",
    frequency: "daily",
    emails: email ? [email] : [],
    webhookUrl: "",
    webhookUsername: "",
    webhookPassword: "",
    removePassword: false,
  };
}

/** Why the draft's value cannot be sent (null: it can). */
export function valueProblem(draft: Pick<AlertDraft, "kind" | "value">): string | null {
  if (draft.value === "" || draft.value === null) return "Give a value";
  const value = Number(draft.value);
  if (!Number.isFinite(value)) return "The value is a number";
  if ((draft.kind === "changes_by" || draft.kind === "changes_by_percent") && value < 0) {
    return "A change is measured up or down: give 0 or more";
  }
  return null;
}

/** The body the dialog sends: everything set, the webhook removed when its address was
 * cleared, and its password kept unless a new one was typed or its removal asked for. */
export function alertBody(draft: AlertDraft, previous: Alert | null): AlertBody {
  const body: AlertBody = {
    condition: { kind: draft.kind, value: Number(draft.value) },
    frequency: draft.frequency,
    emails: draft.emails.map((e) => e.trim()).filter(Boolean),
  };
  if (draft.bookmarkId !== null) body.bookmark_id = draft.bookmarkId;
  // An empty name on a new alert takes the report's (the server's default).
  const name = draft.name.trim();
  if (name) body.name = name;
  const url = draft.webhookUrl.trim();
  if (url) {
    body.webhook = { url, username: draft.webhookUsername.trim() };
    if (draft.removePassword) body.webhook.password = "";
    else if (draft.webhookPassword !== "") body.webhook.password = draft.webhookPassword;
  } else if (previous?.webhook) {
    body.webhook = { url: "" };
  }
  return body;
}
