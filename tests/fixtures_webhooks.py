"""Fixtures for the webhook tests: a real HTTP receiver on loopback that verifies MLflow signatures,
settings that let deliveries reach loopback through the allowlist, and a clock for the sweep.
"""

import base64
import hashlib
import hmac
import json
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import timedelta
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import pytest
from django.db.models import F


@dataclass
class Received:
    """One request the receiver got, with the outcome of its signature check."""

    path: str
    headers: dict[str, str]
    body: bytes
    signature_valid: bool | None  # None: no signature header

    @property
    def delivery_id(self) -> str:
        return self.headers.get("X-MLflow-Delivery-Id", "")

    @property
    def json(self) -> dict[str, Any]:
        return json.loads(self.body)


def mlflow_signature_valid(secret: str, headers: dict[str, str], body: bytes) -> bool | None:
    """Verify as MLflow's docs tell receivers to: HMAC-SHA256 over '<delivery id>.<timestamp>.<body>'."""
    header = headers.get("X-MLflow-Signature")
    if header is None:
        return None
    version, _, signature = header.partition(",")
    signed = (
        f"{headers.get('X-MLflow-Delivery-Id', '')}.{headers.get('X-MLflow-Timestamp', '')}.".encode() + body
    )
    expected = base64.b64encode(hmac.new(secret.encode(), signed, hashlib.sha256).digest()).decode()
    return version == "v1" and hmac.compare_digest(signature, expected)


@dataclass
class Receiver:
    """A threaded http.server on 127.0.0.1 that records requests and answers from a script.

    `answers` is consumed one per request (a status code, or ("redirect", location)); once it is
    empty every request gets `default_status`. `stop()` and `start()` keep the port, so a webhook
    URL stays valid while the receiver is down.
    """

    secret: str = "whsec_test-secret"
    default_status: int = 200
    delay_seconds: float = 0.0  # answer this much later (a receiver that is slow, or a send cut short)
    answers: list[Any] = field(default_factory=list)
    received: list[Received] = field(default_factory=list)
    port: int = 0
    _server: ThreadingHTTPServer | None = None
    _lock: threading.Lock = field(default_factory=threading.Lock)

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}/hook"

    def _handler(self) -> type[BaseHTTPRequestHandler]:
        receiver = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:  # noqa: N802 (http.server's naming)
                length = int(self.headers.get("Content-Length") or 0)
                body = self.rfile.read(length)
                headers = dict(self.headers.items())
                with receiver._lock:
                    receiver.received.append(
                        Received(
                            self.path, headers, body, mlflow_signature_valid(receiver.secret, headers, body)
                        )
                    )
                    answer = receiver.answers.pop(0) if receiver.answers else receiver.default_status
                    delay = receiver.delay_seconds
                if delay:
                    time.sleep(delay)
                try:
                    self._answer(answer)
                except OSError:  # the sender went away meanwhile (a killed worker)
                    pass

            def _answer(self, answer: Any) -> None:
                if isinstance(answer, tuple) and answer[0] == "redirect":
                    self.send_response(302)
                    self.send_header("Location", answer[1])
                    self.send_header("Content-Length", "0")
                    self.end_headers()
                    return
                text = b"internal receiver detail that must never be echoed"
                self.send_response(int(answer))
                self.send_header("Content-Length", str(len(text)))
                self.end_headers()
                self.wfile.write(text)

            def log_message(self, format: str, *args: Any) -> None:  # keep test output quiet
                pass

        return Handler

    def start(self) -> "Receiver":
        ThreadingHTTPServer.allow_reuse_address = True
        self._server = ThreadingHTTPServer(("127.0.0.1", self.port), self._handler())
        self._server.daemon_threads = True
        self.port = self._server.server_address[1]
        threading.Thread(
            target=self._server.serve_forever, kwargs={"poll_interval": 0.02}, daemon=True
        ).start()
        return self

    def stop(self) -> None:
        if self._server is not None:
            self._server.shutdown()
            self._server.server_close()
            self._server = None

    def delivery_ids(self) -> list[str]:
        return [r.delivery_id for r in self.received]


@pytest.fixture
def receiver() -> Iterator[Receiver]:
    server = Receiver().start()
    yield server
    server.stop()


@pytest.fixture
def other_receiver() -> Iterator[Receiver]:
    server = Receiver().start()
    yield server
    server.stop()


@pytest.fixture
def loopback_allowed(settings) -> None:
    """Let deliveries reach 127.0.0.1 (the allowlist is the only way), with short, countable retries."""
    settings.QUORUM_WEBHOOK_ALLOWLIST = ["127.0.0.1/32"]
    settings.QUORUM_WEBHOOK_HTTPS_ONLY = False  # the receiver speaks plain http, as in development
    settings.QUORUM_WEBHOOK_TIMEOUT_SECONDS = 5
    settings.QUORUM_WEBHOOK_LEASE_SECONDS = 35
    settings.QUORUM_WEBHOOK_BACKOFF_SECONDS = 30
    settings.QUORUM_WEBHOOK_BACKOFF_MAX_SECONDS = 600
    settings.QUORUM_WEBHOOK_RETRY_WINDOW_SECONDS = 3600


@pytest.fixture
def webhooks_in_process() -> Iterator[None]:
    """Deliver in-process (no broker), as the embedded default does, even when CI configures one."""
    from config.celery import app

    before = app.conf.task_always_eager
    app.conf.task_always_eager = True
    yield
    app.conf.task_always_eager = before


class Clock:
    """Lets time pass for the deliveries without sleeping: every stored delivery time moves back.

    Moving the stored times (schedule, lease, retry window, last publish) into the past is exactly
    what waiting would do, and the code under test keeps reading the real clock.
    """

    def advance(self, seconds: float) -> None:
        from webhooks.models import WebhookDelivery

        delta = timedelta(seconds=seconds)
        for name in ("next_attempt_at", "leased_until", "first_attempt_at", "dispatched_at"):
            WebhookDelivery.objects.filter(**{f"{name}__isnull": False}).update(**{name: F(name) - delta})

    def sweep(self, seconds: float = 0) -> int:
        """Let `seconds` pass, then run the beat sweep once; returns how many deliveries it published."""
        from webhooks.services import deliveries_sweep

        self.advance(seconds)
        return deliveries_sweep()


@pytest.fixture
def clock() -> Clock:
    return Clock()
