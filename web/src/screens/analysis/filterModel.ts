// Filters as the editor shows them: a property, an operator and the value's text.
import type { Breakdown, Filter } from "../../api/report";
import type { components } from "../../api/schema";

export type Operator = Filter["operator"];
/** Whose property: the event's own, its user's profile, or membership of a saved cohort (the
 * server's `PropertySource`; a cohort's property is its id). */
export type Source = components["schemas"]["PropertySource"];

/** The operators of an event or profile property. */
export const OPERATORS: { value: Operator; label: string }[] = [
  { value: "equals", label: "is" },
  { value: "not_equals", label: "is not" },
  { value: "contains", label: "contains" },
  { value: "not_contains", label: "does not contain" },
  { value: "greater_than", label: ">" },
  { value: "less_than", label: "<" },
  { value: "is_set", label: "is set" },
  { value: "is_not_set", label: "is not set" },
];

/** The operators of a cohort: its members, or everyone else. */
export const COHORT_OPERATORS: { value: Operator; label: string }[] = [
  { value: "is_true", label: "in cohort" },
  { value: "is_false", label: "not in cohort" },
];

/** The operators a filter on this source offers. */
export function operatorsFor(source: Source | null | undefined) {
  return source === "cohort" ? COHORT_OPERATORS : OPERATORS;
}

/** Whether the operator takes a value (typed in the editor). */
export function takesValue(operator: Operator): boolean {
  return !["is_set", "is_not_set", "is_true", "is_false"].includes(operator);
}

/** A filter from the editor's fields: numbers for comparisons, a list for (not) equals. A
 * user (profile) property says so; an event property leaves `source` out (the default). */
export function filterOf(property: string, operator: Operator, text: string, source: Source = "event"): Filter {
  // Membership of a cohort is true or false, nothing else; any other filter leaves them.
  if (source === "cohort") return { property, source, operator: operator === "is_false" ? "is_false" : "is_true" };
  const base = source === "event" ? { property, operator } : { property, source, operator };
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

/** The property pickers' value: a profile property is `user:` and its name, a cohort
 * `cohort:` and its id. */
export function pickerValue(property: string | null | undefined, source: Source | null | undefined): string | null {
  if (!property) return null;
  return source && source !== "event" ? `${source}:${property}` : property;
}

/** A property and its source from a picker's value. */
export function fromPickerValue(value: string): { property: string; source: Source } {
  if (value.startsWith("user:")) return { property: value.slice(5), source: "user" };
  if (value.startsWith("cohort:")) return { property: value.slice(7), source: "cohort" };
  return { property: value, source: "event" };
}

/** A filter in words: `country is US, FR`, `plan (user) is set`, `in cohort 12`. */
export function describeFilter(filter: Filter): string {
  const operator = operatorsFor(filter.source).find((o) => o.value === filter.operator)?.label ?? filter.operator;
  if (filter.source === "cohort") return `${operator} ${filter.property}`;
  const property = filter.source === "user" ? `${filter.property} (user)` : filter.property;
  return takesValue(filter.operator) ? `${property} ${operator} ${filterText(filter)}` : `${property} ${operator}`;
}

/** The editor's text for a filter's value. */
export function filterText(filter: Filter): string {
  const value = (filter as { value?: unknown }).value;
  if (Array.isArray(value)) return value.join(", ");
  return value == null ? "" : String(value);
}

/** The breakdown a picker's value asks for (none for null), keeping the previous one's limit.
 * An event property leaves `source` out (the default). */
export function breakdownOf(value: string | null, previous: Breakdown | null | undefined): Breakdown | undefined {
  if (!value) return undefined;
  const { property, source } = fromPickerValue(value);
  const limit = previous?.limit == null ? {} : { limit: previous.limit };
  return source === "user" ? { property, source, ...limit } : { property, ...limit };
}

/** A breakdown in words: its property, and "(user)" for a profile's. */
export function breakdownName(breakdown: Breakdown): string {
  return breakdown.source === "user" ? `${breakdown.property} (user)` : (breakdown.property ?? "");
}
