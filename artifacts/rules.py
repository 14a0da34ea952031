"""Pure decisions of the artifact pipeline (no I/O): digests, MLmodel checks, leases, re-dispatch."""

from __future__ import annotations

import hashlib
import json
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

import yaml

from registry.sources import lineage_refusal, local_source_refusal

MLMODEL_PATH = "MLmodel"


class InvalidArtifacts(Exception):
    """The artifacts are not a usable model version; the message tells the owner what to fix."""


def version_digest(entries: Iterable[tuple[str, int, str]]) -> str:
    """One SHA-256 for a whole version: over its (path, size, sha256) lines sorted by path.

    Paths are part of the digest, so renaming a file changes the version digest even though
    no object's bytes changed.
    """
    digest = hashlib.sha256()
    for path, size, sha256 in sorted(entries):
        digest.update(f"{path}\t{size}\t{sha256}\n".encode())
    return digest.hexdigest()


def size_within_limit(total_bytes: int, limit: int) -> None:
    if total_bytes > limit:
        raise InvalidArtifacts(
            f"The artifacts total {total_bytes:,} bytes, above the limit of {limit:,} bytes "
            "(QUORUM_MAX_VERSION_BYTES). Remove files the model does not need, or ask an "
            "administrator to raise the limit."
        )


def manifest_paths_checked(paths: Iterable[str]) -> None:
    """The source must hold objects, among them an `MLmodel` file at its top level."""
    paths = list(paths)
    if not paths:
        raise InvalidArtifacts(
            "No artifacts found at the version's source. Upload the model (e.g. with "
            "mlflow.<flavor>.log_model) before registering it, and check the source URI."
        )
    if MLMODEL_PATH not in paths:
        nested = sorted(p for p in paths if p.rsplit("/", 1)[-1] == MLMODEL_PATH)
        hint = f" An MLmodel exists at '{nested[0]}': register that folder as the source." if nested else ""
        raise InvalidArtifacts(
            f"The source has no MLmodel file at its top level, so it is not an MLflow model.{hint}"
        )


@dataclass(frozen=True)
class MlmodelSummary:
    flavors: list[str]
    signature: dict[str, Any] | None


def mlmodel_parse(text: bytes | str) -> MlmodelSummary:
    """Parse an MLmodel file: YAML mapping with a non-empty `flavors`; a signature must be JSON."""
    try:
        document = yaml.safe_load(text)
    except yaml.YAMLError as exc:
        where = getattr(exc, "problem_mark", None)
        at = f" (line {where.line + 1})" if where is not None else ""
        raise InvalidArtifacts(f"MLmodel is not valid YAML{at}: {getattr(exc, 'problem', exc)}.")
    if not isinstance(document, dict):
        raise InvalidArtifacts("MLmodel must be a YAML mapping with a 'flavors' section.")
    flavors = document.get("flavors")
    if not isinstance(flavors, dict) or not flavors:
        raise InvalidArtifacts(
            "MLmodel declares no flavors: it needs a 'flavors' mapping (e.g. python_function), "
            "which mlflow's log_model writes."
        )
    signature = document.get("signature")
    parsed_signature: dict[str, Any] | None = None
    if signature is not None:
        if not isinstance(signature, dict):
            raise InvalidArtifacts("MLmodel 'signature' must be a mapping with 'inputs' and 'outputs'.")
        parsed_signature = {}
        for part in ("inputs", "outputs", "params"):
            raw = signature.get(part)
            if raw is None:
                continue
            try:
                parsed_signature[part] = json.loads(raw) if isinstance(raw, str) else raw
            except json.JSONDecodeError as exc:
                raise InvalidArtifacts(f"MLmodel signature '{part}' is not valid JSON: {exc.msg}.")
    return MlmodelSummary(flavors=sorted(str(name) for name in flavors), signature=parsed_signature)


def lease_expired(heartbeat_at: datetime | None, now: datetime, lease_seconds: float) -> bool:
    return heartbeat_at is None or heartbeat_at < now - timedelta(seconds=lease_seconds)


def outbox_due(
    *,
    dispatched_at: datetime | None,
    created_at: datetime,
    job_running_with_live_lease: bool,
    now: datetime,
    redispatch_after_seconds: float,
) -> bool:
    """Whether an unfinished outbox message should be published (again) by the periodic sweep.

    A fresh message is left to its own on-commit publish for one period; a job some worker is
    visibly running is left alone; anything else that has waited a period is published again.
    Publishing twice is safe: the task claims the job with compare-and-set before working.
    """
    if job_running_with_live_lease:
        return False
    last = dispatched_at or created_at
    return last <= now - timedelta(seconds=redispatch_after_seconds)


