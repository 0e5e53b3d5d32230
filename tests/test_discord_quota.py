"""/quota and the quota check over real discord.py dispatch, the local provider and SQLite."""

from __future__ import annotations

import logging
from pathlib import Path
from typing import Any

import pytest

from bot.localserver.app import LocalRunComfyServer
from cogs.core.bot import IdeogramBot
from tests.harness import FakeDiscord, chat_input, dispatch, ids, user_option
from tests.helpers import db_rows, ideogram_bot, run_command, wait_delivered


@pytest.fixture
async def bot(fake: FakeDiscord, local_server: LocalRunComfyServer, db: Path) -> Any:
    local_server.state.config.queue_seconds = 0.1
    local_server.state.config.run_seconds = 0.1
    async with ideogram_bot(fake, local_server, db) as b:
        yield b


def quota(sub: str, options: Any = None, **ctx: Any) -> dict[str, Any]:
    return chat_input("quota", options or [], subcommand=sub, **ctx)


async def answer(fake: FakeDiscord, bot: IdeogramBot, payload: dict[str, Any]
                 ) -> dict[str, Any]:
    await dispatch(bot, payload)
    [callback] = fake.interaction_callbacks(payload["id"])
    return callback


def ephemeral_text(callback: dict[str, Any]) -> str:
    assert callback["type"] == 4 and callback["data"]["flags"] & 64, callback
    return str(callback["data"].get("content") or "")


@pytest.mark.parametrize(("sub", "options"), [
    ("set", {"user_daily": 0}),
    ("clear", {"limit": "user_daily"}),
    ("clear", [{"name": "limit", "type": 3, "value": "user_daily"},
               user_option("member", ids.USER_ID)]),
    ("member", [user_option("member", ids.USER_ID), {"name": "daily", "type": 4, "value": 99}]),
    ("reset", []),
    ("show", [user_option("member", ids.OTHER_USER_ID)]),
])
async def test_members_without_manage_server_are_refused_by_the_code(
        fake: FakeDiscord, bot: IdeogramBot, db: Path, sub: str, options: Any) -> None:
    await bot.quota_admin.set_limits(ids.GUILD_ID, ids.MOD_USER_ID, {"user_daily": 5})
    before = db_rows(db, "SELECT * FROM guild_limits"), db_rows(db, "SELECT * FROM quota_audit")
    # Everyone sees /quota (for /quota show), but alice is no moderator.
    text = ephemeral_text(await answer(fake, bot, quota(sub, options, user_id=ids.USER_ID)))
    assert "moderators" in text.lower() or "only your own" in text
    assert (db_rows(db, "SELECT * FROM guild_limits"), db_rows(db, "SELECT * FROM quota_audit")) \
        == before
    assert db_rows(db, "SELECT * FROM member_overrides") == []
    assert not fake.calls("POST", rf"^/channels/{ids.LOG_CHANNEL_ID}/messages$")


