"""Webhook retries on the embedded default: `manage.py quickstart` (the README's start command), no
broker, tasks in-process. A failed delivery is retried by the server's own sweep, on the backoff
schedule Celery uses, with the same delivery id and body, until the receiver takes it.
"""

import io
import re
import sqlite3
import subprocess
import sys
import threading
import time
import urllib.request
from collections.abc import Iterator
from datetime import datetime
from pathlib import Path

import pytest
from django.core.management import call_command
from django.utils import timezone
from mlflow import MlflowClient

from tests.test_quickstart import PASSWORD_LINE, REPO, _embedded_env, _free_port
from webhooks import scheduler
from webhooks.models import DeliveryStatus, Webhook, WebhookDelivery, WebhookEventRecord

BACKOFF_SECONDS = 1.0


class Server:
    def __init__(self, url: str, username: str, password: str, var_dir: Path, log: Path):
        self.url, self.username, self.password, self.var_dir, self.log = url, username, password, var_dir, log

    def rows(self, sql: str) -> list[tuple]:
        with sqlite3.connect(self.var_dir / "quorum.sqlite3") as db:
            return db.execute(sql).fetchall()


@pytest.fixture
def embedded_server(tmp_path) -> Iterator[Server]:
    """`manage.py quickstart` serving on a free port, delivering to loopback (allowlisted) over http."""
    port = _free_port()
    env = _embedded_env(tmp_path) | {
        "QUORUM_WEBHOOK_ALLOWLIST": "127.0.0.1/32",
        "QUORUM_WEBHOOK_HTTPS_ONLY": "false",
        "QUORUM_WEBHOOK_BACKOFF_SECONDS": str(BACKOFF_SECONDS),
        "QUORUM_WEBHOOK_SWEEP_SECONDS": "0.3",
    }
    assert not any(key.startswith("CELERY_") for key in env)  # no broker: the embedded default
    log = tmp_path / "server.log"
    with log.open("w") as out:
        process = subprocess.Popen(
            [sys.executable, "manage.py", "quickstart", "--no-demo", "--addrport", f"127.0.0.1:{port}"],
            cwd=REPO,
            env=env,
            stdout=out,
            stderr=subprocess.STDOUT,
            text=True,
        )
    try:
        deadline = time.monotonic() + 120
        while "Serving on" not in log.read_text():
            assert process.poll() is None, log.read_text()
            assert time.monotonic() < deadline, log.read_text()
            time.sleep(0.2)
        match = PASSWORD_LINE.search(log.read_text())
        assert match, log.read_text()
        url = f"http://127.0.0.1:{port}"
        while True:  # runserver binds shortly after printing
            try:
                with urllib.request.urlopen(f"{url}/readyz", timeout=2):
                    break
            except OSError:
                assert process.poll() is None and time.monotonic() < deadline, log.read_text()
                time.sleep(0.2)
        yield Server(url, match["user"], match["password"], tmp_path, log)
    finally:
        process.terminate()
        process.wait(timeout=15)


def _parse(stamp: str) -> datetime:
    return datetime.fromisoformat(stamp.replace(" ", "T"))


def _own_password_set(server: Server) -> str:
    """Replace the printed one-time password at the admin's change page, as its first sign-in must."""
    import re

    import requests

    own = "retries-own-passphrase-2026"
    browser = requests.Session()
    browser.trust_env = False

    def token(html: str) -> str:
        return re.search(r'name="csrfmiddlewaretoken" value="([^"]+)"', html).group(1)

    login = browser.get(f"{server.url}/admin/login/", timeout=30)
    changed = browser.post(
        f"{server.url}/admin/login/?next=/admin/",
        data={
            "csrfmiddlewaretoken": token(login.text),
            "username": server.username,
            "password": server.password,
        },
        headers={"Referer": f"{server.url}/admin/login/"},
        timeout=30,
    )
    assert changed.url.endswith("/admin/password_change/"), changed.url
    done = browser.post(
        changed.url,
        data={
            "csrfmiddlewaretoken": token(changed.text),
            "old_password": server.password,
            "new_password1": own,
            "new_password2": own,
        },
        headers={"Referer": changed.url},
        timeout=30,
    )
    assert done.url.endswith("/admin/password_change/done/"), done.url
    return own


