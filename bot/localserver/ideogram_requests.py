"""The body of the Ideogram-compatible synchronous API's generate call: its checks and size.

``POST /ideogram/generate`` takes ``{"image_request": {...}}`` with the fields below, by
Ideogram's own rules: models ``V_1``, ``V_1_TURBO``, ``V_2``, ``V_2_TURBO``; a resolution
or an aspect ratio, not both; styles and colour palettes only on the models that have them.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, Final

from bot.ideogram_api import (
    ASPECT_RATIO_ENUMS,
    MAGIC_PROMPT_OPTIONS,
    STYLE_TYPES,
    aspect_ratio_from_enum,
)
from bot.inputs import (
    COLOR_PALETTE_MODELS,
    COLOR_PALETTES,
    DEFAULT_IDEOGRAM_MODEL,
    IDEOGRAM_MODELS,
    SEED_MAX,
    STYLE_MODELS,
    aspect_ratio_size,
)

IDEOGRAM_FIELDS: Final = frozenset({
    "prompt", "aspect_ratio", "model", "magic_prompt_option", "style_type", "negative_prompt",
    "seed", "resolution", "color_palette",
})
RESOLUTION_PREFIX: Final = "RESOLUTION_"


def ideogram_size(image_request: Mapping[str, Any]) -> tuple[int, int]:
    """Pixel size of a generate request: its resolution, else its aspect ratio (1:1)."""
    resolution = image_request.get("resolution")
    if isinstance(resolution, str) and resolution.startswith(RESOLUTION_PREFIX):
        w, h = resolution.removeprefix(RESOLUTION_PREFIX).split("_")
        return int(w), int(h)
    ratio = aspect_ratio_from_enum(str(image_request.get("aspect_ratio", "ASPECT_1_1")))
    return aspect_ratio_size(ratio)


def _is_resolution(value: object) -> bool:
    if not isinstance(value, str) or not value.startswith(RESOLUTION_PREFIX):
        return False
    parts = value.removeprefix(RESOLUTION_PREFIX).split("_")
    return len(parts) == 2 and all(p.isdigit() and 256 <= int(p) <= 2048 for p in parts)


def _is_seed(value: object) -> bool:
    return isinstance(value, int) and not isinstance(value, bool) and 0 <= value <= SEED_MAX


def _is_palette(value: object) -> bool:
    return value is None or (
        isinstance(value, dict) and set(value) == {"name"} and value["name"] in COLOR_PALETTES
    )


def ideogram_request_error(body: object) -> str | None:
    """Why a generate body is invalid (by Ideogram's rules), or None when it is valid."""
    if not isinstance(body, dict) or set(body) != {"image_request"}:
        return "the body must be {\"image_request\": {...}}"
    req = body["image_request"]
    if not isinstance(req, dict):
        return "image_request must be an object"
    unknown = set(req) - IDEOGRAM_FIELDS
    if unknown:
        return f"unknown field(s): {', '.join(sorted(unknown))}"
    prompt = req.get("prompt")
    if not isinstance(prompt, str) or not prompt.strip():
        return "prompt is required"
    model = req.get("model", DEFAULT_IDEOGRAM_MODEL)
    palette = req.get("color_palette")
    checks: list[tuple[str, bool]] = [
        ("model", model in IDEOGRAM_MODELS),
        ("aspect_ratio", req.get("aspect_ratio", "ASPECT_1_1") in ASPECT_RATIO_ENUMS.values()),
        ("magic_prompt_option", req.get("magic_prompt_option", "AUTO") in MAGIC_PROMPT_OPTIONS),
        ("style_type", req.get("style_type", "AUTO") in STYLE_TYPES.values()),
        ("negative_prompt", isinstance(req.get("negative_prompt", ""), str)),
        ("resolution", "resolution" not in req or _is_resolution(req["resolution"])),
        ("seed", _is_seed(req.get("seed", 0))),
        ("color_palette", _is_palette(palette)),
    ]
    for name, ok in checks:
        if not ok:
            return f"invalid {name}"
    if "resolution" in req and "aspect_ratio" in req:
        return "give resolution or aspect_ratio, not both"
    if "style_type" in req and model not in STYLE_MODELS:
        return f"style_type is not supported by {model}"
    if palette is not None and model not in COLOR_PALETTE_MODELS:
        return f"color_palette is not supported by {model}"
    return None
