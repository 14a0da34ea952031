"""Writing audit events and checkpoints. Only `event_record` appends to the chain."""

import json
from collections.abc import Callable
from typing import Any

from django.apps import apps
from django.conf import settings
from django.core.serializers.json import DjangoJSONEncoder
from django.db import connection, transaction
from django.utils import timezone

from audit.chain import GENESIS_HASH, canonical_bytes, checkpoint_signature, event_hash, key_id
from audit.context import current_request, current_task_name
from audit.models import Action, ActorKind, AuditCheckpoint, AuditEvent, ChainHead
from config.prepared import PreparedStatement


class AuditOutsideTransaction(RuntimeError):
    """audit.record was called outside a transaction: the event could outlive a rolled-back change."""


class AuditChainMismatch(RuntimeError):
    """The hash PostgreSQL computed for an append is not the canonical one: the append is refused."""


class CheckpointKeyMissing(RuntimeError):
    """QUORUM_AUDIT_HMAC_KEY is unset: an unsigned checkpoint would prove nothing, so none is made."""


# Each listener is called with a new event's fields (all but seq, timestamp and the hashes) inside the
# change's transaction but before the chain head is locked, so its reads do not lengthen the section
# every writer waits for; it returns None, or a function called with the appended AuditEvent to write
# what needs the event's seq (e.g. the webhook outbox, registered in registry/apps.py). A listener
# that raises rolls the change back, like a failed audit write.
EventListener = Callable[[dict[str, Any]], Callable[[AuditEvent], None] | None]
EVENT_LISTENERS: list[EventListener] = []

SECRET_KEYS = {"password", "secret", "token", "api_token", "webhook_secret", "authorization"}


def _scrub(value: Any) -> Any:
    """JSON-normalize a before/after value and drop anything that looks like a secret."""
    if value is None:
        return None
    return _redacted(json.loads(json.dumps(value, cls=DjangoJSONEncoder)))


def _redacted(value: Any) -> Any:
    """Replace the values of secret-named keys, at any depth (a webhook's nested config, a list of tokens)."""
    if isinstance(value, dict):
        return {k: ("[redacted]" if k.lower() in SECRET_KEYS else _redacted(v)) for k, v in value.items()}
    if isinstance(value, list):
        return [_redacted(item) for item in value]
    return value


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


def _registered_model_id(target: Any, model_name: str) -> int | None:
    """The registered model an event is about: the target itself, the target's model, or by name."""
    if target is not None:
        if target._meta.label_lower == "registry.registeredmodel":
            return target.pk
        field = next((f for f in target._meta.concrete_fields if f.name == "model" and f.is_relation), None)
        if field is not None and field.related_model._meta.label_lower == "registry.registeredmodel":
            return getattr(target, field.attname)
    if model_name:
        registered_model = apps.get_model("registry", "RegisteredModel")
        return registered_model.objects.filter(name=model_name).values_list("pk", flat=True).first()
    return None


def _lock_head() -> ChainHead:
    head = ChainHead.objects.select_for_update().filter(pk=1).first()
    if head is None:
        # First append ever, or the head row was removed: continue from the last event, so a
        # lost head can neither restart numbering at 1 nor block every write on a duplicate seq.
        last = AuditEvent.objects.order_by("-seq").values_list("seq", "hash").first() or (0, GENESIS_HASH)
        ChainHead.objects.get_or_create(pk=1, defaults={"seq": last[0], "hash": last[1]})
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
    registered_model_id: int | None = None,
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
    if registered_model_id is None:
        registered_model_id = _registered_model_id(target, model_name)
    ctx = current_request.get()
    fields: dict[str, Any] = {
        **_actor_fields(actor),
        "action": action.value,
        "target_type": target_type,
        "target_id": str(target_id or ""),
        "target_name": target_name[:600],
        "model_name": model_name,
        "registered_model_id": registered_model_id,
        "version": version,
        "before": _scrub(before),
        "after": _scrub(after),
        "reason": reason or "",
        "request_id": ctx.request_id,
        "client_ip": ctx.client_ip,
        "user_agent": ctx.user_agent,
    }
    finishers = [finish for listener in EVENT_LISTENERS if (finish := listener(fields)) is not None]
    # No savepoint: if the append fails, the change's whole transaction must roll back.
    with transaction.atomic(savepoint=False):
        event = _append_in_one_statement(fields) if connection.vendor == "postgresql" else None
        if event is None:
            head = _lock_head()
            fields["seq"] = head.seq + 1
            fields["prev_hash"] = head.hash
            fields["timestamp"] = timezone.now()
            fields["hash"] = event_hash(fields)
            event = AuditEvent.objects.create(**fields)
            ChainHead.objects.filter(pk=1).update(seq=event.seq, hash=event.hash)
        for finish in finishers:
            finish(event)
    return event


