"""MLflow's search grammar: the parser on its own, and the queries it builds on the real database."""

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from registry import search, selectors, services
from registry.errors import InvalidParameter
from registry.search import Condition, like_to_glob, parse_filter

pytestmark = pytest.mark.usefixtures("fast_passwords")

# --- Parser -------------------------------------------------------------------------------


def test_parses_the_clause_the_mlflow_client_appends():
    conditions = parse_filter("name LIKE 'fr%' AND tag.`mlflow.prompt.is_prompt` != 'true'")
    assert conditions == [
        Condition("attribute", "name", "LIKE", "fr%"),
        Condition("tag", "mlflow.prompt.is_prompt", "!=", "true"),
    ]


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("name = 'a'", Condition("attribute", "name", "=", "a")),
        ('name="a b"', Condition("attribute", "name", "=", "a b")),
        ("attribute.name != 'a'", Condition("attribute", "name", "!=", "a")),
        ("name <> 'a'", Condition("attribute", "name", "!=", "a")),
        ("name ilike '%A%'", Condition("attribute", "name", "ILIKE", "%A%")),
        ("name IN ('a', \"b\")", Condition("attribute", "name", "IN", ("a", "b"))),
        ("run_id NOT IN ('r1')", Condition("attribute", "run_id", "NOT IN", ("r1",))),
        ("version_number >= 3", Condition("attribute", "version_number", ">=", 3)),
        ("version_number < -1", Condition("attribute", "version_number", "<", -1)),
        ("tags.team = 'risk'", Condition("tag", "team", "=", "risk")),
        ("tags.`team name` = 'x'", Condition("tag", "team name", "=", "x")),
        ("tag.\"a.b\" LIKE 'x%'", Condition("tag", "a.b", "LIKE", "x%")),
        ("tags.mlflow.note = 'x'", Condition("tag", "mlflow.note", "=", "x")),
        ("name = 'it''s'", Condition("attribute", "name", "=", "it's")),
    ],
)
def test_parses_each_supported_form(text, expected):
    assert parse_filter(text) == [expected]


def test_empty_filter_means_no_conditions():
    assert parse_filter("") == []
    assert parse_filter(None) == []
    assert parse_filter("   ") == []


@pytest.mark.parametrize(
    ("text", "fragment"),
    [
        ("name = 'a' OR name = 'b'", "Invalid clause(s) in filter string: OR"),
        ("name = m-17", "expected a quoted string or a number at position 7"),
        ("name = 'a", "unterminated quote at position 7"),
        ("name", "expected a comparator"),
        ("name = 'a' name = 'b'", "expected AND between conditions at position 11"),
        ("name IN 'a'", "expected '(' after IN"),
        ("name IN ('a' 'b')", "expected ',' or ')' in the IN list"),
        ("name IN ()", "expected a quoted string in the IN list"),
        ("tags.team IS NULL", "IS NULL / IS NOT NULL comparisons are not supported"),
        ("metrics.acc > 1", "invalid entity type 'metrics'"),
        ("name = 'a'; DROP TABLE x", "unexpected character ';' at position 10"),
        ("tags. = 'x'", "expected a key"),
        ("tags.`` = 'x'", "empty key"),
        ("= 'x'", "expected an attribute or tag name"),
        ("version_number = 1.5", "expected an integer"),
    ],
)
def test_bad_filters_say_what_and_where(text, fragment):
    with pytest.raises(InvalidParameter) as caught:
        parse_filter(text)
    assert fragment in caught.value.message
    assert caught.value.code == "INVALID_PARAMETER_VALUE"


FILTER_ALPHABET = st.sampled_from(
    list("abnmeuvrsiotg_.`'\"=!<>()%, -0123456789\\;*?[]\t\n")
    + ["name", "tags.", "tag.", "AND", "OR", "LIKE", "ILIKE", "IN", "NOT", "IS", "NULL", "version_number"]
)


