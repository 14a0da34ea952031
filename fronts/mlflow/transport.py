"""MLflow's transport rules: authentication, request parameters and JSON responses.

GET (and HEAD) reads the query string (repeated keys for lists); POST/PATCH/DELETE read a JSON body and
ignore the query string; POST must say Content-Type: application/json. Unparseable JSON counts
as an empty body (so the answer is "missing parameter"), as MLflow's server does.
"""

import json
import logging
from collections.abc import Callable
from typing import Any

from django.http import HttpRequest, HttpResponse, JsonResponse
from django.http.response import HttpResponseBase
from rest_framework import exceptions as drf_exceptions
from rest_framework.parsers import BaseParser
from rest_framework.request import Request
from rest_framework.settings import api_settings

from accounts.authentication import BearerTokenAuthentication
from accounts.models import User
from config import serving
from fronts.mlflow.errors import MlflowApiError, error_response, missing_parameter, response_for
from registry import rules
from registry.api.parsers import DuplicateKeyError, object_without_duplicate_keys

logger = logging.getLogger(__name__)

JSON_CONTENT_TYPE = "application/json"


def authenticated_user(request: HttpRequest) -> User:
    """The caller, via the project's DRF authenticators (Bearer token, Basic, session); else 401."""
    try:
        user = _bearer_user(request)
        if user is None:
            drf_request = Request(
                request,
                parsers=[_UnreadBody()],
                authenticators=[cls() for cls in api_settings.DEFAULT_AUTHENTICATION_CLASSES],
            )
            user = drf_request.user
    except drf_exceptions.AuthenticationFailed as exc:
        raise MlflowApiError("UNAUTHENTICATED", str(exc.detail))
    except drf_exceptions.PermissionDenied as exc:  # session authentication without a CSRF token
        raise MlflowApiError("PERMISSION_DENIED", str(exc.detail))
    except drf_exceptions.APIException as exc:
        raise MlflowApiError("UNAUTHENTICATED", str(exc.detail))
    if user is None or not user.is_authenticated:
        raise MlflowApiError(
            "UNAUTHENTICATED",
            "Authentication required: send a Bearer token (MLFLOW_TRACKING_TOKEN) or HTTP Basic "
            "credentials (MLFLOW_TRACKING_USERNAME / MLFLOW_TRACKING_PASSWORD).",
        )
    request.user = user
    return user


_BEARER = BearerTokenAuthentication()


class _UnreadBody(BaseParser):
    """Lets session authentication's CSRF check ask for form fields without touching the body.

    The check looks for a form token before the X-CSRFToken header; with no parser at all DRF
    answered that with "Unsupported media type" for every JSON write. This parser accepts any
    type and yields nothing, so the header decides and the body stays unread for Params.
    """

    media_type = "*/*"

    def parse(self, stream, media_type=None, parser_context=None) -> dict:
        return {}


def _bearer_user(request: HttpRequest) -> User | None:
    """The user of a Bearer token, as DRF's first authenticator would find it; None without one.

    The serving path's shortcut: wrapping the request for DRF and instantiating every
    authenticator cost a fifth of a cached alias read. Only while Bearer is the first
    authenticator, so the order DRF would try them in is kept.
    """
    if api_settings.DEFAULT_AUTHENTICATION_CLASSES[0] is not BearerTokenAuthentication:
        return None
    found = _BEARER.authenticate(request)  # reads only the Authorization header
    return found[0] if found is not None else None


def _json_body(request: HttpRequest) -> dict[str, Any]:
    if not request.body:
        return {}
    try:
        data = json.loads(request.body, object_pairs_hook=object_without_duplicate_keys)
        if isinstance(data, str):
            data = json.loads(data, object_pairs_hook=object_without_duplicate_keys)  # legacy double encoding
    except DuplicateKeyError as exc:
        # Which duplicate wins differs between parsers; refuse rather than guess.
        raise MlflowApiError("INVALID_PARAMETER_VALUE", f"Malformed request body: {exc}")
    except (ValueError, UnicodeDecodeError):
        return {}
    except RecursionError:
        # Absurdly nested JSON: refuse it as bad input rather than let it surface as a 500.
        raise MlflowApiError("INVALID_PARAMETER_VALUE", "Request body JSON is nested too deeply.")
    return data if isinstance(data, dict) else {}


def _refuse_nul(name: str, value: str) -> None:
    # PostgreSQL cannot store or compare NUL; refuse it here rather than fail in the driver.
    if "\x00" in value:
        raise MlflowApiError(
            "INVALID_PARAMETER_VALUE",
            f"Invalid value for parameter '{name}': NUL characters are not allowed.",
        )


