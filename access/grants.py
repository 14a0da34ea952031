"""The access rule: what an actor may do on a registered model. Defined here and nowhere else.

An active user holds a level on a model when one of these grants it:
- an object grant on the model, to the user or to one of their teams (django-guardian's tables);
- a global grant, to the user or to one of their teams (Django's permission tables);
- superuser status.
MANAGE implies every other level; the other levels are independent of each other (approving is
not editing). Anonymous and inactive users hold nothing. READ or MANAGE makes a model visible.

The rule is written once, as SQL over the grant tables (`_grant_condition`), and every dialect
is derived from it: the queryset filter every selector starts from (`Allowed`), the codenames an
actor holds on one model (`HeldCodenames`, for the write lock and `user_can`), and the grant rows
behind an access report (`grant_rows`). The serving path prepares the SQL those querysets compile
to (registry/fastpath.py), so it cannot drift either.

Operators script the codenames (`manage.py grant`, the API's levels): keep them stable.
"""

from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from enum import StrEnum
from typing import Any

from django.contrib.auth import get_user_model
from django.contrib.auth.models import Group, Permission
from django.contrib.contenttypes.models import ContentType
from django.db import connections
from django.db.models import BooleanField, CharField, Expression, IntegerField, Q
from django.db.models.functions import Cast
from guardian.models import GroupObjectPermission, UserObjectPermission

# The protected object. Named, not imported: the core registry depends on this module, not the reverse.
PROTECTED_APP_LABEL = "registry"
PROTECTED_MODEL = "registeredmodel"


class Level(StrEnum):
    READ = "READ"
    EDIT = "EDIT"
    APPROVE_STAGING = "APPROVE_STAGING"
    APPROVE_PRODUCTION = "APPROVE_PRODUCTION"
    MANAGE = "MANAGE"


LEVEL_CODENAMES: dict[Level, str] = {
    Level.READ: "view_registeredmodel",
    Level.EDIT: "change_registeredmodel",
    Level.APPROVE_STAGING: "approve_staging_registeredmodel",
    Level.APPROVE_PRODUCTION: "approve_production_registeredmodel",
    Level.MANAGE: "manage_registeredmodel",
}
CODENAME_LEVELS: dict[str, Level] = {codename: level for level, codename in LEVEL_CODENAMES.items()}
MANAGE_CODENAME = LEVEL_CODENAMES[Level.MANAGE]


def codenames_granting(level: Level) -> tuple[str, ...]:
    """The codenames any one of which grants `level`: its own, and MANAGE's."""
    if level == Level.MANAGE:
        return (MANAGE_CODENAME,)
    return (LEVEL_CODENAMES[level], MANAGE_CODENAME)


def levels_implied(granted: Level) -> list[Level]:
    """The levels a grant of `granted` gives."""
    return list(Level) if granted == Level.MANAGE else [granted]


# The one list of codenames that make a model visible.
VISIBLE_CODENAMES = codenames_granting(Level.READ)


def level_parse(raw: object) -> Level:
    """A Level from its name ('READ', 'approve_production') or codename; ValueError if unknown."""
    if isinstance(raw, str):
        text = raw.strip()
        if text in CODENAME_LEVELS:
            return CODENAME_LEVELS[text]
        try:
            return Level(text.upper())
        except ValueError:
            pass
    raise ValueError(f"Unknown permission level {raw!r}; use one of {', '.join(Level)}.")


def protected_content_type_id() -> int:
    """The content type of registry.RegisteredModel (cached by Django after the first call)."""
    return ContentType.objects.get_by_natural_key(PROTECTED_APP_LABEL, PROTECTED_MODEL).pk


@dataclass(frozen=True)
class ActorRef:
    """An actor known only by id: what a prepared statement's rule is built for (the id is its parameter)."""

    pk: int
    is_authenticated: bool = True


def has_actor(user: Any) -> bool:
    """Whether `user` is someone the rule can be asked about (signed in; activity is the rule's)."""
    return (
        user is not None
        and getattr(user, "is_authenticated", False)
        and getattr(user, "is_active", True)
        and user.pk is not None
    )


