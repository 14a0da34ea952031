"""Fixtures for real infrastructure: a moto S3 server over HTTP, Redis, and Celery worker processes.

Reusable by every test module (registered in tests/conftest.py):

- `moto_s3` (session): a `moto_server` subprocess on a free loopback port. `.endpoint_url`,
  `.env` (AWS_* variables pointing boto3 and the mlflow client at it), `.client()`,
  `.bucket(prefix)` -> a fresh bucket name.
- `moto_env` (function): applies `moto_s3.env` to os.environ for one test; returns `moto_s3`.
- `redis_url` (session): QUORUM_TEST_REDIS_URL or redis://127.0.0.1:6379/0, checked with PING.
- `worker_database_url` (function, transactional): the test database as a URL a worker process can
  use. Needs PostgreSQL (an in-memory SQLite database is invisible to other processes).
- `celery_worker_factory` (session): `start(broker_url=..., env={...}, beat=False)` -> a
  `WorkerProcess` (`.stop()`, `.kill()` = SIGKILL of its whole process group, `.log()`);
  everything it started is killed at session end. Each session uses its own queue name, so
  other people's workers on the same Redis never take our tasks.
- `pipeline_worker` (session): one shared worker on `redis_url` + the test database + moto,
  governed store `s3://<pipeline_governed_bucket>/`.
- `celery_via_broker` (function): switches this process from in-process tasks to publishing
  on `pipeline_worker`'s broker and queue; restores in-process tasks afterwards.
- `redis_server_factory` (function): a private `redis-server` on a free port, stoppable and
  restartable on the same port (for broker-outage tests without touching the shared Redis).

Without Redis or PostgreSQL the tests that need them skip locally; with CI=true they fail.
"""

from __future__ import annotations

import os
import shutil
import signal
import socket
import subprocess
import sys
import time
import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path

import boto3
import pytest

REPO_ROOT = Path(__file__).resolve().parent.parent
SESSION_TAG = uuid.uuid4().hex[:8]


def unavailable(reason: str) -> None:
    """Skip locally, fail in CI: CI promises Redis and PostgreSQL, so a missing one is a bug there."""
    if os.environ.get("CI", "").lower() == "true":
        pytest.fail(f"{reason} (CI=true: this test must run, not skip)")
    pytest.skip(reason)


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def wait_until(condition: Callable[[], object], *, timeout: float, interval: float = 0.05, what: str = ""):
    """Poll `condition` until it returns something truthy; fail the test after `timeout` seconds."""
    deadline = time.monotonic() + timeout
    while True:
        result = condition()
        if result:
            return result
        if time.monotonic() > deadline:
            pytest.fail(f"timed out after {timeout}s waiting for {what or condition}")
        time.sleep(interval)


def _port_open(port: int) -> bool:
    with socket.socket() as sock:
        sock.settimeout(0.2)
        return sock.connect_ex(("127.0.0.1", port)) == 0


# --- moto S3 server ----------------------------------------------------------------------


@dataclass
class MotoS3:
    endpoint_url: str
    env: dict[str, str]

    def client(self):
        return boto3.client(
            "s3",
            endpoint_url=self.endpoint_url,
            region_name="us-east-1",
            aws_access_key_id="testing",
            aws_secret_access_key="testing",
        )

    def bucket(self, prefix: str = "b", *, versioned: bool = False) -> str:
        """Create a fresh bucket and return its name."""
        name = f"{prefix}-{uuid.uuid4().hex[:12]}"
        client = self.client()
        client.create_bucket(Bucket=name)
        if versioned:
            client.put_bucket_versioning(Bucket=name, VersioningConfiguration={"Status": "Enabled"})
        return name


