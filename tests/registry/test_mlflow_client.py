"""The real mlflow client, unchanged, against a live Quorum server."""

from pathlib import Path

import numpy as np
import pytest
import requests
from mlflow import MlflowClient
from mlflow.exceptions import MlflowException

from tests.fixtures_mlflow import api_token_for, copy_model

pytestmark = [
    pytest.mark.django_db(transaction=True),
    pytest.mark.usefixtures("fast_passwords", "ungoverned", "celery_in_process"),
]


@pytest.fixture
def as_owner_basic(live_server, cast, mlflow_env):
    """The client configured like a user would: registry and tracking URI = Quorum, Basic credentials."""
    mlflow_env(
        MLFLOW_TRACKING_URI=live_server.url,
        MLFLOW_REGISTRY_URI=live_server.url,
        MLFLOW_TRACKING_USERNAME="owner",
        MLFLOW_TRACKING_PASSWORD="owner-pw-123!",
    )
    return cast


@pytest.fixture
def champion_model(as_owner_basic, artifact_root, sklearn_model_dir):
    """'fraud' v1 = an s3 placeholder, v2 = a real sklearn model on Quorum's disk, champion -> v2."""
    client = MlflowClient()
    client.create_registered_model("fraud")
    source = copy_model(sklearn_model_dir, artifact_root / "fraud" / "2")
    client.create_model_version("fraud", source="s3://bucket/fraud/1", run_id="run1")
    version = client.create_model_version("fraud", source=source, run_id="run2")
    client.set_registered_model_alias("fraud", "champion", version.version)
    return source


def test_registry_round_trip_with_basic_auth(as_owner_basic):
    client = MlflowClient()
    created = client.create_registered_model("churn", tags={"team": "growth"}, description="first")
    assert created.name == "churn" and created.tags == {"team": "growth"}
    client.update_registered_model("churn", description="second")
    client.set_registered_model_tag("churn", "tier", "1")
    client.delete_registered_model_tag("churn", "team")
    client.rename_registered_model("churn", "churn-v2")
    model = client.get_registered_model("churn-v2")
    assert (model.description, model.tags) == ("second", {"tier": "1"})

    version = client.create_model_version(
        "churn-v2", source="s3://bucket/churn/1", run_id="abc", tags={"k": "v"}, description="d"
    )
    assert version.version == "1"
    assert version.status in ("READY", "FAILED_REGISTRATION")  # never left polling in PENDING
    client.update_model_version("churn-v2", "1", description="better")
    client.set_model_version_tag("churn-v2", "1", "reviewed", "yes")
    client.delete_model_version_tag("churn-v2", "1", "k")
    client.set_registered_model_alias("churn-v2", "candidate", "1")
    by_alias = client.get_model_version_by_alias("churn-v2", "candidate")
    assert (by_alias.version, by_alias.description, by_alias.tags) == ("1", "better", {"reviewed": "yes"})
    assert by_alias.aliases == ["candidate"]

    staged = client.transition_model_version_stage("churn-v2", "1", "Staging")
    assert staged.current_stage == "Staging"
    client.create_model_version("churn-v2", source="s3://bucket/churn/2")
    latest = client.get_latest_versions("churn-v2", stages=["Staging"])
    assert [v.version for v in latest] == ["1"]
    assert sorted(v.version for v in client.get_latest_versions("churn-v2")) == ["1", "2"]
    assert client.get_registered_model("churn-v2").aliases == {"candidate": "1"}

    client.delete_registered_model_alias("churn-v2", "candidate")
    client.delete_model_version("churn-v2", "2")
    assert [v.version for v in client.search_model_versions("name = 'churn-v2'")] == ["1"]
    client.delete_registered_model("churn-v2")
    with pytest.raises(MlflowException) as missing:
        client.get_registered_model("churn-v2")
    assert missing.value.error_code == "RESOURCE_DOES_NOT_EXIST"


def test_searches_with_every_filter_form_and_fluent_paging(as_owner_basic, monkeypatch):
    import mlflow
    import mlflow.tracking._model_registry.fluent as fluent

    client = MlflowClient()
    for name, team in (("Fraud-A", "risk"), ("fraud-b", "risk"), ("churn", "growth")):
        client.create_registered_model(name, tags={"team": team})
    for number in range(1, 6):
        client.create_model_version(
            "fraud-b", source=f"s3://bucket/fraud-b/{number}", run_id=f"run{number}", tags={"n": str(number)}
        )

    def names(filter_string: str) -> list[str]:
        return sorted(m.name for m in client.search_registered_models(filter_string=filter_string))

    assert names("name LIKE 'fraud%'") == ["fraud-b"]
    assert names("name ILIKE 'fraud%'") == ["Fraud-A", "fraud-b"]
    assert names("tags.team = 'risk'") == ["Fraud-A", "fraud-b"]
    assert names("tag.`team` != 'risk'") == ["churn"]
    assert names("name IN ('churn', 'nope')") == ["churn"]
    assert names("name NOT IN ('churn')") == ["Fraud-A", "fraud-b"]
    ordered = client.search_registered_models(order_by=["name DESC"])
    assert [m.name for m in ordered] == ["fraud-b", "churn", "Fraud-A"]

    def versions(filter_string: str) -> list[str]:
        return sorted(v.version for v in client.search_model_versions(filter_string))

    assert versions("name = 'fraud-b' AND version_number > 3") == ["4", "5"]
    assert versions("run_id IN ('run1', 'run2')") == ["1", "2"]
    assert versions("source_path LIKE '%/3'") == ["3"]
    assert versions("tags.n = '5'") == ["5"]

    page = client.search_model_versions("name = 'fraud-b'", max_results=2, order_by=["version_number ASC"])
    assert [v.version for v in page] == ["1", "2"] and page.token
    rest = client.search_model_versions(
        "name = 'fraud-b'", max_results=2, order_by=["version_number ASC"], page_token=page.token
    )
    assert [v.version for v in rest] == ["3", "4"]

    tokens: list[str | None] = []
    original = MlflowClient.search_model_versions

    def spy(self, *args, **kwargs):
        tokens.append(kwargs.get("page_token"))
        return original(self, *args, **kwargs)

    monkeypatch.setattr(fluent, "SEARCH_MODEL_VERSION_MAX_RESULTS_DEFAULT", 2)
    monkeypatch.setattr(MlflowClient, "search_model_versions", spy)
    everything = mlflow.search_model_versions(filter_string="name = 'fraud-b'")
    assert sorted(int(v.version) for v in everything) == [1, 2, 3, 4, 5]
    assert len(tokens) == 3 and tokens[0] is None and all(tokens[1:])

    with pytest.raises(MlflowException) as bad:
        client.search_registered_models("name = 'a' OR name = 'b'")
    assert bad.value.error_code == "INVALID_PARAMETER_VALUE"


