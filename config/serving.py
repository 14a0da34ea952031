"""Serving-path answers kept in each process and checked against the database on every request.

`models:/name@alias` is read far more often than anything it depends on changes. Each process
keeps the finished answers (and verified API tokens), and every request first reads one number
from PostgreSQL: the *serving generation*, a single-row table that database triggers move in the
same transaction as any change to a row an answer depends on (models, versions, tags, aliases,
users, teams, memberships, tokens, object grants). A cached answer is used only if it was built
under the generation the request just read; otherwise the request reads the database and stores
its answer under the generation it read *before* reading. So:

- an answer built from data older than a commit never carries the generation that commit made,
  and the new generation is visible exactly when the change is: a moved alias is never served
  stale to a request that starts after the move committed;
- it holds whatever made the change (services, admin, Celery tasks, raw SQL, another process),
  because the database does the bookkeeping, not the application;
- the triggers are deferred to COMMIT and move the generation once per transaction, so writers
  hold its row lock only while committing.

A connection that is inside a transaction may see its own uncommitted writes, which the
generation does not show yet: such requests (the test suite's, mostly) read through. SQLite
(the embedded default) reads through always; QUORUM_SERVING_CACHE=false turns caching off.
"""

import threading
from collections.abc import Callable, Hashable
from typing import Any

from django.conf import settings
from django.db import DEFAULT_DB_ALIAS, connections

from config.prepared import PreparedStatement

GENERATION_TABLE = "quorum_serving_generation"
GENERATION_SEQUENCE = "quorum_serving_generation_seq"

