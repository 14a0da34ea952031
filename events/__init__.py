"""Typed domain events: a service says what happened, inside its transaction; other apps subscribe.

The lowest layer of the project: it imports no app. An app declares its events (frozen dataclasses
deriving from `DomainEvent`) in its own `events.py`; subscribers register in their AppConfig.ready.
`publish` runs every subscriber of the event's type (and of its base types) at once, in the
order they subscribed (INSTALLED_APPS order, through each app's ready), inside the caller's transaction: what they write commits or rolls back with the
change, and a subscriber that raises rolls the change back. Publishing outside a transaction is
refused. Work for later (a task, a delivery) is queued by the subscriber on commit.
"""

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, TypeVar

from django.db import connection


class EventOutsideTransaction(RuntimeError):
    """An event was published outside a transaction: what subscribers write could outlive a rollback."""


@dataclass(frozen=True, kw_only=True)
class DomainEvent:
    """Something that happened; `actor` is a user, "system", or None for an anonymous caller."""

    actor: Any


E = TypeVar("E", bound=DomainEvent)
Subscriber = Callable[[Any], None]
_subscriptions: list[tuple[type, Subscriber]] = []


def subscribe(event_type: type[E], subscriber: Callable[[E], None]) -> None:
    """Call `subscriber(event)` for every published event of `event_type` or a subtype (idempotent)."""
    if (event_type, subscriber) not in _subscriptions:
        _subscriptions.append((event_type, subscriber))


def publish(event: DomainEvent) -> None:
    """Hand `event` to its subscribers, inside the current transaction."""
    if not connection.in_atomic_block:
        raise EventOutsideTransaction(
            f"{type(event).__name__} must be published inside the change's transaction"
        )
    for event_type, subscriber in list(_subscriptions):
        if isinstance(event, event_type):
            subscriber(event)


def subscribers_of(event_type: type) -> list[Subscriber]:
    """Who is subscribed to `event_type` itself (for tests and the README's architecture check)."""
    return [subscriber for subscribed, subscriber in _subscriptions if subscribed is event_type]
