"""Database triggers that make audit rows append-only, per database vendor.

The migration `0003_append_only_triggers` installs them. PostgreSQL refuses UPDATE and DELETE
(row triggers) and TRUNCATE (statement trigger); SQLite has no TRUNCATE and refuses UPDATE and
DELETE. Anyone able to run DDL as the table owner can still drop a trigger: that is what the hash
chain and signed checkpoints are for, and `audit_verify` detects it.

The only sanctioned bypass is the test-suite flush between transactional tests (see
`flush_statements`), which suspends the triggers inside the flush's own transaction.
"""

from collections.abc import Iterable

PROTECTED_TABLES = ("audit_auditevent", "audit_auditcheckpoint")

PG_FUNCTION = """
CREATE OR REPLACE FUNCTION quorum_audit_refuse_change() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    RAISE EXCEPTION 'audit rows are append-only: % on % refused', TG_OP, TG_TABLE_NAME
        USING ERRCODE = 'integrity_constraint_violation';
END
$$;
"""


def postgresql_install_sql() -> list[str]:
    statements = [PG_FUNCTION]
    for table in PROTECTED_TABLES:
        statements += [
            f"CREATE TRIGGER {table}_no_update_delete BEFORE UPDATE OR DELETE ON {table} "
            "FOR EACH ROW EXECUTE FUNCTION quorum_audit_refuse_change();",
            f"CREATE TRIGGER {table}_no_truncate BEFORE TRUNCATE ON {table} "
            "FOR EACH STATEMENT EXECUTE FUNCTION quorum_audit_refuse_change();",
        ]
    return statements


def postgresql_uninstall_sql() -> list[str]:
    statements = []
    for table in PROTECTED_TABLES:
        statements += [
            f"DROP TRIGGER IF EXISTS {table}_no_update_delete ON {table};",
            f"DROP TRIGGER IF EXISTS {table}_no_truncate ON {table};",
        ]
    return [*statements, "DROP FUNCTION IF EXISTS quorum_audit_refuse_change();"]


def sqlite_install_sql() -> list[str]:
    statements = []
    for table in PROTECTED_TABLES:
        for operation in ("UPDATE", "DELETE"):
            statements.append(
                f"CREATE TRIGGER {table}_no_{operation.lower()} BEFORE {operation} ON {table} "
                f"BEGIN SELECT RAISE(ABORT, 'audit rows are append-only: {operation} on {table} refused'); END;"
            )
    return statements


def sqlite_uninstall_sql() -> list[str]:
    return [
        f"DROP TRIGGER IF EXISTS {table}_no_{operation} ;"
        for table in PROTECTED_TABLES
        for operation in ("update", "delete")
    ]


def install_sql(vendor: str) -> list[str]:
    if vendor == "postgresql":
        return postgresql_install_sql()
    if vendor == "sqlite":
        return sqlite_install_sql()
    return []


def uninstall_sql(vendor: str) -> list[str]:
    if vendor == "postgresql":
        return postgresql_uninstall_sql()
    if vendor == "sqlite":
        return sqlite_uninstall_sql()
    return []


def suspend_sql(vendor: str) -> list[str]:
    """Statements that switch the triggers off; transactional on both vendors (rolled back with it)."""
    if vendor == "postgresql":
        return [f"ALTER TABLE {table} DISABLE TRIGGER USER;" for table in PROTECTED_TABLES]
    # SQLite cannot disable a trigger; DDL is transactional there, so drop and re-create.
    return sqlite_uninstall_sql()


def resume_sql(vendor: str) -> list[str]:
    if vendor == "postgresql":
        return [f"ALTER TABLE {table} ENABLE TRIGGER USER;" for table in PROTECTED_TABLES]
    return sqlite_install_sql()


def flush_statements(vendor: str, statements: Iterable[str], tables: Iterable[str]) -> list[str]:
    """Wrap a test-database flush so it may empty audit tables; used only by the test suite."""
    statements = list(statements)
    if vendor not in {"postgresql", "sqlite"} or not set(tables) & set(PROTECTED_TABLES):
        return statements
    return [*suspend_sql(vendor), *statements, *resume_sql(vendor)]
