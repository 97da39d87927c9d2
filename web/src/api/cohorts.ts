// Saved cohorts: who is in one (a definition of conditions), the builder's state and the
// definition it makes, and a definition in words. Nothing here talks to the server.
import type { Filter } from "./report";
import type { components } from "./schema";

type S = components["schemas"];

export type Cohort = S["CohortView"];
export type CohortBody = S["CohortBody"];
export type CohortCondition = S["CohortCondition"];
export type CohortUsers = S["CohortUsersView"];
export type CohortUser = S["CohortUserView"];
export type CountComparison = S["CountComparison"];
export type CohortWindow = S["CohortWindow"];

export const COMPARISONS: { value: CountComparison; label: string }[] = [
  { value: "at_least", label: "at least" },
  { value: "at_most", label: "at most" },
  { value: "exactly", label: "exactly" },
];

/** One condition as the builder edits it. What the builder cannot edit (a list of users, a
 * nested group, a window of dates, an event's filters) is kept as it is (`fixed`). */
export type DraftCondition =
  | { kind: "behavior"; event: string; comparison: CountComparison; count: number; days: number }
  | { kind: "profile"; property: string; operator: Filter["operator"]; value: string }
  | { kind: "cohort"; id: number | null; negate: boolean }
  | { kind: "fixed"; condition: CohortCondition };

export type DraftKind = "behavior" | "profile" | "in_cohort" | "not_in_cohort";

export const DRAFT_KINDS: { value: DraftKind; label: string }[] = [
  { value: "behavior", label: "Did event" },
  { value: "profile", label: "Profile property" },
  { value: "in_cohort", label: "In cohort" },
  { value: "not_in_cohort", label: "Not in cohort" },
];

export interface CohortDraft {
  name: string;
  description: string;
  shared: boolean;
  match: "all" | "any";
  conditions: DraftCondition[];
}

export function newCondition(kind: DraftKind): DraftCondition {
  switch (kind) {
    case "behavior":
      return { kind: "behavior", event: "", comparison: "at_least", count: 1, days: 30 };
    case "profile":
      return { kind: "profile", property: "", operator: "equals", value: "" };
    case "in_cohort":
      return { kind: "cohort", id: null, negate: false };
    case "not_in_cohort":
      return { kind: "cohort", id: null, negate: true };
  }
}

/** The builder's kind of a condition (a fixed one has none). */
export function draftKind(condition: DraftCondition): DraftKind | null {
  switch (condition.kind) {
    case "behavior":
      return "behavior";
    case "profile":
      return "profile";
    case "cohort":
      return condition.negate ? "not_in_cohort" : "in_cohort";
    default:
      return null;
  }
}

export function emptyDraft(): CohortDraft {
  return { name: "", description: "", shared: false, match: "all", conditions: [newCondition("behavior")] };
}

/** A profile filter from the builder's text, as the filter editor makes one. */
export function profileFilter(property: string, operator: Filter["operator"], text: string): Filter {
  const base = { property, source: "user" as const, operator };
  switch (operator) {
    case "equals":
    case "not_equals":
      return { ...base, value: text.split(",").map((v) => v.trim()).filter(Boolean) } as Filter;
    case "contains":
    case "not_contains":
      return { ...base, value: text } as Filter;
    case "greater_than":
    case "less_than":
    case "greater_or_equal":
    case "less_or_equal":
      return { ...base, value: Number(text) } as Filter;
    default:
      return base as Filter;
  }
}

function valueText(filter: Filter): string {
  const value = (filter as { value?: unknown }).value;
  if (Array.isArray(value)) return value.join(", ");
  return value == null ? "" : String(value);
}

/** What a condition is missing before it can be saved, or null when it is complete. */
export function conditionProblem(condition: DraftCondition): string | null {
  switch (condition.kind) {
    case "behavior":
      if (!condition.event) return "Choose an event.";
      if (!Number.isInteger(condition.count) || condition.count < 0) return "The count is a whole number.";
      if (!Number.isInteger(condition.days) || condition.days < 1) return "The number of days is at least 1.";
      return null;
    case "profile":
      if (!condition.property.trim()) return "Choose a profile property.";
      if (["greater_than", "less_than", "greater_or_equal", "less_or_equal"].includes(condition.operator) && !Number.isFinite(Number(condition.value)))
        return "The value is a number.";
      return null;
    case "cohort":
      return condition.id == null ? "Choose a cohort." : null;
    default:
      return null;
  }
}

/** Why the draft cannot be counted or saved yet, or null. */
export function draftProblem(draft: CohortDraft, needName = true): string | null {
  if (needName && !draft.name.trim()) return "Give the cohort a name.";
  if (draft.conditions.length === 0) return "Add a condition.";
  for (const [index, condition] of draft.conditions.entries()) {
    const problem = conditionProblem(condition);
    if (problem) return `Condition ${index + 1}: ${problem}`;
  }
  return null;
}

export function conditionOf(condition: DraftCondition): CohortCondition {
  switch (condition.kind) {
    case "behavior":
      return {
        kind: "behavior",
        event: condition.event,
        comparison: condition.comparison,
        count: condition.count,
        window: { kind: "last_days", days: condition.days },
      };
    case "profile":
      return { kind: "profile", filter: profileFilter(condition.property.trim(), condition.operator, condition.value) };
    case "cohort":
      return condition.negate ? { kind: "cohort", id: condition.id ?? 0, negate: true } : { kind: "cohort", id: condition.id ?? 0 };
    case "fixed":
      return condition.condition;
  }
}

