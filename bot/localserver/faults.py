"""Fault injection for the local server, switchable at run time, and its middleware.

Every fault is a *rule* that applies to the next ``count`` requests of one kind
(``submit``, ``status``, ``result``, ``cancel``, ``file``, or ``generate``: the
Ideogram-compatible synchronous ``/ideogram/generate``) or, with ``kind=None``, of any API
kind (submit, status, result, cancel, generate; never ``file``). On ``generate`` the error
answers use that API's envelope ``{"code": "500", "message": ..., "data": null}``. Each
request takes at most one rule: the oldest matching one, whose ``remaining`` count then
goes down by one.

From Python (``server.state.faults``)::

    faults.rate_limit(2, kind="status", retry_after=1)   # 429 + Retry-After
    faults.server_error(1)                                # 500 {"detail": "internal error"}
    faults.slow(0.5, kind="submit")                       # sleep, then answer normally
    faults.malformed(1, kind="result")                    # 200, body ``{not json``
    faults.insufficient_balance(1)                        # 402 on the next submit
    faults.insufficient_balance(1, kind="generate")       # 402 on the next generate
    faults.error_body(1, kind="status")                   # 200 {"error_code": 500001, ...}
    faults.fail_jobs(1)                                   # next submit's job ends "failed"
    faults.clear()

Out of process, ``POST /_control/faults`` with the same names as JSON, e.g.
``{"fault": "rate_limit", "count": 2, "kind": "status", "retry_after": 1}``, a list of
such objects, or ``{"clear": true}`` (see :meth:`Faults.apply`); at start,
``python -m bot.localserver --fault JSON`` (repeatable) with the same objects.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable, Mapping
from dataclasses import asdict, dataclass
from typing import Any, Final, Literal, cast

from aiohttp import web

from bot.localserver.web_common import (
    Handler,
    detail_answer,
    envelope_answer,
    malformed_answer,
    request_kind,
    seconds_header,
)

logger = logging.getLogger(__name__)

RequestKind = Literal["submit", "status", "result", "cancel", "file", "generate"]
BalanceKind = Literal["submit", "generate"]
FaultName = Literal[
    "rate_limit", "server_error", "slow", "malformed", "insufficient_balance", "error_body"
]

REQUEST_KINDS: Final[tuple[str, ...]] = (
    "submit", "status", "result", "cancel", "file", "generate",
)
#: Kinds a rule with ``kind=None`` applies to.
API_KINDS: Final[tuple[str, ...]] = ("submit", "status", "result", "cancel", "generate")
FAULT_NAMES: Final[tuple[str, ...]] = (
    "rate_limit", "server_error", "slow", "malformed", "insufficient_balance", "error_body",
)


@dataclass(slots=True)
class FaultRule:
    """One pending fault: ``fault`` for the next ``remaining`` requests of ``kind``."""

    fault: FaultName
    remaining: int
    kind: RequestKind | None = None
    #: ``rate_limit``: the ``Retry-After`` header value, in seconds.
    retry_after: float = 1.0
    #: ``slow``: how long to sleep before answering.
    seconds: float = 0.0
    #: ``error_body``: the ``error_code`` and ``error_message`` of the 200 answer.
    code: int = 500001
    message: str = "something"

    def matches(self, kind: str) -> bool:
        """True when this rule has uses left and applies to a request of ``kind``."""
        if self.remaining <= 0:
            return False
        if self.kind is None:
            return kind in API_KINDS
        return self.kind == kind

    def to_dict(self) -> dict[str, Any]:
        """The rule as JSON-ready fields."""
        return asdict(self)


def _check_count(count: int) -> int:
    if isinstance(count, bool) or not isinstance(count, int) or count < 1:
        raise ValueError(f"count must be a positive integer, not {count!r}")
    return count


def _check_kind(kind: str | None) -> RequestKind | None:
    if kind is not None and kind not in REQUEST_KINDS:
        raise ValueError(f"kind must be one of {', '.join(REQUEST_KINDS)} or null, not {kind!r}")
    return cast("RequestKind | None", kind)


def _check_seconds(name: str, value: float) -> float:
    if isinstance(value, bool) or not isinstance(value, int | float) or value < 0:
        raise ValueError(f"{name} must be a non-negative number, not {value!r}")
    return float(value)


class Faults:
    """The pending faults of one server. Not thread-safe: use it from the server's loop."""

    def __init__(self) -> None:
        self._rules: list[FaultRule] = []
        #: How many of the next accepted submits produce jobs that end ``failed``.
        self.fail_next_submits: int = 0

    # -- setting faults ---------------------------------------------------------------

    def rate_limit(
        self, count: int = 1, *, kind: RequestKind | None = None, retry_after: float = 1.0
    ) -> FaultRule:
        """Answer 429 ``{"detail": "rate limited"}`` with ``Retry-After: <retry_after>``."""
        seconds = _check_seconds("retry_after", retry_after)
        return self._add(FaultRule("rate_limit", count, kind, retry_after=seconds))

    def server_error(self, count: int = 1, *, kind: RequestKind | None = None) -> FaultRule:
        """Answer 500 ``{"detail": "internal error"}``."""
        return self._add(FaultRule("server_error", count, kind))

    def slow(
        self, seconds: float, count: int = 1, *, kind: RequestKind | None = None
    ) -> FaultRule:
        """Sleep ``seconds`` before answering normally.

        A slow submit still creates its job before sleeping, as a real provider that
        accepted it would.
        """
        delay = _check_seconds("seconds", seconds)
        return self._add(FaultRule("slow", count, kind, seconds=delay))

    def malformed(self, count: int = 1, *, kind: RequestKind | None = None) -> FaultRule:
        """Answer 200 with the body ``{not json`` and ``content-type: application/json``."""
        return self._add(FaultRule("malformed", count, kind))

    def insufficient_balance(self, count: int = 1, *,
                             kind: BalanceKind = "submit") -> FaultRule:
        """Answer the next submits 402 ``{"error_code": 400002, ...}``; no job is created.

        With ``kind="generate"``, the next generates get 402 in the synchronous API's
        envelope.
        """
        if kind not in ("submit", "generate"):
            raise ValueError("insufficient_balance applies to submit or generate")
        return self._add(FaultRule("insufficient_balance", count, kind))

    def error_body(
        self,
        count: int = 1,
        *,
        kind: RequestKind | None = None,
        code: int = 500001,
        message: str = "something",
    ) -> FaultRule:
        """Answer HTTP 200 with ``{"error_code": code, "error_message": message}``."""
        return self._add(FaultRule("error_body", count, kind, code=code, message=message))

    def fail_jobs(self, count: int = 1) -> None:
        """Make the jobs of the next ``count`` accepted submits end ``failed``."""
        self.fail_next_submits += _check_count(count)

    def clear(self) -> None:
        """Drop every pending fault, including :meth:`fail_jobs`."""
        self._rules.clear()
        self.fail_next_submits = 0

    # -- reading and consuming --------------------------------------------------------

    @property
    def pending(self) -> list[FaultRule]:
        """The rules not used up yet, oldest first."""
        return [rule for rule in self._rules if rule.remaining > 0]

    def take(self, kind: str) -> FaultRule | None:
        """Consume one use of the oldest rule matching a request of ``kind``."""
        for rule in self._rules:
            if rule.matches(kind):
                rule.remaining -= 1
                self._rules = [r for r in self._rules if r.remaining > 0]
                logger.debug("fault %s on a %s request", rule.fault, kind)
                return rule
        return None

    def take_failing_job(self) -> bool:
        """True (once per :meth:`fail_jobs` count) when the next job must fail."""
        if self.fail_next_submits > 0:
            self.fail_next_submits -= 1
            return True
        return False

    def snapshot(self) -> dict[str, Any]:
        """The pending rules and failing-job count, JSON-ready."""
        return {
            "pending": [rule.to_dict() for rule in self.pending],
            "fail_next_submits": self.fail_next_submits,
        }

    # -- JSON control -------------------------------------------------------------------

    def apply(self, spec: object) -> None:
        """Apply a JSON control body: ``{"clear": true}``, ``{"fault": name, ...}`` or a list.

        Keys besides ``fault``: ``count`` (default 1), ``kind``, ``retry_after``
        (rate_limit), ``seconds`` (slow), ``code`` and ``message`` (error_body). The fault
        ``fail_jobs`` takes only ``count``. Raises ``ValueError`` on anything else; in a
        list, nothing is applied unless every item is valid.
        """
        items = spec if isinstance(spec, list) else [spec]
        actions = [self._parse(item) for item in items]
        for action in actions:
            action()

    def _parse(self, item: object) -> Callable[[], object]:
        if not isinstance(item, Mapping):
            raise ValueError("each fault must be a JSON object")
        if item.get("clear") is True and "fault" not in item:
            return self.clear
        name = item.get("fault")
        count = _check_count(item.get("count", 1))
        kind = _check_kind(item.get("kind"))
        if not isinstance(name, str) or name not in _ALLOWED_KEYS:
            names = ", ".join((*FAULT_NAMES, "fail_jobs"))
            raise ValueError(f"unknown fault {name!r}: use one of {names}, or clear")
        unknown = set(item) - {"fault", "count"} - _ALLOWED_KEYS[name]
        if unknown:
            raise ValueError(f"unexpected keys for {name}: {', '.join(sorted(unknown))}")
        return _builder(self, name, count, kind, item)

    def _add(self, rule: FaultRule) -> FaultRule:
        _check_count(rule.remaining)
        _check_kind(rule.kind)
        self._rules.append(rule)
        logger.info("fault set: %s", rule)
        return rule


