"""The migrations' text: each engine's statements are collected from its schema module, in
the order the module defines them, for the same versions on both engines."""

from __future__ import annotations

from types import ModuleType

import pytest

from bot.store import migrations as sqlite_migrations
from bot.store.migrations import NAMES, collected, numbered
from bot.store.postgres import migrations as pg_migrations
from bot.store.postgres.sql import schema as pg_schema
from bot.store.sql import schema as sqlite_schema

SCHEMAS = [sqlite_schema, pg_schema]


def module(name: str, **constants: object) -> ModuleType:
    """A schema module holding ``constants``, defined in the order given."""
    made = ModuleType(name)
    for constant, value in constants.items():
        setattr(made, constant, value)
    return made


@pytest.mark.parametrize("schema", SCHEMAS, ids=["sqlite", "postgresql"])
def test_each_engine_has_statements_for_every_named_version(schema: ModuleType) -> None:
    assert sorted(collected(schema)) == sorted(NAMES)


def test_both_engines_cover_the_same_versions() -> None:
    assert [m.version for m in sqlite_migrations.MIGRATIONS] == [
        m.version for m in pg_migrations.MIGRATIONS] == sorted(NAMES)


def test_statements_run_in_the_order_their_module_defines_them() -> None:
    schema = module("fake", M0001_CREATE_B="CREATE B", set_version=None, M0001_CREATE_A="CREATE A",
                    HELPER="not a statement", M0002_ADD_C="ADD C", M0002_INDEX_C="INDEX C")
    assert collected(schema) == {1: ("CREATE B", "CREATE A"), 2: ("ADD C", "INDEX C")}


def test_a_statement_defined_after_a_later_migration_is_refused() -> None:
    schema = module("fake", M0001_CREATE_A="CREATE A", M0002_ADD_B="ADD B", M0001_LATE="LATE")
    with pytest.raises(ValueError, match=r"fake\.M0001_LATE comes after .* migration 2"):
        collected(schema)


def test_a_statement_must_be_text() -> None:
    with pytest.raises(ValueError, match=r"fake\.M0001_CREATE_A is not a statement"):
        collected(module("fake", M0001_CREATE_A=("CREATE A",)))


def test_every_named_version_needs_statements() -> None:
    statements = {version: ("SELECT 1",) for version in NAMES if version != 2}
    with pytest.raises(ValueError, match=r"no statements for migrations \[2\]"):
        numbered(str, statements)


def test_statements_for_an_unnamed_version_are_refused() -> None:
    statements = {version: ("SELECT 1",) for version in [*NAMES, max(NAMES) + 1]}
    with pytest.raises(ValueError, match=rf"migrations \[{max(NAMES) + 1}\], which NAMES"):
        numbered(str, statements)
