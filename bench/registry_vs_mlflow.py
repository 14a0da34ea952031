"""Quorum vs MLflow's own registry server, side by side, same machine, same run, same workload.

Run by hand (not in CI), from the repository root:

    python bench/registry_vs_mlflow.py                         # small registry, both servers
    python bench/registry_vs_mlflow.py --models 100 --versions 100   # 10,000 versions each
    python bench/registry_vs_mlflow.py --quorum-only --quorum-db quorum_scale --no-load \\
        --model-prefix gen-m --models 10000                   # at the size bench/generate.py made

What it does:

- Quorum: a fresh PostgreSQL database (unless --no-load), migrations, a non-superuser `bench` user
  who reaches models only through object grants (access control on), an API token; gunicorn with
  DJANGO_DEBUG off, Redis cache and a Celery broker (validation queued, audit written in every
  write's transaction, as in production). QUORUM_BENCH_FLOOR serves /bench/floor, the same stack
  answering without touching the database: the floor; /bench/floor-pk, the same stack answering
  from one prepared primary-key read on PostgreSQL: the second floor, the least a never-stale
  answer pays. The alias read is reported as a share of both.
- MLflow: `mlflow server` on the same PostgreSQL server with its own database, default
  configuration (uvicorn, 4 workers) and each --mlflow-workers setting; the best is "MLflow best".
- --also-uncached repeats Quorum's read workloads with QUORUM_SERVING_CACHE=false, so the cost of a
  read that goes to the database every time is on record beside the cached one.
- The same data goes into both through the MLflow REST API; every figure is printed for each
  server with the ratio. Every load loop is bounded in count and time; traffic is loopback only.
"""

from __future__ import annotations

import argparse
import base64
import http.client
import json
import os
import shutil
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import threading
import time
import urllib.parse
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

REPO_ROOT = Path(__file__).resolve().parent.parent
PY = sys.executable
MLFLOW = str(Path(PY).with_name("mlflow"))
PG = "postgres://postgres@127.0.0.1:5432/"
BENCH_PASSWORD = "bench-Pa55word-not-secret"
API = "/api/2.0/mlflow/"


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def psql(sql: str, database: str = "postgres") -> None:
    subprocess.run(
        ["psql", "-h", "127.0.0.1", "-U", "postgres", "-d", database, "-qc", sql],
        check=True,
        capture_output=True,
    )


def database_analyze(name: str) -> None:
    """Planner statistics for the loaded data, as autovacuum would gather them in production.

    Machines of this kind run PostgreSQL with autovacuum off, so a freshly loaded database has
    none: grant and tag lookups then get plans for empty tables. Done for both servers' databases.
    """
    psql("ANALYZE", database=name)


def database_recreate(name: str) -> None:
    psql(f"DROP DATABASE IF EXISTS {name} WITH (FORCE)")
    psql(f"CREATE DATABASE {name}")


# --- HTTP -------------------------------------------------------------------------------------------


class Client:
    """One keep-alive connection; reconnects if the server closed it (gunicorn sync workers do)."""

    def __init__(self, port: int, headers: dict[str, str]) -> None:
        self.port = port
        self.headers = {"Content-Type": "application/json", **headers}
        self.conn = http.client.HTTPConnection("127.0.0.1", port, timeout=30)

    def call(self, method: str, path: str, params: dict | None = None, body: dict | None = None) -> Any:
        url = path + ("?" + urllib.parse.urlencode(params, doseq=True) if params else "")
        data = json.dumps(body) if body is not None else None
        for attempt in (1, 2):
            try:
                self.conn.request(method, url, body=data, headers=self.headers)
                response = self.conn.getresponse()
                payload = response.read()
                break
            except (http.client.RemoteDisconnected, ConnectionResetError, BrokenPipeError):
                self.conn.close()
                self.conn = http.client.HTTPConnection("127.0.0.1", self.port, timeout=30)
                if attempt == 2:
                    raise
        if response.status >= 300:
            raise RuntimeError(f"{method} {url} -> {response.status}: {payload[:300]!r}")
        return json.loads(payload) if payload else {}


