"""The query engine's oracle: answers report questions with DuckDB over Tally's raw export.

Reads a JSON request on stdin: {"events": "<export.jsonl>", "time_zone": "...",
"from_date": "...", "to_date": "...", "questions": [{"id": ..., "kind": ..., ...}]} and
prints {"<id>": answer} on stdout. Written from ../../shared/spec/report-semantics.md, not
from Tally's code: each query cites the rule it encodes. The export is already one copy per
(event, distinct_id, time, $insert_id), with canonical distinct_ids.
"""

import csv
import json
import sys
import tempfile

import duckdb


def load(con, path):
    """The exported events as table e(name, u, t, plan, amount, browser)."""
    with open(path) as lines, tempfile.NamedTemporaryFile("w", suffix=".csv", delete=False, newline="") as out:
        writer = csv.writer(out)
        writer.writerow(["name", "u", "t", "plan", "amount", "browser"])
        for line in lines:
            if not line.strip():
                continue
            event = json.loads(line)
            props = event["properties"]
            amount = props.get("amount")
            writer.writerow([
                event["event"],
                props.get("distinct_id", ""),
                int(props["time"]),
                props.get("plan", ""),
                "" if amount is None else amount,
                props.get("$browser", ""),
            ])
        name = out.name
    con.execute(
        f"""CREATE TABLE e AS SELECT name, coalesce(u, '') AS u, t, nullif(plan, '') AS plan,
            TRY_CAST(amount AS DOUBLE) AS amount, nullif(browser, '') AS browser
            FROM read_csv('{name}', header=true, all_varchar=true,
                columns={{'name':'VARCHAR','u':'VARCHAR','t':'BIGINT','plan':'VARCHAR','amount':'VARCHAR','browser':'VARCHAR'}})"""
    )


def load_profiles(con, profiles):
    """The users' profiles as they are now, as table p(u, tier, age): one row per canonical
    user who has one (the test knows which profile each user ends with)."""
    con.execute("CREATE TABLE p (u VARCHAR, tier VARCHAR, age DOUBLE)")
    for user, props in profiles.items():
        con.execute("INSERT INTO p VALUES (?, ?, ?)", [user, props.get("tier"), props.get("age")])


