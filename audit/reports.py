"""Ready-made reports an auditor asks for, computed from audit events (and guardian for grants).

Each report takes an events queryset already narrowed to what the reader may see
(`audit.selectors.audit_events_visible_to`) and returns plain rows (dicts with fixed keys), so
the API, `manage.py audit_report` and the admin pages show the same thing.

Promotions come from events alone, so they work whichever workflow wrote them:
- a transition request is the group of `request.*` events with the same target (type, id); its
  outcome is its last `request.applied`, `request.rejected` or `request.failed` event;
- a direct change is a `model_version.stage_changed` into Staging or Production, or an
  `alias.set`, that is not the application of a request. Events of one transaction have
  consecutive sequence numbers (the chain head stays locked until commit), so a change whose
  neighbours within APPLY_WINDOW include a `request.applied` for the same version belongs to
  that request.

Promotions count only governed targets, i.e. requests: governance refuses a direct change of a
target a policy governs (registry.ports.direct_change_check), so a direct change moved an
ungoverned stage or alias (a @challenger, a Staging without a policy). Those are listed apart
(`direct_changes`, and a `direct` count beside the weekly chart's), never as promotions.

Every report is named in REPORTS with its columns and how it reads an EventFilter, so the API,
`manage.py audit_report` and the admin run the same definition (`report_rows`): a filter the
report takes filters the same way in all three.
"""

from collections import defaultdict
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from typing import Any

from django.db.models import Q, QuerySet

from access.grants import Level
from audit.chain import canonical_timestamp
from audit.models import Action, ActorKind, AuditEvent
from audit.selectors import EventFilter, model_condition
from registry.errors import InvalidParameter

APPLY_WINDOW = 5
PROMOTING_STAGES = {"Staging", "Production"}
OUTCOME_ACTIONS = {
    Action.REQUEST_APPLIED.value: "applied",
    Action.REQUEST_REJECTED.value: "rejected",
    Action.REQUEST_FAILED.value: "failed",
}
ACCESS_ACTIONS = (
    Action.ACCESS_GRANTED,
    Action.ACCESS_REVOKED,
    Action.TOKEN_CREATED,
    Action.TOKEN_REVOKED,
    Action.USER_CREATED,
    Action.USER_UPDATED,
    Action.TEAM_CHANGED,
    Action.SUPERUSER_ACTION,
    Action.POLICY_CHANGED,
)

PROMOTION_FIELDS = (
    "kind",
    "request",
    "model",
    "version",
    "target",
    "outcome",
    "requester",
    "requested_at",
    "approvers",
    "decided_by",
    "decision_signature",
    "decided_at",
    "comment",
    "evidence_digest",
    "seconds_to_apply",
)
ALIAS_FIELDS = ("seq", "at", "model", "alias", "from_version", "to_version", "actor", "reason")
ACCESS_FIELDS = ("seq", "at", "action", "actor", "target", "model", "before", "after", "reason")
SOD_FIELDS = ("kind", "user", "model", "version", "detail")
WEEK_FIELDS = ("week", "applied", "rejected", "failed", "direct")
DIRECT_FIELDS = ("seq", "at", "model", "version", "target", "actor", "comment")


def _at(value: datetime | None) -> str | None:
    return canonical_timestamp(value) if value else None


def _in_period(
    events: QuerySet[AuditEvent], since: datetime | None, until: datetime | None
) -> QuerySet[AuditEvent]:
    if since is not None:
        events = events.filter(timestamp__gte=since)
    if until is not None:
        events = events.filter(timestamp__lte=until)
    return events


def _find_digest(value: Any) -> str:
    """The first value under a key mentioning 'digest' (e.g. evidence.artifact_digest), searched depth-first."""
    if isinstance(value, dict):
        for key, inner in value.items():
            if "digest" in key.lower() and isinstance(inner, str) and inner:
                return inner
        for inner in value.values():
            if found := _find_digest(inner):
                return found
    return ""