def test_register_model_reuses_an_existing_model(as_owner_basic):
    import mlflow

    MlflowClient().create_registered_model("existing")
    # register_model swallows RESOURCE_ALREADY_EXISTS (it needs the code and a 400) and goes on.
    version = mlflow.register_model("s3://bucket/existing/1", "existing")
    assert version.version == "1"


def test_download_and_load_by_alias_through_quorum(champion_model, tmp_path, live_server):
    import mlflow

    client = MlflowClient()
    uri = client.get_model_version_download_uri("fraud", "2")
    assert uri == f"{live_server.url}/api/2.0/mlflow-artifacts/artifacts/quorum-models/fraud/2"
    assert client.get_model_version_download_uri("fraud", "1") == "s3://bucket/fraud/1"

    downloaded = Path(
        mlflow.artifacts.download_artifacts("models:/fraud@champion", dst_path=str(tmp_path / "dl"))
    )
    for original in Path(champion_model).iterdir():
        assert (downloaded / original.name).read_bytes() == original.read_bytes()

    model = mlflow.pyfunc.load_model("models:/fraud@champion")
    prediction = model.predict(np.array([[3.0], [10.0]]))
    assert np.allclose(prediction, [7.0, 21.0])


def test_models_uris_by_number_stage_and_latest(champion_model, tmp_path):
    import mlflow

    client = MlflowClient()
    client.transition_model_version_stage("fraud", "2", "Production")
    for uri in ("models:/fraud/2", "models:/fraud/Production", "models:/fraud/latest"):
        target = tmp_path / uri.replace(":", "").replace("/", "_")
        mlflow.artifacts.download_artifacts(uri, dst_path=str(target))
        assert (target / "MLmodel").is_file(), uri


def test_bearer_token_and_registry_only_configuration(
    live_server, cast, mlflow_env, champion_model, tmp_path
):
    """A client with no credentials for storage and only MLFLOW_REGISTRY_URI set still downloads via Quorum."""
    import mlflow

    mlflow_env(
        MLFLOW_REGISTRY_URI=live_server.url,
        MLFLOW_TRACKING_URI=f"sqlite:///{tmp_path / 'unused.db'}",
        MLFLOW_TRACKING_TOKEN=api_token_for(cast.owner),
    )
    client = MlflowClient()
    assert client.get_model_version_by_alias("fraud", "champion").version == "2"
    model = mlflow.pyfunc.load_model("models:/fraud@champion")
    assert np.allclose(model.predict(np.array([[0.0]])), [1.0])


def test_outsider_cannot_see_or_download(live_server, cast, mlflow_env, champion_model, tmp_path):
    import mlflow

    mlflow_env(
        MLFLOW_REGISTRY_URI=live_server.url,
        MLFLOW_TRACKING_URI=live_server.url,
        MLFLOW_TRACKING_TOKEN=api_token_for(cast.outsider),
    )
    with pytest.raises(MlflowException) as hidden:
        MlflowClient().get_model_version_by_alias("fraud", "champion")
    assert hidden.value.error_code == "RESOURCE_DOES_NOT_EXIST"
    with pytest.raises((MlflowException, requests.HTTPError), match="404"):
        mlflow.artifacts.download_artifacts(
            f"{live_server.url}/api/2.0/mlflow-artifacts/artifacts/quorum-models/fraud/2",
            dst_path=str(tmp_path / "stolen"),
        )
    assert not (tmp_path / "stolen" / "MLmodel").exists()


def test_anonymous_client_gets_unauthenticated(live_server, mlflow_env, db):
    mlflow_env(MLFLOW_REGISTRY_URI=live_server.url, MLFLOW_TRACKING_URI=live_server.url)
    with pytest.raises(MlflowException) as refused:
        MlflowClient().search_registered_models()
    assert refused.value.error_code == "UNAUTHENTICATED"


def test_copy_model_version_and_load_the_copy(champion_model):
    import mlflow

    client = MlflowClient()
    copy = client.copy_model_version("models:/fraud@champion", "fraud-copy")
    assert (copy.name, copy.version, copy.source) == ("fraud-copy", "1", "models:/fraud/2")
    model = mlflow.pyfunc.load_model("models:/fraud-copy/1")
    assert np.allclose(model.predict(np.array([[1.0]])), [3.0])
