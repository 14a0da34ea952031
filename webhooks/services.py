"""Every write of the webhooks: subscriptions, the event outbox, deliveries, attempts, replays.

- `outbox_write` subscribes to every domain event and runs inside the change's transaction: it
  writes one event record plus one delivery per matching subscription, the outbox. The
  delivery is published to Celery after commit; `deliveries_sweep` (Celery beat) publishes
  again whatever is due and was not picked up, so a broker outage or a lost worker delays a
  delivery but never loses it.
- A delivery is claimed under a row lock and a lease before each attempt, so two workers never
  send it at the same time; a worker lost mid-send lets the lease lapse and the sweep sends again
  with the same delivery id (receivers deduplicate on X-MLflow-Delivery-Id).
"""

import base64
import hashlib
import hmac
import logging
import secrets
import time
import uuid
from datetime import datetime, timedelta
from typing import Any

from django.conf import settings
from django.db import connection, transaction
from django.db.models import Q, QuerySet
from django.utils import timezone

import audit
from access.grants import LEVEL_CODENAMES, Level, user_can, user_holds, user_holds_global
from audit.context import current_task_name
from audit.models import Action
from audit.services import last_recorded_seq, superuser_action_record
from config.prepared import PreparedQuery
from events import DomainEvent
from registry import selectors as registry_selectors
from registry.errors import Conflict, InvalidParameter, NotFound, PermissionDenied
from registry.models import RegisteredModel
from webhooks import payloads, rules, transport
from webhooks.models import (
    DeliveryAttempt,
    DeliveryStatus,
    Webhook,
    WebhookDelivery,
    WebhookEventRecord,
    WebhookStatus,
)

logger = logging.getLogger(__name__)

GLOBAL_PERMISSION = "registry.manage_registry_webhooks"
DELIVER_TASK = "registry.webhooks.tasks.webhook_deliver"
SIGNATURE_HEADER = "X-MLflow-Signature"
TIMESTAMP_HEADER = "X-MLflow-Timestamp"
DELIVERY_ID_HEADER = "X-MLflow-Delivery-Id"
LIVE_STATUSES = (WebhookStatus.ACTIVE, WebhookStatus.TEST_MODE)
NAME_MAX = 256
DESCRIPTION_MAX = 5000
SECRET_MAX = 512


# --- Validation and permissions ----------------------------------------------------------


class WebhookUrlRefused(InvalidParameter):
    """A refused webhook URL; carries MLflow's wording too, which the MLflow routes answer."""

    def __init__(self, refusal: rules.UrlRefusal):
        super().__init__(refusal.message, field="url")
        self.mlflow_message = refusal.mlflow_message


def url_check(url: object) -> str:
    """The URL if it may be a webhook target now (scheme, credentials, every resolved address)."""
    refusal = rules.url_refusal(url, https_only=settings.QUORUM_WEBHOOK_HTTPS_ONLY)
    if refusal:
        raise WebhookUrlRefused(refusal)
    assert isinstance(url, str)
    parts = transport.urlsplit_host_port(url)
    refusal = rules.addresses_refusal(parts[0], transport.resolve(*parts), transport.allowlist())
    if refusal:
        raise WebhookUrlRefused(refusal)
    return url


def _text(value: object, field: str, maximum: int, *, required: bool = False) -> str:
    if value is None:
        value = ""
    if not isinstance(value, str):
        raise InvalidParameter(f"Parameter '{field}' must be a string.", field=field)
    if "\x00" in value:
        raise InvalidParameter(f"Parameter '{field}' cannot contain NUL characters.", field=field)
    if required and not value.strip():
        raise InvalidParameter(f"Parameter '{field}' is required.", field=field)
    if len(value) > maximum:
        raise InvalidParameter(f"Parameter '{field}' is longer than {maximum} characters.", field=field)
    return value


def _events(raw: object) -> list[str]:
    try:
        return rules.events_parse(raw)
    except ValueError as exc:
        raise InvalidParameter(str(exc), field="events")


def _status(raw: object) -> str:
    if isinstance(raw, str) and raw.strip().upper() in WebhookStatus.values:
        return raw.strip().upper()
    raise InvalidParameter(f"Status must be one of {', '.join(WebhookStatus.values)}.", field="status")