# Rows that serving answers depend on. For tokens and users, bookkeeping columns
# (last_used_at, last_login) change on use and are left out: they are in no answer.
WATCHED_TABLES = (
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

PG_FUNCTION = f"""
CREATE OR REPLACE FUNCTION quorum_serving_bump() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    -- Once per transaction: the first trigger to fire at COMMIT moves the generation.
    IF current_setting('quorum.serving_bumped', true) IS DISTINCT FROM txid_current()::text THEN
        UPDATE {GENERATION_TABLE} SET value = nextval('{GENERATION_SEQUENCE}') WHERE id = 1;
        PERFORM set_config('quorum.serving_bumped', txid_current()::text, true);
    END IF;
    RETURN NULL;
END
$$;
"""


def _row_trigger(
    table: str, name: str, events: str, when: str = "", function: str = "quorum_serving_bump"
) -> str:
    return (
        f"CREATE CONSTRAINT TRIGGER {name} AFTER {events} ON {table} DEFERRABLE INITIALLY DEFERRED "
        f"FOR EACH ROW {when}EXECUTE FUNCTION {function}();"
    )


def _truncate_trigger(table: str, function: str = "quorum_serving_bump") -> str:
    return (
        f"CREATE TRIGGER {table}_serving_truncate AFTER TRUNCATE ON {table} "
        f"FOR EACH STATEMENT EXECUTE FUNCTION {function}();"
    )


def postgresql_install_sql(
    columns_of: Callable[[str], list[str]],
    watched: tuple[str, ...] = WATCHED_TABLES,
    watched_except_column: dict[str, str] = WATCHED_EXCEPT_COLUMN,
) -> list[str]:
    """DDL for the generation table, sequence, function and triggers; `columns_of(table)` lists a table's columns.

    A migration passes the tables it covers literally: watching a new table later takes a new
    migration that installs only that table's triggers.
    """
    statements = [
        f"CREATE SEQUENCE IF NOT EXISTS {GENERATION_SEQUENCE};",
        f"CREATE TABLE IF NOT EXISTS {GENERATION_TABLE} (id integer PRIMARY KEY CHECK (id = 1), value bigint NOT NULL);",
        f"INSERT INTO {GENERATION_TABLE} (id, value) VALUES (1, nextval('{GENERATION_SEQUENCE}')) "
        "ON CONFLICT (id) DO NOTHING;",
        PG_FUNCTION,
    ]
    for table in watched:
        statements += [
            _row_trigger(table, f"{table}_serving", "INSERT OR UPDATE OR DELETE"),
            _truncate_trigger(table),
        ]
    for table, bookkeeping in watched_except_column.items():
        statements += _except_column_triggers(table, bookkeeping, columns_of(table), "quorum_serving_bump")
    return statements


def _except_column_triggers(table: str, bookkeeping: str, columns: list[str], function: str) -> list[str]:
    """A table's triggers that ignore updates touching only its `bookkeeping` column."""
    others = [column for column in columns if column != bookkeeping]
    old = ", ".join(f'OLD."{column}"' for column in others)
    new = ", ".join(f'NEW."{column}"' for column in others)
    return [
        _row_trigger(table, f"{table}_serving", "INSERT OR DELETE", function=function),
        _row_trigger(
            table,
            f"{table}_serving_update",
            "UPDATE",
            f"WHEN (ROW({old}) IS DISTINCT FROM ROW({new})) ",
            function=function,
        ),
        _truncate_trigger(table, function=function),
    ]


def columns_reader(connection) -> Callable[[str], list[str]]:
    """`columns_of(table)` for the install functions: the table's columns as the database has them now."""

    def columns_of(table: str) -> list[str]:
        with connection.cursor() as cursor:
            return [column.name for column in connection.introspection.get_table_description(cursor, table)]

    return columns_of


def postgresql_uninstall_sql() -> list[str]:
    statements = []
    for table in (*WATCHED_TABLES, *WATCHED_EXCEPT_COLUMN):
        statements += [
            f"DROP TRIGGER IF EXISTS {table}_serving ON {table};",
            f"DROP TRIGGER IF EXISTS {table}_serving_update ON {table};",
            f"DROP TRIGGER IF EXISTS {table}_serving_truncate ON {table};",
        ]
    return [
        *statements,
        "DROP FUNCTION IF EXISTS quorum_serving_bump();",
        f"DROP TABLE IF EXISTS {GENERATION_TABLE};",
        f"DROP SEQUENCE IF EXISTS {GENERATION_SEQUENCE};",
    ]


# --- The accounts generation (migration registry.0006) -------------------------------------
# Verified tokens and Basic credentials depend only on user and token rows, yet every registry write
# moved the one generation, so under writes each request looked its token up again. A second
# number on the same row moves only when a user or token row changes (and moves the first with it).

PG_ACCOUNTS_FUNCTION = f"""
CREATE OR REPLACE FUNCTION quorum_serving_bump_accounts() RETURNS trigger LANGUAGE plpgsql AS $$
DECLARE
    next_value bigint;
BEGIN
    -- Once per transaction: both numbers move (every answer may depend on a user too).
    IF current_setting('quorum.serving_accounts_bumped', true) IS DISTINCT FROM txid_current()::text THEN
        next_value := nextval('{GENERATION_SEQUENCE}');
        UPDATE {GENERATION_TABLE} SET value = next_value, accounts_value = next_value WHERE id = 1;
        PERFORM set_config('quorum.serving_accounts_bumped', txid_current()::text, true);
        PERFORM set_config('quorum.serving_bumped', txid_current()::text, true);
    END IF;
    RETURN NULL;
END
$$;
"""


def _accounts_triggers(columns_of: Callable[[str], list[str]], function: str) -> list[str]:
    statements = []
    for table, bookkeeping in WATCHED_EXCEPT_COLUMN.items():
        statements += [
            f"DROP TRIGGER IF EXISTS {table}_serving ON {table};",
            f"DROP TRIGGER IF EXISTS {table}_serving_update ON {table};",
            f"DROP TRIGGER IF EXISTS {table}_serving_truncate ON {table};",
            *_except_column_triggers(table, bookkeeping, columns_of(table), function),
        ]
    return statements


def accounts_install_sql(columns_of: Callable[[str], list[str]]) -> list[str]:
    return [
        f"ALTER TABLE {GENERATION_TABLE} ADD COLUMN IF NOT EXISTS accounts_value bigint NOT NULL DEFAULT 0;",
        PG_ACCOUNTS_FUNCTION,
        *_accounts_triggers(columns_of, "quorum_serving_bump_accounts"),
    ]


def accounts_uninstall_sql(columns_of: Callable[[str], list[str]]) -> list[str]:
    return [
        *_accounts_triggers(columns_of, "quorum_serving_bump"),
        "DROP FUNCTION IF EXISTS quorum_serving_bump_accounts();",
        f"ALTER TABLE {GENERATION_TABLE} DROP COLUMN IF EXISTS accounts_value;",
    ]


GENERATION_READ = PreparedStatement(
    "quorum_serving_generation_read",
    [],
    lambda: f"SELECT value, accounts_value FROM {GENERATION_TABLE} WHERE id = 1",
)

_UNREAD = object()


def generation(request) -> int | None:
    """The serving generation as this request first saw it, or None when answers must not be cached."""
    known = getattr(request, "_serving_generation", _UNREAD)
    if known is not _UNREAD:
        return known
    value = accounts_value = None
    wrapper = connections[DEFAULT_DB_ALIAS]
    if settings.QUORUM_SERVING_CACHE and wrapper.vendor == "postgresql" and not wrapper.in_atomic_block:
        row = GENERATION_READ.fetchone_direct()
        if row:  # no row: someone removed it; read through
            value, accounts_value = row
    request._serving_generation = value
    request._accounts_generation = accounts_value
    return value


def accounts_generation(request) -> int | None:
    """Like `generation`, for answers that depend only on user and token rows (verified credentials).

    Read in the same query as the serving generation.
    """
    generation(request)
    return request._accounts_generation


class AnswerCache:
    """Answers by key, each valid only under the generation it was built under.

    Plain dict operations are atomic under the GIL, so threads share it without a lock. When full
    it is emptied rather than tracked per entry: entries are cheap to rebuild.
    """

    def __init__(self, max_entries: int) -> None:
        self.max_entries = max_entries
        self._entries: dict[Hashable, tuple[int, Any]] = {}
        self._lock = threading.Lock()

    def get(self, key: Hashable, generation_value: int | None) -> Any:
        if generation_value is None:
            return None
        entry = self._entries.get(key)
        if entry is None or entry[0] != generation_value:
            return None
        return entry[1]

    def put(self, key: Hashable, generation_value: int | None, value: Any) -> None:
        if generation_value is None:
            return
        if len(self._entries) >= self.max_entries:
            with self._lock:
                self._entries.clear()
        self._entries[key] = (generation_value, value)

    def clear(self) -> None:
        self._entries.clear()
