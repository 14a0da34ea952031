"""The site root, a small page saying what this server is and where to go, and the HTML 404.

With DEBUG on, Django answers an unknown URL with its technical 404, which lists every URL
pattern of the service; the last route (`page_not_found`) answers instead, so no setting shows
a visitor the route table. Paths under the API prefixes never reach it: they have their own
JSON 404s earlier in config/urls.py.
"""

from django.conf import settings
from django.http import HttpRequest, HttpResponse, HttpResponsePermanentRedirect
from django.shortcuts import render
from django.urls import Resolver404, resolve

from config.client import public_origin, public_url

NOT_FOUND_ROUTE = "page-not-found"


def landing(request: HttpRequest) -> HttpResponse:
    """What this server is, the admin, the API docs, and the URIs an MLflow client should use."""
    return render(
        request,
        "quorum/landing.html",
        {
            "registry_uri": public_origin(),
            "tracking_uri": settings.QUORUM_MLFLOW_TRACKING_URI,
            "admin_url": public_url("admin/"),
            "approvals_url": public_url("admin/approvals/"),
            "docs_url": public_url("api/docs/"),
            "schema_url": public_url("api/schema/"),
        },
    )


def page_not_found(request: HttpRequest, path: str) -> HttpResponse:
    """A plain 404, whatever DEBUG says; keeps CommonMiddleware's APPEND_SLASH redirect, which a
    catch-all route would otherwise disable (every path now resolves)."""
    if settings.APPEND_SLASH and not request.path_info.endswith("/"):
        try:
            match = resolve(request.path_info + "/")
        except Resolver404:
            match = None
        if match is not None and match.url_name != NOT_FOUND_ROUTE:
            target = request.path + "/"
            if request.META.get("QUERY_STRING"):
                target += "?" + request.META["QUERY_STRING"]
            return HttpResponsePermanentRedirect(target)
    return render(request, "quorum/not_found.html", {"path": request.path}, status=404)