def _request_target(event: AuditEvent) -> str:
    after = event.after if isinstance(event.after, dict) else {}
    target = after.get("target") or after.get("stage") or after.get("to_stage") or after.get("alias")
    if not target:
        return ""
    kind = after.get("target_kind", "alias" if after.get("alias") and not after.get("stage") else "stage")
    text = str(target)
    # Requests record an alias target as their label, '@champion'.
    return alias_label(text.removeprefix("@")) if kind == "alias" or text.startswith("@") else text


def alias_label(alias: str) -> str:
    """How a report names an alias target: `alias:champion`.

    Not `@champion`: a spreadsheet reads a cell starting with @ as a formula, so a CSV would have
    to write it as `'@champion`, which is not what the registry calls it.
    """
    return f"alias:{alias}"


def _signature_line(event: AuditEvent) -> str:
    """The electronic signature a decision's event carries, as it reads (empty: unsigned)."""
    after = event.after if isinstance(event.after, dict) else {}
    signature = after.get("signature")
    return signature.get("line", "") if isinstance(signature, dict) else ""


@dataclass
class _Request:
    key: tuple[str, str]
    events: list[AuditEvent]

    def row(self) -> dict[str, Any]:
        created = next((e for e in self.events if e.action == Action.REQUEST_CREATED), None)
        outcome_event = [e for e in self.events if e.action in OUTCOME_ACTIONS][-1]
        first = created or self.events[0]
        # The pipeline's hand-over is recorded as a system "approval"; only people approve.
        approvals = [
            e for e in self.events if e.action == Action.REQUEST_APPROVED and e.actor_kind != ActorKind.SYSTEM
        ]
        digest = ""
        for event in [outcome_event, *reversed(approvals), *([created] if created else [])]:
            digest = digest or _find_digest(event.after)
        outcome = OUTCOME_ACTIONS[outcome_event.action]
        seconds = None
        if created is not None and outcome == "applied":
            seconds = round((outcome_event.timestamp - created.timestamp).total_seconds(), 3)
        return {
            "kind": "request",
            "request": self.key[1],
            "model": first.model_name,
            "version": first.version,
            "target": next((t for t in (_request_target(e) for e in self.events) if t), ""),
            "outcome": outcome,
            "requester": created.actor_username if created else None,
            "requested_at": _at(created.timestamp) if created else None,
            "approvers": [
                {
                    "user": e.actor_username,
                    "at": _at(e.timestamp),
                    "comment": e.reason,
                    "signature": _signature_line(e),
                }
                for e in approvals
            ],
            "decided_by": outcome_event.actor_username,
            "decision_signature": _signature_line(outcome_event) if outcome_event not in approvals else "",
            "decided_at": _at(outcome_event.timestamp),
            "comment": outcome_event.reason or (created.reason if created else ""),
            "evidence_digest": digest,
            "seconds_to_apply": seconds,
        }


def _direct_target(event: AuditEvent) -> str | None:
    after = event.after if isinstance(event.after, dict) else {}
    if event.action == Action.VERSION_STAGE_CHANGED:
        stage = after.get("stage")
        return stage if stage in PROMOTING_STAGES else None
    alias = after.get("alias")
    return alias_label(alias) if alias else None


def promotions_report(
    events: QuerySet[AuditEvent], since: datetime | None = None, until: datetime | None = None
) -> list[dict[str, Any]]:
    """Requests (governed promotions) applied, rejected or failed in the period; oldest first."""
    decided = _in_period(events.filter(action__in=OUTCOME_ACTIONS), since, until)
    keys = set(decided.values_list("target_type", "target_id"))
    by_request: dict[tuple[str, str], list[AuditEvent]] = defaultdict(list)
    if keys:
        ids_by_type: dict[str, set[str]] = defaultdict(set)
        for target_type, target_id in keys:
            ids_by_type[target_type].add(target_id)
        condition = Q()
        for target_type, ids in ids_by_type.items():
            condition |= Q(target_type=target_type, target_id__in=ids)
        for event in events.filter(action__startswith="request.").filter(condition).order_by("seq"):
            by_request[(event.target_type, event.target_id)].append(event)
    rows: list[tuple[int, dict[str, Any]]] = []
    for key, request_events in by_request.items():
        outcome = [e for e in request_events if e.action in OUTCOME_ACTIONS][-1]
        rows.append((outcome.seq, _Request(key, request_events).row()))

    return [row for _, row in sorted(rows, key=lambda pair: pair[0])]


