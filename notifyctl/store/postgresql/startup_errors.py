"""What to do about a PostgreSQL store that cannot start: the URL names no database, the server
refuses us, or our role may not create the tables.

Some start-up failures pass by themselves (the server is starting, a failover is under way) and
are worth the start-up's retries; others stay until a person acts (the database or the role
does not exist, a password is wrong, ``pg_hba.conf`` has no line for us, the role lacks rights),
so retrying only delays the one line that says what to change. libpq reports a refused
connection as text without an SQLSTATE, so the lasting ones are told by the server's message
(English, as the server's ``lc_messages`` default); one not recognised is retried as before.
"""

from __future__ import annotations

import os

import psycopg

from notifyctl.errors import ConfigError

#: (a fragment of libpq's message, what a person does about it): no retry mends these
LASTING = (
    ("does not exist", "database \"",
     "create the database (CREATE DATABASE name OWNER role) or name an existing one in the URL"),
    ("does not exist", "role \"",
     "create the role (CREATE ROLE name LOGIN PASSWORD '...') or correct the user in the URL"),
    ("password authentication failed", "",
     "correct the user or the password in the URL"),
    ("no pg_hba.conf entry", "",
     "allow this host, user and database in the server's pg_hba.conf and reload it"),
    ("pg_hba.conf rejects connection", "",
     "allow this host, user and database in the server's pg_hba.conf and reload it"),
    ("permission denied for database", "",
     "GRANT CONNECT ON DATABASE name TO the URL's role"),
)  # fmt: skip
#: a role that may connect but not create notifyctl's tables in the schema it is given
NO_RIGHTS = (
    "give the URL's role CREATE and USAGE on the schema notifyctl uses (GRANT CREATE, USAGE ON "
    "SCHEMA name TO role; or make it the schema's owner), or name a schema it owns with "
    "options=-csearch_path=name"
)
NO_SCHEMA = (
    "the role may use no schema of its search_path: create one it owns (CREATE SCHEMA name "
    "AUTHORIZATION role) or GRANT USAGE, CREATE ON SCHEMA name TO role"
)


def lasting_advice(message: str) -> str | None:
    """What to do about a refused connection no retry mends; None when a retry may help."""
    for fragment, subject, advice in LASTING:
        if fragment in message and subject in message:
            return advice
    return None


def rights_advice(exc: psycopg.Error) -> str | None:
    """What to do when the role may connect but not create the schema's tables."""
    if isinstance(exc, psycopg.errors.InsufficientPrivilege):
        return NO_RIGHTS
    if isinstance(exc, psycopg.errors.InvalidSchemaName):
        return NO_SCHEMA
    return None


def require_database(conninfo: str, shown_url: str) -> None:
    """Refuse a URL that names no database: libpq would pick the user's name for it, and
    notifyctl would create its tables in whatever database that happens to be."""
    given = psycopg.conninfo.conninfo_to_dict(conninfo)
    if given.get("dbname") or os.environ.get("PGDATABASE"):
        return
    raise ConfigError(
        f"store URL {shown_url}: names no database; add it as the URL's path, as in "
        "postgresql://user:password@host:5432/notifyctl (create it first: CREATE DATABASE "
        "notifyctl OWNER user)"
    )