async def test_moderator_sets_limits_audited_and_logged(
        fake: FakeDiscord, bot: IdeogramBot, db: Path) -> None:
    await bot.guild_settings.update(ids.GUILD_ID, log_channel_id=ids.LOG_CHANNEL_ID)
    text = ephemeral_text(await answer(fake, bot, quota(
        "set", {"user_daily": 10, "guild_monthly_budget": 25.5}, user_id=ids.MOD_USER_ID)))
    assert "user_daily: unlimited → 10" in text and "$25.50" in text
    [post] = fake.calls("POST", rf"^/channels/{ids.LOG_CHANNEL_ID}/messages$")
    assert post.auth_scheme == "Bot"
    assert f"<@{ids.MOD_USER_ID}>" in post.json["content"] and "user_daily" in post.json["content"]

    ephemeral_text(await answer(fake, bot, quota(
        "member", [user_option("member", ids.USER_ID), {"name": "daily", "type": 4, "value": 3}],
        user_id=ids.OWNER_USER_ID)))  # Administrator counts too
    ephemeral_text(await answer(fake, bot, quota("clear", {"limit": "guild_monthly_budget"},
                                                 user_id=ids.MOD_USER_ID)))
    assert db_rows(db, "SELECT action, actor_id, user_id, old_value, new_value FROM quota_audit "
                       "ORDER BY id") == [
        ("set:user_daily", ids.MOD_USER_ID, None, None, 10.0),
        ("set:guild_monthly_budget", ids.MOD_USER_ID, None, None, 25.5),
        ("member:daily", ids.OWNER_USER_ID, ids.USER_ID, None, 3.0),
        ("clear:guild_monthly_budget", ids.MOD_USER_ID, None, 25.5, None),
    ]
    assert len(fake.calls("POST", rf"^/channels/{ids.LOG_CHANNEL_ID}/messages$")) == 3

    shown = await answer(fake, bot, quota("show", [user_option("member", ids.USER_ID)],
                                          user_id=ids.MOD_USER_ID))
    ephemeral_text(shown)
    embed = str(shown["data"]["embeds"][0])
    assert "Spend this month" in embed and "Recent changes" in embed
    assert "guild_monthly_budget: $25.50 → unlimited" in embed


def clear_member(limit: str, member: int = ids.USER_ID) -> dict[str, Any]:
    return quota("clear", [{"name": "limit", "type": 3, "value": limit},
                           user_option("member", member)], user_id=ids.MOD_USER_ID)


async def test_a_members_own_daily_limit_is_taken_away_audited_and_logged(
        fake: FakeDiscord, bot: IdeogramBot, db: Path) -> None:
    await bot.guild_settings.update(ids.GUILD_ID, log_channel_id=ids.LOG_CHANNEL_ID)
    await bot.quota_admin.set_limits(ids.GUILD_ID, ids.MOD_USER_ID, {"user_daily": 10})
    await bot.quota_admin.set_member_daily(ids.GUILD_ID, ids.MOD_USER_ID, ids.USER_ID, 2)
    await bot.quota_admin.set_member_daily(ids.GUILD_ID, ids.MOD_USER_ID, ids.OTHER_USER_ID, 4)

    text = ephemeral_text(await answer(fake, bot, clear_member("user_daily")))
    assert f"<@{ids.USER_ID}> no longer has a daily limit of their own (2)" in text
    assert db_rows(db, "SELECT user_id, daily FROM member_overrides") == [(ids.OTHER_USER_ID, 4)]
    assert db_rows(db, "SELECT name, value FROM guild_limits") == [("user_daily", 10.0)]
    assert db_rows(db, "SELECT action, user_id, old_value, new_value FROM quota_audit "
                       "ORDER BY id DESC LIMIT 1") == [("member:daily", ids.USER_ID, 2.0, None)]
    [post] = fake.calls("POST", rf"^/channels/{ids.LOG_CHANNEL_ID}/messages$")
    assert "no longer has a daily limit of their own" in post.json["content"]
    snapshot = await bot.quota.snapshot(ids.GUILD_ID, ids.USER_ID)
    assert snapshot.member_daily is None and snapshot.user_daily == 10  # the server's again

    again = ephemeral_text(await answer(fake, bot, clear_member("user_daily")))
    assert "has no daily limit of their own: nothing to clear" in again
    other = ephemeral_text(await answer(fake, bot, clear_member("guild_daily")))
    assert "Only `user_daily`" in other
    assert db_rows(db, "SELECT user_id, daily FROM member_overrides") == [(ids.OTHER_USER_ID, 4)]
    assert len(fake.calls("POST", rf"^/channels/{ids.LOG_CHANNEL_ID}/messages$")) == 1