def may_manage_registry_webhooks(user: Any) -> bool:
    if user is None or not user.is_authenticated or not user.is_active:
        return False
    return user.is_superuser or user.has_perm(GLOBAL_PERMISSION)


def _scope_authorize(actor: Any, model: RegisteredModel | None, doing: str, *, write: bool = True) -> None:
    if model is None:
        if not may_manage_registry_webhooks(actor):
            raise PermissionDenied(
                f"{doing} a registry-wide webhook needs the global {GLOBAL_PERMISSION} permission."
            )
        if write and actor.is_superuser and not user_holds_global(actor, GLOBAL_PERMISSION):
            superuser_action_record(
                actor=actor, doing=f"{doing} a registry-wide webhook", target=None, needed=GLOBAL_PERMISSION
            )
    elif not user_can(actor, Level.MANAGE, model):
        raise PermissionDenied(f"{doing} a webhook of '{model.name}' needs MANAGE on it.")
    elif write and actor.is_superuser and not user_holds(actor, Level.MANAGE, model):
        superuser_action_record(
            actor=actor, doing=f"{doing} a webhook", target=model, needed=LEVEL_CODENAMES[Level.MANAGE]
        )


def webhook_for_actor(
    actor: Any, webhook_id: str, doing: str, *, lock: bool = False, write: bool = True
) -> Webhook:
    """A webhook the actor may see (else NotFound, whether missing or hidden) and manage."""
    from webhooks.selectors import webhooks_visible_to

    queryset = webhooks_visible_to(actor).select_related("model")
    if lock:
        queryset = (
            queryset.select_for_update(of=("self",))
            if _supports_for_update_of()
            else queryset.select_for_update()
        )
    webhook = queryset.filter(public_id=str(webhook_id)[:32]).first()
    if webhook is None:
        raise NotFound(f"Webhook with ID {str(webhook_id)[:64]} not found.")
    _scope_authorize(actor, webhook.model, doing, write=write)
    return webhook


def _supports_for_update_of() -> bool:

    return connection.features.has_select_for_update_of


def _audit(actor: Any, webhook: Webhook, change: str, after: dict[str, Any] | None = None) -> None:
    audit.record(
        actor=actor,
        action=Action.WEBHOOK_CHANGED,
        target=webhook,
        target_name=f"webhook {webhook.name} ({webhook.public_id})",
        model_name=webhook.model.name if webhook.model_id else "",
        after={"change": change, **(after or {})},
    )


def _public_fields(webhook: Webhook) -> dict[str, Any]:
    """What the audit trail keeps of a webhook: never the secret, only whether one is set."""
    return {
        "name": webhook.name,
        "url": webhook.url,
        "events": webhook.events,
        "status": webhook.status,
        "description": webhook.description,
        "model": webhook.model.name if webhook.model_id else None,
        "signed": bool(webhook.secret),
    }


# --- Subscriptions -----------------------------------------------------------------------


@transaction.atomic
def webhook_create(
    *,
    actor: Any,
    name: object,
    url: object,
    events: object,
    description: object = "",
    secret: object = None,
    status: object = WebhookStatus.ACTIVE,
    model_name: str | None = None,
    generate_secret: bool = True,
) -> tuple[Webhook, str]:
    """Create a subscription; returns it and its secret (shown this once, never again)."""
    model = None
    if model_name:
        model = registry_selectors.registered_model_get(actor, model_name)
    _scope_authorize(actor, model, "Creating")
    name = _text(name, "name", NAME_MAX, required=True)
    description = _text(description, "description", DESCRIPTION_MAX)
    secret = _text(secret, "secret", SECRET_MAX)
    if not secret and generate_secret:
        secret = "whsec_" + secrets.token_urlsafe(32)
    webhook = Webhook.objects.create(
        name=name,
        description=description,
        url=url_check(url),
        events=_events(events),
        secret=secret,
        status=_status(status or WebhookStatus.ACTIVE),
        model=model,
        created_by=actor if getattr(actor, "pk", None) else None,
    )
    _audit(actor, webhook, "created", _public_fields(webhook))
    return webhook, secret


