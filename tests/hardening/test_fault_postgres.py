"""Fault injection: PostgreSQL restarted under a burst of writes to a running gunicorn Quorum.

A private cluster (initdb + pg_ctl in a temporary folder, its own port) is used, never the shared
server. Requests during the outage must fail cleanly (JSON 503, or a refused connection), never
half-apply: every model that exists has all its tags and exactly one creation event, every 201 is
in the database, the audit chain verifies, and gunicorn serves again without being restarted.
"""

import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time
from collections import Counter
from collections.abc import Iterator
from pathlib import Path

import pytest
import requests

ROOT = Path(__file__).resolve().parents[2]
TAGS_PER_MODEL = 5
pytestmark = pytest.mark.slow


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def pg_binary(name: str) -> str | None:
    found = shutil.which(name)
    if found:
        return found
    candidates = sorted(Path("/usr/lib/postgresql").glob(f"*/bin/{name}"))
    return str(candidates[-1]) if candidates else None


def as_postgres(command: list[str]) -> list[str]:
    # initdb and postgres refuse to run as root.
    return ["runuser", "-u", "postgres", "--", *command] if os.geteuid() == 0 else command


class PrivateCluster:
    def __init__(self, folder: Path, port: int) -> None:
        self.folder, self.port = folder, port
        self.data = folder / "data"

    def pg_ctl(self, *args: str) -> None:
        command = [pg_binary("pg_ctl"), "-D", str(self.data), "-l", str(self.folder / "pg.log"), "-w", *args]
        subprocess.run(as_postgres(command), check=True, capture_output=True, timeout=60)

    def start(self) -> None:
        self.pg_ctl("-o", f"-p {self.port} -k {self.folder} -c listen_addresses=127.0.0.1", "start")

    def url(self, database: str = "quorum") -> str:
        return f"postgres://postgres@127.0.0.1:{self.port}/{database}"


@pytest.fixture
def private_cluster() -> Iterator[PrivateCluster]:
    if not (pg_binary("initdb") and pg_binary("pg_ctl")):
        if os.environ.get("CI", "").lower() == "true":
            pytest.fail("CI needs initdb/pg_ctl for the PostgreSQL fault-injection test")
        pytest.skip("initdb/pg_ctl not installed")
    folder = Path(tempfile.mkdtemp(prefix="quorum-pg-"))
    if os.geteuid() == 0:
        shutil.chown(folder, "postgres", "postgres")
    cluster = PrivateCluster(folder, free_port())
    subprocess.run(
        as_postgres(
            [pg_binary("initdb"), "-D", str(cluster.data), "-A", "trust", "-U", "postgres", "--no-sync"]
        ),
        check=True,
        capture_output=True,
        timeout=120,
    )
    cluster.start()
    try:
        subprocess.run(
            as_postgres(
                [
                    pg_binary("createdb"),
                    "-h",
                    "127.0.0.1",
                    "-p",
                    str(cluster.port),
                    "-U",
                    "postgres",
                    "quorum",
                ]
            ),
            check=True,
            capture_output=True,
            timeout=60,
        )
        yield cluster
    finally:
        subprocess.run(
            as_postgres([pg_binary("pg_ctl"), "-D", str(cluster.data), "-m", "immediate", "stop"]),
            capture_output=True,
            timeout=60,
        )
        shutil.rmtree(folder, ignore_errors=True)


