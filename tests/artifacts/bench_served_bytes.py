"""What the served-bytes check costs a download: one file through the artifact proxy, timed end to end.

Run by hand (not in CI: the name keeps it out of collection), with a PostgreSQL test database as for the test suite:

    DATABASE_URL=postgres://postgres@127.0.0.1:5432/quorum_bench \\
        BENCH_MB=100 BENCH_RUNS=7 python -m pytest tests/artifacts/bench_served_bytes.py -q -s -p no:cacheprovider

It registers and validates one version holding a file of BENCH_MB MiB on Quorum's disk, then downloads
that file BENCH_RUNS times through `/api/2.0/mlflow-artifacts/artifacts/...` over HTTP (Django's live
server, `requests` streaming in 1 MiB chunks) and prints the median and every run. Compare a run on
the commit before the served-bytes check (the proxy then streamed the file without hashing it) with
one after.
"""

import os
import statistics
import time

import pytest
import requests

pytestmark = [pytest.mark.django_db(transaction=True)]


def test_download_through_the_proxy(cast, tmp_path, settings, live_server):
    from registry import services
    from registry.models import ModelVersion
    from tests.fixtures_mlflow import api_token_for

    megabytes = int(os.environ.get("BENCH_MB", "100"))
    runs = int(os.environ.get("BENCH_RUNS", "7"))
    root = tmp_path / "artifacts"
    folder = root / "m" / "1"
    folder.mkdir(parents=True)
    (folder / "MLmodel").write_text("flavors:\n  python_function: {}\n")
    with open(folder / "model.bin", "wb") as out:
        for _ in range(megabytes):
            out.write(os.urandom(1024 * 1024))
    settings.QUORUM_ALLOWED_LOCAL_ROOTS = [root]
    settings.QUORUM_SOURCE_PREFIXES = [str(root)]
    from config.celery import app

    app.conf.task_always_eager = True
    services.registered_model_create(actor=cast.owner, name="m")
    services.model_version_create(actor=cast.owner, name="m", source=str(folder))
    assert ModelVersion.objects.get(model__name="m").status == "READY"
    headers = {"Authorization": f"Bearer {api_token_for(cast.owner)}"}
    url = f"{live_server.url}/api/2.0/mlflow-artifacts/artifacts/quorum-models/m/1/model.bin"
    timings = []
    for _ in range(runs + 1):  # the first run warms the page cache and the connection
        started = time.perf_counter()
        with requests.get(url, headers=headers, stream=True, timeout=120) as response:
            assert response.status_code == 200, response.content[:200]
            received = sum(len(chunk) for chunk in response.iter_content(1024 * 1024))
        timings.append(time.perf_counter() - started)
        assert received == megabytes * 1024 * 1024
    timings = timings[1:]
    median = statistics.median(timings)
    print(
        f"\n{megabytes} MiB through the proxy: median {median:.3f} s ({megabytes / median:.0f} MiB/s) "
        f"over {runs} runs: {', '.join(f'{t:.3f}' for t in timings)}"
    )
