"""Server presets (a server's brand kit): named defaults for ``/ideogram``.

A preset holds any of style, aspect ratio, magic prompt, negative prompt, a prompt suffix
and a colour palette. Used with ``/ideogram preset:<name>``, it fills every option the
member did not give (the member's own options win), and its suffix is appended to the
prompt after ", ". A server keeps at most :data:`MAX_PRESETS`; saving an existing name
replaces it. Nothing here imports Discord.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Final, TypeVar

from bot.i18n import LocalList, LocalNumber, lazy
from bot.inputs import (
    ASPECT_RATIOS,
    COLOR_PALETTES,
    DEFAULT_ASPECT_RATIO,
    DEFAULT_STYLE,
    NEGATIVE_PROMPT_MAX,
    PROMPT_MAX,
    STYLES,
    InvalidInput,
    unsendable,
)

T = TypeVar("T")

MAX_PRESETS: Final = 25
NAME_MAX: Final = 32
PROMPT_SUFFIX_MAX: Final = 500
SUFFIX_SEPARATOR: Final = ", "


@dataclass(frozen=True, slots=True)
class Preset:
    """One server preset; None means "not set by the preset"."""

    name: str
    style: str | None = None
    aspect_ratio: str | None = None
    magic_prompt: bool | None = None
    negative_prompt: str | None = None
    prompt_suffix: str | None = None
    color_palette: str | None = None
    created_by: int = 0
    updated_at: float = 0.0

    @property
    def key(self) -> str:
        """Names are matched without regard to case (:func:`preset_key`)."""
        return preset_key(self.name)

    @property
    def texts(self) -> tuple[str | None, str | None]:
        """What the preset writes into a job's prompts: its suffix and negative prompt.

        The server's blocked words apply to these texts.
        """
        return self.prompt_suffix, self.negative_prompt

    def options(self) -> dict[str, object]:
        """The options this preset sets, by name (for /preset show and the log)."""
        return {name: value for name, value in (
            ("style", self.style), ("aspect_ratio", self.aspect_ratio),
            ("magic_prompt", self.magic_prompt), ("negative_prompt", self.negative_prompt),
            ("prompt_suffix", self.prompt_suffix), ("color_palette", self.color_palette),
        ) if value is not None}


def preset_key(name: str) -> str:
    """What a preset name is matched by: spaces collapsed, every letter's case folded.

    ``Água`` and ``água``, ``Straße`` and ``STRASSE`` name the same preset.
    """
    return " ".join(name.split()).casefold()


def clean_name(name: object) -> str:
    """A preset name as stored (spaces collapsed), or :class:`InvalidInput`."""
    if not isinstance(name, str):
        raise InvalidInput("name", lazy("A preset name is text."))
    cleaned = " ".join(name.split())
    if not 1 <= len(cleaned) <= NAME_MAX:
        raise InvalidInput("name", lazy("A preset name has 1 to {most} characters.",
                                        most=LocalNumber(NAME_MAX)))
    if any(ord(c) < 32 or c == "\x7f" for c in cleaned):
        raise InvalidInput("name", lazy("A preset name can't contain control characters."))
    if "`" in cleaned:  # the name is shown as code: `/ideogram preset:name`
        raise InvalidInput("name", lazy("A preset name can't contain the backtick character."))
    return cleaned


def make_preset(name: object, *, style: str | None = None, aspect_ratio: str | None = None,
                magic_prompt: bool | None = None, negative_prompt: str | None = None,
                prompt_suffix: str | None = None, color_palette: str | None = None,
                created_by: int = 0, updated_at: float = 0.0) -> Preset:
    """A checked preset, or :class:`InvalidInput` saying what to change."""
    preset = Preset(
        name=clean_name(name), style=style, aspect_ratio=aspect_ratio,
        magic_prompt=magic_prompt, negative_prompt=_text(negative_prompt),
        prompt_suffix=_text(prompt_suffix), color_palette=color_palette,
        created_by=created_by, updated_at=updated_at)
    if style is not None and style not in STYLES:
        raise InvalidInput("style", lazy("`{style}` is not a style: use {styles}.",
                                         style=style, styles=LocalList(STYLES, style="or")))
    if aspect_ratio is not None and aspect_ratio not in ASPECT_RATIOS:
        raise InvalidInput("aspect_ratio", lazy("`{value}` is not an aspect ratio.",
                                                value=aspect_ratio))
    if magic_prompt is not None and not isinstance(magic_prompt, bool):
        raise InvalidInput("magic_prompt", lazy("magic_prompt must be true or false."))
    if color_palette is not None and color_palette not in COLOR_PALETTES:
        raise InvalidInput("color_palette", lazy("`{value}` is not a colour palette.",
                                                 value=color_palette))
    if preset.negative_prompt is not None and len(preset.negative_prompt) > NEGATIVE_PROMPT_MAX:
        raise InvalidInput("negative_prompt", lazy(
            "The negative prompt has at most {most} characters.",
            most=LocalNumber(NEGATIVE_PROMPT_MAX)))
    if preset.prompt_suffix is not None and len(preset.prompt_suffix) > PROMPT_SUFFIX_MAX:
        raise InvalidInput("prompt_suffix", lazy(
            "The prompt suffix has at most {most} characters.",
            most=LocalNumber(PROMPT_SUFFIX_MAX)))
    if not preset.options():
        raise InvalidInput("name", lazy("Give the preset at least one option to keep, e.g. "
                                        "`style` or `prompt_suffix`."))
    return preset


def _text(value: str | None) -> str | None:
    if value is None:
        return None
    if unsendable(value):
        raise InvalidInput("text", lazy("Text can't contain NUL characters or broken "
                                        "characters."))
    stripped = value.strip()
    return stripped or None


@dataclass(frozen=True, slots=True)
class PromptOptions:
    """``/ideogram``'s options after the preset filled what the member left out."""

    prompt: str
    style: str
    aspect_ratio: str
    magic_prompt: bool
    negative_prompt: str
    color_palette: str | None


def apply_preset(preset: Preset | None, *, prompt: str, style: str | None = None,
                 aspect_ratio: str | None = None, magic_prompt: bool | None = None,
                 negative_prompt: str | None = None,
                 color_palette: str | None = None) -> PromptOptions:
    """Return the options a job runs with, a preset applied.

    The options to use: the member's where given, else the preset's, else the defaults;
    the preset's suffix appended to the prompt. :class:`InvalidInput` when the prompt with
    its suffix is longer than the limit.
    """
    chosen = preset or Preset(name="")
    if chosen.prompt_suffix:
        prompt = f"{prompt.rstrip()}{SUFFIX_SEPARATOR}{chosen.prompt_suffix}"
        if len(prompt) > PROMPT_MAX:
            raise InvalidInput("prompt", lazy(
                "With the preset's suffix your prompt is {length} characters; the limit is "
                "{most}. Shorten it.", length=LocalNumber(len(prompt)),
                most=LocalNumber(PROMPT_MAX)))
    return PromptOptions(
        prompt=prompt,
        style=_first(style, chosen.style, DEFAULT_STYLE),
        aspect_ratio=_first(aspect_ratio, chosen.aspect_ratio, DEFAULT_ASPECT_RATIO),
        magic_prompt=_first(magic_prompt, chosen.magic_prompt, True),
        negative_prompt=_first(negative_prompt, chosen.negative_prompt, ""),
        color_palette=color_palette if color_palette is not None else chosen.color_palette,
    )


def _first(given: T | None, preset: T | None, default: T) -> T:
    if given is not None:
        return given
    return preset if preset is not None else default
