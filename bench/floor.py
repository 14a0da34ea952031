"""The benchmark's floor: the cheapest JSON answer this server configuration can give.

Served at /bench/floor only when QUORUM_BENCH_FLOOR is on (off by default). It runs through the
same WSGI server, middleware stack and route rules as every API route, but touches no database,
so registry endpoints can be compared with what the framework itself costs per request.

/bench/floor-pk is the second floor: the same stack answering from one indexed primary-key read on
PostgreSQL (the serving generation's row, prepared once per connection). Any answer that is never
stale must pay at least that read, so it is what the cached alias read is measured against.
"""

from django.http import HttpRequest, JsonResponse
from django.views.decorators.http import require_GET


@require_GET
def bench_floor(request: HttpRequest) -> JsonResponse:
    return JsonResponse({"status": "ok"})


@require_GET
def bench_floor_pk(request: HttpRequest) -> JsonResponse:
    from config.serving import GENERATION_READ

    row = GENERATION_READ.fetchone_direct()
    return JsonResponse({"status": "ok", "generation": row[0] if row else None})
