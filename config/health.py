"""Liveness and readiness probes for load balancers and orchestrators.

`/healthz` answers as long as the process serves requests. `/readyz` says whether this instance can do
useful work: the database answers, every migration is applied, and (when one is configured) the Celery
broker accepts connections. Every check is bounded in time, so a dead dependency makes the probe answer
503 within a few seconds instead of hanging the probe (and the worker serving it).
"""

from django.conf import settings
from django.db import DEFAULT_DB_ALIAS, connections
from django.db.migrations.executor import MigrationExecutor
from django.http import HttpRequest, JsonResponse
from django.views.decorators.cache import never_cache
from django.views.decorators.http import require_GET

# Seconds a broker gets to accept a connection and answer; probes usually time out at 5-10 s.
BROKER_TIMEOUT = 2.0


@never_cache
@require_GET
def healthz(request: HttpRequest) -> JsonResponse:
    return JsonResponse({"status": "ok"})


def _broker_check(url: str) -> tuple[bool, str]:
    from kombu import Connection

    try:
        with Connection(
            url,
            connect_timeout=BROKER_TIMEOUT,
            transport_options={
                "socket_timeout": BROKER_TIMEOUT,
                "socket_connect_timeout": BROKER_TIMEOUT,
                "max_retries": 0,
            },
        ) as conn:
            conn.ensure_connection(max_retries=1, interval_start=0, interval_step=0, timeout=BROKER_TIMEOUT)
        return True, "ok"
    except Exception as exc:  # any transport error means "not ready"; the type is enough for the operator
        return False, f"unreachable: {type(exc).__name__}"


def _database_checks() -> tuple[bool, dict[str, str]]:
    try:
        connection = connections[DEFAULT_DB_ALIAS]
        with connection.cursor() as cursor:
            cursor.execute("SELECT 1")
    except Exception as exc:
        return False, {"database": f"unreachable: {type(exc).__name__}", "migrations": "unknown"}
    try:
        executor = MigrationExecutor(connection)
        pending = executor.migration_plan(executor.loader.graph.leaf_nodes())
    except Exception as exc:
        return False, {"database": "ok", "migrations": f"unknown: {type(exc).__name__}"}
    if pending:
        return False, {"database": "ok", "migrations": f"{len(pending)} unapplied"}
    return True, {"database": "ok", "migrations": "ok"}


@never_cache
@require_GET
def readyz(request: HttpRequest) -> JsonResponse:
    ready, checks = _database_checks()
    if settings.CELERY_BROKER_URL:
        broker_ok, checks["broker"] = _broker_check(settings.CELERY_BROKER_URL)
        ready = ready and broker_ok
    else:
        checks["broker"] = "in-process (no broker configured)"
    return JsonResponse(
        {"status": "ready" if ready else "not ready", "checks": checks}, status=200 if ready else 503
    )
