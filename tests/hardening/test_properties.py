"""Property-based tests (Hypothesis) for the source validator and for names and filters over HTTP.

They extend the parser-level properties in tests/registry/test_rules.py, test_uris.py and
test_search_filter.py: here hostile alphabets target traversal, and whole requests go through the
public routes, where the property is "a 2xx or a 4xx in that API's format, never a 5xx".
"""

import json
import posixpath
from pathlib import Path
from urllib.parse import unquote, urlparse

import pytest
from django.conf import settings
from django.test import Client
from hypothesis import HealthCheck, given
from hypothesis import settings as hypothesis_settings
from hypothesis import strategies as st

from registry.errors import InvalidParameter
from registry.sources import source_validate
from tests.fixtures_mlflow import api_token_for

TRAVERSAL_PIECES = st.sampled_from(
    [
        "/",
        "..",
        ".",
        "%2e",
        "%2E",
        "%252e",
        "%25",
        "%2f",
        "\\",
        "?",
        "#",
        ";",
        "//",
        "file:",
        "file://",
        "localhost",
        "proc",
        "self",
        "root",
        "etc",
        "s3://b",
        "runs:/r",
        "mlflow-artifacts:",
        "models:",
        "%00",
        "\t",
        " ",
        "~",
        "a",
    ]
)
HOSTILE_SOURCES = st.one_of(
    st.text(max_size=80),
    st.lists(TRAVERSAL_PIECES, max_size=14).map("".join),
    st.lists(TRAVERSAL_PIECES, max_size=10).map(lambda parts: str(allowed_root()) + "/" + "".join(parts)),
    st.lists(TRAVERSAL_PIECES, max_size=10).map(lambda parts: f"file://{allowed_root()}/" + "".join(parts)),
)


def allowed_root() -> Path:
    return Path(posixpath.normpath(str(settings.QUORUM_ALLOWED_LOCAL_ROOTS[0])))


def fully_decoded(text: str) -> str:
    for _ in range(6):
        text, before = unquote(text), text
        if text == before:
            break
    return text


@given(HOSTILE_SOURCES)
@hypothesis_settings(max_examples=400, deadline=None)
def test_an_accepted_source_never_reaches_outside_the_allowed_roots(source: str) -> None:
    try:
        accepted = source_validate(source)
    except InvalidParameter:
        return
    decoded = fully_decoded(accepted)
    assert ".." not in [part.strip() for part in decoded.replace("?", "/").replace("#", "/").split("/")]
    assert "\\" not in decoded and "\x00" not in decoded
    parsed = urlparse(accepted)
    if parsed.scheme.lower() in ("", "file"):
        path = Path(posixpath.normpath(unquote(parsed.path if parsed.scheme else accepted)))
        root = allowed_root()
        assert path == root or root in path.parents, accepted


@pytest.fixture
def creator_headers(cast) -> dict[str, str]:
    return {"Authorization": f"Bearer {api_token_for(cast.owner)}"}


@pytest.mark.django_db
@given(name=st.one_of(st.text(max_size=300), st.text(alphabet=st.characters(codec="utf-8"), max_size=20)))
@hypothesis_settings(
    max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
def test_any_model_name_is_created_or_refused_cleanly_on_both_apis(creator_headers, name: str) -> None:
    client = Client()
    for url, ok in (("/api/v1/models", 201), ("/api/2.0/mlflow/registered-models/create", 200)):
        response = client.post(
            url, json.dumps({"name": name}), content_type="application/json", headers=creator_headers
        )
        assert response.status_code in (ok, 400), (url, name, response.status_code, response.content[:200])
        if response.status_code == 400:
            assert response.json()["error_code"] in ("INVALID_PARAMETER_VALUE", "RESOURCE_ALREADY_EXISTS")


@pytest.mark.django_db
@given(text=st.text(max_size=120))
@hypothesis_settings(
    max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
def test_any_filter_text_is_answered_or_refused_cleanly_on_both_apis(creator_headers, text: str) -> None:
    client = Client()
    for url, key in (
        ("/api/v1/models", "filter"),
        ("/api/v1/versions", "filter"),
        ("/api/2.0/mlflow/registered-models/search", "filter"),
        ("/api/2.0/mlflow/model-versions/search", "filter"),
    ):
        response = client.get(url, {key: text}, headers=creator_headers)
        assert response.status_code in (200, 400), (url, text, response.status_code, response.content[:200])
        if response.status_code == 400:
            assert response.json()["error_code"] == "INVALID_PARAMETER_VALUE"
