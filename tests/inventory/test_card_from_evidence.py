"""A model card's starting draft from the version's run evidence (issue 25): the real tracking
server's params, metrics and datasets fill the training-data and evaluation sections; an approved
card is never touched, and text a person wrote is replaced only when they ask."""

import pytest

from audit.models import Action, AuditEvent
from inventory import rules
from inventory.models import ModelCard
from registry.models import ModelVersion
from tests.registry.test_mlflow_tracking_server import tracking_server  # noqa: F401 - the fixture

DRAFT = "/api/v1/models/scoring/versions/2/card/draft-from-evidence"
CARD = "/api/v1/models/scoring/versions/2/card"

RUN = {
    "state": "ok",
    "run_id": "abc123",
    "run_name": "nightly",
    "url": "http://mlflow/#/experiments/1/runs/abc123",
    "params": {"max_depth": "6", "learning_rate": "0.1"},
    "metrics": {"auc": 0.82, "log_loss": 0.41},
    "datasets": [{"name": "applications-2024", "digest": "d1g", "source_type": "s3", "context": "training"}],
}


def test_sections_drafted_from_a_run_name_its_datasets_params_and_metrics():
    sections = rules.card_sections_from_run(RUN)
    assert set(sections) == {"training_data", "evaluation"}
    assert "applications-2024 (context training, source s3, digest d1g)" in sections["training_data"]
    assert "- learning_rate: 0.1" in sections["training_data"] and "abc123" in sections["training_data"]
    assert "- auc: 0.82" in sections["evaluation"] and "- log_loss: 0.41" in sections["evaluation"]
    assert rules.card_sections_from_run({"state": "ok", "run_id": "x"}) == {}


def test_drafting_refuses_approved_and_submitted_cards_and_person_written_text():
    proposed = {"evaluation": "auc"}
    assert "never" in rules.card_draft_refusal(
        state="approved", current={}, proposed=proposed, overwrite=True
    )
    assert rules.card_draft_refusal(state="submitted", current={}, proposed=proposed, overwrite=True)
    written = {"evaluation": "measured by hand"}
    refusal = rules.card_draft_refusal(state="draft", current=written, proposed=proposed, overwrite=False)
    assert "evaluation" in refusal and "overwrite" in refusal
    assert rules.card_draft_refusal(state="draft", current=written, proposed=proposed, overwrite=True) is None
    assert rules.card_draft_refusal(state=None, current={}, proposed=proposed, overwrite=False) is None
    assert rules.card_draft_refusal(state=None, current={}, proposed={}, overwrite=False)


@pytest.mark.django_db
def test_an_approved_card_is_refused_before_the_tracking_server_is_asked(governed, client_for, settings):
    settings.QUORUM_MLFLOW_TRACKING_URI = ""  # were it asked, the answer would be "no tracking server"
    editor = client_for(governed.editor)
    editor.patch(CARD, {"evaluation": "AUC 0.82, reviewed"}, format="json")
    editor.post(CARD + "/submit")
    assert client_for(governed.approver).post(CARD + "/approve").status_code == 200
    before = ModelCard.objects.get()
    events = AuditEvent.objects.filter(action=Action.MODEL_CARD_CHANGED).count()
    for body in ({}, {"overwrite": True}):
        r = client_for(governed.editor).post(DRAFT, body, format="json")
        assert r.status_code == 409, r.content
        assert "approved model card is never drafted over" in r.json()["message"]
    after = ModelCard.objects.get()
    assert (after.state, after.evaluation, after.approved_digest) == (
        "approved",
        before.evaluation,
        before.approved_digest,
    )
    assert AuditEvent.objects.filter(action=Action.MODEL_CARD_CHANGED).count() == events


@pytest.mark.django_db
def test_drafting_needs_edit_a_run_and_a_json_object(governed, client_for, cast):
    assert client_for(governed.outsider).post(DRAFT, {}, format="json").status_code == 403  # READ only
    from tests.conftest import make_user

    assert client_for(make_user("stranger")).post(DRAFT, {}, format="json").status_code == 404
    r = client_for(governed.editor).post(DRAFT, {}, format="json")
    assert r.status_code == 409 and "names no run" in r.json()["message"]  # the fixture's versions have none
    assert client_for(governed.editor).post(DRAFT, {"overwrite": "yes"}, format="json").status_code == 400
    assert client_for(governed.editor).post(DRAFT, {"force": True}, format="json").status_code == 400
    assert not ModelCard.objects.exists()


@pytest.mark.slow
@pytest.mark.timeout(900)  # starts `mlflow server`: minutes on a loaded 2-core machine
@pytest.mark.django_db
def test_a_real_runs_evidence_fills_the_empty_sections_and_asks_before_replacing_text(
    tracking_server,  # noqa: F811
    governed,
    client_for,
    settings,
):
    import mlflow
    import pandas as pd
    from mlflow import MlflowClient

    settings.QUORUM_MLFLOW_TRACKING_URI = tracking_server
    client = MlflowClient(tracking_uri=tracking_server)
    experiment = client.create_experiment(f"card-draft-{governed.model.pk}")
    run = client.create_run(experiment, run_name="scoring-nightly")
    run_id = run.info.run_id
    client.log_param(run_id, "max_depth", "6")
    client.log_metric(run_id, "auc", 0.87)
    client.log_metric(run_id, "auc", 0.91)  # the final value counts
    mlflow.set_tracking_uri(tracking_server)
    dataset = mlflow.data.from_pandas(pd.DataFrame({"income": [1.0, 2.0]}), name="applications-2024")
    client.log_inputs(run_id, datasets=[mlflow.entities.DatasetInput(dataset._to_mlflow_entity(), tags=[
        mlflow.entities.InputTag("mlflow.data.context", "training")])])  # fmt: skip
    client.set_terminated(run_id)
    ModelVersion.objects.filter(model=governed.model, version=2).update(run_id=run_id)

    editor = client_for(governed.editor)
    assert editor.patch(CARD, {"intended_use": "Retail pre-screening"}, format="json").status_code == 200
    r = editor.post(DRAFT, {}, format="json")
    assert r.status_code == 200, r.content
    card = r.json()
    assert card["state"] == "draft" and card["intended_use"] == "Retail pre-screening"  # kept
    assert "applications-2024" in card["training_data"] and "context training" in card["training_data"]
    assert "- max_depth: 6" in card["training_data"] and run_id in card["training_data"]
    assert "- auc: 0.91" in card["evaluation"]
    event = AuditEvent.objects.filter(action=Action.MODEL_CARD_CHANGED).order_by("-id").first()
    assert f"drafted evaluation, training_data from run {run_id}" in event.reason

    # Someone writes the evaluation by hand: drafting again asks first, then replaces when told to.
    assert editor.patch(CARD, {"evaluation": "Backtested by hand"}, format="json").status_code == 200
    r = editor.post(DRAFT, {}, format="json")
    assert r.status_code == 409 and "evaluation" in r.json()["message"]
    assert ModelCard.objects.get().evaluation == "Backtested by hand"
    r = editor.post(DRAFT, {"overwrite": True}, format="json")
    assert r.status_code == 200 and "- auc: 0.91" in r.json()["evaluation"]
    assert "overwrote evaluation, training_data" in AuditEvent.objects.order_by("-id").first().reason

    # Approved, the card is never drafted over, even with overwrite.
    editor.post(CARD + "/submit")
    assert client_for(governed.approver).post(CARD + "/approve").status_code == 200
    r = editor.post(DRAFT, {"overwrite": True}, format="json")
    assert r.status_code == 409
    assert ModelCard.objects.get().state == "approved"
