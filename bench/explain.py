"""EXPLAIN ANALYZE of the hot read paths' queries, as the MLflow routes issue them.

Run by hand against a PostgreSQL database filled by bench/generate.py (not in CI):

    DATABASE_URL=postgres://postgres@127.0.0.1:5432/quorum_scale python bench/explain.py

For each workload it calls the real route through Django's test client as the `bench` user (a
token, access control on), captures every SELECT it ran, and prints each query's plan with its
execution time, so a sequential scan on a million-row table shows up here before it shows up in p99.

    --summary     one line per query (planning and execution time, and the plan's scans) instead of plans
    --repeat N    also time each route N times in process (p50 and p90 wall time, same user and token)
    --explain-runs N   with --summary: median planning and execution time of N EXPLAINs per query

The model every workload names is `<prefix><4242 mod number of models>`, so a small database
(`generate.py --models 100`) and the 10,000-model one are measured on the same shape of request.
"""

from __future__ import annotations

import argparse
import os
import re
import statistics
import sys
import time
from pathlib import Path

REPO_ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO_ROOT))
os.environ.setdefault("DJANGO_SETTINGS_MODULE", "config.settings")
# The plans of what a read costs when it goes to the database (a serving-cache miss); with the cache
# on, a repeated alias or version read runs only the one-row generation read.
os.environ.setdefault("QUORUM_SERVING_CACHE", "false")

import django  # noqa: E402

django.setup()

from django.db import connection  # noqa: E402
from django.test import Client  # noqa: E402
from django.test.utils import CaptureQueriesContext  # noqa: E402

from accounts import services as account_services  # noqa: E402
from accounts.models import User  # noqa: E402
from registry.models import RegisteredModel  # noqa: E402

API = "/api/2.0/mlflow/"


def workloads(prefix: str, models: int) -> dict[str, str]:
    name = f"{prefix}{4242 % max(models, 1):05d}"
    return {
        "alias": f"{API}registered-models/alias?name={name}&alias=bench",
        "version-get": f"{API}model-versions/get?name={name}&version=7",
        "download-uri": f"{API}model-versions/get-download-uri?name={name}&version=7",
        "search-by-name": f"{API}model-versions/search?filter=name%3D%27{name}%27&max_results=100",
        "search-by-tag": f"{API}model-versions/search?filter=name%3D%27{name}%27+AND+tags.fold%3D%273%27",
        "models-by-tag": f"{API}registered-models/search?filter=tags.team%3D%27t7%27&max_results=100",
        "models-name-like": f"{API}registered-models/search?filter=name+LIKE+%27{name[:-1]}%25%27&max_results=100",
        # The same searches answering as many rows at any size (a model has 10 versions at 1,000
        # versions, 100 at 1M; a team tag 2 models at 100 models, 200 at 10,000): what the size of
        # the registry costs, apart from what a longer answer costs.
        "search-by-name-10": f"{API}model-versions/search?filter=name%3D%27{name}%27&max_results=10",
        "models-by-tag-2": f"{API}registered-models/search?filter=tags.team%3D%27t7%27&max_results=2",
    }


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--model-prefix", default="gen-m")
    parser.add_argument("--summary", action="store_true", help="one line per query instead of plans")
    parser.add_argument("--repeat", type=int, default=0, help="time each route this many times")
    parser.add_argument("--only", default="", help="comma-separated workload labels")
    parser.add_argument(
        "--explain-runs",
        type=int,
        default=1,
        help="with --summary: median plan/run time of this many EXPLAINs",
    )
    args = parser.parse_args()
    assert connection.vendor == "postgresql", "EXPLAIN output here is PostgreSQL's"
    user = User.objects.get(username="bench")
    secret = account_services.token_create(
        actor=account_services.OPERATOR, user=user, name=f"explain-{time.time_ns()}"
    ).secret
    client = Client(HTTP_AUTHORIZATION=f"Bearer {secret}", HTTP_HOST="127.0.0.1")
    models = RegisteredModel.objects.filter(name__startswith=args.model_prefix).count()
    only = {label for label in args.only.split(",") if label}
    timings: dict[str, tuple[float, float, float]] = {}
    totals: dict[str, tuple[float, float]] = {}
    for label, url in workloads(args.model_prefix, models).items():
        if only and label not in only:
            continue
        client.get(url)  # warm caches (content types, plans)
        if args.repeat:
            timings[label] = time_route(client, url, args.repeat)
        with CaptureQueriesContext(connection) as captured:
            response = client.get(url)
        print(f"\n=== {label}: {url} -> {response.status_code}, {len(captured.captured_queries)} queries")
        for query in captured.captured_queries:
            sql = query["sql"]
            # EXECUTE: the serving path's prepared statements (config/prepared.py); EXPLAIN shows the
            # plan PostgreSQL keeps for them.
            if not sql.lstrip().upper().startswith(("SELECT", "EXECUTE")):
                continue
            with connection.cursor() as cursor:
                cursor.execute("EXPLAIN (ANALYZE, BUFFERS, COSTS OFF) " + sql)
                plan = [row[0] for row in cursor.fetchall()]
            if args.summary:
                print(f"--- {plan_summary(plan)}  {sql[:90]}")
                if args.explain_runs > 1:
                    planned, ran = explain_medians(sql, args.explain_runs)
                    totals[label] = (
                        totals.get(label, (0.0, 0.0))[0] + planned,
                        totals.get(label, (0.0, 0.0))[1] + ran,
                    )
                    print(f"    median of {args.explain_runs}: plan {planned:.3f} ms, run {ran:.3f} ms")
                continue
            print("--- " + sql[:160] + ("..." if len(sql) > 160 else ""))
            for line in plan:
                print("    " + line)
    if totals:
        print(f"\n{'route':<18}{'plan ms':>10}{'run ms':>10}   (sum over the route's queries of the medians)")
        for label, (planned, ran) in totals.items():
            print(f"{label:<18}{planned:>10.2f}{ran:>10.2f}")
    if timings:
        print(
            f"\n{'route':<18}{'p50 ms':>10}{'p90 ms':>10}{'cpu p50':>10}   ({args.repeat} calls, {models} models)"
        )
        for label, (p50, p90, cpu) in timings.items():
            print(f"{label:<18}{p50:>10.2f}{p90:>10.2f}{cpu:>10.2f}")


