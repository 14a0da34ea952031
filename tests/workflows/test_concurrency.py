"""Concurrent approvals on PostgreSQL: the quorum applies exactly once (CI fails rather than skips)."""

import threading

import pytest
from django.db import connection

from audit.models import Action, AuditEvent
from registry.errors import RegistryError
from registry.models import ModelVersion
from tests.conftest import make_user
from tests.fixtures_foundation import postgres_or_skip
from tests.fixtures_workflow import grant_levels, signing_of
from workflows import services as workflow_services
from workflows.models import Approval, RequestState, TransitionRequest

pytestmark = pytest.mark.django_db(transaction=True)


def run_together(actions) -> list[object]:
    """Start every action at the same moment, each on its own connection; return results or errors."""
    barrier = threading.Barrier(len(actions))
    results: list[object] = [None] * len(actions)

    def run(index: int, action) -> None:
        try:
            barrier.wait()
            results[index] = action()
        except Exception as exc:  # collected and asserted on by the test
            results[index] = exc
        finally:
            connection.close()

    threads = [threading.Thread(target=run, args=(i, a)) for i, a in enumerate(actions)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=60)
    return results


def test_concurrent_approvals_apply_exactly_once(governed, file_request):
    postgres_or_skip()
    from access.grants import Level

    approvers = [governed.approver, governed.second_approver] + [
        grant_levels(make_user(f"extra{i}"), governed.model, Level.APPROVE_PRODUCTION) for i in range(3)
    ]
    request = file_request(2)

    def approving(user):
        return lambda: workflow_services.transition_request_approve(
            actor=user, request_id=request.pk, comment="ship it", signing=signing_of(user)
        )

    results = run_together([approving(u) for u in approvers])
    request.refresh_from_db()
    assert request.state == RequestState.APPLIED
    assert ModelVersion.objects.get(pk=request.version_id).stage == "Production"
    # Exactly two approvals made it in; the rest found the request already applied.
    assert Approval.objects.filter(request=request).count() == 2
    refused = [r for r in results if isinstance(r, RegistryError)]
    assert len(refused) == 3 and all("applied" in r.message for r in refused), results
    assert AuditEvent.objects.filter(action=Action.REQUEST_APPLIED).count() == 1
    assert AuditEvent.objects.filter(action=Action.VERSION_STAGE_CHANGED).count() == 1


def test_two_requests_for_the_same_alias_apply_in_turn_not_on_stale_state(governed, file_request):
    postgres_or_skip()
    first, second = file_request(2, alias="champion"), file_request(3, alias="champion")
    for request in (first, second):
        workflow_services.transition_request_approve(
            actor=governed.approver, request_id=request.pk, comment="a", signing=signing_of(governed.approver)
        )
    results = run_together(
        [
            lambda: workflow_services.transition_request_approve(
                actor=governed.second_approver,
                request_id=first.pk,
                comment="b",
                signing=signing_of(governed.second_approver),
            ),
            lambda: workflow_services.transition_request_approve(
                actor=governed.second_approver,
                request_id=second.pk,
                comment="b",
                signing=signing_of(governed.second_approver),
            ),
        ]
    )
    assert all(isinstance(r, TransitionRequest) and r.state == RequestState.APPLIED for r in results), results
    events = list(AuditEvent.objects.filter(action=Action.ALIAS_SET).order_by("seq"))
    # The second to apply saw the first one's result: its "before" is the first's version.
    assert [e.before["version"] for e in events] == [None, events[0].after["version"]]
    assert governed.model.aliases.get(alias="champion").version.version == events[1].after["version"]