def main():
    request = json.load(sys.stdin)
    con = duckdb.connect()
    con.execute("SET threads=2")
    load(con, request["events"])
    load_profiles(con, request.get("profiles", {}))
    tz = request["time_zone"]
    con.execute(f"SET TimeZone='{tz}'")
    # §0: whole local days of the project zone, both inclusive.
    start, end = con.execute(
        "SELECT epoch_ms(CAST(?::DATE AS TIMESTAMPTZ)), epoch_ms(CAST((?::DATE + 1) AS TIMESTAMPTZ))",
        [request["from_date"], request["to_date"]],
    ).fetchone()
    # A local day of an event (§0: buckets use the project zone).
    day = "strftime(make_timestamptz(t * 1000), '%Y-%m-%d')"
    answers = {}
    for q in request["questions"]:
        kind = q["kind"]
        if kind == "daily":
            # §1: Total = matching events; Unique = distinct users with >=1 matching event in
            # the bucket, the empty id left out (§0); the range value is computed once.
            measure = "count(*)" if q["measure"] == "total" else "count(DISTINCT u)"
            users = "" if q["measure"] == "total" else "AND u <> ''"
            where = f"name = '{q['event']}' AND t >= {start} AND t < {end} {users}"
            if q.get("amount_over") is not None:
                where += f" AND amount > {q['amount_over']}"
            if q.get("tier") is not None:
                # Profile properties join at query time in their latest state
                # (report-semantics.md, "Profile properties").
                where += f" AND u IN (SELECT u FROM p WHERE tier = '{q['tier']}')"
            if q.get("age_over") is not None:
                where += f" AND u IN (SELECT u FROM p WHERE age > {q['age_over']})"
            rows = con.execute(f"SELECT {day} AS d, {measure} FROM e WHERE {where} GROUP BY d").fetchall()
            total = con.execute(f"SELECT {measure} FROM e WHERE {where}").fetchone()[0]
            answers[q["id"]] = {"days": {d: v for d, v in rows}, "total": total}
        elif kind == "per_user_average":
            # §1: each user's count in the bucket, averaged over users with >=1 event.
            rows = con.execute(
                f"""SELECT d, avg(c) FROM (SELECT {day} AS d, u, count(*) AS c FROM e
                    WHERE name = '{q['event']}' AND t >= {start} AND t < {end} AND u <> '' GROUP BY d, u)
                    GROUP BY d"""
            ).fetchall()
            answers[q["id"]] = {"days": {d: v for d, v in rows}}
        elif kind == "property":
            # §1: aggregate property over the matching events, skipping non-numbers (proposal);
            # percentiles exact with linear interpolation (quantile_cont).
            rows = con.execute(
                f"""SELECT {day} AS d, sum(amount), quantile_cont(amount, 0.9) FROM e
                    WHERE name = '{q['event']}' AND t >= {start} AND t < {end} AND amount IS NOT NULL GROUP BY d"""
            ).fetchall()
            answers[q["id"]] = {"sum": {d: s for d, s, _ in rows}, "p90": {d: p for d, _, p in rows}}
        elif kind == "breakdown_unique":
            # §1: a user counts in every segment they qualify for; the top N segments by the
            # metric over the range are kept; the rest form one '$other' segment (Tally).
            if q.get("by") == "tier":
                # A profile property: the latest profile, "(not set)" without one.
                seg = "coalesce((SELECT tier FROM p WHERE p.u = e.u), '(not set)')"
            else:
                seg = "coalesce(plan, '(not set)')"
            base = f"FROM e WHERE name = '{q['event']}' AND t >= {start} AND t < {end} AND u <> ''"
            ranked = con.execute(
                f"SELECT {seg} AS s, count(DISTINCT u) AS n {base} GROUP BY s ORDER BY n DESC, s LIMIT {q['limit']}"
            ).fetchall()
            kept = [s for s, _ in ranked]
            quoted = ", ".join("'" + s.replace("'", "''") + "'" for s in kept) or "NULL"
            rows = con.execute(
                f"""SELECT CASE WHEN {seg} IN ({quoted}) THEN {seg} ELSE '$other' END AS s, count(DISTINCT u)
                    {base} GROUP BY s"""
            ).fetchall()
            answers[q["id"]] = {s: n for s, n in rows}
        elif kind == "funnel":
            answers[q["id"]] = funnel(con, q["steps"], q["window_ms"], start, end, q.get("tier"))
        elif kind == "active":
            # §1 DAU/WAU/MAU: per day, distinct users with a matching event in the N local days
            # ending on it (events before the range count towards its first windows).
            days = q["days"]
            rows = con.execute(
                f"""WITH ud AS (SELECT DISTINCT u, CAST({day} AS DATE) AS d FROM e WHERE name = '{q['event']}' AND u <> ''),
                    span AS (SELECT CAST(s.d AS DATE) AS d FROM generate_series(CAST(? AS TIMESTAMP), CAST(? AS TIMESTAMP),
                        INTERVAL 1 DAY) AS s(d))
                    SELECT strftime(span.d, '%Y-%m-%d'), count(DISTINCT ud.u) FROM span JOIN ud
                    ON ud.d BETWEEN span.d - {days - 1} AND span.d GROUP BY span.d""",
                [request["from_date"], request["to_date"]],
            ).fetchall()
            answers[q["id"]] = {d: n for d, n in rows}
        elif kind == "funnel_attempts":
            answers[q["id"]] = funnel_attempts(con, q, start, end, day)
        elif kind == "flows":
            answers[q["id"]] = flows(con, q, start, end)
        elif kind == "retention":
            answers[q["id"]] = retention(con, q, start, end, day)
        else:
            raise SystemExit(f"unknown question kind {kind}")
    json.dump(answers, sys.stdout)


