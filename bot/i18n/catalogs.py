"""Keep the message catalogs in step with the code, with Babel.

    python -m bot.i18n.catalogs extract   # bot/locale/messages.pot from the code
    python -m bot.i18n.catalogs update    # extract, then merge into every language's .po
    python -m bot.i18n.catalogs compile   # .po → .mo (the files the bot reads)
    python -m bot.i18n.catalogs check     # exit 1 if anything is out of step (CI's test)

Messages are found in ``bot/`` and ``cogs/`` by the calls that mark them: ``_``, ``N_``,
``lazy``, ``ngettext``, ``lazy_ngettext``, ``pgettext`` and discord.py's
``locale_str`` (command descriptions and choice names). A ``# Translators:`` comment just
above a call reaches the translator. Files are rewritten only when a message changed (not
for a new date alone), without line numbers, so moving code does not touch them.
"""

from __future__ import annotations

import argparse
import contextlib
import io
import sys
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Final

from babel.messages.catalog import Catalog, Message
from babel.messages.extract import extract_from_dir
from babel.messages.mofile import write_mo
from babel.messages.pofile import read_po, write_po

from bot.i18n.locales import TRANSLATED_LOCALES, catalog_name
from bot.i18n.translate import DOMAIN, LOCALE_DIR, placeholders

#: The checkout's root: the folders below it whose code is searched for messages.
SOURCE_ROOT: Final = Path(__file__).resolve().parents[2]
SOURCE_DIRS: Final = ("bot", "cogs")
KEYWORDS: Final = {
    "_": None, "N_": None, "lazy": None, "ngettext": (1, 2),
    "lazy_ngettext": (1, 2), "pgettext": ((1, "c"), 2), "locale_str": None,
}
COMMENT_TAGS: Final = ("Translators:",)
PROJECT: Final = "ideogram-discord-bot"
HEADER_COMMENT: Final = (
    "# Messages of the Ideogram Discord bot.\n"
    "# Keep in step with the code: python -m bot.i18n.catalogs update|compile|check\n"
    "#"
)
#: Header lines that change with every run and say nothing about the messages.
_DATE_HEADERS: Final = (b'"POT-Creation-Date:', b'"PO-Revision-Date:')

Key = tuple[str | None, str | tuple[str, ...]]


def template_path() -> Path:
    """Return the path of the message template (``.pot``)."""
    return LOCALE_DIR / f"{DOMAIN}.pot"


def po_path(locale: str) -> Path:
    """Return the path of one language's catalog (``.po``)."""
    return LOCALE_DIR / catalog_name(locale) / "LC_MESSAGES" / f"{DOMAIN}.po"


def mo_path(locale: str) -> Path:
    """Return the path of one language's compiled catalog (``.mo``)."""
    return po_path(locale).with_suffix(".mo")


@dataclass(frozen=True, slots=True)
class Extraction:
    """The messages found in the code, and Babel's warnings about them."""

    catalog: Catalog
    warnings: tuple[str, ...]


def extract(root: Path = SOURCE_ROOT) -> Extraction:
    """Extract every marked message of the code.

    Every marked message in the code, as a template catalog (and Babel's warnings, e.g.
    an f-string given to ``_``, which cannot be translated).
    """
    catalog = Catalog(project=PROJECT, domain=DOMAIN, header_comment=HEADER_COMMENT,
                      fuzzy=False)
    stderr = io.StringIO()
    with contextlib.redirect_stderr(stderr):
        for folder in SOURCE_DIRS:
            for filename, lineno, message, comments, context in extract_from_dir(
                    root / folder, keywords=KEYWORDS, comment_tags=COMMENT_TAGS,
                    strip_comment_tags=True):
                catalog.add(message, None, [(f"{folder}/{filename}", lineno)],
                            auto_comments=comments, context=context)
    warnings = tuple(line for line in stderr.getvalue().splitlines() if line.strip())
    return Extraction(catalog, warnings)


def messages(catalog: Catalog) -> dict[Key, Message]:
    """The catalog's messages by (context, id), without the header."""
    return {(m.context, _key_id(m.id)): m for m in catalog if m.id}


def _forms(text: str | tuple[str, ...] | list[str] | None) -> tuple[str, ...]:
    """A message's id or translation as a tuple of its forms (one unless plural)."""
    if text is None:
        return ()
    return (text,) if isinstance(text, str) else tuple(text)


def _key_id(msgid: str | tuple[str, ...] | list[str]) -> str | tuple[str, ...]:
    """A message id made hashable: Babel may hold a plural's forms in a list."""
    return msgid if isinstance(msgid, str) else tuple(msgid)


def _serialize_po(catalog: Catalog) -> bytes:
    buffer = io.BytesIO()
    write_po(buffer, catalog, width=100, sort_by_file=True, ignore_obsolete=True,
             include_lineno=False)
    return buffer.getvalue()


def _serialize_mo(catalog: Catalog) -> bytes:
    buffer = io.BytesIO()
    write_mo(buffer, catalog, use_fuzzy=False)
    return buffer.getvalue()


def _without_dates(data: bytes) -> bytes:
    return b"\n".join(line for line in data.split(b"\n") if not line.startswith(_DATE_HEADERS))


def _write_if_changed(path: Path, data: bytes, *, ignore_dates: bool) -> bool:
    if path.exists():
        old = path.read_bytes()
        same = (_without_dates(old) == _without_dates(data)) if ignore_dates else old == data
        if same:
            return False
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(data)
    return True


