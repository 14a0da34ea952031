"""Permission levels on a registered model and the one place that checks them."""

from enum import StrEnum

from django.db.models import Model


class Level(StrEnum):
    READ = "READ"
    EDIT = "EDIT"
    APPROVE_STAGING = "APPROVE_STAGING"
    APPROVE_PRODUCTION = "APPROVE_PRODUCTION"
    MANAGE = "MANAGE"


# Guardian codenames on registry.RegisteredModel; operators script these, keep them stable.
LEVEL_CODENAMES: dict[Level, str] = {
    Level.READ: "view_registeredmodel",
    Level.EDIT: "change_registeredmodel",
    Level.APPROVE_STAGING: "approve_staging_registeredmodel",
    Level.APPROVE_PRODUCTION: "approve_production_registeredmodel",
    Level.MANAGE: "manage_registeredmodel",
}
MANAGE_CODENAME = LEVEL_CODENAMES[Level.MANAGE]


CODENAME_LEVELS: dict[str, Level] = {codename: level for level, codename in LEVEL_CODENAMES.items()}


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


def codenames_granted(user, obj: Model) -> set[str]:
    """Codenames `user` was granted on `obj` (directly, via a team, or globally), ignoring superuser.

    Django's and guardian's backends both answer "yes" to everything for a superuser, so the
    grants are read from the tables: this is how a superuser's use of their power is told apart.
    """
    from django.contrib.auth.models import Permission
    from django.contrib.contenttypes.models import ContentType
    from django.db.models import Q
    from guardian.models import GroupObjectPermission, UserObjectPermission

    content_type = ContentType.objects.get_for_model(obj)
    on_object = {"content_type": content_type, "object_pk": str(obj.pk)}
    granted = set(
        UserObjectPermission.objects.filter(user=user, **on_object).values_list(
            "permission__codename", flat=True
        )
    )
    granted |= set(
        GroupObjectPermission.objects.filter(group__user=user, **on_object).values_list(
            "permission__codename", flat=True
        )
    )
    granted |= set(
        Permission.objects.filter(Q(user=user) | Q(group__user=user), content_type=content_type).values_list(
            "codename", flat=True
        )
    )
    return granted


def user_holds(user, level: Level, obj: Model) -> bool:
    """Whether `user` holds `level` on `obj` through a grant (object, team or global), ignoring superuser."""
    if user is None or not user.is_authenticated or not user.is_active:
        return False
    granted = codenames_granted(user, obj)
    return LEVEL_CODENAMES[level] in granted or MANAGE_CODENAME in granted


def user_holds_global(user, perm: str) -> bool:
    """Whether `user` was granted the global `app_label.codename` (directly or via a group), ignoring superuser."""
    from django.contrib.auth.models import Permission
    from django.db.models import Q

    app_label, _, codename = perm.partition(".")
    return Permission.objects.filter(
        Q(user=user) | Q(group__user=user), content_type__app_label=app_label, codename=codename
    ).exists()


def user_can(user, level: Level, obj: Model) -> bool:
    """Whether `user` holds `level` on `obj`, directly, through a team, globally, or as superuser.

    MANAGE implies every other level; the other levels are independent of each other.
    """
    if user is None or not user.is_authenticated or not user.is_active:
        return False
    if user.is_superuser:
        return True
    from guardian.core import ObjectPermissionChecker

    label = obj._meta.app_label
    wanted = [LEVEL_CODENAMES[level]] if level == Level.MANAGE else [LEVEL_CODENAMES[level], MANAGE_CODENAME]
    # Global grants: Django caches them on the user object for the request. Object grants: one
    # checker reads the user's and their teams' grants on obj once (two queries) for every codename,
    # where a has_perm per codename would read them again each time.
    if any(user.has_perm(f"{label}.{codename}") for codename in wanted):
        return True
    checker = ObjectPermissionChecker(user)
    return any(checker.has_perm(codename, obj) for codename in wanted)
