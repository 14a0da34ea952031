"""The core's ports fail closed: with no app to answer, a governed-looking change or a registration is refused."""

import pytest

from registry import ports, services
from registry.errors import ApprovalRequired, Conflict
from registry.models import ModelVersion

pytestmark = pytest.mark.django_db


@pytest.fixture
def ports_unfilled(monkeypatch):
    monkeypatch.setattr(ports, "_ports", ports._Ports())


def test_without_governance_no_alias_or_stage_moves_directly(fraud, cast, ports_unfilled):
    with pytest.raises(ApprovalRequired, match="no governance is installed"):
        services.alias_set(actor=cast.owner, name="fraud", alias="challenger", version=1)
    with pytest.raises(ApprovalRequired, match="no governance is installed"):
        services.model_version_stage_transition(actor=cast.owner, name="fraud", version=1, stage="Archived")
    assert not fraud.aliases.exists()
    assert ModelVersion.objects.get(model=fraud, version=1).stage == "None"


def test_without_the_artifact_pipeline_no_version_is_registered(fraud, cast, ports_unfilled):
    with pytest.raises(Conflict, match="no artifact pipeline is installed"):
        services.model_version_create(actor=cast.owner, name="fraud", source="s3://bucket/fraud/4")
    assert fraud.versions.count() == 3


def test_the_apps_fill_both_ports_at_start_up():
    from artifacts.services import ValidationOnRegistration
    from workflows.services import PolicyGovernance

    assert isinstance(ports._ports.governance, PolicyGovernance)
    assert isinstance(ports._ports.registration, ValidationOnRegistration)
