"""End to end through scripts/prodlike: gunicorn, a Celery worker and beat on PostgreSQL, Redis and
a moto S3 server, driven like a team would drive it.

A version is registered with the real mlflow client from S3, two approvers approve a champion
promotion, the worker proves and copies the artifacts to the governed bucket, the client loads the
model through models:/…@champion, and the audit chain verifies.

The same test runs against a deployment started elsewhere (scripts/container-smoke: the image, and the
compose stack): QUORUM_SMOKE_URL is its address, QUORUM_SMOKE_EXEC the command that runs a program
inside its web container (management commands run there), QUORUM_SMOKE_S3_URL its S3 as seen from
here, with AWS_ACCESS_KEY_ID / AWS_SECRET_ACCESS_KEY / AWS_DEFAULT_REGION.
"""

import json
import os
import shlex
import shutil
import socket
import subprocess
import sys
import time
import uuid
from pathlib import Path

import boto3
import numpy as np
import pytest
import requests

ROOT = Path(__file__).resolve().parents[2]
pytestmark = pytest.mark.slow


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def _services_or_skip() -> None:
    missing = []
    if shutil.which("psql") is None or subprocess.run(["pg_isready", "-h", "127.0.0.1", "-q"]).returncode:
        missing.append("PostgreSQL on 127.0.0.1:5432")
    try:
        socket.create_connection(("127.0.0.1", 6379), timeout=1).close()
    except OSError:
        missing.append("Redis on 127.0.0.1:6379")
    if missing:
        if os.environ.get("CI"):
            pytest.fail(f"CI must run the production-like smoke test; missing: {', '.join(missing)}")
        pytest.skip(f"needs {', '.join(missing)}")


def _started_elsewhere() -> dict | None:
    url = os.environ.get("QUORUM_SMOKE_URL")
    if not url:
        return None
    env = {
        **os.environ,
        "AWS_ENDPOINT_URL": os.environ["QUORUM_SMOKE_S3_URL"],
        "AWS_DEFAULT_REGION": os.environ.get("AWS_DEFAULT_REGION", "us-east-1"),
    }
    return {"url": url.rstrip("/"), "env": env, "exec": shlex.split(os.environ["QUORUM_SMOKE_EXEC"])}


@pytest.fixture(scope="module")
def prodlike(tmp_path_factory):
    target = _started_elsewhere()
    if target is not None:
        yield target
        return
    _services_or_skip()
    state = tmp_path_factory.mktemp("prodlike")
    # A database of this run's own: another run on the same PostgreSQL must not drop it mid-test.
    database = f"quorum_prodlike_{uuid.uuid4().hex[:12]}"
    env = {
        **{k: v for k, v in os.environ.items() if not k.startswith(("DJANGO_", "QUORUM_", "DATABASE_URL"))},
        "QUORUM_PYTHON": sys.executable,
        "PRODLIKE_DIR": str(state),
        "PRODLIKE_PORT": str(_free_port()),
        "PRODLIKE_S3_PORT": str(_free_port()),
        "PRODLIKE_DB": database,
        "PRODLIKE_REDIS_DB": "11",
    }
    script = str(ROOT / "scripts" / "prodlike")
    started = subprocess.run([script, "up"], env=env, capture_output=True, text=True, timeout=240)
    try:
        assert started.returncode == 0, started.stdout + started.stderr
        service_env = dict(env)
        for line in subprocess.run(
            [script, "env"], env=env, capture_output=True, text=True, check=True
        ).stdout.splitlines():
            key, _, value = line.removeprefix("export ").partition("=")
            service_env[key] = value
        yield {"url": f"http://127.0.0.1:{env['PRODLIKE_PORT']}", "env": service_env, "exec": None}
    finally:
        stopped = subprocess.run([script, "down"], env=env, capture_output=True, text=True, timeout=120)
        subprocess.run(
            [
                "psql",
                "-h",
                "127.0.0.1",
                "-U",
                "postgres",
                "-qc",
                f"DROP DATABASE IF EXISTS {database} WITH (FORCE)",
            ],
            check=True,
            capture_output=True,
        )
        assert stopped.returncode == 0, stopped.stderr
        for name in ("web", "worker", "beat", "s3"):
            assert not (state / f"{name}.pid").exists()


