"""EXPLAIN ANALYZE of the hot read paths' queries, as the MLflow routes issue them.

Run by hand against a PostgreSQL database filled by bench/generate.py (not in CI):

    DATABASE_URL=postgres://postgres@127.0.0.1:5432/quorum_scale python bench/explain.py

For each workload it calls the real route through Django's test client as the `bench` user (a
token, access control on), captures every SELECT it ran, and prints each query's plan with its
execution time, so a sequential scan on a million-row table shows up here before it shows up in p99.
"""

from __future__ import annotations

import argparse
import os
import sys
import time
from pathlib import Path

REPO_ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO_ROOT))
os.environ.setdefault("DJANGO_SETTINGS_MODULE", "config.settings")

import django  # noqa: E402

django.setup()

from django.db import connection  # noqa: E402
from django.test import Client  # noqa: E402
from django.test.utils import CaptureQueriesContext  # noqa: E402

from accounts import services as account_services  # noqa: E402
from accounts.models import User  # noqa: E402

API = "/api/2.0/mlflow/"


def workloads(prefix: str) -> dict[str, str]:
    name = f"{prefix}04242"
    return {
        "alias": f"{API}registered-models/alias?name={name}&alias=bench",
        "version-get": f"{API}model-versions/get?name={name}&version=7",
        "download-uri": f"{API}model-versions/get-download-uri?name={name}&version=7",
        "search-by-name": f"{API}model-versions/search?filter=name%3D%27{name}%27&max_results=100",
        "search-by-tag": f"{API}model-versions/search?filter=name%3D%27{name}%27+AND+tags.fold%3D%273%27",
        "models-by-tag": f"{API}registered-models/search?filter=tags.team%3D%27t7%27&max_results=100",
        "models-name-like": f"{API}registered-models/search?filter=name+LIKE+%27{name[:-1]}%25%27&max_results=100",
    }


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--model-prefix", default="gen-m")
    args = parser.parse_args()
    assert connection.vendor == "postgresql", "EXPLAIN output here is PostgreSQL's"
    user = User.objects.get(username="bench")
    secret = account_services.token_create(
        actor=account_services.OPERATOR, user=user, name=f"explain-{time.time_ns()}"
    ).secret
    client = Client(HTTP_AUTHORIZATION=f"Bearer {secret}", HTTP_HOST="127.0.0.1")
    for label, url in workloads(args.model_prefix).items():
        client.get(url)  # warm caches (content types, plans)
        with CaptureQueriesContext(connection) as captured:
            response = client.get(url)
        print(f"\n=== {label}: {url} -> {response.status_code}, {len(captured.captured_queries)} queries")
        for query in captured.captured_queries:
            sql = query["sql"]
            if not sql.lstrip().upper().startswith("SELECT"):
                continue
            with connection.cursor() as cursor:
                cursor.execute("EXPLAIN (ANALYZE, BUFFERS, COSTS OFF) " + sql)
                plan = [row[0] for row in cursor.fetchall()]
            print("--- " + sql[:160] + ("..." if len(sql) > 160 else ""))
            for line in plan:
                print("    " + line)


if __name__ == "__main__":
    main()