_UNSET: Any = object()


@transaction.atomic
def webhook_update(
    *,
    actor: Any,
    webhook_id: str,
    name: object = _UNSET,
    url: object = _UNSET,
    events: object = _UNSET,
    description: object = _UNSET,
    secret: object = _UNSET,
    status: object = _UNSET,
) -> Webhook:
    """Change the given fields (others stay); a new secret is accepted but never shown back."""
    webhook = webhook_for_actor(actor, webhook_id, "Changing", lock=True)
    before = _public_fields(webhook)
    secret_changed = False
    if name is not _UNSET:
        webhook.name = _text(name, "name", NAME_MAX, required=True)
    if url is not _UNSET:
        webhook.url = url_check(url)
    if events is not _UNSET:
        webhook.events = _events(events)
    if description is not _UNSET:
        webhook.description = _text(description, "description", DESCRIPTION_MAX)
    if secret is not _UNSET:
        new_secret = _text(secret, "secret", SECRET_MAX)
        secret_changed = new_secret != webhook.secret
        webhook.secret = new_secret
    if status is not _UNSET:
        webhook.status = _status(status)
    webhook.save()
    after = _public_fields(webhook)
    changed = {k: v for k, v in after.items() if before.get(k) != v}
    if secret_changed:
        changed["secret_rotated"] = True
    if changed:
        _audit(actor, webhook, "updated", {"fields": changed})
    return webhook


@transaction.atomic
def webhook_delete(*, actor: Any, webhook_id: str) -> None:
    webhook = webhook_for_actor(actor, webhook_id, "Deleting", lock=True)
    _audit(actor, webhook, "deleted", _public_fields(webhook))
    webhook.delete()  # its deliveries and their log go with it


# --- The outbox: events written inside the change's transaction ---------------------------


def outbox_write(event: DomainEvent) -> None:
    """Subscriber of every domain event: write its webhook records and a delivery per live subscription.

    Runs inside the change's transaction (events.publish), so the outbox rows commit or roll back
    with the change. Events that raise no webhook cost nothing; the others one indexed query when
    nothing subscribes. The payload is built from the event by `payloads` (never from the audit
    record); only the audit seq of the same operation is linked, so a receiver can find it.
    """
    build = payloads.RAISED_BY.get(type(event))
    if build is None:
        return
    model = _subject_model(event)
    hooks = _live_webhooks(model.pk)
    if not hooks:
        return
    raised = [
        (name, data) for name, data in build(event) if any(rules.webhook_wants(h.events, name) for h in hooks)
    ]
    if raised:
        _outbox_rows_write(
            raised, model, hooks, actor=_actor_name(event.actor), audit_seq=last_recorded_seq()
        )


def _subject_model(event: DomainEvent) -> RegisteredModel:
    for path in ("model", "version", "request"):
        found = getattr(event, path, None)
        if found is not None:
            return found if path == "model" else found.model
    raise TypeError(f"{type(event).__name__} names no registered model")


def _actor_name(actor: Any) -> str:
    """The actor as the audit trail names it (a username, 'system' for the system and tasks)."""
    if getattr(actor, "is_authenticated", False):
        return actor.get_username()
    return "system" if actor == "system" or current_task_name.get() else "anonymous"


def _live_webhooks_of(model_id: int) -> QuerySet[Webhook]:
    """Live subscriptions of one model or of the whole registry (pk, events, status only)."""
    return Webhook.objects.filter(
        Q(model__isnull=True) | Q(model_id=model_id), status__in=list(LIVE_STATUSES)
    ).only("id", "events", "status")


# On every write that raises a webhook event: the queryset, prepared once per connection.
_LIVE_WEBHOOKS = PreparedQuery("quorum_live_webhooks", _live_webhooks_of, {"model_id": "bigint"})


def _live_webhooks(model_id: int) -> list[Webhook]:
    return _LIVE_WEBHOOKS.run(model_id=model_id)


