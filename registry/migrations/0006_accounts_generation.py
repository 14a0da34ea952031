"""A second serving number that only user and token changes move (config/serving.py).

Verified tokens and Basic credentials are cached under it, so registry writes no longer send the
next request's token lookup to the database. PostgreSQL only, like 0005.
"""

from django.db import migrations

from config.serving import accounts_install_sql, accounts_uninstall_sql, columns_reader


def install(apps, schema_editor) -> None:
    if schema_editor.connection.vendor != "postgresql":
        return
    for statement in accounts_install_sql(columns_reader(schema_editor.connection)):
        schema_editor.execute(statement, params=None)


def uninstall(apps, schema_editor) -> None:
    if schema_editor.connection.vendor != "postgresql":
        return
    for statement in accounts_uninstall_sql(columns_reader(schema_editor.connection)):
        schema_editor.execute(statement, params=None)


class Migration(migrations.Migration):
    dependencies = [("registry", "0005_serving_generation")]

    operations = [migrations.RunPython(install, uninstall, elidable=False)]
