"""The reader's language for the code running now: one context variable.

Set once per interaction (the command tree's check, a component's or a modal's check) or
around a public message (``with use_locale(job.locale): ...``), and read by every
:func:`bot.i18n._` below it, so call sites never pass a language around. Each asyncio task
has its own copy: a value set in one interaction never leaks into another. A task started
from inside inherits the value at its start; public messages set theirs explicitly.
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator
from contextvars import ContextVar, Token

from bot.i18n.locales import DEFAULT_LOCALE, reader_locale

_current: ContextVar[str] = ContextVar("reader_locale", default=DEFAULT_LOCALE)


def current_locale() -> str:
    """The language messages are rendered in right now (``en`` unless set)."""
    return _current.get()


def set_locale(locale: object) -> Token[str]:
    """Speak ``locale`` for the rest of this task.

    Any Discord locale code; unsupported ones mean English. For a block, use
    :func:`use_locale`, which gives the earlier language back after it.
    """
    return _current.set(reader_locale(locale))


@contextlib.contextmanager
def use_locale(locale: object) -> Iterator[str]:
    """Speak ``locale`` inside the block (and in tasks started there), then go back."""
    token = set_locale(locale)
    try:
        yield _current.get()
    finally:
        _current.reset(token)