def _outbox_rows_write(
    raised: list[tuple[str, dict[str, Any]]],
    model: RegisteredModel,
    hooks: list[Webhook],
    *,
    actor: str,
    audit_seq: int | None,
) -> None:
    now = timezone.now()
    pending: list[int] = []
    for event, data in raised:
        wanted = [hook for hook in hooks if rules.webhook_wants(hook.events, event)]
        if not wanted:
            continue
        record = WebhookEventRecord.objects.create(
            event=event,
            model_name=model.name,
            registered_model_id=model.pk,
            audit_seq=audit_seq,
            payload=payloads.envelope(event, data, actor=actor, audit_seq=audit_seq),
        )
        for hook in wanted:
            test_mode = hook.status == WebhookStatus.TEST_MODE
            delivery = WebhookDelivery.objects.create(
                webhook_id=hook.pk,
                record=record,
                status=DeliveryStatus.SUPPRESSED if test_mode else DeliveryStatus.PENDING,
                next_attempt_at=None if test_mode else now,
                last_error="test mode: logged, not sent" if test_mode else "",
            )
            if not test_mode:
                pending.append(delivery.pk)
    for pk in pending:
        transaction.on_commit(lambda pk=pk: delivery_dispatch(pk), robust=True)


# --- Publishing to Celery ------------------------------------------------------------------


def _eager() -> bool:
    from config.celery import app

    return bool(app.conf.task_always_eager)


def delivery_dispatch(delivery_pk: int, *, countdown: float | None = None) -> bool:
    """Publish one delivery's task now. Never raises: a failed publish is left for the sweep."""
    from webhooks import tasks

    # Marked before publishing: an in-process run records its own outcome (and clears this on failure).
    # The value is when the task is due to run; the sweep leaves the delivery alone until a grace after it.
    due = timezone.now() + timedelta(seconds=countdown or 0)
    WebhookDelivery.objects.filter(pk=delivery_pk).update(dispatched_at=due)
    try:
        # retry=False: with the broker down this fails fast instead of blocking the committed request.
        tasks.webhook_deliver.apply_async(args=[delivery_pk], countdown=countdown, retry=False)
    except Exception as exc:  # any publish failure (or an eager run's crash) is the sweep's to retry
        logger.warning("publishing webhook delivery %s failed; the sweep will retry: %s", delivery_pk, exc)
        WebhookDelivery.objects.filter(pk=delivery_pk, dispatched_at=due).update(dispatched_at=None)
        return False
    return True


def deliveries_sweep(*, now: datetime | None = None, limit: int = 500) -> int:
    """Publish again every due delivery nobody holds (Celery beat). Returns how many were published."""
    now = now or timezone.now()
    grace = timedelta(seconds=settings.QUORUM_WEBHOOK_REDISPATCH_SECONDS)
    due = (
        WebhookDelivery.objects.filter(status=DeliveryStatus.PENDING, next_attempt_at__lte=now)
        .filter(Q(leased_until__isnull=True) | Q(leased_until__lt=now))
        # Published recently: the broker still holds it (or its retry's countdown runs); not yet lost.
        .filter(Q(dispatched_at__isnull=True) | Q(dispatched_at__lte=now - grace))
        .order_by("next_attempt_at", "pk")
        .values_list("pk", flat=True)[:limit]
    )
    return sum(int(delivery_dispatch(pk)) for pk in list(due))


# --- One attempt ---------------------------------------------------------------------------


def signature(secret: str, delivery_id: str, timestamp: str, payload: str) -> str:
    """MLflow 3's scheme: v1,base64(HMAC-SHA256(secret, "<delivery id>.<timestamp>.<payload>"))."""
    digest = hmac.new(
        secret.encode("utf-8"), f"{delivery_id}.{timestamp}.{payload}".encode(), hashlib.sha256
    ).digest()
    return "v1," + base64.b64encode(digest).decode("ascii")


def request_headers(
    *, secret: str, delivery_id: str, payload: str, timestamp: str | None = None
) -> dict[str, str]:
    timestamp = timestamp or str(int(time.time()))
    headers = {
        "Content-Type": "application/json",
        DELIVERY_ID_HEADER: delivery_id,
        TIMESTAMP_HEADER: timestamp,
        "User-Agent": "Quorum-Webhooks/1",
    }
    if secret:
        headers[SIGNATURE_HEADER] = signature(secret, delivery_id, timestamp, payload)
    return headers


