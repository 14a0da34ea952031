"""PostgreSQL: the sealing function builds the event's record once instead of once per column.

Same rows, same hashes; reversible to 0004's function.
"""

from django.db import migrations

# The SQL this migration installs (and restores), frozen here: audit/triggers.py may change, this must not.
SEAL_INSERT_ONCE = ('\n'
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
 '$$;')
SEAL_0004 = ('\n'
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
 '    SELECT (jsonb_populate_record(NULL::audit_auditevent, pending_fields\n'
 "        || jsonb_build_object('seq', next_seq, 'prev_hash', head_hash, 'hash', next_hash))).*;\n"
 '    UPDATE audit_chainhead SET seq = next_seq, hash = next_hash WHERE id = 1;\n'
 'END\n'
 '$$;')


def _replace_function(function_sql: str):
    def run(apps, schema_editor) -> None:
        if schema_editor.connection.vendor == "postgresql":
            schema_editor.execute(function_sql, params=None)

    return run


class Migration(migrations.Migration):
    dependencies = [("audit", "0004_seal_at_commit")]

    operations = [
        migrations.RunPython(
            _replace_function(SEAL_INSERT_ONCE), _replace_function(SEAL_0004), elidable=False
        )
    ]
