// Filters on event and user profile properties (a property, an operator and its value), and
// (unless `cohorts` is off) on membership of a saved cohort (in it, or not).
import { ActionIcon, Button, Group, Select, Stack, TextInput } from "@mantine/core";
import type { Filter } from "../../api/report";
import { SourcedPropertyPicker } from "./parts";
import { type Operator, filterOf, filterText, fromPickerValue, operatorsFor, pickerValue, takesValue } from "./filterModel";

export function FilterEditor({
  projectId,
  filters,
  onChange,
  cohorts = true,
}: {
  projectId: number;
  filters: Filter[];
  onChange: (filters: Filter[]) => void;
  cohorts?: boolean;
}) {
  const set = (index: number, filter: Filter) => onChange(filters.map((f, i) => (i === index ? filter : f)));
  return (
    <Stack gap="xs">
      {filters.map((filter, index) => (
        <Group key={index} align="flex-end" gap="xs" role="group" aria-label={`Filter ${index + 1}`}>
          <SourcedPropertyPicker
            projectId={projectId}
            label="Where"
            cohorts={cohorts}
            value={pickerValue(filter.property, filter.source)}
            onChange={(value) => {
              if (!value) return;
              const { property, source } = fromPickerValue(value);
              // Leaving a cohort, its in/not in means nothing to a property: start from "is".
              const operator = filter.source === "cohort" && source !== "cohort" ? "equals" : filter.operator;
              set(index, filterOf(property, operator, filterText(filter), source));
            }}
          />
          <Select
            label="Operator"
            data={operatorsFor(filter.source)}
            value={filter.operator}
            onChange={(operator) => operator && set(index, filterOf(filter.property, operator as Operator, filterText(filter), filter.source ?? "event"))}
            allowDeselect={false}
            w={160}
          />
          {takesValue(filter.operator) && (
            <TextInput label="Value" value={filterText(filter)} onChange={(e) => set(index, filterOf(filter.property, filter.operator, e.currentTarget.value, filter.source ?? "event"))} w={200} />
          )}
          <ActionIcon variant="subtle" color="gray" aria-label={`Remove filter ${index + 1}`} onClick={() => onChange(filters.filter((_, i) => i !== index))}>
            ×
          </ActionIcon>
        </Group>
      ))}
      <Group>
        <Button variant="subtle" size="compact-sm" onClick={() => onChange([...filters, { property: "", operator: "equals", value: [] } as Filter])}>
          + Filter
        </Button>
      </Group>
    </Stack>
  );
}
