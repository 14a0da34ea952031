"""Hostile input on the access API gets a clear 4xx in the native error format, never a 500."""

import pytest

pytestmark = pytest.mark.django_db

BODIES = [
    None,
    [],
    "text",
    {"name": None},
    {"name": ["a"]},
    {"name": {"$ne": 1}},
    {"name": "x" * 10_000},
    {"name": "\x00bad"},
    {"user": "reader", "level": None},
    {"user": "reader", "level": ["READ"]},
    {"team": "", "level": "READ"},
    {"username": 12},
    {"username": "nobody"},
    {"name": "ok", "expires_at": "not-a-date"},
    {"name": "ok", "expires_at": "9999-12-31T23:59:59Z"},
    {"name": "ok", "expires_in_days": 10**20},
]
ENDPOINTS = [
    "/api/v1/tokens",
    "/api/v1/teams",
    "/api/v1/teams/model-risk/members",
    "/api/v1/models/fraud/grants",
]
PATHS = [
    "/api/v1/users/%00/access",
    "/api/v1/users/" + "a" * 3000 + "/access",
    "/api/v1/teams/%E2%80%AE",
    "/api/v1/models/fraud/grants/users/%00/READ",
    "/api/v1/models/fraud/grants/teams/x/" + "R" * 500,
    "/api/v1/access-report?output=%00",
    "/api/v1/tokens?user=%00",
]


@pytest.mark.parametrize("role", ["manager", "superuser"])
def test_hostile_bodies_get_400s_not_500s(role: str, api_as, access_cast) -> None:
    client = api_as(role)
    failures = []
    for url in ENDPOINTS:
        for body in BODIES:
            response = client.post(url, body, format="json")
            if response.status_code >= 500:
                failures.append(f"POST {url} {body!r}: {response.status_code}")
            elif response.status_code >= 400 and "error_code" not in response.json():
                failures.append(f"POST {url} {body!r}: error without error_code")
    assert failures == []


def test_hostile_paths_get_4xx_not_500s(api_as, access_cast) -> None:
    client = api_as("superuser")
    for path in PATHS:
        for method in ("get", "delete"):
            response = getattr(client, method)(path)
            assert response.status_code < 500, (method, path, response.content[:200])