def manage(env: dict[str, str], *args: str, stdin: str | None = None) -> str:
    done = subprocess.run(
        [sys.executable, "manage.py", *args],
        cwd=ROOT,
        env=env,
        input=stdin,
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert done.returncode == 0, done.stderr[-2000:]
    return done.stdout


SETUP = """
from accounts import services as access
user = access.user_create(actor=access.OPERATOR, username="burst", can_create_models=True)
print(access.token_create(actor=access.OPERATOR, user=user, name="burst").secret)
"""

CHECK = """
import json
from django.db.models import Count
from audit.models import AuditEvent
from registry.models import RegisteredModel
models = {m.name: m.n for m in RegisteredModel.objects.annotate(n=Count("tags"))}
events = dict(
    AuditEvent.objects.filter(action="registered_model.created")
    .values_list("model_name").annotate(n=Count("id"))
)
print(json.dumps({"models": models, "events": events}))
"""


@pytest.fixture
def quorum_on_private_cluster(
    private_cluster: PrivateCluster, tmp_path: Path
) -> Iterator[tuple[str, str, dict]]:
    env = {
        **os.environ,
        "DATABASE_URL": private_cluster.url(),
        "DJANGO_DEBUG": "true",
        "QUORUM_VAR_DIR": str(tmp_path),
        "QUORUM_ARTIFACT_ROOT": str(tmp_path / "artifacts"),
    }
    env.pop("CELERY_BROKER_URL", None)
    manage(env, "migrate", "--noinput", "-v", "0")
    token = manage(env, "shell", stdin=SETUP).strip().splitlines()[-1]
    port = free_port()
    server = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "gunicorn",
            "config.wsgi:application",
            "--bind",
            f"127.0.0.1:{port}",
            "--workers",
            "2",
            "--threads",
            "4",
            "--timeout",
            "60",
            "--graceful-timeout",
            "5",
        ],
        cwd=ROOT,
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=open(tmp_path / "gunicorn.log", "w"),
        start_new_session=True,
    )
    base = f"http://127.0.0.1:{port}"
    try:
        for _ in range(100):
            try:
                if requests.get(f"{base}/healthz", timeout=10).status_code == 200:
                    break
            except requests.RequestException:  # not listening yet, or its first request still loading apps
                time.sleep(0.2)
        yield base, token, env
    finally:
        os.killpg(server.pid, signal.SIGTERM)
        try:
            server.wait(timeout=15)
        except subprocess.TimeoutExpired:
            os.killpg(server.pid, signal.SIGKILL)
            server.wait(timeout=15)


def test_postgres_restart_mid_burst_fails_cleanly_and_recovers(
    private_cluster, quorum_on_private_cluster
) -> None:
    base, token, env = quorum_on_private_cluster
    headers = {"Authorization": f"Bearer {token}"}
    outcomes: dict[str, int | str] = {}
    bodies: list[str] = []
    lock = threading.Lock()
    stop = time.monotonic() + 12

    def writer(index: int) -> None:
        session = requests.Session()
        number = 0
        while time.monotonic() < stop:
            name = f"burst-{index}-{number}"
            number += 1
            body = {"name": name, "tags": [{"key": f"k{i}", "value": "v"} for i in range(TAGS_PER_MODEL)]}
            try:
                response = session.post(f"{base}/api/v1/models", json=body, headers=headers, timeout=30)
                outcome: int | str = response.status_code
                if response.status_code != 201:
                    with lock:
                        bodies.append(f"{response.status_code} {response.text[:200]}")
            except requests.RequestException as exc:
                outcome = type(exc).__name__
            with lock:
                outcomes[name] = outcome

    threads = [threading.Thread(target=writer, args=(i,)) for i in range(8)]
    for thread in threads:
        thread.start()
    time.sleep(4)
    private_cluster.pg_ctl("-m", "fast", "stop")
    time.sleep(2)
    private_cluster.start()
    for thread in threads:
        thread.join(timeout=60)

    statuses = Counter(outcomes.values())
    assert statuses[201] > 20, statuses
    failed = {name: outcome for name, outcome in outcomes.items() if outcome != 201}
    assert failed, f"the restart interrupted nothing: {statuses}"
    for text in bodies:  # failures are clean JSON errors, never an HTML page or a 500
        status, _, payload = text.partition(" ")
        assert status == "503" and json.loads(payload)["error_code"] == "TEMPORARILY_UNAVAILABLE", text
    assert set(statuses) <= {201, 503, "ConnectionError"}, statuses

    # The same gunicorn serves again once the database is back.
    deadline = time.monotonic() + 30
    while True:
        response = requests.post(
            f"{base}/api/v1/models", json={"name": "after-restart"}, headers=headers, timeout=30
        )
        if response.status_code == 201 or time.monotonic() > deadline:
            break
        time.sleep(0.5)
    assert response.status_code == 201, response.text

    state = json.loads(manage(env, "shell", stdin=CHECK).strip().splitlines()[-1])
    models, events = state["models"], state["events"]
    for name, outcome in outcomes.items():
        if outcome == 201:
            assert models.get(name) == TAGS_PER_MODEL, (name, models.get(name))
    for name, tag_count in models.items():
        expected_tags = 0 if name == "after-restart" else TAGS_PER_MODEL
        assert tag_count == expected_tags, f"{name} half-applied: {tag_count} tags"
        assert events.get(name) == 1, f"{name}: {events.get(name)} creation events"
    assert set(events) == set(models)
    manage(env, "audit_verify")