def retry_delay_seconds(attempt: int, *, base: float = 2.0, ceiling: float = 300.0) -> float:
    """Exponential backoff for transient storage errors: 2, 4, 8, … seconds, at most `ceiling`."""
    return min(ceiling, base * (2 ** max(0, attempt)))


# --- Where a version may come from (issue 19: sources are scoped, lineage is true) -------------


@dataclass(frozen=True)
class SourceAdmission:
    """Why a source was admitted ('run', 'logged model', 'registry copy', 'prefix', 'organisation')."""

    via: str
    prefix: str = ""


class SourceRefused(Exception):
    """The source may not be registered for this model; the message names only the source and ids.

    `prefix_may_admit`: a prefix allow-listed for the model or its team would admit it (the caller
    looks that up only then; the governed store and a false lineage are refused whatever the list).
    """

    def __init__(self, message: str, *, prefix_may_admit: bool = False) -> None:
        super().__init__(message)
        self.prefix_may_admit = prefix_may_admit


def source_prefix_checked(prefix: str, *, governed_root: str, within) -> None:
    """A prefix may be allow-listed only if it names a place (not a whole scheme) outside the governed store."""
    from urllib.parse import urlparse

    parsed = urlparse(prefix)
    if parsed.scheme.lower() in ("", "file"):
        if not (parsed.path if parsed.scheme else prefix).startswith("/") or (parsed.path or prefix) == "/":
            raise SourceRefused("A local source prefix must be an absolute folder below '/'.")
    elif not parsed.netloc:
        raise SourceRefused(f"Source prefix '{prefix}' names no bucket or host.")
    elif parsed.scheme.lower() in ("runs", "models", "mlflow-artifacts"):
        raise SourceRefused(
            f"Source prefix '{prefix}': runs:/, models:/ and mlflow-artifacts: sources are checked "
            "against their run, not allow-listed."
        )
    if governed_root and (within(prefix, governed_root) or within(governed_root, prefix)):
        raise SourceRefused(
            f"Source prefix '{prefix}' overlaps the governed store: governed copies are never sources."
        )


def source_admission(
    *,
    source: str,
    location: str,
    run_id: str,
    model_id: str,
    lineage_root: str | None,
    is_local: bool,
    is_copy: bool,
    local_path: str = "",
    governed_root: str,
    organisation_prefixes: list[str],
    within,
) -> SourceAdmission:
    """Decide whether `source` may be registered; SourceRefused says why not.

    `location` is where Quorum would read the version (the resolved storage location, else the
    source); `lineage_root` the artifact location of the run (or logged model) the version names,
    None when no run is named or no tracking server can be asked; `within(a, b)`: a lies in b;
    `local_path` the normalized path a local source names.
    """
    if governed_root and location and within(location, governed_root):
        raise SourceRefused(
            f"Invalid model version source: '{source}' lies in the governed store; governed copies "
            "are never sources (copy a registered version with models:/<name>/<version> instead)."
        )
    if is_copy:
        return SourceAdmission("registry copy")
    scheme = source.split(":", 1)[0].lower() if ":" in source else ""
    if scheme == "runs":
        return SourceAdmission("run")
    if scheme == "models":
        return SourceAdmission("logged model")
    named = "model_id" if model_id else "run_id"
    if lineage_root is not None:
        if within(location, lineage_root):
            return SourceAdmission("logged model" if model_id else "run")
        if is_local:
            # As MLflow's server: a local source outside its run's folder is named as a path (MLflow
            # names where links lead; Quorum the path sent, normalized, never another location).
            raise SourceRefused(local_source_refusal(local_path or source))
        raise SourceRefused(lineage_refusal(source, named))
    for prefix in organisation_prefixes:
        if within(location, prefix):
            return SourceAdmission("organisation", prefix)
    if is_local:
        # MLflow's message; an allow-listed folder admits it too (a deliberate difference, README).
        raise SourceRefused(local_source_refusal(source), prefix_may_admit=True)
    raise SourceRefused(
        f"Invalid model version source: '{source}' lies outside where this model may register from: "
        "the artifact location of the run named by run_id, or a source prefix allow-listed for the "
        "model or its team (/api/v1/models/<name>/source-prefixes).",
        prefix_may_admit=True,
    )
