"""Texts over real dispatch, written the reader's way: the words members type in their
language, plurals, numbers and lists."""

from __future__ import annotations

from typing import Any

import pytest

from bot.inputs import RESOLUTIONS
from bot.resolutions import search
from cogs.core.bot import IdeogramBot
from tests.harness import FakeDiscord, autocomplete, chat_input, component, dispatch, ids
from tests.helpers import callback, make_job, run_command, wait_delivered
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


async def test_lists_cut_short_count_the_rest_in_the_readers_plural(
        fake: FakeDiscord, bot: IdeogramBot) -> None:
    # Eleven other channels allowed: ten are named, "and 1 more".
    for channel_id in range(ids.CHANNEL_ID + 100, ids.CHANNEL_ID + 111):
        await bot.guild_settings.add_allowed_channel(ids.GUILD_ID, channel_id)
    said = {locale: private_text(await run_command(fake, bot, "ideogram", {"prompt": "a fox"},
                                                   locale=locale))
            for locale in ("it", "pt-BR", "en-US")}
    assert said["it"].endswith(f">, <#{ids.CHANNEL_ID + 109}> e un altro.")
    assert said["pt-BR"].endswith(" e mais 1.")
    assert said["en-US"].endswith(" and 1 more.")
    await bot.guild_settings.add_allowed_channel(ids.GUILD_ID, ids.CHANNEL_ID + 111)
    again = await run_command(fake, bot, "ideogram", {"prompt": "a fox"}, locale="it")
    assert private_text(again).endswith(" e altri 2.")

    # /queue shows 20 jobs, then the rest.
    await bot.store.insert_jobs([make_job(f"fox {n}", guild_id=ids.GUILD_ID,
                                          channel_id=ids.CHANNEL_ID, user_id=ids.USER_ID)
                                 for n in range(21)])
    queue = await run_command(fake, bot, "queue", locale="it")
    assert queue["data"]["embeds"][0]["description"].endswith("\n…e un'altra.")
    queue = await run_command(fake, bot, "queue", locale="pt-BR")
    assert queue["data"]["embeds"][0]["description"].endswith("\n…e mais 1.")


async def test_numbers_in_refusals_are_written_the_readers_way(
        fake: FakeDiscord, bot: IdeogramBot) -> None:
    async def refusal(command: str, options: dict[str, Any], locale: str,
                      **context: Any) -> str:
        return private_text(await run_command(fake, bot, command, options, locale=locale,
                                              **context))

    saved = await refusal("preset", {"name": "long", "prompt_suffix": "s" * 500}, "en-US",
                          subcommand="save", user_id=ids.MOD_USER_ID)
    assert "Saved the preset" in saved
    suffixed = await refusal("ideogram", {"prompt": "p" * 1515, "preset": "long"}, "pt-BR")
    assert suffixed == ("Com o sufixo da predefinição, seu prompt tem 2.017 caracteres; o limite "
                        "é 2.000. Encurte-o.")
    too_long = await refusal("ideogram", {"prompt": "p" * 2500}, "it")
    assert "2.500" in too_long and "2.000" in too_long, too_long
    seed = await refusal("ideogram", {"prompt": "a fox", "seed": 3_000_000_000}, "pt-BR")
    # A seed's bounds stay plain digits: a member may type them back into the seed option.
    assert seed.endswith("use de 0 a 2147483647."), seed
    seed = await refusal("ideogram", {"prompt": "a fox", "seed": 3_000_000_000}, "en-US")
    assert seed.endswith("use 0 to 2147483647."), seed
    phrase = await refusal("settings", {"words": "w" * 1000}, "it",
                           subcommand="blocked-words-add", user_id=ids.MOD_USER_ID)
    assert phrase == "Una parola o frase è lunga 1.000 caratteri; il limite è 100.", phrase


async def test_info_shows_the_parameters_sent_as_json_whatever_the_language(
        fake: FakeDiscord, bot: IdeogramBot) -> None:
    payload = chat_input("ideogram", {"prompt": "a kite", "magic_prompt": False, "seed": 7},
                         guild_locale="it")
    await dispatch(bot, payload)
    job = await wait_delivered(bot)
    info = component(f"job:{job.id}:info", message=fake.original_message(payload["token"]),
                     locale="pt-BR")
    await dispatch(bot, info)
    lines = callback(fake, info)["data"]["embeds"][0]["description"].splitlines()
    assert lines == ["**prompt**: a kite", "**style**: auto", "**aspect_ratio**: 1\\:1",
                     "**expand_prompt**: false", "**seed**: 7"]


async def test_a_choice_among_several_is_listed_with_or_in_the_readers_language(
        fake: FakeDiscord, bot: IdeogramBot) -> None:
    said = {locale: private_text(await run_command(fake, bot, "settings", {"language": "fr"},
                                                   subcommand="language",
                                                   user_id=ids.MOD_USER_ID, locale=locale))
            for locale in ("pt-BR", "it", "en-US")}
    assert said == {"pt-BR": "Escolha en, pt-BR ou it.", "it": "Scegli en, pt-BR o it.",
                    "en-US": "Choose en, pt-BR, or it."}
