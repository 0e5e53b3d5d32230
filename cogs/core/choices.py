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

#: Ideogram's aspect ratios (/ideogram's and a preset's ``aspect_ratio``).
AspectRatio = Literal["3:1", "16:9", "16:10", "3:2", "4:3", "1:1", "3:4", "2:3", "10:16",
                      "9:16", "1:3"]

#: /ideogram's ``style`` (and a preset's): Ideogram's style types.
STYLE_CHOICES: Final[list[Choice[str]]] = [
    # Translators: /ideogram style choices; "auto" lets Ideogram pick the style.
    Choice(name=locale_str("auto"), value="auto"),
    Choice(name=locale_str("general"), value="general"),
    Choice(name=locale_str("realistic"), value="realistic"),
    Choice(name=locale_str("design"), value="design"),
    Choice(name=locale_str("render_3D"), value="render_3D"),
    Choice(name=locale_str("anime"), value="anime"),
]

#: /reframe's ``rendering_speed``.
RENDERING_SPEED_CHOICES: Final[list[Choice[str]]] = [
    # Translators: /reframe rendering speeds, fastest and cheapest first.
    Choice(name=locale_str("TURBO"), value="TURBO"),
    Choice(name=locale_str("BALANCED"), value="BALANCED"),
    Choice(name=locale_str("QUALITY"), value="QUALITY"),
]

#: Ideogram's colour palette presets (``color_palette`` of /ideogram, /reframe and a
#: preset): the value is Ideogram's name, sent as it is; the name keeps it recognisable.
PALETTE_CHOICES: Final[list[Choice[str]]] = [
    # Translators: Ideogram's colour palettes. Keep the name as it is and add its meaning
    # in brackets, e.g. "EMBER (ember)"; members may know the palettes by these names.
    Choice(name=locale_str("EMBER"), value="EMBER"),
    Choice(name=locale_str("FRESH"), value="FRESH"),
    Choice(name=locale_str("JUNGLE"), value="JUNGLE"),
    Choice(name=locale_str("MAGIC"), value="MAGIC"),
    Choice(name=locale_str("MELON"), value="MELON"),
    Choice(name=locale_str("MOSAIC"), value="MOSAIC"),
    Choice(name=locale_str("PASTEL"), value="PASTEL"),
    Choice(name=locale_str("ULTRAMARINE"), value="ULTRAMARINE"),
]

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
