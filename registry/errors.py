"""Domain errors. Each front (native API, MLflow routes, admin) maps them to its own format."""

import logging
from dataclasses import dataclass
from typing import Any

from django.conf import settings
from django.core.exceptions import RequestDataTooBig, SuspiciousOperation, TooManyFieldsSent
from django.db import InterfaceError, OperationalError

# A lost or refused database connection (restart, failover): a 503 the client may retry, not a 500.
DATABASE_UNAVAILABLE = (OperationalError, InterfaceError)
DATABASE_UNAVAILABLE_MESSAGE = "The database is unavailable; retry shortly."


def refused_request(exc: SuspiciousOperation) -> tuple[int, str]:
    """Status and message for Django's refusal of a request's shape (too many parameters, say).

    Raised where a view first reads the parameters, so each API's error handler answers it in its
    own format; logged under django.security.*, where Django logs its own refusals.
    """
    logging.getLogger(f"django.security.{type(exc).__name__}").warning("refused request: %s", exc)
    if isinstance(exc, RequestDataTooBig):
        return 413, str(exc)
    if isinstance(exc, TooManyFieldsSent):
        return 400, f"Too many parameters: at most {settings.DATA_UPLOAD_MAX_NUMBER_FIELDS}."
    return 400, str(exc)


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


@dataclass(frozen=True)
class Refusal:
    """Who tried what, and why a governance rule refused it: audited after the attempt rolls back.

    `action` is the audit action (ending in `.refused`; empty: the governance's refused-transition
    action); `target` the row the event is about (a
    registered model, a transition request), which outlives the rolled-back attempt.
    """

    actor: Any
    action: str
    target: Any
    model_name: str
    attempted: str
    reason: str
    version: int | None = None


class GovernanceRefused(PermissionDenied):
    """A governance rule refused an attempt; `refusal` (when known) says who, what and why."""

    def __init__(self, message: str, *, refusal: Refusal | None = None, field: str | None = None):
        super().__init__(message, field=field)
        self.refusal = refusal


class ApprovalRequired(GovernanceRefused):
    """The target is governed by a promotion policy: a transition request is needed."""


class HoldRefused(GovernanceRefused):
    """A legal hold (or the retention rules) refused removing something: a deletion, purge or alias removal."""


class Conflict(RegistryError):
    code = "RESOURCE_CONFLICT"
    http_status = 409