@pytest.mark.slow
def test_a_failed_delivery_is_retried_by_the_server_on_the_backoff_schedule(
    embedded_server, receiver, mlflow_env
):
    server = embedded_server
    server.password = _own_password_set(server)
    mlflow_env(
        MLFLOW_TRACKING_URI=server.url,
        MLFLOW_REGISTRY_URI=server.url,
        MLFLOW_TRACKING_USERNAME=server.username,
        MLFLOW_TRACKING_PASSWORD=server.password,
    )
    client = MlflowClient()
    client.create_webhook(
        name="ci", url=receiver.url, events=["registered_model.created"], secret=receiver.secret
    )
    receiver.answers = [500, 503]  # two failures, then the default 200

    client.create_registered_model("churn")  # attempt 1 runs in this request and fails

    deadline = time.monotonic() + 30
    while len(receiver.received) < 3:
        assert time.monotonic() < deadline, (receiver.delivery_ids(), server.log.read_text()[-3000:])
        time.sleep(0.1)
    time.sleep(1.0)  # would a fourth (wrong) send follow?
    assert len(receiver.received) == 3
    first, *retries = receiver.received
    assert {r.delivery_id for r in retries} == {first.delivery_id}  # one delivery, retried
    assert {r.body for r in retries} == {first.body}
    assert all(r.signature_valid for r in receiver.received)
    assert first.json["data"]["name"] == "churn"

    [(status, attempts)] = server.rows("SELECT status, attempts FROM registry_webhookdelivery")
    assert (status, attempts) == (DeliveryStatus.SUCCEEDED, 3)
    started = [
        _parse(row[1])
        for row in server.rows("SELECT number, started_at FROM registry_deliveryattempt ORDER BY number")
    ]
    # Celery's schedule (rules.retry_decide): base after the first failure, twice that after the second.
    assert (started[1] - started[0]).total_seconds() >= BACKOFF_SECONDS
    assert (started[2] - started[1]).total_seconds() >= 2 * BACKOFF_SECONDS


# --- The pieces, in this process ---------------------------------------------------------


def test_the_sweep_thread_is_not_started_when_a_broker_delivers(settings):
    from config.celery import app

    before = app.conf.task_always_eager
    app.conf.task_always_eager = False  # a broker: Celery beat sweeps
    try:
        assert scheduler.in_process_sweep_start() is None
    finally:
        app.conf.task_always_eager = before
    assert not any(t.name == scheduler.THREAD_NAME for t in threading.enumerate())


def test_the_sweep_thread_is_not_started_with_a_zero_period(settings, webhooks_in_process):
    settings.QUORUM_WEBHOOK_SWEEP_SECONDS = 0
    assert scheduler.in_process_sweep_start() is None


def test_tests_and_commands_never_start_the_sweep_thread():
    # Only config.wsgi starts it; this process (pytest, with Django set up) never loaded it.
    assert "config.wsgi" not in sys.modules
    assert not any(t.name == scheduler.THREAD_NAME for t in threading.enumerate())


@pytest.mark.django_db
@pytest.mark.usefixtures("loopback_allowed", "webhooks_in_process")
def test_the_sweep_command_sends_a_due_retry(receiver, clock):
    webhook = Webhook.objects.create(
        name="ci", url=receiver.url, events=["model_version.created"], secret=receiver.secret
    )
    record = WebhookEventRecord.objects.create(event="model_version.created", model_name="m", payload="{}")
    delivery = WebhookDelivery.objects.create(
        webhook=webhook, record=record, status=DeliveryStatus.PENDING, next_attempt_at=timezone.now()
    )
    receiver.answers = [500]
    out = io.StringIO()
    call_command("webhooks_sweep", stdout=out)  # attempt 1 fails: a retry is scheduled
    assert "dispatched 1 due delivery" in out.getvalue()
    call_command("webhooks_sweep", stdout=out)  # not due yet: nothing sent
    assert len(receiver.received) == 1
    clock.advance(30)  # the fixture's backoff base
    call_command("webhooks_sweep", "--loop", "--max-sweeps", "1", stdout=out)
    delivery.refresh_from_db()
    assert (delivery.status, delivery.attempts, len(receiver.received)) == (DeliveryStatus.SUCCEEDED, 2, 2)
    assert re.findall(r"dispatched (\d+)", out.getvalue()) == ["1", "0", "1"]
