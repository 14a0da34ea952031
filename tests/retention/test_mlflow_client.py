"""The real mlflow client meets a legal hold: deleting the held version, its model or its alias is
PERMISSION_DENIED naming the hold; once released, the same calls work."""

import pytest
from mlflow import MlflowClient
from mlflow.exceptions import MlflowException

from registry import services as registry_services
from registry.models import ModelVersion
from retention import services

pytestmark = [pytest.mark.slow, pytest.mark.django_db(transaction=True)]


def test_mlflow_client_cannot_delete_a_held_version_until_the_hold_is_released(
    live_server, fraud, cast, compliance, mlflow_env
):
    registry_services.alias_set(actor=cast.owner, name="fraud", alias="shadow", version=2)
    placed = services.legal_hold_place(actor=compliance, name="fraud", version=2, reason="case 7")
    mlflow_env(
        MLFLOW_TRACKING_URI=live_server.url,
        MLFLOW_REGISTRY_URI=live_server.url,
        MLFLOW_TRACKING_USERNAME="owner",
        MLFLOW_TRACKING_PASSWORD="owner-pw-123!",
        MLFLOW_HTTP_REQUEST_MAX_RETRIES="0",
    )
    client = MlflowClient()
    for attempt in (
        lambda: client.delete_model_version("fraud", "2"),
        lambda: client.delete_registered_model_alias("fraud", "shadow"),
        lambda: client.delete_registered_model("fraud"),
    ):
        with pytest.raises(MlflowException) as refused:
            attempt()
        assert refused.value.error_code == "PERMISSION_DENIED"
        assert f"legal hold #{placed.pk}" in refused.value.message
    assert client.get_model_version_by_alias("fraud", "shadow").version == "2"

    services.legal_hold_release(actor=compliance, hold_id=placed.pk, reason="closed")
    client.delete_registered_model_alias("fraud", "shadow")
    client.delete_model_version("fraud", "2")
    assert not ModelVersion.objects.filter(model=fraud, version=2).exists()
