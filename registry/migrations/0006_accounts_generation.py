"""A second serving number that only user and token changes move (config/serving.py).

Verified tokens and Basic credentials are cached under it, so registry writes no longer send the
next request's token lookup to the database. PostgreSQL only, like 0005.
"""

from django.db import migrations

# The SQL this migration installs, frozen here: config/serving.py may change, this must not.
INSTALL = ['ALTER TABLE quorum_serving_generation ADD COLUMN IF NOT EXISTS accounts_value bigint NOT NULL DEFAULT 0;',
 '\n'
 'CREATE OR REPLACE FUNCTION quorum_serving_bump_accounts() RETURNS trigger LANGUAGE plpgsql AS $$\n'
 'DECLARE\n'
 '    next_value bigint;\n'
 'BEGIN\n'
 '    -- Once per transaction: both numbers move (every answer may depend on a user too).\n'
 "    IF current_setting('quorum.serving_accounts_bumped', true) IS DISTINCT FROM txid_current()::text THEN\n"
 "        next_value := nextval('quorum_serving_generation_seq');\n"
 '        UPDATE quorum_serving_generation SET value = next_value, accounts_value = next_value WHERE id = '
 '1;\n'
 "        PERFORM set_config('quorum.serving_accounts_bumped', txid_current()::text, true);\n"
 "        PERFORM set_config('quorum.serving_bumped', txid_current()::text, true);\n"
 '    END IF;\n'
 '    RETURN NULL;\n'
 'END\n'
 '$$;\n',
 'DROP TRIGGER IF EXISTS accounts_apitoken_serving ON accounts_apitoken;',
 'DROP TRIGGER IF EXISTS accounts_apitoken_serving_update ON accounts_apitoken;',
 'DROP TRIGGER IF EXISTS accounts_apitoken_serving_truncate ON accounts_apitoken;',
 'CREATE CONSTRAINT TRIGGER accounts_apitoken_serving AFTER INSERT OR DELETE ON accounts_apitoken DEFERRABLE '
 'INITIALLY DEFERRED FOR EACH ROW EXECUTE FUNCTION quorum_serving_bump_accounts();',
 'CREATE CONSTRAINT TRIGGER accounts_apitoken_serving_update AFTER UPDATE ON accounts_apitoken DEFERRABLE '
 'INITIALLY DEFERRED FOR EACH ROW WHEN (ROW(OLD."id", OLD."name", OLD."prefix", OLD."digest", '
 'OLD."created_at", OLD."expires_at", OLD."revoked_at", OLD."user_id") IS DISTINCT FROM ROW(NEW."id", '
 'NEW."name", NEW."prefix", NEW."digest", NEW."created_at", NEW."expires_at", NEW."revoked_at", '
 'NEW."user_id")) EXECUTE FUNCTION quorum_serving_bump_accounts();',
 'CREATE TRIGGER accounts_apitoken_serving_truncate AFTER TRUNCATE ON accounts_apitoken FOR EACH STATEMENT '
 'EXECUTE FUNCTION quorum_serving_bump_accounts();',
 'DROP TRIGGER IF EXISTS accounts_user_serving ON accounts_user;',
 'DROP TRIGGER IF EXISTS accounts_user_serving_update ON accounts_user;',
 'DROP TRIGGER IF EXISTS accounts_user_serving_truncate ON accounts_user;',
 'CREATE CONSTRAINT TRIGGER accounts_user_serving AFTER INSERT OR DELETE ON accounts_user DEFERRABLE '
 'INITIALLY DEFERRED FOR EACH ROW EXECUTE FUNCTION quorum_serving_bump_accounts();',
 'CREATE CONSTRAINT TRIGGER accounts_user_serving_update AFTER UPDATE ON accounts_user DEFERRABLE INITIALLY '
 'DEFERRED FOR EACH ROW WHEN (ROW(OLD."id", OLD."password", OLD."is_superuser", OLD."username", '
 'OLD."first_name", OLD."last_name", OLD."email", OLD."is_staff", OLD."is_active", OLD."date_joined", '
 'OLD."is_service_account") IS DISTINCT FROM ROW(NEW."id", NEW."password", NEW."is_superuser", '
 'NEW."username", NEW."first_name", NEW."last_name", NEW."email", NEW."is_staff", NEW."is_active", '
 'NEW."date_joined", NEW."is_service_account")) EXECUTE FUNCTION quorum_serving_bump_accounts();',
 'CREATE TRIGGER accounts_user_serving_truncate AFTER TRUNCATE ON accounts_user FOR EACH STATEMENT EXECUTE '
 'FUNCTION quorum_serving_bump_accounts();']
