"""The write path stays cheap: query bounds for version creation and alias moves, the write-path
permission check (one query) against every way a grant can be held, and the chained append."""

from unittest.mock import patch

import pytest
from django.contrib.auth.models import Group, Permission
from django.db import DataError, connection, transaction
from django.test.utils import CaptureQueriesContext
from django.utils import timezone
from guardian.shortcuts import assign_perm

import audit
from artifacts.models import ArtifactJob, ArtifactManifest, OutboxMessage
from artifacts.services import ValidationOnRegistration
from audit.chain import event_hash
from audit.models import Action, AuditEvent
from audit.verify import chain_verify
from registry import services, version_rows
from registry.models import AliasAssignment, ModelAlias, ModelVersion
from tests.fixtures_foundation import postgres_or_skip

pytestmark = pytest.mark.django_db

CHAINED = ("seq", "timestamp", "prev_hash", "hash")


def _create(caller, name: str, number: int):
    return caller.post(
        "model-versions/create",
        {"name": name, "source": f"s3://bench-models/{name}/{number}", "tags": [{"key": "k", "value": "v"}]},
    )


def test_version_create_over_the_mlflow_route_takes_a_fixed_number_of_queries(
    fraud, cast, mlflow_as, django_assert_max_num_queries
):
    caller = mlflow_as(cast.owner)
    assert _create(caller, "fraud", 0).status_code == 200  # warm: content types, prepared statements
    # Token, grants and lock, the new rows, webhook lookup, audit append, transaction bookkeeping,
    # the answer's read. On PostgreSQL the counter, version, tag, manifest, job and outbox message
    # are one statement; on SQLite six (and the audit append three). It was 32.
    with django_assert_max_num_queries(8 if connection.vendor == "postgresql" else 18):
        answer = _create(caller, "fraud", 1)
    assert answer.status_code == 200
    body = answer.json()["model_version"]
    assert body["version"] == "5"
    assert body["tags"] == [{"key": "k", "value": "v"}]
    assert body["status"] == "PENDING_REGISTRATION"
    version = fraud.versions.get(version=5)
    # Nothing was dropped to get there: the manifest, the validation job and its outbox message,
    # and the audit event, all committed with the version.
    assert ArtifactManifest.objects.filter(version=version, state="pending").exists()
    job = ArtifactJob.objects.get(version=version)
    assert OutboxMessage.objects.filter(job=job).exists()
    event = AuditEvent.objects.get(action=Action.VERSION_CREATED, model_name="fraud", version=5)
    assert event.after["tags"] == {"k": "v"}
    assert event.actor_username == "owner"
    assert chain_verify().ok


def test_the_audit_append_is_the_last_statement_of_a_version_create(fraud, cast):
    with CaptureQueriesContext(connection) as queries:
        services.model_version_create(actor=cast.owner, name="fraud", source="s3://bucket/fraud/9")
    statements = [
        q["sql"] for q in queries.captured_queries if not q["sql"].startswith(("SAVEPOINT", "RELEASE"))
    ]
    # The chain head stays locked from the append to the commit (SQLite; PostgreSQL when a webhook
    # needs the seq): after it only the domain event's subscribers run, and with no webhook
    # subscribed that is the one indexed read that finds none.
    last_append = max(i for i, sql in enumerate(statements) if "audit_" in sql)
    after = statements[last_append + 1 :]
    assert len(after) == 1 and "webhook" in after[0].lower(), after
    assert after[0].lstrip().upper().startswith(("SELECT", "EXECUTE QUORUM_LIVE_WEBHOOKS"))


def test_alias_move_over_the_mlflow_route_takes_a_fixed_number_of_queries(
    fraud, cast, mlflow_as, django_assert_max_num_queries
):
    caller = mlflow_as(cast.owner)
    assert (
        caller.post(
            "registered-models/alias", {"name": "fraud", "alias": "moving", "version": "1"}
        ).status_code
        == 200
    )
    # Token, grants, lock, version, policy, current alias, history (2), alias row, model touch,
    # timeline, webhook lookup, audit append (three on SQLite), transaction bookkeeping. It was 27.
    with django_assert_max_num_queries(17):
        answer = caller.post("registered-models/alias", {"name": "fraud", "alias": "moving", "version": "2"})
    assert answer.status_code == 200
    assert ModelAlias.objects.get(model=fraud, alias="moving").version.version == 2
    history = list(AliasAssignment.objects.filter(model=fraud, alias="moving").order_by("pk"))
    assert [(h.version_number, h.cleared_at is None) for h in history] == [(1, False), (2, True)]
    event = AuditEvent.objects.filter(action=Action.ALIAS_SET, model_name="fraud").order_by("-seq").first()
    assert (event.before, event.after) == (
        {"alias": "moving", "version": 1},
        {"alias": "moving", "version": 2},
    )
    assert chain_verify().ok


