"""Blanking credentials out of text a provider sent back.

Before it is logged, stored or shown (a provider may echo the request's ``Authorization`` header in
its error text).
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from typing import Final
from urllib.parse import quote, quote_plus

REDACTED: Final = "[redacted]"
#: A credential after the usual labels, whoever's it is: ``Bearer x``, ``Api-Key: x``,
#: ``"authorization": "x"``, ``token=x``.
_LABELLED: Final = re.compile(
    r"(?i)(\bbearer\s+|\b(?:api[-_]?key|authorization|x-api-key|token|access_token)"
    r"[\"']?\s*[:=]\s*[\"']?(?:bearer\s+)?)[^\s\"',;&}\]]+")


def redact(text: str, secrets: Iterable[str] = ()) -> str:
    """Return ``text`` with every credential replaced by ``[redacted]``.

    ``text`` with every given secret (as is or URL-encoded) and every labelled credential
    replaced by ``[redacted]``.
    """
    for secret in secrets:
        if secret:
            for form in {secret, quote(secret, safe=""), quote_plus(secret)}:
                text = text.replace(form, REDACTED)
    return _LABELLED.sub(lambda m: m.group(1) + REDACTED, text)
