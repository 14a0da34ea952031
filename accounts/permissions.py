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


def user_can(user, level: Level, obj: Model) -> bool:
    """Whether `user` holds `level` on `obj`, directly, through a team, globally, or as superuser.

    MANAGE implies every other level; the other levels are independent of each other.
    """
    if user is None or not user.is_authenticated or not user.is_active:
        return False
    if user.is_superuser:
        return True
    label = obj._meta.app_label
    if user.has_perm(f"{label}.{LEVEL_CODENAMES[level]}", obj) or user.has_perm(
        f"{label}.{LEVEL_CODENAMES[level]}"
    ):
        return True
    return level != Level.MANAGE and (
        user.has_perm(f"{label}.{MANAGE_CODENAME}", obj) or user.has_perm(f"{label}.{MANAGE_CODENAME}")
    )