@dataclass
class Server:
    label: str
    port: int
    headers: dict[str, str]
    processes: list[subprocess.Popen] = field(default_factory=list)
    floor: bool = False

    def client(self) -> Client:
        return Client(self.port, self.headers)

    def stop(self) -> None:
        for process in self.processes:
            if process.poll() is None:
                os.killpg(process.pid, signal.SIGTERM)
        for process in self.processes:
            try:
                process.wait(timeout=20)
            except subprocess.TimeoutExpired:
                os.killpg(process.pid, signal.SIGKILL)


def wait_http(port: int, path: str, seconds: float) -> None:
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        try:
            conn = http.client.HTTPConnection("127.0.0.1", port, timeout=2)
            conn.request("GET", path)
            if conn.getresponse().status < 500:
                return
        except OSError:
            pass
        time.sleep(0.3)
    raise RuntimeError(f"server on port {port} did not answer {path} within {seconds}s")


def spawn(args: list[str], env: dict[str, str], log: Path) -> subprocess.Popen:
    # Own process group, so stopping the server also stops its workers.
    return subprocess.Popen(
        args, cwd=REPO_ROOT, env=env, stdout=log.open("w"), stderr=subprocess.STDOUT, start_new_session=True
    )


# --- Quorum -------------------------------------------------------------------------------------


def quorum_env(db: str, redis_db: int, workdir: Path) -> dict[str, str]:
    env = dict(os.environ)
    env.update(
        DATABASE_URL=PG + db,
        CELERY_BROKER_URL=f"redis://127.0.0.1:6379/{redis_db}",
        QUORUM_CACHE_URL=f"redis://127.0.0.1:6379/{redis_db + 1}",
        DJANGO_DEBUG="false",
        DJANGO_SECRET_KEY="bench-" + "k" * 60,
        DJANGO_ALLOWED_HOSTS="127.0.0.1,localhost",
        DJANGO_SECURE_SSL_REDIRECT="false",
        DJANGO_SESSION_COOKIE_SECURE="false",
        DJANGO_CSRF_COOKIE_SECURE="false",
        QUORUM_VAR_DIR=str(workdir),
        QUORUM_ARTIFACT_ROOT=str(workdir / "artifacts"),
        QUORUM_BENCH_FLOOR="true",
        QUORUM_LOG_LEVEL="WARNING",
        PROMETHEUS_MULTIPROC_DIR=str(workdir / "metrics"),
    )
    (workdir / "metrics").mkdir(parents=True, exist_ok=True)
    for key in ("AWS_ENDPOINT_URL", "QUORUM_MLFLOW_TRACKING_URI"):
        env.pop(key, None)
    return env


BENCH_USER_SCRIPT = """
from accounts import services
from accounts.models import User
user = User.objects.filter(username="bench").first() or services.user_create(
    actor=services.OPERATOR, username="bench", password=%r, can_create_models=True)
print("TOKEN=" + services.token_create(actor=services.OPERATOR, user=user, name="bench-%d").secret)
"""


