"""Languages over real discord.py dispatch: command localizations within Discord's limits in
every locale, ephemeral answers in the member's language, public messages in the server's
(``/settings language``, else its Discord language), and the language surviving a restart."""

from __future__ import annotations

import copy
from collections.abc import Iterator, Mapping
from pathlib import Path
from typing import Any

import pytest
from babel.messages.pofile import read_po

from bot.i18n import TRANSLATED_LOCALES, catalogs
from bot.localserver.app import LocalRunComfyServer
from bot.store import GuildSettings
from cogs.core.bot import IdeogramBot
from cogs.core.choices import LANGUAGE_NEUTRAL_OPTIONS
from tests.harness import (
    FakeDiscord,
    channel_option,
    chat_input,
    component,
    dispatch,
    gateway_bot,
    ids,
    objects,
    user_option,
)
from tests.harness.limits import validate_commands
from tests.helpers import build_bot, callback, db_rows, ideogram_bot, run_command, wait_delivered

#: Discord's own limit on one command: names, descriptions and choice values, per locale.
COMMAND_CHARACTERS = 4000


@pytest.fixture
def fake(fake_discord_with_log: FakeDiscord) -> FakeDiscord:
    return fake_discord_with_log


def private_text(cb: dict[str, Any]) -> str:
    assert cb["type"] == 4 and cb["data"]["flags"] & 64, cb
    return str(cb["data"].get("content") or cb["data"].get("embeds"))


# --------------------------------------------------------------------------- registration


def _strings(node: Mapping[str, Any], locale: str | None) -> Iterator[str]:
    """The texts Discord counts towards a command's 4,000 characters, as ``locale`` sees
    them: names, descriptions, and choices' names and values."""
    for key in ("name", "description"):
        if node.get(key):
            yield (node.get(f"{key}_localizations") or {}).get(locale, node[key])
    for choice in node.get("choices") or []:
        yield (choice.get("name_localizations") or {}).get(locale, choice["name"])
        yield str(choice["value"])
    for option in node.get("options") or []:
        yield from _strings(option, locale)


def _as_seen_in(node: Mapping[str, Any], locale: str) -> dict[str, Any]:
    """The command as a client in ``locale`` shows it: every localization in place."""
    seen = copy.deepcopy(dict(node))
    for key in ("name", "description"):
        localized = (node.get(f"{key}_localizations") or {}).get(locale)
        if localized is not None:
            seen[key] = localized
    if node.get("choices"):
        seen["choices"] = [{**c, "name": (c.get("name_localizations") or {}).get(locale,
                                                                               c["name"])}
                           for c in node["choices"]]
    if node.get("options"):
        seen["options"] = [_as_seen_in(option, locale) for option in node["options"]]
    return seen


def _nodes(node: Mapping[str, Any], path: str) -> Iterator[tuple[str, Mapping[str, Any]]]:
    yield path, node
    for option in node.get("options") or []:
        yield from _nodes(option, f"{path} {option['name']}")


def _choice_name(catalog: Mapping[str, str], choice: Mapping[str, Any]) -> str:
    """A choice's name as a catalog makes it: its translation, or for a labelled choice
    ("Server per day (guild_daily)") the label's translation with the value kept."""
    name, kept = choice["name"], f" ({choice['value']})"
    if name in catalog:
        return catalog[name]
    assert name.endswith(kept), choice
    return catalog[name.removesuffix(kept)] + kept


def _translated(locale: str) -> dict[str, str]:
    with catalogs.po_path(locale).open("rb") as file:
        return {m.id: m.string for m in read_po(file) if m.id and isinstance(m.id, str)}


async def test_every_locales_registration_passes_discords_limits(
        fake: FakeDiscord, bot: IdeogramBot) -> None:
    await bot.tree.sync()
    assert not fake.violations, fake.violations
    synced = fake.commands[None]
    assert {c["name"] for c in synced} >= {"settings", "quota", "reframe", "Reframe image"}
    for locale in ("en-US", "pt-BR", "it", "es-ES"):
        seen = [_as_seen_in(command, locale) for command in synced]
        assert validate_commands(seen) == [], locale
        for command in synced:
            size = sum(len(text) for text in _strings(command, locale))
            assert size <= COMMAND_CHARACTERS, (locale, command["name"], size)
        for command in seen:
            for path, node in _nodes(command, command["name"]):
                assert len(node.get("description") or "") <= 100, (locale, path)
    menu = next(c for c in synced if c["name"] == "Reframe image")
    assert menu["name_localizations"] == {"pt-BR": "Reenquadrar imagem",
                                          "it": "Reinquadra immagine"}