@pytest.mark.parametrize("options", [
    {"user_daily": -1}, {"cooldown_seconds": 10**9}, {"guild_monthly_budget": -0.5},
    {"max_concurrent": 1.5}, {},
])
async def test_every_value_is_validated_in_code(fake: FakeDiscord, bot: IdeogramBot, db: Path,
                                                options: dict[str, Any]) -> None:
    payload = quota("set", [{"name": k, "type": 10 if k.endswith("budget") else 4, "value": v}
                            for k, v in options.items()], user_id=ids.MOD_USER_ID)
    text = ephemeral_text(await answer(fake, bot, payload))
    # (1.5 for a whole number is refused before the command runs, by the options check.)
    assert "must be" in text or "at least one limit" in text or "wrong kind" in text
    assert db_rows(db, "SELECT * FROM guild_limits") == []
    assert db_rows(db, "SELECT * FROM quota_audit") == []
    bad_clear = quota("clear", {"limit": "everything"}, user_id=ids.MOD_USER_ID)
    assert "Unknown limit" in ephemeral_text(await answer(fake, bot, bad_clear))


async def test_a_refusal_is_the_ephemeral_first_response_and_nothing_is_submitted(
        fake: FakeDiscord, bot: IdeogramBot, local_server: LocalRunComfyServer, db: Path) -> None:
    await bot.quota_admin.set_limits(ids.GUILD_ID, ids.MOD_USER_ID, {"user_daily": 0})
    payload = chat_input("ideogram", {"prompt": "a fox"})
    text = ephemeral_text(await answer(fake, bot, payload))
    assert "daily limit is 0" in text
    assert local_server.state.submit_count == 0
    assert db_rows(db, "SELECT count(*) FROM jobs") == [(0,)]
    assert db_rows(db, "SELECT count(*) FROM usage_reservations") == [(0,)]


async def test_the_footer_shows_the_allowance_and_the_next_request_is_limited(
        fake: FakeDiscord, bot: IdeogramBot, local_server: LocalRunComfyServer, db: Path) -> None:
    await bot.quota_admin.set_limits(ids.GUILD_ID, ids.MOD_USER_ID,
                               {"user_daily": 3, "cooldown_seconds": 60})
    payload = chat_input("ideogram", {"prompt": "a lantern"})
    await dispatch(bot, payload)
    await wait_delivered(bot, newest_only=True)
    final = [e for e in fake.edits_of_original(payload["token"]) if e.files][-1]
    assert final.json["embeds"][0]["footer"]["text"].endswith(" · 2 images left today")
    assert db_rows(db, "SELECT state, cost_actual FROM usage_reservations") == [("committed", 0.08)]

    again = chat_input("ideogram", {"prompt": "another"})
    assert ephemeral_text(await answer(fake, bot, again)).startswith("Cooldown: try again <t:")
    assert local_server.state.submit_count == 1

    mine = await answer(fake, bot, quota("show", user_id=ids.USER_ID))  # anyone sees their own
    ephemeral_text(mine)
    embed = str(mine["data"]["embeds"][0])
    assert "Today: **1** of 3" in embed
    assert "Spend this month" not in embed and "Recent changes" not in embed


async def test_a_late_answer_gives_the_image_back_and_posts_nothing(
        fake: FakeDiscord, bot: IdeogramBot, local_server: LocalRunComfyServer, db: Path,
        caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.INFO)
    fake.fail_next("POST", r"^/interactions/\d+/[^/]+/callback$", status=404,
                   body={"message": "Unknown interaction", "code": 10062})
    payload = chat_input("ideogram", {"prompt": "too slow"})
    await dispatch(bot, payload)  # no error escapes: a late answer is not a bug
    await bot.tracker.wait_idle()
    await bot.result_delivery.wait_idle()
    assert db_rows(db, "SELECT state FROM usage_reservations") == [("released",)]
    assert local_server.state.submit_count == 0
    [(status, delivered_at)] = db_rows(db, "SELECT status, delivered_at FROM jobs")
    assert status == "failed" and delivered_at is not None  # ended, and never shown
    # Nothing was posted anywhere: no reply, no followup, no channel message.
    assert not fake.calls("POST", r"^/channels/\d+/messages$")
    assert not fake.calls("PATCH", r"^/webhooks/")
    assert not fake.calls("POST", r"^/webhooks/")
    assert "Traceback" not in caplog.text and "Unexpected error" not in caplog.text
    late = [r for r in caplog.records if "was not answered" in r.getMessage()]
    assert [r.levelname for r in late] == ["INFO"]