@settings(max_examples=400, deadline=None)
@given(st.one_of(st.text(max_size=60), st.lists(FILTER_ALPHABET, max_size=25).map(" ".join)))
def test_parser_raises_nothing_but_the_documented_validation_error(text):
    try:
        conditions = parse_filter(text)
    except InvalidParameter as exc:
        assert exc.code == "INVALID_PARAMETER_VALUE"
        return
    for spec in (search.MODEL_SPEC, search.VERSION_SPEC):
        try:
            search.conditions_q(spec, conditions)
        except InvalidParameter:
            pass


@settings(max_examples=200, deadline=None)
@given(st.lists(st.text(max_size=30), max_size=4))
def test_order_by_raises_nothing_but_the_documented_validation_error(clauses):
    for parse in (search.registered_model_ordering, search.model_version_ordering):
        try:
            parse(clauses)
        except InvalidParameter:
            pass


@pytest.mark.parametrize(
    ("pattern", "glob"),
    [("fr%", "fr*"), ("a_c", "a?c"), ("50\\%", "50%"), ("a*b", "a[*]b"), ("[x]?", "[[]x][?]"), ("\\_", "_")],
)
def test_like_patterns_translate_to_glob(pattern, glob):
    assert like_to_glob(pattern) == glob


@pytest.mark.parametrize(
    ("pattern", "closed"),
    [("a", "a"), ("a\\", "a\\\\"), ("a\\\\", "a\\\\"), ("\\m\\", "\\m\\\\"), ("x\\%", "x\\%")],
)
def test_trailing_lone_escape_becomes_literal(pattern, closed):
    assert search.like_pattern_closed(pattern) == closed


# --- order_by and paging ------------------------------------------------------------------


def test_order_by_maps_mlflow_keys_and_adds_tie_breakers():
    assert search.registered_model_ordering(["last_updated_timestamp DESC"]) == ["-updated_at", "name"]
    assert search.registered_model_ordering(["name DESC"]) == ["-name"]
    assert search.registered_model_ordering([]) == ["name"]
    assert search.model_version_ordering(["version_number ASC"]) == ["version", "model__name"]
    assert search.model_version_ordering(None) == ["-updated_at", "model__name", "-version"]


@pytest.mark.parametrize(
    ("clauses", "fragment"),
    [
        (["creation_timestamp"], "Invalid order by key 'creation_timestamp'"),
        (["name", "name DESC"], "`order_by` contains duplicate fields"),
        (["timestamp", "last_updated_timestamp"], "`order_by` contains duplicate fields"),
        (["name SIDEWAYS"], "unexpected 'SIDEWAYS'"),
        ([""], "it is empty"),
    ],
)
def test_bad_order_by_is_refused(clauses, fragment):
    with pytest.raises(InvalidParameter) as caught:
        search.registered_model_ordering(clauses)
    assert fragment in caught.value.message


def test_page_tokens_round_trip_and_garbage_is_refused():
    assert search.page_token_decode(search.page_token_encode(30)) == 30
    assert search.page_token_encode(3) == "eyJvZmZzZXQiOiAzfQ=="  # what MLflow's server sends
    for bad in ("zzz", "!!!!", "bm90IGpzb24=", "eyJvZmZzZXQiOiAtMX0=", "WzFd"):
        with pytest.raises(InvalidParameter):
            search.page_token_decode(bad)


# --- On the database ----------------------------------------------------------------------


@pytest.fixture
def catalog(cast):
    """Models M-17, m-17, m-170, fraud (tagged), a prompt; versions with runs and tags."""
    for name in ("M-17", "m-17", "m-170", "fraud_v2"):
        services.registered_model_create(actor=cast.owner, name=name)
    services.registered_model_tag_set(actor=cast.owner, name="fraud_v2", key="team", value="Risk")
    services.registered_model_tag_set(actor=cast.owner, name="m-17", key="team", value="growth")
    services.registered_model_create(
        actor=cast.owner, name="greeting", tags=[{"key": search.IS_PROMPT_TAG_KEY, "value": "true"}]
    )
    for number in range(1, 5):
        services.model_version_create(
            actor=cast.owner,
            name="m-17",
            source=f"s3://bucket/m-17/{number}",
            run_id=f"run{number}",
            tags=[{"key": "phase", "value": "even" if number % 2 == 0 else "odd"}],
        )
    services.model_version_create(
        actor=cast.owner,
        name="greeting",
        source="prompt-template",  # MLflow refuses any other prompt source
        tags=[{"key": search.IS_PROMPT_TAG_KEY, "value": "true"}],
    )
    return cast