def direct_changes(
    events: QuerySet[AuditEvent], since: datetime | None = None, until: datetime | None = None
) -> list[dict[str, Any]]:
    """Stages and aliases moved without a request (ungoverned targets) in the period; oldest first."""
    changes = _in_period(
        events.filter(action__in=[Action.VERSION_STAGE_CHANGED, Action.ALIAS_SET]), since, until
    ).order_by("seq")
    # Where requests were applied (a day's margin around the period covers the same transaction).
    applied_at: dict[tuple[str, int | None], list[int]] = defaultdict(list)
    margin = timedelta(days=1)
    applied = AuditEvent.objects.filter(action=Action.REQUEST_APPLIED)
    applied = _in_period(applied, since and since - margin, until and until + margin)
    for model_name, version, seq in applied.values_list("model_name", "version", "seq").iterator():
        applied_at[(model_name, version)].append(seq)
    rows = []
    for event in changes.iterator(chunk_size=2000):
        target = _direct_target(event)
        if target is None:
            continue
        nearby = applied_at.get((event.model_name, event.version), [])
        if any(abs(seq - event.seq) <= APPLY_WINDOW for seq in nearby):
            continue
        rows.append(
            {
                "seq": event.seq,
                "at": _at(event.timestamp),
                "model": event.model_name,
                "version": event.version,
                "target": target,
                "actor": event.actor_username,
                "comment": event.reason,
            }
        )
    return rows


def _week_start(day: date) -> date:
    return day - timedelta(days=day.weekday())


def promotions_per_week(
    events: QuerySet[AuditEvent], since: datetime | None = None, until: datetime | None = None
) -> list[dict[str, Any]]:
    """Applied, rejected and failed promotions per ISO week (Monday), every week of the span listed.

    `direct` counts the week's direct changes of ungoverned targets apart: they are not promotions.
    """
    counts: dict[date, dict[str, int]] = {}
    empty = {"applied": 0, "rejected": 0, "failed": 0, "direct": 0}
    dated = [(row["decided_at"], row["outcome"]) for row in promotions_report(events, since, until)]
    dated += [(row["at"], "direct") for row in direct_changes(events, since, until)]
    for at, column in dated:
        week = _week_start(datetime.fromisoformat(at.replace("Z", "+00:00")).date())
        counts.setdefault(week, dict(empty))[column] += 1
    if not counts:
        return []
    first = _week_start(since.date()) if since else min(counts)
    last = _week_start(until.date()) if until else max(counts)
    result = []
    week = first
    while week <= last:
        result.append({"week": week.isoformat(), **counts.get(week, empty)})
        week += timedelta(days=7)
    return result


def alias_history(
    events: QuerySet[AuditEvent], since: datetime | None = None, until: datetime | None = None
) -> list[dict[str, Any]]:
    """Every alias move and removal in the period, oldest first."""
    moves = _in_period(events.filter(action__in=[Action.ALIAS_SET, Action.ALIAS_DELETED]), since, until)
    rows = []
    for event in moves.order_by("seq").iterator(chunk_size=2000):
        before = event.before if isinstance(event.before, dict) else {}
        after = event.after if isinstance(event.after, dict) else {}
        rows.append(
            {
                "seq": event.seq,
                "at": _at(event.timestamp),
                "model": event.model_name,
                "alias": after.get("alias") or before.get("alias") or event.target_name.rpartition("@")[2],
                "from_version": before.get("version"),
                "to_version": after.get("version") if event.action == Action.ALIAS_SET else None,
                "actor": event.actor_username,
                "reason": event.reason,
            }
        )
    return rows


