"""The real mlflow client meets a governed target: a clear PERMISSION_DENIED, then the request path works."""

import pytest
from mlflow import MlflowClient
from mlflow.exceptions import MlflowException

from registry.models import ModelVersion
from tests.fixtures_workflow import signing_of
from workflows import services as workflow_services

pytestmark = [pytest.mark.slow, pytest.mark.django_db(transaction=True)]


def test_mlflow_client_cannot_set_governed_targets_but_approved_request_shows_through(
    live_server, governed, mlflow_env, file_request
):
    mlflow_env(
        MLFLOW_TRACKING_URI=live_server.url,
        MLFLOW_REGISTRY_URI=live_server.url,
        MLFLOW_TRACKING_USERNAME="owner",
        MLFLOW_TRACKING_PASSWORD="owner-pw-123!",
    )
    client = MlflowClient()
    with pytest.raises(MlflowException) as refused:
        client.transition_model_version_stage("scoring", "2", "Production")
    assert refused.value.error_code == "PERMISSION_DENIED"
    assert "approved transition request" in refused.value.message
    with pytest.raises(MlflowException) as refused:
        client.set_registered_model_alias("scoring", "champion", "2")
    assert refused.value.error_code == "PERMISSION_DENIED"
    assert ModelVersion.objects.get(model=governed.model, version=2).stage == "None"

    request = file_request(2, alias="champion")
    for approver in (governed.approver, governed.second_approver):
        workflow_services.transition_request_approve(
            actor=approver, request_id=request.pk, comment="ok", signing=signing_of(approver)
        )
    assert client.get_model_version_by_alias("scoring", "champion").version == "2"
    client.set_registered_model_alias("scoring", "shadow", "3")  # ungoverned: direct set works
    assert client.get_model_version_by_alias("scoring", "shadow").version == "3"


def test_mlflow_client_cannot_take_a_version_out_of_production_or_drop_champion(
    live_server, governed, mlflow_env, file_request
):
    """Issue 19, attack 4 through the real client: archiving, un-staging, deleting @champion or the version."""
    for target in ({"stage": "Production"}, {"alias": "champion"}):
        request = file_request(2, **target)
        for approver in (governed.approver, governed.second_approver):
            workflow_services.transition_request_approve(
                actor=approver, request_id=request.pk, comment="ok", signing=signing_of(approver)
            )
    mlflow_env(
        MLFLOW_TRACKING_URI=live_server.url,
        MLFLOW_REGISTRY_URI=live_server.url,
        MLFLOW_TRACKING_USERNAME="owner",
        MLFLOW_TRACKING_PASSWORD="owner-pw-123!",
    )
    client = MlflowClient()
    for attempt in (
        lambda: client.transition_model_version_stage("scoring", "2", "Archived"),
        lambda: client.transition_model_version_stage("scoring", "2", "None"),
        lambda: client.delete_registered_model_alias("scoring", "champion"),
        lambda: client.delete_model_version("scoring", "2"),
        lambda: client.delete_registered_model("scoring"),
    ):
        with pytest.raises(MlflowException) as refused:
            attempt()
        assert refused.value.error_code == "PERMISSION_DENIED"
        assert "/api/v1/models/scoring/requests" in refused.value.message
    assert client.get_latest_versions("scoring", stages=["Production"])[0].version == "2"
    assert client.get_model_version_by_alias("scoring", "champion").version == "2"
