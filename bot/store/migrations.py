"""The schema's history: what each version does, and how each engine's migrations are made.

Migration *n* takes a database from version *n - 1* to *n*; its last statement records
*n* (SQLite: ``PRAGMA user_version``; the runner checks it). Both engines have the same
versions, named once in :data:`NAMES`. Each engine's statements are the constants of its
schema module named ``M<version>_…`` (``M0003_ADD_USAGE_FORGIVEN`` runs in migration 3),
in the order the module defines them: :func:`collected` gathers them (writing the
placeholders of portable statements, ``{text}``, as the engine's dialect does) and
:func:`numbered` adds the statement that records each version. SQLite's schema module is
:mod:`bot.store.sql.schema` (its migrations: :data:`MIGRATIONS`, here), PostgreSQL's
:mod:`bot.store.postgres.sql.schema` (:mod:`bot.store.postgres.migrations`).

Never edit a released migration: add a new one at the end, on both engines. To add a
migration: write its ``M0008_…`` statements in both schema modules and name it in
:data:`NAMES`. A new table or column is written once, in SQLite's schema module with
placeholders for its types, and imported by PostgreSQL's in its migration's section.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from types import ModuleType

from bot.store import error_codes_migration
from bot.store.sql import schema


@dataclass(frozen=True, slots=True)
class Migration:
    """One step of the schema: its statements, which end by setting ``version``."""

    version: int
    name: str
    statements: tuple[str, ...]


#: What each schema version does, on either engine (version *n* is ``NAMES[n]``).
NAMES: Mapping[int, str] = {
    1: "jobs, guild settings and quota tables",
    2: "jobs.revised_prompt and jobs.deleted_at",
    3: "quota: reservations' job_key and forgiven, usage totals kept by triggers",
    4: "jobs written before the reply: submitting_at, sealed_token, token_expires_at",
    5: "batches, the preset a job used, server presets and their audit",
    6: "languages: guild_settings.language and jobs.locale",
    error_codes_migration.VERSION: error_codes_migration.NAME,
}

#: A migration statement's name: ``M``, its version in four digits, ``_`` and what it does.
STATEMENT_NAME = re.compile(r"M(\d{4})_\w+")

#: A placeholder in a portable statement: ``{name}`` or ``{name:argument}``
#: (:data:`bot.store.sql.schema.PLACEHOLDERS`).
PLACEHOLDER = re.compile(r"\{([a-z_]+)(?::([^{}]*))?\}")


def render(statement: str, dialect: Mapping[str, str]) -> str:
    """Return ``statement`` with each placeholder written as ``dialect`` writes it.

    ``{name}`` becomes ``dialect[name]``; ``{name:argument}`` too, with ``argument`` where
    that text has ``{}``. Other braces are text (``DEFAULT '{}'``, a regular expression's
    ``{2}``).

    Raises:
        ValueError: the statement has a placeholder ``dialect`` does not name.
    """
    def written(placeholder: re.Match[str]) -> str:
        name, argument = placeholder[1], placeholder[2]
        if name not in dialect:
            raise ValueError(f"unknown placeholder {placeholder[0]}")
        text = dialect[name]
        return text if argument is None else text.replace("{}", argument)

    return PLACEHOLDER.sub(written, statement)


def collected(schema_module: ModuleType,
              dialect: Mapping[str, str]) -> dict[int, tuple[str, ...]]:
    """Return a schema module's migration statements, by version, rendered for its engine.

    Every constant of ``schema_module`` named ``M<version>_…`` (:data:`STATEMENT_NAME`) is
    a statement of that version; each version's statements run in the order the module
    defines (or imports) them, and the versions must come in order too. Each is rendered
    with the engine's ``dialect`` (:func:`render`).

    Raises:
        ValueError: a statement of one version comes after one of a later version, such a
            constant is not a ``str``, or it has a placeholder ``dialect`` does not name.
    """
    statements: dict[int, list[str]] = {}
    latest = 0
    for name, value in vars(schema_module).items():
        match = STATEMENT_NAME.fullmatch(name)
        if match is None:
            continue
        where = f"{schema_module.__name__}.{name}"
        if not isinstance(value, str):
            raise ValueError(f"{where} is not a statement (a str)")
        version = int(match[1])
        if version < latest:
            raise ValueError(f"{where} comes after statements of migration {latest}: "
                             "define the statements migration by migration, in order")
        latest = version
        try:
            statements.setdefault(version, []).append(render(value, dialect))
        except ValueError as exc:
            raise ValueError(f"{where}: {exc}") from None
    return {version: tuple(texts) for version, texts in statements.items()}


def numbered(set_version: Callable[[int], str],
             statements: Mapping[int, tuple[str, ...]]) -> tuple[Migration, ...]:
    """Return one engine's migrations: for each version its statements, then ``set_version``.

    ``statements`` maps every version of :data:`NAMES` to the engine's statements for it
    (:func:`collected`).

    Raises:
        ValueError: a version of :data:`NAMES` has no statements, or statements come for a
            version :data:`NAMES` does not name.
    """
    missing = sorted(set(NAMES) - {v for v, texts in statements.items() if texts})
    if missing:
        raise ValueError(f"no statements for migrations {missing}")
    extra = sorted(set(statements) - set(NAMES))
    if extra:
        raise ValueError(f"statements for migrations {extra}, which NAMES does not name")
    return tuple(Migration(version, NAMES[version],
                           (*statements[version], set_version(version)))
                 for version in sorted(statements))


MIGRATIONS: tuple[Migration, ...] = numbered(schema.set_version, collected(schema, schema.DIALECT))

LATEST_VERSION: int = MIGRATIONS[-1].version


def check_migrations(migrations: Sequence[Migration]) -> None:
    """Raise ``ValueError`` unless the versions run 1, 2, … without gaps."""
    for expected, migration in enumerate(migrations, start=1):
        if migration.version != expected:
            raise ValueError(
                f"migration {migration.name!r} has version {migration.version}, "
                f"expected {expected}: versions must run 1, 2, … without gaps"
            )
        if not migration.statements:
            raise ValueError(f"migration {migration.version} has no statements")


check_migrations(MIGRATIONS)
