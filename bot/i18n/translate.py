"""Message catalogs: gettext's functions, answering in the reader's language.

Message ids are the English text itself (gettext's habit), with ``str.format`` placeholders
in braces: ``_("Removed {channel}.", channel=mention)``. The catalogs are compiled gettext
files in ``bot/locale/<lang>/LC_MESSAGES/messages.mo``, managed with Babel
(``python -m bot.i18n.catalogs``). A message missing from a catalog shows in English; a
translation whose placeholders do not fit is logged and the English text used instead.

- :func:`_`, :func:`ngettext`, :func:`pgettext` translate now, into
  :func:`~bot.i18n.context.current_locale`.
- :func:`N_` only marks a text for the catalog and returns it unchanged (a constant kept in
  English, e.g. a reason stored in the database; translate it where it is shown:
  ``_(CONSTANT)``).
- :func:`lazy` and :func:`lazy_ngettext` return a :class:`LazyText` that is
  translated each time it is turned into a string: for messages made before anyone knows
  who will read them, such as the text of an exception raised in ``bot/`` and shown by the
  Discord side. Give it numbers as :class:`~bot.i18n.formats.LocalNumber` /
  :class:`~bot.i18n.formats.LocalCost` so that they too are written the reader's way.
"""

from __future__ import annotations

import functools
import gettext as _gettext
import logging
import string
from collections.abc import Mapping
from pathlib import Path
from typing import Final

from bot.i18n.context import current_locale
from bot.i18n.formats import format_number
from bot.i18n.locales import DEFAULT_LOCALE, catalog_name

log = logging.getLogger(__name__)

#: Where the catalogs live (inside the package, so ``pip install .`` ships them).
LOCALE_DIR: Final = Path(__file__).resolve().parent.parent / "locale"
DOMAIN: Final = "messages"


@functools.cache
def translations(locale: str) -> _gettext.NullTranslations:
    """The compiled catalog of ``locale`` (English and unknown languages: none)."""
    if locale == DEFAULT_LOCALE:
        return _gettext.NullTranslations()
    found = _gettext.translation(DOMAIN, LOCALE_DIR, languages=[catalog_name(locale)],
                                 fallback=True)
    if type(found) is _gettext.NullTranslations:
        log.warning("No compiled catalog for %s under %s: messages stay English", locale,
                    LOCALE_DIR)
    return found


def placeholders(text: str) -> frozenset[str]:
    """The names of the ``{placeholders}`` in a message (``{{`` is a literal brace)."""
    names: set[str] = set()
    for _literal, field, _spec, _conversion in string.Formatter().parse(text):
        if field is not None:
            names.add(field.split(".")[0].split("[")[0])
    return frozenset(names)


def _fill(translated: str, source: str, params: Mapping[str, object]) -> str:
    if not params:
        return translated
    try:
        return translated.format(**params)
    except (KeyError, IndexError, ValueError, AttributeError):
        log.warning("The %s translation of %r does not fit its placeholders; using English",
                    current_locale(), source)
        return source.format(**params)


def gettext_in(locale: str, message: str) -> str:
    """``message`` translated into ``locale`` (no placeholders filled)."""
    return translations(locale).gettext(message)


def _(message: str, /, **params: object) -> str:
    """``message`` in the reader's language, its ``{placeholders}`` filled from ``params``."""
    return _fill(gettext_in(current_locale(), message), message, params)


def ngettext(singular: str, plural: str, n: int, /, **params: object) -> str:
    """Return the singular or plural form for ``n`` in the reader's language.

    The singular or a plural form for ``n``, in the reader's language; ``{n}`` is ``n``
    written the reader's way (``1,000`` / ``1.000``).
    """
    chosen = translations(current_locale()).ngettext(singular, plural, n)
    source = singular if n == 1 else plural
    return _fill(chosen, source, {"n": format_number(n), **params})


def pgettext(context: str, message: str, /, **params: object) -> str:
    """Like :func:`_`, for a short text whose meaning depends on ``context``."""
    return _fill(translations(current_locale()).pgettext(context, message), message, params)


def N_(message: str, /) -> str:
    """Mark ``message`` for the catalog; return it unchanged (English)."""
    return message


class LazyText:
    """A message translated when it is read, not when it is made.

    ``str(text)`` translates it. With ``plural`` and ``n``, it is the form for ``n`` (as
    :func:`ngettext`).
    """

    __slots__ = ("message", "n", "params", "plural")

    def __init__(self, message: str, params: Mapping[str, object] | None = None, *,
                 plural: str | None = None, n: int | None = None) -> None:
        self.message = message
        self.params: dict[str, object] = dict(params or {})
        self.plural = plural
        self.n = n

    def __str__(self) -> str:
        if self.plural is not None and self.n is not None:
            return ngettext(self.message, self.plural, self.n, **self.params)
        return _(self.message, **self.params)

    def __format__(self, spec: str) -> str:
        return format(str(self), spec)

    def __repr__(self) -> str:
        return f"LazyText({self.message!r})"


class LocalizedError(Exception):
    """An error whose text is a refusal a user can act on, in the reader's language.

    Give it text already translated (``_("...")``) or a :class:`LazyText`, translated each
    time it is shown: ``message`` and ``str(exc)`` are that text.
    """

    def __init__(self, message: str | LazyText) -> None:
        super().__init__(message)
        self._text = message

    @property
    def message(self) -> str:
        """The refusal in the reader's language."""
        return str(self._text)

    @property
    def translated_when_read(self) -> bool:
        """Whether the text is translated each time it is shown.

        True for a :class:`LazyText`: such a text can be shown in another language than
        the one of the moment it was made in.
        """
        return isinstance(self._text, LazyText)

    def __str__(self) -> str:
        return self.message


def lazy(message: str, /, **params: object) -> LazyText:
    """``message`` (with ``params``), translated each time it is shown."""
    return LazyText(message, params)


def lazy_ngettext(singular: str, plural: str, n: int, /, **params: object) -> LazyText:
    """:func:`ngettext`, translated each time it is shown."""
    return LazyText(singular, params, plural=plural, n=n)
