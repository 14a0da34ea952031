"""Domain errors. Each front (native API, MLflow routes, admin) maps them to its own format."""

from django.db import InterfaceError, OperationalError

# A lost or refused database connection (restart, failover): a 503 the client may retry, not a 500.
DATABASE_UNAVAILABLE = (OperationalError, InterfaceError)
DATABASE_UNAVAILABLE_MESSAGE = "The database is unavailable; retry shortly."


class RegistryError(Exception):
    """Base class: `code` is the MLflow error code, `http_status` the status both APIs use."""

    code = "INTERNAL_ERROR"
    http_status = 500

    def __init__(self, message: str, *, field: str | None = None):
        super().__init__(message)
        self.message = message
        self.field = field


class InvalidParameter(RegistryError):
    code = "INVALID_PARAMETER_VALUE"
    http_status = 400


class NotFound(RegistryError):
    code = "RESOURCE_DOES_NOT_EXIST"
    http_status = 404


class AlreadyExists(RegistryError):
    # MLflow answers RESOURCE_ALREADY_EXISTS with 400, and the client relies on the code.
    code = "RESOURCE_ALREADY_EXISTS"
    http_status = 400


class PermissionDenied(RegistryError):
    code = "PERMISSION_DENIED"
    http_status = 403


class ApprovalRequired(PermissionDenied):
    """The target is governed by a promotion policy: a transition request is needed."""


class Conflict(RegistryError):
    code = "RESOURCE_CONFLICT"
    http_status = 409
