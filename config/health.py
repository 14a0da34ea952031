"""Liveness and readiness probes for load balancers and orchestrators."""

from django.conf import settings
from django.db import DEFAULT_DB_ALIAS, connections
from django.db.migrations.executor import MigrationExecutor
from django.http import JsonResponse
from django.views.decorators.http import require_GET


@require_GET
def healthz(request):
    return JsonResponse({"status": "ok"})


def _broker_reachable() -> tuple[bool, str]:
    from config.celery import app

    try:
        with app.connection_for_write() as conn:
            conn.ensure_connection(max_retries=1, timeout=2)
        return True, "ok"
    except Exception as exc:  # any transport error means "not ready"
        return False, f"broker unreachable: {type(exc).__name__}"


@require_GET
def readyz(request):
    checks: dict[str, str] = {}
    ready = True
    try:
        connection = connections[DEFAULT_DB_ALIAS]
        with connection.cursor() as cursor:
            cursor.execute("SELECT 1")
        checks["database"] = "ok"
        executor = MigrationExecutor(connection)
        pending = executor.migration_plan(executor.loader.graph.leaf_nodes())
        if pending:
            ready = False
            checks["migrations"] = f"{len(pending)} unapplied"
        else:
            checks["migrations"] = "ok"
    except Exception as exc:
        ready = False
        checks["database"] = f"unreachable: {type(exc).__name__}"
    if settings.CELERY_BROKER_URL:
        ok, detail = _broker_reachable()
        ready = ready and ok
        checks["broker"] = detail
    else:
        checks["broker"] = "in-process (no broker configured)"
    return JsonResponse(
        {"status": "ready" if ready else "not ready", "checks": checks}, status=200 if ready else 503
    )
