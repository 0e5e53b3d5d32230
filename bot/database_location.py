"""Where the SQLite file is, and whether the bot may write there: checked before start.

An unwritable location stops the start with one line naming ``DATABASE_URL`` and the
folder (:class:`~bot.config.ConfigError`), instead of a traceback at the first write.
"""

from __future__ import annotations

import logging
import os
import tempfile
from pathlib import Path

from bot.config import ConfigError, Settings

log = logging.getLogger(__name__)

CONFIG_DOCS = "see README.md, section 'Configuration'"


def resolve_database_path(settings: Settings) -> Path:
    """The database file, as an absolute path.

    Before ``DATA_DIR`` existed a relative ``DATABASE_URL`` was taken from the working
    directory (the old ``.env.example`` had ``sqlite:///data/bot.db``). When such a file
    exists there and none exists in ``DATA_DIR`` yet, it is used, with a warning, so an
    upgrade does not start on an empty database.
    """
    path = settings.database_path
    if settings.DATABASE_URL is not None and not path.is_absolute():
        legacy = Path(settings.DATABASE_URL.removeprefix("sqlite:///")).expanduser()
        if not legacy.is_absolute() and legacy != path and legacy.is_file() \
                and not path.exists():
            log.warning("Using the database at %s: DATABASE_URL is relative, and relative "
                        "paths now live in DATA_DIR (%s). Move the file there, or set "
                        "DATABASE_URL to sqlite:///%s.", legacy.absolute(),
                        settings.DATA_DIR, legacy.absolute())
            return legacy.absolute()
    return path.absolute()


def _user() -> str:
    getuid = getattr(os, "getuid", None)
    return f"this user (uid {getuid()})" if getuid is not None else "this user"


def check_database_location(path: Path) -> None:
    """Make sure the bot can write its SQLite file where the settings say.

    Create the folder if needed and make sure the bot can write the file and its
    ``-wal``/``-shm`` companions there; else :class:`ConfigError`, one line.
    """
    folder = path.parent
    def refuse(reason: str) -> ConfigError:
        return ConfigError(
            f"DATABASE_URL points to {path}, but {_user()} cannot write to the folder "
            f"{folder} ({reason}): give DATABASE_URL (or DATA_DIR) a writable place, e.g. "
            f"the /data volume in Docker; {CONFIG_DOCS}.")
    try:
        folder.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise refuse(exc.strerror or type(exc).__name__) from None
    if not folder.is_dir():
        raise refuse("it is not a folder")
    try:
        # A real write, not os.access: ownership, read-only mounts and ACLs all count.
        with tempfile.NamedTemporaryFile(dir=folder, prefix=".write-check-"):
            pass
    except OSError as exc:
        raise refuse(exc.strerror or type(exc).__name__) from None
    if path.exists():
        if not path.is_file():
            raise ConfigError(f"DATABASE_URL points to {path}, which is not a file; "
                              f"{CONFIG_DOCS}.")
        try:
            with path.open("r+b"):
                pass
        except OSError as exc:
            raise ConfigError(
                f"DATABASE_URL points to {path}, but {_user()} cannot write that file "
                f"({exc.strerror or type(exc).__name__}): fix its owner or permissions; "
                f"{CONFIG_DOCS}.") from None
