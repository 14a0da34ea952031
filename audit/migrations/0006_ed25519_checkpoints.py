"""Checkpoints signed with Ed25519 (issue 20): an algorithm column, room for a 64-byte signature.

Existing checkpoints were HMAC-signed and are marked so (they still verify with
QUORUM_AUDIT_HMAC_KEY). SQLite rebuilds the table for these changes, which drops its triggers,
so they are dropped first and re-created after (same SQL as 0003, frozen here).
"""

from django.db import migrations, models

SQLITE_TRIGGERS = [
    "CREATE TRIGGER audit_auditcheckpoint_no_update BEFORE UPDATE ON audit_auditcheckpoint BEGIN "
    "SELECT RAISE(ABORT, 'audit rows are append-only: UPDATE on audit_auditcheckpoint refused'); END;",
    "CREATE TRIGGER audit_auditcheckpoint_no_delete BEFORE DELETE ON audit_auditcheckpoint BEGIN "
    "SELECT RAISE(ABORT, 'audit rows are append-only: DELETE on audit_auditcheckpoint refused'); END;",
]
SQLITE_DROP = [
    "DROP TRIGGER IF EXISTS audit_auditcheckpoint_no_update ;",
    "DROP TRIGGER IF EXISTS audit_auditcheckpoint_no_delete ;",
]


def _sqlite(statements: list[str]):
    def run(apps, schema_editor) -> None:
        if schema_editor.connection.vendor == "sqlite":
            for statement in statements:
                schema_editor.execute(statement, params=None)

    return run


class Migration(migrations.Migration):
    dependencies = [("audit", "0005_seal_insert_once")]

    operations = [
        migrations.RunPython(_sqlite(SQLITE_DROP), _sqlite(SQLITE_TRIGGERS), elidable=False),
        migrations.AddField(
            model_name="auditcheckpoint",
            name="algorithm",
            field=models.CharField(
                default="hmac-sha256",
                help_text="ed25519 (since issue 20), or hmac-sha256 for checkpoints made before.",
                max_length=16,
            ),
        ),
        migrations.AlterField(
            model_name="auditcheckpoint",
            name="algorithm",
            field=models.CharField(
                default="ed25519",
                help_text="ed25519 (since issue 20), or hmac-sha256 for checkpoints made before.",
                max_length=16,
            ),
        ),
        migrations.AlterField(
            model_name="auditcheckpoint",
            name="key_id",
            field=models.CharField(
                help_text="Which key signed: first hex digits of SHA-256 of the public key (HMAC: of the key).",
                max_length=16,
            ),
        ),
        migrations.AlterField(
            model_name="auditcheckpoint",
            name="signature",
            field=models.CharField(
                help_text="Hex signature over the canonical checkpoint message (audit/chain.py).",
                max_length=128,
            ),
        ),
        migrations.RunPython(_sqlite(SQLITE_TRIGGERS), _sqlite(SQLITE_DROP), elidable=False),
    ]
