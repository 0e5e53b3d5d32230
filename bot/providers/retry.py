"""Retries of provider calls: tenacity, with bounded exponential backoff and full jitter.

:class:`RetryPolicy` is what can be tuned (and what tests shorten); :meth:`RetryPolicy.retrying`
turns it into tenacity's ``AsyncRetrying`` for one kind of call, which decides what is worth
another try.
"""

from __future__ import annotations

import logging
import random
from collections.abc import Awaitable, Callable
from dataclasses import dataclass

from tenacity import (
    AsyncRetrying,
    RetryCallState,
    retry_if_exception,
    stop_after_attempt,
    stop_before_delay,
)

#: Reads from an exception the seconds a server asked to wait before the next try, if any.
RetryAfter = Callable[[BaseException], float | None]


def _no_retry_after(exc: BaseException) -> float | None:
    return None


@dataclass(frozen=True, slots=True)
class RetryPolicy:
    """How a kind of call is retried.

    At most ``attempts`` tries, and no retry that would start at or after ``total_seconds``
    from the first try (``math.inf``: no time limit).
    """

    attempts: int = 4
    base_delay: float = 0.5
    max_delay: float = 8.0
    total_seconds: float = 30.0

    def delay(self, attempt: int, retry_after: float | None = None,
              rng: random.Random | None = None) -> float:
        """Seconds to wait before try ``attempt + 1`` (``attempt`` counts from 1).

        A server's ``Retry-After`` is honoured as a floor; otherwise full jitter over the
        exponential ceiling.
        """
        ceiling = min(self.max_delay, self.base_delay * (2 ** (attempt - 1)))
        jittered = (rng or random).uniform(ceiling / 2, ceiling)
        if retry_after is not None:
            return max(retry_after, jittered / 4)
        return jittered

    def retrying(self, *, retry_on: Callable[[BaseException], bool],
                 sleep: Callable[[float], Awaitable[None]], log: logging.Logger, what: str,
                 retry_after: RetryAfter = _no_retry_after) -> AsyncRetrying:
        """Tenacity's retrying for one kind of call under this policy.

        Exceptions ``retry_on`` accepts are tried again (each retry logged at INFO with
        ``what``); the last one, or any other, is raised as it is. ``retry_after`` reads the
        delay a server asked for from an exception, if any.
        """
        def wait(state: RetryCallState) -> float:
            exc = state.outcome.exception() if state.outcome is not None else None
            asked = retry_after(exc) if exc is not None else None
            return self.delay(state.attempt_number, asked)

        def before_sleep(state: RetryCallState) -> None:
            exc = state.outcome.exception() if state.outcome is not None else None
            sleep_for = state.next_action.sleep if state.next_action is not None else 0.0
            # The class only: a provider error's text may quote the provider's answer.
            log.info("%s failed (%s); retry %d in %.1fs", what, type(exc).__name__,
                     state.attempt_number, sleep_for)

        return AsyncRetrying(
            stop=stop_after_attempt(self.attempts) | stop_before_delay(self.total_seconds),
            wait=wait, retry=retry_if_exception(retry_on), sleep=sleep,
            before_sleep=before_sleep, reraise=True)