# --- The rule, in SQL --------------------------------------------------------------------

# The protected model's content type by its natural key, not by id: ids are the database's (a test
# flush or a restore renumbers them) and a prepared statement outlives them.
_CONTENT_TYPE = "(SELECT qc.id FROM django_content_type qc WHERE qc.app_label = %s AND qc.model = %s)"
_CONTENT_TYPE_PARAMS = (PROTECTED_APP_LABEL, PROTECTED_MODEL)


def _tables() -> dict[str, str]:
    user_model = get_user_model()
    qn = connections["default"].ops.quote_name
    return {
        "user": qn(user_model._meta.db_table),
        "memberships": qn(user_model.groups.through._meta.db_table),
        "user_global": qn(user_model.user_permissions.through._meta.db_table),
        "team_global": qn(Group.permissions.through._meta.db_table),
        "user_object": qn(UserObjectPermission._meta.db_table),
        "team_object": qn(GroupObjectPermission._meta.db_table),
        "permission": qn(Permission._meta.db_table),
    }


def _grant_condition(
    *, user_id: str, object_pk: str, permission: str, content_type: str, with_superuser: bool
) -> str:
    """THE RULE: true where the active user `user_id` holds a permission matching `permission` on `object_pk`.

    Each argument is a SQL fragment: `permission` is a condition on a permission id column
    (`{col} = ANY(...)` or `{col} = p.id`), written with `{col}`. One EXISTS per kind of grant, each
    an index probe on its table's (user|group, content type, object) or (user|group) index: the cost
    does not grow with how many models a user holds grants on. The two global probes do not depend
    on the model, so PostgreSQL evaluates them once per statement.
    """
    t = _tables()
    active = f"EXISTS(SELECT 1 FROM {t['user']} qa WHERE qa.id = {user_id} AND qa.is_active)"
    on_object = f"qg.content_type_id = {content_type} AND qg.object_pk = {object_pk}"
    sources = [
        f"EXISTS(SELECT 1 FROM {t['user_object']} qg WHERE qg.user_id = {user_id} AND {on_object}"
        f" AND {permission.format(col='qg.permission_id')})",
        f"EXISTS(SELECT 1 FROM {t['team_object']} qg JOIN {t['memberships']} qm ON qm.group_id = qg.group_id"
        f" WHERE qm.user_id = {user_id} AND {on_object} AND {permission.format(col='qg.permission_id')})",
        f"EXISTS(SELECT 1 FROM {t['user_global']} qu WHERE qu.user_id = {user_id}"
        f" AND {permission.format(col='qu.permission_id')})",
        f"EXISTS(SELECT 1 FROM {t['team_global']} qt JOIN {t['memberships']} qm ON qm.group_id = qt.group_id"
        f" WHERE qm.user_id = {user_id} AND {permission.format(col='qt.permission_id')})",
    ]
    if with_superuser:
        sources.insert(0, f"EXISTS(SELECT 1 FROM {t['user']} qs WHERE qs.id = {user_id} AND qs.is_superuser)")
    return f"({active} AND ({' OR '.join(sources)}))"


