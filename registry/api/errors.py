"""Error format of the native API: {"error_code", "message", "field"?, "errors"?} with the right status."""

import logging
from typing import Any

from django.core.exceptions import PermissionDenied as DjangoPermissionDenied
from django.core.exceptions import SuspiciousOperation
from django.http import Http404
from rest_framework import exceptions, status
from rest_framework.response import Response
from rest_framework.views import exception_handler

from registry.errors import DATABASE_UNAVAILABLE, DATABASE_UNAVAILABLE_MESSAGE, RegistryError, refused_request

logger = logging.getLogger(__name__)

DRF_CODES = {
    400: "INVALID_PARAMETER_VALUE",
    401: "UNAUTHENTICATED",
    403: "PERMISSION_DENIED",
    404: "RESOURCE_DOES_NOT_EXIST",
    405: "METHOD_NOT_ALLOWED",
    406: "NOT_ACCEPTABLE",
    413: "REQUEST_TOO_LARGE",
    415: "UNSUPPORTED_MEDIA_TYPE",
    429: "REQUEST_LIMIT_EXCEEDED",
}


def _first_error(detail: Any, path: tuple[str, ...] = ()) -> tuple[str, str]:
    """The dotted path of the first invalid field ("tags.0.value") and its message."""
    if isinstance(detail, dict):
        for key, value in detail.items():
            return _first_error(value, path if key == "non_field_errors" else (*path, str(key)))
    if isinstance(detail, list) and detail:
        return _first_error(detail[0], path)
    return ".".join(path), str(detail)


def _first_message(detail: Any) -> str:
    field, message = _first_error(detail)
    return f"{field}: {message}" if field else message


def native_exception_handler(exc: Exception, context: dict[str, Any]) -> Response | None:
    if isinstance(exc, RegistryError):
        body = {"error_code": exc.code, "message": exc.message}
        if exc.field:
            body["field"] = exc.field
        return Response(body, status=exc.http_status)
    if isinstance(exc, DATABASE_UNAVAILABLE):
        logger.warning("database unavailable in %s: %s", context.get("view"), exc)
        # The database restarted or is unreachable; every write is one transaction, so none is half-applied.
        return Response(
            {"error_code": "TEMPORARILY_UNAVAILABLE", "message": DATABASE_UNAVAILABLE_MESSAGE},
            status=status.HTTP_503_SERVICE_UNAVAILABLE,
        )
    if isinstance(exc, SuspiciousOperation):
        status_code, message = refused_request(exc)
        return Response({"error_code": DRF_CODES[status_code], "message": message}, status=status_code)
    if isinstance(exc, Http404):
        exc = exceptions.NotFound()
    elif isinstance(exc, DjangoPermissionDenied):
        exc = exceptions.PermissionDenied(str(exc) or None)
    response = exception_handler(exc, context)
    if response is None:
        logger.exception("unhandled error in %s", context.get("view"))
        return Response(
            {
                "error_code": "INTERNAL_ERROR",
                "message": "Internal error; the request id identifies it in the logs.",
            },
            status=status.HTTP_500_INTERNAL_SERVER_ERROR,
        )
    body = {
        "error_code": DRF_CODES.get(response.status_code, "BAD_REQUEST"),
        "message": _first_message(exc.detail),
    }
    if isinstance(exc, exceptions.ValidationError) and isinstance(exc.detail, dict):
        field, _ = _first_error(exc.detail)
        if field:
            body["field"] = field
        body["errors"] = exc.detail
    response.data = body
    return response
