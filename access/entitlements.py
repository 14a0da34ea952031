"""Who can do what on which registered models, through which grant: the rows behind access reports.

Computed from the access rule's grant rows (access/grants.py) in a fixed number of queries, never one
permission check per model, so the reports scale with rows, not N+1.
"""

from dataclasses import asdict, dataclass
from typing import Any

from django.contrib.auth import get_user_model
from django.db.models import QuerySet

from access.grants import Level, grant_rows, levels_implied

LEVEL_ORDER = list(Level)


@dataclass(frozen=True)
class Entitlement:
    """One user able to act at one level on one model, and the grant that allows it."""

    model: str
    level: str
    user: str
    service_account: bool
    via: str  # direct | team | global | global-team | superuser
    team: str  # the team the grant came through, if any
    granted_level: str  # the level actually granted (MANAGE implies the others)

    def as_dict(self) -> dict[str, object]:
        return asdict(self)


def entitlements(models: QuerySet, *, user: Any = None) -> list[Entitlement]:
    """Who can do what on `models` (optionally only `user`), through which grant, in a fixed number of queries."""
    model_names = dict(models.values_list("pk", "name"))
    if not model_names:
        return []
    users = get_user_model().objects.filter(is_active=True)
    if user is not None:
        users = users.filter(pk=user.pk)
    user_info = {
        pk: (username, svc, superuser)
        for pk, username, svc, superuser in users.values_list(
            "pk", "username", "is_service_account", "is_superuser"
        )
    }
    rows: set[Entitlement] = set()

    def add(model_pk: int, user_pk: int, granted: Level, via: str, team: str = "") -> None:
        username, svc, _ = user_info[user_pk]
        for level in levels_implied(granted):
            rows.add(Entitlement(model_names[model_pk], level.value, username, svc, via, team, granted.value))

    for grant in grant_rows(list(user_info), list(model_names)):
        for model_pk in model_names if grant.model_pk is None else [grant.model_pk]:
            add(model_pk, grant.user_pk, grant.level, grant.via, grant.team)
    for user_pk, (_, _, superuser) in user_info.items():
        if superuser:
            for model_pk in model_names:
                add(model_pk, user_pk, Level.MANAGE, "superuser")
    return sorted(
        rows,
        key=lambda e: (e.model, LEVEL_ORDER.index(Level(e.level)), e.user, e.via, e.team, e.granted_level),
    )


def entitlement_report(rows: list[Entitlement]) -> list[dict[str, object]]:
    """Group entitlement rows per model and level: the shape an access recertification asks for."""
    report: dict[str, dict[str, list[dict[str, object]]]] = {}
    for row in rows:
        levels = report.setdefault(row.model, {level.value: [] for level in Level})
        levels[row.level].append(
            {
                "user": row.user,
                "service_account": row.service_account,
                "via": row.via,
                "team": row.team,
                "granted_level": row.granted_level,
            }
        )
    return [{"model": name, "levels": levels} for name, levels in report.items()]


ENTITLEMENT_CSV_FIELDS = ["model", "level", "user", "service_account", "via", "team", "granted_level"]
