"""Workflow tests control the artifact-pipeline hooks explicitly, whether or not the pipeline is installed."""

import sys
import types
from dataclasses import dataclass, field

import pytest

PIPELINE_MODULE = "registry.artifacts.services"


@pytest.fixture(autouse=True)
def pipeline_absent(monkeypatch):
    """By default the workflow sees no artifact pipeline (validation 'unknown', apply on quorum)."""
    monkeypatch.setitem(sys.modules, PIPELINE_MODULE, None)


@dataclass
class PipelineDouble:
    """The hook contract of registry.artifacts.services as the workflow calls it, with settable answers."""

    digests: dict[int, str] = field(default_factory=dict)  # ModelVersion pk -> digest
    validated: bool | None = True
    take_over: bool = False
    handed: list[int] = field(default_factory=list)

    def version_evidence(self, version) -> dict:
        return {"artifact_digest": self.digests.get(version.pk), "validated": self.validated}

    def promotion_copy_start(self, request) -> bool:
        self.handed.append(request.pk)
        return self.take_over


@pytest.fixture
def pipeline(monkeypatch) -> PipelineDouble:
    double = PipelineDouble()
    module = types.ModuleType(PIPELINE_MODULE)
    module.version_evidence = double.version_evidence
    module.promotion_copy_start = double.promotion_copy_start
    monkeypatch.setitem(sys.modules, PIPELINE_MODULE, module)
    return double


@pytest.fixture(autouse=True)
def fast_password_hashing(settings):
    """The cast's users get real passwords; hashing them at full strength costs seconds per test."""
    settings.PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]
