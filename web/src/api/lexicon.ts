// Lexicon edits: the form an editor fills in for an event or a property, the PATCH body
// that sends only what changed, and the routes that merge entries and import a CSV.
import type { components } from "./schema";

export type LexiconEdit = components["schemas"]["EditView"];
export type LexiconEditBody = components["schemas"]["LexiconEditBody"];
export type MergedBody = components["schemas"]["MergedBody"];
export type Imported = components["schemas"]["ImportedView"];

type Edited = Pick<LexiconEdit, "display_name" | "description" | "tags" | "hidden" | "owners">;

export interface LexiconForm {
  display_name: string;
  description: string;
  tags: string[];
  hidden: boolean;
  /** Organization members' e-mails. */
  owners: string[];
}

/** The form as an entry stands. */
export function formOf(entry: Edited): LexiconForm {
  return {
    display_name: entry.display_name ?? "",
    description: entry.description ?? "",
    tags: [...(entry.tags ?? [])],
    hidden: entry.hidden,
    owners: [...(entry.owners ?? [])],
  };
}

/** Tags (or owners) trimmed, blanks and repeats left out, in the order given. */
export function cleanTags(tags: string[]): string[] {
  const seen = new Set<string>();
  const out: string[] = [];
  for (const tag of tags) {
    const t = tag.trim();
    if (t && !seen.has(t)) {
      seen.add(t);
      out.push(t);
    }
  }
  return out;
}

/** The PATCH body: only the fields the form changed (texts trimmed); empty when nothing did. */
export function editBody(entry: Edited, form: LexiconForm): LexiconEditBody {
  const body: LexiconEditBody = {};
  const display = form.display_name.trim();
  const description = form.description.trim();
  const tags = cleanTags(form.tags);
  if (display !== (entry.display_name ?? "")) body.display_name = display;
  if (description !== (entry.description ?? "")) body.description = description;
  if (!sameList(tags, entry.tags ?? [])) body.tags = tags;
  if (form.hidden !== entry.hidden) body.hidden = form.hidden;
  const owners = cleanTags(form.owners);
  if (!sameList(owners, entry.owners ?? [])) body.owners = owners;
  return body;
}

function sameList(a: string[], b: string[]): boolean {
  return a.length === b.length && a.every((item, i) => item === b[i]);
}

/** The names an entry may be merged into: the others of its kind that are not merged
 * themselves (the server refuses chains), sorted. */
export function mergeTargets(name: string, entries: { name: string; merged_into: string }[]): string[] {
  const names = new Set<string>();
  for (const entry of entries) if (entry.name !== name && !entry.merged_into) names.add(entry.name);
  return [...names].sort((a, b) => a.localeCompare(b));
}

export const lexiconPaths = {
  event: (projectId: number, name: string) => `/api/app/projects/${projectId}/lexicon/events/${encodeURIComponent(name)}`,
  property: (projectId: number, name: string) => `/api/app/projects/${projectId}/lexicon/properties/${encodeURIComponent(name)}`,
  dropped: (projectId: number, name: string) => `/api/app/projects/${projectId}/lexicon/events/${encodeURIComponent(name)}/dropped`,
  classified: (projectId: number, name: string) => `/api/app/projects/${projectId}/lexicon/properties/${encodeURIComponent(name)}/classified`,
  merged: (projectId: number, kind: "event" | "property", name: string) =>
    `/api/app/projects/${projectId}/lexicon/${kind === "event" ? "events" : "properties"}/${encodeURIComponent(name)}/merged`,
  import: (projectId: number, replace: boolean) => `/api/app/projects/${projectId}/lexicon/import${replace ? "?replace=true" : ""}`,
};
