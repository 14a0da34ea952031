"""The PostgreSQL grants of a least-privilege deployment (issue 20; docs/operations.md).

A separate owner role owns every table and runs the migrations; the application connects as a
role that owns nothing. PostgreSQL lets only a table's owner (or a superuser) alter it, disable
or drop its triggers, and only a superuser set `session_replication_role` (which would skip
them), so the application role cannot switch the append-only triggers off: audit events and
checkpoints can be inserted and read, never changed or deleted, even with the app's credentials.
"""

from audit.triggers import PENDING_TABLE, PROTECTED_TABLES

CHAIN_HEAD_TABLE = "audit_chainhead"


def app_role_grants_sql(app_role: str, quote) -> list[str]:
    """Statements the owner runs (after every migrate) to give `app_role` what the application needs."""
    role = quote(app_role)
    statements = [
        # PostgreSQL 15 already refuses CREATE in public to other roles; older ones do not.
        "REVOKE CREATE ON SCHEMA public FROM PUBLIC;",
        f"GRANT USAGE ON SCHEMA public TO {role};",
        f"GRANT SELECT, INSERT, UPDATE, DELETE ON ALL TABLES IN SCHEMA public TO {role};",
        f"GRANT USAGE, SELECT ON ALL SEQUENCES IN SCHEMA public TO {role};",
        f"GRANT EXECUTE ON ALL FUNCTIONS IN SCHEMA public TO {role};",
    ]
    for table in PROTECTED_TABLES:
        # Appends and reads only: the triggers refuse changes too, this refuses them first.
        statements.append(f"REVOKE UPDATE, DELETE, TRUNCATE ON {table} FROM {role};")
    # The head moves on every append (UPDATE); it is never deleted.
    statements.append(f"REVOKE DELETE, TRUNCATE ON {CHAIN_HEAD_TABLE} FROM {role};")
    # Pending appends are deleted as they are sealed (audit/triggers.py), by the appending role.
    statements.append(f"GRANT SELECT, INSERT, DELETE ON {PENDING_TABLE} TO {role};")
    return statements
