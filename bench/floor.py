"""The benchmark's floor: the cheapest JSON answer this server configuration can give.

Served at /bench/floor only when QUORUM_BENCH_FLOOR is on (off by default). It runs through the
same WSGI server, middleware stack and route rules as every API route, but touches no database,
so registry endpoints can be compared with what the framework itself costs per request.
"""

from django.http import HttpRequest, JsonResponse
from django.views.decorators.http import require_GET


@require_GET
def bench_floor(request: HttpRequest) -> JsonResponse:
    return JsonResponse({"status": "ok"})
