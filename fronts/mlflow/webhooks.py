"""MLflow 3's webhook routes (/api/2.0/mlflow/webhooks…), so the mlflow client's webhook calls work.

A thin front over the same services as the native API. MLflow has registry-wide webhooks only
(Quorum's per-model ones are created with the extra `model_name` parameter) and only ACTIVE and
DISABLED; a TEST_MODE webhook shows as DISABLED here, since real events do not reach it. Quorum's
own events have no MLflow spelling: they are not shown here, and an update through these routes
keeps them while it replaces the MLflow events.
"""

from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

from django.http import HttpRequest
from django.http.response import HttpResponseBase
from django.urls import path
from django.views.decorators.csrf import csrf_exempt

from fronts.mlflow.transport import Params, run_endpoint
from registry import search
from registry.errors import InvalidParameter
from webhooks import rules, selectors, services
from webhooks.models import Webhook, WebhookStatus

LIST_DEFAULT_RESULTS = 100
LIST_MAX_RESULTS = 1000


def _event_json(event: str) -> dict[str, str]:
    entity, _, action = event.partition(".")
    return {"entity": entity.upper(), "action": action.upper()}


def webhook_json(webhook: Webhook) -> dict[str, Any]:
    names = rules.MLFLOW_EVENTS if rules.WILDCARD in webhook.events else webhook.events
    body: dict[str, Any] = {
        "webhook_id": webhook.public_id,
        "name": webhook.name,
        "url": webhook.url,
        "events": [_event_json(e) for e in names if e in rules.MLFLOW_EVENTS],
        "status": WebhookStatus.ACTIVE.value
        if webhook.status == WebhookStatus.ACTIVE
        else WebhookStatus.DISABLED.value,
        "creation_timestamp": int(webhook.created_at.timestamp() * 1000),
        "last_updated_timestamp": int(webhook.updated_at.timestamp() * 1000),
    }
    if webhook.description:
        body["description"] = webhook.description
    return body


def _events_parse(raw: object) -> list[str]:
    """MLflow's [{"entity": "MODEL_VERSION", "action": "CREATED"}, …] as Quorum event names."""
    if not isinstance(raw, list) or not raw:
        raise InvalidParameter("Missing value for required parameter 'events'.", field="events")
    names = []
    for item in raw:
        if (
            not isinstance(item, dict)
            or not isinstance(item.get("entity"), str)
            or not isinstance(item.get("action"), str)
        ):
            raise InvalidParameter(
                "Invalid value for parameter 'events': expected a list of {entity, action} objects.",
                field="events",
            )
        name = f"{item['entity'].strip().lower()}.{item['action'].strip().lower()}"
        if name not in rules.MLFLOW_EVENTS:
            raise InvalidParameter(
                f"Invalid event '{name[:100]}' for a webhook; MLflow events here: {', '.join(rules.MLFLOW_EVENTS)}.",
                field="events",
            )
        names.append(name)
    return names


def _status(p: Params) -> str | None:
    raw = p.data.get("status")
    if raw is None or raw == "":
        return None
    if raw in (1, "1"):
        return WebhookStatus.ACTIVE
    if raw in (2, "2"):
        return WebhookStatus.DISABLED
    return raw if isinstance(raw, str) else "invalid"


@contextmanager
def _mlflow_url_wording() -> Iterator[None]:
    """A refused URL answered in MLflow's words (its clients and tests match on them)."""
    try:
        yield
    except services.WebhookUrlRefused as exc:
        raise InvalidParameter(exc.mlflow_message, field="url") from exc


def webhook_create(request: HttpRequest, user: Any, p: Params) -> dict[str, Any]:
    with _mlflow_url_wording():
        webhook, _secret = services.webhook_create(
            actor=user,
            name=p.required("name"),
            url=p.required("url"),
            events=_events_parse(p.data.get("events")),
            description=p.optional_str("description") or "",
            secret=p.optional_str("secret") or "",
            status=_status(p) or WebhookStatus.ACTIVE,
            model_name=p.optional_str("model_name") or None,
            generate_secret=False,  # the mlflow client cannot learn a generated secret: unsigned, as MLflow does
        )
    return {"webhook": webhook_json(webhook)}