def access_changes(
    events: QuerySet[AuditEvent], since: datetime | None = None, until: datetime | None = None
) -> list[dict[str, Any]]:
    """Grants, revocations, tokens, users, teams, policies and superuser actions in the period."""
    changes = _in_period(events.filter(action__in=ACCESS_ACTIONS), since, until).order_by("seq")
    return [
        {
            "seq": event.seq,
            "at": _at(event.timestamp),
            "action": event.action,
            "actor": event.actor_username,
            "target": event.target_name,
            "model": event.model_name,
            "before": event.before,
            "after": event.after,
            "reason": event.reason,
        }
        for event in changes.iterator(chunk_size=2000)
    ]


def _version_key(event: AuditEvent) -> tuple[Any, int | None]:
    return (event.registered_model_id or event.model_name, event.version)


def separation_of_duties(
    events: QuerySet[AuditEvent], models: Iterable | None = None
) -> list[dict[str, Any]]:
    """People who approved a version they authored (events), and holders of EDIT + APPROVE_PRODUCTION.

    The holdings are today's, whatever period narrowed `events`.

    Superusers hold every permission by definition; they are not listed per model (the access
    changes report shows who was made one).
    """
    rows: list[dict[str, Any]] = []
    approvals = list(
        events.filter(action=Action.REQUEST_APPROVED)
        .exclude(version=None)
        .exclude(actor_kind=ActorKind.SYSTEM)
        .order_by("seq")
    )
    if approvals:
        authors: dict[tuple[Any, int | None], str] = {}
        created = events.filter(action=Action.VERSION_CREATED).filter(
            Q(registered_model_id__in={e.registered_model_id for e in approvals if e.registered_model_id})
            | Q(model_name__in={e.model_name for e in approvals})
        )
        for event in created:
            authors[_version_key(event)] = event.actor_username
        for approval in approvals:
            author = authors.get(_version_key(approval))
            if author is not None and author == approval.actor_username:
                rows.append(
                    {
                        "kind": "authored_and_approved",
                        "user": author,
                        "model": approval.model_name,
                        "version": approval.version,
                        "detail": f"created version {approval.version} and approved request "
                        f"{approval.target_id} at {_at(approval.timestamp)} (seq {approval.seq})",
                    }
                )
    # Model policies a superuser set below the organisation's floor (workflows: policy floors).
    for event in events.filter(action=Action.POLICY_CHANGED, after__loosens_floor__0__isnull=False).order_by(
        "seq"
    ):
        rows.append(
            {
                "kind": "policy_floor_waived",
                "user": event.actor_username,
                "model": event.model_name,
                "version": None,
                "detail": f"set {event.target_name} below the organisation's policy at "
                f"{_at(event.timestamp)} (seq {event.seq}): {'; '.join(event.after['loosens_floor'])}",
            }
        )
    models = list(models or [])
    held: dict[tuple[str, str], set[str]] = {}
    if models:
        from access.entitlements import entitlements
        from registry.models import RegisteredModel

        found = entitlements(RegisteredModel.objects.filter(pk__in=[m.pk for m in models]))
        superusers = {row.user for row in found if row.via == "superuser"}
        for row in found:
            if row.user not in superusers:
                held.setdefault((row.model, row.user), set()).add(row.level)
    for (model_name, username), levels in sorted(held.items()):
        if {Level.EDIT.value, Level.APPROVE_PRODUCTION.value} <= levels:
            via = "MANAGE" if Level.MANAGE.value in levels else "EDIT and APPROVE_PRODUCTION"
            rows.append(
                {
                    "kind": "holds_edit_and_approve_production",
                    "user": username,
                    "model": model_name,
                    "version": None,
                    "detail": f"holds {via} on '{model_name}' (directly, through a team, or globally)",
                }
            )
    return rows


def _approver_columns(rows: list[dict[str, Any]]) -> tuple[str, ...]:
    most = max([len(row["approvers"]) for row in rows] or [0])
    return tuple(
        f"approver_{n}{suffix}"
        for n in range(1, max(most, 1) + 1)
        for suffix in ("", "_at", "_comment", "_signature")
    )


