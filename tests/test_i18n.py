"""The language machinery without Discord: catalogs in step with the code (Babel's own
extractor), the context variable, plurals, numbers and money, and texts made before their
reader is known."""

from __future__ import annotations

import asyncio
import fnmatch
import logging
import tomllib
from pathlib import Path

import pytest
from babel.messages.catalog import Catalog
from babel.messages.pofile import write_po

from bot.i18n import (
    DEFAULT_LOCALE,
    LOCALES,
    TRANSLATED_LOCALES,
    _,
    catalogs,
    current_locale,
    format_cost,
    format_number,
    lazy,
    ngettext,
    reader_locale,
    supported_locale,
    translate,
    use_locale,
)
from bot.inputs import GenerateInputs, InvalidInput
from bot.moderation import InvalidPhrases, parse_phrases
from bot.providers.errors import (
    InputRejected,
    RateLimited,
    ServiceFailure,
    provider_error_text,
)
from bot.quota import (
    GUILD_MONTHLY_BUDGET,
    USER_DAILY,
    Allowance,
    Limits,
    QuotaDenied,
    Snapshot,
    Usage,
    Window,
    decide,
    format_value,
)

ROOT = Path(__file__).resolve().parents[1]
NOW = 1_767_225_600.0  # 2026-01-01 00:00 UTC


def test_every_catalog_matches_the_code() -> None:
    """The ids Babel extracts from bot/ and cogs/ are exactly each catalog's, every one is
    translated with the same placeholders, and the .mo files are compiled from the .po."""
    problems = catalogs.check()
    assert problems == [], "\n".join(problems) + (
        "\nrun `python -m bot.i18n.catalogs update`, translate, then `... compile`")
    extracted = catalogs.messages(catalogs.extract().catalog)
    assert len(extracted) > 250
    assert (None, "The bot is restarting: try again in a moment.") in extracted
    assert (None, ("{n} image left today", "{n} images left today")) in extracted


def _write_catalog(path: Path, locale: str, entries: dict[str, str]) -> None:
    catalog = Catalog(locale=catalogs.catalog_name(locale), domain=translate.DOMAIN)
    for msgid, msgstr in entries.items():
        catalog.add(msgid, msgstr)
    path.parent.mkdir(parents=True, exist_ok=True)
    with path.open("wb") as file:
        write_po(file, catalog)


