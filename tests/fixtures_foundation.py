"""Fixtures for the foundation tests: grants, a small registry, and the PostgreSQL gate."""

import os
from collections.abc import Callable

import pytest
from django.db import connection
from guardian.shortcuts import assign_perm

from access.grants import LEVEL_CODENAMES, Level
from registry import services
from registry.models import RegisteredModel


@pytest.fixture(autouse=True)
def fast_password_hashing(settings) -> None:
    """PBKDF2 costs ~0.4 s per user and every test builds the cast of six; tests need no key stretching."""
    settings.PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]


def grant_level(user, level: Level, model: RegisteredModel):
    """Give `user` `level` on `model` and return a fresh user instance (no stale permission cache)."""
    assign_perm(LEVEL_CODENAMES[level], user, model)
    return type(user).objects.get(pk=user.pk)


@pytest.fixture
def grant() -> Callable:
    return grant_level


def targets_open(actor, name: str) -> None:
    """Opt one model out of the embedded promotion policies, so stages and 'champion' are set directly.

    The foundation tests exercise the registry's own mechanics (archiving, alias moves); governance of
    these targets is tested with the workflows. Opening a target the organisation governs loosens its
    floor, which only a superuser may do: as setup, the rows are written as a superuser's waiver would
    leave them (`actor` is the model's owner, kept for the callers).
    """
    from registry.models import RegisteredModel
    from workflows.models import PromotionPolicy

    model = RegisteredModel.objects.get(name=name)
    for kind, target in (("stage", "Production"), ("stage", "Staging"), ("alias", "champion")):
        PromotionPolicy.objects.update_or_create(
            model=model, target_kind=kind, target=target, defaults={"governed": False, "floor_waived": True}
        )


@pytest.fixture
def fraud(cast) -> RegisteredModel:
    """'fraud' owned by cast.owner with versions 1-3 (s3 sources), tagged team=risk, targets ungoverned."""
    model = services.registered_model_create(
        actor=cast.owner, name="fraud", description="detects fraud", tags=[{"key": "team", "value": "risk"}]
    )
    targets_open(cast.owner, "fraud")
    for number in (1, 2, 3):
        services.model_version_create(actor=cast.owner, name="fraud", source=f"s3://bucket/fraud/{number}")
    return model


def postgres_or_skip() -> None:
    """Skip on SQLite with the reason; in CI (CI=true) a non-PostgreSQL database is a failure instead."""
    if connection.vendor == "postgresql":
        return
    reason = (
        f"needs PostgreSQL for real row locks under concurrent threads (database is {connection.vendor}); "
        "set DATABASE_URL=postgres://…"
    )
    if os.environ.get("CI", "").lower() in {"1", "true", "yes"}:
        pytest.fail(f"CI is set but the test database is not PostgreSQL: {reason}")
    pytest.skip(reason)
