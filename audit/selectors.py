"""Reading the audit trail, filtered to what the reader may see.

Auditors (superusers, or anyone holding the global `audit.view_auditevent` permission) see every
event. Everyone else sees the events of the registered models they can read, matched by the
model's primary key so that renames keep the history and a re-used name does not reveal the
events of a deleted model.
"""

from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime, time
from typing import Any

from django.db.models import Q, QuerySet
from django.utils.dateparse import parse_date, parse_datetime

from audit.models import Action, AuditEvent
from registry.errors import InvalidParameter
from registry.selectors import registered_models_visible_to

AUDITOR_PERMISSION = "audit.view_auditevent"


def user_is_auditor(user: Any) -> bool:
    if user is None or not user.is_authenticated or not user.is_active:
        return False
    return user.is_superuser or user.has_perm(AUDITOR_PERMISSION)


def audit_events_visible_to(user: Any) -> QuerySet[AuditEvent]:
    """Every event for auditors; otherwise the events of models `user` may read."""
    if user is None or not user.is_authenticated or not user.is_active:
        return AuditEvent.objects.none()
    if user_is_auditor(user):
        return AuditEvent.objects.all()
    return AuditEvent.objects.filter(registered_model_id__in=registered_models_visible_to(user).values("pk"))


def model_condition(name: str) -> Q:
    """Events of the model now called `name` (by id, across renames), else of a deleted model of that name."""
    from registry.models import RegisteredModel

    model_id = RegisteredModel.objects.filter(name=name).values_list("pk", flat=True).first()
    if model_id is not None:
        return Q(registered_model_id=model_id)
    return Q(model_name=name)


def events_for_model(model_name: str, version: int | None = None) -> QuerySet[AuditEvent]:
    """The audit trail of a model (or one of its versions), newest first; for the admin pages."""
    events = AuditEvent.objects.filter(model_condition(model_name))
    if version is not None:
        events = events.filter(version=version)
    return events.order_by("-seq")


def parse_moment(raw: str, field_name: str, *, end_of_day: bool = False) -> datetime:
    """An ISO 8601 date-time (naive means UTC) or a date (its start, or its end for `until`)."""
    try:
        day = parse_date(raw)
    except ValueError:
        raise InvalidParameter(f"Parameter '{field_name}' is not a valid date: '{raw}'.", field=field_name)
    if day is not None:
        value = datetime.combine(day, time.max if end_of_day else time.min)
    else:
        try:
            value = parse_datetime(raw)
        except ValueError:
            value = None
        if value is None:
            raise InvalidParameter(
                f"Parameter '{field_name}' must be an ISO 8601 date or date-time, got '{raw}'.",
                field=field_name,
            )
    if value.tzinfo is None:
        value = value.replace(tzinfo=UTC)
    return value


@dataclass(frozen=True)
class EventFilter:
    """The filters of the events list, the export and `audit_report`."""

    model: str = ""
    version: int | None = None
    actor: str = ""
    actions: tuple[str, ...] = field(default_factory=tuple)
    since: datetime | None = None
    until: datetime | None = None
    after_seq: int | None = None

    @classmethod
    def from_params(
        cls, params: Mapping[str, Any], getlist: Callable[[str], list[str]] | None = None
    ) -> "EventFilter":
        """Parse query parameters (or command options); bad values raise InvalidParameter."""
        for name in ("model", "actor", "since", "until", "version", "after_seq"):
            _text_param(params.get(name), name)
        actions: list[str] = []
        raw_actions = getlist("action") if getlist else params.get("action") or []
        if isinstance(raw_actions, str):
            raw_actions = [raw_actions]
        for raw in raw_actions:
            actions += [part.strip() for part in _text_param(raw, "action").split(",") if part.strip()]
        known = set(Action.values)
        for action in actions:
            prefix = action.removesuffix("*")
            if action.endswith("*") and any(value.startswith(prefix) for value in known):
                continue
            if action not in known:
                raise InvalidParameter(
                    f"Unknown action '{action}'; use one of {', '.join(sorted(known))}, or a prefix "
                    "such as 'request.*'.",
                    field="action",
                )
        version = _int_param(params.get("version"), "version")
        if version is not None and not params.get("model"):
            raise InvalidParameter("Parameter 'version' needs 'model' too.", field="version")
        since_raw, until_raw = params.get("since"), params.get("until")
        since = parse_moment(str(since_raw), "since") if since_raw else None
        until = parse_moment(str(until_raw), "until", end_of_day=True) if until_raw else None
        if since and until and since > until:
            raise InvalidParameter("Parameter 'since' is after 'until'.", field="since")
        return cls(
            model=str(params.get("model") or ""),
            version=version,
            actor=str(params.get("actor") or ""),
            actions=tuple(actions),
            since=since,
            until=until,
            after_seq=_int_param(params.get("after_seq"), "after_seq", maximum=2**63 - 1),
        )

    def apply(self, events: QuerySet[AuditEvent]) -> QuerySet[AuditEvent]:
        if self.model:
            events = events.filter(model_condition(self.model))
        if self.version is not None:
            events = events.filter(version=self.version)
        if self.actor:
            events = events.filter(actor_username=self.actor)
        if self.actions:
            condition = Q()
            for action in self.actions:
                if action.endswith("*"):
                    condition |= Q(action__startswith=action.removesuffix("*"))
                else:
                    condition |= Q(action=action)
            events = events.filter(condition)
        if self.since is not None:
            events = events.filter(timestamp__gte=self.since)
        if self.until is not None:
            events = events.filter(timestamp__lte=self.until)
        if self.after_seq is not None:
            events = events.filter(seq__gt=self.after_seq)
        return events.order_by("seq")


def _text_param(raw: Any, name: str, max_length: int = 600) -> str:
    """A string filter value: bounded, and free of NUL (PostgreSQL cannot compare with one)."""
    text = "" if raw is None else str(raw)
    if "\x00" in text:
        raise InvalidParameter(f"Parameter '{name}' cannot contain NUL characters.", field=name)
    if len(text) > max_length:
        raise InvalidParameter(f"Parameter '{name}' is longer than {max_length} characters.", field=name)
    return text


def _int_param(raw: Any, name: str, maximum: int = 2**31 - 1) -> int | None:
    if raw is None or raw == "":
        return None
    try:
        value = int(raw)
    except (TypeError, ValueError):
        raise InvalidParameter(f"Parameter '{name}' must be an integer, got '{raw}'.", field=name)
    if not 0 <= value <= maximum:
        raise InvalidParameter(f"Parameter '{name}' must be between 0 and {maximum}.", field=name)
    return value


def audit_events_list(user: Any, event_filter: EventFilter) -> QuerySet[AuditEvent]:
    return event_filter.apply(audit_events_visible_to(user))