class Allowed(Expression):
    """True where the user holds `level` on the registered model whose id is `model_id`."""

    conditional = True
    output_field = BooleanField()

    def __init__(self, model_id: Any, *, user_id: int, level: Level, with_superuser: bool = True) -> None:
        super().__init__()
        self.model_id = Cast(model_id, output_field=CharField())
        self.user_id = user_id
        self.level = level
        self.with_superuser = with_superuser

    def get_source_expressions(self) -> list:
        return [self.model_id]

    def set_source_expressions(self, exprs: list) -> None:
        (self.model_id,) = exprs

    def as_sql(self, compiler: Any, connection: Any) -> tuple[str, tuple]:
        object_pk, object_pk_params = compiler.compile(self.model_id)
        codenames = codenames_granting(self.level)
        # The permission ids once per statement: an InitPlan on PostgreSQL, not a join per probe.
        ids = (
            f"SELECT qp.id FROM {_tables()['permission']} qp WHERE qp.content_type_id = {_CONTENT_TYPE}"
            f" AND qp.codename IN ({', '.join(['%s'] * len(codenames))})"
        )
        matching = (
            f"{{col}} = ANY(ARRAY({ids}))" if connection.vendor == "postgresql" else f"{{col}} IN ({ids})"
        )
        content_type = _CONTENT_TYPE_PARAMS
        permission_params = (*content_type, *codenames)
        sql = _grant_condition(
            user_id="%s",
            object_pk=object_pk,
            permission=matching,
            content_type=_CONTENT_TYPE,
            with_superuser=self.with_superuser,
        )
        # Parameters in the order their placeholders appear in the rule's text.
        params: list = [self.user_id]  # active
        if self.with_superuser:
            params.append(self.user_id)
        params += [self.user_id, *content_type, *object_pk_params, *permission_params]
        params += [self.user_id, *content_type, *object_pk_params, *permission_params]
        params += [self.user_id, *permission_params]
        params += [self.user_id, *permission_params]
        return sql, tuple(params)


class HeldCodenames(Expression):
    """The level codenames the user holds on the model whose id is `model_id`, as a bit set (see `held_parse`).

    A sum of one bit per codename rather than a string aggregate: the same SQL on every database.
    """

    output_field = IntegerField()

    def __init__(self, model_id: Any, *, user_id: int, with_superuser: bool = True) -> None:
        super().__init__()
        self.model_id = Cast(model_id, output_field=CharField())
        self.user_id = user_id
        self.with_superuser = with_superuser

    def get_source_expressions(self) -> list:
        return [self.model_id]

    def set_source_expressions(self, exprs: list) -> None:
        (self.model_id,) = exprs

    def as_sql(self, compiler: Any, connection: Any) -> tuple[str, tuple]:
        object_pk, object_pk_params = compiler.compile(self.model_id)
        codenames = list(_CODENAME_BITS)
        condition = _grant_condition(
            user_id="%s",
            object_pk=object_pk,
            permission="{col} = qh.id",
            content_type=_CONTENT_TYPE,
            with_superuser=self.with_superuser,
        )
        bits = " ".join("WHEN %s THEN %s" for _ in codenames)
        sql = (
            f"(SELECT SUM(CASE qh.codename {bits} ELSE 0 END) FROM {_tables()['permission']} qh"
            f" WHERE qh.content_type_id = {_CONTENT_TYPE} AND {condition})"
        )
        content_type = _CONTENT_TYPE_PARAMS
        params: list = [value for codename in codenames for value in (codename, _CODENAME_BITS[codename])]
        params += [*content_type, self.user_id]
        if self.with_superuser:
            params.append(self.user_id)
        params += [self.user_id, *content_type, *object_pk_params]
        params += [self.user_id, *content_type, *object_pk_params]
        params += [self.user_id]
        params += [self.user_id]
        return sql, tuple(params)


_CODENAME_BITS = {codename: 1 << index for index, codename in enumerate(CODENAME_LEVELS)}


def held_parse(value: int | None) -> set[str]:
    """The codenames in a `HeldCodenames` bit set."""
    return {codename for codename, bit in _CODENAME_BITS.items() if (value or 0) & bit}


def allowed_q(user: Any, level: Level, *, model_id: Any = "pk", with_superuser: bool = True) -> Q:
    """A filter for querysets whose `model_id` is a registered model's id: rows `user` holds `level` on."""
    from django.db.models import F

    if not has_actor(user):
        return Q(pk__in=[])
    reference = F(model_id) if isinstance(model_id, str) else model_id
    return Q(Allowed(reference, user_id=user.pk, level=level, with_superuser=with_superuser))


def levels_from_codenames(held: Iterable[str], level: Level) -> bool:
    """Whether holding these codenames grants `level`."""
    return bool(set(held) & set(codenames_granting(level)))


# --- Grant rows, for reports ---------------------------------------------------------------


