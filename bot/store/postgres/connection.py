"""asyncpg connections as the PostgreSQL store uses them.

URLs, parameters bound to ``$n`` placeholders, the server's errors as the store's, and statement
logging.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
from collections.abc import Iterator, Mapping, Sequence
from typing import Any, TypeAlias

import asyncpg
import yarl

from bot.store.base import StoreBusyError, StoreConflictError
from bot.store.postgres import sql

#: Every statement, at DEBUG, when LOG_SQL=1 enables it (the text only, never the values).
sql_log = logging.getLogger("asyncpg.sql")

#: A connection the store runs statements on: one of a pool's (a proxy) or a direct one.
Connection: TypeAlias = asyncpg.Connection | asyncpg.pool.PoolConnectionProxy


def redact_url(url: str) -> str:
    """``postgresql://user@host:port/db`` without a password, for logs and messages."""
    try:
        parsed = yarl.URL(url)
    except (TypeError, ValueError):
        return "postgresql://…"
    host = parsed.host or "localhost"
    port = f":{parsed.port}" if parsed.explicit_port else ""
    user = f"{parsed.user}@" if parsed.user else ""
    return f"postgresql://{user}{host}{port}{parsed.path}"


def connection_url(url: str | os.PathLike[str]) -> str:
    """The URL as asyncpg takes it (``postgresql+asyncpg://`` → ``postgresql://``)."""
    text = os.fspath(url).strip()
    scheme, _, rest = text.partition("://")
    if scheme.lower() in ("postgresql+asyncpg", "postgres"):
        return f"postgresql://{rest}"
    return text


def rowcount(status: str) -> int:
    """Rows changed, from a command status such as ``UPDATE 3`` or ``INSERT 0 1``."""
    last = status.rsplit(" ", 1)[-1]
    return int(last) if last.isdigit() else 0


def bind(statement: str, params: Sequence[Any] | Mapping[str, Any]) -> tuple[str, list[Any]]:
    """Return a statement with ``$n`` placeholders and its values in order.

    Raises:
        TypeError: ``params`` is a mapping for ``?`` placeholders, or a sequence for ``:name``.
    """
    text, names = sql.compile_statement(statement)
    if names is None:
        if isinstance(params, Mapping):
            raise TypeError("a statement with ? placeholders takes a sequence of values")
        return text, list(params)
    if not isinstance(params, Mapping):
        raise TypeError("a statement with :name placeholders takes a mapping of values")
    return text, [params[name] for name in names]


def connection_lost(exc: BaseException) -> bool:
    """The server went away or refused for a moment (restart, failover, network)."""
    if isinstance(exc, asyncpg.InterfaceError):
        return "closed" in str(exc)
    if isinstance(exc, asyncpg.InternalClientError):
        # The server dropped the connection while a statement was being prepared on it.
        return "another operation" in str(exc)
    return isinstance(exc, (asyncpg.exceptions.PostgresConnectionError,
                            asyncpg.exceptions.OperatorInterventionError, OSError,
                            TimeoutError))


@contextlib.contextmanager
def conflicts_as_store_error() -> Iterator[None]:
    """Turn the server's errors into the store's.

    Deadlocks become :class:`StoreConflictError` (run the transaction again); a lost or
    refused connection, or a statement past ``COMMAND_TIMEOUT``, :class:`StoreBusyError`
    (the same operation may succeed a moment later: the tracker retries its writes).
    """
    try:
        yield
    except (asyncpg.DeadlockDetectedError, asyncpg.SerializationError) as exc:
        raise StoreConflictError(str(exc)) from exc
    except (asyncpg.PostgresError, asyncpg.InterfaceError, asyncpg.InternalClientError,
            OSError, TimeoutError) as exc:
        if connection_lost(exc):
            raise StoreBusyError(f"the database cannot be reached ({type(exc).__name__})"
                                 ) from exc
        raise


def set_event(event: asyncio.Event, *_: object) -> None:
    """Set ``event`` (a termination listener; its arguments are ignored)."""
    event.set()


async def prepare_connection(conn: asyncpg.Connection) -> None:
    """Each new pool connection: log its statements when SQL logging is on."""
    if sql_log.isEnabledFor(logging.DEBUG):
        conn.add_query_logger(_log_query)


def _log_query(record: Any) -> None:
    sql_log.debug("%s (%.1f ms)", " ".join(str(record.query).split()),
                  (record.elapsed or 0.0) * 1000)
