// Pieces the report builders share: the event and property pickers (from the Lexicon),
// the breakdown, the date range, and running a report with a cancel button.
import { type ReactNode, useEffect, useMemo, useRef, useState } from "react";
import { Alert, Badge, Button, Group, Loader, MultiSelect, Select, Text, TextInput } from "@mantine/core";
import { useQuery } from "@tanstack/react-query";
import { get, post } from "../../api/client";
import type { Lexicon } from "../../api/types";
import { type Answer, type Breakdown, type ChartKind, type Report, readReport, reportParams } from "../../api/report";
import { useParams, useSearchParams } from "react-router-dom";
import { useCohorts } from "../cohorts/queries";
import { elapsedSeconds, formatElapsed, untilNextSecond } from "./elapsed";
import { breakdownOf, pickerValue } from "./filterModel";
import { when } from "../common";

export function useLexicon(projectId: number) {
  return useQuery({
    queryKey: ["project", projectId, "lexicon"],
    queryFn: ({ signal }) => get<Lexicon>(`/api/app/projects/${projectId}/lexicon`, signal),
  });
}

export function EventPicker({
  projectId,
  value,
  onChange,
  label,
  allEvents = true,
  id,
}: {
  projectId: number;
  value: string;
  onChange: (event: string) => void;
  label: string;
  allEvents?: boolean;
  id?: string;
}) {
  const lexicon = useLexicon(projectId);
  const data = useMemo(() => {
    const names = (lexicon.data?.events ?? []).map((e) => e.name).sort();
    const options = names.map((name) => ({ value: name, label: name }));
    return allEvents ? [{ value: "$all_events", label: "All events" }, ...options] : options;
  }, [lexicon.data, allEvents]);
  return (
    <Select
      id={id}
      label={label}
      placeholder="Choose an event"
      data={data}
      value={value || null}
      onChange={(next) => next && onChange(next)}
      searchable
      allowDeselect={false}
      nothingFoundMessage="No such event yet"
      w={240}
    />
  );
}

function eventProperties(lexicon: Lexicon | undefined): string[] {
  const names = new Set<string>();
  for (const event of lexicon?.events ?? []) for (const property of event.properties) names.add(property.name);
  return [...names].sort();
}

/** The "None" choice of a picker that offers one: never a property's name, as `$` names are
 * the engine's own. */
const NO_PROPERTY = "$none";

/** A property of the event or of its user's profile, or a saved cohort (unless `cohorts` is
 * off), each kind in its own group; the value of a profile property is `user:` and its name,
 * a cohort's `cohort:` and its id (see `fromPickerValue`). With `none`, a "None" choice
 * comes first (and stands for null) instead of a clear button. */
export function SourcedPropertyPicker({
  projectId,
  value,
  onChange,
  label,
  id,
  cohorts: withCohorts = true,
  none = false,
}: {
  projectId: number;
  value: string | null;
  onChange: (value: string | null) => void;
  label: string;
  id?: string;
  cohorts?: boolean;
  none?: boolean;
}) {
  const lexicon = useLexicon(projectId);
  const cohorts = useCohorts(projectId, withCohorts);
  const data = useMemo(() => {
    const groups = [
      { group: "Event properties", items: eventProperties(lexicon.data).map((name) => ({ value: name, label: name })) },
      {
        group: "User properties",
        items: (lexicon.data?.user_properties ?? []).map((p) => ({ value: `user:${p.name}`, label: `${p.name} (user)` })),
      },
    ];
    if (withCohorts) {
      const saved = [...(cohorts.data ?? [])].sort((a, b) => a.name.localeCompare(b.name));
      const items = saved.map((c) => ({ value: `cohort:${c.id}`, label: c.name }));
      // A cohort the list does not hold (deleted, or not the caller's) still shows as chosen.
      if (value?.startsWith("cohort:") && !items.some((item) => item.value === value)) items.push({ value, label: `Cohort #${value.slice(7)}` });
      if (items.length > 0) groups.push({ group: "Cohorts", items });
    }
    // A property the lexicon does not list (a link from elsewhere, or not yet seen) still shows as chosen.
    if (value && !value.startsWith("cohort:") && !groups.some((g) => g.items.some((item) => item.value === value))) {
      groups[value.startsWith("user:") ? 1 : 0].items.push({ value, label: value.startsWith("user:") ? `${value.slice(5)} (user)` : value });
    }
    return none ? [{ value: NO_PROPERTY, label: "None" }, ...groups] : groups;
  }, [lexicon.data, cohorts.data, value, withCohorts, none]);
  if (none)
    return (
      <Select
        id={id}
        label={label}
        data={data}
        value={value ?? NO_PROPERTY}
        onChange={(next) => onChange(next == null || next === NO_PROPERTY ? null : next)}
        searchable
        allowDeselect={false}
        nothingFoundMessage="No such property yet"
        w={240}
      />
    );
  return <Select id={id} label={label} placeholder="None" data={data} value={value} onChange={onChange} searchable clearable w={240} />;
}

