"""Writing audit events and checkpoints. Only `event_record` appends to the chain."""

import json
from contextvars import ContextVar
from typing import Any

from django.apps import apps
from django.conf import settings
from django.core.serializers.json import DjangoJSONEncoder
from django.db import connection, transaction
from django.utils import timezone

from audit.chain import ED25519, GENESIS_HASH, canonical_bytes, checkpoint_sign_ed25519, event_hash
from audit.context import current_request, current_task_name
from audit.keys import signing_key
from audit.models import Action, ActorKind, AuditCheckpoint, AuditEvent, ChainHead
from audit.privileged import event_is_privileged
from audit.triggers import GENERATION_TABLE, PENDING_TABLE, PIECE_SEPARATOR
from config.prepared import PreparedStatement, saved_mark


class AuditOutsideTransaction(RuntimeError):
    """audit.record was called outside a transaction: the event could outlive a rolled-back change."""


class AuditChainMismatch(RuntimeError):
    """The hash PostgreSQL computed for an append is not the canonical one: the append is refused."""


# The event this thread appended last: what a webhook published in the same operation links to.
_last_recorded: ContextVar[AuditEvent | None] = ContextVar("quorum_audit_last_recorded", default=None)

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
    if connection.vendor == "postgresql":
        # The sealing trigger's lock order (audit/triggers.py): the serving generation first.
        with connection.cursor() as cursor:
            cursor.execute(f"SELECT 1 FROM {GENERATION_TABLE} WHERE id = 1 FOR UPDATE")
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

    On PostgreSQL the event is queued and sealed (seq, prev_hash, hash) by a trigger at COMMIT,
    so the returned event has no seq yet unless a listener needed it; on SQLite it is chained here.
    See docs/audit.md, "Concurrency".
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
    # No savepoint: if the append fails, the change's whole transaction must roll back.
    with transaction.atomic(savepoint=False):
        if connection.vendor == "postgresql":
            event = _pending_append(fields)
        else:
            head = _lock_head()
            fields["seq"] = head.seq + 1
            fields["prev_hash"] = head.hash
            fields["timestamp"] = timezone.now()
            fields["hash"] = event_hash(fields)
            event = AuditEvent.objects.create(**fields)
            ChainHead.objects.filter(pk=1).update(seq=event.seq, hash=event.hash)
    _last_recorded.set(event)
    if action != Action.CHECKPOINT_CREATED and event_is_privileged(fields):
        checkpoint_after_commit()
    return event


PRIVILEGED_CHECKPOINT_TASK = "audit.privileged_change"


def checkpoint_after_commit() -> None:
    """Once per transaction: sign the head right after it commits (a privileged change is in it).

    In-process without a broker; with one, a Celery task does it (the request does not wait for the
    governed store). A lost checkpoint is logged and the timer's next checkpoint covers the change.
    """
    if not settings.QUORUM_AUDIT_CHECKPOINT_ON_PRIVILEGED:
        return
    # The callback registered for this transaction, if it is still waiting: Django keeps the open
    # transaction's callbacks in run_on_commit (a rollback drops them), and the callback forgets
    # itself when it runs.
    waiting = getattr(connection, "quorum_privileged_checkpoint", None)
    if waiting is not None and any(entry[1] is waiting for entry in connection.run_on_commit):
        return

    def after_commit() -> None:
        connection.quorum_privileged_checkpoint = None
        _checkpoint_privileged()

    connection.quorum_privileged_checkpoint = after_commit
    transaction.on_commit(after_commit, robust=True)


def _checkpoint_privileged() -> None:
    if settings.CELERY_TASK_ALWAYS_EAGER:
        checkpoint_after_privileged_change()
    else:
        from audit.tasks import audit_checkpoint_after_change

        audit_checkpoint_after_change.delay()


def checkpoint_after_privileged_change() -> AuditCheckpoint | None:
    reset = current_task_name.set(PRIVILEGED_CHECKPOINT_TASK)
    try:
        return checkpoint_create(actor="system", skip_if_unchanged=True)
    finally:
        current_task_name.reset(reset)


def last_recorded_seq() -> int | None:
    """The seq of the event this thread appended last, sealing it now if it waits for COMMIT.

    For a record that must name the audit event of its operation (a webhook's `audit_seq`). On
    PostgreSQL sealing takes the chain head, which then stays locked until COMMIT, as every append
    did before sealing moved to COMMIT: only operations somebody subscribed to pay it.
    """
    event = _last_recorded.get()
    if event is None:
        return None
    if event.seq is None and connection.vendor == "postgresql" and connection.in_atomic_block:
        pending_seal()
        _sealed_read(event)
    return event.seq


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


