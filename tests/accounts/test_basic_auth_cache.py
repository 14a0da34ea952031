"""HTTP Basic pays the password hash once; a password change or deactivation takes effect at once."""

import base64
from collections.abc import Callable, Iterator

import pytest
from django.contrib.auth import base_user
from django.core.cache import cache
from rest_framework.test import APIClient

from accounts.models import User
from tests.fixtures_access import AccessCast

pytestmark = pytest.mark.django_db


def basic(username: str, password: str) -> APIClient:
    client = APIClient()
    encoded = base64.b64encode(f"{username}:{password}".encode()).decode()
    client.credentials(HTTP_AUTHORIZATION=f"Basic {encoded}")
    return client


@pytest.fixture
def password_checks(monkeypatch: pytest.MonkeyPatch) -> Iterator[list[str]]:
    """Records every full password verification (the expensive hash)."""
    cache.clear()
    calls: list[str] = []
    real: Callable = base_user.check_password

    def counting(raw: str, encoded: str, *args, **kwargs) -> bool:
        calls.append(raw)
        return real(raw, encoded, *args, **kwargs)

    monkeypatch.setattr(base_user, "check_password", counting)
    yield calls
    cache.clear()


def reader_with_password(cast: AccessCast, password: str = "first-Pa55word") -> User:
    cast.reader.set_password(password)
    cast.reader.save()
    return cast.reader


def test_repeated_basic_requests_verify_the_password_once(access_cast, password_checks) -> None:
    reader_with_password(access_cast)
    client = basic("reader", "first-Pa55word")
    for _ in range(5):
        assert client.get("/api/v1/models/fraud").status_code == 200
    assert password_checks == ["first-Pa55word"]


def test_wrong_password_is_refused_even_after_the_right_one_was_cached(access_cast, password_checks) -> None:
    reader_with_password(access_cast)
    assert basic("reader", "first-Pa55word").get("/api/v1/models/fraud").status_code == 200
    assert basic("reader", "wrong-Pa55word").get("/api/v1/models/fraud").status_code == 401
    assert basic("editor", "first-Pa55word").get("/api/v1/models/fraud").status_code == 401


def test_password_change_refuses_the_old_password_at_once(access_cast, password_checks) -> None:
    reader = reader_with_password(access_cast)
    assert basic("reader", "first-Pa55word").get("/api/v1/models/fraud").status_code == 200
    reader.set_password("second-Pa55word")
    reader.save()
    assert basic("reader", "first-Pa55word").get("/api/v1/models/fraud").status_code == 401
    assert basic("reader", "second-Pa55word").get("/api/v1/models/fraud").status_code == 200


def test_deactivation_refuses_cached_credentials_at_once(access_cast, password_checks) -> None:
    reader = reader_with_password(access_cast)
    client = basic("reader", "first-Pa55word")
    assert client.get("/api/v1/models/fraud").status_code == 200
    User.objects.filter(pk=reader.pk).update(is_active=False)
    assert client.get("/api/v1/models/fraud").status_code == 401
    User.objects.filter(pk=reader.pk).update(is_active=True)
    assert client.get("/api/v1/models/fraud").status_code == 200


def test_becoming_a_service_account_refuses_cached_password_at_once(access_cast, password_checks) -> None:
    reader = reader_with_password(access_cast)
    client = basic("reader", "first-Pa55word")
    assert client.get("/api/v1/models/fraud").status_code == 200
    User.objects.filter(pk=reader.pk).update(is_service_account=True)
    assert client.get("/api/v1/models/fraud").status_code == 401


def test_cache_holds_neither_the_password_nor_its_hash(access_cast, password_checks) -> None:
    reader = reader_with_password(access_cast)
    assert basic("reader", "first-Pa55word").get("/api/v1/models/fraud").status_code == 200
    stored = repr(dict(cache._cache)) if hasattr(cache, "_cache") else ""
    assert stored, "the test settings use the local-memory cache"
    assert "first-Pa55word" not in stored and reader.password not in stored


def test_lockout_refuses_cached_credentials(access_cast, password_checks, settings) -> None:
    settings.QUORUM_LOGIN_MAX_FAILURES = 3
    reader_with_password(access_cast)
    client = basic("reader", "first-Pa55word")
    assert client.get("/api/v1/models/fraud").status_code == 200
    for _ in range(3):
        assert basic("reader", "wrong-Pa55word").get("/api/v1/models/fraud").status_code == 401
    assert client.get("/api/v1/models/fraud").status_code == 401