def _may_send(delivery: WebhookDelivery, webhook: Webhook) -> str:
    """Empty if this delivery may be sent now, else why not. A test goes out whatever the status."""
    if delivery.is_test:
        return ""
    if webhook.status == WebhookStatus.DISABLED:
        return "webhook disabled: not sent"
    if webhook.status == WebhookStatus.TEST_MODE and not delivery.sent_on_request:
        return "test mode: logged, not sent"
    return ""


@transaction.atomic
def _delivery_claim(delivery_pk: int, now: datetime) -> tuple[WebhookDelivery, int] | None:
    delivery = (
        (
            WebhookDelivery.objects.select_for_update(of=("self",))
            if _supports_for_update_of()
            else WebhookDelivery.objects.select_for_update()
        )
        .select_related("webhook", "record")
        .filter(pk=delivery_pk)
        .first()
    )
    if delivery is None or delivery.status != DeliveryStatus.PENDING:
        return None  # deleted, or a duplicate task after success or dead-lettering
    if delivery.next_attempt_at is not None and delivery.next_attempt_at > now + timedelta(seconds=1):
        return None  # an early duplicate of a scheduled retry
    if delivery.leased_until is not None and delivery.leased_until > now:
        return None  # another worker is sending it right now
    why_not = _may_send(delivery, delivery.webhook)
    if why_not:
        WebhookDelivery.objects.filter(pk=delivery.pk).update(
            status=DeliveryStatus.SUPPRESSED, next_attempt_at=None, last_error=why_not
        )
        return None
    number = delivery.attempts + 1
    lease = timedelta(
        seconds=max(settings.QUORUM_WEBHOOK_LEASE_SECONDS, settings.QUORUM_WEBHOOK_TIMEOUT_SECONDS + 1)
    )
    WebhookDelivery.objects.filter(pk=delivery.pk).update(
        attempts=number, leased_until=now + lease, first_attempt_at=delivery.first_attempt_at or now
    )
    delivery.attempts = number
    delivery.first_attempt_at = delivery.first_attempt_at or now
    return delivery, number


@transaction.atomic
def _attempt_record(
    delivery: WebhookDelivery, number: int, started: datetime, result: transport.PostResult
) -> str:
    DeliveryAttempt.objects.create(
        delivery=delivery,
        number=number,
        started_at=started,
        status_code=result.status_code,
        latency_ms=result.latency_ms,
        error=result.error[:2000],
        replay=delivery.sent_on_request and not delivery.is_test,
    )
    now = timezone.now()
    fields: dict[str, Any] = {"leased_until": None, "last_status_code": result.status_code}
    if result.status_code is not None and rules.is_success(result.status_code):
        fields.update(status=DeliveryStatus.SUCCEEDED, delivered_at=now, next_attempt_at=None, last_error="")
        outcome = "delivered"
    else:
        error = result.error or f"receiver answered HTTP {result.status_code}"
        verdict = rules.retry_decide(
            attempt=number,
            window_start=delivery.first_attempt_at or started,
            now=now,
            base=settings.QUORUM_WEBHOOK_BACKOFF_SECONDS,
            cap=settings.QUORUM_WEBHOOK_BACKOFF_MAX_SECONDS,
            window=settings.QUORUM_WEBHOOK_RETRY_WINDOW_SECONDS,
        )
        if verdict.dead or delivery.is_test:
            fields.update(
                status=DeliveryStatus.DEAD,
                next_attempt_at=None,
                last_error=f"{error}; {verdict.reason or 'tests are not retried'}",
            )
            outcome = "dead"
        else:
            # Not published yet: the retry below (with a broker) or the sweep (in-process) publishes it.
            fields.update(next_attempt_at=verdict.next_attempt_at, last_error=error, dispatched_at=None)
            outcome = "retry"
            if not _eager():
                # With a broker the retry is published with its delay; in-process, the sweep sends it.
                delay = max(0.0, (verdict.next_attempt_at - now).total_seconds())
                transaction.on_commit(lambda: delivery_dispatch(delivery.pk, countdown=delay), robust=True)
    WebhookDelivery.objects.filter(pk=delivery.pk).update(**fields)
    return outcome