/** A breakdown by one property of the event or of its user's profile, or none: what funnels
 * and retention segment by (the server takes no cohorts and no numeric ranges there). */
export function BreakdownPicker({
  projectId,
  value,
  onChange,
  id,
}: {
  projectId: number;
  value: Breakdown | null | undefined;
  onChange: (breakdown: Breakdown | undefined) => void;
  id: string;
}) {
  return (
    <SourcedPropertyPicker
      id={id}
      projectId={projectId}
      label="Breakdown"
      value={pickerValue(value?.property, value?.source)}
      cohorts={false}
      none
      onChange={(next) => onChange(breakdownOf(next, value))}
    />
  );
}

/** Some of the events' properties (at most `max`), from the Lexicon; chosen ones it does not
 * list (a link from elsewhere) still show. */
export function EventPropertiesPicker({
  projectId,
  value,
  onChange,
  label,
  max,
  id,
}: {
  projectId: number;
  value: string[];
  onChange: (properties: string[]) => void;
  label: string;
  max: number;
  id?: string;
}) {
  const lexicon = useLexicon(projectId);
  const data = useMemo(() => [...new Set([...eventProperties(lexicon.data), ...value])].sort(), [lexicon.data, value]);
  return (
    <MultiSelect
      id={id}
      label={label}
      placeholder={value.length ? undefined : "None"}
      data={data}
      value={value}
      onChange={onChange}
      maxValues={max}
      searchable
      clearable
      nothingFoundMessage="No such property yet"
      miw={240}
      maw={480}
    />
  );
}

export function RangePicker({
  range,
  onChange,
}: {
  range: { from_date: string; to_date: string };
  onChange: (range: { from_date: string; to_date: string }) => void;
}) {
  return (
    <Group gap="xs" align="flex-end">
      <TextInput id="range-from" label="From" type="date" value={range.from_date} onChange={(e) => onChange({ ...range, from_date: e.currentTarget.value })} w={160} />
      <TextInput id="range-to" label="To" type="date" value={range.to_date} onChange={(e) => onChange({ ...range, to_date: e.currentTarget.value })} w={160} />
    </Group>
  );
}

/** A report's run as the screen shows it. */
type RunState = {
  running: boolean;
  /** When the running report was sent (milliseconds since the epoch); null when none runs. */
  startedAt: number | null;
  /** The reader cancelled the last run; cleared when another starts. */
  cancelled: boolean;
  answer: Answer | null;
  error: unknown;
  answered: string;
  report: Report | null;
};

/** Runs a report on demand, with its state and a way to cancel it (and to run it again). */
export function useReportRun(projectId: number) {
  // `answered` is the report the answer (or error) is for, as JSON: the result shows it, so
  // a reader (or a test) can tell a fresh answer from the previous one. `report` is the
  // same report, sent again to find the users behind one of the answer's numbers. A
  // cancelled run leaves both (and the answer) as they were.
  const [state, setState] = useState<RunState>({
    running: false,
    startedAt: null,
    cancelled: false,
    answer: null,
    error: null,
    answered: "",
    report: null,
  });
  // The request in flight, if any; null once it has answered or failed.
  const controller = useRef<AbortController | null>(null);
  // The last report asked, for "Run again" after a cancel.
  const asked = useRef<Report | null>(null);
  useEffect(() => () => controller.current?.abort(), []);
  const run = async (report: Report) => {
    controller.current?.abort();
    const current = new AbortController();
    controller.current = current;
    asked.current = report;
    setState((s) => ({ ...s, running: true, startedAt: Date.now(), cancelled: false, error: null }));
    const answered = JSON.stringify(report);
    let next: RunState;
    try {
      const answer = await post<Answer>(`/api/app/projects/${projectId}/query`, report, current.signal);
      next = { running: false, startedAt: null, cancelled: false, answer, error: null, answered, report };
    } catch (error) {
      next = { running: false, startedAt: null, cancelled: false, answer: null, error, answered, report: null };
    }
    // A run cancelled or replaced by a newer one leaves the state to whatever stopped it:
    // setting it here would end the newer run's progress or hide the cancel.
    if (current.signal.aborted) return;
    controller.current = null;
    setState(next);
  };
  const cancel = () => {
    const current = controller.current;
    if (!current) return;
    controller.current = null;
    current.abort();
    setState((s) => ({ ...s, running: false, startedAt: null, cancelled: true }));
  };
  const runAgain = () => {
    if (asked.current) void run(asked.current);
  };
  return { ...state, run, cancel, runAgain };
}

export type ReportRun = ReturnType<typeof useReportRun>;

/** The button that runs the draft; it spins while a report runs (the cancel button sits
 * with the progress, by the result). */
export function RunButtons({ running }: { running: boolean }) {
  return (
    <Group gap="xs">
      <Button type="submit" loading={running} id="run-report">
        Run
      </Button>
    </Group>
  );
}

