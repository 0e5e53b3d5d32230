"""Command localizations: Discord shows each command's descriptions, the names of its
choices and the name of the message menu in the member's language.

discord.py asks :class:`CommandTranslator` for every string of every command when the tree
is synced (set in ``setup_hook``), once per Discord locale. It answers from the same
gettext catalogs as the messages, for the languages the bot speaks besides English (the
source text); for any other locale, and for a text the catalog does not change, it answers
None and Discord shows the English text.
Command, group and option names stay as they are (the interface is fixed in English);
choice names, descriptions and the context menu's name are translated. A choice is only
translated when its name is a :class:`~discord.app_commands.locale_str` (see
:mod:`cogs.core.choices`; a labelled choice's label is translated, its value kept).
"""

from __future__ import annotations

from typing import Final

import discord
from discord import app_commands
from discord.app_commands import TranslationContextLocation as Where

from bot.i18n import DEFAULT_LOCALE, gettext_in, supported_locale
from cogs.core.choices import labelled_name

#: What is translated; names of commands, groups and options are not.
TRANSLATED: Final = frozenset({Where.command_description, Where.group_description,
                               Where.parameter_description, Where.choice_name})


class CommandTranslator(app_commands.Translator):
    async def translate(self, string: app_commands.locale_str, locale: discord.Locale,
                        context: app_commands.TranslationContextTypes) -> str | None:
        language = supported_locale(locale.value)
        if language is None or language == DEFAULT_LOCALE:
            return None
        menu = (context.location is Where.command_name
                and isinstance(context.data, app_commands.ContextMenu))
        if context.location not in TRANSLATED and not menu:
            return None
        label = string.extras.get("label")
        if context.location is Where.choice_name and isinstance(label, str):
            # A labelled choice (cogs.core.choices.labelled_choices): only the label is words.
            translated = labelled_name(gettext_in(language, label), str(string.extras["value"]))
        else:
            translated = gettext_in(language, string.message)
        # Not in the catalog, or the same words (a name such as "anime"): Discord shows the
        # English text, which is what it would show anyway.
        return translated if translated != string.message else None
