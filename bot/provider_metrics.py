"""Counts every provider call, without touching the clients.

The counter is ``ideogram_provider_requests_total``. Each provider is wrapped in an object
with the same methods that counts the outcome of each call (after the client's own
retries) and passes everything through.

The wrapper keeps the provider's kind: a polled provider's wrapper has no ``generate`` and
a synchronous one's has only ``generate``, so ``isinstance(p, SyncProvider)`` still tells
them apart.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable, Mapping
from typing import Any, TypeVar

from bot.metrics import count_provider_request
from bot.providers import errors
from bot.providers.base import AnyProvider, Provider, SyncProvider
from bot.providers.types import (
    CancelOutcome,
    RemoteState,
    RequestResult,
    RequestStatus,
    SubmitReceipt,
)

T = TypeVar("T")

#: Most specific first.
_ERROR_OUTCOMES: tuple[tuple[type[errors.ProviderError], str], ...] = (
    (errors.RateLimited, "rate_limited"),
    (errors.SubmitUncertain, "uncertain"),
    (errors.ProviderUnavailable, "unavailable"),
    (errors.MalformedResponse, "malformed"),
    (errors.InputRejected, "rejected"),
    (errors.RequestNotFound, "not_found"),
    (errors.AuthenticationError, "auth"),
)


def outcome_of(error: BaseException) -> str:
    """The ``outcome`` label for a call that raised ``error``."""
    if isinstance(error, asyncio.CancelledError):
        return "cancelled"  # the tracker's time limit, or a shutdown
    if isinstance(error, TimeoutError):
        return "timeout"
    for kind, outcome in _ERROR_OUTCOMES:
        if isinstance(error, kind):
            return outcome
    return "error"


async def _counted(provider: str, endpoint: str, call: Awaitable[T],
                   outcome_for: Callable[[T], str] | None = None) -> T:
    try:
        result = await call
    except BaseException as exc:
        count_provider_request(provider, endpoint, outcome_of(exc))
        raise
    count_provider_request(provider, endpoint,
                           outcome_for(result) if outcome_for is not None else "ok")
    return result


def _result_outcome(result: RequestResult) -> str:
    return "failed" if result.state is RemoteState.FAILED else "ok"


class MeteredProvider:
    """A polled provider (RunComfy) whose calls are counted."""

    def __init__(self, key: str, inner: Provider) -> None:
        self.key = key
        self.inner = inner

    async def submit(self, model: str, inputs: Mapping[str, Any]) -> SubmitReceipt:
        """Submit through the wrapped provider, counting the call."""
        return await _counted(self.key, "submit", self.inner.submit(model, inputs))

    async def status(self, request_id: str) -> RequestStatus:
        """Ask the wrapped provider for a status, counting the call."""
        return await _counted(self.key, "status", self.inner.status(request_id))

    async def result(self, request_id: str, *, include_cost: bool = True) -> RequestResult:
        """Fetch a result from the wrapped provider, counting the call."""
        return await _counted(self.key, "result",
                              self.inner.result(request_id, include_cost=include_cost),
                              _result_outcome)

    async def cancel(self, request_id: str) -> CancelOutcome:
        """Cancel through the wrapped provider, counting the call."""
        return await _counted(self.key, "cancel", self.inner.cancel(request_id))

    async def aclose(self) -> None:
        """Close the wrapped provider."""
        await self.inner.aclose()


class MeteredSyncProvider:
    """A synchronous provider (the Ideogram-compatible API) whose calls are counted."""

    def __init__(self, key: str, inner: SyncProvider) -> None:
        self.key = key
        self.inner = inner

    async def generate(self, model: str, inputs: Mapping[str, Any]) -> RequestResult:
        """Make the image through the wrapped provider, counting the call."""
        return await _counted(self.key, "generate", self.inner.generate(model, inputs),
                              _result_outcome)

    async def aclose(self) -> None:
        """Close the wrapped provider."""
        await self.inner.aclose()


def metered(providers: Mapping[str, AnyProvider]) -> dict[str, AnyProvider]:
    """The same providers, each wrapped so its calls are counted (keys unchanged)."""
    wrapped: dict[str, AnyProvider] = {}
    for key, provider in providers.items():
        if isinstance(provider, MeteredProvider | MeteredSyncProvider):
            wrapped[key] = provider
        elif isinstance(provider, SyncProvider):
            wrapped[key] = MeteredSyncProvider(key, provider)
        else:
            wrapped[key] = MeteredProvider(key, provider)
    return wrapped
