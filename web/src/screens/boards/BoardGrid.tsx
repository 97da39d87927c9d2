// A board's cards laid out in its rows: a row of n cards splits the width n ways (on a
// phone every card takes the whole width). Boards and public links both draw with it.
import type { ReactNode } from "react";
import { Grid, Stack, Text } from "@mantine/core";
import { type Placed, cardRows, colSpan } from "../../api/boards";

export interface Place {
  row: number;
  col: number;
  rowLength: number;
  rows: number;
}

export function BoardGrid<C extends Placed>({ cards, render }: { cards: C[]; render: (card: C, place: Place) => ReactNode }) {
  const rows = cardRows(cards);
  return (
    <Stack gap="md" data-testid="board-cards">
      {rows.map((row, r) => (
        <Grid key={r} gap="md" data-testid="board-row" align="stretch">
          {row.map((card, c) => (
            <Grid.Col key={card.id} span={{ base: 12, md: colSpan(row.length) }}>
              {render(card, { row: r, col: c, rowLength: row.length, rows: rows.length })}
            </Grid.Col>
          ))}
        </Grid>
      ))}
    </Stack>
  );
}

/** A text card's text: Markdown shown as it was typed, its line breaks kept. */
export function CardText({ text }: { text: string }) {
  return (
    <Text style={{ whiteSpace: "pre-wrap", overflowWrap: "anywhere" }} data-testid="card-text">
      {text}
    </Text>
  );
}