class Params:
    """Request parameters of one call, from the query string (GET) or the JSON body (others).

    A GET's query string is parsed on first use, so an answer served from the cache (keyed by the
    raw query string, `served_json_response`) never parses it.
    """

    def __init__(self, data: dict[str, Any] | None = None, request: HttpRequest | None = None) -> None:
        self._data = data
        self._request = request  # a GET, parsed lazily

    @property
    def data(self) -> dict[str, Any]:
        if self._data is None:
            query = self._request.GET if self._request is not None else {}
            self._data = {k: query.get(k) for k in query}
        return self._data

    @property
    def query(self) -> Any:
        """The QueryDict of a GET, for repeated keys; None for a JSON body."""
        return self._request.GET if self._request is not None else None

    @classmethod
    def from_request(cls, request: HttpRequest) -> "Params":
        if request.method in ("GET", "HEAD"):  # HEAD answers as GET does (run_endpoint)
            return cls(request=request)
        if request.method in ("POST", "PUT"):
            content_type = (request.content_type or "").split(";")[0].strip().lower()
            if content_type != JSON_CONTENT_TYPE:
                raise MlflowApiError(
                    "INVALID_PARAMETER_VALUE",
                    f"Bad Request. Content-Type must be one of ['{JSON_CONTENT_TYPE}'].",
                )
        return cls(data=_json_body(request))

    def optional_str(self, name: str) -> str | None:
        value = self.data.get(name)
        if value is None:
            return None
        if not isinstance(value, str):
            raise MlflowApiError(
                "INVALID_PARAMETER_VALUE",
                f"Invalid value {json.dumps(value)[:100]} for parameter '{name}' supplied: it must be a string.",
            )
        _refuse_nul(name, value)
        return value

    def required(self, name: str) -> str:
        value = self.optional_str(name)
        if value is None or value == "":
            raise missing_parameter(name)
        return value

    def version(self, name: str = "version") -> int:
        value = self.data.get(name)
        if value is None or value == "":
            raise missing_parameter(name)
        return rules.parse_version_number(value, field=name)

    def flag(self, name: str, default: bool = False) -> bool:
        value = self.data.get(name)
        if value is None:
            return default
        if isinstance(value, bool):
            return value
        if isinstance(value, str) and value.lower() in ("true", "false"):
            return value.lower() == "true"
        raise MlflowApiError(
            "INVALID_PARAMETER_VALUE", f"Invalid value for parameter '{name}': expected true or false."
        )

    def str_list(self, name: str) -> list[str]:
        if self.query is not None:
            values: Any = self.query.getlist(name)
        else:
            values = self.data.get(name) or []
            if isinstance(values, str):
                values = [values]
        if not isinstance(values, list) or not all(isinstance(v, str) for v in values):
            raise MlflowApiError(
                "INVALID_PARAMETER_VALUE",
                f"Invalid value for parameter '{name}': expected a list of strings.",
            )
        for value in values:
            _refuse_nul(name, value)
        return values

    def tags(self, name: str = "tags") -> list[dict]:
        value = self.data.get(name)
        if value is None:
            return []
        if not isinstance(value, list) or not all(isinstance(t, dict) for t in value):
            raise MlflowApiError(
                "INVALID_PARAMETER_VALUE",
                f"Invalid value for parameter '{name}': expected a list of {{key, value}} objects.",
            )
        return value


def json_response(body: dict[str, Any]) -> JsonResponse:
    # Compact, unlike MLflow's pretty-printed default: clients parse JSON, and an indent makes Python
    # fall back to its pure-Python encoder (5 ms instead of 0.6 ms for a page of 100 models).
    return JsonResponse(body)


# Finished read answers per process; each valid only under the serving generation it was built
# under (config/serving.py), so a change committed before a request began is never missed.
_answers = serving.AnswerCache(max_entries=20_000)


def served_json_response(
    request: HttpRequest, key: tuple, build: Callable[[], dict[str, Any]]
) -> HttpResponse:
    """The JSON answer `build()` gives, reused while nothing it may depend on has changed.

    For GET handlers that read only. `key` must name everything the answer depends on besides
    database rows and the query string: the endpoint and the caller (visibility is per user). The
    raw query string completes the key, so a hit neither parses nor validates the parameters:
    `build()` does, and its errors are raised, never stored, so only valid parameters are ever
    found. The generation is the one the request read first, so an answer built after a write in
    the same request would be checked against a value from before that write.
    """
    if request.method not in ("GET", "HEAD"):
        return json_response(build())
    key = (*key, request.META.get("QUERY_STRING", ""))
    generation = serving.generation(request)
    body = _answers.get(key, generation)
    if body is None:
        body = json_response(build()).content
        _answers.put(key, generation, body)
    return HttpResponse(body, content_type=JSON_CONTENT_TYPE)


Handler = Callable[[HttpRequest, User, Params], HttpResponseBase | dict[str, Any]]


def run_endpoint(
    request: HttpRequest, methods: frozenset[str], handler: Handler, *, label: str
) -> HttpResponseBase:
    """Method check, authentication, parameters, handler; every failure as an MLflow JSON error."""
    method = "GET" if request.method == "HEAD" else (request.method or "")
    if method not in methods:
        response = error_response(
            "BAD_REQUEST",
            f"Method {request.method} is not allowed for endpoint {request.path}; use {', '.join(sorted(methods))}.",
            405,
        )
        response["Allow"] = ", ".join(sorted(methods))
        return response
    try:
        user = authenticated_user(request)
        result = handler(request, user, Params.from_request(request))
        return result if isinstance(result, HttpResponseBase) else json_response(result)
    except Exception as exc:  # the whole point: no HTML error page ever reaches an MLflow client
        known = response_for(exc)
        if known is not None:
            if known.status_code == 401:
                known["WWW-Authenticate"] = 'Basic realm="quorum"'
            return known
        logger.exception("unexpected error in MLflow endpoint %s", label)
        return error_response(
            "INTERNAL_ERROR",
            f"Internal error in {label}; request id {getattr(request, 'request_id', '-')} identifies it in the logs.",
            500,
        )
