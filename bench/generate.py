"""Bulk data for scale benchmarks: models, versions, tags, aliases, grants and a valid audit chain.

Run by hand against a migrated PostgreSQL database (not in CI):

    DATABASE_URL=postgres://postgres@127.0.0.1:5432/quorum_scale python manage.py migrate
    DATABASE_URL=postgres://postgres@127.0.0.1:5432/quorum_scale python bench/generate.py \\
        --models 10000 --versions 100 --events 5000000

Defaults make 10,000 models x 100 versions = 1,000,000 versions, 2 tags per version (2,000,000),
2 aliases per model (20,000), and 5,000,000 audit events. Rows go in with COPY (and INSERT ...
SELECT for rows derived from others), so it takes minutes, not hours. Audit events are hashed in
Python with audit.chain.event_hash, continuing the existing chain head, so `manage.py audit_verify`
passes afterwards. The models are readable and editable by the `bench` user through a team grant
(the team `bench-team`), so bench/registry_vs_mlflow.py --no-load can drive them with access control on.
"""

from __future__ import annotations

import argparse
import io
import json
import os
import sys
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

REPO_ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO_ROOT))
os.environ.setdefault("DJANGO_SETTINGS_MODULE", "config.settings")

import django  # noqa: E402

django.setup()

from django.contrib.auth.models import Group, Permission  # noqa: E402
from django.contrib.contenttypes.models import ContentType  # noqa: E402
from django.db import connection, transaction  # noqa: E402

from accounts import services as account_services  # noqa: E402
from accounts.models import User  # noqa: E402
from audit.chain import CHAIN_FIELDS, event_hash  # noqa: E402
from audit.models import ChainHead  # noqa: E402

# The audit table's columns that COPY fills: the chained fields and the event's own hash.
AUDIT_COLUMNS = [*CHAIN_FIELDS, "hash"]
from registry.models import RegisteredModel  # noqa: E402

BATCH_ROWS = 200_000


def copy_rows(table: str, columns: list[str], rows) -> int:
    """COPY rows (tuples of str/None, no tabs/newlines/backslashes) into table in big batches."""
    count = 0
    buffer = io.StringIO()
    pending = 0
    with connection.cursor() as cursor:
        raw = cursor.cursor  # the psycopg2 cursor underneath Django's wrapper

        def flush() -> None:
            buffer.seek(0)
            raw.copy_expert(f"COPY {table} ({', '.join(columns)}) FROM STDIN", buffer)
            buffer.seek(0)
            buffer.truncate()

        for row in rows:
            buffer.write("\t".join("\\N" if value is None else str(value) for value in row))
            buffer.write("\n")
            pending += 1
            count += 1
            if pending >= BATCH_ROWS:
                flush()
                pending = 0
        if pending:
            flush()
    return count


def execute(sql: str, params: list | tuple = ()) -> int:
    with connection.cursor() as cursor:
        cursor.execute(sql, params)
        return cursor.rowcount


def step(label: str, started: float) -> float:
    now = time.monotonic()
    print(f"{label:<46}{now - started:8.1f} s", flush=True)
    return now


def bench_user() -> User:
    user = User.objects.filter(username="bench").first()
    if user is None:
        user = account_services.user_create(
            actor=account_services.OPERATOR, username="bench", password="bench-Pa55word-not-secret"
        )
    return user


