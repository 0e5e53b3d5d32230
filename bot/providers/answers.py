"""Reading a provider's answer without trusting it.

Both clients parse bodies through these helpers, so a hostile or broken answer (deeply
nested JSON, a list where an object belongs, wrong types, huge values) ends as a
:class:`~bot.providers.errors.ProviderError` with a clear user message, never as another
exception type.
"""

from __future__ import annotations

import contextlib
import functools
import json
import logging
from collections.abc import Iterator
from typing import Final

from bot.providers.errors import MalformedResponse, ProviderError

log = logging.getLogger(__name__)

#: The most bytes of one provider answer the bot reads (decoded); answers are small JSON.
MAX_ANSWER_BYTES: Final = 2 * 1024 * 1024
#: How many distinct unknown status words are remembered (each is logged once while it is).
STATUS_WORDS_REMEMBERED: Final = 64


def json_body(content: bytes) -> object:
    """Return the parsed JSON body, or None when it is not JSON.

    The parsed JSON, or None when the body is not JSON (or nests beyond Python's
    recursion limit).
    """
    try:
        return json.loads(content)
    except (ValueError, RecursionError):
        return None


@contextlib.contextmanager
def reading(what: str, error: type[ProviderError] = MalformedResponse) -> Iterator[None]:
    """Turn any failure to read a provider's answer into a provider error.

    Turn any exception raised while reading ``what`` into ``error`` (a ProviderError
    passes through unchanged).
    """
    try:
        yield
    except ProviderError:
        raise
    except Exception as exc:  # RecursionError, TypeError, ValueError, OverflowError…
        raise error(f"{what}: unreadable answer ({type(exc).__name__})") from None


@functools.lru_cache(maxsize=STATUS_WORDS_REMEMBERED)
def note_unknown_status(provider: str, word: str) -> None:
    """Log an unknown status word once while it is among the last few remembered."""
    log.warning("Unknown %s status %r: treating it as still running", provider, word)


def storable_text(text: str) -> str:
    """Return provider text as a database can keep it.

    Without NUL characters (PostgreSQL refuses them) or lone surrogates (UTF-8 cannot
    encode them).
    """
    return "".join(ch for ch in text if ch != "\x00" and not "\ud800" <= ch <= "\udfff")