async def test_every_description_and_worded_choice_is_localized(
        fake: FakeDiscord, bot: IdeogramBot) -> None:
    await bot.tree.sync()
    catalogs_by_locale = {locale: _translated(locale) for locale in TRANSLATED_LOCALES}
    checked = 0
    for command in fake.commands[None]:
        if command.get("type", 1) != 1:
            continue
        for path, node in _nodes(command, command["name"]):
            localized = node.get("description_localizations") or {}
            assert set(localized) == set(TRANSLATED_LOCALES), (path, localized)
            assert all(text != node["description"] for text in localized.values()), path
            # Option names are the interface: never localized.
            assert not node.get("name_localizations"), path
            checked += 1
            for choice in node.get("choices") or []:
                if node["name"] in LANGUAGE_NEUTRAL_OPTIONS:
                    assert not choice.get("name_localizations"), (path, choice)
                    continue
                names = choice.get("name_localizations") or {}
                for locale in TRANSLATED_LOCALES:
                    # A choice that reads the same (e.g. "anime") has no localization.
                    expected = _choice_name(catalogs_by_locale[locale], choice)
                    assert names.get(locale, choice["name"]) == expected, (path, choice)
    assert checked > 40
    commands = {c["name"]: c for c in fake.commands[None]}
    speeds = commands["reframe"]["options"][2]
    assert [c["name_localizations"]["pt-BR"] for c in speeds["choices"]] == [
        "Turbo", "Equilibrado", "Qualidade"]
    # Names and values: the values are what the command receives, unchanged.
    clear = next(o for o in commands["quota"]["options"] if o["name"] == "clear")
    limit = clear["options"][0]
    assert [c["value"] for c in limit["choices"]] == [
        "user_daily", "guild_daily", "guild_monthly", "cooldown_seconds", "max_concurrent",
        "guild_monthly_budget"]
    assert limit["choices"][0] == {
        "name": "Per member per day (user_daily)", "value": "user_daily",
        "name_localizations": {"pt-BR": "Por membro por dia (user_daily)",
                               "it": "Per membro al giorno (user_daily)"}}
    palette = next(o for o in commands["reframe"]["options"] if o["name"] == "color_palette")
    assert [c["value"] for c in palette["choices"]] == [
        "EMBER", "FRESH", "JUNGLE", "MAGIC", "MELON", "MOSAIC", "PASTEL", "ULTRAMARINE"]
    assert palette["choices"][0] == {
        "name": "EMBER", "value": "EMBER",
        "name_localizations": {"pt-BR": "EMBER (brasa)", "it": "EMBER (brace)"}}


# --------------------------------------------------------------------------- ephemeral


async def test_a_refusal_speaks_the_members_language(
        fake: FakeDiscord, bot: IdeogramBot, local_server: LocalRunComfyServer) -> None:
    await run_command(fake, bot, "quota", {"user_daily": 0}, subcommand="set",
                      user_id=ids.MOD_USER_ID)
    said = {}
    for locale in ("pt-BR", "it", "en-GB", "ja"):
        cb = await run_command(fake, bot, "ideogram", {"prompt": "a red fox"}, locale=locale)
        said[locale] = private_text(cb)
    assert said["pt-BR"].startswith("Você não pode criar imagens neste servidor: seu limite "
                                    "diário é 0.")
    assert said["it"].startswith("Non puoi creare immagini su questo server: il tuo limite "
                                 "giornaliero è 0.")
    assert said["en-GB"].startswith("You can't make images on this server")
    assert said["ja"] == said["en-GB"]  # a language the bot does not speak: English
    assert local_server.state.submit_count == 0

    # The tree's own check of raw options, and a command's refusal, too.
    odd = await run_command(fake, bot, "quota", {"member": str(ids.OTHER_USER_ID)},
                            subcommand="show", locale="it")
    assert private_text(odd) == ("`member` ha ricevuto un valore del tipo o della dimensione "
                                 "sbagliati.")
    others = await run_command(fake, bot, "quota", [user_option("member", ids.OTHER_USER_ID)],
                               subcommand="show", locale="it")
    assert private_text(others).startswith("Puoi vedere solo il tuo utilizzo.")
    mine = await run_command(fake, bot, "history", locale="it")
    assert "Ancora nessuna immagine" in private_text(mine)