# The chained fields whose values only the locked head decides, in the order they appear in the
# canonical JSON (keys sorted), with the placeholder each has while the rest is serialized.
_PLACEHOLDERS = (("prev_hash", ""), ("seq", 0))


def _canonical_pieces(fields: dict[str, Any]) -> list[str]:
    """The canonical JSON of an event cut around the values of prev_hash and seq (3 pieces).

    Top-level keys are sorted and every key after "prev_hash" holds a scalar, so the last
    '"prev_hash":""' and the first '"seq":0' after it are the top-level ones (inside string
    values quotes are escaped; nested objects only occur in before/after).
    """
    text = canonical_bytes({**fields, **dict(_PLACEHOLDERS)}).decode("utf-8")
    cut, _, rest = text.rpartition('"prev_hash":""')
    pieces = [cut + '"prev_hash":"']
    rest = '"' + rest
    for name, placeholder in _PLACEHOLDERS[1:]:
        marker = f'"{name}":{json.dumps(placeholder)}'
        before, found, rest = rest.partition(marker)
        if not found or not cut:
            raise AssertionError(f"canonical JSON without the {name} key")
        quote = '"' if isinstance(placeholder, str) else ""
        pieces.append(f'{before}"{name}":{quote}')
        rest = quote + rest
    pieces.append(rest)
    return pieces


def _own_fields() -> list:
    """The event's columns Python fills in (all but the id and the chained ones), in model order."""
    return [f for f in AuditEvent._meta.concrete_fields if f.attname not in ("id", *CHAINED)]


def _append_sql() -> str:
    """PostgreSQL: lock the head, chain, insert the event and move the head in one statement.

    One round trip from taking the chain-head lock to the COMMIT that releases it. The hash is
    computed by PostgreSQL over exactly the canonical bytes of audit/chain.py: the JSON Python
    serialized, with the head's hash and the next seq spliced in.
    """
    qn = connection.ops.quote_name
    own = _own_fields()
    columns = ", ".join(qn(f.column) for f in own)
    values = ", ".join(f"${n}" for n in range(1, len(own) + 1))
    ts, cut1, cut2, cut3 = (f"${n}" for n in range(len(own) + 1, len(own) + 5))
    return f"""
WITH head AS MATERIALIZED (
    SELECT seq, hash FROM {qn(ChainHead._meta.db_table)} WHERE id = 1 FOR UPDATE
), next AS MATERIALIZED (
    SELECT seq + 1 AS seq, hash AS prev_hash FROM head
), appended AS (
    INSERT INTO {qn(AuditEvent._meta.db_table)} ({columns}, seq, timestamp, prev_hash, hash)
    SELECT {values}, n.seq, {ts}, n.prev_hash, encode(sha256(convert_to(
        {cut1} || n.prev_hash || {cut2} || n.seq::text || {cut3}, 'UTF8')), 'hex')
    FROM next n
    RETURNING id, seq, timestamp, prev_hash, hash
), moved AS (
    UPDATE {qn(ChainHead._meta.db_table)} h SET seq = a.seq, hash = a.hash FROM appended a WHERE h.id = 1
)
SELECT id, seq, timestamp, prev_hash, hash FROM appended"""


