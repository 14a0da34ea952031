"""The serving generation: a number database triggers move whenever a served answer may change.

PostgreSQL only (see config/serving.py); on SQLite this migration does nothing and answers are
never cached.
"""

from django.db import migrations

# The SQL this migration installs, frozen here (with the accounts tables' columns as they were then):
# config/serving.py may change, this must not.
INSTALL = ['CREATE SEQUENCE IF NOT EXISTS quorum_serving_generation_seq;',
 'CREATE TABLE IF NOT EXISTS quorum_serving_generation (id integer PRIMARY KEY CHECK (id = 1), value bigint '
 'NOT NULL);',
 "INSERT INTO quorum_serving_generation (id, value) VALUES (1, nextval('quorum_serving_generation_seq')) ON "
 'CONFLICT (id) DO NOTHING;',
 '\n'
 'CREATE OR REPLACE FUNCTION quorum_serving_bump() RETURNS trigger LANGUAGE plpgsql AS $$\n'
 'BEGIN\n'
 '    -- Once per transaction: the first trigger to fire at COMMIT moves the generation.\n'
 "    IF current_setting('quorum.serving_bumped', true) IS DISTINCT FROM txid_current()::text THEN\n"
 "        UPDATE quorum_serving_generation SET value = nextval('quorum_serving_generation_seq') WHERE id = "
 '1;\n'
 "        PERFORM set_config('quorum.serving_bumped', txid_current()::text, true);\n"
 '    END IF;\n'
 '    RETURN NULL;\n'
 'END\n'
 '$$;\n',
 'CREATE CONSTRAINT TRIGGER registry_registeredmodel_serving AFTER INSERT OR UPDATE OR DELETE ON '
 'registry_registeredmodel DEFERRABLE INITIALLY DEFERRED FOR EACH ROW EXECUTE FUNCTION '
 'quorum_serving_bump();',
 'CREATE TRIGGER registry_registeredmodel_serving_truncate AFTER TRUNCATE ON registry_registeredmodel FOR '
 'EACH STATEMENT EXECUTE FUNCTION quorum_serving_bump();',
 'CREATE CONSTRAINT TRIGGER registry_modelversion_serving AFTER INSERT OR UPDATE OR DELETE ON '
 'registry_modelversion DEFERRABLE INITIALLY DEFERRED FOR EACH ROW EXECUTE FUNCTION quorum_serving_bump();',
 'CREATE TRIGGER registry_modelversion_serving_truncate AFTER TRUNCATE ON registry_modelversion FOR EACH '
 'STATEMENT EXECUTE FUNCTION quorum_serving_bump();',
 'CREATE CONSTRAINT TRIGGER registry_modelversiontag_serving AFTER INSERT OR UPDATE OR DELETE ON '
 'registry_modelversiontag DEFERRABLE INITIALLY DEFERRED FOR EACH ROW EXECUTE FUNCTION '
 'quorum_serving_bump();',
 'CREATE TRIGGER registry_modelversiontag_serving_truncate AFTER TRUNCATE ON registry_modelversiontag FOR '
 'EACH STATEMENT EXECUTE FUNCTION quorum_serving_bump();',
 'CREATE CONSTRAINT TRIGGER registry_modelalias_serving AFTER INSERT OR UPDATE OR DELETE ON '
 'registry_modelalias DEFERRABLE INITIALLY DEFERRED FOR EACH ROW EXECUTE FUNCTION quorum_serving_bump();',
 'CREATE TRIGGER registry_modelalias_serving_truncate AFTER TRUNCATE ON registry_modelalias FOR EACH '
 'STATEMENT EXECUTE FUNCTION quorum_serving_bump();',
 'CREATE CONSTRAINT TRIGGER accounts_user_groups_serving AFTER INSERT OR UPDATE OR DELETE ON '
 'accounts_user_groups DEFERRABLE INITIALLY DEFERRED FOR EACH ROW EXECUTE FUNCTION quorum_serving_bump();',
 'CREATE TRIGGER accounts_user_groups_serving_truncate AFTER TRUNCATE ON accounts_user_groups FOR EACH '
 'STATEMENT EXECUTE FUNCTION quorum_serving_bump();',
 'CREATE CONSTRAINT TRIGGER auth_group_serving AFTER INSERT OR UPDATE OR DELETE ON auth_group DEFERRABLE '
 'INITIALLY DEFERRED FOR EACH ROW EXECUTE FUNCTION quorum_serving_bump();',
 'CREATE TRIGGER auth_group_serving_truncate AFTER TRUNCATE ON auth_group FOR EACH STATEMENT EXECUTE '
 'FUNCTION quorum_serving_bump();',
 'CREATE CONSTRAINT TRIGGER auth_group_permissions_serving AFTER INSERT OR UPDATE OR DELETE ON '
 'auth_group_permissions DEFERRABLE INITIALLY DEFERRED FOR EACH ROW EXECUTE FUNCTION quorum_serving_bump();',
 'CREATE TRIGGER auth_group_permissions_serving_truncate AFTER TRUNCATE ON auth_group_permissions FOR EACH '
 'STATEMENT EXECUTE FUNCTION quorum_serving_bump();',
 'CREATE CONSTRAINT TRIGGER accounts_user_user_permissions_serving AFTER INSERT OR UPDATE OR DELETE ON '
 'accounts_user_user_permissions DEFERRABLE INITIALLY DEFERRED FOR EACH ROW EXECUTE FUNCTION '
 'quorum_serving_bump();',
 'CREATE TRIGGER accounts_user_user_permissions_serving_truncate AFTER TRUNCATE ON '
 'accounts_user_user_permissions FOR EACH STATEMENT EXECUTE FUNCTION quorum_serving_bump();',
 'CREATE CONSTRAINT TRIGGER auth_permission_serving AFTER INSERT OR UPDATE OR DELETE ON auth_permission '
 'DEFERRABLE INITIALLY DEFERRED FOR EACH ROW EXECUTE FUNCTION quorum_serving_bump();',
 'CREATE TRIGGER auth_permission_serving_truncate AFTER TRUNCATE ON auth_permission FOR EACH STATEMENT '
 'EXECUTE FUNCTION quorum_serving_bump();',
 'CREATE CONSTRAINT TRIGGER django_content_type_serving AFTER INSERT OR UPDATE OR DELETE ON '
 'django_content_type DEFERRABLE INITIALLY DEFERRED FOR EACH ROW EXECUTE FUNCTION quorum_serving_bump();',
 'CREATE TRIGGER django_content_type_serving_truncate AFTER TRUNCATE ON django_content_type FOR EACH '
 'STATEMENT EXECUTE FUNCTION quorum_serving_bump();',
 'CREATE CONSTRAINT TRIGGER guardian_userobjectpermission_serving AFTER INSERT OR UPDATE OR DELETE ON '
 'guardian_userobjectpermission DEFERRABLE INITIALLY DEFERRED FOR EACH ROW EXECUTE FUNCTION '
 'quorum_serving_bump();',
 'CREATE TRIGGER guardian_userobjectpermission_serving_truncate AFTER TRUNCATE ON '
 'guardian_userobjectpermission FOR EACH STATEMENT EXECUTE FUNCTION quorum_serving_bump();',
 'CREATE CONSTRAINT TRIGGER guardian_groupobjectpermission_serving AFTER INSERT OR UPDATE OR DELETE ON '
 'guardian_groupobjectpermission DEFERRABLE INITIALLY DEFERRED FOR EACH ROW EXECUTE FUNCTION '
 'quorum_serving_bump();',
 'CREATE TRIGGER guardian_groupobjectpermission_serving_truncate AFTER TRUNCATE ON '
 'guardian_groupobjectpermission FOR EACH STATEMENT EXECUTE FUNCTION quorum_serving_bump();',
 'CREATE CONSTRAINT TRIGGER accounts_apitoken_serving AFTER INSERT OR DELETE ON accounts_apitoken DEFERRABLE '
 'INITIALLY DEFERRED FOR EACH ROW EXECUTE FUNCTION quorum_serving_bump();',
 'CREATE CONSTRAINT TRIGGER accounts_apitoken_serving_update AFTER UPDATE ON accounts_apitoken DEFERRABLE '
 'INITIALLY DEFERRED FOR EACH ROW WHEN (ROW(OLD."id", OLD."name", OLD."prefix", OLD."digest", '
 'OLD."created_at", OLD."expires_at", OLD."revoked_at", OLD."user_id") IS DISTINCT FROM ROW(NEW."id", '
 'NEW."name", NEW."prefix", NEW."digest", NEW."created_at", NEW."expires_at", NEW."revoked_at", '
 'NEW."user_id")) EXECUTE FUNCTION quorum_serving_bump();',
 'CREATE TRIGGER accounts_apitoken_serving_truncate AFTER TRUNCATE ON accounts_apitoken FOR EACH STATEMENT '
 'EXECUTE FUNCTION quorum_serving_bump();',
 'CREATE CONSTRAINT TRIGGER accounts_user_serving AFTER INSERT OR DELETE ON accounts_user DEFERRABLE '
 'INITIALLY DEFERRED FOR EACH ROW EXECUTE FUNCTION quorum_serving_bump();',
 'CREATE CONSTRAINT TRIGGER accounts_user_serving_update AFTER UPDATE ON accounts_user DEFERRABLE INITIALLY '
 'DEFERRED FOR EACH ROW WHEN (ROW(OLD."id", OLD."password", OLD."is_superuser", OLD."username", '
 'OLD."first_name", OLD."last_name", OLD."email", OLD."is_staff", OLD."is_active", OLD."date_joined", '
 'OLD."is_service_account") IS DISTINCT FROM ROW(NEW."id", NEW."password", NEW."is_superuser", '
 'NEW."username", NEW."first_name", NEW."last_name", NEW."email", NEW."is_staff", NEW."is_active", '
 'NEW."date_joined", NEW."is_service_account")) EXECUTE FUNCTION quorum_serving_bump();',
 'CREATE TRIGGER accounts_user_serving_truncate AFTER TRUNCATE ON accounts_user FOR EACH STATEMENT EXECUTE '
 'FUNCTION quorum_serving_bump();']
