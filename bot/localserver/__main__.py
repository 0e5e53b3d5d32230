"""``python -m bot.localserver --port 8787 --token X --queue-seconds 2 --run-seconds 5``.

Serves the local RunComfy-compatible API until Ctrl-C. Timings take a number of seconds
or a ``LOW-HIGH`` range drawn per job (e.g. ``--queue-seconds 0-20``).
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import logging
import signal

from bot.localserver.app import LocalRunComfyServer
from bot.localserver.config import LocalServerConfig, Timing

logger = logging.getLogger(__name__)


def parse_timing(text: str) -> Timing:
    """``"2"`` → 2.0; ``"0-20"`` → (0.0, 20.0)."""
    low, sep, high = text.partition("-")
    try:
        if not sep:
            value = float(text)
            if value < 0:
                raise ValueError
            return value
        bounds = (float(low), float(high))
    except ValueError:
        raise argparse.ArgumentTypeError(
            f"expected seconds or LOW-HIGH, not {text!r}"
        ) from None
    if not 0 <= bounds[0] <= bounds[1]:
        raise argparse.ArgumentTypeError(f"expected 0 <= LOW <= HIGH, not {text!r}")
    return bounds


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="python -m bot.localserver",
        description="Run a local RunComfy-compatible API for the Ideogram models, and the "
                    "Ideogram-compatible POST /ideogram/generate.",
    )
    parser.add_argument("--host", default="127.0.0.1", help="address to bind (127.0.0.1)")
    parser.add_argument("--port", type=int, default=8787, help="port (8787; 0 picks one)")
    parser.add_argument("--token", default=LocalServerConfig.token,
                        help="bearer token clients must send")
    parser.add_argument("--queue-seconds", type=parse_timing, default=1.0,
                        help="time in queue: seconds or LOW-HIGH (1)")
    parser.add_argument("--run-seconds", type=parse_timing, default=2.0,
                        help="time running: seconds or LOW-HIGH (2)")
    parser.add_argument("--seed", type=int, default=None, help="seed for random timings")
    parser.add_argument("--log-level", default="INFO", help="logging level (INFO)")
    return parser


async def serve(config: LocalServerConfig, host: str, port: int) -> None:
    """Serve until SIGINT/SIGTERM (or cancellation)."""
    stopping = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):
        with contextlib.suppress(NotImplementedError, RuntimeError):
            loop.add_signal_handler(sig, stopping.set)
    async with LocalRunComfyServer(config, host=host, port=port) as server:
        logger.info("serving %s; Ctrl-C to stop", server.base_url)
        await stopping.wait()


def main(argv: list[str] | None = None) -> None:
    args = build_parser().parse_args(argv)
    logging.basicConfig(level=args.log_level.upper(),
                        format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    config = LocalServerConfig(token=args.token, queue_seconds=args.queue_seconds,
                               run_seconds=args.run_seconds, seed=args.seed)
    with contextlib.suppress(KeyboardInterrupt):
        asyncio.run(serve(config, args.host, args.port))


if __name__ == "__main__":
    main()