def _run(prodlike, *command: str) -> str:
    """A program where the service runs: inside its container, or here with its environment."""
    inside = prodlike["exec"]
    result = subprocess.run(
        [*inside, *command] if inside else command,
        cwd=ROOT,
        env=prodlike["env"],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert result.returncode == 0, result.stdout + result.stderr
    return result.stdout


def _manage(prodlike, *args: str) -> str:
    return _run(prodlike, "python" if prodlike["exec"] else sys.executable, "manage.py", *args)


def test_migrated_healthy_ready_and_serving_static_files(prodlike):
    _manage(prodlike, "migrate", "--check")  # exits non-zero while a migration is unapplied
    assert requests.get(prodlike["url"] + "/healthz", timeout=10).status_code == 200
    ready = requests.get(prodlike["url"] + "/readyz", timeout=10)
    assert ready.status_code == 200, ready.text
    # Collected at build time (or by prodlike up) and served by whitenoise with DEBUG off.
    css = requests.get(prodlike["url"] + "/static/admin/css/base.css", timeout=10)
    assert css.status_code == 200
    assert "text/css" in css.headers["Content-Type"]


def test_the_server_process_is_not_root(prodlike):
    if not prodlike["exec"]:
        pytest.skip("scripts/prodlike runs as whoever starts it; the image's user is checked in a container")
    # PID 1 is the server itself (gunicorn or celery), not the exec'd shell.
    status = _run(prodlike, "cat", "/proc/1/status")
    uids = next(line.split()[1:] for line in status.splitlines() if line.startswith("Uid:"))
    assert "0" not in uids, status
    assert _run(prodlike, "id", "-u").strip() != "0"  # and the image's default user


def _api(prodlike, token: str, method: str, path: str, body: dict | None = None) -> dict:
    response = requests.request(
        method, prodlike["url"] + path, json=body, headers={"Authorization": f"Bearer {token}"}, timeout=30
    )
    assert response.status_code < 300, (method, path, response.status_code, response.text)
    return response.json()


def test_register_approve_copy_load_and_verify(prodlike, sklearn_model_dir, mlflow_env):
    import mlflow.pyfunc
    from mlflow import MlflowClient

    tokens = {}
    _manage(prodlike, "create_user", "owner", "--no-password", "--can-create-models")
    passwords = {}
    for approver, name in (("risk-alice", "Alice Risk"), ("risk-bob", "Bob Risk")):
        printed = _manage(prodlike, "create_user", approver, "--full-name", name, "--one-time-password")
        passwords[approver] = printed.strip().rsplit(": ", 1)[1]
    for user in ("owner", "risk-alice", "risk-bob"):
        tokens[user] = _manage(prodlike, "create_token", "--user", user, "--name", "smoke").strip()

    # The model's files live in S3, as a training pipeline would leave them.
    env = prodlike["env"]
    s3 = boto3.client(
        "s3",
        endpoint_url=env["AWS_ENDPOINT_URL"],
        aws_access_key_id=env["AWS_ACCESS_KEY_ID"],
        aws_secret_access_key=env["AWS_SECRET_ACCESS_KEY"],
        region_name=env["AWS_DEFAULT_REGION"],
    )
    for path in Path(sklearn_model_dir).rglob("*"):
        if path.is_file():
            s3.upload_file(
                str(path), "mlflow-artifacts", f"smoke/model/{path.relative_to(sklearn_model_dir)}"
            )

    mlflow_env(
        MLFLOW_TRACKING_URI=prodlike["url"],
        MLFLOW_REGISTRY_URI=prodlike["url"],
        MLFLOW_TRACKING_TOKEN=tokens["owner"],
        MLFLOW_S3_ENDPOINT_URL=env["AWS_ENDPOINT_URL"],
        AWS_ENDPOINT_URL=env["AWS_ENDPOINT_URL"],
        AWS_ACCESS_KEY_ID=env["AWS_ACCESS_KEY_ID"],
        AWS_SECRET_ACCESS_KEY=env["AWS_SECRET_ACCESS_KEY"],
        AWS_DEFAULT_REGION=env["AWS_DEFAULT_REGION"],
    )
    client = MlflowClient()
    client.create_registered_model("smoke")
    # The worker validates it; the client polls until READY, as it does against any server.
    version = client.create_model_version("smoke", source="s3://mlflow-artifacts/smoke/model", run_id="r1")
    assert client.get_model_version("smoke", version.version).status == "READY"

    for approver in ("risk-alice", "risk-bob"):
        _manage(prodlike, "grant", "--user", approver, "--model", "smoke", "--level", "READ")
        _manage(prodlike, "grant", "--user", approver, "--model", "smoke", "--level", "APPROVE_PRODUCTION")

    # champion is governed: a direct set is refused, a request is the way.
    with pytest.raises(Exception, match="PERMISSION_DENIED"):
        client.set_registered_model_alias("smoke", "champion", version.version)
    request = _api(
        prodlike,
        tokens["owner"],
        "POST",
        "/api/v1/models/smoke/requests",
        {"version": 1, "alias": "champion", "reason": "smoke test: first champion"},
    )
    for approver in ("risk-alice", "risk-bob"):
        # @champion's approvals are electronic signatures: the approver's password again, and a meaning.
        signature = {"password": passwords[approver], "meaning": "Approved for production"}
        _api(
            prodlike,
            tokens[approver],
            "POST",
            f"/api/v1/requests/{request['id']}/approve",
            {"comment": "ok", "signature": signature},
        )

    deadline = time.monotonic() + 120
    while True:
        state = _api(prodlike, tokens["owner"], "GET", f"/api/v1/requests/{request['id']}")["state"]
        if state in ("applied", "failed") or time.monotonic() > deadline:
            break
        time.sleep(1)
    assert state == "applied"

    download_uri = client.get_model_version_download_uri("smoke", "1")
    assert download_uri.startswith("s3://governed-models/smoke/1")
    governed = {o["Key"] for o in s3.list_objects_v2(Bucket="governed-models", Prefix="smoke/1/")["Contents"]}
    assert "smoke/1/MLmodel" in governed

    model = mlflow.pyfunc.load_model("models:/smoke@champion")
    predictions = model.predict(np.array([[0.0], [3.0]]))
    assert np.allclose(predictions, [1.0, 7.0])  # the model is y = 2x + 1

    verified = _manage(prodlike, "audit_verify")
    assert "ok" in verified.lower() or "verified" in verified.lower(), verified
    events = json.loads(
        json.dumps(_api(prodlike, tokens["owner"], "GET", "/api/v1/audit/events?model=smoke&limit=200"))
    )
    actions = {event["action"] for event in events["results"]}
    assert {
        "model_version.created",
        "request.approved",
        "request.applied",
        "alias.set",
        "artifacts.copied",
    } <= actions
