"""Request body size limit on every route (413 before the body is read), lazy admin messages, and
absolute links from the configured public URL."""

import json

from django.conf import settings
from django.contrib.messages.middleware import MessageMiddleware
from django.contrib.messages.storage import default_storage
from django.core.exceptions import DisallowedHost
from django.http import HttpResponse, JsonResponse
from django.utils.functional import SimpleLazyObject, empty

from config.client import public_origin

# Where MLflow's routes live (fronts/mlflow/urls.py): their errors use MLflow's codes.
MLFLOW_PREFIXES = ("/api/2.0/", "/ajax-api/2.0/", "/api/3.0/", "/ajax-api/3.0/")
API_PREFIXES = (*MLFLOW_PREFIXES, "/api/v1/")


def is_mlflow_path(path: str) -> bool:
    return path.startswith(MLFLOW_PREFIXES)


def _api_error(
    request, status: int, message: str, *, native_code: str, mlflow_code: str = "INVALID_PARAMETER_VALUE"
) -> JsonResponse:
    """A refusal made before any view, as `{"error_code", "message"}` with the code of the route's API.

    MLflow's client reads error_code and has no code for most of these, so INVALID_PARAMETER_VALUE
    with the HTTP status saying which.
    """
    code = mlflow_code if is_mlflow_path(request.path) else native_code
    return JsonResponse({"error_code": code, "message": message}, status=status, encoder=json.JSONEncoder)


def _too_large(request, limit: int) -> HttpResponse:
    message = f"Request body is larger than the limit of {limit} bytes."
    return _api_error(
        request, 413, message, native_code="REQUEST_TOO_LARGE", mlflow_code="REQUEST_LIMIT_EXCEEDED"
    )


class BodySizeLimitMiddleware:
    """Refuses bodies above QUORUM_MAX_BODY_BYTES, declared or chunked, with 413."""

    def __init__(self, get_response):
        self.get_response = get_response

    def __call__(self, request):
        limit = settings.QUORUM_MAX_BODY_BYTES
        declared = request.META.get("CONTENT_LENGTH")
        if declared:
            try:
                if int(declared) > limit:
                    return _too_large(request, limit)
            except ValueError:
                return JsonResponse(
                    {"error_code": "BAD_REQUEST", "message": "Invalid Content-Length."}, status=400
                )
        elif request.META.get("HTTP_TRANSFER_ENCODING", "").lower() == "chunked":
            # No length up front: read at most limit+1 bytes and refuse if there is more.
            body = request.META["wsgi.input"].read(limit + 1) if "wsgi.input" in request.META else b""
            if len(body) > limit:
                return _too_large(request, limit)
            request._body = body
        return self.get_response(request)


class LazyMessageMiddleware(MessageMiddleware):
    """Django's message storage, set up only when a request uses it (the admin, not the API).

    Building the storage signs and parses the message cookie on every request; API calls never
    read or add a message.
    """

    def process_request(self, request) -> None:
        request._messages = SimpleLazyObject(lambda: default_storage(request))

    def process_response(self, request, response):
        messages = getattr(request, "_messages", None)
        if isinstance(messages, SimpleLazyObject) and messages._wrapped is empty:
            return response  # never touched: nothing to store
        return super().process_response(request, response)


class PublicURLMiddleware:
    """Every absolute link a request builds starts with QUORUM_PUBLIC_URL, never the Host header.

    `build_absolute_uri` (DRF's next/previous page links, the admin, anything else) joins paths to
    the request's cached scheme and host; setting that cache first means a client-chosen Host (or
    a reflected port) can never end up in a link Quorum hands out.
    """

    def __init__(self, get_response):
        self.get_response = get_response

    def __call__(self, request):
        request._current_scheme_host = public_origin()
        return self.get_response(request)


class RefusedRequestMiddleware:
    """Refusals that happen before any view, answered in the API's JSON format on API routes.

    A Host outside DJANGO_ALLOWED_HOSTS (DisallowedHost) would otherwise be Django's HTML 400,
    and a query string above QUORUM_MAX_QUERY_STRING_BYTES is refused here with 414 before any
    parsing. Other routes (the admin) keep Django's own pages.
    """

    def __init__(self, get_response):
        self.get_response = get_response

    def __call__(self, request):
        if request.path.startswith(API_PREFIXES):
            try:
                request.get_host()
            except DisallowedHost as exc:
                return _api_error(
                    request, 400, f"Refused host: {exc}"[:500], native_code="INVALID_PARAMETER_VALUE"
                )
            limit = settings.QUORUM_MAX_QUERY_STRING_BYTES
            if len(request.META.get("QUERY_STRING", "")) > limit:
                return _api_error(
                    request,
                    414,
                    native_code="REQUEST_URI_TOO_LONG",
                    message=f"The query string is longer than the limit of {limit} bytes; send long search "
                    "filters in a POST body (registered-models/search and model-versions/search accept one).",
                )
        return self.get_response(request)
