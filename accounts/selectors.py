"""Reads of identities and access, filtered to what the asking user may see.

Entitlements are computed from the grant tables in a fixed number of queries (never one
permission check per model), so the report and the grant listings scale with rows, not N+1.
"""

from dataclasses import dataclass

from django.contrib.contenttypes.models import ContentType
from django.db.models import QuerySet
from guardian.models import GroupObjectPermission, UserObjectPermission

from access.entitlements import LEVEL_ORDER
from access.grants import CODENAME_LEVELS, Level
from accounts.models import ApiToken, Team, User
from config.prepared import PreparedQuery
from registry.errors import NotFound
from registry.models import RegisteredModel


@dataclass(frozen=True)
class Grant:
    """A grant as stored: a level on a model given directly to a user or a team."""

    kind: str  # user | team
    name: str
    level: str


# Every authenticated API request runs this: the queryset, prepared once per connection (config/prepared.py).
_TOKEN_BY_DIGEST = PreparedQuery(
    "quorum_token_by_digest",
    lambda digest: ApiToken.objects.select_related("user").filter(digest=digest),
    {"digest": "text"},
)


def token_with_user(digest: str) -> ApiToken | None:
    """The token with this digest, its user loaded alongside (one indexed lookup), or None."""
    return _TOKEN_BY_DIGEST.first(digest=digest)


def tokens_of(user: User) -> QuerySet[ApiToken]:
    return ApiToken.objects.filter(user=user).order_by("-created_at", "name")


def teams_list() -> QuerySet[Team]:
    return Team.objects.select_related("group").prefetch_related("group__user_set").order_by("group__name")


def team_get(name: str) -> Team:
    team = teams_list().filter(group__name=name).first()
    if team is None:
        raise NotFound(f"Team '{name}' not found.")
    return team


def models_managed_by(user: User) -> QuerySet[RegisteredModel]:
    """Models whose access `user` may see and change: MANAGE holders, superusers for all."""
    from registry.selectors import registered_models_allowed

    return registered_models_allowed(user, Level.MANAGE)


def model_grants(model: RegisteredModel) -> list[Grant]:
    """The grants stored on one model, users first then teams, each sorted by name and level."""
    content_type = ContentType.objects.get_for_model(RegisteredModel)
    on_object = {"content_type": content_type, "object_pk": str(model.pk)}
    grants = [
        Grant("user", username, CODENAME_LEVELS[codename].value)
        for username, codename in UserObjectPermission.objects.filter(**on_object)
        .filter(permission__codename__in=CODENAME_LEVELS)
        .values_list("user__username", "permission__codename")
    ] + [
        Grant("team", group_name, CODENAME_LEVELS[codename].value)
        for group_name, codename in GroupObjectPermission.objects.filter(**on_object)
        .filter(permission__codename__in=CODENAME_LEVELS)
        .values_list("group__name", "permission__codename")
    ]
    return sorted(grants, key=lambda g: (g.kind != "user", g.name, LEVEL_ORDER.index(Level(g.level))))


def user_access_scope(actor: User, subject: User) -> QuerySet[RegisteredModel]:
    """The models on which `actor` may learn `subject`'s access: their own visible models, or those they manage."""
    from registry.selectors import registered_models_visible_to

    if actor.pk == subject.pk:
        return registered_models_visible_to(actor)
    return models_managed_by(actor)


def user_get(username: str) -> User:
    found = User.objects.filter(username=username).first()
    if found is None:
        raise NotFound(f"User '{username}' not found.")
    return found
