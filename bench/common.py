"""What the benchmarks share: free ports, the local provider server in its own process,
CPU and memory readings, percentiles, and the learned history a bot in use has."""

from __future__ import annotations

import json
import math
import os
import random
import resource
import secrets
import signal
import socket
import subprocess
import sys
import tempfile
import time
import urllib.request
from collections.abc import Iterable, Sequence
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def get_json(url: str, token: str | None = None, timeout: float = 30.0) -> Any:
    headers = {"Authorization": f"Bearer {token}"} if token else {}
    request = urllib.request.Request(url, headers=headers)
    with urllib.request.urlopen(request, timeout=timeout) as response:
        return json.loads(response.read())


def post_json(url: str, body: Any, timeout: float = 60.0) -> Any:
    request = urllib.request.Request(url, data=json.dumps(body).encode(), method="POST",
                                     headers={"Content-Type": "application/json"})
    with urllib.request.urlopen(request, timeout=timeout) as response:
        return json.loads(response.read())


def rusage() -> tuple[float, float]:
    """(CPU seconds, user + system, all threads; peak RSS in MB) of this process."""
    usage = resource.getrusage(resource.RUSAGE_SELF)
    return usage.ru_utime + usage.ru_stime, usage.ru_maxrss / 1024  # ru_maxrss: KiB on Linux


def proc_cpu(pid: int) -> float:
    """utime + stime of a process, from /proc (nan if unreadable)."""
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
        return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")
    except (OSError, IndexError, ValueError):
        return math.nan


def same_time_namespace(pid: int) -> bool | None:
    """Whether ``pid`` reads the same CLOCK_MONOTONIC as this process (None: unknown)."""
    try:
        return os.readlink(f"/proc/{pid}/ns/time") == os.readlink("/proc/self/ns/time")
    except OSError:
        return None


def value_range(text: str) -> tuple[float, float]:
    """``"2"`` → (2, 2); ``"1-3"`` → (1, 3)."""
    low, _, high = text.partition("-")
    return float(low), float(high or low)


def percentile(values: Sequence[float], q: float) -> float:
    """The ``q``-th percentile (0-100), nearest rank; nan for no values."""
    if not values:
        return math.nan
    ordered = sorted(values)
    rank = max(1, math.ceil(q / 100 * len(ordered)))
    return ordered[min(rank, len(ordered)) - 1]


def markdown_table(head: Sequence[str], rows: Iterable[Sequence[object]]) -> str:
    """A Markdown table: *head*'s titles, the rule under them, then one line a row."""
    lines = ["| " + " | ".join(head) + " |", "|" + "---|" * len(head)]
    lines += ["| " + " | ".join(str(cell) for cell in row) + " |" for row in rows]
    return "\n".join(lines)


class LocalProvider:
    """``python -m bot.localserver`` on a free loopback port, in its own process."""

    def __init__(self, *, queue: str, run: str, seed: int = 1) -> None:
        self.token = secrets.token_hex(16)
        self.port = free_port()
        self._log = tempfile.TemporaryFile()  # noqa: SIM115  (closed by stop())
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "bot.localserver", "--host", "127.0.0.1",
             "--port", str(self.port), "--token", self.token,
             "--queue-seconds", queue, "--run-seconds", run,
             "--seed", str(seed), "--log-level", "WARNING"],
            cwd=ROOT, stdout=self._log, stderr=subprocess.STDOUT,
        )
        self.cpu_ready = math.nan

    @property
    def base_url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def state(self, timeout: float = 30.0) -> dict[str, Any]:
        result: dict[str, Any] = get_json(f"{self.base_url}/_control/state", self.token,
                                          timeout)
        return result

    def wait_ready(self, limit: float = 20.0) -> None:
        give_up = time.monotonic() + limit
        while time.monotonic() < give_up:
            if self.proc.poll() is not None:
                break
            try:
                self.state(timeout=2.0)
            except OSError:
                time.sleep(0.1)
                continue
            self.cpu_ready = proc_cpu(self.proc.pid)
            return
        raise RuntimeError(f"local server did not start:\n{self.output()}")

    def output(self) -> str:
        self._log.seek(0)
        return self._log.read().decode(errors="replace")[-2000:]

    def stop(self) -> None:
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(timeout=10)
        self._log.close()


async def seed_history(store: Any, count: int, queue: tuple[float, float],
                       run: tuple[float, float], seed: int) -> None:
    """Completed (and delivered) jobs of realistic durations, finished in the last hours:
    what the tracker of a bot in use has learned."""
    from bot.inputs import GENERATE_MODEL, GenerateInputs
    from bot.jobs import JobRecord, JobStatus, new_job_id

    rng = random.Random(seed)
    now = time.time()
    for i in range(count):
        finished = now - 3600 + i * 60
        started = finished - rng.uniform(*run)
        submitted = started - rng.uniform(*queue)
        inputs = GenerateInputs(prompt=f"history {i}", seed=i).to_payload()
        await store.insert_job(JobRecord(
            id=new_job_id(), provider="runcomfy", model=GENERATE_MODEL, channel_id=1,
            user_id=1, inputs=inputs, seed=i, status=JobStatus.COMPLETED,
            request_id=f"seed-{i}", result_urls=["http://127.0.0.1/seed.png"],
            created_at=submitted, submitted_at=submitted, started_at=started,
            finished_at=finished, delivered_at=finished, updated_at=finished,
        ))
