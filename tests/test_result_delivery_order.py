"""Under load, a finished result is sent before progress edits that were waiting."""

from __future__ import annotations

import asyncio
import dataclasses
from typing import Any

import pytest

from bot.jobs import JobStatus
from bot.priority_slots import PrioritySlots
from bot.tracker import JobEvent
from cogs.core.bot import IdeogramBot
from tests.helpers import make_job


async def test_results_overtake_waiting_progress_edits(bot: IdeogramBot,
                                                       monkeypatch: pytest.MonkeyPatch) -> None:
    delivery = bot.result_delivery
    delivery._send_slots = PrioritySlots(1)  # one send at a time: the others queue
    sent: list[tuple[str, bool]] = []
    gate = asyncio.Event()

    async def send(reply: Any, job: Any, out: Any, *, final: bool) -> None:
        sent.append((job.inputs["prompt"], final))
        await gate.wait()

    monkeypatch.setattr(delivery.sender, "send", send)
    queued = [dataclasses.replace(make_job(f"progress {i}"), status=JobStatus.QUEUED)
              for i in range(2)]
    failed = dataclasses.replace(make_job("result"), status=JobStatus.FAILED,
                                 error="timed out")

    await delivery.on_job_event(JobEvent(queued[0]))
    for _ in range(20):  # the first progress edit takes the only slot and blocks in send
        await asyncio.sleep(0)
        if sent:
            break
    await delivery.on_job_event(JobEvent(queued[1]))
    await delivery.on_job_event(JobEvent(failed))
    await asyncio.sleep(0.05)
    assert sent == [("progress 0", False)]
    gate.set()
    await delivery.wait_idle()
    assert sent == [("progress 0", False), ("result", True), ("progress 1", False)]
