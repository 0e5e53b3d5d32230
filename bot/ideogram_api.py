"""From ``/ideogram``'s options to the Ideogram-compatible synchronous API's request.

Pure functions and tables, no I/O: ``tests/test_ideogram_api.py`` checks every value.
The request is ``{"image_request": {...}}`` with only the fields that have values:
``prompt``, ``aspect_ratio`` (``ASPECT_16_9``), ``model``, ``magic_prompt_option``
(``ON``/``OFF``), ``seed``, and when set ``style_type`` (V_2 models only),
``negative_prompt`` and ``color_palette``. ``resolution`` is never sent: ``/ideogram`` asks
for an aspect ratio, and Ideogram takes one or the other.

``color_palette`` is sent as Ideogram's palette object ``{"name": "EMBER"}``: the API's
reference lists every field as a flat "string" and defers to Ideogram's documentation for
the full parameters, where a preset palette is that object (the same shape ``/reframe`` sends).
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, Final

from bot.i18n import lazy
from bot.inputs import (
    ASPECT_RATIOS,
    STYLE_MODELS,
    STYLES,
    IdeogramGenerateInputs,
    InvalidInput,
)

STYLE_TYPES: Final[Mapping[str, str]] = {
    "auto": "AUTO",
    "general": "GENERAL",
    "realistic": "REALISTIC",
    "design": "DESIGN",
    "render_3D": "RENDER_3D",
    "anime": "ANIME",
}
ASPECT_RATIO_ENUMS: Final[Mapping[str, str]] = {
    "3:1": "ASPECT_3_1",
    "16:9": "ASPECT_16_9",
    "16:10": "ASPECT_16_10",
    "3:2": "ASPECT_3_2",
    "4:3": "ASPECT_4_3",
    "1:1": "ASPECT_1_1",
    "3:4": "ASPECT_3_4",
    "2:3": "ASPECT_2_3",
    "10:16": "ASPECT_10_16",
    "9:16": "ASPECT_9_16",
    "1:3": "ASPECT_1_3",
}
#: The values the API's reference lists for ``magic_prompt_option``; ``/ideogram`` sends
#: ON or OFF.
MAGIC_PROMPT_OPTIONS: Final = ("AUTO", "ON", "OFF")

assert tuple(STYLE_TYPES) == STYLES and tuple(ASPECT_RATIO_ENUMS) == ASPECT_RATIOS


def style_type(style: str) -> str:
    """``render_3D`` → ``RENDER_3D``."""
    try:
        return STYLE_TYPES[style]
    except KeyError:
        raise InvalidInput("style", lazy("`{value}` is not a valid {option}.", value=style,
                                         option="style")) from None


def aspect_ratio_enum(aspect_ratio: str) -> str:
    """``16:9`` → ``ASPECT_16_9``."""
    try:
        return ASPECT_RATIO_ENUMS[aspect_ratio]
    except KeyError:
        raise InvalidInput("aspect_ratio", lazy("`{value}` is not a valid {option}.",
                                                value=aspect_ratio, option="aspect_ratio")) \
            from None


def aspect_ratio_from_enum(value: str) -> str:
    """``ASPECT_16_9`` → ``16:9`` (for the local server)."""
    for ratio, enum in ASPECT_RATIO_ENUMS.items():
        if enum == value:
            return ratio
    raise ValueError(f"unknown aspect ratio {value!r}")


def magic_prompt_option(magic_prompt: bool) -> str:
    """``/ideogram``'s boolean ``magic_prompt`` → ``ON`` / ``OFF``."""
    if not isinstance(magic_prompt, bool):
        raise InvalidInput("magic_prompt", lazy("magic_prompt must be true or false."))
    return "ON" if magic_prompt else "OFF"


def image_request(inputs: IdeogramGenerateInputs) -> dict[str, Any]:
    """The JSON body of ``POST /ideogram/generate`` for validated inputs."""
    request: dict[str, Any] = {
        "prompt": inputs.prompt,
        "aspect_ratio": aspect_ratio_enum(inputs.aspect_ratio),
        "model": inputs.ideogram_model,
        "magic_prompt_option": magic_prompt_option(inputs.magic_prompt),
        "seed": inputs.seed,
    }
    if inputs.ideogram_model in STYLE_MODELS:
        request["style_type"] = style_type(inputs.style)
    if inputs.negative_prompt.strip():
        request["negative_prompt"] = inputs.negative_prompt
    if inputs.color_palette is not None:
        request["color_palette"] = {"name": inputs.color_palette}
    return {"image_request": request}