async def test_a_component_speaks_the_language_of_whoever_clicks(
        fake: FakeDiscord, bot: IdeogramBot) -> None:
    from tests.test_discord_history import add_jobs

    def nav(message: Mapping[str, Any], direction: str) -> dict[str, Any]:
        [found] = [c for row in message["components"] for c in row["components"]
                   if c["custom_id"].endswith(":" + direction)]
        return found

    await add_jobs(bot, 7)
    payload = chat_input("history", locale="it")
    await dispatch(bot, payload)
    page = fake.original_message(payload["token"]) or {}
    assert page["embeds"][0]["title"] == "Le tue immagini"
    assert nav(page, "next")["label"] == "Successiva"
    stranger = component(nav(page, "next")["custom_id"], message=page, user_id=ids.OTHER_USER_ID,
                         locale="pt-BR")
    await dispatch(bot, stranger)
    assert private_text(callback(fake, stranger)).startswith("Estes botões são de quem usou")
    owner = component(nav(page, "next")["custom_id"], message=page, locale="pt-BR")
    await dispatch(bot, owner)
    turned = fake.original_message(payload["token"]) or {}
    assert turned["embeds"][0]["title"] == "Suas imagens"  # the page speaks its reader's


# --------------------------------------------------------------------------- public


async def test_settings_language_makes_the_servers_public_messages_italian(
        fake: FakeDiscord, bot: IdeogramBot, local_server: LocalRunComfyServer,
        db: Path) -> None:
    async def settings(subcommand: str, options: Any = None, **ctx: Any) -> str:
        return private_text(await run_command(fake, bot, "settings", options,
                                              subcommand=subcommand, user_id=ids.MOD_USER_ID,
                                              **ctx))

    await settings("log-channel", [channel_option("channel", ids.LOG_CHANNEL_ID)])
    await settings("blocked-words-add", {"words": "zorp"})
    # The server's Discord language is English; the moderator reads Portuguese.
    text = await settings("language", {"language": "it"}, locale="pt-BR")
    assert text == ("As mensagens públicas daqui (andamento, resultados, registro de "
                    "moderação) agora estão em **Italiano**.")
    assert bot.guild_settings.get(ids.GUILD_ID).language == "it"
    assert db_rows(db, "SELECT language FROM guild_settings WHERE guild_id = ?",
                   ids.GUILD_ID) == [("it",)]

    # A blocked attempt: the member's refusal in Portuguese, the log line in Italian.
    refusal = await run_command(fake, bot, "ideogram", {"prompt": "a zorp"}, locale="pt-BR")
    assert private_text(refusal).startswith("Seu prompt tem uma palavra ou expressão")
    post = await fake.wait_for(method="POST", path=rf"^/channels/{ids.LOG_CHANNEL_ID}/messages$")
    assert post.json["content"].startswith(f"🚫 Bloccato `/ideogram` di <@{ids.USER_ID}> in "
                                           f"<#{ids.CHANNEL_ID}>: corrisponde a ||zorp||.")

    # A quota change by a Portuguese-speaking moderator: the log speaks Italian.
    mark = len(fake.requests)
    answer = await run_command(fake, bot, "quota", {"user_daily": 5}, subcommand="set",
                               user_id=ids.MOD_USER_ID, locale="pt-BR")
    assert private_text(answer).startswith("Cota atualizada:\n• user_daily: ilimitado → 5")
    change = await fake.wait_for(method="POST", path=rf"^/channels/{ids.LOG_CHANNEL_ID}/messages$",
                                 since=mark)
    assert change.json["content"] == (f"🧮 <@{ids.MOD_USER_ID}> ha modificato la quota di "
                                      "immagini: user_daily: illimitato → 5")

    # A recalled result is public: Italian, whoever asks for it.
    await dispatch(bot, chat_input("ideogram", {"prompt": "a paper crane", "seed": 3}))
    job = await wait_delivered(bot)
    recall = chat_input("job", {"id": job.short_id}, locale="pt-BR")
    await dispatch(bot, recall)
    [edit] = fake.edits_of_original(recall["token"])
    assert edit.json["content"].startswith(f"🔁 Richiesta `{job.short_id}` di <@{ids.USER_ID}>, "
                                           "creata il <t:")

    shown = await settings("show", locale="it")
    assert "'name': 'Lingua', 'value': 'Italiano'" in shown


