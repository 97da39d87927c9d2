// A board opened by its public link, signed out: its title and cards, each saved report
// answered through the link. A link with a passcode asks for it and sends it with every
// request (`X-Tally-Passcode`); a revoked link, and one opened too often, say so.
import { type FormEvent, useState } from "react";
import { Alert, Anchor, Box, Button, Card, Group, PasswordInput, Stack, Text, Title } from "@mantine/core";
import { useQuery } from "@tanstack/react-query";
import { useParams } from "react-router-dom";
import { ApiError, api } from "../../api/client";
import { type PublicBoard, type PublicReport, REPORT_TYPES, passcodeHeaders, publicProblem } from "../../api/boards";
import type { Answer } from "../../api/report";
import { Empty, ErrorNote, Loading } from "../common";
import { CardAnswer } from "./AnswerView";
import { BoardGrid, CardText } from "./BoardGrid";

const publicBase = (token: string) => `/api/public/boards/${encodeURIComponent(token)}`;

/** A public request; a refusal carries the message its visitor should read. */
async function publicGet<T>(path: string, passcode: string | null, signal: AbortSignal): Promise<T> {
  try {
    return await api<T>("GET", path, undefined, signal, passcodeHeaders(passcode));
  } catch (error) {
    if (error instanceof ApiError) throw new ApiError(error.status, error.code, publicProblem(error, passcode != null).message);
    throw error;
  }
}

export function PublicBoardPage() {
  const token = useParams().token ?? "";
  const [passcode, setPasscode] = useState<string | null>(null);
  const board = useQuery({
    queryKey: ["public-board", token, passcode],
    queryFn: ({ signal }) => publicGet<PublicBoard>(publicBase(token), passcode, signal),
    retry: false,
  });
  let body;
  if (board.isPending) body = <Loading label="Opening the board…" />;
  else if (board.isError) {
    const problem = publicProblem(board.error, passcode != null);
    if (problem.kind === "passcode" || problem.kind === "wrong_passcode") {
      body = <PasscodeForm problem={problem.message} wrong={problem.kind === "wrong_passcode"} onPasscode={(p) => (p === passcode ? void board.refetch() : setPasscode(p))} />;
    } else if (problem.kind === "gone") {
      body = (
        <Stack maw={560}>
          <Title order={1} size="h2">
            This board cannot be opened
          </Title>
          <Alert color="red" role="alert" data-testid="public-gone">
            {problem.message}
          </Alert>
          <Text size="sm">Ask whoever shared it for a new link.</Text>
        </Stack>
      );
    } else if (problem.kind === "busy") {
      body = (
        <Stack maw={560}>
          <Title order={1} size="h2">
            Too many visits
          </Title>
          <Alert color="yellow" role="alert" data-testid="public-busy">
            {problem.message}
          </Alert>
          <Group>
            <Button variant="default" onClick={() => board.refetch()} loading={board.isFetching}>
              Try again
            </Button>
          </Group>
        </Stack>
      );
    } else {
      body = (
        <Stack maw={560}>
          <Title order={1} size="h2">
            This board cannot be opened
          </Title>
          <ErrorNote error={board.error} />
        </Stack>
      );
    }
  } else {
    body = <PublicBoardView token={token} passcode={passcode} board={board.data} />;
  }
  return (
    <Box component="main" p="md" maw={1400} mx="auto">
      <Stack gap="md">
        <Group justify="space-between">
          <Text fw={700} size="lg">
            Tally
          </Text>
          <Text size="sm" c="dimmed">
            Public board
          </Text>
        </Group>
        {body}
      </Stack>
    </Box>
  );
}

function PasscodeForm({ problem, wrong, onPasscode }: { problem: string; wrong: boolean; onPasscode: (passcode: string) => void }) {
  const [value, setValue] = useState("");
  const submit = (event: FormEvent) => {
    event.preventDefault();
    if (value.trim()) onPasscode(value.trim());
  };
  return (
    <Card withBorder maw={420} component="section" aria-label="Passcode">
      <form onSubmit={submit}>
        <Stack gap="sm">
          <Title order={1} size="h3">
            This board needs its passcode
          </Title>
          {wrong ? (
            <Alert color="red" role="alert" data-testid="passcode-wrong">
              {problem}
            </Alert>
          ) : (
            <Text size="sm">{problem}</Text>
          )}
          <PasswordInput id="public-passcode" label="Passcode" value={value} onChange={(e) => setValue(e.currentTarget.value)} required autoComplete="off" data-autofocus />
          <Group>
            <Button type="submit" disabled={!value.trim()}>
              Open board
            </Button>
          </Group>
        </Stack>
      </form>
    </Card>
  );
}

function PublicBoardView({ token, passcode, board }: { token: string; passcode: string | null; board: PublicBoard }) {
  return (
    <Stack gap="md" component="section" aria-label={board.title}>
      <Title order={1} size="h2">
        {board.title}
      </Title>
      {board.description && <Text style={{ whiteSpace: "pre-wrap" }}>{board.description}</Text>}
      <Text size="sm" c="dimmed">
        Dates and times are in {board.time_zone}.
      </Text>
      {board.cards.length === 0 ? (
        <Empty>This board has no cards.</Empty>
      ) : (
        <BoardGrid
          cards={board.cards}
          render={(card) => {
            const report = board.reports.find((r) => r.id === card.bookmark_id);
            if (card.bookmark_id == null) {
              return (
                <Card withBorder component="article" aria-label="Text" data-testid="board-card" data-card-id={card.id} h="100%">
                  <CardText text={card.text ?? ""} />
                </Card>
              );
            }
            return (
              <Card withBorder component="article" aria-label={report?.name ?? "Report"} data-testid="board-card" data-card-id={card.id} h="100%">
                {report ? <PublicReportCard token={token} passcode={passcode} report={report} /> : <Empty>This report is no longer there.</Empty>}
              </Card>
            );
          }}
        />
      )}
      <Text size="xs" c="dimmed">
        Made with{" "}
        <Anchor href="/" size="xs">
          Tally
        </Anchor>
        .
      </Text>
    </Stack>
  );
}

function PublicReportCard({ token, passcode, report }: { token: string; passcode: string | null; report: PublicReport }) {
  const answer = useQuery({
    queryKey: ["public-board", token, passcode, "report", report.id],
    queryFn: ({ signal }) => publicGet<Answer>(`${publicBase(token)}/reports/${report.id}`, passcode, signal),
    retry: false,
    staleTime: 60_000,
  });
  return (
    <Stack gap="xs">
      <Group gap="xs">
        <Title order={2} size="h5">
          {report.name}
        </Title>
        <Text size="xs" c="dimmed">
          {REPORT_TYPES[report.type] ?? report.type}
        </Text>
      </Group>
      {report.description && (
        <Text size="sm" c="dimmed">
          {report.description}
        </Text>
      )}
      <CardAnswer query={answer} name={report.name} />
    </Stack>
  );
}