/** The definition the builder's conditions make: all (or any) of them. */
export function definitionOf(draft: CohortDraft): CohortCondition {
  return { kind: draft.match, conditions: draft.conditions.map(conditionOf) };
}

/** What the server takes to save the draft. */
export function bodyOf(draft: CohortDraft): CohortBody {
  return { name: draft.name.trim(), description: draft.description.trim(), definition: definitionOf(draft), shared: draft.shared };
}

function draftConditionOf(condition: CohortCondition): DraftCondition {
  switch (condition.kind) {
    case "behavior":
      if (condition.window.kind === "last_days" && !(condition.filters && condition.filters.length > 0))
        return { kind: "behavior", event: condition.event, comparison: condition.comparison, count: condition.count, days: condition.window.days };
      return { kind: "fixed", condition };
    case "profile":
      return { kind: "profile", property: condition.filter.property, operator: condition.filter.operator, value: valueText(condition.filter) };
    case "cohort":
      return { kind: "cohort", id: condition.id, negate: condition.negate ?? false };
    default:
      return { kind: "fixed", condition };
  }
}

/** The builder's state for a saved cohort (to change it). */
export function draftOf(cohort: Pick<Cohort, "name" | "description" | "shared" | "definition">): CohortDraft {
  const definition = cohort.definition;
  const top = definition.kind === "all" || definition.kind === "any";
  return {
    name: cohort.name,
    description: cohort.description,
    shared: cohort.shared,
    match: definition.kind === "any" ? "any" : "all",
    conditions: top ? definition.conditions.map(draftConditionOf) : [draftConditionOf(definition)],
  };
}

const OPERATOR_WORDS: Record<string, string> = {
  equals: "is",
  not_equals: "is not",
  contains: "contains",
  not_contains: "does not contain",
  greater_than: ">",
  greater_or_equal: "≥",
  less_than: "<",
  less_or_equal: "≤",
  between: "is between",
  is_set: "is set",
  is_not_set: "is not set",
  is_true: "is true",
  is_false: "is false",
};

/** A property filter in words: `plan is pro or team`. */
export function filterWords(filter: Filter, cohortName: (id: number) => string | undefined = () => undefined): string {
  if (filter.source === "cohort") {
    const name = cohortName(Number(filter.property));
    const cohort = name ? `“${name}”` : `#${filter.property}`;
    return filter.operator === "is_false" ? `not in cohort ${cohort}` : `in cohort ${cohort}`;
  }
  const value = (filter as { value?: unknown }).value;
  let text = "";
  if (Array.isArray(value)) text = value.map(String).join(filter.operator === "between" ? " and " : " or ");
  else if (value != null) text = String(value);
  return [filter.property, OPERATOR_WORDS[filter.operator] ?? filter.operator, text].filter(Boolean).join(" ");
}

function times(count: number): string {
  return count === 1 ? "1 time" : `${count} times`;
}

/** A definition in words, for a reader: `Did “Purchase” at least 2 times in the last 30 days
 * and profile plan is pro`. `cohortName` names the cohorts it refers to. */
export function summarize(definition: CohortCondition, cohortName: (id: number) => string | undefined = () => undefined, nested = false): string {
  switch (definition.kind) {
    case "behavior": {
      const window =
        definition.window.kind === "last_days"
          ? definition.window.days === 1
            ? "in the last day"
            : `in the last ${definition.window.days} days`
          : `between ${definition.window.range.from_date} and ${definition.window.range.to_date}`;
      const comparison = COMPARISONS.find((c) => c.value === definition.comparison)?.label ?? definition.comparison;
      const where = (definition.filters ?? []).map((f) => filterWords(f, cohortName)).join(" and ");
      const event = definition.event === "$all_events" ? "any event" : `“${definition.event}”`;
      return `did ${event}${where ? ` where ${where}` : ""} ${comparison} ${times(definition.count)} ${window}`;
    }
    case "profile":
      return `profile ${filterWords(definition.filter, cohortName)}`;
    case "cohort": {
      const name = cohortName(definition.id);
      const cohort = name ? `“${name}”` : `#${definition.id}`;
      return `${definition.negate ? "not in" : "in"} cohort ${cohort}`;
    }
    case "users": {
      const ids = definition.distinct_ids;
      if (ids.length === 0) return "no listed user";
      if (ids.length <= 3) return `one of the users ${ids.join(", ")}`;
      return `one of ${ids.length} listed users`;
    }
    case "all":
    case "any": {
      const parts = definition.conditions.map((c) => summarize(c, cohortName, true));
      if (parts.length === 0) return definition.kind === "all" ? "everyone" : "nobody";
      if (parts.length === 1) return parts[0];
      const text = parts.join(definition.kind === "all" ? " and " : " or ");
      return nested ? `(${text})` : text;
    }
  }
}

/** `summarize` with its first letter capitalised, for a sentence on its own. */
export function summary(definition: CohortCondition, cohortName?: (id: number) => string | undefined): string {
  const text = summarize(definition, cohortName);
  return text.charAt(0).toUpperCase() + text.slice(1);
}

/** The definition of a list of users (a funnel step's, say), without repeats. */
export function usersDefinition(ids: string[]): CohortCondition {
  return { kind: "users", distinct_ids: [...new Set(ids)] };
}

/** Whether the caller may change or delete a cohort: its creator or a project admin. */
export function mayManage(cohort: Pick<Cohort, "created_by">, myId: number | undefined, isAdmin: boolean): boolean {
  return isAdmin || (myId !== undefined && cohort.created_by === myId);
}
