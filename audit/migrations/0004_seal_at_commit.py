"""PostgreSQL: appends go through a pending table and are chained by a trigger at COMMIT.

The function as it was then; audit/triggers.py has today's. SQLite keeps chaining in Python: it has one writer at a time.
"""

from django.db import migrations

# The SQL this migration installs, frozen here: audit/triggers.py may change, this must not.
SEAL = ['\n'
 'CREATE UNLOGGED TABLE IF NOT EXISTS audit_pendingappend (\n'
 '    id bigint PRIMARY KEY,\n'
 '    fields jsonb NOT NULL,\n'
 '    pieces text NOT NULL\n'
 ');',
 '\n'
 'CREATE OR REPLACE FUNCTION quorum_audit_seal_one(pending_id bigint) RETURNS void LANGUAGE plpgsql AS $$\n'
 'DECLARE\n'
 '    pending_fields jsonb;\n'
 '    pending_pieces text;\n'
 '    head_seq bigint;\n'
 '    head_hash text;\n'
 '    next_seq bigint;\n'
 '    next_hash text;\n'
 'BEGIN\n'
 '    DELETE FROM audit_pendingappend WHERE id = pending_id RETURNING fields, pieces\n'
 '        INTO pending_fields, pending_pieces;\n'
 '    IF NOT FOUND THEN\n'
 '        RETURN;  -- sealed earlier in this transaction (quorum_audit_seal_pending)\n'
 '    END IF;\n'
 '    -- Lock order: the serving generation, then the chain head. The serving trigger locks the\n'
 '    -- generation at COMMIT too (config/serving.py); were the head taken first, two committing\n'
 '    -- transactions could each hold one and wait for the other.\n'
 '    PERFORM 1 FROM quorum_serving_generation WHERE id = 1 FOR UPDATE;\n'
 '    SELECT seq, hash INTO head_seq, head_hash FROM audit_chainhead WHERE id = 1 FOR UPDATE;\n'
 '    IF NOT FOUND THEN\n'
 '        -- First append ever, or the head row was removed: continue from the last event, so a\n'
 '        -- lost head can neither restart numbering at 1 nor block every write on a duplicate seq.\n'
 '        INSERT INTO audit_chainhead (id, seq, hash)\n'
 '        SELECT 1, coalesce(max(e.seq), 0),\n'
 "               coalesce((SELECT hash FROM audit_auditevent ORDER BY seq DESC LIMIT 1), repeat('0', 64))\n"
 '        FROM audit_auditevent e\n'
 '        ON CONFLICT (id) DO NOTHING;\n'
 '        SELECT seq, hash INTO head_seq, head_hash FROM audit_chainhead WHERE id = 1 FOR UPDATE;\n'
 '    END IF;\n'
 '    next_seq := head_seq + 1;\n'
 '    next_hash := encode(sha256(convert_to(\n'
 '        split_part(pending_pieces, chr(1), 1) || head_hash || split_part(pending_pieces, chr(1), 2)\n'
 "        || next_seq::text || split_part(pending_pieces, chr(1), 3), 'UTF8')), 'hex');\n"
 '    INSERT INTO audit_auditevent\n'
 '    SELECT * FROM jsonb_populate_record(NULL::audit_auditevent, pending_fields\n'
 "        || jsonb_build_object('seq', next_seq, 'prev_hash', head_hash, 'hash', next_hash));\n"
 '    UPDATE audit_chainhead SET seq = next_seq, hash = next_hash WHERE id = 1;\n'
 'END\n'
 '$$;',
 '\n'
 'CREATE OR REPLACE FUNCTION quorum_audit_seal() RETURNS trigger LANGUAGE plpgsql AS $$\n'
 'BEGIN\n'
 '    PERFORM quorum_audit_seal_one(NEW.id);\n'
 '    RETURN NULL;\n'
 'END\n'
 '$$;',
 '\n'
 'CREATE OR REPLACE FUNCTION quorum_audit_seal_pending() RETURNS void LANGUAGE plpgsql AS $$\n'
 'DECLARE\n'
 '    pending_id bigint;\n'
 'BEGIN\n'
 "    -- Only this transaction's rows are visible: others' are uncommitted, or deleted at their COMMIT.\n"
 '    FOR pending_id IN SELECT id FROM audit_pendingappend ORDER BY id LOOP\n'
 '        PERFORM quorum_audit_seal_one(pending_id);\n'
 '    END LOOP;\n'
 'END\n'
 '$$;',
 'DROP TRIGGER IF EXISTS audit_pendingappend_seal ON audit_pendingappend;',
 '\n'
 'CREATE CONSTRAINT TRIGGER audit_pendingappend_seal AFTER INSERT ON audit_pendingappend\n'
 '    DEFERRABLE INITIALLY DEFERRED FOR EACH ROW EXECUTE FUNCTION quorum_audit_seal();']
UNSEAL = ['DROP TABLE IF EXISTS audit_pendingappend;',
 'DROP FUNCTION IF EXISTS quorum_audit_seal_pending();',
 'DROP FUNCTION IF EXISTS quorum_audit_seal();',
 'DROP FUNCTION IF EXISTS quorum_audit_seal_one(bigint);']


def seal_install(apps, schema_editor) -> None:
    if schema_editor.connection.vendor == "postgresql":
        for statement in SEAL:
            schema_editor.execute(statement, params=None)


def seal_uninstall(apps, schema_editor) -> None:
    if schema_editor.connection.vendor == "postgresql":
        for statement in UNSEAL:
            schema_editor.execute(statement, params=None)


class Migration(migrations.Migration):
    # The sealing function locks the serving generation row (registry 0005) before the chain head.
    dependencies = [("audit", "0003_append_only_triggers"), ("registry", "0005_serving_generation")]

    operations = [migrations.RunPython(seal_install, seal_uninstall, elidable=False)]
