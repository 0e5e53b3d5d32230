"""When Discord refuses a finished result: a passing refusal (rate limit, its own error) is
tried again soon, then at each reconciliation, so no reply stays on "Making the image"; a
refusal for good (no access) is not tried forever."""

from __future__ import annotations

from pathlib import Path
from types import SimpleNamespace

import discord
import pytest

from bot.jobs import JobStatus
from bot.tracker import adoption
from cogs.core import owed_deliveries, reply_sender
from cogs.core.bot import IdeogramBot
from cogs.core.reply_sender import Outgoing, Reply
from tests.harness import FakeDiscord, chat_input, dispatch, eventually, ids
from tests.helpers import db_rows, wait_delivered, wait_for_job


class Refusing:
    """Discord refuses every final message with ``status`` while ``on`` (or only the first
    ``times``, when set); progress edits go through. ``refused`` counts the refusals."""

    def __init__(self, status: int) -> None:
        self.status, self.on, self.refused = status, True, 0
        self.times: int | None = None

    def refuses(self) -> bool:
        return self.on and (self.times is None or self.refused < self.times)


def refuse_final_sends(bot: IdeogramBot, monkeypatch: pytest.MonkeyPatch,
                       status: int) -> Refusing:
    refusing = Refusing(status)
    sender = bot.result_delivery.sender
    real_send = sender.send

    async def send(reply: Reply, job: object, out: Outgoing, *, final: bool) -> None:
        if final and refusing.refuses():
            refusing.refused += 1
            answer = SimpleNamespace(status=refusing.status, reason="refused")
            raise discord.HTTPException(answer, "refused")  # type: ignore[arg-type]  # a stand-in
        await real_send(reply, job, out, final=final)  # type: ignore[arg-type]  # a JobRecord

    monkeypatch.setattr(sender, "send", send)
    monkeypatch.setattr(reply_sender, "DELIVERY_ATTEMPTS", 1)  # no backoff sleeps here
    # The reconciliation announces what ended undelivered at once, not a minute later.
    monkeypatch.setattr(adoption, "ADOPT_AFTER_SECONDS", 0.0)
    # No sooner try within a test unless it asks for one.
    monkeypatch.setattr(owed_deliveries, "REDELIVERY_DELAYS", (3600.0,))
    return refusing


async def test_a_result_refused_for_now_is_tried_again_soon_without_the_reconciliation(
        fake: FakeDiscord, bot: IdeogramBot, monkeypatch: pytest.MonkeyPatch) -> None:
    refusing = refuse_final_sends(bot, monkeypatch, 429)
    refusing.times = 2  # two refused deliveries, then Discord takes it
    monkeypatch.setattr(owed_deliveries, "REDELIVERY_DELAYS", (0.05, 0.1, 0.2))
    payload = chat_input("ideogram", {"prompt": "a quick heron"})
    await dispatch(bot, payload)
    done = await wait_delivered(bot, user_id=ids.USER_ID)
    assert refusing.refused == 2 and done.status is JobStatus.COMPLETED
    final = [edit for edit in fake.calls("PATCH", rf"^/webhooks/\d+/{payload['token']}/")
             if edit.files]
    assert len(final) == 1 and final[0].json["content"].startswith("✅")
    assert final[0].path.endswith(f"/messages/{done.message_id}")  # into its own reply
    assert not bot.result_delivery.owed.waiting


async def test_sooner_tries_stop_after_the_last_delay_and_leave_it_owed(
        fake: FakeDiscord, bot: IdeogramBot, db: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    refusing = refuse_final_sends(bot, monkeypatch, 503)
    monkeypatch.setattr(owed_deliveries, "REDELIVERY_DELAYS", (0.05, 0.05))
    await dispatch(bot, chat_input("ideogram", {"prompt": "a stubborn heron"}))
    await eventually(lambda: refusing.refused == 3 and not bot.result_delivery.owed.waiting
                     and not bot.result_delivery._delivering, what="three refused tries")
    assert db_rows(db, "SELECT delivered_at FROM jobs") == [(None,)]  # the reconciliation's now
    refusing.on = False
    await bot.tracker.reconcile()
    await wait_delivered(bot, user_id=ids.USER_ID)
    assert refusing.refused == 3


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
    # Refused with its image, then as text with a link: given up.
    assert done.status is JobStatus.COMPLETED and refusing.refused == 2
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


async def test_a_batch_grid_refused_for_now_is_tried_again_soon(
        fake: FakeDiscord, bot: IdeogramBot, db: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    refusing = refuse_final_sends(bot, monkeypatch, 500)
    refusing.times = 1
    monkeypatch.setattr(owed_deliveries, "REDELIVERY_DELAYS", (0.05,))
    payload = chat_input("ideogram", {"prompt": "three herons", "count": 3})
    await dispatch(bot, payload)
    await eventually(lambda: db_rows(db, "SELECT count(*) FROM jobs WHERE delivered_at IS "
                                         "NULL") == [(0,)], what="the grid delivered")
    assert refusing.refused == 1
    grids = [edit for edit in fake.calls("PATCH", rf"^/webhooks/\d+/{payload['token']}/")
             if edit.files]
    assert len(grids) == 1 and grids[0].json["content"].startswith("✅ 3 of 3 done")
