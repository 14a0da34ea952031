"""The serving generation: a number database triggers move whenever a served answer may change.

PostgreSQL only (see config/serving.py); on SQLite this migration does nothing and answers are
never cached.
"""

from django.db import migrations

from config.serving import columns_reader, postgresql_install_sql, postgresql_uninstall_sql


# The tables this migration covers, frozen here (config.serving.WATCHED_TABLES may grow later).
WATCHED = (
    "registry_registeredmodel",
    "registry_modelversion",
    "registry_modelversiontag",
    "registry_modelalias",
    "accounts_user_groups",
    "auth_group",
    "auth_group_permissions",
    "accounts_user_user_permissions",
    "auth_permission",
    "django_content_type",
    "guardian_userobjectpermission",
    "guardian_groupobjectpermission",
)
WATCHED_EXCEPT_COLUMN = {"accounts_apitoken": "last_used_at", "accounts_user": "last_login"}


def install(apps, schema_editor) -> None:
    if schema_editor.connection.vendor != "postgresql":
        return
    columns_of = columns_reader(schema_editor.connection)
    for statement in postgresql_install_sql(columns_of, WATCHED, WATCHED_EXCEPT_COLUMN):
        schema_editor.execute(statement, params=None)


def uninstall(apps, schema_editor) -> None:
    if schema_editor.connection.vendor != "postgresql":
        return
    for statement in postgresql_uninstall_sql():
        schema_editor.execute(statement, params=None)


class Migration(migrations.Migration):
    dependencies = [
        ("registry", "0004_webhooks"),
        ("accounts", "0001_initial"),
        ("auth", "0012_alter_user_first_name_max_length"),
        ("contenttypes", "0002_remove_content_type_name"),
        ("guardian", "0003_remove_groupobjectpermission_guardian_gr_content_ae6aec_idx_and_more"),
    ]

    operations = [migrations.RunPython(install, uninstall, elidable=False)]
