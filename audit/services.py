"""Writing audit events. Only `event_record` appends to the chain."""

import json
from typing import Any

from django.core.serializers.json import DjangoJSONEncoder
from django.db import connection, transaction
from django.utils import timezone

from audit.chain import GENESIS_HASH, event_hash
from audit.context import current_request, current_task_name
from audit.models import Action, ActorKind, AuditEvent, ChainHead


class AuditOutsideTransaction(RuntimeError):
    """audit.record was called outside a transaction: the event could outlive a rolled-back change."""


SECRET_KEYS = {"password", "secret", "token", "api_token", "webhook_secret", "authorization"}


def _scrub(value: Any) -> Any:
    """JSON-normalize a before/after value and drop anything that looks like a secret."""
    if value is None:
        return None
    normalized = json.loads(json.dumps(value, cls=DjangoJSONEncoder))
    if isinstance(normalized, dict):
        return {k: ("[redacted]" if k.lower() in SECRET_KEYS else v) for k, v in normalized.items()}
    return normalized


def _actor_fields(actor: Any) -> dict[str, Any]:
    ctx = current_request.get()
    task = current_task_name.get()
    if actor is None or actor == "system" or not getattr(actor, "is_authenticated", False):
        if task or actor == "system":
            return {
                "actor_id": None,
                "actor_username": "system",
                "actor_kind": ActorKind.SYSTEM,
                "actor_detail": task,
            }
        return {
            "actor_id": None,
            "actor_username": "anonymous",
            "actor_kind": ActorKind.ANONYMOUS,
            "actor_detail": "",
        }
    if getattr(actor, "is_service_account", False):
        kind = ActorKind.SERVICE_ACCOUNT
    elif ctx.token_name:
        kind = ActorKind.TOKEN
    else:
        kind = ActorKind.USER
    return {
        "actor_id": actor.pk,
        "actor_username": actor.get_username(),
        "actor_kind": kind,
        "actor_detail": ctx.token_name,
    }


def _lock_head() -> ChainHead:
    head = ChainHead.objects.select_for_update().filter(pk=1).first()
    if head is None:
        ChainHead.objects.get_or_create(pk=1, defaults={"seq": 0, "hash": GENESIS_HASH})
        head = ChainHead.objects.select_for_update().get(pk=1)
    return head


def event_record(
    *,
    actor: Any,
    action: Action | str,
    target: Any = None,
    target_type: str = "",
    target_id: str | int = "",
    target_name: str = "",
    model_name: str = "",
    version: int | None = None,
    before: Any = None,
    after: Any = None,
    reason: str = "",
) -> AuditEvent:
    """Append one event to the chain, inside the caller's transaction.

    The chain head is locked here, at the end of the caller's work, so concurrent writers
    wait on each other only for the append and commit.
    """
    if not connection.in_atomic_block:
        raise AuditOutsideTransaction(
            f"audit event {action!s} must be recorded inside the change's transaction"
        )
    action = Action(action)
    if target is not None:
        target_type = target_type or target._meta.label_lower
        target_id = target_id or target.pk
        target_name = target_name or str(target)
    ctx = current_request.get()
    fields: dict[str, Any] = {
        **_actor_fields(actor),
        "action": action.value,
        "target_type": target_type,
        "target_id": str(target_id or ""),
        "target_name": target_name[:600],
        "model_name": model_name,
        "version": version,
        "before": _scrub(before),
        "after": _scrub(after),
        "reason": reason or "",
        "request_id": ctx.request_id,
        "client_ip": ctx.client_ip,
        "user_agent": ctx.user_agent,
    }
    with transaction.atomic():
        head = _lock_head()
        fields["seq"] = head.seq + 1
        fields["prev_hash"] = head.hash
        fields["timestamp"] = timezone.now()
        fields["hash"] = event_hash(fields)
        event = AuditEvent.objects.create(**fields)
        ChainHead.objects.filter(pk=1).update(seq=event.seq, hash=event.hash)
    return event
