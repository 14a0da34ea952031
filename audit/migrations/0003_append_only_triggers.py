"""Append-only audit tables: triggers refuse UPDATE and DELETE (and TRUNCATE on PostgreSQL)."""

from django.db import migrations

from audit.triggers import install_sql, uninstall_sql


def triggers_install(apps, schema_editor) -> None:
    for statement in install_sql(schema_editor.connection.vendor):
        schema_editor.execute(statement, params=None)


def triggers_uninstall(apps, schema_editor) -> None:
    for statement in uninstall_sql(schema_editor.connection.vendor):
        schema_editor.execute(statement, params=None)


class Migration(migrations.Migration):
    dependencies = [("audit", "0002_checkpoints_and_model_id")]

    operations = [migrations.RunPython(triggers_install, triggers_uninstall, elidable=False)]
