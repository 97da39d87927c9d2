// Filters as the editor shows them: a property, an operator and the value's text.
import type { Filter } from "../../api/report";
import type { components } from "../../api/schema";

export type Operator = Filter["operator"];
/** Whose property: the event's own, its user's profile, or membership of a saved cohort (the
 * server's `PropertySource`; the pickers offer the first two). */
export type Source = components["schemas"]["PropertySource"];

/** A filter from the editor's fields: numbers for comparisons, a list for (not) equals. A
 * user (profile) property says so; an event property leaves `source` out (the default). */
export function filterOf(property: string, operator: Operator, text: string, source: Source = "event"): Filter {
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

/** The property pickers' value: a profile property is `user:` and its name. */
export function pickerValue(property: string | null | undefined, source: Source | null | undefined): string | null {
  if (!property) return null;
  return source && source !== "event" ? `${source}:${property}` : property;
}

/** A property and its source from a picker's value. */
export function fromPickerValue(value: string): { property: string; source: Source } {
  return value.startsWith("user:") ? { property: value.slice(5), source: "user" } : { property: value, source: "event" };
}

/** The editor's text for a filter's value. */
export function filterText(filter: Filter): string {
  const value = (filter as { value?: unknown }).value;
  if (Array.isArray(value)) return value.join(", ");
  return value == null ? "" : String(value);
}
