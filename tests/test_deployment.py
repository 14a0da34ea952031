"""Production settings, body limits, login throttling, metrics and logs."""

import base64
import json
import logging
import os
import secrets
import subprocess
import sys
from pathlib import Path

import pytest
from django.core.cache import cache
from django.test import Client

ROOT = Path(__file__).resolve().parent.parent


def _manage(args: list[str], env_extra: dict[str, str], tmp_path: Path) -> subprocess.CompletedProcess:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("DJANGO_", "QUORUM_"))}
    env.update({"QUORUM_VAR_DIR": str(tmp_path), "DJANGO_SETTINGS_MODULE": "config.settings", **env_extra})
    return subprocess.run(
        [sys.executable, "manage.py", *args], cwd=ROOT, env=env, capture_output=True, text=True, timeout=120
    )


def test_debug_on_a_public_host_refuses_to_start(tmp_path):
    result = _manage(
        ["check"], {"DJANGO_DEBUG": "true", "DJANGO_ALLOWED_HOSTS": "registry.example.com"}, tmp_path
    )
    assert result.returncode != 0
    assert "refusing to start" in result.stderr


def test_production_settings_pass_check_deploy(tmp_path):
    result = _manage(
        ["check", "--deploy", "--fail-level", "WARNING"],
        {
            "DJANGO_DEBUG": "false",
            "DJANGO_SECRET_KEY": secrets.token_urlsafe(50),
            "DJANGO_ALLOWED_HOSTS": "registry.example.com",
        },
        tmp_path,
    )
    assert result.returncode == 0, result.stdout + result.stderr


@pytest.mark.django_db
def test_oversized_bodies_get_413_in_each_api_format(settings, cast, client_for):
    settings.QUORUM_MAX_BODY_BYTES = 1000
    client = Client()
    client.force_login(cast.owner)
    big = json.dumps({"name": "m", "description": "x" * 2000})
    native = client.post("/api/v1/models", big, content_type="application/json")
    assert native.status_code == 413
    assert native.json()["error_code"] == "REQUEST_TOO_LARGE"
    mlflow_route = client.post(
        "/api/2.0/mlflow/registered-models/create", big, content_type="application/json"
    )
    assert mlflow_route.status_code == 413
    assert mlflow_route.json()["error_code"] == "REQUEST_LIMIT_EXCEEDED"
    from registry.models import RegisteredModel

    assert not RegisteredModel.objects.exists()


@pytest.mark.django_db
def test_repeated_wrong_passwords_lock_the_account_for_basic_auth(cast, settings):
    cache.clear()
    settings.QUORUM_LOGIN_MAX_FAILURES = 3
    client = Client()

    def basic(password: str) -> int:
        token = base64.b64encode(f"owner:{password}".encode()).decode()
        return client.get("/api/v1/models", HTTP_AUTHORIZATION=f"Basic {token}").status_code

    assert basic("owner-pw-123!") == 200
    for _ in range(3):
        assert basic("wrong") == 401
    # Locked: even the right password is refused until the lockout passes.
    assert basic("owner-pw-123!") == 401
    cache.clear()
    assert basic("owner-pw-123!") == 200


@pytest.mark.django_db
def test_metrics_need_the_configured_token(settings, client):
    settings.QUORUM_METRICS_TOKEN = ""
    assert client.get("/metrics").status_code == 404
    settings.QUORUM_METRICS_TOKEN = "s3cret-metrics"
    assert client.get("/metrics").status_code == 401
    assert client.get("/metrics", HTTP_AUTHORIZATION="Bearer nope").status_code == 401
    client.get("/healthz")
    response = client.get("/metrics", HTTP_AUTHORIZATION="Bearer s3cret-metrics")
    assert response.status_code == 200
    text = response.content.decode()
    assert 'quorum_http_requests_total{method="GET",route="healthz",status="200"}' in text
    assert "quorum_model_versions" in text


def test_log_records_carry_the_request_id():
    from audit.context import RequestContext, current_request
    from config.logging import RequestContextFilter

    record = logging.LogRecord("x", logging.INFO, __file__, 1, "hello", None, None)
    token = current_request.set(RequestContext(request_id="req-123"))
    try:
        RequestContextFilter().filter(record)
    finally:
        current_request.reset(token)
    assert record.request_id == "req-123"


def _compose_command() -> list[str] | None:
    import shutil

    if shutil.which("docker-compose"):
        return ["docker-compose"]
    probe = (
        subprocess.run(["docker", "compose", "version"], capture_output=True)
        if shutil.which("docker")
        else None
    )
    return ["docker", "compose"] if probe is not None and probe.returncode == 0 else None


