"""Native lists have a maximum page size, configurable (issue 20, item 7).

DRF's convention (LimitOffsetPagination.max_limit): a larger `limit` is clamped to the maximum,
and the `next` link carries the limit actually used.
"""

from urllib.parse import parse_qs, urlsplit

import pytest

from registry import services

pytestmark = pytest.mark.django_db


def test_a_huge_limit_is_clamped_to_the_configured_maximum(cast, client_for, settings):
    settings.QUORUM_API_MAX_PAGE_SIZE = 3
    for n in range(5):
        services.registered_model_create(actor=cast.owner, name=f"m{n}")
        services.model_version_create(actor=cast.owner, name="m0", source=f"s3://bucket/m0/{n}")
    api = client_for(cast.owner)
    for path in ("/api/v1/models", "/api/v1/models/m0/versions", "/api/v1/versions"):
        body = api.get(path, {"limit": 1_000_000}).json()
        assert len(body["results"]) == 3, path
        assert parse_qs(urlsplit(body["next"]).query)["limit"] == ["3"], path


def test_the_default_maximum_is_a_thousand(settings):
    assert settings.QUORUM_API_MAX_PAGE_SIZE == 1000
