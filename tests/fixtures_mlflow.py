"""Fixtures for the MLflow-compatibility tests: API tokens, an MLflow-speaking HTTP caller, client env."""

import base64
import json
import os
import secrets
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
import requests
from django.test import Client

from accounts.models import ApiToken, token_digest


def api_token_for(user, name: str | None = None) -> str:
    """Create an API token for `user` and return its secret."""
    secret = "qrm_" + secrets.token_urlsafe(24)
    name = name or f"mlflow-tests-{secret[4:12]}"
    ApiToken.objects.create(user=user, name=name, prefix=secret[:8], digest=token_digest(secret))
    return secret


@dataclass
class MlflowCaller:
    """Calls /api/2.0/mlflow/<endpoint> the way the mlflow client does (query string for GET, JSON body else)."""

    client: Client
    headers: dict[str, str]
    prefix: str = "/api/2.0/mlflow/"

    def call(self, method: str, endpoint: str, params: dict[str, Any] | None = None, **extra: Any):
        url = endpoint if endpoint.startswith("/") else self.prefix + endpoint
        params = params or {}
        if method == "GET":
            return self.client.get(url, params, headers=self.headers, **extra)
        body = json.dumps(params)
        sender = getattr(self.client, method.lower())
        return sender(url, body, content_type="application/json", headers=self.headers, **extra)

    def get(self, endpoint: str, params: dict[str, Any] | None = None):
        return self.call("GET", endpoint, params)

    def post(self, endpoint: str, params: dict[str, Any] | None = None):
        return self.call("POST", endpoint, params)

    def patch(self, endpoint: str, params: dict[str, Any] | None = None):
        return self.call("PATCH", endpoint, params)

    def delete(self, endpoint: str, params: dict[str, Any] | None = None):
        return self.call("DELETE", endpoint, params)


def basic_header(username: str, password: str) -> str:
    return "Basic " + base64.b64encode(f"{username}:{password}".encode()).decode()


@pytest.fixture
def mlflow_as(db) -> Callable[..., MlflowCaller]:
    """mlflow_as(user) -> a caller authenticated with a Bearer token of `user` (None: anonymous)."""

    def build(user=None, *, prefix: str = "/api/2.0/mlflow/") -> MlflowCaller:
        headers = {} if user is None else {"Authorization": f"Bearer {api_token_for(user)}"}
        return MlflowCaller(Client(enforce_csrf_checks=True), headers, prefix)

    return build


MLFLOW_ENV = (
    "MLFLOW_TRACKING_URI",
    "MLFLOW_REGISTRY_URI",
    "MLFLOW_TRACKING_USERNAME",
    "MLFLOW_TRACKING_PASSWORD",
    "MLFLOW_TRACKING_TOKEN",
    "MLFLOW_HTTP_REQUEST_MAX_RETRIES",
    "MLFLOW_HTTP_REQUEST_TIMEOUT",
)


@pytest.fixture
def mlflow_env() -> Iterator[Callable[..., None]]:
    """mlflow_env(**vars) sets the mlflow client's environment for one test and restores it after."""
    import mlflow

    saved = {name: os.environ.get(name) for name in MLFLOW_ENV}

    def apply(**values: str) -> None:
        for name in MLFLOW_ENV:
            os.environ.pop(name, None)
        # Errors must surface at once, not after the client's retry back-off.
        os.environ["MLFLOW_HTTP_REQUEST_MAX_RETRIES"] = "0"
        os.environ["MLFLOW_HTTP_REQUEST_TIMEOUT"] = "30"
        for name, value in values.items():
            os.environ[name] = value
        mlflow.set_tracking_uri(values.get("MLFLOW_TRACKING_URI"))
        mlflow.set_registry_uri(values.get("MLFLOW_REGISTRY_URI"))

    yield apply
    for name, value in saved.items():
        if value is None:
            os.environ.pop(name, None)
        else:
            os.environ[name] = value
    mlflow.set_tracking_uri(None)
    mlflow.set_registry_uri(None)


@pytest.fixture
def fast_passwords(settings) -> None:
    """A cheap password hasher: the cast's six PBKDF2 hashes otherwise dominate these tests' setup."""
    settings.PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]


@pytest.fixture
def ungoverned(db) -> None:
    """Organisation defaults that explicitly open the embedded governed targets, so the MLflow tests
    can move stages and aliases directly (the governed path has its own tests)."""
    from registry.models import Stage
    from workflows.models import PromotionPolicy, TargetKind

    for kind, target in (
        (TargetKind.STAGE, Stage.PRODUCTION.value),
        (TargetKind.STAGE, Stage.STAGING.value),
        (TargetKind.ALIAS, "champion"),
    ):
        PromotionPolicy.objects.create(model=None, target_kind=kind, target=target, governed=False)