def quorum_start(args: argparse.Namespace, workdir: Path, *, serving_cache: bool = True) -> Server:
    env = quorum_env(args.quorum_db, args.redis_db, workdir)
    env["QUORUM_SERVING_CACHE"] = "true" if serving_cache else "false"
    if not args.no_load:
        database_recreate(args.quorum_db)
    subprocess.run(
        [PY, "manage.py", "migrate", "--noinput"], cwd=REPO_ROOT, env=env, check=True, capture_output=True
    )
    out = subprocess.run(
        [PY, "manage.py", "shell", "-c", BENCH_USER_SCRIPT % (BENCH_PASSWORD, time.time_ns())],
        cwd=REPO_ROOT,
        env=env,
        check=True,
        capture_output=True,
        text=True,
    ).stdout
    token = next(line[6:] for line in out.splitlines() if line.startswith("TOKEN="))
    subprocess.run(["redis-cli", "-n", str(args.redis_db), "FLUSHDB"], capture_output=True)
    subprocess.run(["redis-cli", "-n", str(args.redis_db + 1), "FLUSHDB"], capture_output=True)
    port = free_port()
    gunicorn = [PY, "-m", "gunicorn", "-c", "python:config.gunicorn", "config.wsgi:application"]
    gunicorn += ["--bind", f"127.0.0.1:{port}"]
    gunicorn += ["--workers", str(args.quorum_workers), "--worker-class", args.quorum_worker_class]
    if args.quorum_worker_class == "gthread":
        gunicorn += ["--threads", str(args.quorum_threads)]
    gunicorn += ["--keep-alive", "30", "--backlog", "2048"]
    process = spawn(gunicorn, env, workdir / "quorum.log")
    wait_http(port, "/healthz", 60)
    label = "Quorum" if serving_cache else "Quorum uncached"
    server = Server(label, port, {"Authorization": f"Bearer {token}"}, [process], floor=True)
    server.basic = "Basic " + base64.b64encode(f"bench:{BENCH_PASSWORD}".encode()).decode()  # type: ignore[attr-defined]
    return server


# --- MLflow -------------------------------------------------------------------------------------


def mlflow_start(workers: int | None, db: str, workdir: Path) -> Server:
    port = free_port()
    args = [MLFLOW, "server", "--backend-store-uri", PG.replace("postgres:", "postgresql+psycopg2:") + db]
    args += ["--default-artifact-root", str(workdir / "mlflow-artifacts"), "--host", "127.0.0.1"]
    args += ["--port", str(port)]
    if workers is not None:
        args += ["--workers", str(workers)]
    env = dict(os.environ, MLFLOW_DISABLE_TELEMETRY="true", DO_NOT_TRACK="true")
    label = "MLflow default" if workers is None else f"MLflow --workers {workers}"
    process = spawn(args, env, workdir / f"mlflow-{workers}.log")
    wait_http(port, "/health", 120)
    return Server(label, port, {}, [process])


# --- Data ---------------------------------------------------------------------------------------


def model_name(args: argparse.Namespace, i: int) -> str:
    return f"{args.model_prefix}{i:05d}"


def load(server: Server, args: argparse.Namespace) -> float:
    """Models, versions (2 tags each), a model tag and an alias per model; returns seconds."""
    started = time.monotonic()

    def load_models(indexes: range) -> None:
        client = server.client()
        for i in indexes:
            name = model_name(args, i)
            client.call("POST", API + "registered-models/create", body={"name": name})
            client.call(
                "POST",
                API + "registered-models/set-tag",
                body={"name": name, "key": "team", "value": f"t{i % 50}"},
            )
            for v in range(args.versions):
                tags = [{"key": "fold", "value": str(v % 10)}, {"key": "batch", "value": f"b{i % 20}"}]
                client.call(
                    "POST",
                    API + "model-versions/create",
                    body={"name": name, "source": f"s3://bench-models/{name}/{v}", "tags": tags},
                )
            client.call(
                "POST", API + "registered-models/alias", body={"name": name, "alias": "bench", "version": "1"}
            )

    run_parallel([range(k, args.models, 8) for k in range(8)], load_models)
    return time.monotonic() - started


def run_parallel(chunks: list, work: Callable) -> None:
    errors: list[BaseException] = []

    def guarded(chunk: Any) -> None:
        try:
            work(chunk)
        except BaseException as exc:  # reported after join
            errors.append(exc)

    threads = [threading.Thread(target=guarded, args=(chunk,)) for chunk in chunks]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    if errors:
        raise errors[0]


# --- Workloads ----------------------------------------------------------------------------------


def percentile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(q * len(ordered)))]


