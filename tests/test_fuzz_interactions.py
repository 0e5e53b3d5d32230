"""Fuzz: random interaction option payloads (wrong types, out of range, huge strings,
unknown options) through the real CommandTree, via the Discord harness.

Each one is answered exactly once, by an ephemeral refusal or a public deferral, never by
an unhandled exception or the "something went wrong" fallback; and once every job it
started has ended, no quota reservation is left behind.
"""

from __future__ import annotations

import asyncio
from typing import Any

import pytest
from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st

from cogs.core.bot import IdeogramBot
from tests.harness import (
    FakeDiscord,
    attachment_option,
    chat_input,
    dispatch,
    ids,
    opt,
    png_bytes,
    user_option,
)

FUZZ = settings(max_examples=30, deadline=None, database=None,
                suppress_health_check=[HealthCheck.function_scoped_fixture,
                                       HealthCheck.too_slow])
UNEXPECTED = "Something went wrong"

HUGE = st.builds(lambda char, count: char * count,
                 st.sampled_from(["x", "é", "🦊", "[", "`", "\u202e", "\x00"]),
                 st.integers(min_value=1990, max_value=9000))
VALUES = (st.booleans() | st.integers(min_value=-(2**63), max_value=2**64)
          | st.floats(allow_nan=True, allow_infinity=True) | st.text(max_size=60) | HUGE
          | st.sampled_from(["auto", "anime", "16:9", "V_2", "EMBER", "TURBO", "1:1",
                             "1152:864 (4:3)", "ideogram", "reframe", "user_daily",
                             "ULTRAMARINE", "0", "-1", "2147483648", "1a2b"]))
TEXT = st.text(max_size=80) | HUGE | st.sampled_from(
    ["auto", "anime", "render_3D", "16:9", "V_2", "V_3", "EMBER", "TURBO", "1:1", "wide",
     "1152:864 (4:3)", "9999:1", "ideogram", "reframe", "0000", "1a2b", "[free nitro](x)"])
WHOLE = st.integers(min_value=-(2**53), max_value=2**53) | st.sampled_from(
    [0, -1, 2147483647, 2147483648, 100_001])
#: kind of each option: s text, i whole number, n number, b true/false, u member, a file
COMMANDS: dict[str, tuple[str | None, dict[str, str]]] = {
    "ideogram": (None, {"prompt": "s", "style": "s", "aspect_ratio": "s", "magic_prompt": "b",
                        "negative_prompt": "s", "seed": "i", "model": "s",
                        "color_palette": "s"}),
    "reframe": (None, {"image": "a", "resolution": "s", "rendering_speed": "s", "seed": "i",
                       "color_palette": "s"}),
    "history": (None, {"member": "u", "page": "i"}),
    "job": (None, {"id": "s"}),
    "queue": (None, {}),
    "quota": ("set", {"user_daily": "i", "guild_daily": "i", "guild_monthly": "i",
                      "cooldown_seconds": "i", "max_concurrent": "i",
                      "guild_monthly_budget": "n"}),
    "settings": ("command", {"command": "s", "enabled": "b"}),
}


def typed(draw: st.DrawFn, name: str, kind: str) -> dict[str, Any]:
    """An option of the declared kind, with a hostile value."""
    if kind == "a":
        return attachment_option(
            name, filename=draw(st.sampled_from(["a.png", "b.gif", "c", "d.webp"])),
            content_type=draw(st.sampled_from(["image/png", "text/plain", None])),
            size=draw(st.integers(min_value=0, max_value=2**40)), data=png_bytes(2, 2))
    if kind == "u":
        return user_option(name, draw(st.sampled_from([ids.USER_ID, ids.MOD_USER_ID, 1, 2**63])))
    value: Any = {"s": TEXT, "i": WHOLE, "b": st.booleans(),
                  "n": st.floats(min_value=-1e12, max_value=1e12)}[kind]
    return opt(name, draw(value), {"s": 3, "i": 4, "b": 5, "n": 10}[kind])


@st.composite
def payloads(draw: st.DrawFn) -> dict[str, Any]:
    name = draw(st.sampled_from(sorted(COMMANDS)))
    subcommand, known = COMMANDS[name]
    names = draw(st.lists(st.sampled_from(list(known)), max_size=6, unique=True)
                 ) if known else []
    if known and draw(st.integers(0, 5)):  # mostly keep the required first option
        first = next(iter(known))
        names = [first, *[n for n in names if n != first]]
    if not draw(st.integers(0, 9)):  # now and then an option the command does not have
        names.append(draw(st.sampled_from(["bogus", "prompt_" * 8])))
    # Mostly the declared kind with a hostile value; now and then any kind at all.
    options = [typed(draw, option, known[option])
               if option in known and draw(st.integers(0, 9)) else opt(option, draw(VALUES))
               for option in names]
    user = draw(st.sampled_from([ids.USER_ID, ids.MOD_USER_ID]))
    return chat_input(name, options, subcommand=subcommand, user_id=user)


