"""Tokens always expire: a configured default lifetime and a maximum (issue 20, item 7)."""

import io
from datetime import timedelta

import pytest
from django.core.management import call_command
from django.utils import timezone

from accounts.models import ApiToken

pytestmark = pytest.mark.django_db


def _lifetime_days(token: ApiToken) -> float:
    return (token.expires_at - token.created_at).total_seconds() / 86400


def test_a_token_asked_for_without_expiry_gets_the_default_lifetime(api_as, access_cast, settings):
    created = api_as("reader").post("/api/v1/tokens", {"name": "laptop"}, format="json")
    assert created.status_code == 201, created.content
    token = ApiToken.objects.get(name="laptop")
    assert token.expires_at is not None
    assert abs(_lifetime_days(token) - settings.QUORUM_TOKEN_DEFAULT_DAYS) < 0.01
    assert created.json()["expires_at"] is not None
    explicit_null = api_as("reader").post("/api/v1/tokens", {"name": "ci", "expires_at": None}, format="json")
    assert explicit_null.status_code == 201
    assert ApiToken.objects.get(name="ci").expires_at is not None


def test_the_default_lifetime_is_configurable(api_as, access_cast, settings):
    settings.QUORUM_TOKEN_DEFAULT_DAYS = 7
    api_as("reader").post("/api/v1/tokens", {"name": "short"}, format="json")
    assert abs(_lifetime_days(ApiToken.objects.get(name="short")) - 7) < 0.01


@pytest.mark.parametrize("over", ["days", "date"])
def test_beyond_the_maximum_lifetime_is_a_400(api_as, access_cast, settings, over):
    settings.QUORUM_TOKEN_MAX_DAYS = 30
    body = (
        {"name": "long", "expires_in_days": 31}
        if over == "days"
        else {"name": "long", "expires_at": (timezone.now() + timedelta(days=31)).isoformat()}
    )
    response = api_as("reader").post("/api/v1/tokens", body, format="json")
    assert response.status_code == 400, response.content
    assert response.json()["error_code"] == "INVALID_PARAMETER_VALUE"
    assert "at most 30 days" in response.json()["message"]
    assert not ApiToken.objects.filter(name="long").exists()
    assert (
        api_as("reader")
        .post("/api/v1/tokens", {"name": "ok", "expires_in_days": 30}, format="json")
        .status_code
        == 201
    )


def test_the_operator_command_also_gets_the_default(access_cast, settings):
    call_command(
        "create_token", "--user", "reader", "--name", "pipeline", stdout=io.StringIO(), stderr=io.StringIO()
    )
    token = ApiToken.objects.get(name="pipeline")
    assert abs(_lifetime_days(token) - settings.QUORUM_TOKEN_DEFAULT_DAYS) < 0.01
    settings.QUORUM_TOKEN_MAX_DAYS = 10
    with pytest.raises(Exception, match="at most 10 days"):
        call_command(
            "create_token",
            "--user",
            "reader",
            "--name",
            "x",
            "--expires-days",
            "11",
            stdout=io.StringIO(),
            stderr=io.StringIO(),
        )
