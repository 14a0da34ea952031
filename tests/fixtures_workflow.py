"""Fixtures for the approval-workflow tests: a governed model with readers, approvers and a request."""

from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import pytest
from guardian.shortcuts import assign_perm

from access.grants import LEVEL_CODENAMES, Level
from registry import services
from registry.models import RegisteredModel


def grant_levels(user, model: RegisteredModel, *levels: Level):
    """Give `user` READ plus `levels` on `model`; returns a fresh instance (no stale permission cache)."""
    for level in (Level.READ, *levels):
        assign_perm(LEVEL_CODENAMES[level], user, model)
    return type(user).objects.get(pk=user.pk)


APPROVAL_MEANING = "Approved for production"


def password_of(user) -> str:
    """The password tests/conftest.make_user gives every test user."""
    return f"{user.username}-pw-123!"


def signature_of(user, meaning: str = APPROVAL_MEANING, **extra) -> dict:
    """The `signature` object of an API decision signed by `user` (password again, and a meaning)."""
    return {"password": password_of(user), "meaning": meaning, **extra}


def signed(client, comment: str = "ok", meaning: str = APPROVAL_MEANING) -> dict:
    """A decision's body signed by the client's person (tests/conftest.client_for); service accounts,
    which cannot sign, send the comment alone."""
    user = getattr(client, "user", None)
    if user is None or user.is_service_account:
        return {"comment": comment}
    return {"comment": comment, "signature": signature_of(user, meaning)}


def signing_of(user, meaning: str = APPROVAL_MEANING, otp: str = ""):
    """The services' SigningCredentials of `user`."""
    from accounts.signing import SigningCredentials

    return SigningCredentials(password=password_of(user), otp=otp, meaning=meaning)


def pipeline_run_queued() -> list[int]:
    """Run every queued artifact job in-process, as a worker would (the tests' transaction never commits)."""
    from artifacts import services as artifact_services
    from artifacts.models import ArtifactJob, JobStatus

    ran = []
    while True:
        queued = list(
            ArtifactJob.objects.filter(status=JobStatus.QUEUED).order_by("pk").values_list("pk", flat=True)
        )
        if not queued:
            return ran
        for job_id in queued:
            artifact_services.job_run(job_id)
            ran.append(job_id)


def version_from_local_artifacts(actor, name: str, folder: Path, **extra):
    """Register a version from a local folder holding a small MLflow model, and validate it in-process."""
    from tests.artifacts.helpers import model_files, write_tree

    write_tree(folder, model_files(big_bytes=2_000))
    version = services.model_version_create(actor=actor, name=name, source=str(folder), **extra)
    pipeline_run_queued()
    return version


@pytest.fixture
def local_artifact_store(settings, tmp_path) -> Path:
    """Local sources under tmp_path are allowed; the governed store is a folder beside them."""
    settings.QUORUM_ARTIFACT_ROOT = tmp_path
    settings.QUORUM_ALLOWED_LOCAL_ROOTS = [tmp_path]
    settings.QUORUM_SOURCE_PREFIXES = [*settings.QUORUM_SOURCE_PREFIXES, str(tmp_path)]  # not a scope test
    settings.QUORUM_GOVERNED_STORE = f"file://{tmp_path / 'governed'}"
    return tmp_path


@dataclass
class Governed:
    """'scoring' owned by cast.owner, versions 1-3 created by the editor; two production approvers.

    The versions' artifacts are real local models, validated and copied to the governed store by the
    artifact pipeline (run in-process), as production always has them.
    """

    model: RegisteredModel
    editor: object  # EDIT: requests transitions; author of the versions
    owner: object  # MANAGE
    approver: object  # APPROVE_PRODUCTION + APPROVE_STAGING
    second_approver: object  # APPROVE_PRODUCTION + APPROVE_STAGING
    outsider: object  # READ only


@pytest.fixture
def governed(cast, local_artifact_store) -> Governed:
    from artifacts import services as artifact_services

    model = services.registered_model_create(actor=cast.owner, name="scoring", description="credit scoring")
    editor = grant_levels(cast.editor, model, Level.EDIT)
    for number in (1, 2, 3):
        version_from_local_artifacts(
            editor,
            "scoring",
            local_artifact_store / "scoring" / str(number),
            tags=[{"key": "metric.auc", "value": f"0.8{number}"}],
        )
        artifact_services.governed_copy_start(actor=cast.owner, name="scoring", version=number)
    pipeline_run_queued()
    both = (Level.APPROVE_PRODUCTION, Level.APPROVE_STAGING)
    return Governed(
        model=model,
        editor=editor,
        owner=cast.owner,
        approver=grant_levels(cast.approver, model, *both),
        second_approver=grant_levels(cast.second_approver, model, *both),
        outsider=grant_levels(cast.outsider, model),
    )


@pytest.fixture
def file_request(governed) -> Callable:
    """file_request(version=2, stage='Production' | alias='champion', by=editor) -> TransitionRequest."""
    from workflows import services as workflow_services

    def build(version: int = 2, *, stage: str | None = None, alias: str | None = None, by=None, **extra):
        kind, target = ("alias", alias) if alias else ("stage", stage or "Production")
        return workflow_services.transition_request_create(
            actor=by or governed.editor,
            name="scoring",
            version=version,
            target_kind=kind,
            target=target,
            reason=extra.pop("reason", "better AUC on the holdout set"),
            **extra,
        )

    return build