@pytest.mark.parametrize("code", [10062, 40060])
async def test_a_refusal_or_an_answer_too_late_for_discord_is_never_posted_elsewhere(
        fake: FakeDiscord, bot: IdeogramBot, caplog: pytest.LogCaptureFixture,
        code: int) -> None:
    """A private refusal, or a command's own answer, that Discord no longer takes (too late,
    or answered already) is logged; it is never posted in the channel instead."""
    caplog.set_level(logging.INFO)
    await run_command(fake, bot, "quota", {"user_daily": 0}, subcommand="set",
                      user_id=ids.MOD_USER_ID)
    for payload in (chat_input("ideogram", {"prompt": "refused: daily limit 0"}),
                    chat_input("quota", {}, subcommand="show"),
                    chat_input("history", {})):
        fake.fail_next("POST", rf"^/interactions/{payload['id']}/[^/]+/callback$", status=404
                       if code == 10062 else 400, body={"message": "too late", "code": code})
        await dispatch(bot, payload)
        assert len(fake.interaction_callbacks(payload["id"])) <= 1, "answered only once"
        assert not fake.calls("POST", r"^/webhooks/") and not fake.calls("PATCH", r"^/webhooks/")
    assert not fake.calls("POST", r"^/channels/\d+/messages$")
    assert "Traceback" not in caplog.text and "Unexpected error" not in caplog.text


async def test_the_quota_command_as_discord_sees_it(fake: FakeDiscord, bot: IdeogramBot) -> None:
    await bot.tree.sync()  # the fake checks Discord's limits on what is registered
    [command] = [c for c in fake.commands[None] if c["name"] == "quota"]
    # Visible to everyone (members use /quota show); the moderators' subcommands refuse
    # others in code (test_members_without_manage_server_are_refused_by_the_code).
    assert command.get("default_member_permissions") is None
    subs = {o["name"]: o for o in command["options"]}
    assert list(subs) == ["show", "set", "clear", "member", "reset"]
    options = {name: [(o["name"], o["type"], o.get("required", False))
                      for o in sub.get("options", [])] for name, sub in subs.items()}
    assert options == {
        "show": [("member", 6, False)],
        "set": [("user_daily", 4, False), ("guild_daily", 4, False),
                ("guild_monthly", 4, False), ("cooldown_seconds", 4, False),
                ("max_concurrent", 4, False), ("guild_monthly_budget", 10, False)],
        "clear": [("limit", 3, True), ("member", 6, False)],
        "member": [("member", 6, True), ("daily", 4, True)],
        "reset": [("member", 6, False)],
    }
    assert all(o["min_value"] == 0 for o in subs["set"]["options"])
    assert [c["value"] for c in subs["clear"]["options"][0]["choices"]] == [
        "user_daily", "guild_daily", "guild_monthly", "cooldown_seconds", "max_concurrent",
        "guild_monthly_budget"]


async def test_a_command_cut_off_before_its_answer_gives_its_image_back(
        fake: FakeDiscord, bot: IdeogramBot, local_server: LocalRunComfyServer,
        db: Path) -> None:
    """A stop that cuts a command while its answer is on the way: nothing stays reserved."""
    import asyncio

    from tests.harness import eventually, start_dispatch

    payload = chat_input("ideogram", {"prompt": "cut off"})
    arrived = fake.stall_next("POST", rf"^/interactions/{payload['id']}/[^/]+/callback$", 30.0)
    start_dispatch(bot, payload)
    await asyncio.wait_for(arrived.wait(), 5)
    [handler] = [t for t in asyncio.all_tasks()
                 if t.get_name().startswith("CommandTree-invoker") and not t.done()]
    handler.cancel()
    await eventually(lambda: db_rows(db, "SELECT state FROM usage_reservations")
                     == [("released",)], timeout=5, what="the reservation given back")
    assert local_server.state.submit_count == 0