def test_setting_an_alias_to_where_it_points_changes_and_audits_nothing(fraud, cast):
    services.alias_set(actor=cast.owner, name="fraud", alias="moving", version=1)
    events = AuditEvent.objects.count()
    row = services.alias_set(actor=cast.owner, name="fraud", alias="moving", version=1)
    assert row.version.version == 1
    assert AuditEvent.objects.count() == events
    assert AliasAssignment.objects.filter(model=fraud, alias="moving").count() == 1


@pytest.mark.parametrize("how", ["direct", "team", "global", "manage_via_team"])
def test_every_kind_of_grant_lets_an_editor_create_a_version(fraud, cast, how):
    user = cast.editor
    if how == "direct":
        assign_perm("registry.view_registeredmodel", user, fraud)
        assign_perm("registry.change_registeredmodel", user, fraud)
    elif how == "team":
        team = Group.objects.create(name="risk-team")
        team.user_set.add(user)
        assign_perm("registry.view_registeredmodel", team, fraud)
        assign_perm("registry.change_registeredmodel", team, fraud)
    elif how == "global":
        user.user_permissions.add(
            Permission.objects.get(codename="view_registeredmodel"),
            Permission.objects.get(codename="change_registeredmodel"),
        )
    else:
        team = Group.objects.create(name="managers")
        team.user_set.add(user)
        assign_perm("registry.manage_registeredmodel", team, fraud)
    row = services.model_version_create(actor=user, name="fraud", source="s3://bucket/fraud/4")
    assert row.version == 4


def test_read_only_is_refused_and_hidden_is_missing_at_the_same_cost(fraud, cast):
    assign_perm("registry.view_registeredmodel", cast.approver, fraud)
    with pytest.raises(services.PermissionDenied, match="EDIT"):
        services.model_version_create(actor=cast.approver, name="fraud", source="s3://bucket/fraud/4")
    # EDIT without READ does not reveal the model either.
    assign_perm("registry.change_registeredmodel", cast.editor, fraud)
    counts = []
    for name, actor in (("fraud", cast.outsider), ("absent", cast.outsider), ("fraud", cast.editor)):
        with CaptureQueriesContext(connection) as queries, pytest.raises(services.NotFound):
            services.alias_set(actor=actor, name=name, alias="moving", version=1)
        counts.append(len(queries))
    assert len(set(counts)) == 1
    assert not ModelAlias.objects.filter(model=fraud).exists()


def test_an_inactive_user_and_a_superuser_keep_their_paths(fraud, cast):
    assign_perm("registry.manage_registeredmodel", cast.editor, fraud)
    cast.editor.is_active = False
    cast.editor.save()
    with pytest.raises(services.NotFound):
        services.model_version_create(actor=cast.editor, name="fraud", source="s3://bucket/fraud/4")
    row = services.model_version_create(actor=cast.admin, name="fraud", source="s3://bucket/fraud/4")
    assert row.version == 4
    assert AuditEvent.objects.filter(action=Action.SUPERUSER_ACTION, actor_username="admin").exists()


def test_appended_hashes_are_the_canonical_ones_for_awkward_content(cast):
    """On PostgreSQL the database hashes the event; it must be exactly audit.chain's hash."""
    awkward = [
        {"prev_hash": "", "seq": 0, "timestamp": "", "nested": {"prev_hash": "x", "seq": [0, 1]}},
        {"text": 'quotes " and \\ backslashes "seq":0 "prev_hash":""', "ünïcødé": "日本語 ✓ \U0001f600"},
        {"control": "tab\tnewline\ncr\r\x01", "number": 1.5, "big": 2**53, "none": None, "flag": True},
        None,
    ]
    for index, value in enumerate(awkward):
        with transaction.atomic():
            event = audit.record(
                actor=cast.owner,
                action=Action.MODEL_UPDATED,
                model_name=f"weird 'name' \"{index}\"",
                before=value,
                after={"list": [value, index]},
                reason='"seq":1,"prev_hash":"' * 3,
                target_name="\u2028\u2029",
            )
        stored = AuditEvent.objects.get(pk=event.pk)
        fields = {f.attname: getattr(stored, f.attname) for f in AuditEvent._meta.concrete_fields}
        assert stored.hash == event_hash(fields)
        assert (stored.timestamp, stored.before, stored.reason) == (
            event.timestamp,
            event.before,
            event.reason,
        )
    assert chain_verify().ok