@FUZZ
@given(payload=payloads())
# Payloads that start jobs, every run: the random ones seldom do (their values are hostile).
@example(payload=chat_input("ideogram", {"prompt": "ünïcödé 🦊 \u202e", "count": 4,
                                         "seed": 2147483647, "negative_prompt": "x" * 1000}))
@example(payload=chat_input("ideogram", {"prompt": "a fox", "magic_prompt": False,
                                         "aspect_ratio": "10:16", "style": "render_3D"},
                            user_id=ids.MOD_USER_ID))
async def test_random_options_end_in_a_clean_answer(fake: FakeDiscord, bot: IdeogramBot,
                                                    payload: dict[str, Any]) -> None:
    interaction = await dispatch(bot, payload, raise_errors=False)
    assert interaction.extras["harness_errors"] == []
    callbacks = fake.interaction_callbacks(payload["id"])
    assert len(callbacks) == 1, callbacks
    [answer] = callbacks
    if answer["type"] == 4:
        data = answer["data"]
        assert data.get("flags", 0) & 64 or data.get("embeds"), data  # ephemeral refusal
        assert UNEXPECTED not in (data.get("content") or ""), data["content"]
    else:
        assert answer["type"] == 5  # deferred: a job started
    # Whatever it started ends, and then nothing stays reserved.
    async with asyncio.timeout(20):
        while await bot.store.unfinished_jobs_for_guild(ids.GUILD_ID):  # noqa: ASYNC110
            await asyncio.sleep(0.05)
    await bot.result_delivery.wait_idle()
    for edit in fake.edits_of_original(payload["token"]):
        assert UNEXPECTED not in ((edit.json or {}).get("content") or "")
    for user in (ids.USER_ID, ids.MOD_USER_ID):
        snapshot = await bot.quota.snapshot(ids.GUILD_ID, user)
        assert snapshot.usage.in_flight == 0
    assert not fake.violations, fake.violations  # nothing Discord would have refused


@pytest.mark.parametrize(("payload", "expected"), [
    (chat_input("history", [opt("member", True)]), "`member` got a value of the wrong kind"),
    (chat_input("history", [opt("member", str(2**63), type=6)]), "`member` got a value"),
    (chat_input("history", [opt("member", "\u00b2", type=6)]), "`member` got a value"),
    (chat_input("history", [opt("member", "9" * 5000, type=6)]), "`member` got a value"),
    (chat_input("ideogram", [opt("prompt", 5)]), "`prompt` got a value of the wrong kind"),
    (chat_input("ideogram", [opt("prompt", "x" * 7000)]), "wrong kind or size"),
    (chat_input("ideogram", [opt("prompt", "a cat"), opt("seed", 2**60)]), "`seed`"),
    (chat_input("ideogram", [opt("negative_prompt", "dogs")]), "/ideogram needs `prompt`"),
    (chat_input("ideogram", [opt("prompt", "a"), opt("prompt", "b")]), "given twice"),
    (chat_input("ideogram", [opt("prompt", "a \ud83d cut emoji")]), "cannot be sent"),
    (chat_input("ideogram", [opt("prompt", "a cat"), opt("style", "x" * 2500)]),
     "is not a valid style"),
    (chat_input("job", [opt("id", "1a2b"), opt("bogus", 1)]), "/job has no option `bogus`"),
    (chat_input("quota", [opt("guild_monthly_budget", float("nan"))], subcommand="set",
                user_id=ids.MOD_USER_ID), "`guild_monthly_budget`"),
])
async def test_option_payloads_that_do_not_fit_are_refused_cleanly(
        fake: FakeDiscord, bot: IdeogramBot, payload: dict[str, Any], expected: str) -> None:
    interaction = await dispatch(bot, payload, raise_errors=False)
    assert interaction.extras["harness_errors"] == []
    [answer] = fake.interaction_callbacks(payload["id"])
    assert answer["type"] == 4 and answer["data"]["flags"] & 64
    assert expected in answer["data"]["content"]
    assert len(answer["data"]["content"]) <= 2000 and not fake.violations
    assert not await bot.store.jobs_for_guild(ids.GUILD_ID, limit=1)
