// Lexicon: every event and property the project has received, with types, counts, first
// and last seen.
import { useState } from "react";
import { Badge, Group, Stack, Table, Text, TextInput } from "@mantine/core";
import { createColumnHelper } from "@tanstack/react-table";
import { useParams } from "react-router-dom";
import type { LexiconEvent } from "../../api/types";
import { DataTable } from "../DataTable";
import { Empty, QueryView, Screen, when } from "../common";
import { useLexicon } from "./parts";

export function Lexicon() {
  const projectId = Number(useParams().projectId);
  const lexicon = useLexicon(projectId);
  const [filter, setFilter] = useState("");
  const [open, setOpen] = useState<string | null>(null);
  const column = createColumnHelper<LexiconEvent>();
  const columns = [
    column.accessor("name", {
      header: "Event",
      cell: (c) => (
        <Text component="button" type="button" size="sm" td="underline" onClick={() => setOpen(open === c.getValue() ? null : c.getValue())} style={{ background: "none", border: 0, cursor: "pointer" }}>
          {c.getValue()}
        </Text>
      ),
    }),
    column.accessor("count", { header: "Events", cell: (c) => c.getValue().toLocaleString() }),
    column.accessor((e) => e.properties.length, { id: "properties", header: "Properties" }),
    column.accessor("first_seen", { header: "First seen", cell: (c) => when(c.getValue()) }),
    column.accessor("last_seen", { header: "Last seen", cell: (c) => when(c.getValue()) }),
  ];
  return (
    <Screen title="Lexicon">
      <TextInput label="Search events" value={filter} onChange={(e) => setFilter(e.currentTarget.value)} maw={320} />
      <QueryView query={lexicon}>
        {(data) => {
          const events = data.events.filter((e) => e.name.toLowerCase().includes(filter.toLowerCase()));
          const selected = data.events.find((e) => e.name === open);
          if (data.events.length === 0) return <Empty>No event received yet. Send one with any Mixpanel SDK pointed at this server.</Empty>;
          return (
            <Stack>
              <DataTable data={events} columns={columns} label="Events" testId="lexicon" />
              {selected && (
                <Stack gap="xs" component="section" aria-label={`Properties of ${selected.name}`}>
                  <Text fw={600}>Properties of {selected.name}</Text>
                  <Table aria-label={`Properties of ${selected.name}`}>
                    <Table.Thead>
                      <Table.Tr>
                        <Table.Th>Property</Table.Th>
                        <Table.Th>Types</Table.Th>
                        <Table.Th>Seen</Table.Th>
                        <Table.Th>Last seen</Table.Th>
                      </Table.Tr>
                    </Table.Thead>
                    <Table.Tbody>
                      {selected.properties.map((p) => (
                        <Table.Tr key={p.name}>
                          <Table.Td>{p.name}</Table.Td>
                          <Table.Td>
                            <Group gap={4}>
                              {p.types.map((t) => (
                                <Badge key={t} variant="light" size="sm">
                                  {t}
                                </Badge>
                              ))}
                            </Group>
                          </Table.Td>
                          <Table.Td>{p.count.toLocaleString()}</Table.Td>
                          <Table.Td>{when(p.last_seen)}</Table.Td>
                        </Table.Tr>
                      ))}
                    </Table.Tbody>
                  </Table>
                </Stack>
              )}
            </Stack>
          );
        }}
      </QueryView>
    </Screen>
  );
}
