"""The database refuses to change or remove audit rows (PostgreSQL and SQLite alike)."""

import pytest
from django.db import DatabaseError, connection, transaction

from audit.models import AuditCheckpoint, AuditEvent
from registry import services

pytestmark = pytest.mark.django_db


@pytest.fixture
def one_event(cast) -> AuditEvent:
    services.registered_model_create(actor=cast.owner, name="fraud")
    return AuditEvent.objects.get()


def _refused(sql: str, params: tuple = ()) -> str:
    with pytest.raises(DatabaseError) as caught, transaction.atomic(), connection.cursor() as cursor:
        cursor.execute(sql, params)
    return str(caught.value)


def test_raw_update_of_an_audit_row_is_refused_by_the_database(one_event):
    message = _refused("UPDATE audit_auditevent SET actor_username = 'someone-else' WHERE seq = %s", (1,))
    assert "append-only" in message
    assert AuditEvent.objects.get().actor_username == "owner"


def test_raw_delete_of_an_audit_row_is_refused_by_the_database(one_event):
    assert "append-only" in _refused("DELETE FROM audit_auditevent")
    assert AuditEvent.objects.count() == 1


def test_queryset_update_and_delete_are_refused(one_event):
    with pytest.raises(DatabaseError), transaction.atomic():
        AuditEvent.objects.filter(pk=one_event.pk).update(reason="rewritten")
    with pytest.raises(DatabaseError), transaction.atomic():
        AuditEvent.objects.all().delete()
    assert AuditEvent.objects.get().reason == ""


def test_model_instance_save_and_delete_refuse_before_reaching_the_database(one_event):
    one_event.reason = "rewritten"
    with pytest.raises(TypeError, match="append-only"):
        one_event.save()
    with pytest.raises(TypeError, match="append-only"):
        one_event.delete()


def test_checkpoint_rows_are_append_only_too(one_event, hmac_key):
    from audit.services import checkpoint_create

    checkpoint_create(actor="system")
    assert AuditCheckpoint.objects.count() == 1
    assert "append-only" in _refused("UPDATE audit_auditcheckpoint SET seq = 99")
    assert "append-only" in _refused("DELETE FROM audit_auditcheckpoint")


def test_truncate_is_refused_on_postgresql(one_event):
    if connection.vendor != "postgresql":
        pytest.skip("SQLite has no TRUNCATE; DELETE is covered above")
    assert "append-only" in _refused("TRUNCATE audit_auditevent")
    assert AuditEvent.objects.count() == 1


@pytest.mark.django_db(transaction=True)
class TestFlushBetweenTransactionalTests:
    """pytest-django empties the database after transactional tests; the audit triggers must allow that."""

    def test_events_committed_here(self, cast):
        services.registered_model_create(actor=cast.owner, name="committed")
        assert AuditEvent.objects.count() == 1

    def test_are_gone_here_and_the_triggers_still_refuse_changes(self, cast):
        assert not AuditEvent.objects.exists()
        services.registered_model_create(actor=cast.owner, name="again")
        event = AuditEvent.objects.get()
        assert event.seq == 1
        assert "append-only" in _refused("DELETE FROM audit_auditevent")
