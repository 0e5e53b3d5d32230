"""The provider interface the tracker, quota and Discord code depend on."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, Protocol, runtime_checkable

from bot.providers.types import CancelOutcome, RequestResult, RequestStatus, SubmitReceipt


@runtime_checkable
class Provider(Protocol):
    """An image backend. RunComfy submits and is polled; every call may raise ProviderError."""

    async def submit(self, model: str, inputs: Mapping[str, Any]) -> SubmitReceipt: ...

    async def status(self, request_id: str) -> RequestStatus: ...

    async def result(self, request_id: str, *, include_cost: bool = True) -> RequestResult: ...

    async def cancel(self, request_id: str) -> CancelOutcome: ...

    async def aclose(self) -> None: ...