def _model_names(user, text: str) -> list[str]:
    return sorted(m.name for m in selectors.registered_models_search(user, filter_string=text))


def _versions(user, text: str) -> list[tuple[str, int]]:
    rows = selectors.model_versions_search(user, filter_string=text)
    return sorted((v.model.name, v.version) for v in rows)


@pytest.mark.django_db
@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("name LIKE 'M-17'", ["M-17"]),
        ("name LIKE 'm-17%'", ["m-17", "m-170"]),
        ("name ILIKE 'M-17'", ["M-17", "m-17"]),
        ("name ILIKE 'm-1_'", ["M-17", "m-17"]),
        ("name = 'm-17'", ["m-17"]),
        ("name != 'm-17'", ["M-17", "fraud_v2", "m-170"]),
        ("name IN ('m-17', 'fraud_v2', 'nope')", ["fraud_v2", "m-17"]),
        ("name NOT IN ('m-17', 'fraud_v2')", ["M-17", "m-170"]),
        ("name LIKE 'fraud\\_%'", ["fraud_v2"]),
        ("name LIKE 'm-17\\'", []),  # a trailing lone escape is a literal backslash, not an SQL error
        ("tags.team = 'Risk'", ["fraud_v2"]),
        ("tags.team LIKE 'r%'", []),
        ("tags.team ILIKE 'r%'", ["fraud_v2"]),
        ("tags.team != 'Risk'", ["m-17"]),
        ("tags.team = 'growth' AND name LIKE 'm%'", ["m-17"]),
        ("name LIKE '%' AND tag.`mlflow.prompt.is_prompt` != 'true'", ["M-17", "fraud_v2", "m-17", "m-170"]),
        ("tags.`mlflow.prompt.is_prompt` = 'true'", ["greeting"]),
    ],
)
def test_registered_model_filters_match_mlflow(catalog, text, expected):
    assert _model_names(catalog.owner, text) == expected


@pytest.mark.django_db
@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("version_number > 2", [("m-17", 3), ("m-17", 4)]),
        ("version_number <= 1 AND name = 'm-17'", [("m-17", 1)]),
        ("version_number != 2", [("m-17", 1), ("m-17", 3), ("m-17", 4)]),
        ("version_number = '3'", [("m-17", 3)]),
        ("run_id IN ('run1', 'run4')", [("m-17", 1), ("m-17", 4)]),
        ("run_id NOT IN ('run1')", [("m-17", 2), ("m-17", 3), ("m-17", 4)]),
        ("source_path LIKE 's3://bucket/m-17/%' AND tags.phase = 'even'", [("m-17", 2), ("m-17", 4)]),
        ("source_path = 's3://bucket/greeting/1'", []),
        ("name = 'greeting' AND tag.`mlflow.prompt.is_prompt` = 'true'", [("greeting", 1)]),
    ],
)
def test_model_version_filters_match_mlflow(catalog, text, expected):
    assert _versions(catalog.owner, text) == expected


@pytest.mark.django_db
@pytest.mark.parametrize(
    ("text", "fragment"),
    [
        ("creation_timestamp > 0", "Invalid attribute key 'creation_timestamp'"),
        ("run_id = 'x'", "Invalid attribute key 'run_id' for registered models"),
        ("name > 'a'", "Invalid comparator '>' for attribute 'name'"),
        ("tags.team IN ('a')", "Invalid comparator 'IN' for tag 'team'"),
        ("name = 5", "strings must be quoted"),
    ],
)
def test_model_filters_outside_what_mlflow_allows_are_refused(catalog, text, fragment):
    with pytest.raises(InvalidParameter) as caught:
        _model_names(catalog.owner, text)
    assert fragment in caught.value.message


