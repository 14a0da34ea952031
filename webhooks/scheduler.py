"""The webhook sweep inside the server process, for the embedded default (no broker, no beat).

Under Celery, a failed delivery's retry is published with its countdown and Celery beat runs
`deliveries_sweep` for whatever a broker outage or a lost worker left behind. Without a broker
neither exists, so the server process runs the same sweep itself on a daemon thread: the retry is
sent by the same claim, with the same backoff and retry window (`rules.retry_decide`), at most one
sweep period after it falls due.

Started from the WSGI entry point (config/wsgi.py), which only a serving process loads (runserver,
also under `manage.py quickstart`, and gunicorn's workers); tests, migrations and other commands
never load it. Under runserver's autoreloader only the serving child loads it. Several processes
may each run it: a delivery is claimed under a row lock and a lease, so it is never sent twice at once.
"""

import logging
import os
import threading

from django.conf import settings
from django.db import close_old_connections, connection

logger = logging.getLogger(__name__)

THREAD_NAME = "quorum-webhooks-sweep"

_lock = threading.Lock()
_started_in: int | None = None  # the pid that started the thread (a forked child starts its own)


def tasks_in_process() -> bool:
    """No broker: tasks run in the process that schedules them (the embedded default)."""
    from config.celery import app

    return bool(app.conf.task_always_eager)


def sweep_once() -> int:
    """One sweep as beat runs it (same task body); never raises, so the loop survives a bad moment."""
    from webhooks.tasks import deliveries_sweep

    fresh = not connection.in_atomic_block  # never close a connection inside a caller's transaction
    if fresh:
        close_old_connections()  # one the database dropped since the last sweep
    try:
        return deliveries_sweep()
    except Exception:  # a locked SQLite file, a database restart: the next sweep tries again
        logger.exception("the in-process webhook sweep failed; retrying in the next period")
        return 0
    finally:
        if fresh:
            close_old_connections()


def _loop(period: float, stop: threading.Event) -> None:
    while not stop.wait(period):
        sweep_once()


def in_process_sweep_start(*, stop: threading.Event | None = None) -> threading.Thread | None:
    """Start the sweep thread once per process when tasks run in-process; None if not started."""
    global _started_in
    period = float(settings.QUORUM_WEBHOOK_SWEEP_SECONDS)
    if not tasks_in_process() or period <= 0:
        return None  # with a broker, Celery beat sweeps
    with _lock:
        if _started_in == os.getpid():
            return None
        thread = threading.Thread(
            target=_loop, args=(period, stop or threading.Event()), name=THREAD_NAME, daemon=True
        )
        thread.start()
        _started_in = os.getpid()
    logger.info("webhook retries: sweeping in-process every %g s (no broker)", period)
    return thread
