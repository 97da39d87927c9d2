// Lexicon edits: the form an editor fills in for an event or a property, and the PATCH body
// that sends only what changed.
import type { components } from "./schema";

export type LexiconEdit = components["schemas"]["EditView"];
export type LexiconEditBody = components["schemas"]["LexiconEditBody"];

export interface LexiconForm {
  display_name: string;
  description: string;
  tags: string[];
  hidden: boolean;
}

/** The form as an entry stands. */
export function formOf(entry: Pick<LexiconEdit, "display_name" | "description" | "tags" | "hidden">): LexiconForm {
  return { display_name: entry.display_name ?? "", description: entry.description ?? "", tags: [...(entry.tags ?? [])], hidden: entry.hidden };
}

/** Tags trimmed, blanks and repeats left out, in the order given. */
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
export function editBody(entry: Pick<LexiconEdit, "display_name" | "description" | "tags" | "hidden">, form: LexiconForm): LexiconEditBody {
  const body: LexiconEditBody = {};
  const display = form.display_name.trim();
  const description = form.description.trim();
  const tags = cleanTags(form.tags);
  if (display !== (entry.display_name ?? "")) body.display_name = display;
  if (description !== (entry.description ?? "")) body.description = description;
  const before = entry.tags ?? [];
  if (tags.length !== before.length || tags.some((t, i) => t !== before[i])) body.tags = tags;
  if (form.hidden !== entry.hidden) body.hidden = form.hidden;
  return body;
}

export const lexiconPaths = {
  event: (projectId: number, name: string) => `/api/app/projects/${projectId}/lexicon/events/${encodeURIComponent(name)}`,
  property: (projectId: number, name: string) => `/api/app/projects/${projectId}/lexicon/properties/${encodeURIComponent(name)}`,
  dropped: (projectId: number, name: string) => `/api/app/projects/${projectId}/lexicon/events/${encodeURIComponent(name)}/dropped`,
  classified: (projectId: number, name: string) => `/api/app/projects/${projectId}/lexicon/properties/${encodeURIComponent(name)}/classified`,
};
