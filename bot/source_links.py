"""Discord's signed attachment links, and when a reframe's source link needs renewing.

Discord signs its attachment links: the query carries ``ex`` (when the link stops
working), ``is`` (when it was issued), both in hexadecimal Unix seconds, and ``hm`` (the
signature). Once ``ex`` has passed, about a day after the link was handed out, the link
answers 404. A reframe's source image is such a link, kept with the job: a Reroll the
next day, or from ``/job`` a week later, needs a fresh one, which only Discord can sign
(the tracker asks through :data:`LinkRenewer`, see :mod:`bot.tracker.submission`). An
image uploaded with ``/reframe`` itself is one Discord keeps only for a while: once it is
gone, no new link comes, and the job ends unsent.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Mapping
from typing import Any, Final
from urllib.parse import parse_qs, urlsplit

from bot.inputs import REFRAME_PAYLOAD_KEYS

#: Renew a link a while before it expires: the image service may fetch it only once the
#: job leaves its queue.
RENEW_MARGIN_SECONDS: Final = 3600.0
#: The latest expiry a link may claim (year 9999); a larger ``ex`` is no Discord link.
_MAX_EXPIRY: Final = 253_402_300_799

#: Where a reframe's stored inputs keep the source image link.
_SOURCE_KEY: Final = REFRAME_PAYLOAD_KEYS["image_url"]

#: Asks Discord for a fresh link to the same attachment; None when it gives none.
LinkRenewer = Callable[[str], Awaitable[str | None]]


def link_expiry(url: str) -> float | None:
    """When a signed link stops working (Unix seconds); None for an unsigned link.

    Signed the way Discord signs: ``ex`` and ``hm`` in its query, whatever the host.
    """
    try:
        query = parse_qs(urlsplit(url).query)
    except ValueError:
        return None
    expires, signature = query.get("ex"), query.get("hm")
    if not expires or not signature or len(expires) != 1:
        return None
    try:
        seconds = int(expires[0], 16)
    except ValueError:
        return None
    return float(seconds) if 0 < seconds <= _MAX_EXPIRY else None


def needs_renewal(url: str, now: float, margin: float = RENEW_MARGIN_SECONDS) -> bool:
    """Whether ``url`` is a signed link that has expired, or will within ``margin``."""
    expiry = link_expiry(url)
    return expiry is not None and expiry - now <= margin


def has_expired(url: str, now: float) -> bool:
    """Whether ``url`` is a signed link whose expiry has passed."""
    expiry = link_expiry(url)
    return expiry is not None and expiry <= now


def same_attachment(original: str, renewed: str) -> bool:
    """Whether ``renewed`` points at the same file as ``original`` (only the query differs).

    A renewed link is only taken when this holds, so an answer cannot swap the image.
    """
    try:
        before, after = urlsplit(original), urlsplit(renewed)
    except ValueError:
        return False
    return (after.scheme == before.scheme and after.scheme in ("https", "http")
            and after.netloc == before.netloc and after.path == before.path
            and link_expiry(renewed) is not None)


def source_link(inputs: Mapping[str, Any]) -> str | None:
    """The source image link a job's stored inputs send (a reframe's ``image``), if any."""
    image = inputs.get(_SOURCE_KEY)
    return image if isinstance(image, str) else None


def with_source_link(inputs: Mapping[str, Any], link: str) -> dict[str, Any]:
    """The same stored inputs with another source image link."""
    return {**inputs, _SOURCE_KEY: link}
