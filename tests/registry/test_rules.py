"""Pure registry rules: names, aliases, tags, stages, version numbers (MLflow's limits)."""

import pytest
from hypothesis import given
from hypothesis import strategies as st

from registry import rules
from registry.errors import InvalidParameter
from registry.models import Stage


@pytest.mark.parametrize(
    "name",
    ["fraud", "Fraud Detector v2", "modèle-😀", "team@model", "a.b", "x" * 256, "under_score", "1"],
)
def test_valid_model_names(name):
    assert rules.validate_model_name(name) == name


@pytest.mark.parametrize(
    ("name", "says"),
    [
        ("", "empty"),
        (None, "empty"),
        (7, "empty"),
        ("x" * 257, "257 characters long; the limit is 256"),
        ("a/b", "cannot contain '/' or ':'"),
        ("a:b", "cannot contain '/' or ':'"),
        ("bell\x07", "control"),
        ("new\nline", "control"),
        ("del\x7f", "control"),
        ("c1\x85", "control"),
        ("rtl\u202eoverride", "control or format"),
        ("zero\u200bwidth", "control or format"),
        (" leading", "whitespace"),
        ("trailing\t", "control"),
        ("trailing ", "whitespace"),
        (".", "'.'"),
        ("..hidden", "'..'"),
    ],
)
def test_invalid_model_names_say_why(name, says):
    with pytest.raises(InvalidParameter, match=None) as caught:
        rules.validate_model_name(name, field="new_name")
    assert says in caught.value.message
    assert caught.value.field == "new_name"


@given(st.text(max_size=300))
def test_model_name_validation_only_ever_raises_invalid_parameter(name):
    try:
        accepted = rules.validate_model_name(name)
    except InvalidParameter:
        return
    assert 0 < len(accepted) <= 256 and "/" not in accepted and ":" not in accepted


@pytest.mark.parametrize(
    "alias", ["champion", "a-b_c", "v", "vx1", "v1a", "version2", "x" * 255, "Champion", "_"]
)
def test_valid_aliases(alias):
    assert rules.validate_alias(alias) == alias


@pytest.mark.parametrize(
    ("alias", "says"),
    [
        ("", "empty"),
        (None, "empty"),
        ("latest", "reserved"),
        ("LaTeSt", "reserved"),
        ("v1", "reserved"),
        ("V007", "reserved"),
        ("v12345678901234567890", "reserved"),
        ("a.b", "letters, digits"),
        ("a b", "letters, digits"),
        ("a/b", "letters, digits"),
        ("caf\u00e9", "letters, digits"),
        ("x" * 256, "longer than 255"),
    ],
)
def test_invalid_aliases_say_why(alias, says):
    with pytest.raises(InvalidParameter) as caught:
        rules.validate_alias(alias)
    assert says in caught.value.message
    assert caught.value.field == "alias"


@given(st.text(max_size=300))
def test_accepted_aliases_match_mlflow_pattern_and_are_never_reserved(alias):
    try:
        rules.validate_alias(alias)
    except InvalidParameter:
        return
    assert rules.ALIAS_PATTERN.fullmatch(alias)
    assert alias.lower() != "latest"
    assert not rules.RESERVED_VERSION_ALIAS.fullmatch(alias)
    assert 0 < len(alias) <= 255


def test_tag_limits_are_mlflows():
    assert rules.validate_tag("k" * 250, "v" * 5000) == ("k" * 250, "v" * 5000)
    assert rules.validate_tag("k", None) == ("k", "")
    assert rules.validate_tag("k", "") == ("k", "")


@pytest.mark.parametrize(
    ("key", "value", "field"),
    [
        ("", "v", "key"),
        (None, "v", "key"),
        (3, "v", "key"),
        ("k" * 251, "v", "key"),
        ("k\x00", "v", "key"),
        ("k\u202e", "v", "key"),
        ("k", "v" * 5001, "value"),
        ("k", 5, "value"),
        ("k", ["v"], "value"),
        ("k", "nul\x00", "value"),
    ],
)
def test_invalid_tags_name_the_field(key, value, field):
    with pytest.raises(InvalidParameter) as caught:
        rules.validate_tag(key, value)
    assert caught.value.field == field


@pytest.mark.parametrize(
    ("raw", "stage"),
    [
        ("Production", Stage.PRODUCTION),
        ("production", Stage.PRODUCTION),
        (" STAGING ", Stage.STAGING),
        ("archived", Stage.ARCHIVED),
        ("None", Stage.NONE),
        ("none", Stage.NONE),
    ],
)
def test_stages_parse_case_insensitively_to_the_canonical_name(raw, stage):
    assert rules.parse_stage(raw) is stage


@pytest.mark.parametrize("raw", ["Prod", "", None, 1, "Production!", "Shipping"])
def test_unknown_stages_list_the_valid_ones(raw):
    with pytest.raises(InvalidParameter, match="None, Staging, Production, Archived"):
        rules.parse_stage(raw)


@pytest.mark.parametrize(("raw", "number"), [(1, 1), ("3", 3), (" 42 ", 42), (2_000_000_000, 2_000_000_000)])
def test_version_numbers(raw, number):
    assert rules.parse_version_number(raw) == number


@pytest.mark.parametrize(
    "raw", [True, False, 0, -1, "0", "abc", "3.5", 3.0, None, "", 2_000_000_001, "9" * 12]
)
def test_bad_version_numbers(raw):
    with pytest.raises(InvalidParameter, match="version"):
        rules.parse_version_number(raw)


@pytest.mark.parametrize(
    ("target", "archive", "archived"),
    [
        (Stage.PRODUCTION, True, [Stage.PRODUCTION]),
        (Stage.STAGING, True, [Stage.STAGING]),
        (Stage.PRODUCTION, False, []),
        (Stage.STAGING, False, []),
        (Stage.ARCHIVED, False, []),
        (Stage.NONE, False, []),
    ],
)
def test_archive_existing_versions_archives_only_the_target_stage(target, archive, archived):
    assert rules.stages_archived_by(target, archive) == archived


@pytest.mark.parametrize("target", [Stage.ARCHIVED, Stage.NONE])
def test_archive_existing_versions_into_an_inactive_stage_is_refused(target):
    with pytest.raises(InvalidParameter, match="not an active stage") as caught:
        rules.stages_archived_by(target, True)
    assert caught.value.field == "archive_existing_versions"


@pytest.mark.parametrize(
    ("description", "ok"),
    [("", True), (None, True), ("d" * 100_000, True), ("d" * 100_001, False), (3, False)],
)
def test_description_limits(description, ok):
    if ok:
        assert rules.validate_description(description) == (description or "")
    else:
        with pytest.raises(InvalidParameter):
            rules.validate_description(description)


def test_alias_keys_fold_case_width_and_edge_separators():
    from registry.rules import alias_imitated, alias_key

    assert {
        alias_key(a) for a in ("champion", "Champion", "CHAMPION", "champion_", "-champion-", "ｃhampion")
    } == {"champion"}
    assert alias_key("champ_ion") == "champ_ion"  # inner separators are part of the name
    assert alias_imitated("Champion", ["champion", "prod"]) == "champion"
    assert alias_imitated("champion", ["champion"]) is None  # the governed name itself
    assert alias_imitated("champions", ["champion"]) is None


def test_mixed_script_lookalikes_are_not_alias_names():
    for alias in ("\u0441hampion", "champ\u0456on", "\uff43hampion"):
        with pytest.raises(InvalidParameter):
            rules.validate_alias(alias)