def time_route(client: Client, url: str, repeat: int) -> tuple[float, float, float]:
    """p50 and p90 wall time and p50 CPU time of this process, in ms, of `repeat` calls of one route.

    The CPU time leaves out waiting for PostgreSQL and for other processes, so it stays readable on
    a machine that other work keeps busy.
    """
    walls, cpus = [], []
    for _ in range(repeat):
        started, cpu_started = time.perf_counter(), time.process_time()
        response = client.get(url)
        walls.append((time.perf_counter() - started) * 1000)
        cpus.append((time.process_time() - cpu_started) * 1000)
        assert response.status_code == 200, response.content[:300]
    walls.sort()
    return statistics.median(walls), walls[int(len(walls) * 0.9) - 1], statistics.median(cpus)


def explain_medians(sql: str, runs: int) -> tuple[float, float]:
    """Median planning and execution time (ms) of `runs` EXPLAIN ANALYZE of one query, same connection."""
    planned, ran = [], []
    for _ in range(runs):
        with connection.cursor() as cursor:
            cursor.execute("EXPLAIN (ANALYZE, COSTS OFF, TIMING OFF, SUMMARY ON) " + sql)
            times = dict(
                re.match(r"(\w+) Time: ([\d.]+)", row[0]).groups()
                for row in cursor.fetchall()
                if " Time: " in row[0]
            )
        planned.append(float(times["Planning"]))
        ran.append(float(times["Execution"]))
    return statistics.median(planned), statistics.median(ran)


def plan_summary(plan: list[str]) -> str:
    """Planning and execution time and the scans of one plan, on one line."""
    times = {
        m.group(1): m.group(2)
        for m in (re.match(r"(Planning|Execution) Time: ([\d.]+)", line) for line in plan)
        if m
    }
    scans = sorted(
        {
            m.group(1)
            for m in (re.search(r"((?:Seq|Index|Index Only|Bitmap Heap) Scan[^(]*)", line) for line in plan)
            if m
        }
    )
    return f"plan {times.get('Planning', '?')} ms, run {times.get('Execution', '?')} ms; {'; '.join(s.strip() for s in scans)}"


if __name__ == "__main__":
    main()