@pytest.fixture
def celery_in_process() -> Iterator[None]:
    """Run tasks in-process even when CI configures a broker: a version must become READY before the
    mlflow client's create_model_version returns, or the client polls for five minutes."""
    from config.celery import app

    before = app.conf.task_always_eager
    app.conf.task_always_eager = True
    yield
    app.conf.task_always_eager = before


@pytest.fixture
def artifact_root(tmp_path, settings):
    """A fresh artifact folder that Quorum may read local sources from."""
    root = tmp_path / "artifacts"
    root.mkdir()
    settings.QUORUM_ARTIFACT_ROOT = root
    settings.QUORUM_ALLOWED_LOCAL_ROOTS = [root]
    # Opened organisation-wide as well: the tests using this folder are about validation, copies and
    # the proxy, not about where a model may register from (tests/artifacts/test_sources_scoped.py).
    settings.QUORUM_SOURCE_PREFIXES = [*settings.QUORUM_SOURCE_PREFIXES, str(root)]
    return root


@pytest.fixture(scope="session")
def sklearn_model_dir(tmp_path_factory):
    """A small fitted scikit-learn model saved in MLflow format (y = 2x + 1), built once per session."""
    import mlflow.sklearn
    import numpy as np
    from sklearn.linear_model import LinearRegression

    x = np.arange(10, dtype=float).reshape(-1, 1)
    model = LinearRegression().fit(x, 2 * x.ravel() + 1)
    path = tmp_path_factory.mktemp("sklearn") / "model"
    # Explicit requirements: inferring them starts a subprocess that costs seconds.
    mlflow.sklearn.save_model(model, str(path), pip_requirements=["scikit-learn"])
    return path


def copy_model(source, destination) -> str:
    """Copy a saved model folder to `destination` and return its absolute path."""
    import shutil

    shutil.copytree(source, destination)
    return str(destination)


@contextmanager
def mlflow_server_running(home: Path, *, env: dict[str, str] | None = None) -> Iterator[str]:
    """`mlflow server` on a free loopback port with its own SQLite store; yields its URL.

    `env` is added to this process's environment (MLflow's own switches, e.g. its webhook schemes).
    """
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    command = [
        sys.executable, "-m", "mlflow", "server",
        "--host", "127.0.0.1", "--port", str(port), "--workers", "1",
        "--backend-store-uri", f"sqlite:///{home / 'mlflow.db'}",
        "--artifacts-destination", str(home / "mlartifacts"),
    ]  # fmt: skip
    log_path = home / "server.log"
    with log_path.open("wb") as log:
        # Its own process group: `mlflow server` starts uvicorn and a job runner that must go with it.
        process = subprocess.Popen(
            command,
            cwd=home,
            stdout=log,
            stderr=subprocess.STDOUT,
            start_new_session=True,
            env=os.environ | (env or {}),
        )
    url = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + 600  # a loaded CI machine
    try:
        while True:
            if process.poll() is not None:
                pytest.fail(f"mlflow server exited early:\n{log_path.read_text()[-3000:]}")
            try:
                if requests.get(f"{url}/health", timeout=2).status_code == 200:
                    break
            except requests.RequestException:
                pass
            if time.monotonic() > deadline:
                pytest.fail(f"mlflow server did not start:\n{log_path.read_text()[-3000:]}")
            time.sleep(0.5)
        yield url
    finally:
        os.killpg(process.pid, signal.SIGTERM)
        try:
            process.wait(timeout=20)
        except subprocess.TimeoutExpired:
            os.killpg(process.pid, signal.SIGKILL)


@pytest.fixture(scope="session")
def mlflow_tracking_server(tmp_path_factory) -> Iterator[str]:
    """`mlflow server` (of the installed client's version) with its own SQLite store and proxied
    artifact folder, once per session: it takes seconds to start."""
    with mlflow_server_running(tmp_path_factory.mktemp("mlflow-server")) as url:
        yield url


def sklearn_logged_and_registered(
    tracking_server: str, registry_url: str, mlflow_env, settings, *, experiment: str, name: str
):
    """As a data scientist does: log a small scikit-learn model on the tracking server and register it
    (with the mlflow client, as 'owner') in Quorum at `registry_url`; returns (run, model info)."""
    import mlflow
    import mlflow.sklearn
    import numpy as np
    from sklearn.linear_model import LinearRegression

    settings.QUORUM_MLFLOW_TRACKING_URI = tracking_server
    mlflow_env(
        MLFLOW_TRACKING_URI=tracking_server,
        MLFLOW_REGISTRY_URI=registry_url,
        MLFLOW_TRACKING_USERNAME="owner",
        MLFLOW_TRACKING_PASSWORD="owner-pw-123!",
    )
    mlflow.set_experiment(experiment)
    x = np.arange(8, dtype=float).reshape(-1, 1)
    with mlflow.start_run() as run:
        info = mlflow.sklearn.log_model(
            LinearRegression().fit(x, 3 * x.ravel()),
            name="model",
            registered_model_name=name,
            pip_requirements=["scikit-learn"],
        )
    return run, info