def funnel(con, steps, window_ms, start, end, tier=None):
    """§2 Uniques: the user enters at their first step-1 inside the range and only that
    attempt counts; each later step is a separate, later event (proposal: one event never
    fills two steps; same-millisecond events in step order); t - t_entry <= window
    (proposal); later steps may fall after the range; the empty id is no user (§0)."""
    names = ", ".join("'" + s + "'" for s in steps)
    # A profile filter keeps the events of the users whose profile matches now.
    users = "" if tier is None else f"AND u IN (SELECT u FROM p WHERE tier = '{tier}')"
    rank = " ".join(f"WHEN name = '{s}' THEN {i}" for i, s in enumerate(steps))
    con.execute("DROP TABLE IF EXISTS f")
    con.execute(
        f"""CREATE TABLE f AS SELECT u, t, name,
            row_number() OVER (PARTITION BY u ORDER BY t, CASE {rank} END) AS seq
            FROM e WHERE u <> '' AND name IN ({names}) {users}"""
    )
    con.execute("DROP TABLE IF EXISTS reached")
    con.execute(
        f"""CREATE TABLE reached AS SELECT u, t AS t0, seq FROM (
            SELECT u, t, seq, row_number() OVER (PARTITION BY u ORDER BY seq) AS k
            FROM f WHERE name = '{steps[0]}' AND t >= {start} AND t < {end}) WHERE k = 1"""
    )
    counts = [con.execute("SELECT count(*) FROM reached").fetchone()[0]]
    for step in steps[1:]:
        con.execute(
            f"""CREATE OR REPLACE TABLE reached AS SELECT r.u, r.t0, min(f.seq) AS seq FROM reached r
                JOIN f ON f.u = r.u AND f.name = '{step}' AND f.seq > r.seq AND f.t - r.t0 <= {window_ms}
                GROUP BY r.u, r.t0"""
        )
        counts.append(con.execute("SELECT count(*) FROM reached").fetchone()[0])
    return counts


COLUMNS = {"$browser": "browser", "plan": "plan"}