/** Whole seconds since `startedAt`, updated as each second passes. */
function useElapsedSeconds(startedAt: number): number {
  const [now, setNow] = useState(() => Date.now());
  useEffect(() => {
    const timer = setTimeout(() => setNow(Date.now()), untilNextSecond(startedAt, now));
    return () => clearTimeout(timer);
  }, [startedAt, now]);
  return elapsedSeconds(startedAt, now);
}

/** "Running… 3 s" and a way to stop. */
function RunProgress({ startedAt, onCancel }: { startedAt: number; onCancel: () => void }) {
  const seconds = useElapsedSeconds(startedAt);
  return (
    <Group gap="sm" data-testid="report-progress">
      <Group gap="xs" role="status" aria-live="polite">
        <Loader size="sm" aria-hidden />
        {/* The seconds are a timer, which screen readers do not announce at every tick. */}
        <Text c="dimmed">
          Running… <span role="timer">{formatElapsed(seconds)}</span>
        </Text>
      </Group>
      <Button id="report-cancel" variant="default" size="xs" aria-label="Cancel the report" onClick={onCancel}>
        Cancel
      </Button>
    </Group>
  );
}

function CancelledNote({ previous, onRunAgain }: { previous: boolean; onRunAgain: () => void }) {
  return (
    <Alert color="gray" role="status" data-testid="report-cancelled">
      <Group justify="space-between" gap="sm">
        <Text size="sm">
          The report was cancelled.
          {previous && " The answer below is from the previous run."}
        </Text>
        {/* The cancel button that had the focus is gone: the focus goes to what follows it. */}
        <Button id="report-run-again" variant="default" size="xs" onClick={onRunAgain} autoFocus>
          Run again
        </Button>
      </Group>
    </Alert>
  );
}

/**
 * A report screen's state: the report kept in the URL (`?report=`), the draft being edited,
 * and its run. The URL's report runs whenever it changes (a link, the back button); with
 * none, `fallback` is shown and runs only if `runFallback` (a funnel or a flow has no
 * sensible default to ask). `submit` runs the draft: again if it is the URL's report, else
 * by putting it in the URL. `request` turns the draft into the report sent (and kept in the
 * URL): it leaves out what the draft holds but does not apply.
 */
export function useReportScreen<T extends object>(type: Report["type"], fallback: () => T, runFallback: boolean, request: (draft: T) => T = (draft) => draft) {
  const projectId = Number(useParams().projectId);
  const [search, setSearch] = useSearchParams();
  const fromUrl = search.get("report");
  const initial = useMemo(() => readReport<T>(search, fallback()), [fromUrl]); // eslint-disable-line react-hooks/exhaustive-deps
  const [draft, setDraft] = useState<T>(initial);
  const runner = useReportRun(projectId);
  // The screen pairs `type` with its own report type; the engine checks the rest.
  const ask = (report: T) => runner.run({ type, ...report } as unknown as Report);
  useEffect(() => {
    setDraft(initial);
    if (fromUrl || runFallback) ask(initial);
  }, [fromUrl, projectId]); // eslint-disable-line react-hooks/exhaustive-deps
  const submit = (chart?: ChartKind) => {
    const sent = request(draft);
    const params = reportParams(sent, chart);
    if (params.get("report") === fromUrl) ask(sent);
    else setSearch(params);
  };
  return { projectId, search, setSearch, draft, setDraft, submit, ...runner, runner };
}

/** When the answer was computed, and "cached" when the server had it from an earlier run. */
function AnswerTime({ answer }: { answer: Answer }) {
  return (
    <Group gap="xs" justify="flex-end" mb="xs" data-testid="answer-time">
      <Text size="xs" c="dimmed">
        Computed <time dateTime={answer.computed_at}>{when(answer.computed_at)}</time>
      </Text>
      {answer.from_cache && (
        <Badge variant="light" color="gray" size="sm" data-testid="answer-cached">
          cached
        </Badge>
      )}
    </Group>
  );
}

/** Where a report's answer shows: it names the report answered, so a fresh answer can be
 * told from the previous one (by a reader or a test). Above it, while a report runs, its
 * progress and the cancel button; after a cancel, a note and a way to run it again. They sit
 * outside the result, which is `aria-busy` while running and so would hold back their news. */
export function ResultBox({ runner, children }: { runner: ReportRun; children: ReactNode }) {
  const { answered, running, startedAt, cancelled, answer, cancel, runAgain } = runner;
  return (
    <>
      {running && startedAt != null && <RunProgress key={startedAt} startedAt={startedAt} onCancel={cancel} />}
      {cancelled && <CancelledNote previous={answer != null} onRunAgain={runAgain} />}
      <div data-testid="result" data-answered={answered} aria-busy={running}>
        {answer && <AnswerTime answer={answer} />}
        {children}
      </div>
    </>
  );
}
