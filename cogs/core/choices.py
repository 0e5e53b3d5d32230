"""The choices whose names are words, as :class:`~discord.app_commands.locale_str`, so that
the catalogs hold them and :class:`~cogs.core.translator.CommandTranslator` shows them in
each member's language. Use them with ``@app_commands.choices(option=...)`` and annotate
the option as ``str``.

Choices whose names are the same in every language (aspect ratios, palette presets, model
and provider names, limit names, language names) keep their names as they are: listed in
:data:`LANGUAGE_NEUTRAL_OPTIONS`.
"""

from __future__ import annotations

from typing import Final, Literal

from discord.app_commands import Choice, locale_str

#: Ideogram's aspect ratios (/ideogram's and a preset's ``aspect_ratio``).
AspectRatio = Literal["3:1", "16:9", "16:10", "3:2", "4:3", "1:1", "3:4", "2:3", "10:16",
                      "9:16", "1:3"]
#: Ideogram's colour palette presets (``color_palette`` of /ideogram, /reframe and a preset).
Palette = Literal["EMBER", "FRESH", "JUNGLE", "MAGIC", "MELON", "MOSAIC", "PASTEL",
                  "ULTRAMARINE"]

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

#: Options whose choices are names, not words: they read the same in every language.
LANGUAGE_NEUTRAL_OPTIONS: Final = frozenset({
    "aspect_ratio", "color_palette", "model", "provider", "command", "limit", "language",
})