def test_compose_file_validates():
    command = _compose_command()
    if command is None:
        if os.environ.get("CI"):
            pytest.fail("CI must validate docker-compose.yml: install docker-compose (.ci/run does)")
        pytest.skip("no docker compose client on this machine")
    env = {
        **os.environ,
        "DJANGO_SECRET_KEY": "x" * 50,
        "QUORUM_AUDIT_HMAC_KEY": "k",
        "QUORUM_AUDIT_SIGNING_KEY": "MC4CAQAwBQYDK2VwBCIEIFQKYwnxKgKeYKxbfNAt40X62W4s+LsRfRryduvfCfN2",
        "QUORUM_ADMIN_PASSWORD": "a-long-admin-password",
    }
    result = subprocess.run([*command, "config", "-q"], cwd=ROOT, env=env, capture_output=True, text=True)
    assert result.returncode == 0, result.stderr
    # One signing key for every container is required: without it each signs with a key of its own.
    unsigned = {k: v for k, v in env.items() if k != "QUORUM_AUDIT_SIGNING_KEY"}
    refused = subprocess.run(
        [*command, "config", "-q"], cwd=ROOT, env=unsigned, capture_output=True, text=True
    )
    assert refused.returncode != 0
    assert "QUORUM_AUDIT_SIGNING_KEY" in refused.stderr
    services = subprocess.run(
        [*command, "config", "--services"], cwd=ROOT, env=env, capture_output=True, text=True
    ).stdout.split()
    assert {"postgres", "redis", "minio", "minio-buckets", "web", "worker", "beat"} <= set(services)


@pytest.mark.django_db
def test_ensure_admin_creates_then_updates_the_admin(monkeypatch):
    from django.core.management import CommandError, call_command

    from accounts.models import User

    monkeypatch.setenv("QUORUM_ADMIN_USERNAME", "root-admin")
    monkeypatch.setenv("QUORUM_ADMIN_PASSWORD", "short")
    with pytest.raises(CommandError):
        call_command("ensure_admin")
    monkeypatch.setenv("QUORUM_ADMIN_PASSWORD", "first-long-password")
    call_command("ensure_admin")
    assert User.objects.get(username="root-admin").check_password("first-long-password")
    monkeypatch.setenv("QUORUM_ADMIN_PASSWORD", "second-long-password")
    call_command("ensure_admin")
    admin = User.objects.get(username="root-admin")
    assert admin.is_superuser and admin.check_password("second-long-password")


def test_static_files_are_served_without_debug(client):
    # pytest-django runs with DEBUG off, as production does; whitenoise serves the admin's CSS.
    response = client.get("/static/admin/css/base.css")
    assert response.status_code == 200
    assert b"".join(response.streaming_content if response.streaming else [response.content])


def test_every_production_start_uses_the_shared_gunicorn_settings():
    """Image, prodlike script and benchmark start the same threaded gunicorn (keep-alive clients)."""
    from config import gunicorn

    assert (gunicorn.worker_class, gunicorn.keepalive, gunicorn.reuse_port) == ("gthread", 30, True)
    assert gunicorn.workers >= 1 and gunicorn.threads >= 2
    for starter in ("Dockerfile", "scripts/prodlike", "bench/registry_vs_mlflow.py"):
        assert "python:config.gunicorn" in (ROOT / starter).read_text(), starter


def test_the_image_copies_every_package_the_project_installs():
    # The image once copied four of the ten app packages and could not start.
    import re
    import tomllib

    include = tomllib.loads((ROOT / "pyproject.toml").read_text())["tool"]["setuptools"]["packages"]["find"][
        "include"
    ]
    packages = {pattern.rstrip("*") for pattern in include}
    copied = set(re.findall(r"^COPY (\w+) \./\1$", (ROOT / "Dockerfile").read_text(), re.MULTILINE))
    assert packages == copied - {"templates"}  # besides the packages: the project's template overrides
    assert "templates" in copied


def test_compose_health_checks_are_strings():
    # podman-compose 1.0.3 (CI, scripts/container-smoke) mis-quotes list-form checks; a string is
    # CMD-SHELL, which Docker Compose runs the same way.
    import re

    checks = re.findall(r"^\s+test: (.*)$", (ROOT / "docker-compose.yml").read_text(), re.MULTILINE)
    assert len(checks) == 6
    assert not [test for test in checks if test.lstrip().startswith("[")], checks


def test_compose_file_has_no_empty_defaults():
    # podman-compose 1.0.3 (CI) leaves ${VAR:-} as that literal text (the signing key once reached the
    # containers as "${QUORUM_AUDIT_SIGNING_KEY:-}"); an optional variable is a pass-through entry
    # with no value, which Docker Compose and podman-compose both read as "from the shell, or unset".
    text = (ROOT / "docker-compose.yml").read_text()
    code = "\n".join(
        line.split(" #", 1)[0] for line in text.splitlines() if not line.lstrip().startswith("#")
    )
    assert ":-}" not in code
