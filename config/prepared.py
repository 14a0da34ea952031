"""Server-side prepared statements for the few reads on the serving path (PostgreSQL only).

psycopg2 sends every query as text, so PostgreSQL parses and plans it again on each request; for the
permission-filtered joins of the hot reads, planning costs more than executing (about 3 ms against
0.3 ms). A statement here is PREPAREd once per database connection and then EXECUTEd by name, so
PostgreSQL plans it a handful of times and keeps the plan. Preparing changes how a read is sent,
not what it reads.

With QUORUM_PREPARED_READS=false (behind a pooler in transaction mode, such as PgBouncer's, where a
prepared statement does not follow the session), and on other databases for statements written in
portable SQL, the same text is sent as a plain query.
"""

import re
from collections.abc import Callable, Sequence
from typing import Any

from django.conf import settings
from django.db import DEFAULT_DB_ALIAS, connection, connections

_PLACEHOLDER = re.compile(r"\$(\d+)")


def hot_reads_enabled() -> bool:
    """Whether the serving-path reads take their PostgreSQL-only statements (else the ORM path)."""
    return connection.vendor == "postgresql"


class PreparedStatement:
    """One named statement, prepared lazily on each new connection of the calling thread.

    `build_sql` returns the statement text with $1, $2… placeholders; it is called when the
    statement is first used (after the app registry is ready), not at import.
    """

    def __init__(self, name: str, param_types: Sequence[str], build_sql: Callable[[], str]) -> None:
        self.name = name
        self.param_types = tuple(param_types)
        self.build_sql = build_sql
        self._sql: str | None = None

    @property
    def sql(self) -> str:
        if self._sql is None:
            self._sql = self.build_sql()
        return self._sql

    def _ensure_prepared(self) -> None:
        # The Django connection wrapper is per thread (`connection` is a proxy shared by all
        # threads); its raw psycopg2 connection changes on reconnect, and a prepared statement
        # lives and dies with that raw connection.
        wrapper = connections[DEFAULT_DB_ALIAS]
        raw = wrapper.connection
        prepared_on = wrapper.__dict__.setdefault("_quorum_prepared", {})
        if prepared_on.get(self.name) is raw:
            return
        types = f" ({', '.join(self.param_types)})" if self.param_types else ""
        # Connection set-up, so on the raw cursor: it is not one of the request's queries (tests
        # compare query counts, e.g. hidden vs missing models, whichever request came first).
        with wrapper.wrap_database_errors, raw.cursor() as cursor:
            cursor.execute(f"PREPARE {self.name}{types} AS {self.sql}")
        prepared_on[self.name] = raw

    def fetchall(self, params: Sequence[Any]) -> list[tuple]:
        connection.ensure_connection()
        with connection.cursor() as cursor:
            # Elsewhere (SQLite, or a transaction-mode pooler) the same text as a plain query.
            if connection.vendor == "postgresql" and settings.QUORUM_PREPARED_READS:
                self._ensure_prepared()
                arguments = f" ({', '.join(['%s'] * len(params))})" if params else ""
                cursor.execute(f"EXECUTE {self.name}{arguments}", list(params))
            else:
                named = {f"p{i}": value for i, value in enumerate(params, start=1)}
                cursor.execute(_PLACEHOLDER.sub(r"%(p\1)s", self.sql.replace("%", "%%")), named)
            return cursor.fetchall()

    def fetchone_direct(self, params: Sequence[Any] = ()) -> tuple | None:
        """The first row, for a tiny read that runs on every request (the serving generation).

        On PostgreSQL with prepared statements on, it goes through psycopg2's own cursor: Django's
        cursor wrapper and connection proxies cost as much as the round trip itself. While queries
        are being recorded (DEBUG, or a test capturing them) it takes the ordinary path, so it is
        seen and counted like every other query.
        """
        wrapper = connections[DEFAULT_DB_ALIAS]
        if wrapper.vendor != "postgresql" or not settings.QUORUM_PREPARED_READS or wrapper.queries_logged:
            rows = self.fetchall(params)
            return rows[0] if rows else None
        raw = wrapper.connection
        # The common case, checked inline: connected, and prepared on this very connection.
        if raw is None or wrapper.__dict__.get("_quorum_prepared", {}).get(self.name) is not raw:
            wrapper.ensure_connection()
            self._ensure_prepared()
            raw = wrapper.connection
        arguments = f" ({', '.join(['%s'] * len(params))})" if params else ""
        with wrapper.wrap_database_errors, raw.cursor() as cursor:
            cursor.execute(f"EXECUTE {self.name}{arguments}", list(params) if params else None)
            return cursor.fetchone()