def _promotions_table(rows: list[dict[str, Any]]) -> tuple[tuple[str, ...], list[dict[str, Any]]]:
    """The promotions report for a spreadsheet: one approver per column group (name, when, comment)."""
    at = PROMOTION_FIELDS.index("approvers")
    fields = (*PROMOTION_FIELDS[:at], *_approver_columns(rows), *PROMOTION_FIELDS[at + 1 :])
    table = []
    for row in rows:
        flat = {key: value for key, value in row.items() if key != "approvers"}
        for n, approval in enumerate(row["approvers"], start=1):
            flat |= {
                f"approver_{n}": approval["user"],
                f"approver_{n}_at": approval["at"],
                f"approver_{n}_comment": approval["comment"],
                f"approver_{n}_signature": approval.get("signature", ""),
            }
        table.append(flat)
    return fields, table


Build = Callable[[QuerySet[AuditEvent], datetime | None, datetime | None, QuerySet | None], list[dict]]


@dataclass(frozen=True)
class Report:
    """A ready-made report: its title, its columns, and how its rows are made from (events, period)."""

    title: str
    fields: tuple[str, ...]
    build: Build
    # Reshapes the rows for CSV (a spreadsheet cell holds one value): (columns, rows).
    table: Callable[[list[dict[str, Any]]], tuple[tuple[str, ...], list[dict[str, Any]]]] | None = None
    # What the API's answer calls it ("report": ...); the path's name with underscores unless set.
    api_name: str = ""

    def csv(self, rows: list[dict[str, Any]]) -> tuple[tuple[str, ...], list[dict[str, Any]]]:
        return self.table(rows) if self.table else (self.fields, rows)


REPORTS: dict[str, Report] = {
    "promotions": Report(
        "Promotions (requests applied, rejected or failed)",
        PROMOTION_FIELDS,
        lambda events, since, until, models: promotions_report(events, since, until),
        _promotions_table,
    ),
    "direct-changes": Report(
        "Direct changes of ungoverned stages and aliases (no request needed; not promotions)",
        DIRECT_FIELDS,
        lambda events, since, until, models: direct_changes(events, since, until),
    ),
    "promotions-per-week": Report(
        "Promotions per week",
        WEEK_FIELDS,
        lambda events, since, until, models: promotions_per_week(events, since, until),
    ),
    "aliases": Report(
        "Alias history",
        ALIAS_FIELDS,
        lambda events, since, until, models: alias_history(events, since, until),
    ),
    "access-changes": Report(
        "Access changes",
        ACCESS_FIELDS,
        lambda events, since, until, models: access_changes(events, since, until),
    ),
    "separation-of-duties": Report(
        "Separation of duties",
        SOD_FIELDS,
        lambda events, since, until, models: separation_of_duties(_in_period(events, since, until), models),
    ),
}
REPORT_FILTERS = ("model", "since", "until")


def report_rows(
    name: str, events: QuerySet[AuditEvent], event_filter: EventFilter, models: QuerySet | None = None
) -> list[dict[str, Any]]:
    """The rows of report `name` from `events` (already what the reader may see) and `models` (the
    registered models the reader may see, for today's holdings), narrowed by the filter.

    Every report takes the same filters, REPORT_FILTERS; any other filter is refused rather than
    silently ignored.
    """
    extra = [
        flag
        for flag, value in (
            ("version", event_filter.version is not None),
            ("actor", bool(event_filter.actor)),
            ("action", bool(event_filter.actions)),
            ("after_seq", event_filter.after_seq is not None),
        )
        if value
    ]
    if extra:
        raise InvalidParameter(
            f"The {name} report takes {', '.join(REPORT_FILTERS)} only; drop {', '.join(extra)}.",
            field=extra[0],
        )
    if event_filter.model:
        events = events.filter(model_condition(event_filter.model))
        if models is not None:
            models = models.filter(name=event_filter.model)
    return REPORTS[name].build(events, event_filter.since, event_filter.until, models)