@pytest.fixture(scope="session")
def moto_s3() -> Iterator[MotoS3]:
    port = free_port()
    process = subprocess.Popen(
        [sys.executable, "-m", "moto.server", "-H", "127.0.0.1", "-p", str(port)],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    try:
        wait_until(lambda: _port_open(port), timeout=30, what="moto_server to listen")
        endpoint = f"http://127.0.0.1:{port}"
        env = {
            "AWS_ENDPOINT_URL": endpoint,
            "AWS_ACCESS_KEY_ID": "testing",
            "AWS_SECRET_ACCESS_KEY": "testing",
            "AWS_DEFAULT_REGION": "us-east-1",
            "MLFLOW_S3_ENDPOINT_URL": endpoint,
        }
        yield MotoS3(endpoint_url=endpoint, env=env)
    finally:
        process.terminate()
        try:
            process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            process.kill()


@pytest.fixture
def moto_env(moto_s3: MotoS3, monkeypatch) -> MotoS3:
    for name, value in moto_s3.env.items():
        monkeypatch.setenv(name, value)
    monkeypatch.delenv("AWS_PROFILE", raising=False)
    return moto_s3


# --- Redis and the test database as seen from other processes -----------------------------


@pytest.fixture(scope="session")
def redis_url() -> str:
    url = os.environ.get("QUORUM_TEST_REDIS_URL", "redis://127.0.0.1:6379/0")
    import redis

    try:
        redis.Redis.from_url(url, socket_connect_timeout=1).ping()
    except Exception as exc:
        unavailable(f"Redis at {url} is not reachable: {exc}")
    return url


def database_url_of(settings_dict: dict) -> str:
    user = settings_dict.get("USER") or ""
    password = settings_dict.get("PASSWORD") or ""
    credentials = f"{user}:{password}@" if password else (f"{user}@" if user else "")
    host = settings_dict.get("HOST") or "127.0.0.1"
    port = settings_dict.get("PORT") or 5432
    return f"postgres://{credentials}{host}:{port}/{settings_dict['NAME']}"


@pytest.fixture
def worker_database_url(transactional_db) -> str:
    from django.db import connection

    if connection.vendor != "postgresql":
        unavailable("worker tests need PostgreSQL (set DATABASE_URL=postgres://...)")
    return database_url_of(connection.settings_dict)


# --- Celery workers ----------------------------------------------------------------------


@dataclass
class WorkerProcess:
    process: subprocess.Popen
    log_path: Path
    queue: str
    broker_url: str

    def log(self) -> str:
        return self.log_path.read_text(errors="replace") if self.log_path.exists() else ""

    def alive(self) -> bool:
        return self.process.poll() is None

    def kill(self) -> None:
        """SIGKILL the worker and everything it started (pool children, embedded beat)."""
        if self.alive():
            os.killpg(self.process.pid, signal.SIGKILL)
            self.process.wait(timeout=10)

    def stop(self) -> None:
        """Warm shutdown (SIGTERM), then SIGKILL if it lingers."""
        if not self.alive():
            return
        os.killpg(self.process.pid, signal.SIGTERM)
        try:
            self.process.wait(timeout=15)
        except subprocess.TimeoutExpired:
            self.kill()


@dataclass
class WorkerFactory:
    base_dir: Path
    queue: str
    started: list[WorkerProcess] = field(default_factory=list)

    def start(
        self,
        *,
        broker_url: str,
        env: dict[str, str],
        beat: bool = False,
        concurrency: int = 2,
        queue: str | None = None,
    ) -> WorkerProcess:
        """Start a worker and wait until it is ready. `queue` defaults to the session's queue."""
        queue = queue or self.queue
        name = f"pipeline-{uuid.uuid4().hex[:6]}"
        log_path = self.base_dir / f"{name}.log"
        command = [
            sys.executable,
            "-m",
            "celery",
            "-A",
            "config",
            "worker",
            "--pool=threads",
            f"--concurrency={concurrency}",
            "-Q",
            queue,
            "-n",
            f"{name}@%h",
            "--without-gossip",
            "--without-mingle",
            "--loglevel=INFO",
        ]
        if beat:
            command += ["-B", "-s", str(self.base_dir / f"{name}-beat-schedule")]
        process_env = {
            **os.environ,
            "DJANGO_SETTINGS_MODULE": "config.settings",
            "CELERY_BROKER_URL": broker_url,
            "CELERY_TASK_DEFAULT_QUEUE": queue,
            "QUORUM_LOG_LEVEL": "INFO",
            **env,
        }
        with open(log_path, "ab") as log:
            process = subprocess.Popen(
                command,
                cwd=REPO_ROOT,
                env=process_env,
                stdout=log,
                stderr=subprocess.STDOUT,
                start_new_session=True,
            )
        worker = WorkerProcess(process=process, log_path=log_path, queue=queue, broker_url=broker_url)
        self.started.append(worker)
        if beat:
            BEAT_WORKERS.append(worker)
        try:
            wait_until(
                lambda: " ready." in worker.log() or not worker.alive(),
                timeout=60,
                what="the worker to be ready",
            )
        except BaseException:
            worker.kill()
            raise
        if not worker.alive():
            pytest.fail(f"celery worker exited at start:\n{worker.log()[-4000:]}")
        return worker


# Workers that run beat sweep the outbox of the whole test database, so one left running would
# pick up the next test's jobs with its own (stale) settings: they stop when their test ends.
BEAT_WORKERS: list[WorkerProcess] = []


@pytest.fixture(autouse=True)
def _beat_workers_stop_with_their_test() -> Iterator[None]:
    yield
    while BEAT_WORKERS:
        BEAT_WORKERS.pop().kill()


@pytest.fixture(scope="session")
def celery_worker_factory(tmp_path_factory) -> Iterator[WorkerFactory]:
    factory = WorkerFactory(base_dir=tmp_path_factory.mktemp("workers"), queue=f"quorum-test-{SESSION_TAG}")
    yield factory
    for worker in factory.started:
        worker.kill()


@pytest.fixture(scope="session")
def pipeline_governed_bucket(moto_s3: MotoS3) -> str:
    return moto_s3.bucket("governed", versioned=True)


def worker_env(database_url: str, moto_s3: MotoS3, governed_bucket: str, **extra: str) -> dict[str, str]:
    """The environment a test worker needs: test database, moto, governed store, short leases."""
    return {
        "DATABASE_URL": database_url,
        **moto_s3.env,
        "QUORUM_GOVERNED_STORE": f"s3://{governed_bucket}/",
        "QUORUM_ARTIFACT_JOB_LEASE_SECONDS": "3",
        "QUORUM_OUTBOX_REDISPATCH_SECONDS": "2",
        **extra,
    }


@pytest.fixture(scope="session")
def pipeline_worker(
    celery_worker_factory: WorkerFactory,
    redis_url: str,
    moto_s3: MotoS3,
    pipeline_governed_bucket: str,
    django_db_setup,
    django_db_blocker,
) -> WorkerProcess:
    """A worker shared by the whole session. Tests using it must be transactional (see below)."""
    from django.db import connection

    if connection.vendor != "postgresql":
        unavailable("worker tests need PostgreSQL (set DATABASE_URL=postgres://...)")
    env = worker_env(database_url_of(connection.settings_dict), moto_s3, pipeline_governed_bucket)
    return celery_worker_factory.start(broker_url=redis_url, env=env)


def celery_use_broker(broker_url: str | None, queue: str) -> None:
    """Point this process's Celery app at `broker_url` (None: back to in-process tasks)."""
    from kombu import pools

    from config.celery import app

    pools.reset()  # closes and forgets kombu's process-wide connection pools of the old broker
    app._pool = None
    app.__dict__.pop("amqp", None)  # cached queues, router and producer pool of the old broker
    app.conf.task_always_eager = broker_url is None
    app.conf.broker_url = broker_url or "memory://"
    app.conf.task_default_queue = queue


@pytest.fixture
def celery_via_broker(
    pipeline_worker: WorkerProcess,
    worker_database_url: str,
    moto_env,
    pipeline_governed_bucket: str,
    settings,
) -> Iterator[WorkerProcess]:
    """Publish tasks to the shared test worker for the duration of one transactional test."""
    settings.QUORUM_GOVERNED_STORE = f"s3://{pipeline_governed_bucket}/"
    celery_use_broker(pipeline_worker.broker_url, pipeline_worker.queue)
    yield pipeline_worker
    celery_use_broker(None, "celery")


# --- A private redis-server ----------------------------------------------------------------


@dataclass
class RedisServer:
    port: int
    data_dir: Path
    process: subprocess.Popen | None = None

    @property
    def url(self) -> str:
        return f"redis://127.0.0.1:{self.port}/0"

    def start(self) -> None:
        self.process = subprocess.Popen(
            [
                "redis-server",
                "--port",
                str(self.port),
                "--bind",
                "127.0.0.1",
                "--save",
                "",
                "--appendonly",
                "no",
                "--dir",
                str(self.data_dir),
            ],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        wait_until(lambda: _port_open(self.port), timeout=10, what="redis-server to listen")

    def stop(self) -> None:
        if self.process is not None and self.process.poll() is None:
            self.process.kill()
            self.process.wait(timeout=10)
        wait_until(lambda: not _port_open(self.port), timeout=10, what="redis-server to stop")


@pytest.fixture
def redis_server_factory(tmp_path) -> Iterator[Callable[[], RedisServer]]:
    if shutil.which("redis-server") is None:
        unavailable("redis-server is not installed")
    servers: list[RedisServer] = []

    def start() -> RedisServer:
        server = RedisServer(port=free_port(), data_dir=tmp_path)
        server.start()
        servers.append(server)
        return server

    yield start
    for server in servers:
        server.stop()
