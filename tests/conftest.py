"""Shared fixtures: a fixed cast of users and authenticated API clients."""

from dataclasses import dataclass

import pytest
from django.contrib.auth.models import Permission
from rest_framework.test import APIClient

pytest_plugins = [
    "tests.fixtures_foundation",
    "tests.fixtures_audit",
    "tests.fixtures_workflow",
    "tests.fixtures_mlflow",
    "tests.fixtures_access",
    "tests.fixtures_pipeline",
    "tests.fixtures_webhooks",
    "tests.fixtures_hardening",
    "tests.fixtures_idp",
]


@dataclass
class Cast:
    owner: object
    editor: object
    approver: object
    second_approver: object
    outsider: object
    admin: object


def make_user(username: str, *, can_create_models: bool = False, **extra):
    from accounts.models import User

    # People have a printed name: an electronic signature shows it (21 CFR 11.50).
    extra.setdefault("first_name", username.replace("_", " ").title())
    extra.setdefault("last_name", "Tester")
    user = User.objects.create_user(username=username, password=f"{username}-pw-123!", **extra)
    if can_create_models:
        user.user_permissions.add(Permission.objects.get(codename="add_registeredmodel"))
    return User.objects.get(pk=user.pk)  # fresh instance: no stale permission cache


@pytest.fixture
def cast(db) -> Cast:
    return Cast(
        owner=make_user("owner", can_create_models=True),
        editor=make_user("editor"),
        approver=make_user("approver"),
        second_approver=make_user("second_approver"),
        outsider=make_user("outsider", can_create_models=True),
        admin=make_user("admin", is_superuser=True, is_staff=True),
    )


@pytest.fixture
def client_for():
    """client_for(user) -> an APIClient authenticated as that user (None: anonymous)."""

    def build(user=None) -> APIClient:
        client = APIClient()
        client.user = user  # who it acts as, so a helper can sign a decision with their password
        if user is not None:
            client.force_authenticate(user=user)
        return client

    return build


@pytest.fixture(autouse=True)
def _fresh_cache():
    """Each test starts with an empty cache: login-throttle counters and cached verifications never leak."""
    from django.core.cache import cache

    cache.clear()
    yield
    cache.clear()


# --- Sign-in and headers (issue 20) ---
@pytest.fixture(autouse=True)
def _public_url_of_the_live_server(request):
    """A test serving Quorum on a live server configures it as the public URL, as a deployment does
    (absolute links come from QUORUM_PUBLIC_URL, never from the Host header)."""
    if "live_server" not in request.fixturenames:
        yield
        return
    settings = request.getfixturevalue("settings")
    settings.QUORUM_PUBLIC_URL = request.getfixturevalue("live_server").url
    yield


# --- Sources and served bytes (issue 19) ---
# Placeholder buckets nothing stores anything in: the tests that only need *a* source register from
# them, organisation-wide, as before sources were scoped. Tests of the scope itself use real folders
# and buckets (tests/artifacts/test_sources_scoped.py).
PLACEHOLDER_SOURCE_PREFIXES = [
    "s3://bucket/",
    "s3://b/",
    "s3://bench-models/",
    "s3://models/",
    "gs://bucket/",
    "gs://load/",
]


@pytest.fixture(autouse=True)
def _placeholder_sources_open(settings) -> None:
    settings.QUORUM_SOURCE_PREFIXES = PLACEHOLDER_SOURCE_PREFIXES
