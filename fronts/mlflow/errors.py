"""MLflow's error format: {"error_code", "message"} with the HTTP status MLflow's client expects."""

from django.core.exceptions import SuspiciousOperation
from django.http import JsonResponse

from registry.errors import DATABASE_UNAVAILABLE, DATABASE_UNAVAILABLE_MESSAGE, RegistryError, refused_request

# mlflow/exceptions.py ERROR_CODE_TO_HTTP_STATUS, for the codes this front produces.
HTTP_STATUS = {
    "INVALID_PARAMETER_VALUE": 400,
    "BAD_REQUEST": 400,
    "RESOURCE_ALREADY_EXISTS": 400,
    "UNAUTHENTICATED": 401,
    "PERMISSION_DENIED": 403,
    "RESOURCE_DOES_NOT_EXIST": 404,
    "ENDPOINT_NOT_FOUND": 404,
    "RESOURCE_CONFLICT": 409,
    "REQUEST_LIMIT_EXCEEDED": 429,
    "INTERNAL_ERROR": 500,
    "NOT_IMPLEMENTED": 501,
    "TEMPORARILY_UNAVAILABLE": 503,
}


class MlflowApiError(Exception):
    """An error raised by this front itself (transport problems: method, content type, parameters)."""

    def __init__(self, code: str, message: str, *, status: int | None = None) -> None:
        super().__init__(message)
        self.code = code
        self.message = message
        self.status = status or HTTP_STATUS.get(code, 400)


def error_response(code: str, message: str, status: int) -> JsonResponse:
    return JsonResponse({"error_code": code, "message": message}, status=status)


def response_for(exc: Exception) -> JsonResponse | None:
    """The MLflow-format response for a known error, or None for an unexpected one."""
    if isinstance(exc, MlflowApiError):
        return error_response(exc.code, exc.message, exc.status)
    if isinstance(exc, RegistryError):
        return error_response(exc.code, exc.message, exc.http_status)
    if isinstance(exc, SuspiciousOperation):  # e.g. more query parameters than Django accepts
        status, message = refused_request(exc)
        # MLflow has no error code for a too-large request; the status says it.
        return error_response("INVALID_PARAMETER_VALUE", message, status)
    if isinstance(exc, DATABASE_UNAVAILABLE):
        # The database restarted or is unreachable; every write is one transaction, so none is half-applied.
        return error_response("TEMPORARILY_UNAVAILABLE", DATABASE_UNAVAILABLE_MESSAGE, 503)
    return None


def missing_parameter(name: str) -> MlflowApiError:
    return MlflowApiError(
        "INVALID_PARAMETER_VALUE",
        f"Missing value for required parameter '{name}'. See the API docs for more information about "
        "request parameters.",
    )