def delivery_attempt(delivery_pk: int, *, now: datetime | None = None) -> str:
    """Send one delivery once if it is due and nobody else holds it; record the attempt."""
    claimed = _delivery_claim(delivery_pk, now or timezone.now())
    if claimed is None:
        return "skipped"
    delivery, number = claimed
    webhook, record = delivery.webhook, delivery.record
    started = timezone.now()
    problem = rules.url_problem(webhook.url, https_only=settings.QUORUM_WEBHOOK_HTTPS_ONLY)
    if problem:
        result = transport.PostResult(None, 0, f"refused: {problem}")
    else:
        headers = request_headers(
            secret=webhook.secret, delivery_id=str(delivery.delivery_id), payload=record.payload
        )
        result = transport.post(
            webhook.url,
            record.payload.encode("utf-8"),
            headers,
            timeout=settings.QUORUM_WEBHOOK_TIMEOUT_SECONDS,
        )
    return _attempt_record(delivery, number, started, result)


# --- Test and replay -------------------------------------------------------------------------


def webhook_test(
    *, actor: Any, webhook_id: str, event: str | None = None
) -> tuple[WebhookDelivery, DeliveryAttempt | None]:
    """Send an example event now (whatever the status, as MLflow's test does) and log it."""
    with transaction.atomic():
        webhook = webhook_for_actor(actor, webhook_id, "Testing")
        if event is None:
            event = next((e for e in webhook.events if e != rules.WILDCARD), rules.EVENTS[0])
        else:
            event = _events([event])[0]
            if event == rules.WILDCARD:
                raise InvalidParameter("Test one event, not '*'.", field="event")
        record = WebhookEventRecord.objects.create(
            event=event,
            model_name=webhook.model.name if webhook.model_id else "",
            registered_model_id=webhook.model_id,
            payload=payloads.envelope(
                event, payloads.example_data(event), actor=getattr(actor, "username", "")
            ),
        )
        delivery = WebhookDelivery.objects.create(
            webhook=webhook,
            record=record,
            is_test=True,
            status=DeliveryStatus.PENDING,
            next_attempt_at=timezone.now(),
        )
    # Sent in this request: the caller waits for the answer, as with MLflow's test endpoint.
    delivery_attempt(delivery.pk)
    delivery.refresh_from_db()
    return delivery, delivery.attempt_log.order_by("-number").first()


@transaction.atomic
def delivery_replay(*, actor: Any, webhook_id: str, delivery_id: str) -> WebhookDelivery:
    """Send a delivery again, with the same delivery id and body, and a fresh retry window."""
    webhook = webhook_for_actor(actor, webhook_id, "Replaying deliveries of", lock=True)
    try:
        key = uuid.UUID(str(delivery_id))
    except ValueError:
        raise NotFound(f"Delivery {str(delivery_id)[:64]} not found.")
    delivery = WebhookDelivery.objects.select_for_update().filter(webhook=webhook, delivery_id=key).first()
    if delivery is None:
        raise NotFound(f"Delivery {key} not found.")
    if webhook.status == WebhookStatus.DISABLED:
        raise Conflict("The webhook is disabled; enable it (or put it in TEST_MODE) to replay deliveries.")
    if (
        delivery.status == DeliveryStatus.PENDING
        and delivery.leased_until
        and delivery.leased_until > timezone.now()
    ):
        raise Conflict("This delivery is being sent right now; replay it once the attempt is recorded.")
    now = timezone.now()
    # A replay is a deliberate send: in test mode it goes out like a test call (sent_on_request).
    WebhookDelivery.objects.filter(pk=delivery.pk).update(
        status=DeliveryStatus.PENDING,
        next_attempt_at=now,
        first_attempt_at=None,
        leased_until=None,
        sent_on_request=True,
    )
    _audit(actor, webhook, "delivery replayed", {"delivery_id": str(key), "event": delivery.record.event})
    transaction.on_commit(lambda: delivery_dispatch(delivery.pk), robust=True)
    delivery.refresh_from_db()
    return delivery
