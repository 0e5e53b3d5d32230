"""Bounded exponential backoff with full jitter."""

from __future__ import annotations

import random
from dataclasses import dataclass


@dataclass(frozen=True, slots=True)
class RetryPolicy:
    """At most ``attempts`` tries, and no retry that would start after ``total_seconds``."""

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


NO_RETRY = RetryPolicy(attempts=1)
