"""The provider interfaces the tracker, quota and Discord code depend on.

Two kinds of backend:

- :class:`Provider` (RunComfy) accepts a job at once and is polled: submit, status,
  result, cancel.
- :class:`SyncProvider` (the Ideogram-compatible synchronous API) makes the image in one
  long call. The tracker runs that call as a task it owns, so a job still goes
  queued → in progress → done, with the same time limits, events and quota settlement.

The tracker tells them apart with ``isinstance(provider, SyncProvider)``.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, Protocol, runtime_checkable

from bot.config import ProviderName
from bot.providers.types import CancelOutcome, RequestResult, RequestStatus, SubmitReceipt


@runtime_checkable
class Provider(Protocol):
    """An image backend. RunComfy submits and is polled; every call may raise ProviderError."""

    async def submit(self, model: str, inputs: Mapping[str, Any]) -> SubmitReceipt:
        """Queue a job; return its request id (never resend once this returned or failed late)."""

    async def status(self, request_id: str) -> RequestStatus:
        """Return where a request is (queued, running or ended)."""

    async def result(self, request_id: str, *, include_cost: bool = True) -> RequestResult:
        """Return a request's outcome: its images, or why it failed."""

    async def cancel(self, request_id: str) -> CancelOutcome:
        """Ask the provider to cancel a request; say whether it did."""

    async def aclose(self) -> None:
        """Close the client's connections."""


@runtime_checkable
class SyncProvider(Protocol):
    """A backend that answers with the image in one call (tens of seconds).

    ``generate`` returns a :class:`RequestResult` that is ``completed`` (with image URLs)
    or ``failed`` (with a user-facing ``error``, e.g. a withheld image), or raises
    ProviderError. It is never retried once the request was sent: a second call is a
    second charge.
    """

    async def generate(self, model: str, inputs: Mapping[str, Any]) -> RequestResult:
        """Make the image in one call; return the result."""

    async def aclose(self) -> None:
        """Close the client's connections."""


AnyProvider = Provider | SyncProvider

#: Keys of the tracker's providers dict: RunComfy (real, or the local preview server) and
#: the Ideogram-compatible synchronous API. ``job.provider`` holds one of them.
RUNCOMFY_KEYS: tuple[str, ...] = ("runcomfy", "local")
IDEOGRAM_KEY = "ideogram"


def provider_kind(key: str) -> ProviderName:
    """The backend a provider key belongs to (``local`` is RunComfy's preview)."""
    return ProviderName.IDEOGRAM if key == IDEOGRAM_KEY else ProviderName.RUNCOMFY
