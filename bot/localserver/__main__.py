"""``python -m bot.localserver --port 8787 --token X --queue-seconds 2 --run-seconds 5``.

Serves the local RunComfy-compatible API until Ctrl-C. Timings take a number of seconds
or a ``LOW-HIGH`` range drawn per job (e.g. ``--queue-seconds 0-20``); ``--fault`` sets
faults before the first request (see ``--help``).
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import logging
import signal

from bot.localserver.app import LocalRunComfyServer
from bot.localserver.config import DEFAULT_TOKEN, LocalServerConfig, Timing
from bot.localserver.faults import Faults

logger = logging.getLogger(__name__)

FAULTS_HELP = """\
faults: each applies to the next COUNT requests (default 1) of one KIND: submit, status,
result, cancel, file (the picture download) or generate (POST /ideogram/generate); with
no kind, to any of them but file. The oldest matching fault answers a request.

  rate_limit            429 "rate limited" with Retry-After (keys: kind, retry_after=1)
  server_error          500 "internal error" (keys: kind)
  slow                  wait SECONDS, then answer normally; a slow submit creates its
                        job first (keys: kind, seconds=1)
  malformed             200 whose body is not JSON (keys: kind)
  insufficient_balance  402 "Insufficient balance"; no job is made (keys: kind=submit
                        or generate; default submit)
  error_body            200 carrying an error: {"error_code": CODE, "error_message":
                        MESSAGE}, or the envelope on generate (keys: kind,
                        code=500001, message="something")
  fail_jobs             the next COUNT accepted jobs end "failed", a generate with a
                        500 (no other keys)

  On generate, errors use the synchronous API's envelope
  {"code": "429", "message": ..., "data": null}.

Set them at start with --fault (repeatable), or while running with
POST /_control/faults (bearer token) and the same JSON, a list of such objects, or
{"clear": true}; GET /_control/state shows counters, jobs and pending faults:

  --fault '{"fault": "rate_limit", "count": 2, "kind": "status", "retry_after": 3}'
  curl -H "Authorization: Bearer TOKEN" -d '{"fault": "slow", "seconds": 5}' \\
       http://127.0.0.1:8787/_control/faults

Prompt markers: a text input containing [fail] makes its job end "failed" (a 500 on
generate); a generate prompt containing [unsafe] comes back withheld
(is_image_safe false, url null).
"""


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


def parse_fault(text: str) -> object:
    """A ``--fault`` value: the JSON of ``POST /_control/faults``, checked now."""
    try:
        spec: object = json.loads(text)
        Faults().apply(spec)
    except json.JSONDecodeError:
        raise argparse.ArgumentTypeError(f"expected JSON, not {text!r}") from None
    except ValueError as exc:
        raise argparse.ArgumentTypeError(str(exc)) from None
    return spec


def build_parser() -> argparse.ArgumentParser:
    """The command line, with every fault knob described in its epilog."""
    parser = argparse.ArgumentParser(
        prog="python -m bot.localserver",
        description="Run a local server compatible with RunComfy's model API for the "
                    "Ideogram models, and with the Ideogram-compatible synchronous API "
                    "(POST /ideogram/generate).",
        epilog=FAULTS_HELP,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument("--host", default="127.0.0.1", help="address to bind (127.0.0.1)")
    parser.add_argument("--port", type=int, default=8787, help="port (8787; 0 picks one)")
    parser.add_argument("--token", default=DEFAULT_TOKEN,
                        help="token clients must send (bearer, or Api-Key on generate)")
    parser.add_argument("--queue-seconds", type=parse_timing, default=1.0,
                        help="time in queue: seconds or LOW-HIGH (1)")
    parser.add_argument("--run-seconds", type=parse_timing, default=2.0,
                        help="time running: seconds or LOW-HIGH (2)")
    parser.add_argument("--seed", type=int, default=None, help="seed for random timings")
    parser.add_argument("--fault", type=parse_fault, action="append", default=[],
                        metavar="JSON", help="a fault to set at start (repeatable; below)")
    parser.add_argument("--log-level", default="INFO", help="logging level (INFO)")
    return parser


def prepare_server(config: LocalServerConfig, host: str, port: int,
                   faults: list[object] | None = None) -> LocalRunComfyServer:
    """A server not started yet, with ``faults`` (``--fault`` values) already set."""
    server = LocalRunComfyServer(config, host=host, port=port)
    for spec in faults or []:
        server.state.faults.apply(spec)
    return server


async def serve(config: LocalServerConfig, host: str, port: int,
                faults: list[object] | None = None) -> None:
    """Serve until SIGINT/SIGTERM (or cancellation), with ``faults`` set at start."""
    stopping = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):
        with contextlib.suppress(NotImplementedError, RuntimeError):
            loop.add_signal_handler(sig, stopping.set)
    async with prepare_server(config, host, port, faults) as server:
        logger.info("serving %s; Ctrl-C to stop", server.base_url)
        await stopping.wait()


def main(argv: list[str] | None = None) -> None:
    """Run the server from the command line until Ctrl-C or SIGTERM."""
    args = build_parser().parse_args(argv)
    logging.basicConfig(level=args.log_level.upper(),
                        format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    config = LocalServerConfig(token=args.token, queue_seconds=args.queue_seconds,
                               run_seconds=args.run_seconds, seed=args.seed)
    with contextlib.suppress(KeyboardInterrupt):
        asyncio.run(serve(config, args.host, args.port, args.fault))


if __name__ == "__main__":
    main()
