// GDPR and CCPA requests: names for the API's shapes, the ids a form's text names, the
// statuses in words, and whether the list is still moving. Nothing here talks to the server.
import type { components } from "./schema";

type S = components["schemas"];

export type PrivacyRequest = S["PrivacyRequestView"];
export type PrivacyRequestBody = S["PrivacyRequestBody"];
export type PrivacyTask = S["PrivacyTaskView"];

export type PrivacyKind = "retrieval" | "deletion";

/** At most this many distinct ids in one request (the server refuses more). */
export const MAX_DISTINCT_IDS = 2000;

export const PRIVACY_KINDS: { value: PrivacyKind; label: string }[] = [
  { value: "retrieval", label: "Retrieve their data" },
  { value: "deletion", label: "Delete their data" },
];

export const COMPLIANCE_TYPES = [
  { value: "GDPR", label: "GDPR" },
  { value: "CCPA", label: "CCPA" },
];

export const DISCLOSURE_TYPES = [
  { value: "Data", label: "Data: their events and profiles" },
  { value: "Categories", label: "Categories: the kinds of data held" },
  { value: "Sources", label: "Sources: where the data came from" },
];

export const PRIVACY_STATUS: Record<string, { label: string; color: string }> = {
  PENDING: { label: "Pending", color: "yellow" },
  STARTED: { label: "In progress", color: "blue" },
  SUCCESS: { label: "Done", color: "green" },
  FAILURE: { label: "Failed", color: "red" },
  REVOKED: { label: "Cancelled", color: "gray" },
};

export function statusOf(status: string): { label: string; color: string } {
  return PRIVACY_STATUS[status] ?? { label: status, color: "gray" };
}

export const privacyPaths = {
  list: (projectId: number) => `/api/app/projects/${projectId}/privacy-requests`,
  create: (projectId: number, kind: PrivacyKind) => `/api/app/projects/${projectId}/${kind === "deletion" ? "data-deletions" : "data-retrievals"}`,
  deletion: (projectId: number, trackingId: string) => `/api/app/projects/${projectId}/data-deletions/${encodeURIComponent(trackingId)}`,
  download: (projectId: number, trackingId: string) => `/api/app/projects/${projectId}/data-retrievals/${encodeURIComponent(trackingId)}/download`,
};

/** The distinct ids of a text, one a line: trimmed, blank lines dropped, each once. */
export function distinctIdsOf(text: string): string[] {
  const seen = new Set<string>();
  for (const line of text.split(/\r?\n/)) {
    const id = line.trim();
    if (id) seen.add(id);
  }
  return [...seen];
}

/** Whether a request has yet to finish. */
export function running(request: Pick<PrivacyRequest, "status">): boolean {
  return request.status === "PENDING" || request.status === "STARTED";
}

/** How long to wait before reading the list again: while a request runs, every few
 * seconds; otherwise not at all. */
export function pollInterval(requests: Pick<PrivacyRequest, "status">[] | undefined, every = 3000): number | false {
  return requests?.some(running) ? every : false;
}

/** The body of a request (the disclosure type only for retrievals). */
export function privacyBody(kind: PrivacyKind, ids: string[], complianceType: string, disclosureType: string): PrivacyRequestBody {
  const body: PrivacyRequestBody = { distinct_ids: ids, compliance_type: complianceType };
  if (kind === "retrieval") body.disclosure_type = disclosureType;
  return body;
}