_ALLOWED_KEYS: Final[dict[str, set[str]]] = {
    "rate_limit": {"kind", "retry_after"},
    "server_error": {"kind"},
    "slow": {"kind", "seconds"},
    "malformed": {"kind"},
    "insufficient_balance": {"kind"},
    "error_body": {"kind", "code", "message"},
    "fail_jobs": set(),
}


def _builder(
    faults: Faults, name: str, count: int, kind: RequestKind | None, item: Mapping[str, Any]
) -> Callable[[], object]:
    """A zero-argument callable that sets the fault, built only after validation."""
    if name == "rate_limit":
        retry_after = _check_seconds("retry_after", item.get("retry_after", 1.0))
        return lambda: faults.rate_limit(count, kind=kind, retry_after=retry_after)
    if name == "slow":
        seconds = _check_seconds("seconds", item.get("seconds", 1.0))
        return lambda: faults.slow(seconds, count, kind=kind)
    if name == "error_body":
        code, message = item.get("code", 500001), item.get("message", "something")
        if isinstance(code, bool) or not isinstance(code, int) or not isinstance(message, str):
            raise ValueError("error_body needs an integer code and a string message")
        return lambda: faults.error_body(count, kind=kind, code=code, message=message)
    if name == "server_error":
        return lambda: faults.server_error(count, kind=kind)
    if name == "malformed":
        return lambda: faults.malformed(count, kind=kind)
    if name == "insufficient_balance":
        target = kind or "submit"
        if target not in ("submit", "generate"):
            raise ValueError("insufficient_balance applies to submit or generate")
        return lambda: faults.insufficient_balance(count, kind=target)
    return lambda: faults.fail_jobs(count)


