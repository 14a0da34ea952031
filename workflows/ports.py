"""The workflow's port: evidence about a version that only a higher app (the model inventory) has.

`version_evidence` merges what the installed provider says (e.g. `validation_current`) into the
evidence a request is checked against. An unfilled port adds nothing, so a policy that requires
such evidence is never satisfied: it fails closed, it is never waved through.
"""

from dataclasses import dataclass
from typing import Any, Protocol

from registry.models import ModelVersion


class Evidence(Protocol):
    def version_evidence(self, version: ModelVersion) -> dict[str, Any]:
        """Facts about `version` a policy may require (`validation_current`: True, ...)."""


@dataclass
class _Ports:
    evidence: Evidence | None = None


_ports = _Ports()


def evidence_install(implementation: Evidence) -> None:
    _ports.evidence = implementation


def version_evidence(version: ModelVersion) -> dict[str, Any]:
    return _ports.evidence.version_evidence(version) if _ports.evidence is not None else {}
