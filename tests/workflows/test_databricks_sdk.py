"""Pipelines file and decide requests with the real Databricks SDK against a live Quorum (issue 21)."""

import logging

import pytest
import requests

from tests.fixtures_mlflow import api_token_for
from tests.fixtures_workflow import password_of, signature_of
from workflows.models import RequestState, TransitionRequest

pytestmark = [pytest.mark.django_db(transaction=True), pytest.mark.usefixtures("celery_in_process")]


def client_as(live_server, user):
    from databricks.sdk import WorkspaceClient

    return WorkspaceClient(host=live_server.url, token=api_token_for(user))


def registry_as(live_server, user):
    return client_as(live_server, user).model_registry


def test_host_metadata_probe_is_answered_so_the_sdk_does_not_warn(live_server, caplog):
    answer = requests.get(f"{live_server.url}/.well-known/databricks-config", timeout=30)
    assert answer.status_code == 200 and answer.json()["oidc_endpoint"] == ""
    from databricks.sdk.oauth import get_host_metadata

    assert get_host_metadata(live_server.url).oidc_endpoint == ""  # the SDK's own parser accepts it


def test_sdk_creates_lists_comments_approves_and_rejects(live_server, governed, caplog):
    caplog.set_level(logging.WARNING, logger="databricks.sdk")
    editor = registry_as(live_server, governed.editor)
    assert not [r for r in caplog.records if "host metadata" in r.getMessage()], caplog.text

    created = editor.create_transition_request(
        name="scoring", version="2", stage="Production", comment="AUC up"
    )
    assert created.request.to_stage == "Production" and created.request.user_id == "editor"
    champion = editor.create_transition_request(name="scoring", version="3", stage="@champion", comment="v3")
    assert champion.request.to_stage == "@champion"

    approver = registry_as(live_server, governed.approver)
    listed = {a.to_stage for a in approver.list_transition_requests(name="scoring", version="2")}
    assert listed == {"Production"}
    assert {a.to_stage for a in approver.list_transition_requests(name="scoring", version="3")} == {
        "@champion"
    }
    comment = approver.create_comment(name="scoring", version="2", comment="holdout checked")
    assert comment.comment.comment == "holdout checked"

    # Production's decisions are electronic signatures: the SDK's typed call, which cannot carry
    # one, is refused; the same route with the signature beside Databricks' fields signs.
    from databricks.sdk.errors import DatabricksError

    with pytest.raises(DatabricksError, match="electronic signatures"):
        approver.approve_transition_request(
            name="scoring", version="2", stage="Production", archive_existing_versions=False, comment="ok"
        )
    for user in (governed.approver, governed.second_approver):
        signed = client_as(live_server, user).api_client.do(
            "POST",
            "/api/2.0/mlflow/transition-requests/approve",
            body={
                "name": "scoring",
                "version": "2",
                "stage": "Production",
                "archive_existing_versions": False,
                "comment": "ok",
                "signature": signature_of(user),
            },
        )
        assert signed["signature"]["meaning"] == "Approved for production"
    production = TransitionRequest.objects.get(version__version=2, target="Production")
    assert production.state in (RequestState.APPLIED, RequestState.APPLYING), production.state_reason

    client_as(live_server, governed.approver).api_client.do(
        "POST",
        "/api/2.0/mlflow/transition-requests/reject",
        body={
            "name": "scoring",
            "version": "3",
            "stage": "@champion",
            "comment": "not yet",
            "signature": {"password": password_of(governed.approver)},
        },
    )
    assert TransitionRequest.objects.get(version__version=3, target="champion").state == RequestState.REJECTED

    # An outsider cannot approve: the SDK raises the server's refusal, nothing changes.
    editor.create_transition_request(name="scoring", version="3", stage="@champion", comment="again")
    with pytest.raises(DatabricksError):
        registry_as(live_server, governed.outsider).approve_transition_request(
            name="scoring", version="3", stage="@champion", archive_existing_versions=False, comment="me"
        )
    assert (
        TransitionRequest.objects.get(
            version__version=3, target="champion", state="pending"
        ).approvals.count()
        == 0
    )