def webhooks_list(request: HttpRequest, user: Any, p: Params) -> dict[str, Any]:
    max_results = search.max_results_parse(
        p.data.get("max_results"), default=LIST_DEFAULT_RESULTS, maximum=LIST_MAX_RESULTS, minimum=1
    )
    rows, next_token = search.page_slice(
        selectors.webhooks_list(user), max_results=max_results, page_token=p.data.get("page_token")
    )
    body: dict[str, Any] = {"webhooks": [webhook_json(w) for w in rows]}
    if next_token:
        body["next_page_token"] = next_token
    return body


def webhook_get(request: HttpRequest, user: Any, p: Params, webhook_id: str) -> dict[str, Any]:
    return {"webhook": webhook_json(services.webhook_for_actor(user, webhook_id, "Reading", write=False))}


def webhook_update(request: HttpRequest, user: Any, p: Params, webhook_id: str) -> dict[str, Any]:
    changes: dict[str, Any] = {}
    for field in ("name", "url", "description", "secret"):
        value = p.optional_str(field)
        if value is not None and (value != "" or field in ("description", "secret")):
            changes[field] = value
    if p.data.get("events"):
        current = services.webhook_for_actor(user, webhook_id, "Changing", write=False)
        kept = [e for e in current.events if e not in rules.MLFLOW_EVENTS and e != rules.WILDCARD]
        changes["events"] = _events_parse(p.data.get("events")) + kept
    status = _status(p)
    if status is not None:
        changes["status"] = status
    with _mlflow_url_wording():
        webhook = services.webhook_update(actor=user, webhook_id=webhook_id, **changes)
    return {"webhook": webhook_json(webhook)}


def webhook_delete(request: HttpRequest, user: Any, p: Params, webhook_id: str) -> dict[str, Any]:
    services.webhook_delete(actor=user, webhook_id=webhook_id)
    return {}


def webhook_test(request: HttpRequest, user: Any, p: Params, webhook_id: str) -> dict[str, Any]:
    event = None
    if p.data.get("event"):
        event = _events_parse([p.data["event"]])[0]
    delivery, attempt = services.webhook_test(actor=user, webhook_id=webhook_id, event=event)
    result: dict[str, Any] = {"success": delivery.status == "SUCCEEDED"}
    if attempt is not None and attempt.status_code is not None:
        # As MLflow answers any HTTP status, error or not: the status and the body, no error_message;
        # but the receiver's body is never echoed back (it could be an internal page).
        result["response_status"] = attempt.status_code
        result["response_body"] = ""
    else:  # no answer (refused address, connection error, timeout): MLflow's error_message only
        error = (
            attempt.error if attempt is not None and attempt.error else delivery.last_error
        ) or "no answer"
        result["error_message"] = f"Failed to test webhook: {error}"
    return {"result": result}


@csrf_exempt  # API clients authenticate per request, as on every MLflow route
def webhooks_view(request: HttpRequest) -> HttpResponseBase:
    def dispatch(req: HttpRequest, user: Any, p: Params) -> dict[str, Any]:
        return (webhooks_list if req.method in ("GET", "HEAD") else webhook_create)(req, user, p)

    return run_endpoint(request, frozenset({"GET", "POST"}), dispatch, label="webhooks")


@csrf_exempt
def webhook_view(request: HttpRequest, webhook_id: str) -> HttpResponseBase:
    handlers = {"GET": webhook_get, "PATCH": webhook_update, "DELETE": webhook_delete}

    def dispatch(req: HttpRequest, user: Any, p: Params) -> dict[str, Any]:
        return handlers["GET" if req.method == "HEAD" else req.method](req, user, p, webhook_id)

    return run_endpoint(request, frozenset(handlers), dispatch, label="webhooks/get|update|delete")


@csrf_exempt
def webhook_test_view(request: HttpRequest, webhook_id: str) -> HttpResponseBase:
    return run_endpoint(
        request,
        frozenset({"POST"}),
        lambda req, user, p: webhook_test(req, user, p, webhook_id),
        label="webhooks/test",
    )


def urlpatterns_for(prefix: str) -> list:
    """The routes under one MLflow prefix ("api/2.0/", "ajax-api/2.0/"); names are in the mlflow namespace."""
    return [
        path(f"{prefix}mlflow/webhooks", webhooks_view, name="webhooks"),
        path(f"{prefix}mlflow/webhooks/<str:webhook_id>", webhook_view, name="webhook"),
        path(f"{prefix}mlflow/webhooks/<str:webhook_id>/test", webhook_test_view, name="webhook-test"),
    ]