UNINSTALL = ['DROP TRIGGER IF EXISTS registry_registeredmodel_serving ON registry_registeredmodel;',
 'DROP TRIGGER IF EXISTS registry_registeredmodel_serving_update ON registry_registeredmodel;',
 'DROP TRIGGER IF EXISTS registry_registeredmodel_serving_truncate ON registry_registeredmodel;',
 'DROP TRIGGER IF EXISTS registry_modelversion_serving ON registry_modelversion;',
 'DROP TRIGGER IF EXISTS registry_modelversion_serving_update ON registry_modelversion;',
 'DROP TRIGGER IF EXISTS registry_modelversion_serving_truncate ON registry_modelversion;',
 'DROP TRIGGER IF EXISTS registry_modelversiontag_serving ON registry_modelversiontag;',
 'DROP TRIGGER IF EXISTS registry_modelversiontag_serving_update ON registry_modelversiontag;',
 'DROP TRIGGER IF EXISTS registry_modelversiontag_serving_truncate ON registry_modelversiontag;',
 'DROP TRIGGER IF EXISTS registry_modelalias_serving ON registry_modelalias;',
 'DROP TRIGGER IF EXISTS registry_modelalias_serving_update ON registry_modelalias;',
 'DROP TRIGGER IF EXISTS registry_modelalias_serving_truncate ON registry_modelalias;',
 'DROP TRIGGER IF EXISTS accounts_user_groups_serving ON accounts_user_groups;',
 'DROP TRIGGER IF EXISTS accounts_user_groups_serving_update ON accounts_user_groups;',
 'DROP TRIGGER IF EXISTS accounts_user_groups_serving_truncate ON accounts_user_groups;',
 'DROP TRIGGER IF EXISTS auth_group_serving ON auth_group;',
 'DROP TRIGGER IF EXISTS auth_group_serving_update ON auth_group;',
 'DROP TRIGGER IF EXISTS auth_group_serving_truncate ON auth_group;',
 'DROP TRIGGER IF EXISTS auth_group_permissions_serving ON auth_group_permissions;',
 'DROP TRIGGER IF EXISTS auth_group_permissions_serving_update ON auth_group_permissions;',
 'DROP TRIGGER IF EXISTS auth_group_permissions_serving_truncate ON auth_group_permissions;',
 'DROP TRIGGER IF EXISTS accounts_user_user_permissions_serving ON accounts_user_user_permissions;',
 'DROP TRIGGER IF EXISTS accounts_user_user_permissions_serving_update ON accounts_user_user_permissions;',
 'DROP TRIGGER IF EXISTS accounts_user_user_permissions_serving_truncate ON accounts_user_user_permissions;',
 'DROP TRIGGER IF EXISTS auth_permission_serving ON auth_permission;',
 'DROP TRIGGER IF EXISTS auth_permission_serving_update ON auth_permission;',
 'DROP TRIGGER IF EXISTS auth_permission_serving_truncate ON auth_permission;',
 'DROP TRIGGER IF EXISTS django_content_type_serving ON django_content_type;',
 'DROP TRIGGER IF EXISTS django_content_type_serving_update ON django_content_type;',
 'DROP TRIGGER IF EXISTS django_content_type_serving_truncate ON django_content_type;',
 'DROP TRIGGER IF EXISTS guardian_userobjectpermission_serving ON guardian_userobjectpermission;',
 'DROP TRIGGER IF EXISTS guardian_userobjectpermission_serving_update ON guardian_userobjectpermission;',
 'DROP TRIGGER IF EXISTS guardian_userobjectpermission_serving_truncate ON guardian_userobjectpermission;',
 'DROP TRIGGER IF EXISTS guardian_groupobjectpermission_serving ON guardian_groupobjectpermission;',
 'DROP TRIGGER IF EXISTS guardian_groupobjectpermission_serving_update ON guardian_groupobjectpermission;',
 'DROP TRIGGER IF EXISTS guardian_groupobjectpermission_serving_truncate ON guardian_groupobjectpermission;',
 'DROP TRIGGER IF EXISTS accounts_apitoken_serving ON accounts_apitoken;',
 'DROP TRIGGER IF EXISTS accounts_apitoken_serving_update ON accounts_apitoken;',
 'DROP TRIGGER IF EXISTS accounts_apitoken_serving_truncate ON accounts_apitoken;',
 'DROP TRIGGER IF EXISTS accounts_user_serving ON accounts_user;',
 'DROP TRIGGER IF EXISTS accounts_user_serving_update ON accounts_user;',
 'DROP TRIGGER IF EXISTS accounts_user_serving_truncate ON accounts_user;',
 'DROP FUNCTION IF EXISTS quorum_serving_bump();',
 'DROP TABLE IF EXISTS quorum_serving_generation;',
 'DROP SEQUENCE IF EXISTS quorum_serving_generation_seq;']


def install(apps, schema_editor) -> None:
    if schema_editor.connection.vendor != "postgresql":
        return
    for statement in INSTALL:
        schema_editor.execute(statement, params=None)


def uninstall(apps, schema_editor) -> None:
    if schema_editor.connection.vendor != "postgresql":
        return
    for statement in UNINSTALL:
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
