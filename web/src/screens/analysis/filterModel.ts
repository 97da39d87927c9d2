// Filters as the editor shows them: a property, an operator and the value's text.
import type { Filter } from "../../api/report";

export type Operator = Filter["operator"];

/** A filter from the editor's fields: numbers for comparisons, a list for (not) equals. */
export function filterOf(property: string, operator: Operator, text: string): Filter {
  switch (operator) {
    case "equals":
    case "not_equals":
      return { property, operator, value: text.split(",").map((v) => v.trim()).filter(Boolean) } as Filter;
    case "contains":
    case "not_contains":
      return { property, operator, value: text } as Filter;
    case "greater_than":
    case "less_than":
    case "greater_or_equal":
    case "less_or_equal":
      return { property, operator, value: Number(text) } as Filter;
    default:
      return { property, operator } as Filter;
  }
}

/** The editor's text for a filter's value. */
export function filterText(filter: Filter): string {
  const value = (filter as { value?: unknown }).value;
  if (Array.isArray(value)) return value.join(", ");
  return value == null ? "" : String(value);
}
