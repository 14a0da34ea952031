"""PostgreSQL: appends go through a pending table and are chained by a trigger at COMMIT.

See audit/triggers.py (PG_SEAL_SQL). SQLite keeps chaining in Python: it has one writer at a time.
"""

from django.db import migrations

from audit.triggers import PG_SEAL_SQL, PG_UNSEAL_SQL


def seal_install(apps, schema_editor) -> None:
    if schema_editor.connection.vendor == "postgresql":
        for statement in PG_SEAL_SQL:
            schema_editor.execute(statement, params=None)


def seal_uninstall(apps, schema_editor) -> None:
    if schema_editor.connection.vendor == "postgresql":
        for statement in PG_UNSEAL_SQL:
            schema_editor.execute(statement, params=None)


class Migration(migrations.Migration):
    # The sealing function locks the serving generation row (registry 0005) before the chain head.
    dependencies = [("audit", "0003_append_only_triggers"), ("registry", "0005_serving_generation")]

    operations = [migrations.RunPython(seal_install, seal_uninstall, elidable=False)]