_APPEND: PreparedStatement | None = None


def _append_statement() -> PreparedStatement:
    """Prepared once per connection (config/prepared.py): it is on every audited write."""
    global _APPEND
    if _APPEND is None:
        types = [f.db_type(connection) for f in _own_fields()] + ["timestamp with time zone"] + ["text"] * 3
        _APPEND = PreparedStatement("quorum_audit_append", types, _append_sql)
    return _APPEND


CHAINED = ("seq", "timestamp", "prev_hash", "hash")


def _append_in_one_statement(fields: dict[str, Any]) -> AuditEvent | None:
    """Append on PostgreSQL; None when there is no head row yet (the caller creates it)."""
    values = [f.get_db_prep_save(fields[f.attname], connection) for f in _own_fields()]
    # Taken just before the lock: under contention a later seq may carry a timestamp a few
    # milliseconds earlier than its predecessor's (the chain orders events, seq is the order).
    fields["timestamp"] = timezone.now()
    rows = _append_statement().fetchall([*values, fields["timestamp"], *_canonical_pieces(fields)])
    if not rows:
        return None
    event_id, fields["seq"], fields["timestamp"], fields["prev_hash"], fields["hash"] = rows[0]
    # PostgreSQL hashed the spliced bytes; Python's canonical form must agree, or nothing commits.
    if event_hash(fields) != fields["hash"]:
        raise AuditChainMismatch(f"seq {fields['seq']}: the database's hash differs from audit.chain's")
    event = AuditEvent(id=event_id, **fields)
    event._state.adding = False
    event._state.db = connection.alias
    return event


@transaction.atomic
def checkpoint_create(*, actor: Any, skip_if_unchanged: bool = False) -> AuditCheckpoint | None:
    """Sign the chain head (seq, hash) with the HMAC key and store it; record that as an event.

    With `skip_if_unchanged` (the periodic task), nothing is written when no event other than
    checkpoints was appended since the last checkpoint, so an idle registry does not grow.
    """
    key = settings.QUORUM_AUDIT_HMAC_KEY
    if not key:
        raise CheckpointKeyMissing(
            "QUORUM_AUDIT_HMAC_KEY is not set: refusing to write an unsigned audit checkpoint."
        )
    head = _lock_head()  # appends wait while the head is read and signed, so (seq, hash) is the real head
    if skip_if_unchanged:
        latest = AuditCheckpoint.objects.order_by("-seq", "-pk").first()
        if (
            latest is not None
            and not AuditEvent.objects.filter(seq__gt=latest.seq)
            .exclude(action=Action.CHECKPOINT_CREATED)
            .exists()
        ):
            return None
    now = timezone.now()
    actor_fields = _actor_fields(actor)
    created_by = actor_fields["actor_username"]
    if actor_fields["actor_detail"] and actor_fields["actor_kind"] == ActorKind.SYSTEM:
        created_by = f"system:{actor_fields['actor_detail']}"
    checkpoint = AuditCheckpoint.objects.create(
        seq=head.seq,
        hash=head.hash,
        created_at=now,
        key_id=key_id(key),
        signature=checkpoint_signature(key, head.seq, head.hash, now),
        created_by=created_by[:200],
    )
    event_record(
        actor=actor,
        action=Action.CHECKPOINT_CREATED,
        target=checkpoint,
        target_name=f"checkpoint #{checkpoint.seq}",
        after={"seq": checkpoint.seq, "hash": checkpoint.hash, "key_id": checkpoint.key_id},
    )
    from audit.checkpoint_store import checkpoint_publish

    # The object store copy is written only once the checkpoint row is committed.
    transaction.on_commit(lambda: checkpoint_publish(checkpoint.pk))
    return checkpoint
