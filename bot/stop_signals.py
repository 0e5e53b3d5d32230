"""SIGTERM and SIGINT from the first instant of ``python -m bot``.

Running as PID 1 in a container, a process drops every signal it has no handler for, and
the bot's graceful stop (:mod:`cogs.core.run`) is installed only once its event loop runs,
about half a second later (imports, settings, opening the database). Until then a stop
request is remembered here, and honoured as soon as the loop's handlers take over.
"""

from __future__ import annotations

import signal
from types import FrameType

STOP_SIGNALS: tuple[signal.Signals, ...] = (signal.SIGTERM, signal.SIGINT)

_requested: list[str] = []


def remember_early_stops() -> None:
    """Catch SIGTERM and SIGINT now, until :func:`early_stop_request` hands them on."""
    for sig in STOP_SIGNALS:
        signal.signal(sig, _remember)


def _remember(signum: int, frame: FrameType | None) -> None:
    _requested.append(signal.Signals(signum).name)


def early_stop_request() -> str | None:
    """The name of the first stop signal received before the bot could act on it, if any."""
    return _requested[0] if _requested else None
