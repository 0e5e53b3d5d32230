"""Texts over real dispatch, written the reader's way: the words members type in their
language, plurals, numbers and lists."""

from __future__ import annotations

from typing import Any

import pytest

from bot.inputs import RESOLUTIONS
from bot.resolutions import search
from cogs.core.bot import IdeogramBot
from tests.harness import FakeDiscord, autocomplete, chat_input, dispatch
from tests.test_discord_reframe import image_option


def private_text(cb: dict[str, Any]) -> str:
    assert cb["type"] == 4 and cb["data"]["flags"] & 64, cb
    return str(cb["data"]["content"])


async def suggested(fake: FakeDiscord, bot: IdeogramBot, typed: str, locale: str) -> list[str]:
    payload = autocomplete("reframe", [{"name": "resolution", "type": 3, "value": typed}],
                           focused="resolution", locale=locale)
    await dispatch(bot, payload)
    [callback] = fake.interaction_callbacks(payload["id"])
    assert callback["type"] == 8
    return [c["value"] for c in callback["data"]["choices"]]


def shape(value: str) -> str:
    width, height = (int(side) for side in value.split(" ")[0].split(":"))
    return "wide" if width > height else "tall" if width < height else "square"


@pytest.mark.parametrize(("typed", "locale", "english"), [
    ("paisagem", "pt-BR", "landscape"), ("Horizontal", "pt-BR", "wide"),
    ("retrato", "pt-BR", "portrait"), ("VERTICAL", "pt-BR", "tall"),
    ("quadrada", "pt-BR", "square"), ("quadrado", "it", "square"),
    ("orizzontale", "it", "wide"), ("paesaggio", "it", "landscape"),
    ("verticalé", "it", "tall"), ("Ritratto", "it", "portrait"), ("quadrato", "it", "square"),
    ("quadrata", "en-US", "square"), ("paes", "it", "wide"), ("retrato 1536", "pt-BR",
                                                              "portrait 1536"),
])
async def test_the_resolution_suggestions_know_each_languages_shape_words(
        fake: FakeDiscord, bot: IdeogramBot, typed: str, locale: str, english: str) -> None:
    values = await suggested(fake, bot, typed, locale)
    assert values and all(v in RESOLUTIONS for v in values)
    assert values == await suggested(fake, bot, english, "en-US") == search(english)
    if english.startswith("square"):
        assert values[0] == "1024:1024 (1:1)"
    else:
        expected = "wide" if english in ("landscape", "wide") else "tall"
        assert {shape(v) for v in values} == {expected}


async def test_the_resolution_hint_names_the_local_words(fake: FakeDiscord,
                                                         bot: IdeogramBot) -> None:
    await bot.tree.sync()
    reframe = next(c for c in fake.commands[None] if c["name"] == "reframe")
    resolution = next(o for o in reframe["options"] if o["name"] == "resolution")
    hints = resolution["description_localizations"]
    assert "paisagem, retrato ou quadrado" in hints["pt-BR"]
    assert "orizzontale, verticale o quadrato" in hints["it"]
    refused = chat_input("reframe", [image_option(),
                                     {"name": "resolution", "type": 3, "value": "enorme"}],
                         locale="pt-BR")
    await dispatch(bot, refused)
    [callback] = fake.interaction_callbacks(refused["id"])
    assert "paisagem, retrato ou quadrado" in private_text(callback)
