"""The choices whose names are words, as :class:`~discord.app_commands.locale_str`, so that
the catalogs hold them and :class:`~cogs.core.translator.CommandTranslator` shows them in
each member's language. Use them with ``@app_commands.choices(option=...)`` and annotate
the option as ``str``.

A choice whose value is a name people should still recognise (a setting's name) is named
``label (value)`` by :func:`labelled_choices`: the label translated, the value kept.
Choices whose names are the same in every language (aspect ratios, model and provider
names, language names) keep their names as they are: listed in
:data:`LANGUAGE_NEUTRAL_OPTIONS`.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Final, Literal

from discord.app_commands import Choice, locale_str

from bot.i18n import N_

#: Ideogram's aspect ratios (/ideogram's and a preset's ``aspect_ratio``).
AspectRatio = Literal["3:1", "16:9", "16:10", "3:2", "4:3", "1:1", "3:4", "2:3", "10:16",
                      "9:16", "1:3"]

def worded_choices(*names: str) -> list[Choice[str]]:
    """One choice per name, its value the same word, its name in each member's language.
    Mark each name with ``N_`` where it is written, for the catalogs."""
    return [Choice(name=locale_str(name), value=name) for name in names]


#: /ideogram's ``style`` (and a preset's): Ideogram's style types.
STYLE_CHOICES: Final = worded_choices(
    # Translators: /ideogram style choices; "auto" lets Ideogram pick the style.
    N_("auto"), N_("general"), N_("realistic"), N_("design"), N_("render_3D"), N_("anime"),
)

#: /reframe's ``rendering_speed``.
RENDERING_SPEED_CHOICES: Final = worded_choices(
    # Translators: /reframe rendering speeds, fastest and cheapest first.
    N_("TURBO"), N_("BALANCED"), N_("QUALITY"),
)

#: Ideogram's colour palette presets (``color_palette`` of /ideogram, /reframe and a
#: preset): the value is Ideogram's name, sent as it is; the name keeps it recognisable.
PALETTE_CHOICES: Final = worded_choices(
    # Translators: Ideogram's colour palettes. Keep the name as it is and add its meaning
    # in brackets, e.g. "EMBER (ember)"; members may know the palettes by these names.
    N_("EMBER"), N_("FRESH"), N_("JUNGLE"), N_("MAGIC"), N_("MELON"), N_("MOSAIC"),
    N_("PASTEL"), N_("ULTRAMARINE"),
)

#: Options whose choices are names, not words: they read the same in every language.
LANGUAGE_NEUTRAL_OPTIONS: Final = frozenset({
    "aspect_ratio", "model", "provider", "command", "language",
})


def labelled_name(label: str, value: str) -> str:
    """A choice's name that keeps its value recognisable: ``Server per day (guild_daily)``."""
    return f"{label} ({value})"


def labelled_choices(labels: Mapping[str, str]) -> list[Choice[str]]:
    """One choice per ``value: label``, named :func:`labelled_name`: the label (English,
    marked with ``N_`` for the catalogs) in each member's language, the value as it is.
    The translator finds the label in the name's ``label`` extra."""
    choices: list[Choice[str]] = []
    for value, label in labels.items():
        name = labelled_name(label, value)
        choices.append(Choice(name=locale_str(name, label=label, value=value), value=value))
    return choices
