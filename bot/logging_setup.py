"""Logging for the process: dated ISO-8601 lines or one JSON object a line, never a secret.

- ``LOG_FORMAT=text``: ``2026-11-30T19:05:57.123+00:00 INFO    cogs.core.bot: message``, with
  `` [job=… guild=…]`` when the line belongs to a job or a server (see :mod:`bot.log_context`).
- ``LOG_FORMAT=json``: one object a line (python-json-logger) with ``time``, ``level``,
  ``logger``, ``message``, and ``job_id`` / ``guild_id`` when known, ``exc_info`` with the
  traceback when there is one.
- The *formatted* record is redacted, traceback included: the configured secrets, and the
  token part of interaction and webhook URLs (discord.py logs those at DEBUG).
- aiosqlite (and the PostgreSQL store, as ``asyncpg.sql``) log every statement at DEBUG:
  those lines appear only with ``LOG_SQL=1``.
"""

from __future__ import annotations

import copy
import datetime as dt
import logging
import logging.handlers
import queue
import re
import sys
from collections.abc import Callable, Iterable
from types import MappingProxyType
from typing import Any, Final, TextIO

from pythonjsonlogger.json import JsonFormatter

from bot import log_context

REDACTED = "[redacted]"

#: ``/interactions/<id>/<token>`` and ``/webhooks/<id>/<token>``: the token is a credential
#: (it can answer or edit the interaction for 15 minutes).
_URL_TOKEN = re.compile(r"(/(?:interactions|webhooks)/\d+/)[A-Za-z0-9_.\-]+")
#: A ``token`` field of a payload written out as JSON or as a Python dict.
_FIELD_TOKEN = re.compile(r"""(["']token["']\s*:\s*["'])[^"']+""")
#: Loggers whose lines are noise below WARNING unless asked for.
_SQL_LOGGERS = ("aiosqlite", "asyncpg")
#: discord.py writes whole payloads at DEBUG (gateway events with their interaction tokens,
#: request bodies with members' prompts): its lines below INFO are never printed.
_DISCORD_LOGGER = "discord"
#: discord.py's rate-limit warnings come from these; they must reach the metrics counter
#: (bot.metrics) whatever LOG_LEVEL says, so they are never set above WARNING.
_RATE_LIMIT_LOGGERS = ("discord.http", "discord.webhook.async_")


class Redactor:
    """Blanks configured secrets and interaction tokens (in URLs and payloads) out of text."""

    def __init__(self, secrets: Iterable[str] = ()) -> None:
        # Longest first, so a secret that contains another is blanked whole.
        self._secrets = tuple(sorted({s for s in secrets if s and len(s) >= 6},
                                     key=len, reverse=True))

    def __call__(self, text: str) -> str:
        """Return ``text`` with every secret and URL token replaced."""
        for secret in self._secrets:
            if secret in text:
                text = text.replace(secret, REDACTED)
        text = _URL_TOKEN.sub(rf"\g<1>{REDACTED}", text)
        return _FIELD_TOKEN.sub(rf"\g<1>{REDACTED}", text)


class ContextFields(logging.Filter):
    """Puts the current job and server on each log record.

    Puts ``job_id`` and ``guild_id`` from :mod:`bot.log_context` on each record
    (an ``extra=`` given to the log call wins).
    """

    def filter(self, record: logging.LogRecord) -> bool:
        """Add the task's job id and server id to the record."""
        context = log_context.current()
        if getattr(record, "job_id", None) is None:
            record.job_id = context.job_id
        if getattr(record, "guild_id", None) is None:
            record.guild_id = context.guild_id
        return True


def iso_time(record: logging.LogRecord) -> str:
    """The record's time in ISO 8601 with the date, milliseconds and the UTC offset."""
    moment = dt.datetime.fromtimestamp(record.created, tz=dt.UTC).astimezone()
    return moment.isoformat(timespec="milliseconds")


class TextFormatter(logging.Formatter):
    """One dated line (plus a traceback when there is one), redacted as a whole."""

    def __init__(self, redact: Redactor) -> None:
        super().__init__("%(asctime)s %(levelname)-7s %(name)s: %(message)s%(context)s")
        self._redact = redact

    def formatTime(self, record: logging.LogRecord, datefmt: str | None = None) -> str:
        """Return the record's time as ISO 8601 (UTC, milliseconds)."""
        return iso_time(record)

    def formatMessage(self, record: logging.LogRecord) -> str:  # noqa: N802  # logging's name
        r"""Return the record's line, kept to one line.

        A line break in the message (text from a provider or a member, say) is written as
        ``\n``, so it cannot forge another line.
        """
        line = super().formatMessage(record)
        return line.replace("\r", "\\r").replace("\n", "\\n")

    def format(self, record: logging.LogRecord) -> str:
        """Return one redacted text line, with the job and server when known."""
        parts = []
        job_id, guild_id = getattr(record, "job_id", None), getattr(record, "guild_id", None)
        if job_id is not None:
            parts.append(f"job={str(job_id)[:8]}")
        if guild_id is not None:
            parts.append(f"guild={guild_id}")
        record.context = f" [{' '.join(parts)}]" if parts else ""
        return self._redact(super().format(record))


