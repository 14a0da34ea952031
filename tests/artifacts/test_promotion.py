"""Promotion through the approval workflow: quorum -> governed copy -> request applied, never before."""

import pytest

from artifacts.models import ArtifactJob
from artifacts.selectors import copy_job_for_request
from registry.models import ModelVersion
from tests.artifacts.helpers import model_files, sha256, write_tree
from tests.fixtures_workflow import grant_levels, signing_of
from workflows import services as workflow_services
from workflows.models import RequestState

pytestmark = pytest.mark.django_db(transaction=True)


@pytest.fixture
def promotable(cast, tmp_path, settings):
    """'scoring' v1 registered from validated local artifacts; two production approvers."""
    from access.grants import Level
    from registry import services

    settings.QUORUM_ALLOWED_LOCAL_ROOTS = [tmp_path]

    settings.QUORUM_SOURCE_PREFIXES = [*settings.QUORUM_SOURCE_PREFIXES, str(tmp_path)]  # not a scope test
    settings.QUORUM_GOVERNED_STORE = f"file://{tmp_path / 'governed'}"
    files = model_files()
    folder = write_tree(tmp_path / "runs/1/model", files)
    model = services.registered_model_create(actor=cast.owner, name="scoring")
    version = services.model_version_create(actor=cast.owner, name="scoring", source=str(folder))
    assert ModelVersion.objects.get(pk=version.pk).status == "READY"
    approvers = [
        grant_levels(user, model, Level.APPROVE_PRODUCTION) for user in (cast.approver, cast.second_approver)
    ]
    return {
        "files": files,
        "folder": folder,
        "approvers": approvers,
        "governed": tmp_path / "governed/scoring/1",
    }


def approve_to_quorum(cast, approvers):
    request = workflow_services.transition_request_create(
        actor=cast.owner,
        name="scoring",
        version=1,
        target_kind="stage",
        target="Production",
        reason="ship it",
    )
    for approver in approvers:
        workflow_services.transition_request_approve(
            actor=approver, request_id=request.pk, comment="lgtm", signing=signing_of(approver)
        )
    request.refresh_from_db()
    return request


def test_quorum_copies_to_the_governed_store_then_applies(cast, promotable):
    request = approve_to_quorum(cast, promotable["approvers"])
    assert request.state == RequestState.APPLIED
    version = ModelVersion.objects.get(model__name="scoring", version=1)
    assert version.stage == "Production"
    assert version.storage_location == f"file://{promotable['governed']}"
    job = ArtifactJob.objects.get(kind="copy")
    assert (job.request_id, job.status) == (request.pk, "succeeded")
    assert copy_job_for_request(request.pk, version.pk) == job
    copied = {path: sha256((promotable["governed"] / path).read_bytes()) for path in promotable["files"]}
    assert copied == {path: sha256(data) for path, data in promotable["files"].items()}


def test_failed_copy_never_applies_and_a_retry_finishes_the_promotion(cast, promotable, client_for):
    (promotable["folder"] / "model.pkl").write_bytes(b"swapped after validation")
    request = approve_to_quorum(cast, promotable["approvers"])
    assert request.state == RequestState.APPLYING
    version = ModelVersion.objects.get(model__name="scoring", version=1)
    assert (version.stage, version.storage_location) == ("None", "")
    job = ArtifactJob.objects.get(kind="copy")
    assert job.status == "failed" and "does not match the manifest" in job.error

    (promotable["folder"] / "model.pkl").write_bytes(promotable["files"]["model.pkl"])
    response = client_for(cast.owner).post(f"/api/v1/artifact-jobs/{job.pk}/retry")
    assert response.status_code == 202, response.content
    request.refresh_from_db()
    assert request.state == RequestState.APPLIED
    assert ModelVersion.objects.get(pk=version.pk).stage == "Production"


def test_every_request_waiting_on_the_copy_is_applied_when_it_is_proven(cast, promotable, client_for):
    (promotable["folder"] / "model.pkl").write_bytes(b"swapped after validation")
    to_production = approve_to_quorum(cast, promotable["approvers"])
    champion = workflow_services.transition_request_create(
        actor=cast.owner, name="scoring", version=1, target_kind="alias", target="champion", reason="promote"
    )
    for approver in promotable["approvers"]:
        workflow_services.transition_request_approve(
            actor=approver, request_id=champion.pk, comment="ok", signing=signing_of(approver)
        )
    champion.refresh_from_db()
    assert (to_production.state, champion.state) == (RequestState.APPLYING, RequestState.APPLYING)

    (promotable["folder"] / "model.pkl").write_bytes(promotable["files"]["model.pkl"])
    first_job = ArtifactJob.objects.filter(kind="copy").order_by("pk").first()
    assert client_for(cast.owner).post(f"/api/v1/artifact-jobs/{first_job.pk}/retry").status_code == 202
    to_production.refresh_from_db()
    champion.refresh_from_db()
    assert (to_production.state, champion.state) == (RequestState.APPLIED, RequestState.APPLIED)
    version = ModelVersion.objects.get(model__name="scoring", version=1)
    assert version.stage == "Production" and list(version.aliases.values_list("alias", flat=True)) == [
        "champion"
    ]