@pytest.mark.django_db
@pytest.mark.parametrize(
    ("text", "fragment"),
    [
        ("version_number LIKE '1'", "Invalid comparator 'LIKE' for attribute 'version_number'"),
        ("version_number = 'abc'", "expected an integer"),
        ("source_path IN ('a')", "Invalid comparator 'IN' for attribute 'source_path'"),
        ("current_stage = 'Production'", "Invalid attribute key 'current_stage'"),
    ],
)
def test_version_filters_outside_what_mlflow_allows_are_refused(catalog, text, fragment):
    with pytest.raises(InvalidParameter) as caught:
        _versions(catalog.owner, text)
    assert fragment in caught.value.message


@pytest.mark.django_db
def test_search_never_shows_models_the_caller_cannot_read(catalog):
    assert _model_names(catalog.outsider, "name LIKE '%'") == []
    assert _versions(catalog.outsider, "version_number > 0") == []


@pytest.mark.django_db
@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(st.text(alphabet="mM-17%_\\*?[]", min_size=1, max_size=8))
def test_like_is_case_sensitive_and_ilike_is_not_for_any_pattern(catalog, pattern):
    """The database agrees with a reference LIKE implementation for every pattern."""
    import re

    def reference(text: str, flags: int) -> bool:
        regex, chars = "", iter(pattern)
        for ch in chars:
            if ch == "\\":
                regex += re.escape(next(chars, "\\"))
            elif ch == "%":
                regex += ".*"
            elif ch == "_":
                regex += "."
            else:
                regex += re.escape(ch)
        return re.fullmatch(regex, text, flags | re.DOTALL) is not None

    names = ["M-17", "fraud_v2", "m-17", "m-170"]
    quoted = pattern.replace("'", "''")
    assert _model_names(catalog.owner, f"name LIKE '{quoted}'") == sorted(n for n in names if reference(n, 0))
    assert _model_names(catalog.owner, f"name ILIKE '{quoted}'") == sorted(
        n for n in names if reference(n, re.IGNORECASE)
    )


@pytest.mark.django_db
def test_native_api_accepts_the_same_filter_grammar(catalog, client_for):
    api = client_for(catalog.owner)
    response = api.get("/api/v1/models", {"filter": "name ILIKE 'm-17%' AND tags.team = 'growth'"})
    assert response.status_code == 200, response.content
    assert [m["name"] for m in response.json()["results"]] == ["m-17"]
    response = api.get("/api/v1/models/m-17/versions", {"filter": "version_number >= 3"})
    assert [v["version"] for v in response.json()["results"]] == [3, 4]
    response = api.get("/api/v1/models", {"filter": "name = 'a' OR name = 'b'"})
    assert response.status_code == 400
    assert response.json()["error_code"] == "INVALID_PARAMETER_VALUE"
    assert "OR" in response.json()["message"]


def _quoted(text: str) -> str:
    return "'" + text.replace("'", "''") + "'"


CONDITION = st.tuples(
    st.sampled_from(
        ["name", "run_id", "source_path", "version_number", "tags.team", "tag.`a.b`", 'tags."x y"']
    ),
    st.sampled_from(["=", "!=", "<", ">=", "LIKE", "ILIKE", "IN", "NOT IN"]),
    st.one_of(st.text(max_size=12).map(_quoted), st.integers(-(2**70), 2**70).map(str)),
).map(lambda c: f"{c[0]} {c[1]} ({c[2]})" if "IN" in c[1] else " ".join(c))


@pytest.mark.django_db
@settings(max_examples=120, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(st.lists(CONDITION, min_size=1, max_size=3).map(" AND ".join))
def test_any_grammatical_filter_runs_or_is_refused_cleanly_on_the_database(catalog, text):
    """Whatever the values (unicode, quotes, wildcards, huge numbers), the database never errors."""
    for run in (selectors.registered_models_search, selectors.model_versions_search):
        try:
            list(run(catalog.owner, filter_string=text))
        except InvalidParameter:
            pass