# -- answering with faults ------------------------------------------------------------------

INSUFFICIENT_BALANCE_BODY: Final[Mapping[str, Any]] = {
    "error_code": 400002, "error_message": "Insufficient balance",
}
#: Where a server keeps its :class:`Faults` for the middleware.
FAULTS_KEY: Final = web.AppKey("faults", Faults)


def fault_answer(rule: FaultRule, *, envelope: bool) -> web.Response:
    """The answer a fault gives instead of the real one (every fault but ``slow``).

    In RunComfy's style or, with ``envelope``, in the synchronous API's envelope.
    """
    error = envelope_answer if envelope else detail_answer
    if rule.fault == "rate_limit":
        return error(429, "rate limited", {"Retry-After": seconds_header(rule.retry_after)})
    if rule.fault == "server_error":
        return error(500, "internal error")
    if rule.fault == "malformed":
        return malformed_answer()
    if rule.fault == "insufficient_balance":
        if envelope:
            return envelope_answer(402, "Insufficient balance")
        return web.json_response(dict(INSUFFICIENT_BALANCE_BODY), status=402)
    # error_body: HTTP 200 that carries an error, as both real APIs sometimes answer.
    if envelope:
        return web.json_response({"code": str(rule.code), "message": rule.message,
                                  "data": None})
    return web.json_response({"error_code": rule.code, "error_message": rule.message})


@web.middleware
async def fault_middleware(request: web.Request, handler: Handler) -> web.StreamResponse:
    """Answer with the oldest pending fault for this kind of request, if there is one."""
    kind = request_kind(request)
    rule = request.app[FAULTS_KEY].take(kind)
    if rule is None:
        return await handler(request)
    logger.info("fault %s on %s %s", rule.fault, request.method, request.path)
    if rule.fault != "slow":
        return fault_answer(rule, envelope=kind == "generate")
    if kind == "submit":
        # A slow submit creates its job first, as a provider that accepted it would.
        response = await handler(request)
        await asyncio.sleep(rule.seconds)
        return response
    await asyncio.sleep(rule.seconds)
    return await handler(request)
