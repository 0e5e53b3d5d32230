"""The fake Discord's request log: every request it answered, queries over them, and
waiting for one to arrive."""

from __future__ import annotations

import asyncio
import contextlib
import re
from collections.abc import Callable
from typing import Any

from tests.harness.fake_base import FakeDiscordBase
from tests.harness.records import RecordedRequest


class RequestLog(FakeDiscordBase):
    """Queries over ``requests`` and :meth:`wait_for`."""

    _waiters: list[tuple[Callable[[RecordedRequest], bool], asyncio.Future[RecordedRequest]]]

    def calls(
        self, method: str | None = None, path_regex: str | None = None
    ) -> list[RecordedRequest]:
        """Recorded requests filtered by method (None/"*" = any) and ``re.search`` on path."""
        pattern = re.compile(path_regex) if path_regex else None
        return [
            r
            for r in self.requests
            if (method in (None, "*") or r.method == method.upper())
            and (pattern is None or pattern.search(r.path))
        ]

    def interaction_callbacks(
        self, interaction_id: int | str | None = None
    ) -> list[dict[str, Any]]:
        """Bodies of ``POST /interactions/{id}/{token}/callback`` (``{"type", "data"}``;
        ``data.flags`` 64 = ephemeral), for one interaction or all, in order."""
        iid = r"\d+" if interaction_id is None else re.escape(str(interaction_id))
        return [r.json for r in self.calls("POST", rf"^/interactions/{iid}/[^/]+/callback$")]

    def edits_of_original(self, token: str) -> list[RecordedRequest]:
        """The ``PATCH /webhooks/{app}/{token}/messages/@original`` requests, in order."""
        return self.calls("PATCH", rf"^/webhooks/\d+/{re.escape(token)}/messages/@original$")

    def followups(self, token: str) -> list[RecordedRequest]:
        """The ``POST /webhooks/{app}/{token}`` (followup) requests, in order."""
        return self.calls("POST", rf"^/webhooks/\d+/{re.escape(token)}$")

    def summary(self) -> str:
        """One line per recorded request, for assertion messages."""
        return "\n".join(f"{r.method} {r.path} -> {r.status}" for r in self.requests) or "(none)"

    async def wait_for(
        self,
        predicate: Callable[[RecordedRequest], bool] | None = None,
        *,
        method: str | None = None,
        path: str | None = None,
        timeout: float = 5.0,  # noqa: ASYNC109 - the documented API
        since: int = 0,
    ) -> RecordedRequest:
        """Wait until a request matching *predicate* and/or *method*/*path* (regex) has
        arrived and return it. Requests already recorded (from index *since*) count.
        Event-based (no polling); raises AssertionError after *timeout* seconds."""
        pattern = re.compile(path) if path else None

        def match(r: RecordedRequest) -> bool:
            if method not in (None, "*") and r.method != method.upper():
                return False
            if pattern is not None and not pattern.search(r.path):
                return False
            return predicate is None or bool(predicate(r))

        for r in self.requests[since:]:
            if match(r):
                return r
        fut: asyncio.Future[RecordedRequest] = asyncio.get_running_loop().create_future()
        waiter = (match, fut)
        self._waiters.append(waiter)
        try:
            return await asyncio.wait_for(fut, timeout)
        except TimeoutError:
            raise AssertionError(
                f"no matching request ({method} {path}) within {timeout}s; got:\n{self.summary()}"
            ) from None
        finally:
            with contextlib.suppress(ValueError):
                self._waiters.remove(waiter)

    def _notify(self, rec: RecordedRequest) -> None:
        for match, fut in list(self._waiters):
            if fut.done():
                continue
            try:
                if match(rec):
                    fut.set_result(rec)
            except Exception as exc:
                fut.set_exception(exc)
