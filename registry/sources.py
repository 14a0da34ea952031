"""Validation of model version sources (where a version's artifacts come from).

Accepted: object stores (`s3://`, `gs://`, `wasbs://`, `abfss://`), `runs:/<run_id>/<path>`,
`models:/<model_id>` (MLflow 3 logged models), `mlflow-artifacts:/…`, and local paths or
`file://` URIs only under QUORUM_ALLOWED_LOCAL_ROOTS. Path traversal in any spelling is refused.
"""

import os
import posixpath
import re
from pathlib import Path
from urllib.parse import unquote, urlparse

from django.conf import settings

from registry.errors import InvalidParameter

OBJECT_STORE_SCHEMES = {"s3", "gs", "wasbs", "abfss", "s3a"}
SOURCE_MAX = 4000
LOGGED_MODEL_ID = re.compile(r"^m-[0-9a-f]{32}$")
RUN_ID = re.compile(r"^[0-9A-Za-z_\-]{1,64}$")

# MLflow's own words (mlflow/server/handlers.py, `_validate_source_run` and
# `_validate_non_local_source_contains_relative_paths`): its clients and users know them.
LOCAL_SOURCE_RULE = (
    "To use a local path as a model version source, the run_id request parameter has to be specified "
    "and the local path has to be contained within the artifact directory of the run specified by the "
    "run_id."
)
RELATIVE_REFERENCES_RULE = (
    "If supplying a source as an http, https, local file path, ftp, objectstore, or mlflow-artifacts "
    "uri, an absolute path must be provided without relative path references present. Please provide "
    "an absolute path."
)


def lineage_refusal(source: str, named: str = "run_id") -> str:
    """MLflow's refusal of a source its run_id (or model_id) does not contain."""
    return (
        f"Invalid model version source: '{source}'. The {named} request parameter must identify the "
        "resource that contains the source."
    )


def local_source_refusal(source: str) -> str:
    """MLflow's refusal of a local source without a run that contains it."""
    return f"Invalid model version source: '{source}'. {LOCAL_SOURCE_RULE}"


def _fully_unquoted(text: str) -> str:
    # Decode until stable so %252e%252e (double-encoded "..") is seen for what it is.
    for _ in range(5):
        decoded = unquote(text)
        if decoded == text:
            break
        text = decoded
    return text


def _reject_traversal(source: str) -> None:
    decoded = _fully_unquoted(source)
    if "\\" in decoded:
        raise InvalidParameter(
            f"Invalid model version source: '{source}'. Backslashes are not allowed.", field="source"
        )
    if "\x00" in decoded or any(ord(ch) < 32 for ch in decoded):
        raise InvalidParameter(
            "Invalid model version source: control characters are not allowed.", field="source"
        )
    # Check every segment of the whole string, including after '?', '#' and ';'.
    # MLflow lets `..` through in local paths that resolve inside the run; Quorum refuses it in
    # every source (a deliberate difference), in MLflow's words for non-local sources.
    traversal = any(segment.strip() == ".." for segment in re.split(r"[/?#;&=]", decoded))
    if traversal or (not is_local_source(decoded) and _has_relative_references(decoded)):
        raise InvalidParameter(
            f"Invalid model version source: '{source}'. {RELATIVE_REFERENCES_RULE}", field="source"
        )


def _has_relative_references(decoded: str) -> bool:
    """As MLflow checks non-local sources: the path, `//` collapsed, must already be normalized
    (`s3://b/a/./m` is refused). Compared without touching any disk, unlike MLflow's resolve()."""
    path = re.sub(r"/+", "/", urlparse(decoded).path.rstrip("/"))
    return bool(path) and posixpath.normpath(path) != path


def _local_path_allowed(path: str, source: str) -> str:
    if not path.startswith("/"):
        # MLflow resolves a relative path against its server's working directory and names that;
        # Quorum names the source as sent, with MLflow's rule.
        raise InvalidParameter(local_source_refusal(source), field="source")
    normalized = Path(posixpath.normpath(path))
    if str(normalized).startswith("//") or str(normalized).startswith("/proc"):
        raise InvalidParameter(f"Invalid model version source: '{source}'.", field="source")
    real = Path(os.path.realpath(normalized))  # symlinked folders under a root may lead out of it
    for root in settings.QUORUM_ALLOWED_LOCAL_ROOTS:
        root = Path(posixpath.normpath(str(root)))
        real_root = Path(os.path.realpath(root))
        if (normalized == root or root in normalized.parents) and (
            real == real_root or real_root in real.parents
        ):
            return str(normalized)
    raise InvalidParameter(
        f"Invalid model version source: '{source}'. Local paths are accepted only under the "
        "configured artifact roots (QUORUM_ALLOWED_LOCAL_ROOTS).",
        field="source",
    )


def is_local_source(source: str) -> bool:
    """A plain path or a file: URI (Quorum reads it from its own disk)."""
    return urlparse(source).scheme.lower() in ("", "file")


