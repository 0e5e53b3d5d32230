"""The SQLite connection's settings and the transaction statements."""

from __future__ import annotations

PRAGMA_JOURNAL_MODE_WAL = "PRAGMA journal_mode = WAL"
PRAGMA_FOREIGN_KEYS_ON = "PRAGMA foreign_keys = ON"
DEFAULT_BUSY_TIMEOUT_MS = 5000


def pragma_busy_timeout(milliseconds: int) -> str:
    """Return the PRAGMA that sets how long a statement waits for a lock.

    How long a statement waits for another connection's lock (a PRAGMA takes no
    parameters, so the whole number is written into the text).
    """
    return f"PRAGMA busy_timeout = {int(milliseconds)}"
PRAGMA_SYNCHRONOUS_NORMAL = "PRAGMA synchronous = NORMAL"
PRAGMA_GET_USER_VERSION = "PRAGMA user_version"
PRAGMA_GET_JOURNAL_MODE = "PRAGMA journal_mode"
PRAGMA_GET_FOREIGN_KEYS = "PRAGMA foreign_keys"
#: On a clean stop: fold the WAL into the database file and empty it.
PRAGMA_WAL_CHECKPOINT_TRUNCATE = "PRAGMA wal_checkpoint(TRUNCATE)"

BEGIN_IMMEDIATE = "BEGIN IMMEDIATE"
BEGIN_DEFERRED = "BEGIN DEFERRED"
COMMIT = "COMMIT"
ROLLBACK = "ROLLBACK"
# SQLite allows the same savepoint name to be nested; RELEASE / ROLLBACK TO act on the
# innermost one, which is what a nested ``Store.transaction()`` wants.
SAVEPOINT = "SAVEPOINT store_nested"
RELEASE_SAVEPOINT = "RELEASE SAVEPOINT store_nested"
ROLLBACK_TO_SAVEPOINT = "ROLLBACK TO SAVEPOINT store_nested"