def test_the_check_reports_missing_stale_and_broken_messages(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(catalogs, "LOCALE_DIR", tmp_path)
    template = Catalog(domain=translate.DOMAIN)
    for msgid in ("Hello {name}", "Bye", "New one"):
        template.add(msgid)
    _write_catalog(catalogs.po_path("it"), "it", {
        "Hello {name}": "Ciao {nome}", "Bye": "", "Gone from the code": "Sparito"})
    problems = catalogs.catalog_problems("it", template)
    assert "it: missing 'New one'" in problems
    assert "it: no longer used 'Gone from the code'" in problems
    assert "it: untranslated 'Bye'" in problems
    assert any("placeholders ['nome'] instead of ['name']" in p for p in problems)
    assert any("messages.mo is not compiled" in p for p in problems)


def test_the_catalogs_ship_in_the_package() -> None:
    """``pip install .`` needs no build step: the compiled catalogs are package data."""
    patterns = tomllib.loads((ROOT / "pyproject.toml").read_text())["tool"]["setuptools"][
        "package-data"]["bot"]
    for locale in TRANSLATED_LOCALES:
        compiled = catalogs.mo_path(locale).relative_to(ROOT / "bot").as_posix()
        assert catalogs.mo_path(locale).is_file()
        assert any(fnmatch.fnmatch(compiled, pattern) for pattern in patterns), compiled


@pytest.mark.parametrize(("discord_locale", "expected"), [
    ("en-US", "en"), ("en-GB", "en"), ("pt-BR", "pt-BR"), ("it", "it"), ("pt-PT", None),
    ("es-ES", None), ("fr", None), ("", None), (None, None),
])
def test_discord_locales_map_to_the_bots_languages(discord_locale: str | None,
                                                   expected: str | None) -> None:
    assert supported_locale(discord_locale) == expected
    assert reader_locale(discord_locale) == (expected or "en")


def test_use_locale_sets_and_restores() -> None:
    assert current_locale() == DEFAULT_LOCALE
    with use_locale("it"):
        assert current_locale() == "it"
        with use_locale("pt-BR"):
            assert _("Queue") == "Fila"
        assert _("Queue") == "Coda"
    with use_locale("de"):  # a language the bot does not speak: English
        assert _("Queue") == "Queue"
    assert current_locale() == DEFAULT_LOCALE


async def test_each_task_keeps_its_own_language() -> None:
    started = asyncio.Event()

    async def speak(locale: str) -> list[str]:
        with use_locale(locale):
            said = [_("Queue")]
            started.set()
            await asyncio.sleep(0)  # the other task runs here, in its own language
            said.append(_("Queue"))
            return said

    assert await asyncio.gather(speak("pt-BR"), speak("it"), speak("en")) == [
        ["Fila", "Fila"], ["Coda", "Coda"], ["Queue", "Queue"]]


#: One row per locale: 1 and 3 images left today, a cost and a monthly budget.
READERS_NUMBERS = [
    ("en", "1 image left today", "3 images left today", "$0.08", "$25.50"),
    ("pt-BR", "1 imagem restante hoje", "3 imagens restantes hoje", "US$\xa00,08",
     "US$\xa025,50"),
    ("it", "1 immagine rimasta oggi", "3 immagini rimaste oggi", "0,08\xa0USD", "25,50\xa0USD"),
]


@pytest.mark.parametrize(("locale", "one", "three", "cost", "budget"), READERS_NUMBERS)
def test_plurals_and_money_are_written_for_the_reader(locale: str, one: str, three: str,
                                                      cost: str, budget: str) -> None:
    with use_locale(locale):
        assert Allowance(daily_left=1, monthly_left=None, budget_left=None).footer_text() == one
        assert Allowance(daily_left=3, monthly_left=None, budget_left=None).footer_text() == three
        assert format_cost(0.08) == cost
        assert format_value(GUILD_MONTHLY_BUDGET, 25.5) == budget


def test_counts_and_costs_in_portuguese() -> None:
    with use_locale("pt-BR"):
        assert ngettext("{n} day", "{n} days", 1500) == "1.500 dias"
        assert format_cost(0.035, digits=3) == "US$\xa00,035"
        assert format_number(1234567) == "1.234.567"
    assert ngettext("{n} day", "{n} days", 1500) == "1,500 days"


def _snapshot(*, user_daily: int | None = None, used: int = 0,
              budget: float | None = None) -> Snapshot:
    return Snapshot(limits=Limits(user_daily=user_daily, guild_monthly_budget=budget),
                    member_daily=None, usage=Usage(user_day=used, month_spent=used * 0.08))


def test_a_refusal_speaks_the_language_of_whoever_reads_it() -> None:
    """A quota decision may be made for several commands at once, in any task: its text is
    translated when it is shown."""
    with use_locale("it"):
        denied = decide(_snapshot(user_daily=10, used=10), Window.at(NOW), NOW)
    assert isinstance(denied, QuotaDenied) and denied.kind == USER_DAILY
    midnight = int(Window.at(NOW).day_end)
    assert denied.message == f"Daily limit for you (10) reached — resets <t:{midnight}:R>"
    with use_locale("pt-BR"):
        assert denied.message == (f"Você atingiu seu limite diário (10) — o limite renova "
                                  f"<t:{midnight}:R>")
    with use_locale("it"):
        assert str(denied) == (f"Hai raggiunto il tuo limite giornaliero (10) — si azzera "
                               f"<t:{midnight}:R>")


def test_a_batch_larger_than_what_is_left_says_how_many_are_left() -> None:
    window = Window.at(NOW)
    one = decide(_snapshot(user_daily=10, used=9), window, NOW, units=3)
    three = decide(_snapshot(user_daily=10, used=7), window, NOW, units=4)
    assert one is not None and three is not None
    assert one.message.startswith("You have 1 image left today (your limit is 10).")
    with use_locale("pt-BR"):
        assert three.message.startswith("Você tem 3 imagens restantes hoje (seu limite é 10).")
    with use_locale("it"):
        assert one.message.startswith("Ti resta 1 immagine oggi (il tuo limite è 10).")


def test_a_budget_refusal_writes_money_the_readers_way() -> None:
    window = Window.at(NOW)
    denied = decide(_snapshot(budget=1.0, used=12), window, NOW, estimate=0.08)
    assert denied is not None
    assert "($1.00)" in denied.message and "$0.96 spent" in denied.message
    with use_locale("pt-BR"):
        assert "(US$\xa01,00)" in denied.message and "US$\xa00,08" in denied.message


def test_exceptions_from_bot_are_translated_when_shown() -> None:
    with pytest.raises(InvalidInput) as bad_seed:
        GenerateInputs(prompt="a cat", seed=-1)
    with pytest.raises(InvalidPhrases) as no_words:
        parse_phrases(" , ")
    with use_locale("pt-BR"):
        assert bad_seed.value.message == ("A seed -1 está fora do intervalo: use de 0 a "
                                          "2147483647.")
        assert str(no_words.value).startswith("Informe pelo menos uma palavra")
    assert bad_seed.value.message == "Seed -1 is out of range: use 0 to 2147483647."


def test_provider_errors_keep_english_and_codes_and_show_the_readers_language() -> None:
    failure = ServiceFailure("boom", status_code=503)
    assert failure.user_message == ("The image service failed (error 503). Please try again "
                                    "shortly.")
    assert (failure.code, failure.params) == ("service_failure", {"status": 503})
    with use_locale("it"):
        assert failure.localized_message == ("Il servizio di immagini ha avuto un problema "
                                             "(errore 503). Riprova tra poco.")
        assert RateLimited().localized_message.startswith("Il servizio di immagini è occupato")
        assert provider_error_text(InputRejected.code) == _(InputRejected.user_message)
    assert provider_error_text("not_a_provider_code") is None


def test_a_translation_that_breaks_its_placeholders_falls_back_to_english(
        monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture) -> None:
    class Broken:
        def gettext(self, message: str) -> str:
            return "Olá {nome}"

    monkeypatch.setattr(translate, "translations", lambda locale: Broken())
    caplog.set_level(logging.WARNING, logger="bot.i18n.translate")
    with use_locale("pt-BR"):
        assert _("Hello {name}", name="Ana") == "Hello Ana"
        assert str(lazy("Hello {name}", name="Bia")) == "Hello Bia"
    assert "does not fit its placeholders" in caplog.text


def test_every_language_has_a_name_and_a_catalog() -> None:
    assert LOCALES == ("en", "pt-BR", "it")
    for locale in TRANSLATED_LOCALES:
        assert type(translate.translations(locale)).__name__ == "GNUTranslations"