def test_postgres_appends_in_one_statement(cast):
    """One round trip per append; the chain head is locked only by the sealing trigger."""
    postgres_or_skip()
    with transaction.atomic():
        audit.record(actor=cast.owner, action=Action.MODEL_UPDATED, model_name="first")  # creates the head
    with CaptureQueriesContext(connection) as queries, transaction.atomic():
        audit.record(actor=cast.owner, action=Action.MODEL_UPDATED, model_name="second")
    appends = [q["sql"] for q in queries.captured_queries if "audit_" in q["sql"]]
    assert len(appends) == 1
    assert appends[0].startswith("EXECUTE quorum_audit_pending")  # chained by the trigger at COMMIT
    assert chain_verify().ok


def test_writes_work_without_prepared_statements(fraud, cast, settings):
    """Behind a pooler in transaction mode (QUORUM_PREPARED_READS=false) the same statements go as text."""
    settings.QUORUM_PREPARED_READS = False
    with CaptureQueriesContext(connection) as queries:
        services.model_version_create(
            actor=cast.owner, name="fraud", source="s3://bucket/fraud/4", tags=[{"key": "k", "value": "v"}]
        )
        services.alias_set(actor=cast.owner, name="fraud", alias="moving", version=4)
    assert not any(q["sql"].startswith(("EXECUTE", "PREPARE")) for q in queries.captured_queries)
    assert ModelAlias.objects.get(model=fraud, alias="moving").version.version == 4
    assert list(fraud.versions.get(version=4).tags.values_list("key", "value")) == [("k", "v")]
    assert chain_verify().ok


def _columns(row) -> dict:
    return {f.attname: getattr(row, f.attname) for f in type(row)._meta.concrete_fields}


def test_one_statement_writes_the_rows_the_orm_writes(fraud, cast):
    """The PostgreSQL one-statement insert and the ORM path leave identical rows behind."""
    postgres_or_skip()
    tags = [{"key": "k", "value": "v"}, {"key": "ünï", "value": "x" * 5000}, {"key": "empty", "value": ""}]
    one_statement = services.model_version_create(
        actor=cast.owner, name="fraud", source="s3://bucket/fraud/a", run_id="r1", tags=tags
    )
    with patch.object(version_rows.connection, "vendor", "sqlite"):  # takes the ORM path
        orm = services.model_version_create(
            actor=cast.owner, name="fraud", source="s3://bucket/fraud/a", run_id="r1", tags=tags
        )
    assert (one_statement.version, orm.version) == (4, 5)
    fraud.refresh_from_db()
    assert fraud.last_version_number == 5
    differ = {"id", "version", "created_at", "updated_at", "version_id", "job_id", "dispatched_at"}

    def stored(version_pk: int) -> dict:
        version = ModelVersion.objects.get(pk=version_pk)
        manifest = ArtifactManifest.objects.get(version=version)
        job = ArtifactJob.objects.get(version=version)
        message = OutboxMessage.objects.get(job=job)
        rows = {"version": version, "manifest": manifest, "job": job, "message": message}
        shape = {
            name: {k: v for k, v in _columns(row).items() if k not in differ} for name, row in rows.items()
        }
        shape["tags"] = sorted(version.tags.values_list("key", "value"))
        return shape

    assert stored(one_statement.pk) == stored(orm.pk)
    # The returned instances are the saved rows, ids included.
    for returned in (one_statement, orm):
        assert _columns(returned) == _columns(ModelVersion.objects.get(pk=returned.pk))
    assert len(stored(one_statement.pk)["tags"]) == 3


def test_one_statement_refuses_an_over_long_value_like_the_orm(fraud, cast):
    """Typed placeholders must not cut a value to fit its column: the insert fails, nothing is kept."""
    postgres_or_skip()
    fraud.last_version_number += 1
    fraud.updated_at = timezone.now()
    # Past the services' own validation, straight to the statement: the column must still refuse it.
    version = ModelVersion(
        model=fraud, version=fraud.last_version_number, source="s3://b/long", run_id="r" * 65
    )
    companions = tuple(ValidationOnRegistration().companions(version, cast.owner))
    rows = version_rows.NewVersionRows(fraud, version, {"k": "v"}, companions)
    with pytest.raises(DataError), transaction.atomic():
        version_rows.version_rows_insert(rows)
    fraud.refresh_from_db()
    assert fraud.last_version_number == 3
    assert not ModelVersion.objects.filter(source="s3://b/long").exists()


def test_a_version_number_beyond_32_bits_is_missing_not_an_error(fraud, cast, client_for):
    """Some native routes take any integer from the URL: the version lock must say 404, never fail."""
    answer = client_for(cast.owner).post("/api/v1/models/fraud/versions/3909036979/governed-copy")
    assert answer.status_code == 404, answer.content
    for number in (2**40, 2**70, 0, -1):
        with pytest.raises(services.NotFound):
            services.model_version_tag_set(actor=cast.owner, name="fraud", version=number, key="k", value="v")