@dataclass(frozen=True)
class GrantRow:
    """One stored grant as it reaches a user: `model_pk` None for a global grant."""

    user_pk: int
    model_pk: int | None
    level: Level
    via: str  # direct | team | global | global-team
    team: str


def grant_rows(user_pks: list[int], model_pks: list[int]) -> Iterator[GrantRow]:
    """Every grant of a level on these models (or global) held by these users, by the rule's four sources.

    A fixed number of queries, whatever the number of users and models. Superuser status is not a
    grant: callers add it from `User.is_superuser`.
    """
    user_model = get_user_model()
    content_type = protected_content_type_id()
    codenames = list(CODENAME_LEVELS)
    on_objects = {
        "content_type_id": content_type,
        "object_pk__in": [str(pk) for pk in model_pks],
        "permission__codename__in": codenames,
    }
    for user_pk, object_pk, codename in UserObjectPermission.objects.filter(
        user_id__in=user_pks, **on_objects
    ).values_list("user_id", "object_pk", "permission__codename"):
        yield GrantRow(user_pk, int(object_pk), CODENAME_LEVELS[codename], "direct", "")
    members: dict[int, list[int]] = {}
    for group_pk, user_pk in user_model.groups.through.objects.filter(user_id__in=user_pks).values_list(
        "group_id", "user_id"
    ):
        members.setdefault(group_pk, []).append(user_pk)
    group_names = dict(Group.objects.filter(pk__in=members).values_list("pk", "name"))
    for group_pk, object_pk, codename in GroupObjectPermission.objects.filter(
        group_id__in=list(members), **on_objects
    ).values_list("group_id", "object_pk", "permission__codename"):
        for user_pk in members[group_pk]:
            yield GrantRow(user_pk, int(object_pk), CODENAME_LEVELS[codename], "team", group_names[group_pk])
    global_perms = Permission.objects.filter(content_type_id=content_type, codename__in=codenames)
    for user_pk, codename in global_perms.filter(user__in=user_pks).values_list("user", "codename"):
        yield GrantRow(user_pk, None, CODENAME_LEVELS[codename], "global", "")
    for group_pk, codename in global_perms.filter(group__in=list(members)).values_list("group", "codename"):
        for user_pk in members[group_pk]:
            yield GrantRow(user_pk, None, CODENAME_LEVELS[codename], "global-team", group_names[group_pk])


# --- Questions about one model -----------------------------------------------------------


def _protected_model() -> Any:
    from django.apps import apps

    return apps.get_model(PROTECTED_APP_LABEL, PROTECTED_MODEL)


def codenames_held(user: Any, model: Any, *, with_superuser: bool = True) -> set[str]:
    """The level codenames `user` holds on `model` (one query); with_superuser=False: by grants alone."""
    from django.db.models import F

    if not has_actor(user) or model is None or model.pk is None:
        return set()
    held = (
        _protected_model()
        .objects.filter(pk=model.pk)
        .annotate(held=HeldCodenames(F("pk"), user_id=user.pk, with_superuser=with_superuser))
        .values_list("held", flat=True)
        .first()
    )
    return held_parse(held)


def user_can(user: Any, level: Level, model: Any) -> bool:
    """Whether `user` holds `level` on `model`: through a grant, or as superuser."""
    return levels_from_codenames(codenames_held(user, model), level)


def user_holds(user: Any, level: Level, model: Any) -> bool:
    """Whether `user` holds `level` on `model` through a grant (object, team or global), ignoring superuser.

    How a superuser's use of their power is told apart from what they were granted.
    """
    return levels_from_codenames(codenames_held(user, model, with_superuser=False), level)


def user_holds_global(user: Any, perm: str) -> bool:
    """Whether `user` was granted the global `app_label.codename` (directly or via a team), ignoring superuser."""
    if not has_actor(user):
        return False
    app_label, _, codename = perm.partition(".")
    return Permission.objects.filter(
        Q(user=user) | Q(group__user=user), content_type__app_label=app_label, codename=codename
    ).exists()
