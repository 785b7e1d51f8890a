"""The PostgreSQL store's schema versions: created at start-up, upgraded in place, never downgraded.

``schema_version`` holds one row, the version the tables are at. At start-up the store takes a
transaction-scoped advisory lock (so processes starting together migrate once), reads the
version and applies each later migration in order, in that one transaction: a failed upgrade
leaves the schema as it was. A schema newer than this release knows (a newer release ran
against it, and this one is older) is refused with a line saying so: running an old release on
a new schema could misread it.

A migration is a tuple of SQL scripts. A release that changes the schema appends one; it never
edits one that has been released.
"""

from __future__ import annotations

from collections.abc import Sequence

import psycopg

from notifyctl.errors import StoreError
from notifyctl.store.postgresql.schema import VERSION_1, VERSION_2, VERSION_3, VERSION_4

Migration = tuple[str, ...]

#: every migration, in order: ``MIGRATIONS[i]`` brings the schema from version i to i + 1
MIGRATIONS: tuple[Migration, ...] = (VERSION_1, VERSION_2, VERSION_3, VERSION_4)
#: advisory lock key of the migration (any constant; ``notifyctl`` in ASCII)
MIGRATION_LOCK = 0x6E6F74696679
VERSION_TABLE = "CREATE TABLE IF NOT EXISTS schema_version (version integer NOT NULL)"


def current_version(conn: psycopg.Connection) -> int:
    # created only when missing: CREATE ... IF NOT EXISTS needs the schema's CREATE right even
    # when the table is there, and a role with no more than read and write rights on the tables
    # an owner created must be able to start
    exists = conn.execute("SELECT to_regclass('schema_version') IS NOT NULL").fetchone()
    if not (exists and exists[0]):
        conn.execute(VERSION_TABLE)
    row = conn.execute("SELECT max(version) FROM schema_version").fetchone()
    return int(row[0]) if row and row[0] is not None else 0


def migrate(conn: psycopg.Connection, migrations: Sequence[Migration] = MIGRATIONS) -> int:
    """Bring the schema (of the connection's ``search_path``) to the latest version, in one
    transaction; returns the version it is now at."""
    target = len(migrations)
    with conn.transaction():
        conn.execute("SELECT pg_advisory_xact_lock(%s)", (MIGRATION_LOCK,))
        found = current_version(conn)
        if found > target:
            raise StoreError(
                f"the store's schema is at version {found}, newer than this release knows "
                f"({target}): a newer notifyctl upgraded it; run that release (or newer)"
            )
        for migration in migrations[found:]:
            for script in migration:
                conn.execute(script)
        if found < target:
            conn.execute("DELETE FROM schema_version")
            conn.execute("INSERT INTO schema_version (version) VALUES (%s)", (target,))
    return target
