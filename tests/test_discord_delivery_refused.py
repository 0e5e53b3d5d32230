"""When Discord refuses a finished result: a passing refusal (rate limit, its own error) is
tried again at the next reconciliation, so no reply stays on "Making the image"; a refusal
for good (no access) is not tried forever."""

from __future__ import annotations

from pathlib import Path
from types import SimpleNamespace

import discord
import pytest

from bot.jobs import JobStatus
from bot.tracker import adoption
from cogs.core import reply_sender
from cogs.core.bot import IdeogramBot
from cogs.core.reply_sender import Outgoing, Reply
from tests.harness import FakeDiscord, chat_input, dispatch, eventually, ids
from tests.helpers import db_rows, wait_delivered, wait_for_job


class Refusing:
    """Discord refuses every final message with ``status`` while ``on``; progress edits go
    through. ``refused`` counts the refusals."""

    def __init__(self, status: int) -> None:
        self.status, self.on, self.refused = status, True, 0


def refuse_final_sends(bot: IdeogramBot, monkeypatch: pytest.MonkeyPatch,
                       status: int) -> Refusing:
    refusing = Refusing(status)
    sender = bot.result_delivery.sender
    real_send = sender.send

    async def send(reply: Reply, job: object, out: Outgoing, *, final: bool) -> None:
        if final and refusing.on:
            refusing.refused += 1
            answer = SimpleNamespace(status=refusing.status, reason="refused")
            raise discord.HTTPException(answer, "refused")  # type: ignore[arg-type]  # a stand-in
        await real_send(reply, job, out, final=final)  # type: ignore[arg-type]  # a JobRecord

    monkeypatch.setattr(sender, "send", send)
    monkeypatch.setattr(reply_sender, "DELIVERY_ATTEMPTS", 1)  # no backoff sleeps here
    # The reconciliation announces what ended undelivered at once, not a minute later.
    monkeypatch.setattr(adoption, "ADOPT_AFTER_SECONDS", 0.0)
    return refusing


async def test_a_result_discord_refuses_for_now_is_sent_at_the_next_reconciliation(
        fake: FakeDiscord, bot: IdeogramBot, db: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    refusing = refuse_final_sends(bot, monkeypatch, 503)
    payload = chat_input("ideogram", {"prompt": "a patient heron"})
    await dispatch(bot, payload)
    job = await wait_for_job(bot, lambda j: j.status is JobStatus.COMPLETED,
                             user_id=ids.USER_ID)
    await eventually(lambda: refusing.refused and job.id not in bot.result_delivery._delivering,
                     what="the refused delivery over")
    assert db_rows(db, "SELECT delivered_at FROM jobs") == [(None,)]  # still owed
    assert not any(edit.files for edit in fake.edits_of_original(payload["token"]))

    refusing.on = False  # Discord answers again
    await bot.tracker.reconcile()
    done = await wait_delivered(bot, job.id)
    assert done.delivered_at is not None
    # The same reply, edited through its stored token: the image is there.
    final = fake.calls("PATCH", rf"^/webhooks/\d+/{payload['token']}/messages/")[-1]
    assert final.path.endswith(f"/messages/{done.message_id}")
    assert final.files and final.json["content"].startswith("✅")


async def test_a_result_discord_refuses_for_good_is_not_tried_again(
        fake: FakeDiscord, bot: IdeogramBot, monkeypatch: pytest.MonkeyPatch) -> None:
    refusing = refuse_final_sends(bot, monkeypatch, 403)
    await dispatch(bot, chat_input("ideogram", {"prompt": "a shy heron"}))
    done = await wait_delivered(bot, user_id=ids.USER_ID)  # given up: nothing more owed
    assert done.status is JobStatus.COMPLETED and refusing.refused == 1
    assert await bot.tracker.reconcile() == 0


async def test_a_batch_grid_refused_for_now_is_sent_at_the_next_reconciliation(
        fake: FakeDiscord, bot: IdeogramBot, db: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    refusing = refuse_final_sends(bot, monkeypatch, 429)
    await dispatch(bot, chat_input("ideogram", {"prompt": "two herons", "count": 2}))
    await eventually(lambda: db_rows(db, "SELECT count(*) FROM jobs WHERE status = "
                                         "'completed'") == [(2,)], what="both images made")
    await eventually(lambda: refusing.refused and not bot.result_delivery.batches._delivering,
                     what="the refused delivery over")
    assert db_rows(db, "SELECT count(*) FROM jobs WHERE delivered_at IS NULL") == [(2,)]

    refusing.on = False
    await bot.tracker.reconcile()
    await eventually(lambda: db_rows(db, "SELECT count(*) FROM jobs WHERE delivered_at IS "
                                         "NULL") == [(0,)], what="the grid delivered")
    final = fake.calls("PATCH", r"^/webhooks/\d+/[^/]+/messages/")[-1]
    assert final.files and final.json["content"].startswith("✅ 2 of 2 done")
