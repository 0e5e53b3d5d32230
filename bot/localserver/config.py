"""Settings of one local server, and how its per-job timings are drawn."""

from __future__ import annotations

import random
import time
from collections.abc import Callable
from dataclasses import dataclass

#: A timing: a fixed number of seconds, a ``(low, high)`` range drawn per job with
#: ``random.uniform``, or a zero-argument callable returning seconds.
Timing = float | tuple[float, float] | Callable[[], float]

DEFAULT_TOKEN = "local-preview-token"


@dataclass
class LocalServerConfig:
    """Settings of one local server.

    ``queue_seconds``/``run_seconds`` accept a number, a ``(low, high)`` range (uniform
    per job, from ``random.Random(seed)``) or a callable.

    ``clock`` is the monotonic clock every job time is measured with (inject a fake one to
    step time in tests); ``wall_clock`` gives the epoch time ``created_at`` is based on.
    ``input_hosts``: ``host:port`` (or base URLs) the server may fetch reframe inputs from
    whatever their address (tests: the fake Discord on loopback); elsewhere only public
    addresses are fetched.
    The config is read at each submit, so changing a timing later affects later jobs.
    """

    token: str = DEFAULT_TOKEN
    queue_seconds: Timing = 1.0
    run_seconds: Timing = 2.0
    seed: int | None = None
    clock: Callable[[], float] = time.monotonic
    wall_clock: Callable[[], float] = time.time
    input_hosts: tuple[str, ...] = ()


def draw_seconds(timing: Timing, rng: random.Random) -> float:
    """One job's seconds from ``timing`` (never negative)."""
    if callable(timing):
        return max(0.0, float(timing()))
    if isinstance(timing, tuple):
        low, high = timing
        return max(0.0, rng.uniform(low, high))
    return max(0.0, float(timing))