def _pending_sql() -> str:
    """PostgreSQL: queue one event for sealing at COMMIT (audit/triggers.py, PG_SEAL_SQL).

    The event's id is taken from its table's own sequence now, so the caller knows it; its columns
    travel as JSON (to_jsonb of the typed values, read back by jsonb_populate_record), with the
    canonical JSON cut around prev_hash and seq, for the trigger to splice and hash.
    """
    qn = connection.ops.quote_name
    own = _own_fields()
    values = ", ".join(f"${n} AS {qn(f.column)}" for n, f in enumerate(own, start=1))
    ts, pieces = f"${len(own) + 1}", f"${len(own) + 2}"
    table = AuditEvent._meta.db_table
    return f"""
WITH event AS MATERIALIZED (
    SELECT nextval(pg_get_serial_sequence('{table}', 'id')) AS id, {values}, {ts} AS timestamp
)
INSERT INTO {PENDING_TABLE} (id, fields, pieces) SELECT id, to_jsonb(event), {pieces} FROM event
RETURNING id"""


_PENDING: PreparedStatement | None = None


def _pending_statement() -> PreparedStatement:
    """Prepared once per connection (config/prepared.py): it is on every audited write."""
    global _PENDING
    if _PENDING is None:
        # Unbounded types: an over-long value reaches its column unchanged and is refused there.
        types = [_unbounded(f.db_type(connection)) for f in _own_fields()]
        _PENDING = PreparedStatement(
            "quorum_audit_pending", [*types, "timestamp with time zone", "text"], _pending_sql
        )
    return _PENDING


def _unbounded(db_type: str) -> str:
    return "text" if db_type.startswith("varchar") else db_type


CHAINED = ("seq", "timestamp", "prev_hash", "hash")


def _pending_append(fields: dict[str, Any]) -> AuditEvent:
    """Queue the event; it gets its seq, prev_hash and hash when the transaction commits."""
    values = [f.get_db_prep_save(fields[f.attname], connection) for f in _own_fields()]
    # Taken before sealing: under contention a later seq may carry a timestamp a few milliseconds
    # earlier than its predecessor's (the chain orders events, seq is the order).
    fields["timestamp"] = timezone.now()
    pieces = _canonical_pieces(fields)
    if any(PIECE_SEPARATOR in piece for piece in pieces):
        raise AssertionError("canonical JSON holds a raw control character")
    rows = _pending_statement().fetchall([*values, fields["timestamp"], PIECE_SEPARATOR.join(pieces)])
    event = AuditEvent(id=rows[0][0], **{**fields, "seq": None, "prev_hash": None, "hash": None})
    saved_mark(event, event.pk)
    return event


def pending_seal() -> None:
    """Seal this transaction's pending events now, in append order (PostgreSQL; else nothing to do).

    For code that must read its own transaction's events, with their seq and hash, before COMMIT:
    from here on the chain head stays locked until the transaction ends.
    """
    if connection.vendor == "postgresql" and connection.in_atomic_block:
        with connection.cursor() as cursor:
            cursor.execute("SELECT quorum_audit_seal_pending()")


def _sealed_read(event: AuditEvent) -> None:
    """Fill in a sealed event's chained fields, and check PostgreSQL's hash against audit.chain's."""
    event.seq, event.prev_hash, event.hash = (
        AuditEvent.objects.filter(pk=event.pk).values_list("seq", "prev_hash", "hash").get()
    )
    fields = {f.attname: getattr(event, f.attname) for f in AuditEvent._meta.concrete_fields}
    if event_hash(fields) != event.hash:
        raise AuditChainMismatch(f"seq {event.seq}: the database's hash differs from audit.chain's")


@transaction.atomic
def checkpoint_create(*, actor: Any, skip_if_unchanged: bool = False) -> AuditCheckpoint | None:
    """Sign the chain head (seq, hash) with the Ed25519 signing key and store it; record that as an event.

    With `skip_if_unchanged` (the timer, and the checkpoint after a privileged change), nothing is
    written when no event other than checkpoints was appended since the last checkpoint, so an idle
    registry does not grow. After commit the signed document is copied to the governed store.
    """
    key = signing_key()  # before any lock: generating the embedded default's key touches the disk
    pending_seal()  # this transaction's own earlier events first, so the signed head includes them
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
    signer, signature = checkpoint_sign_ed25519(key, head.seq, head.hash, now)
    checkpoint = AuditCheckpoint.objects.create(
        seq=head.seq,
        hash=head.hash,
        created_at=now,
        key_id=signer,
        algorithm=ED25519,
        signature=signature,
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


def _is_registered_model(target: Any) -> bool:
    meta = getattr(target, "_meta", None)
    return meta is not None and meta.label_lower == "registry.registeredmodel"


def superuser_action_record(*, actor: Any, doing: str, target: object, needed: str) -> None:
    """Audit, once per operation, a superuser doing what only their superuser status allows."""
    # Its own atomic block: callers inside a transaction roll it back with their change, and a
    # caller outside one still gets the event written.
    with transaction.atomic():
        event_record(
            actor=actor,
            action=Action.SUPERUSER_ACTION,
            target=target,
            model_name=target.name if _is_registered_model(target) else "",
            after={"doing": doing, "permission_not_granted": needed},
        )
