// Pieces the report builders share: the event and property pickers (from the Lexicon),
// the date range, and running a report with a cancel button.
import { type ReactNode, useEffect, useMemo, useRef, useState } from "react";
import { Button, Group, Select, TextInput } from "@mantine/core";
import { useQuery } from "@tanstack/react-query";
import { get, post } from "../../api/client";
import type { Lexicon } from "../../api/types";
import { type Answer, type ChartKind, type Report, readReport, reportParams } from "../../api/report";
import { useParams, useSearchParams } from "react-router-dom";
import { useCohorts } from "../cohorts/queries";

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

/** A property of the event or of its user's profile, or a saved cohort (unless `cohorts` is
 * off), each kind in its own group; the value of a profile property is `user:` and its name,
 * a cohort's `cohort:` and its id (see `fromPickerValue`). */
export function SourcedPropertyPicker({
  projectId,
  value,
  onChange,
  label,
  id,
  cohorts: withCohorts = true,
}: {
  projectId: number;
  value: string | null;
  onChange: (value: string | null) => void;
  label: string;
  id?: string;
  cohorts?: boolean;
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
    if (!withCohorts) return groups;
    const saved = [...(cohorts.data ?? [])].sort((a, b) => a.name.localeCompare(b.name));
    const items = saved.map((c) => ({ value: `cohort:${c.id}`, label: c.name }));
    // A cohort the list does not hold (deleted, or not the caller's) still shows as chosen.
    if (value?.startsWith("cohort:") && !items.some((item) => item.value === value)) items.push({ value, label: `Cohort #${value.slice(7)}` });
    if (items.length > 0) groups.push({ group: "Cohorts", items });
    return groups;
  }, [lexicon.data, cohorts.data, value, withCohorts]);
  return <Select id={id} label={label} placeholder="None" data={data} value={value} onChange={onChange} searchable clearable w={240} />;
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

/** Runs a report on demand, with its state and a way to cancel it. */
export function useReportRun(projectId: number) {
  // `answered` is the report the answer (or error) is for, as JSON: the result shows it, so
  // a reader (or a test) can tell a fresh answer from the previous one.
  const [state, setState] = useState<{ running: boolean; answer: Answer | null; error: unknown; answered: string }>({
    running: false,
    answer: null,
    error: null,
    answered: "",
  });
  const controller = useRef<AbortController | null>(null);
  useEffect(() => () => controller.current?.abort(), []);
  const run = async (report: Report) => {
    controller.current?.abort();
    const current = new AbortController();
    controller.current = current;
    setState((s) => ({ ...s, running: true, error: null }));
    const answered = JSON.stringify(report);
    try {
      const answer = await post<Answer>(`/api/app/projects/${projectId}/query`, report, current.signal);
      setState({ running: false, answer, error: null, answered });
    } catch (error) {
      if (current.signal.aborted) setState((s) => ({ ...s, running: false }));
      else setState({ running: false, answer: null, error, answered });
    }
  };
  const cancel = () => controller.current?.abort();
  return { ...state, run, cancel };
}

export function RunButtons({ running, onCancel }: { running: boolean; onCancel: () => void }) {
  return (
    <Group gap="xs">
      <Button type="submit" loading={running} id="run-report">
        Run
      </Button>
      {running && (
        <Button variant="default" onClick={onCancel}>
          Cancel
        </Button>
      )}
    </Group>
  );
}

/**
 * A report screen's state: the report kept in the URL (`?report=`), the draft being edited,
 * and its run. The URL's report runs whenever it changes (a link, the back button); with
 * none, `fallback` is shown and runs only if `runFallback` (a funnel or a flow has no
 * sensible default to ask). `submit` runs the draft: again if it is the URL's report, else
 * by putting it in the URL.
 */
export function useReportScreen<T extends object>(type: Report["type"], fallback: () => T, runFallback: boolean) {
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
    const params = reportParams(draft, chart);
    if (params.get("report") === fromUrl) ask(draft);
    else setSearch(params);
  };
  return { projectId, search, setSearch, draft, setDraft, submit, ...runner };
}

/** Where a report's answer shows: it names the report answered, so a fresh answer can be
 * told from the previous one (by a reader or a test). */
export function ResultBox({ answered, running, children }: { answered: string; running: boolean; children: ReactNode }) {
  return (
    <div data-testid="result" data-answered={answered} aria-busy={running}>
      {children}
    </div>
  );
}
