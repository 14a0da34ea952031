"""Version numbers under concurrent writers: real threads, real row locks (PostgreSQL)."""

import threading
from collections.abc import Callable

import pytest
from django.db import connections

from registry import services
from registry.errors import AlreadyExists
from registry.models import AliasAssignment, ModelAlias, ModelVersion, RegisteredModel
from tests.conftest import make_user
from tests.fixtures_foundation import postgres_or_skip

pytestmark = pytest.mark.django_db(transaction=True)

THREADS = 8
CREATES_PER_THREAD = 5


def _run_in_threads(count: int, work: Callable[[int], object]) -> tuple[list, list[BaseException]]:
    """Start `count` threads together; each calls work(i) with its own DB connection, closed at the end."""
    barrier = threading.Barrier(count)
    results: list = []
    errors: list[BaseException] = []
    lock = threading.Lock()

    def run(index: int) -> None:
        try:
            barrier.wait(timeout=10)
            outcome = work(index)
            with lock:
                results.append(outcome)
        except BaseException as exc:  # collected and re-raised by the test
            with lock:
                errors.append(exc)
        finally:
            connections.close_all()

    threads = [threading.Thread(target=run, args=(i,)) for i in range(count)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=60)
    assert not any(t.is_alive() for t in threads), "a writer thread hung (lock never released?)"
    return results, errors


@pytest.fixture
def owner():
    postgres_or_skip()
    user = make_user("owner", can_create_models=True)
    services.registered_model_create(actor=user, name="race")
    return user


def test_concurrent_creates_never_share_a_version_number(owner):
    def create_versions(index: int) -> list[int]:
        return [
            services.model_version_create(
                actor=owner, name="race", source=f"s3://bucket/race/{index}/{n}"
            ).version
            for n in range(CREATES_PER_THREAD)
        ]

    results, errors = _run_in_threads(THREADS, create_versions)

    assert errors == []
    numbers = sorted(n for batch in results for n in batch)
    total = THREADS * CREATES_PER_THREAD
    assert numbers == list(range(1, total + 1))
    assert (
        sorted(ModelVersion.objects.filter(model__name="race").values_list("version", flat=True)) == numbers
    )
    assert RegisteredModel.objects.get(name="race").last_version_number == total
    # Each thread's own versions come out in increasing order: the lock serializes, it does not reorder.
    for batch in results:
        assert batch == sorted(batch)


def test_numbers_are_not_reused_after_delete_even_when_racing(owner):
    for n in range(1, 5):
        services.model_version_create(actor=owner, name="race", source=f"s3://bucket/race/{n}")
    services.alias_set(actor=owner, name="race", alias="challenger", version=4)

    def delete_or_create(index: int) -> tuple[str, int]:
        if index < 4:
            services.model_version_delete(actor=owner, name="race", version=index + 1)
            return "deleted", index + 1
        row = services.model_version_create(actor=owner, name="race", source=f"s3://bucket/race/new/{index}")
        return "created", row.version

    results, errors = _run_in_threads(8, delete_or_create)

    assert errors == []
    created = sorted(number for kind, number in results if kind == "created")
    assert created == [5, 6, 7, 8]
    assert (
        sorted(ModelVersion.objects.filter(model__name="race").values_list("version", flat=True)) == created
    )
    assert not ModelAlias.objects.filter(model__name="race").exists()  # went with version 4


def test_concurrent_alias_moves_leave_exactly_one_row_pointing_at_a_winner(owner):
    for n in range(1, 9):
        services.model_version_create(actor=owner, name="race", source=f"s3://bucket/race/{n}")

    def move(index: int) -> int:
        return services.alias_set(
            actor=owner, name="race", alias="challenger", version=index + 1
        ).version.version

    results, errors = _run_in_threads(8, move)

    assert errors == []
    rows = list(ModelAlias.objects.filter(model__name="race", alias="challenger"))
    assert len(rows) == 1
    assert rows[0].version.version in results
    # Only the last writer's assignment is still open in the history: no two "current" pointers.
    open_rows = AliasAssignment.objects.filter(
        model__name="race", alias="challenger", cleared_at__isnull=True
    )
    assert list(open_rows.values_list("version_number", flat=True)) == [rows[0].version.version]


def test_concurrent_creates_of_one_name_give_one_model_and_clean_refusals(owner):
    def create(index: int) -> str:
        try:
            services.registered_model_create(actor=owner, name="contested", description=f"by thread {index}")
            return "created"
        except AlreadyExists:
            return "refused"

    results, errors = _run_in_threads(THREADS, create)

    assert errors == []  # an IntegrityError escaping would be a 500 at the API
    assert sorted(results) == ["created"] + ["refused"] * (THREADS - 1)
    assert RegisteredModel.objects.filter(name="contested").count() == 1
