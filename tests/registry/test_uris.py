"""Parsing `models:/` URIs: the four forms, and malformed ones with a message that says what is wrong."""

from urllib.parse import quote

import pytest
from hypothesis import given
from hypothesis import strategies as st

from registry.errors import InvalidParameter
from registry.models import Stage
from registry.uris import ModelUri, parse_model_uri


@pytest.mark.parametrize(
    ("uri", "parsed"),
    [
        ("models:/fraud/3", ModelUri(name="fraud", version=3)),
        ("models:/fraud/007", ModelUri(name="fraud", version=7)),
        ("models:/fraud@champion", ModelUri(name="fraud", alias="champion")),
        ("models:/fraud@Champion-2", ModelUri(name="fraud", alias="Champion-2")),
        ("models:/fraud/Production", ModelUri(name="fraud", stage=Stage.PRODUCTION)),
        ("models:/fraud/staging", ModelUri(name="fraud", stage=Stage.STAGING)),
        ("models:/fraud/ARCHIVED", ModelUri(name="fraud", stage=Stage.ARCHIVED)),
        ("models:/fraud/None", ModelUri(name="fraud", stage=Stage.NONE)),
        ("models:/fraud/latest", ModelUri(name="fraud", latest=True)),
        ("models:/fraud/Latest", ModelUri(name="fraud", latest=True)),
        ("models:/fraud@latest", ModelUri(name="fraud", latest=True)),
        ("models:/my%20model/2", ModelUri(name="my model", version=2)),
        ("models:/team@model/2", ModelUri(name="team@model", version=2)),
        ("models:/a@b@c", ModelUri(name="a@b", alias="c")),
        ("models:/modèle/1", ModelUri(name="modèle", version=1)),
    ],
)
def test_the_four_forms(uri, parsed):
    assert parse_model_uri(uri) == parsed


@pytest.mark.parametrize(
    ("uri", "says"),
    [
        ("", "Missing value for required parameter 'uri'"),
        (None, "Missing value for required parameter 'uri'"),
        ("runs:/abc/model", "the scheme must be 'models:'"),
        ("Models:/fraud/1", "the scheme must be 'models:'"),
        ("models:fraud/1", "the scheme must be 'models:'"),
        ("models://host/fraud/1", "no authority part"),
        ("models:/fraud", "expected exactly a name and a version, stage or 'latest'"),
        ("models:/", "expected exactly a name"),
        ("models:/fraud/", "expected exactly a name"),
        ("models:/fraud/1/2", "expected exactly a name"),
        ("models:/fraud/1?tag=x", "query strings and fragments"),
        ("models:/fraud/1#frag", "query strings and fragments"),
        ("models:/fraud/Prod", "'Prod' is not a version number, a stage or 'latest'"),
        ("models:/fraud/-1", "is not a version number"),
        ("models:/fraud/1.5", "is not a version number"),
        ("models:/fraud/0", "out of range"),
        ("models:/fraud/2000000001", "out of range"),
        ("models:/fraud/" + "9" * 40, "out of range"),
        ("models:/@champion", "the model name is empty"),
        ("models:/fraud@", "Alias name cannot be empty"),
        ("models:/fraud@v2", "reserved"),
        ("models:/fraud@a.b", "letters, digits"),
        ("models:/fr%2Faud/1", "expected exactly a name"),
        ("models:/bad\x07name/1", "control"),
        ("models:/" + "x" * 1100, "longer than 1024"),
    ],
)
def test_malformed_uris_say_what_is_wrong(uri, says):
    with pytest.raises(InvalidParameter) as caught:
        parse_model_uri(uri)
    assert says in caught.value.message
    assert caught.value.field == "uri"


def test_the_error_lists_the_accepted_forms():
    with pytest.raises(InvalidParameter) as caught:
        parse_model_uri("models:/fraud")
    assert "models:/<name>/<version>, models:/<name>@<alias>" in caught.value.message


@given(st.text(max_size=200))
def test_any_text_parses_or_raises_invalid_parameter(text):
    for uri in (text, "models:/" + text):
        try:
            parse_model_uri(uri)
        except InvalidParameter:
            pass


NAMES = st.text(
    alphabet=st.characters(
        blacklist_categories=("Cc", "Cf", "Cs", "Zs", "Zl", "Zp"), blacklist_characters="/:@?#%"
    ),
    min_size=1,
    max_size=60,
).filter(lambda name: name != "." and not name.startswith(".."))


@given(NAMES, st.integers(min_value=1, max_value=2_000_000_000))
def test_version_uris_round_trip_for_any_valid_name(name, version):
    assert parse_model_uri(f"models:/{quote(name, safe='')}/{version}") == ModelUri(
        name=name, version=version
    )
