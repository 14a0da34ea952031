"""Audit test support: let the test flush empty the append-only tables, and tamper on purpose.

pytest-django flushes the database after each transactional test (TRUNCATE on PostgreSQL,
DELETE on SQLite). The audit triggers refuse both, so the flush statements are wrapped here to
suspend the triggers inside the flush's own transaction. Production code never does this.
"""

from collections.abc import Callable, Iterator
from contextlib import contextmanager
from io import StringIO

import pytest
from django.core.management import call_command
from django.core.management.base import CommandError
from django.db import connection
from django.db.backends.postgresql import base as postgresql_base
from django.db.backends.sqlite3 import base as sqlite_base

from audit.chain import CHAIN_FIELDS
from audit.models import AuditEvent
from audit.triggers import SEAL_TRIGGER, flush_statements, resume_sql, suspend_sql


def _allow_flush(operations_class: type, vendor: str) -> None:
    original = operations_class.sql_flush
    if getattr(original, "audit_flush_wrapper", False):
        return

    def sql_flush(self, style, tables, *, reset_sequences=False, allow_cascade=False):
        statements = original(
            self, style, tables, reset_sequences=reset_sequences, allow_cascade=allow_cascade
        )
        return flush_statements(vendor, statements, tables)

    sql_flush.audit_flush_wrapper = True
    operations_class.sql_flush = sql_flush


_allow_flush(postgresql_base.DatabaseWrapper.ops_class, "postgresql")
_allow_flush(sqlite_base.DatabaseWrapper.ops_class, "sqlite")


@contextmanager
def audit_triggers_suspended() -> Iterator[None]:
    """Switch the append-only triggers off inside the current (test) transaction, to tamper."""
    with connection.cursor() as cursor:
        for statement in suspend_sql(connection.vendor):
            cursor.execute(statement)
    try:
        yield
    finally:
        with connection.cursor() as cursor:
            for statement in resume_sql(connection.vendor):
                cursor.execute(statement)


@pytest.fixture
def tamper() -> Callable[[str, list | tuple], None]:
    """tamper(sql, params): run raw SQL against the audit tables with the triggers suspended."""

    def run(sql: str, params: list | tuple = ()) -> None:
        with audit_triggers_suspended(), connection.cursor() as cursor:
            cursor.execute(sql, params)

    return run


@pytest.fixture
def hmac_key(settings) -> str:
    settings.QUORUM_AUDIT_HMAC_KEY = "test-audit-key-7f3a9c"
    return settings.QUORUM_AUDIT_HMAC_KEY


@pytest.fixture
def governed_dir(settings, tmp_path):
    settings.QUORUM_GOVERNED_STORE = f"file://{tmp_path / 'governed'}"
    return tmp_path / "governed"


@pytest.fixture(autouse=True)
def _audit_sealed_per_statement(request):
    """Tests inside one rolled-back transaction see each audit event sealed as it is appended.

    In production a PostgreSQL append is sealed (seq, hash) at COMMIT, which such a test never
    reaches. Making the sealing trigger immediate for the test's transaction runs the same trigger
    at the end of the appending statement instead. Transactional and live-server tests commit,
    so they seal exactly as production does (and tests/audit/test_sealing.py checks that path).
    """
    uses_db = request.node.get_closest_marker("django_db") or {"db", "transactional_db"} & set(
        request.fixturenames
    )
    if not uses_db:
        yield
        return
    request.getfixturevalue("_django_db_helper")
    if connection.vendor == "postgresql" and connection.in_atomic_block:
        with connection.cursor() as cursor:
            cursor.execute(f"SET CONSTRAINTS {SEAL_TRIGGER} IMMEDIATE")
    yield


@pytest.fixture(scope="session")
def _audit_keys_dir(tmp_path_factory):
    """One signing key for the session, outside the worktree's var/ (generated on first use)."""
    return tmp_path_factory.mktemp("audit-keys")


_governed_counter = iter(range(1, 10**9))


@pytest.fixture(autouse=True)
def _audit_isolated(request, _audit_keys_dir):
    """Each test signs with the session's key and, unless it sets its own, gets an empty governed store.

    Checkpoints written after a commit are copied to the governed store, and `audit_verify` reads
    them back: a store shared between tests would hold another test's checkpoints (a "cut tail").
    The folder is only named here; nothing is created unless a test writes to it.
    """
    from django.test import override_settings

    overrides = override_settings(
        QUORUM_AUDIT_SIGNING_KEY="",
        QUORUM_AUDIT_SIGNING_KEY_FILE=str(_audit_keys_dir / "signing.pem"),
        QUORUM_AUDIT_PUBLIC_KEYS=[str(_audit_keys_dir / "public")],
        QUORUM_GOVERNED_STORE=f"file://{_audit_keys_dir.parent / 'governed'}-{next(_governed_counter)}",
    )
    overrides.enable()
    yield
    overrides.disable()


# --- audit_verify as a test calls it ---------------------------------------------------


def verify(*args: str) -> str:
    """`manage.py audit_verify` output (it passed)."""
    out = StringIO()
    call_command("audit_verify", *args, stdout=out)
    return out.getvalue()


def broken(*args: str) -> str:
    """`manage.py audit_verify`'s refusal (exit code 1), as text."""
    with pytest.raises(CommandError) as caught:
        verify(*args)
    assert caught.value.returncode == 1
    return str(caught.value)


def chained_row(seq: int) -> dict:
    """An audit event's chained fields and hash, as a tamperer would read them."""
    return AuditEvent.objects.filter(seq=seq).values(*CHAIN_FIELDS, "hash").get()
