"""The event bus: inside the transaction only, subscribers in subscription order, a failing subscriber rolls back."""

from dataclasses import dataclass

import pytest
from django.db import transaction

import events
from registry import services
from registry.events import VersionTagSet
from registry.models import ModelVersionTag

pytestmark = pytest.mark.django_db


@dataclass(frozen=True, kw_only=True)
class Happened(events.DomainEvent):
    what: str


@pytest.mark.django_db(transaction=True)  # no test-wide transaction around it
def test_publishing_outside_a_transaction_is_refused():
    with pytest.raises(events.EventOutsideTransaction):
        events.publish(Happened(actor="system", what="x"))


def test_subscribers_run_in_subscription_order_across_base_types(monkeypatch):
    monkeypatch.setattr(events, "_subscriptions", [])
    seen = []
    events.subscribe(events.DomainEvent, lambda e: seen.append(("any", e.what)))
    events.subscribe(Happened, lambda e: seen.append(("happened", e.what)))
    with transaction.atomic():
        events.publish(Happened(actor="system", what="x"))
    assert seen == [("any", "x"), ("happened", "x")]


def test_a_failing_subscriber_rolls_the_change_back(fraud, cast):
    def refuse(event):
        raise RuntimeError("subscriber failed")

    events.subscribe(VersionTagSet, refuse)
    try:
        with pytest.raises(RuntimeError, match="subscriber failed"):
            services.model_version_tag_set(actor=cast.owner, name="fraud", version=1, key="k", value="v")
    finally:
        events._subscriptions.remove((VersionTagSet, refuse))
    assert not ModelVersionTag.objects.filter(version__model=fraud, key="k").exists()
