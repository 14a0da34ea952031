"""Issue 20, item 4: the application's database role cannot switch the audit protections off.

A database of its own, an owner role that runs the migrations and `manage.py audit_db_grants`,
and an application role that owns nothing: connected as the application, PostgreSQL refuses to
disable the audit triggers, to set session_replication_role, to alter, change or delete audit
rows; the application itself still records, checkpoints and verifies. (In the default setup the
app role owns its tables, so each of these statements succeeds: see the last test.)
"""

import os
import subprocess
import sys
from pathlib import Path
from urllib.parse import urlparse

import pytest
from django.db import connection

ROOT = Path(__file__).resolve().parents[2]
DATABASE = "quorum_h_audit_least_privilege"
OWNER = "quorum_lp_owner"
APP = "quorum_lp_app"

pytestmark = pytest.mark.skipif(
    connection.vendor != "postgresql",
    reason="roles and grants need PostgreSQL (set DATABASE_URL=postgres://…)",
)

REFUSED = [
    "ALTER TABLE audit_auditevent DISABLE TRIGGER USER",
    "ALTER TABLE audit_auditevent DISABLE TRIGGER audit_auditevent_no_update_delete",
    "DROP TRIGGER audit_auditcheckpoint_no_update_delete ON audit_auditcheckpoint",
    "SET session_replication_role = replica",
    "SET LOCAL session_replication_role = replica",
    "ALTER TABLE audit_auditevent ADD COLUMN note text",
    "UPDATE audit_auditevent SET actor_username = 'mallory' WHERE seq = 1",
    "DELETE FROM audit_auditevent WHERE seq = 1",
    "DELETE FROM audit_auditcheckpoint",
    "TRUNCATE audit_auditevent",
    "DELETE FROM audit_chainhead",
    "CREATE OR REPLACE FUNCTION quorum_audit_refuse_change() RETURNS trigger LANGUAGE plpgsql AS $$ BEGIN RETURN NULL; END $$",
]


def _server() -> dict:
    parsed = urlparse(os.environ.get("DATABASE_URL", ""))
    return {
        "host": parsed.hostname or "127.0.0.1",
        "port": parsed.port or 5432,
        "user": parsed.username or "postgres",
    }


def _connect(user: str, dbname: str = DATABASE):
    import psycopg2

    server = _server()
    return psycopg2.connect(host=server["host"], port=server["port"], user=user, dbname=dbname)


def _manage(role: str, tmp: Path, *args: str, code: str | None = None) -> subprocess.CompletedProcess:
    server = _server()
    env = {
        **{k: v for k, v in os.environ.items() if not k.startswith(("QUORUM_", "DATABASE_", "CELERY_"))},
        "DATABASE_URL": f"postgres://{role}@{server['host']}:{server['port']}/{DATABASE}",
        "QUORUM_VAR_DIR": str(tmp),
        "DJANGO_SETTINGS_MODULE": "config.settings",
    }
    command = [sys.executable, "manage.py", *args] + (["-c", code] if code else [])
    return subprocess.run(command, cwd=ROOT, env=env, capture_output=True, text=True, timeout=600)


@pytest.fixture(scope="module")
def least_privilege(tmp_path_factory):
    tmp = tmp_path_factory.mktemp("least-privilege")
    admin = _connect(_server()["user"], "postgres")
    admin.autocommit = True
    with admin.cursor() as cursor:
        cursor.execute(f"DROP DATABASE IF EXISTS {DATABASE} WITH (FORCE)")
        for role in (APP, OWNER):
            cursor.execute(f"DROP ROLE IF EXISTS {role}")
        cursor.execute(f"CREATE ROLE {OWNER} LOGIN NOSUPERUSER NOCREATEROLE NOCREATEDB")
        cursor.execute(f"CREATE ROLE {APP} LOGIN NOSUPERUSER NOCREATEROLE NOCREATEDB NOBYPASSRLS")
        cursor.execute(f"CREATE DATABASE {DATABASE} OWNER {OWNER}")
    migrated = _manage(OWNER, tmp, "migrate", "--no-input")
    assert migrated.returncode == 0, migrated.stderr[-3000:]
    granted = _manage(OWNER, tmp, "audit_db_grants", "--app-role", APP, "--apply")
    assert granted.returncode == 0, granted.stderr[-3000:]
    yield tmp
    with admin.cursor() as cursor:
        cursor.execute(f"DROP DATABASE IF EXISTS {DATABASE} WITH (FORCE)")
        for role in (APP, OWNER):
            cursor.execute(f"DROP ROLE IF EXISTS {role}")
    admin.close()


def test_the_application_role_records_checkpoints_and_verifies(least_privilege):
    recorded = _manage(
        APP,
        least_privilege,
        "shell",
        code=(
            "from accounts.models import User; from registry import services; "
            "admin = User.objects.create_superuser('lp-admin', password='lp-admin-pw-1!'); "
            "services.registered_model_create(actor=admin, name='least-privilege'); "
            "services.registered_model_tag_set(actor=admin, name='least-privilege', key='k', value='v')"
        ),
    )
    assert recorded.returncode == 0, recorded.stderr[-3000:]
    checkpoint = _manage(APP, least_privilege, "audit_checkpoint")
    assert checkpoint.returncode == 0, checkpoint.stderr[-3000:]
    verified = _manage(APP, least_privilege, "audit_verify")
    assert verified.returncode == 0, verified.stdout + verified.stderr[-3000:]
    assert "audit chain OK" in verified.stdout
    assert "2 in the governed store" in verified.stdout  # the grant to the creator, and the command's


@pytest.mark.parametrize("statement", REFUSED)
def test_the_application_role_cannot_switch_the_audit_protections_off(least_privilege, statement):
    import psycopg2

    app = _connect(APP)
    try:
        with app.cursor() as cursor, pytest.raises(psycopg2.errors.InsufficientPrivilege):
            cursor.execute(statement)
    finally:
        app.rollback()
        app.close()


def test_the_owner_role_could_which_is_why_the_application_must_not_be_it(least_privilege):
    owner = _connect(OWNER)
    try:
        with owner.cursor() as cursor:
            cursor.execute("ALTER TABLE audit_auditevent DISABLE TRIGGER USER")  # the owner may
    finally:
        owner.rollback()
        owner.close()