async def test_without_a_setting_the_servers_discord_language_is_used_and_kept(
        fake: FakeDiscord, local_server: LocalRunComfyServer, db: Path) -> None:
    async with ideogram_bot(fake, local_server, db) as bot:
        cb = await run_command(fake, bot, "settings", {"language": "pt-BR"},
                               subcommand="language", user_id=ids.MOD_USER_ID)
        assert private_text(cb).endswith("are now in **Português (Brasil)**.")
    # After a restart the setting is read back into the cache.
    async with ideogram_bot(fake, local_server, db) as bot:
        assert bot.guild_settings.get(ids.GUILD_ID).language == "pt-BR"
        cleared = await run_command(fake, bot, "settings", subcommand="language",
                                    user_id=ids.MOD_USER_ID, guild_locale="it")
        assert private_text(cleared).endswith(
            "now follow the server's language in Discord: **Italiano**.")
        assert bot.guild_settings.get(ids.GUILD_ID) == GuildSettings(
            guild_id=ids.GUILD_ID, updated_at=bot.guild_settings.get(ids.GUILD_ID).updated_at)
        # A value Discord would never send (a client can send anything) is refused.
        odd = await run_command(fake, bot, "settings", {"language": "fr"},
                                subcommand="language", user_id=ids.MOD_USER_ID)
        assert private_text(odd) == "Choose en, pt-BR, or it."


async def test_the_greeting_speaks_the_joined_servers_language(
        fake: FakeDiscord, local_server: LocalRunComfyServer, db: Path) -> None:
    guild_id = ids.GUILD_ID + 7
    channel = objects.channel_payload(ids.CHANNEL_ID + 7, guild_id=guild_id)
    guild = objects.guild_payload(guild_id, name="Sala", channels=[channel], roles=[
        objects.role_payload(guild_id, name="@everyone", permissions=str(2**50 - 1), position=0)],
        members=[objects.member_payload(ids.BOT_USER_ID, roles=())])
    guild["system_channel_id"] = channel["id"]
    guild["preferred_locale"] = "it"
    bot = await build_bot(fake, local_server, db)
    try:
        async with gateway_bot(fake, bot):
            await fake.gateway.guild_join(guild)
            post = await fake.wait_for(method="POST",
                                       path=rf"^/channels/{channel['id']}/messages$")
    finally:
        await bot.services.aclose()
    embed = post.json["embeds"][0]
    assert embed["title"] == "Immagini Ideogram, proprio qui"
    assert "`/ideogram prompt: un faro al tramonto, acquerello`" in str(embed)


async def test_views_and_items_set_the_readers_language() -> None:
    """The bases views and dynamic items use: each check sets the language of whoever
    acted, for the callback that follows (in its own task)."""
    import asyncio
    from types import SimpleNamespace

    import discord

    from bot.i18n import current_locale
    from cogs.core.languages import LocalizedView, SpeaksReaderLocale

    class Item(SpeaksReaderLocale, discord.ui.Button[Any]):
        pass

    async def check(target: Any, locale: str) -> tuple[bool, str]:
        interaction: Any = SimpleNamespace(locale=discord.Locale(locale))
        allowed = await target.interaction_check(interaction)
        return allowed, current_locale()

    checks = [check(LocalizedView(), "pt-BR"), check(Item(label="x"), "it"),
              check(LocalizedView(), "de")]
    results = await asyncio.gather(*(asyncio.create_task(c) for c in checks))
    assert results == [(True, "pt-BR"), (True, "it"), (True, "en")]