def generate(args: argparse.Namespace) -> None:
    assert connection.vendor == "postgresql", "bench/generate.py writes with COPY: PostgreSQL only"
    t = time.monotonic()
    user = bench_user()
    team, _ = Group.objects.get_or_create(name="bench-team")
    user.groups.add(team)
    prefix = args.model_prefix
    now = datetime.now(UTC)
    stamp = now.isoformat()

    with transaction.atomic():
        copy_rows(
            "registry_registeredmodel",
            ["name", "description", "creator_id", "created_at", "updated_at", "last_version_number"],
            (
                (f"{prefix}{i:05d}", f"generated model {i}", user.pk, stamp, stamp, args.versions)
                for i in range(args.models)
            ),
        )
        ids = dict(RegisteredModel.objects.filter(name__startswith=prefix).values_list("name", "pk"))
        model_ids = [ids[f"{prefix}{i:05d}"] for i in range(args.models)]
        t = step(f"{args.models} models", t)

        content_type = ContentType.objects.get_for_model(RegisteredModel)
        perms = Permission.objects.filter(
            content_type=content_type, codename__in=["view_registeredmodel", "change_registeredmodel"]
        ).values_list("pk", flat=True)
        copy_rows(
            "guardian_groupobjectpermission",
            ["object_pk", "content_type_id", "group_id", "permission_id"],
            ((str(pk), content_type.pk, team.pk, perm) for pk in model_ids for perm in perms),
        )
        t = step(f"{len(model_ids) * len(perms)} team grants (READ, EDIT)", t)

        copy_rows(
            "registry_registeredmodeltag",
            ["model_id", "key", "value"],
            ((pk, "team", f"t{i % 50}") for i, pk in enumerate(model_ids)),
        )
        copy_rows(
            "registry_modelversion",
            [
                "model_id",
                "version",
                "source",
                "storage_location",
                "run_id",
                "run_link",
                "logged_model_id",
                "description",
                "status",
                "status_message",
                "stage",
                "creator_id",
                "created_at",
                "updated_at",
            ],
            (
                (
                    pk,
                    v,
                    f"s3://bench-models/{prefix}{i:05d}/{v}",
                    "",
                    f"{i:08x}{v:024x}",
                    "",
                    "",
                    "",
                    "READY",
                    "",
                    "None",
                    user.pk,
                    stamp,
                    stamp,
                )
                for i, pk in enumerate(model_ids)
                for v in range(1, args.versions + 1)
            ),
        )
        t = step(f"{args.models * args.versions} versions", t)

        # Derived rows are built by the database itself: no round trip of a million ids.
        tags = execute(
            "INSERT INTO registry_modelversiontag (version_id, key, value) "
            "SELECT v.id, 'fold', (v.version %% 10)::text FROM registry_modelversion v "
            "JOIN registry_registeredmodel m ON m.id = v.model_id WHERE m.name LIKE %s "
            "UNION ALL SELECT v.id, 'batch', 'b' || (v.model_id %% 20)::text FROM registry_modelversion v "
            "JOIN registry_registeredmodel m ON m.id = v.model_id WHERE m.name LIKE %s",
            [prefix + "%", prefix + "%"],
        )
        t = step(f"{tags} version tags", t)
        aliases = 0
        for alias, number in (("bench", 1), ("latest-good", args.versions)):
            aliases += execute(
                "INSERT INTO registry_modelalias (model_id, alias, version_id, updated_at) "
                "SELECT v.model_id, %s, v.id, now() FROM registry_modelversion v "
                "JOIN registry_registeredmodel m ON m.id = v.model_id WHERE m.name LIKE %s AND v.version = %s",
                [alias, prefix + "%", number],
            )
            execute(
                "INSERT INTO registry_aliasassignment (model_id, alias, version_number, assigned_at) "
                "SELECT m.id, %s, %s, now() FROM registry_registeredmodel m WHERE m.name LIKE %s",
                [alias, number, prefix + "%"],
            )
        t = step(f"{aliases} aliases (with history)", t)

        head = ChainHead.objects.select_for_update().filter(pk=1).first()
        if head is None:
            head = ChainHead.objects.create(pk=1)
        seq, prev = head.seq, head.hash
        start_time = now - timedelta(seconds=args.events)

        def events():
            nonlocal seq, prev
            for n in range(args.events):
                i = n % args.models
                version = 1 + (n // args.models) % args.versions
                seq += 1
                fields = {
                    "seq": seq,
                    "timestamp": start_time + timedelta(seconds=n, microseconds=n % 1000),
                    "actor_id": user.pk,
                    "actor_username": "bench",
                    "actor_kind": "user",
                    "actor_detail": "",
                    "action": "model_version.tag_set",
                    "target_type": "registry.modelversion",
                    "target_id": str(n),
                    "target_name": f"{prefix}{i:05d} v{version}",
                    "model_name": f"{prefix}{i:05d}",
                    "registered_model_id": model_ids[i],
                    "version": version,
                    "before": None,
                    "after": {"key": "fold", "value": str(n % 10)},
                    "reason": "",
                    "request_id": "",
                    "client_ip": "127.0.0.1",
                    "user_agent": "bench/generate.py",
                    "prev_hash": prev,
                }
                digest = event_hash(fields)
                prev = digest
                # COPY wants text: timestamps in ISO form, JSON columns encoded, in CHAIN_FIELDS order.
                row = {**fields, "timestamp": fields["timestamp"].isoformat(), "hash": digest}
                row["before"] = None if fields["before"] is None else json.dumps(fields["before"])
                row["after"] = None if fields["after"] is None else json.dumps(fields["after"])
                yield tuple(row[name] for name in AUDIT_COLUMNS)

        copy_rows(
            "audit_auditevent",
            AUDIT_COLUMNS,
            events(),
        )
        ChainHead.objects.filter(pk=1).update(seq=seq, hash=prev)
        t = step(f"{args.events} audit events (hash chain to seq {seq})", t)
    for table in (
        "registry_registeredmodel",
        "registry_modelversion",
        "registry_modelversiontag",
        "registry_modelalias",
        "guardian_groupobjectpermission",
        "audit_auditevent",
    ):
        execute(f"ANALYZE {table}")
    step("ANALYZE", t)


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--models", type=int, default=10_000)
    parser.add_argument("--versions", type=int, default=100, help="versions per model")
    parser.add_argument("--events", type=int, default=5_000_000)
    parser.add_argument("--model-prefix", default="gen-m")
    args = parser.parse_args()
    started = time.monotonic()
    generate(args)
    print(f"done in {time.monotonic() - started:.1f} s")


if __name__ == "__main__":
    main()
