"""Access-control fixtures: the permission-matrix cast, their model, another team's hidden model.

The cast, by what they hold on 'fraud' (built through the audited services, as operators would):
outsider (nothing), reader (READ), editor (READ+EDIT), staging approver (READ+APPROVE_STAGING),
production approver (READ+APPROVE_PRODUCTION through the 'model-risk' team), manager (MANAGE,
its creator), superuser (no grants; superuser status only); and three roles with global grants only: global
reader (READ), global editor (READ+EDIT), global manager (MANAGE), which hold them on every model. 'secret-model' belongs to another
team ('other-owner') and none of the cast except the superuser can see it.
"""

from collections.abc import Callable
from dataclasses import dataclass, fields

import pytest
from django.contrib.auth.models import Permission
from rest_framework.test import APIClient

from access.grants import LEVEL_CODENAMES, Level
from accounts import services as access
from accounts.models import User
from registry import services as registry
from registry.models import RegisteredModel

CAST_ROLES = [
    "anonymous",
    "outsider",
    "reader",
    "editor",
    "staging_approver",
    "production_approver",
    "manager",
    "superuser",
]

# What each role holds on 'fraud' (superuser: nothing granted, everything allowed).
ROLE_LEVELS: dict[str, set[Level]] = {
    "anonymous": set(),
    "outsider": set(),
    "reader": {Level.READ},
    "editor": {Level.READ, Level.EDIT},
    "staging_approver": {Level.READ, Level.APPROVE_STAGING},
    "production_approver": {Level.READ, Level.APPROVE_PRODUCTION},
    "manager": set(Level),
    "superuser": set(Level),
    # Global grants (Django's user permissions): they hold the level on every model.
    "global_reader": {Level.READ},
    "global_editor": {Level.READ, Level.EDIT},
    "global_manager": set(Level),
}
# Roles that hold global grants and no object grant: the permission matrix drives them too.
GLOBAL_ROLES = ["global_reader", "global_editor", "global_manager"]
GLOBAL_GRANTS: dict[str, list[Level]] = {
    "global_reader": [Level.READ],
    "global_editor": [Level.READ, Level.EDIT],
    "global_manager": [Level.MANAGE],
}


@dataclass
class AccessCast:
    outsider: User
    reader: User
    editor: User
    staging_approver: User
    production_approver: User
    manager: User
    superuser: User
    other_owner: User
    global_reader: User
    global_editor: User
    global_manager: User
    fraud: RegisteredModel
    secret: RegisteredModel

    def user(self, role: str) -> User | None:
        """A fresh instance of the role's user (no permission cache from earlier requests); None: anonymous."""
        if role == "anonymous":
            return None
        return User.objects.get(pk=getattr(self, role).pk)

    def users(self) -> list[User]:
        return [getattr(self, f.name) for f in fields(self) if isinstance(getattr(self, f.name), User)]


def access_user(username: str, *, can_create_models: bool = False, **extra) -> User:
    """A user without a password hash (fast), optionally with the global add_registeredmodel grant."""
    user = User(username=username, **extra)
    user.set_unusable_password()
    user.save()
    if can_create_models:
        user.user_permissions.add(Permission.objects.get(codename="add_registeredmodel"))
    return User.objects.get(pk=user.pk)


def _grant(model: str, user: User | None, level: Level, team: str | None = None) -> None:
    principal = access.Principal("team", team) if team else access.Principal("user", user.username)
    access.grant_add(actor=access.OPERATOR, model_name=model, principal=principal, level=level)


def build_access_cast() -> AccessCast:
    users = {
        "outsider": access_user("outsider"),
        "reader": access_user("reader"),
        "editor": access_user("editor"),
        "staging_approver": access_user("staging-approver"),
        "production_approver": access_user("production-approver"),
        "manager": access_user("manager", can_create_models=True),
        "superuser": access_user("root", is_superuser=True, is_staff=True),
        "other_owner": access_user("other-owner", can_create_models=True),
        "global_reader": access_user("global-reader"),
        "global_editor": access_user("global-editor"),
        "global_manager": access_user("global-manager"),
    }
    for role, levels in GLOBAL_GRANTS.items():
        for level in levels:
            users[role].user_permissions.add(Permission.objects.get(codename=LEVEL_CODENAMES[level]))
    fraud = registry.registered_model_create(
        actor=users["manager"],
        name="fraud",
        description="detects fraud",
        tags=[{"key": "team", "value": "risk"}],
    )
    for number in (1, 2):
        registry.model_version_create(
            actor=users["manager"],
            name="fraud",
            source=f"s3://bucket/fraud/{number}",
            tags=[{"key": "k", "value": "v"}],
        )
    registry.alias_set(actor=users["manager"], name="fraud", alias="candidate", version=1)
    secret = registry.registered_model_create(
        actor=users["other_owner"],
        name="secret-model",
        description="another team's model",
        tags=[{"key": "team", "value": "risk"}],
    )
    registry.model_version_create(
        actor=users["other_owner"],
        name="secret-model",
        source="s3://bucket/secret/1",
        tags=[{"key": "k", "value": "v"}],
    )
    registry.alias_set(actor=users["other_owner"], name="secret-model", alias="candidate", version=1)

    _grant("fraud", users["reader"], Level.READ)
    _grant("fraud", users["editor"], Level.READ)
    _grant("fraud", users["editor"], Level.EDIT)
    _grant("fraud", users["staging_approver"], Level.READ)
    _grant("fraud", users["staging_approver"], Level.APPROVE_STAGING)
    access.team_create(actor=access.OPERATOR, name="model-risk", description="model risk management")
    access.team_member_add(actor=access.OPERATOR, team_name="model-risk", username="production-approver")
    _grant("fraud", None, Level.READ, team="model-risk")
    _grant("fraud", None, Level.APPROVE_PRODUCTION, team="model-risk")
    fresh = {role: User.objects.get(pk=user.pk) for role, user in users.items()}
    return AccessCast(**fresh, fraud=fraud, secret=secret)


@pytest.fixture
def access_cast(db) -> AccessCast:
    return build_access_cast()


@pytest.fixture
def api_as(access_cast: AccessCast) -> Callable[[str], APIClient]:
    """api_as(role) -> an APIClient signed in as that cast member (a fresh user instance)."""

    def build(role: str) -> APIClient:
        client = APIClient()
        user = access_cast.user(role)
        client.user = user  # who it acts as, so a decision can be signed as them
        if user is not None:
            client.force_authenticate(user=user)
        return client

    return build