def timed(count: int, seconds: float, step: Callable[[int], None]) -> list[float]:
    latencies: list[float] = []
    deadline = time.monotonic() + seconds
    for i in range(count):
        if time.monotonic() > deadline:
            break
        t0 = time.perf_counter()
        step(i)
        latencies.append((time.perf_counter() - t0) * 1000)
    return latencies


def alias_names(args: argparse.Namespace) -> int:
    """How many models the alias workloads cycle through: the same set at every registry size."""
    return min(args.models, args.alias_names)


def alias_params(args: argparse.Namespace, i: int) -> dict[str, str]:
    return {"name": model_name(args, ((i % alias_names(args)) * 7919) % args.models), "alias": "bench"}


def seq_alias(server: Server, args: argparse.Namespace, headers: dict | None = None) -> dict[str, float]:
    client = Client(server.port, headers if headers is not None else server.headers)
    for i in range(alias_names(args)):  # warm-up: every name once
        client.call("GET", API + "registered-models/alias", alias_params(args, i))
    lat = timed(
        args.requests,
        60,
        lambda i: client.call("GET", API + "registered-models/alias", alias_params(args, i)),
    )
    return {"p50_ms": statistics.median(lat), "p99_ms": percentile(lat, 0.99), "n": len(lat)}


def seq_floor(server: Server, args: argparse.Namespace) -> dict[str, float]:
    client = server.client()
    lat = timed(args.requests, 60, lambda i: client.call("GET", "/bench/floor"))
    return {"p50_ms": statistics.median(lat), "p99_ms": percentile(lat, 0.99), "n": len(lat)}


