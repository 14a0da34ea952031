"""Prometheus metrics: request counts and latencies per route, plus database-derived gauges.

Request metrics are per process; under gunicorn set PROMETHEUS_MULTIPROC_DIR (an empty folder
shared by the workers) and they are aggregated. Gauges that describe shared state (outbox
backlog, pending approvals, artifact job outcomes) are read from the database at scrape time,
so every process reports the same truth.
"""

import hmac
import os
import time
from collections.abc import Callable, Iterable

from django.conf import settings
from django.http import Http404, HttpResponse
from prometheus_client import CONTENT_TYPE_LATEST, CollectorRegistry, Counter, Histogram, generate_latest
from prometheus_client.core import GaugeMetricFamily
from prometheus_client.multiprocess import MultiProcessCollector

REQUESTS = Counter("quorum_http_requests_total", "HTTP requests", ["method", "route", "status"])
LATENCY = Histogram(
    "quorum_http_request_duration_seconds",
    "HTTP request latency",
    ["method", "route"],
    buckets=(0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10),
)

# name -> (help, function returning [(labels, value)]). Apps add theirs in AppConfig.ready().
DatabaseGauge = Callable[[], Iterable[tuple[dict[str, str], float]]]
DATABASE_GAUGES: dict[str, tuple[str, DatabaseGauge]] = {}


def database_gauge_register(name: str, help_text: str, read: DatabaseGauge) -> None:
    DATABASE_GAUGES[name] = (help_text, read)


def _versions_by_status() -> Iterable[tuple[dict[str, str], float]]:
    from django.db.models import Count

    from registry.models import ModelVersion

    for row in ModelVersion.objects.values("status").annotate(n=Count("id")):
        yield {"status": row["status"]}, row["n"]


database_gauge_register("quorum_model_versions", "Model versions by registration status", _versions_by_status)


class DatabaseCollector:
    def collect(self):
        for name, (help_text, read) in DATABASE_GAUGES.items():
            rows = list(read())
            labels = sorted({key for row_labels, _ in rows for key in row_labels})
            family = GaugeMetricFamily(name, help_text, labels=labels)
            for row_labels, value in rows:
                family.add_metric([row_labels.get(key, "") for key in labels], value)
            yield family


class MetricsMiddleware:
    def __init__(self, get_response):
        self.get_response = get_response

    def __call__(self, request):
        started = time.perf_counter()
        response = self.get_response(request)
        match = getattr(request, "resolver_match", None)
        route = match.route if match is not None and match.route else "unmatched"
        elapsed = time.perf_counter() - started
        REQUESTS.labels(request.method, route, str(response.status_code)).inc()
        LATENCY.labels(request.method, route).observe(elapsed)
        return response


def metrics_view(request):
    """GET /metrics with `Authorization: Bearer $QUORUM_METRICS_TOKEN`; 404 when no token is configured."""
    expected = settings.QUORUM_METRICS_TOKEN
    if not expected:
        raise Http404("metrics are disabled")
    given = request.headers.get("Authorization", "").removeprefix("Bearer ").strip()
    if not hmac.compare_digest(given.encode(), expected.encode()):
        return HttpResponse("metrics need the bearer token\n", status=401, content_type="text/plain")
    registry = CollectorRegistry()
    if os.environ.get("PROMETHEUS_MULTIPROC_DIR"):
        MultiProcessCollector(registry)
    else:
        registry.register(_ProcessRequestMetrics())
    registry.register(DatabaseCollector())
    return HttpResponse(generate_latest(registry), content_type=CONTENT_TYPE_LATEST)


class _ProcessRequestMetrics:
    def collect(self):
        yield from REQUESTS.collect()
        yield from LATENCY.collect()