def local_source_path(source: str) -> str:
    """The absolute, normalized path a local source names."""
    parsed = urlparse(source)
    raw = parsed.path if parsed.scheme.lower() == "file" else source
    return posixpath.normpath(_fully_unquoted(raw))


def _uri_parts(uri: str) -> tuple[str, str, tuple[str, ...]]:
    parsed = urlparse(uri)
    parts = tuple(_fully_unquoted(part) for part in parsed.path.split("/") if part not in ("", "."))
    return parsed.scheme.lower(), parsed.netloc.lower(), parts


def location_within(location: str, root: str) -> bool:
    """Whether `location` is `root` or lies below it (by path segments, never by string prefix).

    Local locations compare where symlinks really lead, as MLflow does for local run folders.
    """
    if not location or not root:
        return False
    if is_local_source(location) and is_local_source(root):
        real = Path(os.path.realpath(local_source_path(location)))
        real_root = Path(os.path.realpath(local_source_path(root)))
        return real == real_root or real_root in real.parents
    scheme, authority, parts = _uri_parts(location)
    root_scheme, root_authority, root_parts = _uri_parts(root)
    if scheme in ("s3", "s3a") and root_scheme in ("s3", "s3a"):
        scheme = root_scheme = "s3"
    return (
        scheme == root_scheme
        and authority == root_authority
        and bool(root_authority or root_parts)
        and parts[: len(root_parts)] == root_parts
    )


def locations_overlap(first: str, second: str) -> bool:
    """Whether one location contains the other."""
    return location_within(first, second) or location_within(second, first)


def is_registry_copy_source(source: str) -> bool:
    """`models:/<name>/<version>` or `models:/<name>@<alias>`: what MlflowClient.copy_model_version sends."""
    from registry.uris import parse_model_uri

    if not source.startswith("models:/") or LOGGED_MODEL_ID.match(source[len("models:/") :].strip("/")):
        return False
    try:
        parse_model_uri(source)
    except InvalidParameter:
        return False
    return True


def source_validate(source: object, *, run_id: str = "", model_id: str = "") -> str:
    """Return the source unchanged when it is acceptable, else raise InvalidParameter."""
    if not isinstance(source, str) or not source.strip():
        raise InvalidParameter("Missing value for required parameter 'source'.", field="source")
    if len(source) > SOURCE_MAX:
        raise InvalidParameter(
            f"Model version source is longer than {SOURCE_MAX} characters.", field="source"
        )
    _reject_traversal(source)
    parsed = urlparse(source)
    scheme = parsed.scheme.lower()
    if scheme in OBJECT_STORE_SCHEMES:
        if not parsed.netloc:
            raise InvalidParameter(
                f"Invalid model version source: '{source}' names no bucket.", field="source"
            )
        return source
    if scheme == "runs":
        match = re.match(r"^runs:/([^/]+)(/.*)?$", source)
        if not match or not RUN_ID.match(match.group(1)):
            raise InvalidParameter(
                f"Invalid runs URI: '{source}'. Expected runs:/<run_id>/<path>.", field="source"
            )
        if run_id and run_id != match.group(1):
            raise InvalidParameter(lineage_refusal(source), field="source")
        return source
    if scheme == "models":
        match = re.match(r"^models:/([^/@]+)/?$", source)
        if not match or not LOGGED_MODEL_ID.match(match.group(1)):
            if is_registry_copy_source(source):
                return source
            raise InvalidParameter(
                f"Invalid model version source: '{source}'. Expected models:/<logged model id>, or "
                "models:/<name>/<version> or models:/<name>@<alias> to copy a registered version.",
                field="source",
            )
        if model_id and model_id != match.group(1):
            raise InvalidParameter(
                f"Invalid model version source: '{source}' does not match model_id '{model_id}'.",
                field="source",
            )
        return source
    if scheme == "mlflow-artifacts":
        if parsed.netloc:
            # MLflow resolves the host against its own tracking server; a stored host would send
            # readers (and Quorum) to whatever server the registering client named.
            raise InvalidParameter(
                f"Invalid model version source: '{source}'. mlflow-artifacts URIs may not name a host: "
                "use mlflow-artifacts:/<path>, relative to the tracking server.",
                field="source",
            )
        if not run_id and not model_id:
            raise InvalidParameter(lineage_refusal(source), field="source")
        return source
    if scheme == "file":
        if parsed.netloc not in ("", "localhost"):
            raise InvalidParameter(
                f"Invalid model version source: '{source}'. file:// URIs may not name a host.", field="source"
            )
        _local_path_allowed(_fully_unquoted(parsed.path), source)
        return source
    if scheme == "":
        _local_path_allowed(_fully_unquoted(source), source)
        return source
    raise InvalidParameter(
        f"Invalid model version source: '{source}'. Unsupported scheme '{scheme}'.", field="source"
    )
