"""Pure validation and decision rules of the registry (no I/O)."""

import re
import unicodedata
from collections.abc import Iterable

from registry import prompts
from registry.errors import InvalidParameter
from registry.models import Stage

MODEL_NAME_MAX = 256
ALIAS_MAX = 255
TAG_KEY_MAX = 250
TAG_VALUE_MAX = 5000
DESCRIPTION_MAX = 100_000
VERSION_MAX = 2_000_000_000  # fits the integer column on every database
ALIAS_PATTERN = re.compile(r"^[\w\-]*$")
RESERVED_VERSION_ALIAS = re.compile(r"^[vV]\d+$")


def _has_control_characters(text: str) -> bool:
    # Cc covers C0/C1 controls; Cf covers bidi overrides and zero-width characters used to spoof names.
    return any(unicodedata.category(ch) in {"Cc", "Cf"} for ch in text)


def validate_model_name(name: object, *, field: str = "name") -> str:
    if not isinstance(name, str) or name == "":
        raise InvalidParameter("Registered model name cannot be empty.", field=field)
    if len(name) > MODEL_NAME_MAX:
        raise InvalidParameter(
            f"Registered model name is {len(name)} characters long; the limit is {MODEL_NAME_MAX}.",
            field=field,
        )
    if "/" in name or ":" in name:
        raise InvalidParameter(f"Invalid name: '{name}'. Names cannot contain '/' or ':'.", field=field)
    if _has_control_characters(name):
        raise InvalidParameter(
            "Registered model name cannot contain control or format characters.", field=field
        )
    if name == "." or name.startswith(".."):
        # MLflow refuses names that normalize to another path ('.', '..foo'): they name artifact folders.
        raise InvalidParameter(
            f"Invalid name: '{name}'. Names cannot be '.' or start with '..'.", field=field
        )
    if name != name.strip():
        raise InvalidParameter("Registered model name cannot start or end with whitespace.", field=field)
    return name


def validate_alias(alias: object) -> str:
    if not isinstance(alias, str) or alias == "":
        raise InvalidParameter("Alias name cannot be empty.", field="alias")
    if len(alias) > ALIAS_MAX:
        raise InvalidParameter(f"Alias name is longer than {ALIAS_MAX} characters.", field="alias")
    # fullmatch: with match, '$' also matches before a trailing newline, so 'champion\n' slipped through.
    if not ALIAS_PATTERN.fullmatch(alias) or not alias.isascii():
        raise InvalidParameter(
            f"Invalid alias name: '{alias}'. Aliases may only contain letters, digits, '_' and '-'.",
            field="alias",
        )
    if alias.lower() == "latest":
        raise InvalidParameter("'latest' alias name (case insensitive) is reserved.", field="alias")
    if RESERVED_VERSION_ALIAS.fullmatch(alias):
        raise InvalidParameter(
            f"Version alias name '{alias}' must not take the form of 'v<number>' (case insensitive); "
            "it is reserved for version references.",
            field="alias",
        )
    return alias


ALIAS_SEPARATORS = "_-"


def alias_key(alias: str) -> str:
    """What an alias name is compared by when it might imitate another: NFKC, case-folded, without
    leading or trailing separators ('Champion', 'CHAMPION', 'champion_' and '-champion' all give
    'champion'). Aliases are ASCII (validate_alias), so mixed-script look-alikes such as a Cyrillic
    'с' in 'сhampion' never get this far: they are refused as names."""
    return unicodedata.normalize("NFKC", alias).casefold().strip(ALIAS_SEPARATORS)


def alias_imitated(alias: str, governed: Iterable[str]) -> str | None:
    """The governed alias that `alias` is a look-alike of (same key, different name), or None.

    Decision (issue 19, attack 6): a look-alike is refused, not treated as the governed alias, so a
    deployment's typo (`models:/m@Champion`) finds nothing instead of an unapproved version.
    """
    key = alias_key(alias)
    for name in governed:
        if name != alias and alias_key(name) == key:
            return name
    return None


def alias_lookalike_refusal(alias: str, imitated: str, model_name: str) -> str:
    return (
        f"Alias '{alias}' of registered model '{model_name}' is reserved: it looks like the governed "
        f"alias '{imitated}' (alias names are compared case-insensitively, NFKC-normalized, ignoring "
        f"leading and trailing '_' and '-'). Use '{imitated}' through a transition request, or another name."
    )


def validate_tag(key: object, value: object) -> tuple[str, str]:
    if not isinstance(key, str) or key == "":
        raise InvalidParameter("Tag key cannot be empty.", field="key")
    if len(key) > TAG_KEY_MAX:
        raise InvalidParameter(f"Tag key '{key[:40]}…' is longer than {TAG_KEY_MAX} characters.", field="key")
    if _has_control_characters(key):
        raise InvalidParameter("Tag key cannot contain control characters.", field="key")
    if value is None:
        value = ""
    if not isinstance(value, str):
        raise InvalidParameter("Tag value must be a string.", field="value")
    limit = prompts.TEXT_MAX if key == prompts.PROMPT_TEXT_TAG_KEY else TAG_VALUE_MAX
    if len(value) > limit:
        raise InvalidParameter(f"Tag value for '{key}' is longer than {limit} characters.", field="value")
    if "\x00" in value:
        raise InvalidParameter("Tag value cannot contain NUL characters.", field="value")
    return key, value


def validate_description(description: object) -> str:
    if description is None:
        return ""
    if not isinstance(description, str):
        raise InvalidParameter("Description must be a string.", field="description")
    if len(description) > DESCRIPTION_MAX:
        raise InvalidParameter(
            f"Description is longer than {DESCRIPTION_MAX} characters.", field="description"
        )
    if "\x00" in description:
        raise InvalidParameter("Description cannot contain NUL characters.", field="description")
    return description


def parse_stage(stage: object) -> Stage:
    """A stage name, case-insensitive as MLflow accepts it, returned canonical."""
    if isinstance(stage, str):
        for choice in Stage:
            if choice.value.lower() == stage.strip().lower():
                return choice
    raise InvalidParameter(
        f"Invalid Model Version stage: {stage}. Value must be one of None, Staging, Production, Archived.",
        field="stage",
    )


def parse_version_number(version: object, *, field: str = "version") -> int:
    if isinstance(version, bool):
        raise InvalidParameter(f"Parameter '{field}' must be an integer, got '{version}'.", field=field)
    if isinstance(version, int):
        number = version
    elif isinstance(version, str) and re.fullmatch(r"\s*\d{1,9}\s*", version):
        number = int(version)
    else:
        raise InvalidParameter(f"Parameter '{field}' must be an integer, got '{version}'.", field=field)
    if number < 1 or number > VERSION_MAX:
        raise InvalidParameter(
            f"Parameter '{field}' must be a positive integer, got '{version}'.", field=field
        )
    return number


ACTIVE_STAGES = (Stage.STAGING, Stage.PRODUCTION)


def stages_archived_by(target: Stage, archive_existing_versions: bool) -> list[Stage]:
    """Which stage's other versions move to Archived when a version enters `target` (MLflow semantics).

    As in MLflow, asking to archive existing versions is only valid for an active stage (Staging,
    Production); for None or Archived it is refused rather than silently ignored.
    """
    if not archive_existing_versions:
        return []
    if target not in ACTIVE_STAGES:
        raise InvalidParameter(
            "Model version transition cannot archive existing model versions because "
            f"'{target.value}' is not an active stage. Valid stages are Staging, Production.",
            field="archive_existing_versions",
        )
    return [target]
