"""Every SQL statement the SQLite store runs, as a named constant (``sql.NAME``).

Values are always bound as parameters (``?`` or ``:name``); nothing here is built by
formatting values into text. Statements that take a variable-length list of values
bind it as one JSON array and read it back with ``json_each`` (see ``*_IN_STATUSES``).

The ``jobs`` statements use named parameters whose names are the ``JobRecord`` fields.

The statements live by area in the modules of this package; this one gathers them under
one namespace, which is what the store (``Store._sql``) reads. Each module begins with its
portable statements, those whose text is the same in PostgreSQL's dialect: they are
written only here, and :mod:`bot.store.postgres.sql` imports them. The schema module
(:mod:`bot.store.sql.schema`) is the migrations' statements in the order they run; its
portable tables and columns write their types as placeholders, rendered per dialect.
"""

from __future__ import annotations

from bot.store.sql.connection import *  # noqa: F403
from bot.store.sql.jobs import *  # noqa: F403
from bot.store.sql.presets import *  # noqa: F403
from bot.store.sql.quota import *  # noqa: F403
from bot.store.sql.schema import *  # noqa: F403
from bot.store.sql.settings import *  # noqa: F403
