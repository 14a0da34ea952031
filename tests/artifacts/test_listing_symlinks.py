"""Issue 20, item 7: artifact listings do not follow symlinks out of a version.

A link placed in a validated version's folder (to a file or a folder elsewhere on Quorum's disk) shows
neither in the proxy's listing nor with its target's size, and is not served. A link present when the
version is validated fails the validation, and the message names no path outside the version.
"""

import json

import pytest

from registry import services
from registry.models import ModelVersion
from tests.artifacts.helpers import model_files, write_tree

pytestmark = [pytest.mark.django_db, pytest.mark.usefixtures("celery_in_process")]

PROXY = "/api/2.0/mlflow-artifacts/artifacts"


@pytest.fixture
def version_folder(cast, tmp_path, settings, django_capture_on_commit_callbacks):
    root = tmp_path / "artifacts"
    settings.QUORUM_ALLOWED_LOCAL_ROOTS = [root]
    folder = write_tree(root / "risk" / "fraud" / "1", model_files(big_bytes=1000))
    services.registered_model_create(actor=cast.owner, name="fraud")
    from artifacts.services import source_prefix_add

    source_prefix_add(actor=cast.owner, name="fraud", prefix=str(root / "risk"))
    with django_capture_on_commit_callbacks(execute=True):
        services.model_version_create(actor=cast.owner, name="fraud", source=str(folder))
    assert ModelVersion.objects.get(model__name="fraud").status == "READY"
    outside = write_tree(tmp_path / "outside", {"id_rsa": b"K" * 12345, "db/dump.sql": b"D" * 777})
    return folder, outside


def test_links_added_to_a_validated_version_are_neither_listed_nor_served(version_folder, cast, mlflow_as):
    folder, outside = version_folder
    (folder / "escape.key").symlink_to(outside / "id_rsa")
    (folder / "metadata" / "linked").symlink_to(outside / "db", target_is_directory=True)
    api = mlflow_as(cast.owner)
    top = api.get(PROXY, {"path": "quorum-models/fraud/1"}).json()["files"]
    assert {entry["path"] for entry in top} == {
        "MLmodel",
        "model.pkl",
        "conda.yaml",
        "requirements.txt",
        "metadata",
    }
    assert 12345 not in {entry.get("file_size") for entry in top}
    nested = api.get(PROXY, {"path": "quorum-models/fraud/1/metadata"}).json()["files"]
    assert [entry["path"] for entry in nested] == ["notes.txt"]
    assert api.get(PROXY, {"path": "quorum-models/fraud/1/metadata/linked"}).json() == {}
    for path in ("escape.key", "metadata/linked/dump.sql"):
        answer = api.get(f"{PROXY}/quorum-models/fraud/1/{path}")
        assert (answer.status_code, answer.json()["error_code"]) == (404, "RESOURCE_DOES_NOT_EXIST"), path


def test_a_link_leading_out_fails_validation_without_naming_its_target(
    version_folder, cast, client_for, django_capture_on_commit_callbacks
):
    folder, outside = version_folder
    second = write_tree(folder.parent / "2", model_files(big_bytes=10))
    (second / "weights.bin").symlink_to(outside / "id_rsa")
    with django_capture_on_commit_callbacks(execute=True):
        services.model_version_create(actor=cast.owner, name="fraud", source=str(second))
    version = ModelVersion.objects.get(model__name="fraud", version=2)
    assert version.status == "FAILED_REGISTRATION"
    api = client_for(cast.owner)
    shown = json.dumps(api.get("/api/v1/models/fraud/versions/2/artifacts").json())
    assert str(outside) not in shown and "id_rsa" not in shown
    assert str(outside) not in version.status_message