UNINSTALL = ['DROP TRIGGER IF EXISTS accounts_apitoken_serving ON accounts_apitoken;',
 'DROP TRIGGER IF EXISTS accounts_apitoken_serving_update ON accounts_apitoken;',
 'DROP TRIGGER IF EXISTS accounts_apitoken_serving_truncate ON accounts_apitoken;',
 'CREATE CONSTRAINT TRIGGER accounts_apitoken_serving AFTER INSERT OR DELETE ON accounts_apitoken DEFERRABLE '
 'INITIALLY DEFERRED FOR EACH ROW EXECUTE FUNCTION quorum_serving_bump();',
 'CREATE CONSTRAINT TRIGGER accounts_apitoken_serving_update AFTER UPDATE ON accounts_apitoken DEFERRABLE '
 'INITIALLY DEFERRED FOR EACH ROW WHEN (ROW(OLD."id", OLD."name", OLD."prefix", OLD."digest", '
 'OLD."created_at", OLD."expires_at", OLD."revoked_at", OLD."user_id") IS DISTINCT FROM ROW(NEW."id", '
 'NEW."name", NEW."prefix", NEW."digest", NEW."created_at", NEW."expires_at", NEW."revoked_at", '
 'NEW."user_id")) EXECUTE FUNCTION quorum_serving_bump();',
 'CREATE TRIGGER accounts_apitoken_serving_truncate AFTER TRUNCATE ON accounts_apitoken FOR EACH STATEMENT '
 'EXECUTE FUNCTION quorum_serving_bump();',
 'DROP TRIGGER IF EXISTS accounts_user_serving ON accounts_user;',
 'DROP TRIGGER IF EXISTS accounts_user_serving_update ON accounts_user;',
 'DROP TRIGGER IF EXISTS accounts_user_serving_truncate ON accounts_user;',
 'CREATE CONSTRAINT TRIGGER accounts_user_serving AFTER INSERT OR DELETE ON accounts_user DEFERRABLE '
 'INITIALLY DEFERRED FOR EACH ROW EXECUTE FUNCTION quorum_serving_bump();',
 'CREATE CONSTRAINT TRIGGER accounts_user_serving_update AFTER UPDATE ON accounts_user DEFERRABLE INITIALLY '
 'DEFERRED FOR EACH ROW WHEN (ROW(OLD."id", OLD."password", OLD."is_superuser", OLD."username", '
 'OLD."first_name", OLD."last_name", OLD."email", OLD."is_staff", OLD."is_active", OLD."date_joined", '
 'OLD."is_service_account") IS DISTINCT FROM ROW(NEW."id", NEW."password", NEW."is_superuser", '
 'NEW."username", NEW."first_name", NEW."last_name", NEW."email", NEW."is_staff", NEW."is_active", '
 'NEW."date_joined", NEW."is_service_account")) EXECUTE FUNCTION quorum_serving_bump();',
 'CREATE TRIGGER accounts_user_serving_truncate AFTER TRUNCATE ON accounts_user FOR EACH STATEMENT EXECUTE '
 'FUNCTION quorum_serving_bump();',
 'DROP FUNCTION IF EXISTS quorum_serving_bump_accounts();',
 'ALTER TABLE quorum_serving_generation DROP COLUMN IF EXISTS accounts_value;']


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
    dependencies = [("registry", "0005_serving_generation")]

    operations = [migrations.RunPython(install, uninstall, elidable=False)]
