"""postgresql:// locations: what libpq gets, which schema holds the log, what is shown.

A location is a libpq connection URI with one parameter of ours, `schema`, naming the
PostgreSQL schema the log's tables live in (created on first use); libpq would reject
it, so it is taken out before connecting. Without it the log lives in the connection's
current schema (the first of its search_path, usually `public`), which libpq's own
`options=-csearch_path%3Dname` also sets. A password in the URI never reaches a message:
`display` hides it. No driver is imported here, so the CLI can print role scripts without one.
"""

from __future__ import annotations

from dataclasses import dataclass
from urllib.parse import unquote, urlsplit, urlunsplit

from auditlog.errors import InvalidInput

SCHEMES = ("postgresql://", "postgres://")
SCHEMA_PARAMETER = "schema"


@dataclass(frozen=True)
class PgLocation:
    conninfo: str  # for libpq: the URI without our parameters
    schema: str | None  # None: the connection's current schema
    display: str  # the URI with any password hidden
    parameters: frozenset[str]  # libpq parameters the URI sets (so defaults do not override them)


def is_postgres(location: str) -> bool:
    return location.startswith(SCHEMES)


def schema_name_problem(name: str) -> str | None:
    """Why a schema name cannot hold a log, or None. The store writes the quoted name into its
    statements, which pass through psycopg's `%` placeholders and str.format's braces: a name
    with `%`, `{` or `}` would be read as one of those, so it is refused rather than escaped."""
    found = sorted({c for c in name if c in "%{}"})
    return f"a schema name may not contain {' or '.join(found)}" if found else None


def parse_location(url: str) -> PgLocation:
    """Split our `schema` parameter from a libpq URI; refuse an empty one."""
    parts = urlsplit(url)
    kept, hidden, schema, names = [], [], None, set()
    for item in parts.query.split("&") if parts.query else []:
        key, _, value = item.partition("=")
        name = unquote(key)
        if name == SCHEMA_PARAMETER:
            schema = unquote(value)
            if not schema or "\x00" in schema:
                raise InvalidInput("--log", f"?{SCHEMA_PARAMETER}= needs a schema name")
            problem = schema_name_problem(schema)
            if problem:
                raise InvalidInput("--log", f"?{SCHEMA_PARAMETER}={value}: {problem}")
            hidden.append(item)
            continue
        names.add(name)
        kept.append(item)
        hidden.append(f"{key}=***" if name == "password" else item)
    conninfo = urlunsplit(parts._replace(query="&".join(kept)))
    netloc = parts.netloc
    userinfo, at, hostinfo = netloc.rpartition("@")
    if at and ":" in userinfo:
        netloc = f"{userinfo.split(':', 1)[0]}:***@{hostinfo}"
    display = urlunsplit(parts._replace(netloc=netloc, query="&".join(hidden)))
    return PgLocation(conninfo, schema, display, frozenset(names))


def schema_of(url: str, default: str = "public") -> str:
    """The schema a location names, or `default` (the usual current schema) when it names none."""
    return parse_location(url).schema or default