def read_catalog(path: Path, locale: str | None = None) -> Catalog:
    """Read a ``.po`` or ``.pot`` file."""
    with path.open("rb") as file:
        return read_po(file, locale=catalog_name(locale) if locale else None, domain=DOMAIN)


def write_template(extraction: Extraction) -> bool:
    """Write the template if its messages changed; return whether it did."""
    return _write_if_changed(template_path(), _serialize_po(extraction.catalog),
                             ignore_dates=True)


def update_catalogs(extraction: Extraction,
                    locales: Iterable[str] = TRANSLATED_LOCALES) -> list[Path]:
    """Merge the template into each language's catalog.

    New messages come in untranslated (or fuzzy, guessed from a similar old one); removed
    ones go. Returns the files written.
    """
    written: list[Path] = []
    for locale in locales:
        path = po_path(locale)
        if path.exists():
            catalog = read_catalog(path, locale)
        else:
            catalog = Catalog(locale=catalog_name(locale), domain=DOMAIN, project=PROJECT,
                              header_comment=HEADER_COMMENT, language_team=locale,
                              fuzzy=False)
        catalog.update(extraction.catalog)
        if _write_if_changed(path, _serialize_po(catalog), ignore_dates=True):
            written.append(path)
    return written


def compile_catalogs(locales: Iterable[str] = TRANSLATED_LOCALES) -> list[Path]:
    """Write each language's .mo from its .po (fuzzy translations left out)."""
    written: list[Path] = []
    for locale in locales:
        if _write_if_changed(mo_path(locale), _serialize_mo(read_catalog(po_path(locale),
                                                                          locale)),
                             ignore_dates=False):
            written.append(mo_path(locale))
    return written


def _texts(message: Message) -> tuple[tuple[str, ...], tuple[str, ...]]:
    """(source texts, translated texts) of a message, plural forms included."""
    return _forms(message.id), _forms(message.string)


def _label(key: Key) -> str:
    context, msgid = key
    text = msgid[0] if isinstance(msgid, tuple) else msgid
    return (f"[{context}] " if context else "") + repr(text[:70])


def catalog_problems(locale: str, template: Catalog) -> list[str]:
    """What is wrong with one language's catalog, against the code's messages."""
    path = po_path(locale)
    if not path.exists():
        return [f"{locale}: no catalog at {path}"]
    catalog = read_catalog(path, locale)
    wanted, present = messages(template), messages(catalog)
    problems = [f"{locale}: missing {_label(key)}" for key in wanted if key not in present]
    problems += [f"{locale}: no longer used {_label(key)}" for key in present
                 if key not in wanted]
    for key, message in present.items():
        if key not in wanted:
            continue
        sources, translated = _texts(message)
        if message.fuzzy:
            problems.append(f"{locale}: fuzzy (needs review) {_label(key)}")
        if not translated or not all(translated):
            problems.append(f"{locale}: untranslated {_label(key)}")
            continue
        # A plural's singular may leave out {n} ("this image" for "these {n} images").
        expected = placeholders(sources[-1])
        allowed = [{expected, expected - {"n"}} if i == 0 and len(sources) > 1 else {expected}
                   for i in range(max(len(sources), len(translated)))]
        if any(placeholders(source) not in allowed[i] for i, source in enumerate(sources)):
            problems.append(f"{locale}: singular and plural differ in placeholders "
                            f"{_label(key)}")
        for i, form in enumerate(translated):
            if placeholders(form) not in allowed[i]:
                problems.append(f"{locale}: placeholders {sorted(placeholders(form))} instead "
                                f"of {sorted(expected)} in {_label(key)}")
    mo = mo_path(locale)
    if not mo.exists() or mo.read_bytes() != _serialize_mo(catalog):
        problems.append(f"{locale}: {mo.name} is not compiled from {path.name}: run "
                        "`python -m bot.i18n.catalogs compile`")
    return problems


def check(locales: Sequence[str] = TRANSLATED_LOCALES) -> list[str]:
    """Return every problem of the catalogs (empty when all is well).

    Everything out of step: Babel's warnings, a stale template, and each catalog's
    problems (empty when all is well).
    """
    extraction = extract()
    problems = [f"extract: {warning}" for warning in extraction.warnings]
    pot = template_path()
    if not pot.exists() or _without_dates(pot.read_bytes()) != _without_dates(
            _serialize_po(extraction.catalog)):
        problems.append(f"{pot.name} is out of date: run `python -m bot.i18n.catalogs update`")
    for locale in locales:
        problems += catalog_problems(locale, extraction.catalog)
    return problems


def main(argv: Sequence[str] | None = None) -> int:
    """Run one catalog command: extract, update, compile or check."""
    parser = argparse.ArgumentParser(prog="python -m bot.i18n.catalogs",
                                     description="Manage the bot's message catalogs (Babel).")
    parser.add_argument("command", choices=("extract", "update", "compile", "check"))
    args = parser.parse_args(argv)
    if args.command == "check":
        problems = check()
        for problem in problems:
            print(problem)
        print("catalogs: OK" if not problems else f"catalogs: {len(problems)} problem(s)")
        return 1 if problems else 0
    extraction = extract()
    for warning in extraction.warnings:
        print(warning, file=sys.stderr)
    changed = [template_path()] if write_template(extraction) else []
    if args.command == "update":
        changed += update_catalogs(extraction)
    if args.command == "compile":
        changed += compile_catalogs()
    for path in changed:
        print(f"wrote {path.relative_to(SOURCE_ROOT)}")
    print(f"{len(messages(extraction.catalog))} messages; {len(changed)} file(s) changed")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
