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


# --- Sealing at COMMIT (PostgreSQL) ---------------------------------------------------------
# An append first inserts a *pending* row (the event's columns as JSON, and its canonical JSON
# cut around prev_hash and seq) into an unlogged side table. A deferred constraint trigger seals
# it when the transaction commits: it locks the chain head, computes the hash over the spliced
# canonical bytes, inserts the real event, moves the head and deletes the pending row. So the
# chain head is locked only inside PostgreSQL, from the trigger to the end of the COMMIT, never
# while a client gets around to sending COMMIT. The event table itself stays insert-only.
# Pending rows never outlive their transaction (sealed at COMMIT, or gone with a rollback), so
# the side table needs no WAL: after a crash it is empty, as it should be.

GENERATION_TABLE = "quorum_serving_generation"  # config/serving.py; literal, as a migration's SQL must be
PENDING_TABLE = "audit_pendingappend"
SEAL_TRIGGER = "audit_pendingappend_seal"
PIECE_SEPARATOR = "\x01"  # never raw in canonical JSON: json.dumps escapes control characters


def seal_one_sql(event_insert: str) -> str:
    """quorum_audit_seal_one, with the statement that inserts the sealed event."""
    return f"""
CREATE OR REPLACE FUNCTION quorum_audit_seal_one(pending_id bigint) RETURNS void LANGUAGE plpgsql AS $$
DECLARE
    pending_fields jsonb;
    pending_pieces text;
    head_seq bigint;
    head_hash text;
    next_seq bigint;
    next_hash text;
BEGIN
    DELETE FROM {PENDING_TABLE} WHERE id = pending_id RETURNING fields, pieces
        INTO pending_fields, pending_pieces;
    IF NOT FOUND THEN
        RETURN;  -- sealed earlier in this transaction (quorum_audit_seal_pending)
    END IF;
    -- Lock order: the serving generation, then the chain head. The serving trigger locks the
    -- generation at COMMIT too (config/serving.py); were the head taken first, two committing
    -- transactions could each hold one and wait for the other.
    PERFORM 1 FROM {GENERATION_TABLE} WHERE id = 1 FOR UPDATE;
    SELECT seq, hash INTO head_seq, head_hash FROM audit_chainhead WHERE id = 1 FOR UPDATE;
    IF NOT FOUND THEN
        -- First append ever, or the head row was removed: continue from the last event, so a
        -- lost head can neither restart numbering at 1 nor block every write on a duplicate seq.
        INSERT INTO audit_chainhead (id, seq, hash)
        SELECT 1, coalesce(max(e.seq), 0),
               coalesce((SELECT hash FROM audit_auditevent ORDER BY seq DESC LIMIT 1), repeat('0', 64))
        FROM audit_auditevent e
        ON CONFLICT (id) DO NOTHING;
        SELECT seq, hash INTO head_seq, head_hash FROM audit_chainhead WHERE id = 1 FOR UPDATE;
    END IF;
    next_seq := head_seq + 1;
    next_hash := encode(sha256(convert_to(
        split_part(pending_pieces, chr(1), 1) || head_hash || split_part(pending_pieces, chr(1), 2)
        || next_seq::text || split_part(pending_pieces, chr(1), 3), 'UTF8')), 'hex');
{event_insert}
    UPDATE audit_chainhead SET seq = next_seq, hash = next_hash WHERE id = 1;
END
$$;"""


# The record comes from FROM, so jsonb_populate_record runs once. Written as `SELECT (...).*`, as
# migration 0004 had it, PostgreSQL expands the row into one call per column: 22 calls, 90 % of the
# insert's time, all of it spent holding the chain head.
EVENT_INSERT = """    INSERT INTO audit_auditevent
    SELECT * FROM jsonb_populate_record(NULL::audit_auditevent, pending_fields
        || jsonb_build_object('seq', next_seq, 'prev_hash', head_hash, 'hash', next_hash));"""
EVENT_INSERT_0004 = """    INSERT INTO audit_auditevent
    SELECT (jsonb_populate_record(NULL::audit_auditevent, pending_fields
        || jsonb_build_object('seq', next_seq, 'prev_hash', head_hash, 'hash', next_hash))).*;"""


PG_SEAL_SQL = [
    f"""
CREATE UNLOGGED TABLE IF NOT EXISTS {PENDING_TABLE} (
    id bigint PRIMARY KEY,
    fields jsonb NOT NULL,
    pieces text NOT NULL
);""",
    seal_one_sql(EVENT_INSERT),
    """
CREATE OR REPLACE FUNCTION quorum_audit_seal() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    PERFORM quorum_audit_seal_one(NEW.id);
    RETURN NULL;
END
$$;""",
    f"""
CREATE OR REPLACE FUNCTION quorum_audit_seal_pending() RETURNS void LANGUAGE plpgsql AS $$
DECLARE
    pending_id bigint;
BEGIN
    -- Only this transaction's rows are visible: others' are uncommitted, or deleted at their COMMIT.
    FOR pending_id IN SELECT id FROM {PENDING_TABLE} ORDER BY id LOOP
        PERFORM quorum_audit_seal_one(pending_id);
    END LOOP;
END
$$;""",
    f"DROP TRIGGER IF EXISTS {SEAL_TRIGGER} ON {PENDING_TABLE};",
    f"""
CREATE CONSTRAINT TRIGGER {SEAL_TRIGGER} AFTER INSERT ON {PENDING_TABLE}
    DEFERRABLE INITIALLY DEFERRED FOR EACH ROW EXECUTE FUNCTION quorum_audit_seal();""",
]

PG_UNSEAL_SQL = [
    f"DROP TABLE IF EXISTS {PENDING_TABLE};",
    "DROP FUNCTION IF EXISTS quorum_audit_seal_pending();",
    "DROP FUNCTION IF EXISTS quorum_audit_seal();",
    "DROP FUNCTION IF EXISTS quorum_audit_seal_one(bigint);",
]