def seq_resolve(server: Server, args: argparse.Namespace) -> dict[str, float]:
    """models:/name@alias as the mlflow client resolves it: alias, the version, its download URI."""
    client = server.client()

    def step(i: int) -> None:
        params = alias_params(args, i)
        version = client.call("GET", API + "registered-models/alias", params)["model_version"]["version"]
        client.call("GET", API + "model-versions/get", {"name": params["name"], "version": version})
        client.call(
            "GET", API + "model-versions/get-download-uri", {"name": params["name"], "version": version}
        )

    lat = timed(max(100, args.requests // 3), 60, step)
    return {"p50_ms": statistics.median(lat), "p99_ms": percentile(lat, 0.99), "n": len(lat)}


def concurrent_python(server: Server, args: argparse.Namespace, clients: int = 16) -> dict[str, float]:
    """16 keep-alive Python clients, each bounded by count and time; requests per second."""
    per_client = max(50, args.requests // 2)
    counts: list[int] = []
    lat_all: list[float] = []
    lock = threading.Lock()
    started = time.monotonic()

    def work(k: int) -> None:
        client = server.client()
        lat = timed(
            per_client,
            args.duration,
            lambda i: client.call("GET", API + "registered-models/alias", alias_params(args, i * 31 + k)),
        )
        with lock:
            counts.append(len(lat))
            lat_all.extend(lat)

    run_parallel(list(range(clients)), work)
    elapsed = time.monotonic() - started
    return {
        "rps": sum(counts) / elapsed,
        "p50_ms": statistics.median(lat_all),
        "p99_ms": percentile(lat_all, 0.99),
    }


WRK_LUA = """
local names = {%s}
local auth = %s
local i = 0
request = function()
  i = i + 1
  local name = names[(i %% #names) + 1]
  local headers = {}
  if auth ~= "" then headers["Authorization"] = auth end
  return wrk.format("GET", "%s" .. name .. "&alias=bench", headers)
end
"""


def concurrent_wrk(server: Server, args: argparse.Namespace, path: str | None = None) -> dict[str, float]:
    """wrk, 16 keep-alive connections on 2 threads, for --duration seconds."""
    if shutil.which("wrk") is None:
        return {}
    names = ",".join(f'"{alias_params(args, i)["name"]}"' for i in range(alias_names(args)))
    auth = json.dumps(server.headers.get("Authorization", ""))
    base = path or API + "registered-models/alias?name="
    with tempfile.NamedTemporaryFile("w", suffix=".lua", delete=False) as script:
        if path:
            script.write(f'request = function() return wrk.format("GET", "{path}", {{}}) end\n')
        else:
            script.write(WRK_LUA % (names, auth, base))

    def wrk(seconds: float) -> str:
        command = ["wrk", "-t2", "-c16", f"-d{int(seconds)}s", "--latency", "-s", script.name]
        command.append(f"http://127.0.0.1:{server.port}")
        return subprocess.run(command, capture_output=True, text=True, timeout=seconds + 30).stdout

    # Discarded: the same load first, so every worker process and thread has its connections,
    # prepared statements and caches, as a server that has been up for a while has (a
    # single-connection warm-up reaches only one process).
    if args.wrk_warmup > 0:
        wrk(args.wrk_warmup)
    # Each run opens new connections, and gunicorn's processes share them out unevenly and by
    # luck (seen: 15/3/1 or 7/10/2 of 16), which moves a single run's throughput by up to 2x.
    # The median of several runs is reported, with the spread.
    runs = [_wrk_figures(wrk(args.duration)) for _ in range(max(1, args.wrk_repeats))]
    os.unlink(script.name)
    result = {key: statistics.median(run[key] for run in runs) for key in runs[0]}
    if len(runs) > 1 and "rps" in result:
        result["rps_min"] = min(run["rps"] for run in runs)
        result["rps_max"] = max(run["rps"] for run in runs)
    return result


def _wrk_figures(out: str) -> dict[str, float]:
    result: dict[str, float] = {"non2xx": 0.0}
    for line in out.splitlines():
        parts = line.split()
        if line.startswith("Requests/sec:"):
            result["rps"] = float(parts[1])
        elif parts[:1] in (["50%"], ["99%"]):
            result[f"p{parts[0][:-1]}_ms"] = wrk_ms(parts[1])
        elif "Non-2xx" in line:
            result["non2xx"] = float(parts[-1])
    return result


def wrk_ms(text: str) -> float:
    for unit, factor in (("us", 0.001), ("ms", 1.0), ("s", 1000.0)):
        if text.endswith(unit):
            return float(text[: -len(unit)]) * factor
    return float(text)


def create_throughput(server: Server, args: argparse.Namespace, clients: int = 8) -> dict[str, float]:
    """Versions created per second by 8 clients, each into its own fresh model."""
    tag = f"ct{time.time_ns() % 10**9}"
    setup = server.client()
    for k in range(clients):
        setup.call("POST", API + "registered-models/create", body={"name": f"{tag}-{k}"})
    per_client = args.creates // clients
    done: list[int] = []
    started = time.monotonic()

    def work(k: int) -> None:
        client = server.client()
        lat = timed(
            per_client,
            args.duration * 2,
            lambda i: client.call(
                "POST",
                API + "model-versions/create",
                body={
                    "name": f"{tag}-{k}",
                    "source": f"s3://bench-models/{tag}-{k}/{i}",
                    "tags": [{"key": "k", "value": "v"}],
                },
            ),
        )
        done.append(len(lat))

    run_parallel(list(range(clients)), work)
    return {"per_s": sum(done) / (time.monotonic() - started), "n": sum(done)}


def set_alias_throughput(server: Server, args: argparse.Namespace, clients: int = 8) -> dict[str, float]:
    done: list[int] = []
    started = time.monotonic()

    def work(k: int) -> None:
        client = server.client()
        name = model_name(args, k % args.models)

        def step(i: int) -> None:
            body = {"name": name, "alias": f"moving{k}", "version": str(1 + i % min(args.versions, 5))}
            client.call("POST", API + "registered-models/alias", body=body)

        done.append(len(timed(args.creates // clients, args.duration * 2, step)))

    run_parallel(list(range(clients)), work)
    return {"per_s": sum(done) / (time.monotonic() - started), "n": sum(done)}


def searches(server: Server, args: argparse.Namespace) -> dict[str, float]:
    client = server.client()
    n = max(20, args.requests // 20)

    def p50(call: Callable[[int], Any]) -> float:
        for i in range(3):
            call(i)
        return statistics.median(timed(n, 30, call))

    figures = {
        "search_name_ms": p50(
            lambda i: client.call(
                "GET",
                API + "model-versions/search",
                {"filter": f"name='{model_name(args, i % args.models)}'", "max_results": 100},
            )
        ),
        "search_tag_ms": p50(
            lambda i: client.call(
                "GET",
                API + "model-versions/search",
                {"filter": f"name='{model_name(args, i % args.models)}' AND tags.fold='3'"},
            )
        ),
        "search_model_tag_ms": p50(
            lambda i: client.call(
                "GET",
                API + "registered-models/search",
                {"filter": f"tags.team='t{i % 50}'", "max_results": 100},
            )
        ),
        "search_like_ms": p50(
            lambda i: client.call(
                "GET",
                API + "registered-models/search",
                {"filter": f"name LIKE '{model_name(args, i % args.models)[:-1]}%'", "max_results": 100},
            )
        ),
        # The same two searches for a first page that is equally long at every registry size (a
        # model has 10 versions at 1k but 100 at 1M; a team tag 2 models but 200): what the
        # lookups cost as the registry grows, apart from how long the answer is.
        "search_name_first10_ms": p50(
            lambda i: client.call(
                "GET",
                API + "model-versions/search",
                {"filter": f"name='{model_name(args, i % args.models)}'", "max_results": 10},
            )
        ),
        "search_model_tag_first2_ms": p50(
            lambda i: client.call(
                "GET",
                API + "registered-models/search",
                {"filter": f"tags.team='t{i % 50}'", "max_results": 2},
            )
        ),
    }
    return figures


def paging(
    server: Server, args: argparse.Namespace, total: int = 10_000, page: int = 1000
) -> dict[str, float]:
    """Seconds to page through `total` versions (all models' versions, ordered by name), `page` per call."""
    client = server.client()
    started = time.monotonic()
    seen = 0
    token = None
    while seen < total and time.monotonic() - started < 120:
        params: dict[str, Any] = {"max_results": page, "order_by": ["name ASC", "version_number ASC"]}
        if token:
            params["page_token"] = token
        answer = client.call("GET", API + "model-versions/search", params)
        seen += len(answer.get("model_versions", []))
        token = answer.get("next_page_token")
        if not token:
            break
    return {"page_10k_s": time.monotonic() - started, "versions": seen}


# --- Report -------------------------------------------------------------------------------------


def report(results: dict[str, dict[str, dict[str, float]]]) -> None:
    labels = list(results)
    rows: list[tuple[str, str]] = []
    for label in labels:
        for workload, figures in results[label].items():
            for key in figures:
                if (workload, key) not in rows:
                    rows.append((workload, key))
    print()
    header = f"{'workload':<22}{'figure':<20}" + "".join(f"{label:>22}" for label in labels)
    others = [label for label in labels if label != "Quorum"]
    header += "".join(f"{'Quorum/' + label[:14]:>24}" for label in others)
    print(header)
    for workload, key in rows:
        values = [results[label].get(workload, {}).get(key) for label in labels]
        line = f"{workload:<22}{key:<20}" + "".join(
            f"{v:>22.2f}" if v is not None else f"{'-':>22}" for v in values
        )
        q = results.get("Quorum", {}).get(workload, {}).get(key)
        for label in others:
            o = results[label].get(workload, {}).get(key)
            line += f"{q / o:>24.2f}" if q and o else f"{'-':>24}"
        print(line)
    print()
    print(json.dumps(results, indent=1))


def run_workloads(server: Server, args: argparse.Namespace) -> dict[str, dict[str, float]]:
    if args.only:
        return run_selected(server, args, args.only.split(","))
    out: dict[str, dict[str, float]] = {}
    print(f"[{server.label}] alias sequential", flush=True)
    out["alias_seq"] = seq_alias(server, args)
    if hasattr(server, "basic"):
        out["alias_seq_basic"] = seq_alias(server, args, {"Authorization": server.basic})  # type: ignore[attr-defined]
    out["alias_16_python"] = concurrent_python(server, args)
    out["alias_16_wrk"] = concurrent_wrk(server, args)
    out["resolve_3_calls"] = seq_resolve(server, args)
    out.update(searches_grouped(server, args))
    if not args.read_only:
        out["paging"] = paging(server, args)
        out["create_version"] = create_throughput(server, args)
        out["set_alias"] = set_alias_throughput(server, args)
        # A moved alias must be served fresh: read it right after moving it.
        check_alias_fresh(server, args)
    if server.floor:
        out["floor_seq"] = seq_floor(server, args)
        out["floor_16_wrk"] = concurrent_wrk(server, args, path="/bench/floor")
        out["floor_pk_16_wrk"] = concurrent_wrk(server, args, path="/bench/floor-pk")
        out["alias_share_of_floors"] = floor_shares(out)
    return out


def floor_shares(out: dict[str, dict[str, float]]) -> dict[str, float]:
    """The cached alias read's throughput as a share of each floor (same server, same run)."""
    alias = out.get("alias_16_wrk", {}).get("rps")
    shares = {}
    for key, floor in (("of_floor", "floor_16_wrk"), ("of_pk_floor", "floor_pk_16_wrk")):
        rps = out.get(floor, {}).get("rps")
        if alias and rps:
            shares[key] = alias / rps
    return shares


def run_selected(server: Server, args: argparse.Namespace, names: list[str]) -> dict[str, dict[str, float]]:
    """Only the named workloads (--only), e.g. to compare server settings on one of them."""
    workloads: dict[str, Callable[[], dict[str, float]]] = {
        "alias_seq": lambda: seq_alias(server, args),
        "alias_16_python": lambda: concurrent_python(server, args),
        "alias_16_wrk": lambda: concurrent_wrk(server, args),
        "resolve_3_calls": lambda: seq_resolve(server, args),
        "create_version": lambda: create_throughput(server, args),
        "set_alias": lambda: set_alias_throughput(server, args),
        "floor_16_wrk": lambda: concurrent_wrk(server, args, path="/bench/floor") if server.floor else {},
        "floor_pk_16_wrk": lambda: (
            concurrent_wrk(server, args, path="/bench/floor-pk") if server.floor else {}
        ),
    }
    unknown = set(names) - set(workloads)
    if unknown:
        raise SystemExit(f"unknown workloads {sorted(unknown)}; choose from {sorted(workloads)}")
    # Warm up as the full run does before its concurrent runs: every name wrk asks for, once per thread.
    client = server.client()
    for _ in range(args.quorum_workers * args.quorum_threads if server.label.startswith("Quorum") else 4):
        for i in range(alias_names(args)):
            client.call("GET", API + "registered-models/alias", alias_params(args, i))
    return {name: workloads[name]() for name in names}


def searches_grouped(server: Server, args: argparse.Namespace) -> dict[str, dict[str, float]]:
    return {"search": searches(server, args)}


def check_alias_fresh(server: Server, args: argparse.Namespace) -> None:
    client = server.client()
    name = model_name(args, 0)
    for version in ("2", "1", "2", "1"):
        client.call(
            "POST", API + "registered-models/alias", body={"name": name, "alias": "fresh", "version": version}
        )
        got = client.call("GET", API + "registered-models/alias", {"name": name, "alias": "fresh"})
        assert got["model_version"]["version"] == version, f"{server.label} served a stale alias"


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--models", type=int, default=100)
    parser.add_argument("--versions", type=int, default=10, help="versions per model")
    parser.add_argument("--model-prefix", default="bench-m")
    parser.add_argument(
        "--alias-names",
        type=int,
        default=500,
        help="alias reads cycle through this many models (fewer if there are fewer), at any registry size",
    )
    parser.add_argument("--requests", type=int, default=2000, help="sequential requests per figure")
    parser.add_argument(
        "--creates", type=int, default=800, help="versions created / aliases set per throughput run"
    )
    parser.add_argument("--duration", type=float, default=10, help="seconds per concurrent run")
    parser.add_argument(
        "--wrk-warmup", type=float, default=3, help="seconds of discarded wrk load before each wrk figure"
    )
    parser.add_argument(
        "--wrk-repeats",
        type=int,
        default=3,
        help="wrk runs per figure (median reported, with the rps spread)",
    )
    parser.add_argument("--quorum-db", default="quorum_bench_perf")
    parser.add_argument("--mlflow-db", default="mlflow_bench_perf")
    parser.add_argument("--redis-db", type=int, default=12)
    parser.add_argument("--quorum-workers", type=int, default=3)
    parser.add_argument("--quorum-worker-class", default="gthread", choices=["sync", "gthread"])
    parser.add_argument("--quorum-threads", type=int, default=8)
    parser.add_argument(
        "--mlflow-workers", default="default,2", help="comma list; 'default' = no --workers flag"
    )
    parser.add_argument("--quorum-only", action="store_true")
    parser.add_argument("--no-load", action="store_true", help="use the data already in --quorum-db")
    parser.add_argument("--read-only", action="store_true", help="skip create/set-alias/paging workloads")
    parser.add_argument("--only", default="", help="comma list of workloads to run (default: all)")
    parser.add_argument(
        "--also-uncached",
        action="store_true",
        help="also run the read workloads with QUORUM_SERVING_CACHE=false (label 'Quorum uncached')",
    )
    args = parser.parse_args()

    workdir = Path(tempfile.mkdtemp(prefix="quorum-bench-"))
    results: dict[str, dict[str, dict[str, float]]] = {}
    servers: list[Server] = []
    try:
        quorum = quorum_start(args, workdir)
        servers.append(quorum)
        if not args.no_load:
            print(f"loading Quorum: {args.models} models x {args.versions} versions", flush=True)
            results.setdefault("Quorum", {})["load"] = {"s": load(quorum, args)}
            database_analyze(args.quorum_db)
        results.setdefault("Quorum", {}).update(run_workloads(quorum, args))
        quorum.stop()
        servers.remove(quorum)
        if args.also_uncached:
            # The same server with the serving cache off: what every read costs when it reads the database.
            uncached_args = argparse.Namespace(**{**vars(args), "no_load": True, "read_only": True})
            uncached = quorum_start(uncached_args, workdir, serving_cache=False)
            servers.append(uncached)
            results[uncached.label] = run_workloads(uncached, uncached_args)
            uncached.stop()
            servers.remove(uncached)
        if not args.quorum_only:
            first = True
            for setting in args.mlflow_workers.split(","):
                if first:
                    database_recreate(args.mlflow_db)
                workers = None if setting == "default" else int(setting)
                mlflow = mlflow_start(workers, args.mlflow_db, workdir)
                servers.append(mlflow)
                if first:
                    print(f"loading MLflow: {args.models} models x {args.versions} versions", flush=True)
                    results.setdefault(mlflow.label, {})["load"] = {"s": load(mlflow, args)}
                    database_analyze(args.mlflow_db)
                    first = False
                results.setdefault(mlflow.label, {}).update(run_workloads(mlflow, args))
                mlflow.stop()
                servers.remove(mlflow)
    finally:
        for server in servers:
            server.stop()
        print(f"logs in {workdir}")
    report(results)


if __name__ == "__main__":
    main()
