"""Append-only audit tables: triggers refuse UPDATE and DELETE (and TRUNCATE on PostgreSQL)."""

from django.db import migrations

# The SQL this migration installs, frozen here: audit/triggers.py may change, this must not.
INSTALL = {'postgresql': ['\n'
                'CREATE OR REPLACE FUNCTION quorum_audit_refuse_change() RETURNS trigger LANGUAGE plpgsql AS '
                '$$\n'
                'BEGIN\n'
                "    RAISE EXCEPTION 'audit rows are append-only: % on % refused', TG_OP, TG_TABLE_NAME\n"
                "        USING ERRCODE = 'integrity_constraint_violation';\n"
                'END\n'
                '$$;\n',
                'CREATE TRIGGER audit_auditevent_no_update_delete BEFORE UPDATE OR DELETE ON '
                'audit_auditevent FOR EACH ROW EXECUTE FUNCTION quorum_audit_refuse_change();',
                'CREATE TRIGGER audit_auditevent_no_truncate BEFORE TRUNCATE ON audit_auditevent FOR EACH '
                'STATEMENT EXECUTE FUNCTION quorum_audit_refuse_change();',
                'CREATE TRIGGER audit_auditcheckpoint_no_update_delete BEFORE UPDATE OR DELETE ON '
                'audit_auditcheckpoint FOR EACH ROW EXECUTE FUNCTION quorum_audit_refuse_change();',
                'CREATE TRIGGER audit_auditcheckpoint_no_truncate BEFORE TRUNCATE ON audit_auditcheckpoint '
                'FOR EACH STATEMENT EXECUTE FUNCTION quorum_audit_refuse_change();'],
 'sqlite': ['CREATE TRIGGER audit_auditevent_no_update BEFORE UPDATE ON audit_auditevent BEGIN SELECT '
            "RAISE(ABORT, 'audit rows are append-only: UPDATE on audit_auditevent refused'); END;",
            'CREATE TRIGGER audit_auditevent_no_delete BEFORE DELETE ON audit_auditevent BEGIN SELECT '
            "RAISE(ABORT, 'audit rows are append-only: DELETE on audit_auditevent refused'); END;",
            'CREATE TRIGGER audit_auditcheckpoint_no_update BEFORE UPDATE ON audit_auditcheckpoint BEGIN '
            "SELECT RAISE(ABORT, 'audit rows are append-only: UPDATE on audit_auditcheckpoint refused'); "
            'END;',
            'CREATE TRIGGER audit_auditcheckpoint_no_delete BEFORE DELETE ON audit_auditcheckpoint BEGIN '
            "SELECT RAISE(ABORT, 'audit rows are append-only: DELETE on audit_auditcheckpoint refused'); "
            'END;']}
UNINSTALL = {'postgresql': ['DROP TRIGGER IF EXISTS audit_auditevent_no_update_delete ON audit_auditevent;',
                'DROP TRIGGER IF EXISTS audit_auditevent_no_truncate ON audit_auditevent;',
                'DROP TRIGGER IF EXISTS audit_auditcheckpoint_no_update_delete ON audit_auditcheckpoint;',
                'DROP TRIGGER IF EXISTS audit_auditcheckpoint_no_truncate ON audit_auditcheckpoint;',
                'DROP FUNCTION IF EXISTS quorum_audit_refuse_change();'],
 'sqlite': ['DROP TRIGGER IF EXISTS audit_auditevent_no_update ;',
            'DROP TRIGGER IF EXISTS audit_auditevent_no_delete ;',
            'DROP TRIGGER IF EXISTS audit_auditcheckpoint_no_update ;',
            'DROP TRIGGER IF EXISTS audit_auditcheckpoint_no_delete ;']}


def triggers_install(apps, schema_editor) -> None:
    for statement in INSTALL.get(schema_editor.connection.vendor, []):
        schema_editor.execute(statement, params=None)


def triggers_uninstall(apps, schema_editor) -> None:
    for statement in UNINSTALL.get(schema_editor.connection.vendor, []):
        schema_editor.execute(statement, params=None)


class Migration(migrations.Migration):
    dependencies = [("audit", "0002_checkpoints_and_model_id")]

    operations = [migrations.RunPython(triggers_install, triggers_uninstall, elidable=False)]
