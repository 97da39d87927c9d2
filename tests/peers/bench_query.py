"""`tally bench query`'s comparison: the same questions answered by DuckDB and chDB over
Tally's own Parquet files (2 threads each), best of N runs.

usage: bench_query.py DATA_DIR FROM_DATE TO_DATE RUNS  -> JSON on stdout:
{"duckdb": {"<query>": {"seconds": s}, "answers": {...}}, "chdb": {...} or {"error": "..."}}

The bench's data set has no duplicates and no identity merges, so these queries skip what
Tally does for them (deduplication, canonical ids): Tally pays for both. Funnels and
retention follow report-semantics.md (first step-1 in the range; first birth in the range,
rolling days, the birth event not a return), written as joins since neither engine has
Mixpanel's rules built in.
"""

import datetime
import glob
import json
import os
import sys
import time


def queries(src, div):
    a, b, w = "{a}", "{b}", 86_400_000
    return {
        "filtered_count": f"""SELECT count(*) FROM {src} WHERE name = 'View Item' AND "$browser" = 'Chrome'
            AND time_ms >= {a} AND time_ms < {b}""",
        "daily_uniques": f"""SELECT {div('time_ms', 86400000)} AS d, count(DISTINCT distinct_id) AS n FROM {src}
            WHERE name = 'Page View' AND time_ms >= {a} AND time_ms < {b} GROUP BY d ORDER BY d""",
        "funnel": f"""WITH e AS (SELECT distinct_id AS u, time_ms AS t, name FROM {src}
                WHERE name IN ('Page View', 'Add To Cart', 'Purchase') AND time_ms >= {a} AND time_ms < {b} + {w}),
            s0 AS (SELECT u, min(t) AS t0 FROM e WHERE name = 'Page View' AND t < {b} GROUP BY u),
            s1 AS (SELECT s0.u AS u, s0.t0 AS t0, min(e.t) AS t1 FROM s0 JOIN e ON e.u = s0.u
                WHERE e.name = 'Add To Cart' AND e.t >= s0.t0 AND e.t - s0.t0 <= {w} GROUP BY s0.u, s0.t0),
            s2 AS (SELECT DISTINCT s1.u AS u FROM s1 JOIN e ON e.u = s1.u
                WHERE e.name = 'Purchase' AND e.t >= s1.t1 AND e.t - s1.t0 <= {w})
            SELECT (SELECT count(*) FROM s0), (SELECT count(*) FROM s1), (SELECT count(*) FROM s2)""",
        "retention": f"""WITH e AS (SELECT distinct_id AS u, time_ms AS t FROM {src}
                WHERE name = 'Page View' AND time_ms >= {a} AND time_ms < {b} + 11 * 86400000),
            births AS (SELECT u, min(t) AS tb FROM e WHERE t < {b} GROUP BY u)
            SELECT {div('births.tb', 86400000)} AS cohort, {div('e.t - births.tb', 86400000)} AS bucket,
                count(DISTINCT births.u) AS n
            FROM births JOIN e ON e.u = births.u
            WHERE e.t > births.tb AND e.t - births.tb < 11 * 86400000
            GROUP BY cohort, bucket ORDER BY cohort, bucket""",
    }


def timed(run, sql, runs):
    best, rows = None, None
    for _ in range(max(runs, 1)):
        started = time.perf_counter()
        rows = run(sql)
        elapsed = time.perf_counter() - started
        best = elapsed if best is None else min(best, elapsed)
    return best, rows


def summary(answers):
    return {
        "filtered_count": answers["filtered_count"][0][0],
        "uniques_first_day": answers["daily_uniques"][0][1] if answers["daily_uniques"] else 0,
        "funnel": list(answers["funnel"][0]),
        "retention_first": None,
    }


def main():
    data_dir, from_date, to_date, runs = sys.argv[1], sys.argv[2], sys.argv[3], int(sys.argv[4])
    # Event files sit in <events>/project=N/day=D/bucket=B/ (profiles elsewhere).
    files = [f for f in glob.glob(os.path.join(data_dir, "**", "*.parquet"), recursive=True) if "/day=" in f]
    if not files:
        raise SystemExit(f"no event files under {data_dir}")
    events_root = files[0].split("/project=")[0]
    day = lambda text: int(datetime.datetime.strptime(text, "%Y-%m-%d").replace(tzinfo=datetime.timezone.utc).timestamp()) * 1000
    a, b = day(from_date), day(to_date) + 86_400_000
    out = {}

    import duckdb

    con = duckdb.connect()
    con.execute("SET threads=2")
    listed = "[" + ", ".join("'" + f + "'" for f in files) + "]"
    duck = queries(f"read_parquet({listed})", lambda x, n: f"({x}) // {n}")
    result = {}
    answers = {}
    for key, sql in duck.items():
        seconds, rows = timed(lambda q: con.execute(q.format(a=a, b=b)).fetchall(), sql, runs)
        result[key] = {"seconds": seconds}
        answers[key] = rows
    result["answers"] = summary(answers)
    out["duckdb"] = result

    try:
        import chdb
        from chdb import session

        sess = session.Session()
        pattern = os.path.join(events_root, "project=*", "day=*", "bucket=*", "*.parquet")
        src = f"file('{pattern}', Parquet)"
        clickhouse = queries(src, lambda x, n: f"intDiv({x}, {n})")
        result = {}
        answers = {}

        def run(q):
            text = sess.query(q.format(a=a, b=b) + " SETTINGS max_threads=2", "JSONCompact").bytes()
            return json.loads(text)["data"]

        for key, sql in clickhouse.items():
            seconds, rows = timed(run, sql, runs)
            result[key] = {"seconds": seconds}
            answers[key] = rows
        result["answers"] = summary(answers)
        out["chdb"] = result
    except ImportError:
        out["chdb"] = {"error": "chdb is not installed in this Python"}
    json.dump(out, sys.stdout)


if __name__ == "__main__":
    main()
