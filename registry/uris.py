"""Parsing `models:/` URIs: by version, alias, stage, or latest."""

from dataclasses import dataclass
from urllib.parse import unquote

from registry.errors import InvalidParameter
from registry.models import Stage
from registry.rules import VERSION_MAX, parse_stage, validate_alias, validate_model_name

URI_MAX = 1024


@dataclass(frozen=True)
class ModelUri:
    name: str
    version: int | None = None
    alias: str | None = None
    stage: Stage | None = None
    latest: bool = False


def _bad(uri: str, why: str) -> InvalidParameter:
    return InvalidParameter(
        f"Invalid model URI '{uri}': {why}. Expected models:/<name>/<version>, models:/<name>@<alias>, "
        "models:/<name>/<stage> or models:/<name>/latest.",
        field="uri",
    )


def parse_model_uri(uri: object) -> ModelUri:
    """Parse a `models:/` URI; InvalidParameter (field 'uri') says what is wrong with a malformed one."""
    if not isinstance(uri, str) or not uri:
        raise InvalidParameter("Missing value for required parameter 'uri'.", field="uri")
    if len(uri) > URI_MAX:
        raise _bad(uri[:60] + "…", f"longer than {URI_MAX} characters")
    if not uri.startswith("models:/"):
        raise _bad(uri, "the scheme must be 'models:'")
    rest = uri[len("models:/") :]
    if rest.startswith("/"):
        raise _bad(uri, "a registry URI has no authority part")
    if "?" in rest or "#" in rest:
        raise _bad(uri, "query strings and fragments are not allowed")
    rest = unquote(rest)
    if "@" in rest and "/" not in rest:
        name, _, alias = rest.rpartition("@")
        if not name:
            raise _bad(uri, "the model name is empty")
        validate_model_name(name, field="uri")
        if alias.lower() == "latest":
            return ModelUri(name=name, latest=True)
        try:
            validate_alias(alias)
        except InvalidParameter as exc:
            raise _bad(uri, exc.message.rstrip("."))
        return ModelUri(name=name, alias=alias)
    parts = rest.split("/")
    if len(parts) != 2 or not parts[0] or not parts[1]:
        raise _bad(uri, "expected exactly a name and a version, stage or 'latest'")
    name, suffix = parts
    validate_model_name(name, field="uri")
    if suffix.isascii() and suffix.isdigit():
        if len(suffix) > 10 or not 1 <= int(suffix) <= VERSION_MAX:
            raise _bad(uri, f"version {suffix[:20]} is out of range (1 to {VERSION_MAX})")
        return ModelUri(name=name, version=int(suffix))
    if suffix.lower() == "latest":
        return ModelUri(name=name, latest=True)
    try:
        return ModelUri(name=name, stage=parse_stage(suffix))
    except InvalidParameter:
        raise _bad(uri, f"'{suffix}' is not a version number, a stage or 'latest'")