class JsonLineFormatter(JsonFormatter):
    """One JSON object a line; every string in it redacted before it is serialised."""

    FIELDS = ("asctime", "levelname", "name", "message")
    RENAMES: Final = MappingProxyType(
        {"asctime": "time", "levelname": "level", "name": "logger"})

    def __init__(self, redact: Redactor) -> None:
        super().__init__(list(self.FIELDS), rename_fields=dict(self.RENAMES),
                         json_ensure_ascii=False)
        self._redact = redact

    def formatTime(self, record: logging.LogRecord, datefmt: str | None = None) -> str:
        """Return the record's time as ISO 8601 (UTC, milliseconds)."""
        return iso_time(record)

    def add_fields(self, log_data: dict[str, Any], record: logging.LogRecord,
                   message_dict: dict[str, Any]) -> None:
        """Add the record's fields, keeping ``job_id`` and ``guild_id`` only when known."""
        super().add_fields(log_data, record, message_dict)
        for key in ("job_id", "guild_id"):  # only when known
            if log_data.get(key) is None:
                log_data.pop(key, None)

    def process_log_record(self, log_data: dict[str, Any]) -> dict[str, Any]:
        """Return the record's fields with every secret redacted."""
        return {key: self._scrub(value) for key, value in log_data.items()}

    def _scrub(self, value: Any) -> Any:
        if isinstance(value, str):
            return self._redact(value)
        if isinstance(value, list | tuple):
            return [self._scrub(v) for v in value]
        if isinstance(value, dict):
            return {k: self._scrub(v) for k, v in value.items()}
        if isinstance(value, int | float | bool) or value is None:
            return value
        return self._redact(str(value))


class LevelGate(logging.Filter):
    """Decides which records the handler prints.

    What the handler prints: records at ``level`` or above, and the SQL loggers' lines
    at any level when ``log_sql`` (loggers themselves may let more through, for counting).
    """

    def __init__(self, level: int, *, log_sql: bool = False) -> None:
        super().__init__()
        self._level = level
        self._log_sql = log_sql

    def filter(self, record: logging.LogRecord) -> bool:
        """Let through records at the level, and SQL statements when ``LOG_SQL`` asks.

        discord.py's lines below INFO stay out: they dump whole payloads.
        """
        if record.levelno >= self._level:
            return (record.levelno >= logging.INFO
                    or record.name.split(".", 1)[0] != _DISCORD_LOGGER)
        return self._log_sql and record.name.split(".", 1)[0] in _SQL_LOGGERS


class SnapshotQueueHandler(logging.handlers.QueueHandler):
    """Queues each record with its message and traceback as text, but not formatted.

    The writing thread's formatter still sees the traceback apart from the message (JSON's
    ``exc_info`` field; text's lines after the dated one). The standard
    :class:`~logging.handlers.QueueHandler` formats the record into its message, traceback
    included: JSON lost ``exc_info``, and text folded the traceback into the escaped line.
    """

    _tracebacks = logging.Formatter()

    def prepare(self, record: logging.LogRecord) -> logging.LogRecord:
        """Return a copy of ``record`` that no later change to its arguments can alter."""
        record = copy.copy(record)
        record.message = record.getMessage()
        record.msg, record.args = record.message, None
        if record.exc_info:
            if not record.exc_text:
                record.exc_text = self._tracebacks.formatException(record.exc_info)
            record.exc_info = None
        return record


def make_handler(level: str, secrets: Iterable[str] = (), *, log_format: str = "text",
                 log_sql: bool = False, stream: TextIO | None = None) -> logging.Handler:
    """Return a log handler writing redacted lines (text or JSON) to ``stream``."""
    redact = Redactor(secrets)
    handler = logging.StreamHandler(stream if stream is not None else sys.stderr)
    handler.addFilter(LevelGate(logging.getLevelName(level), log_sql=log_sql))
    handler.setFormatter(JsonLineFormatter(redact) if log_format == "json"
                         else TextFormatter(redact))
    handler.addFilter(ContextFields())
    return handler


def configure_logging(level: str, secrets: Iterable[str] = (), *, log_format: str = "text",
                      log_sql: bool = False, stream: TextIO | None = None,
                      background: bool = False) -> Callable[[], None]:
    """Send every log line through one redacting handler on the root logger.

    ``background``: the event loop only queues each record (with its job and server
    already read from the context); a thread formats, redacts and writes it, so a burst
    of log lines never holds up answers to Discord. Returns a function that flushes the
    queue and stops the thread (call it before exit; a no-op without ``background``).
    """
    root = logging.getLogger()
    handler = make_handler(level, secrets, log_format=log_format, log_sql=log_sql,
                           stream=stream)
    stop: Callable[[], None] = _nothing
    if background:
        records: queue.SimpleQueue[logging.LogRecord] = queue.SimpleQueue()
        front = SnapshotQueueHandler(records)
        for each in handler.filters:  # decided (and the context read) in the caller's thread
            front.addFilter(each)
        listener = logging.handlers.QueueListener(records, handler)
        listener.start()
        stop = listener.stop
        root.handlers[:] = [front]
    else:
        root.handlers[:] = [handler]
    root.setLevel(level)
    logging.captureWarnings(True)  # Python's warnings too, as log lines (``py.warnings``)
    numeric = logging.getLevelName(level)
    # httpx logs every request at INFO; keep that for DEBUG runs only.
    logging.getLogger("httpx").setLevel(logging.DEBUG if numeric <= logging.DEBUG
                                        else logging.WARNING)
    for name in _SQL_LOGGERS:
        logging.getLogger(name).setLevel(logging.DEBUG if log_sql else logging.WARNING)
    for name in _RATE_LIMIT_LOGGERS:
        # The handler's LevelGate still decides what is printed.
        logging.getLogger(name).setLevel(min(numeric, logging.WARNING))
    return stop


def _nothing() -> None:
    return None
