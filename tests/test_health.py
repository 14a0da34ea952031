"""Liveness and readiness probes, through HTTP as a load balancer calls them (anonymously)."""

import os
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
from django.db import connection
from django.db.migrations.loader import MigrationLoader
from django.db.migrations.recorder import MigrationRecorder
from django.test import Client

REPO = Path(__file__).resolve().parent.parent


@pytest.fixture
def probe() -> Client:
    return Client()


@pytest.fixture
def silent_broker() -> Iterator[str]:
    """A TCP port that accepts connections and never answers: a hung broker, not a refused one."""
    listener = socket.socket()
    listener.bind(("127.0.0.1", 0))
    listener.listen(16)
    yield f"redis://127.0.0.1:{listener.getsockname()[1]}/0"
    listener.close()


def test_healthz_answers_anonymously(probe):
    response = probe.get("/healthz")
    assert response.status_code == 200
    assert response.json() == {"status": "ok"}
    assert "no-cache" in response.headers["Cache-Control"]


def test_healthz_only_answers_get(probe):
    assert probe.post("/healthz").status_code == 405


@pytest.mark.django_db
def test_readyz_is_ready_with_database_migrated_and_tasks_in_process(probe, settings):
    settings.CELERY_BROKER_URL = ""
    response = probe.get("/readyz")
    assert response.status_code == 200, response.content
    assert response.json() == {
        "status": "ready",
        "checks": {"database": "ok", "migrations": "ok", "broker": "in-process (no broker configured)"},
    }


@pytest.mark.django_db
def test_readyz_is_503_while_a_migration_is_unapplied(probe, settings):
    settings.CELERY_BROKER_URL = ""
    # Forget the newest registry migration (rolled back with the test): the database now lags the code.
    leaf = next(node for node in MigrationLoader(connection).graph.leaf_nodes() if node[0] == "registry")
    MigrationRecorder.Migration.objects.filter(app=leaf[0], name=leaf[1]).delete()
    response = probe.get("/readyz")
    assert response.status_code == 503
    body = response.json()
    assert body["status"] == "not ready"
    assert body["checks"]["database"] == "ok"
    assert body["checks"]["migrations"].endswith("unapplied")


@pytest.mark.django_db
def test_readyz_is_503_at_once_when_the_broker_refuses(probe, settings):
    closed = socket.socket()
    closed.bind(("127.0.0.1", 0))
    port = closed.getsockname()[1]
    closed.close()  # nothing listens there now
    settings.CELERY_BROKER_URL = f"redis://127.0.0.1:{port}/0"
    started = time.monotonic()
    response = probe.get("/readyz")
    assert time.monotonic() - started < 3
    assert response.status_code == 503
    assert response.json()["checks"]["broker"].startswith("unreachable")
    assert response.json()["checks"]["database"] == "ok"


@pytest.mark.django_db
def test_readyz_is_503_within_seconds_when_the_broker_hangs(probe, settings, silent_broker):
    settings.CELERY_BROKER_URL = silent_broker
    started = time.monotonic()
    response = probe.get("/readyz")
    elapsed = time.monotonic() - started
    assert response.status_code == 503
    assert response.json()["checks"]["broker"].startswith("unreachable")
    assert elapsed < 6, f"readyz took {elapsed:.1f}s against a hung broker"


@pytest.mark.django_db
def test_readyz_is_ready_with_a_reachable_broker(probe, settings):
    url = os.environ.get("QUORUM_TEST_REDIS_URL")
    if not url:
        pytest.skip("set QUORUM_TEST_REDIS_URL (CI does) to check readiness against a real Redis broker")
    settings.CELERY_BROKER_URL = url
    response = probe.get("/readyz")
    assert response.status_code == 200, response.content
    assert response.json()["checks"]["broker"] == "ok"


def test_readyz_is_503_when_the_database_is_unreachable(tmp_path):
    """In a fresh process whose DATABASE_URL points at a port nothing listens on."""
    closed = socket.socket()
    closed.bind(("127.0.0.1", 0))
    port = closed.getsockname()[1]
    closed.close()
    env = {
        **os.environ,
        "DATABASE_URL": f"postgres://postgres@127.0.0.1:{port}/nowhere",
        "CELERY_BROKER_URL": "",
        "QUORUM_VAR_DIR": str(tmp_path),
    }
    script = (
        "import django, json; django.setup(); from django.test import Client; "
        "r = Client().get('/readyz'); print(r.status_code, json.dumps(r.json()))"
    )
    started = time.monotonic()
    result = subprocess.run(
        [sys.executable, "-c", script],
        cwd=REPO,
        env={**env, "DJANGO_SETTINGS_MODULE": "config.settings"},
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert result.returncode == 0, result.stderr
    status, _, body = result.stdout.strip().splitlines()[-1].partition(" ")
    assert status == "503"
    assert '"database": "unreachable: OperationalError"' in body
    assert time.monotonic() - started < 30
