"""The command line of ``python -m bot``: validate the configuration, then run the bot.

``python -m bot backup PATH`` copies the database while the bot runs (see bot/backup.py);
``python -m bot healthcheck`` asks the running bot's ``/healthz`` (the Docker image's
HEALTHCHECK); ``python -m bot migrate-to-postgres SQLITE_PATH POSTGRES_URL`` copies an SQLite
database into an empty PostgreSQL one (see bot/store/transfer.py).

This is the composition root and the one module of ``bot`` that reaches ``cogs`` (and so
Discord); it imports them only after the configuration is known to be good.
"""

from __future__ import annotations

import argparse
import asyncio
import logging
import os
import sys
import urllib.error
import urllib.request
from pathlib import Path

import yarl

from bot.backup import BackupError, backup_database
from bot.config import ConfigError, Settings, load_settings, require_discord_token
from bot.database_location import check_database_location, resolve_database_path
from bot.logging_setup import configure_logging

log = logging.getLogger("bot")

HEALTHCHECK_TIMEOUT_SECONDS = 4.0
#: Listening on every address means the probe can use loopback.
_ANY_ADDRESS = ("0.0.0.0", "::", "")


def _secrets(settings: Settings) -> list[str]:
    values = [settings.DISCORD_TOKEN, settings.RUNCOMFY_API_TOKEN, settings.IDEOGRAM_API_KEY]
    found = [v.get_secret_value() for v in values if v is not None]
    if settings.uses_postgres and settings.DATABASE_URL:
        url = yarl.URL(settings.DATABASE_URL)
        # As the driver sees it, and as written in DATABASE_URL (percent-encoded).
        found += [p for p in {url.password, url.raw_password} if p]
    return found


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="python -m bot", description="Run the Ideogram Discord bot (no command), or a "
        "maintenance command. Settings come from the environment and .env.")
    commands = parser.add_subparsers(dest="command", metavar="COMMAND")
    backup = commands.add_parser(
        "backup", help="write a consistent copy of the database, also while the bot runs")
    backup.add_argument("path", metavar="PATH",
                        help="the new file, or a folder (the copy is then named by date)")
    commands.add_parser("healthcheck", help="exit 0 if the running bot's /healthz says ok")
    migrate = commands.add_parser(
        "migrate-to-postgres", help="copy an SQLite database into an empty PostgreSQL "
        "database (stop the bot first)")
    migrate.add_argument("sqlite_path", metavar="SQLITE_PATH", help="the bot's SQLite file")
    migrate.add_argument("postgres_url", metavar="POSTGRES_URL",
                         help="postgresql://user:password@host:5432/database")
    return parser


def _fail(message: str, code: int = 2) -> int:
    """Say why on standard error, before logging is set up (the settings themselves)."""
    print(f"Cannot start: {message}" if code == 2 else message, file=sys.stderr)
    return code


def _cannot_start(message: str) -> int:
    """Say why the bot cannot start, once logging is set up.

    One line in LOG_FORMAT, through the same redaction as every other line.
    """
    log.critical("Cannot start: %s", message)
    return 2


def run(settings: Settings) -> int:
    """Run the bot until it is stopped; return the process's exit status."""
    try:
        token = require_discord_token(settings)
    except ConfigError as exc:
        return _fail(str(exc))
    stop_logging = configure_logging(settings.LOG_LEVEL, _secrets(settings),
                                     log_format=settings.LOG_FORMAT.value,
                                     log_sql=settings.LOG_SQL, background=True)
    try:
        return _run_bot(settings, token)
    finally:
        stop_logging()  # every queued line is written before the process ends


def _run_bot(settings: Settings, token: str) -> int:
    if not settings.uses_postgres:
        try:
            path = resolve_database_path(settings)
            check_database_location(path)
        except ConfigError as exc:
            return _cannot_start(str(exc))
        settings = settings.model_copy(update={"DATABASE_URL": f"sqlite:///{path}"})

    try:
        from cogs.core.run import run_bot  # Discord is imported only once the config is good

        asyncio.run(run_bot(settings, token))
    except KeyboardInterrupt:  # before the bot's own SIGINT handler was installed
        pass
    except ConfigError as exc:
        return _cannot_start(str(exc))
    except Exception:
        # Through logging rather than the interpreter: a JSON line, and redacted.
        log.critical("The bot stopped on an unexpected error", exc_info=True)
        return 1
    log.info("Stopped.")
    return 0


def backup(settings: Settings, target: str) -> int:
    """Copy the SQLite database to ``target``, even while the bot runs; return the exit status."""
    if settings.uses_postgres:
        return _fail("Backup failed: DATABASE_URL is PostgreSQL; back it up with pg_dump "
                     "(README.md, section 'Moving to PostgreSQL').", 1)
    try:
        report = backup_database(resolve_database_path(settings), Path(target),
                                 folder=target.endswith(("/", os.sep)))
    except BackupError as exc:
        return _fail(f"Backup failed: {exc}", 1)
    print(report.describe())
    return 0


def healthcheck(settings: Settings) -> int:
    """Ask the running bot's ``/healthz``; return 0 when it answers healthy, else 1."""
    if settings.METRICS_PORT is None:
        return _fail("METRICS_PORT is not set, so the bot serves no /healthz.", 1)
    host = "127.0.0.1" if settings.METRICS_HOST in _ANY_ADDRESS else settings.METRICS_HOST
    if ":" in host:
        host = f"[{host}]"
    url = f"http://{host}:{settings.METRICS_PORT}/healthz"
    try:
        with urllib.request.urlopen(url, timeout=HEALTHCHECK_TIMEOUT_SECONDS) as response:
            print(response.read().decode("utf-8", "replace"))
            return 0
    except urllib.error.HTTPError as exc:
        print(exc.read().decode("utf-8", "replace"))
        return 1
    except (urllib.error.URLError, OSError) as exc:
        reason = getattr(exc, "reason", exc)
        return _fail(f"{url} did not answer: {reason}", 1)


def main(argv: list[str] | None = None) -> int:
    """Run the command ``argv`` names (the bot itself when none); the exit status."""
    args = _parser().parse_args(argv)
    if args.command == "migrate-to-postgres":  # needs none of the bot's settings
        from bot.store.transfer import migrate_command

        logging.basicConfig(level=logging.WARNING)
        return asyncio.run(migrate_command([args.sqlite_path, args.postgres_url]))
    try:
        settings = load_settings()
    except ConfigError as exc:
        return _fail(str(exc))
    if args.command == "backup":
        return backup(settings, args.path)
    if args.command == "healthcheck":
        return healthcheck(settings)
    return run(settings)

