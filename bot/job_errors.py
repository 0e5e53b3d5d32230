"""Why a job ended, as the database keeps it: a code and its parameters, never a sentence.

A job's ``error`` column holds :func:`encode`'s text: the bare code (``timed_out_queued``)
or, when the code has parameters, the code, a colon and a JSON object
(``service_failure:{"status":503}``). :func:`render` turns a stored value into the reader's
language (:func:`bot.i18n.current_locale`, set by the caller), so a reply written after a
restart, or read by someone else, speaks its reader's language. A value that cannot be
read (corrupt, or a code this version does not know) renders as a generic reason: reading
never raises.

The codes: the tracker's own reasons below, every provider error's
(:attr:`bot.providers.errors.ProviderError.code`), and :data:`RAW`, text kept from before
codes (shown as it is).
"""

from __future__ import annotations

import json
import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Final

from bot.i18n import N_, _
from bot.providers.errors import ProviderError, provider_error_text

# The tracker's reasons: the stored form of each (a bare code) -------------------------
TIMED_OUT_QUEUED: Final = "timed_out_queued"
TIMED_OUT_RUNNING: Final = "timed_out_running"
INTERRUPTED: Final = "interrupted"
SYNC_INTERRUPTED: Final = "sync_interrupted"
PROVIDER_GONE: Final = "provider_gone"
SYNC_UNEXPECTED: Final = "sync_unexpected"
SUBMIT_UNEXPECTED: Final = "submit_unexpected"
UNREADABLE: Final = "unreadable"
NOT_ACKNOWLEDGED: Final = "not_acknowledged"
FAILED_REMOTELY: Final = "failed_remotely"
CANCELLED: Final = "cancelled"
CANCELLED_REMOTELY: Final = "cancelled_remotely"
NO_IMAGE: Final = "no_image"
#: The synchronous API's safety filter held the image back.
WITHHELD: Final = "withheld"
#: A reframe's source link expired and Discord gave no fresh one: never sent.
SOURCE_EXPIRED: Final = "source_expired"
#: Text stored before codes, kept as ``{"detail": text}`` and shown as it is.
RAW: Final = "raw"

REASON_TEXTS: Final[Mapping[str, str]] = {
    TIMED_OUT_QUEUED: N_("Timed out waiting in the image service's queue. Please try again later."),
    TIMED_OUT_RUNNING: N_("Timed out while the image was being made. Please try again."),
    INTERRUPTED: N_(
        "The bot restarted before the image service confirmed this job; it was not resent, "
        "to avoid a double charge. Please try again."),
    SYNC_INTERRUPTED: N_(
        "The bot restarted while this image was being made. This image service answers "
        "only once, so the job could not be resumed, and it was not resent, to avoid a "
        "double charge. Please try again."),
    PROVIDER_GONE: N_(
        "The image service this job used is no longer set up on this bot. Please try again."),
    SYNC_UNEXPECTED: N_("The image service call failed unexpectedly. Please try again."),
    SUBMIT_UNEXPECTED: N_(
        "Sending the job to the image service failed unexpectedly. Please try again."),
    UNREADABLE: N_(
        "The image service's answers about this job could not be read. Please try again."),
    NOT_ACKNOWLEDGED: N_(
        "Discord didn't get the bot's reply in time, so this job was never sent to the image "
        "service and isn't counted. Please try again."),
    FAILED_REMOTELY: N_(
        "The image service could not make this image. Please try again, or change the "
        "prompt."),
    CANCELLED: N_("Stopped on request before it started; it isn't counted against any quota."),
    CANCELLED_REMOTELY: N_(
        "The image service stopped this job; it isn't counted against any quota. Please try "
        "again."),
    NO_IMAGE: N_("The image service made no image. Please try again, or change the prompt."),
    SOURCE_EXPIRED: N_(
        "Discord no longer serves the source image (it expired, or its message was "
        "deleted), so nothing was sent. Upload it again with `/reframe`."),
    WITHHELD: N_(
        "The image service's safety filter held this image back, so it isn't posted or "
        "counted. Try a different prompt."),
}

#: What :func:`render` says when nothing was stored (callers may say something else).
NO_REASON: Final = N_("the image service gave no reason")
#: What :func:`render` says for a value it cannot read.
UNKNOWN_REASON: Final = N_("The image could not be made. Please try again.")

#: The parameters a code takes, and their types (a code not named here takes none).
PARAM_TYPES: Final[Mapping[str, Mapping[str, type]]] = {
    "service_failure": {"status": int},
    RAW: {"detail": str},
}

_CODE: Final = re.compile(r"^[a-z][a-z0-9_]{0,63}$")
#: Longest text a parameter keeps.
PARAM_MAX: Final = 500

Param = str | int


@dataclass(frozen=True, slots=True)
class JobError:
    """One stored reason: ``code`` and what its text needs besides (``params``)."""

    code: str
    params: Mapping[str, Param] = field(default_factory=dict)

    def encode(self) -> str:
        """The text the ``error`` column holds."""
        if not _CODE.match(self.code):
            raise ValueError(f"not a job error code: {self.code!r}")
        if not self.params:
            return self.code
        params = {name: value[:PARAM_MAX] if isinstance(value, str) else value
                  for name, value in self.params.items()}
        text = json.dumps(params, sort_keys=True, ensure_ascii=False, separators=(",", ":"))
        return f"{self.code}:{text}"


def encode(code: str, **params: Param) -> str:
    """``code`` with ``params``, as stored: ``encode("service_failure", status=503)``."""
    return JobError(code, params).encode()


def decode(stored: str) -> JobError | None:
    """The reason ``stored`` holds, or None when it is not one :func:`encode` writes."""
    code, colon, rest = stored.partition(":")
    if not _CODE.match(code):
        return None
    if not colon:
        return JobError(code)
    try:
        params = json.loads(rest)
    except ValueError:
        return None
    if not isinstance(params, dict) or not _fits(code, params):
        return None
    return JobError(code, params)


def _fits(code: str, params: Mapping[str, object]) -> bool:
    """Tell whether ``params`` are what ``code`` takes.

    A code this version does not know takes any text or whole numbers.
    """
    if not all(isinstance(value, str | int) and not isinstance(value, bool)
               for value in params.values()):
        return False
    if code not in REASON_TEXTS and code not in PARAM_TYPES and provider_error_text(
            code) is None:
        return True
    types = PARAM_TYPES.get(code, {})
    return all(name in types and isinstance(value, types[name])
               for name, value in params.items())


def from_provider(exc: ProviderError) -> str:
    """How a provider error is stored: its code and parameters."""
    return encode(exc.code, **{name: value for name, value in exc.params.items()
                               if isinstance(value, str | int)})


def raw(text: str) -> str:
    """Text that is no code (kept from before codes), stored as :data:`RAW` detail."""
    return encode(RAW, detail=text)


def coerce(value: str) -> str:
    """``value`` when it is a stored reason already, else ``value`` kept as :func:`raw`."""
    return value if decode(value) is not None else raw(value)


def _text(reason: JobError) -> str | None:
    if reason.code == RAW:
        detail = reason.params.get("detail")
        return detail if isinstance(detail, str) and detail else None
    if reason.code in REASON_TEXTS:
        return _(REASON_TEXTS[reason.code])
    return provider_error_text(reason.code, reason.params)


def render_job_error(stored: str | None, default: str = NO_REASON) -> str:
    """A stored reason in the reader's language; ``default`` (a message id) for None."""
    if not stored:
        return _(default)
    reason = decode(stored)
    text = _text(reason) if reason is not None else None
    return text if text is not None else _(UNKNOWN_REASON)