def funnel_attempts(con, q, start, end, day):
    """§2 attempt by attempt, for Uniques, Totals and Sessions with exclusions (steps in
    order). An attempt starts at a step-1 inside the range, with the window counted from it;
    each later step is a separate, later event (proposal) within t - t_entry <= window
    (proposal); an excluded event after step i is reached and before step j is ends the
    attempt at the step it reached. Uniques: the user's first attempt only. Totals: the
    user enters again only once the attempt has exited: after its last step, after the
    excluded event, or past its window. Sessions (§2, §5): one attempt per session, every
    step in the entry's session; a session ends after 30 minutes without an event and at
    local midnight, and $identify, $merge, $create_alias never extend one. Hold property
    constant (§2): every later step needs the entry's value (unset equals unset).
    Optimized re-entry (§2): every step-1 may start an attempt; the user counts their
    attempt that reached most steps, then the one that got there first, then the latest
    entry (so the latest step-1 before step 2 wins). A breakdown (§2, Attribution): the
    value on the attributed step's event (a step position, or the first or last value set
    among the steps reached); with uniques the user enters again after each exit and counts
    once per segment, the overall counts keeping their first attempt. Same-millisecond
    events in step order (Tally's rule). Answers the attempts per step, per local entry day
    (entered, converted), the seconds to convert of each converted attempt, the users at
    each step, and the counts per segment."""
    steps, window = q["steps"], q["window_ms"]
    exclusions = q.get("exclusions", [])
    counting = q.get("counting", "uniques")
    hold = COLUMNS[q["hold"]] if q.get("hold") else None
    by = COLUMNS[q["breakdown"]] if q.get("breakdown") else None
    attribution = q.get("attribution", 0)
    rank = {}
    for index, step in enumerate(steps):
        rank.setdefault(step, index)
    names = set(steps) | {x["event"] for x in exclusions}
    if counting == "sessions":
        where = "name NOT IN ('$identify', '$merge', '$create_alias')"
    else:
        where = "name IN (" + ", ".join("'" + n + "'" for n in names) + ")"
    rows = con.execute(
        f"SELECT u, t, name, {day}, {hold or 'NULL'}, {by or 'NULL'} FROM e WHERE u <> '' AND {where} ORDER BY u, t"
    ).fetchall()
    by_user = {}
    for u, t, name, d, held, value in rows:
        by_user.setdefault(u, []).append((t, rank.get(name, len(steps)), name, d, held, value))
    counts = [0] * len(steps)
    days = {}
    ttc = []
    users = [set() for _ in steps]
    segments = {}

    def attempt(events, sessions, entry):
        """The events of the steps reached from `entry`, and where another attempt may start."""
        t0, held0 = events[entry][0], events[entry][4]
        reached, position = [entry], entry
        for s in range(1, len(steps)):
            j = position + 1
            while j < len(events):
                t, _, name, _, held, _ = events[j]
                if t - t0 > window or sessions[j] != sessions[entry]:
                    return reached, j
                if name == steps[s] and (hold is None or held == held0):
                    break
                if any(x["event"] == name and x["after"] < s <= x["before"] for x in exclusions):
                    return reached, j + 1
                j += 1
            else:
                return reached, len(events)
            reached.append(j)
            position = j
        return reached, position + 1

    def segment_of(events, reached):
        if attribution == "first_defined":
            chosen = next((k for k in reached if events[k][5] is not None), None)
        elif attribution == "last_defined":
            chosen = next((k for k in reversed(reached) if events[k][5] is not None), None)
        else:
            chosen = reached[attribution] if attribution < len(reached) else None
        value = None if chosen is None else events[chosen][5]
        return "(not set)" if value is None else value

    def count(u, events, reached, overall):
        if by is not None:
            tally = segments.setdefault(segment_of(events, reached), [0] * len(steps))
            for s in range(len(reached)):
                tally[s] += 1
        if not overall:
            return
        for s in range(len(reached)):
            counts[s] += 1
            users[s].add(u)
        d = events[reached[0]][3]
        entered, converted = days.get(d, (0, 0))
        days[d] = (entered + 1, converted + (len(reached) == len(steps)))
        if len(reached) == len(steps):
            ttc.append((events[reached[-1]][0] - events[reached[0]][0]) // 1000)

    for u, events in by_user.items():
        events.sort(key=lambda e: (e[0], e[1]))
        sessions, previous = [], None
        for t, _, _, d, _, _ in events:
            new = previous is not None and (t - previous[0] > 30 * 60_000 or d != previous[1])
            sessions.append((sessions[-1] + 1 if new else sessions[-1]) if sessions else 0)
            previous = (t, d)
        if counting != "sessions":
            sessions = [0] * len(events)
        entries = [k for k, e in enumerate(events) if e[2] == steps[0] and start <= e[0] < end]
        if q.get("optimized"):
            attempts = [attempt(events, sessions, k)[0] for k in entries]
            if attempts:
                best = min(attempts, key=lambda r: (-len(r), events[r[-1]][0], -events[r[0]][0]))
                count(u, events, best, True)
            continue
        i, seen, first = 0, [], True
        while True:
            entry = next((k for k in entries if k >= i), None)
            if entry is None:
                break
            reached, resume = attempt(events, sessions, entry)
            if counting == "uniques" and not first:
                segment = segment_of(events, reached)
                if segment not in seen:
                    seen.append(segment)
                    if by is not None:
                        tally = segments.setdefault(segment, [0] * len(steps))
                        for s in range(len(reached)):
                            tally[s] += 1
            else:
                if by is not None:
                    seen.append(segment_of(events, reached))
                count(u, events, reached, True)
            first = False
            if counting == "uniques" and by is None:
                break
            if counting == "sessions":
                resume = next((k for k in range(resume, len(events)) if sessions[k] > sessions[entry]), len(events))
            i = resume
    return {
        "counts": counts,
        "days": {d: {"entered": e, "converted": c} for d, (e, c) in days.items()},
        "ttc_seconds": sorted(ttc),
        "users": [sorted(s) for s in users],
        "segments": segments,
    }


def flows(con, q, start, end):
    """§4 Uniques: one path per user from their first anchor in the range; the N events
    right after it within the window (proposal) and the N right before it (proposal, within
    the window too); identical consecutive events are not collapsed (proposal); events at
    the same millisecond in name order (Tally's rule, so paths do not depend on read order).
    Answers the users per (step, event) and per path after the anchor."""
    w, before, after = q["window_ms"], q["before"], q["after"]
    con.execute("DROP TABLE IF EXISTS fl")
    con.execute("CREATE TABLE fl AS SELECT u, t, name, row_number() OVER (PARTITION BY u ORDER BY t, name) AS seq FROM e WHERE u <> ''")
    con.execute("DROP TABLE IF EXISTS anchors")
    con.execute(
        f"""CREATE TABLE anchors AS SELECT u, min(seq) AS aseq FROM fl
            WHERE name = '{q['anchor']}' AND t >= {start} AND t < {end} GROUP BY u"""
    )
    con.execute("DROP TABLE IF EXISTS steps")
    con.execute(
        f"""CREATE TABLE steps AS SELECT fl.u, fl.seq - a.aseq AS step, fl.name FROM fl
            JOIN anchors a ON a.u = fl.u JOIN fl AS anchor ON anchor.u = a.u AND anchor.seq = a.aseq
            WHERE fl.seq BETWEEN a.aseq - {before} AND a.aseq + {after}
              AND abs(fl.t - anchor.t) <= {w}"""
    )
    nodes = {}
    for step, name, users in con.execute("SELECT step, name, count(DISTINCT u) FROM steps GROUP BY step, name").fetchall():
        nodes.setdefault(str(step), {})[name] = users
    # A path stops at its first gap (an event beyond the window ends it).
    paths = {}
    rows = con.execute("SELECT u, list(name ORDER BY step) FROM steps WHERE step >= 0 GROUP BY u").fetchall()
    for _, names in rows:
        key = json.dumps(names)
        paths[key] = paths.get(key, 0) + 1
    return {"users": con.execute("SELECT count(*) FROM anchors").fetchone()[0], "nodes": nodes, "paths": paths}


def retention(con, q, start, end, day):
    """§3: first time in the range: the first birth event in the range starts the clock (proposal);
    rolling buckets N = floor((t - t_birth) / U); the birth event itself never counts
    (proposal); 'on' = a return in bucket N, 'on_or_after' = in bucket N or later; returns may
    fall after the range; the row is the birth's local day."""
    unit, buckets = q["unit_ms"], q["buckets"]
    con.execute("DROP TABLE IF EXISTS r")
    con.execute(
        f"""CREATE TABLE r AS SELECT u, t, name,
            row_number() OVER (PARTITION BY u ORDER BY t, CASE WHEN name = '{q['born']}' THEN 0 ELSE 1 END) AS seq
            FROM e WHERE u <> '' AND name IN ('{q['born']}', '{q['return']}')"""
    )
    # Recurring (§3: a user is in every row where they did A, once per row; proposal: the
    # row's first A starts the clock): one birth per user and local day, not per user.
    per = f"u, {day}" if q.get("recurring") else "u"
    births = f"""SELECT u, t AS tb, seq AS sb, d FROM (
        SELECT u, t, seq, {day} AS d, row_number() OVER (PARTITION BY {per} ORDER BY seq) AS k FROM r
        WHERE name = '{q['born']}' AND t >= {start} AND t < {end}) WHERE k = 1"""
    rows = {}
    for d, first in con.execute(f"SELECT d, count(*) FROM ({births}) GROUP BY d").fetchall():
        rows[d] = {"first": first, "counts": [0] * (buckets + 1)}
    # Custom brackets (§3) join consecutive units: bucket k holds units [end_k-1, end_k).
    ends = q.get("brackets") or list(range(1, buckets + 2))
    for d in rows:
        rows[d]["counts"] = [0] * len(ends)
    units = f"floor((r.t - b.tb) / {unit})"
    for n in range(len(ends)):
        low = 0 if n == 0 else ends[n - 1]
        high = ends[n] if q["criterion"] == "on" else ends[-1]
        for d, users in con.execute(
            f"""SELECT b.d, count(DISTINCT b.u) FROM ({births}) b JOIN r ON r.u = b.u
                AND r.name = '{q['return']}' AND r.seq <> b.sb AND r.t >= b.tb
                AND {units} >= {low} AND {units} < {high}
                GROUP BY b.d"""
        ).fetchall():
            rows[d]["counts"][n] = users
    return rows


if __name__ == "__main__":
    main()
