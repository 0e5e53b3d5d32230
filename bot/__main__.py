"""``python -m bot``: catch the stop signals at once, then run the command line (bot/cli.py).

Importing the bot takes about half a second; as PID 1 in a container, a SIGTERM in that
time would otherwise be dropped, so the signals are caught before anything else is
imported (:mod:`bot.stop_signals`).
"""

from __future__ import annotations

import sys

from bot.stop_signals import remember_early_stops


def main(argv: list[str] | None = None) -> int:
    """Run ``python -m bot [backup PATH | healthcheck | migrate-to-postgres …]``."""
    remember_early_stops()
    from bot.cli import main as run_command_line  # after the signals are caught

    return run_command_line(sys.argv[1:] if argv is None else argv)


if __name__ == "__main__":
    raise SystemExit(main())
