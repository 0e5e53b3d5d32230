"""/ideogram's options → the Ideogram-compatible synchronous API's request: every value."""

from __future__ import annotations

import itertools

import pytest

from bot.ideogram_api import (
    ASPECT_RATIO_ENUMS,
    aspect_ratio_enum,
    aspect_ratio_from_enum,
    image_request,
    magic_prompt_option,
    style_type,
)
from bot.inputs import (
    ASPECT_RATIOS,
    COLOR_PALETTES,
    IDEOGRAM_GENERATE_MODEL,
    IDEOGRAM_MODELS,
    STYLES,
    IdeogramGenerateInputs,
    InvalidInput,
    inputs_from_payload,
)
from bot.localserver.app import ideogram_request_error
from bot.pricing import PriceTable

SEED_004_ASPECTS = {"ASPECT_10_16", "ASPECT_16_10", "ASPECT_9_16", "ASPECT_16_9", "ASPECT_3_2",
                    "ASPECT_2_3", "ASPECT_4_3", "ASPECT_3_4", "ASPECT_1_1", "ASPECT_1_3",
                    "ASPECT_3_1"}


@pytest.mark.parametrize(("style", "expected"), [
    ("auto", "AUTO"), ("general", "GENERAL"), ("realistic", "REALISTIC"),
    ("design", "DESIGN"), ("render_3D", "RENDER_3D"), ("anime", "ANIME"),
])
def test_style_type_for_every_style(style: str, expected: str) -> None:
    assert style_type(style) == expected


def test_every_style_is_mapped() -> None:
    assert [style_type(s) for s in STYLES] == ["AUTO", "GENERAL", "REALISTIC", "DESIGN",
                                               "RENDER_3D", "ANIME"]
    with pytest.raises(InvalidInput):
        style_type("photoreal")


@pytest.mark.parametrize(("ratio", "expected"), [
    ("3:1", "ASPECT_3_1"), ("16:9", "ASPECT_16_9"), ("16:10", "ASPECT_16_10"),
    ("3:2", "ASPECT_3_2"), ("4:3", "ASPECT_4_3"), ("1:1", "ASPECT_1_1"),
    ("3:4", "ASPECT_3_4"), ("2:3", "ASPECT_2_3"), ("10:16", "ASPECT_10_16"),
    ("9:16", "ASPECT_9_16"), ("1:3", "ASPECT_1_3"),
])
def test_aspect_ratio_for_every_value(ratio: str, expected: str) -> None:
    assert aspect_ratio_enum(ratio) == expected
    assert aspect_ratio_from_enum(expected) == ratio


def test_aspect_ratios_are_exactly_the_seeds() -> None:
    assert len(ASPECT_RATIOS) == 11
    assert {aspect_ratio_enum(r) for r in ASPECT_RATIOS} == SEED_004_ASPECTS
    assert set(ASPECT_RATIO_ENUMS) == set(ASPECT_RATIOS)
    with pytest.raises(InvalidInput):
        aspect_ratio_enum("5:4")


def test_magic_prompt_option() -> None:
    assert magic_prompt_option(True) == "ON"
    assert magic_prompt_option(False) == "OFF"
    with pytest.raises(InvalidInput):
        magic_prompt_option("yes")  # type: ignore[arg-type]  # wrong on purpose


def test_request_sends_only_fields_with_values() -> None:
    inputs = IdeogramGenerateInputs(prompt="a red fox", seed=42)
    assert image_request(inputs) == {"image_request": {
        "prompt": "a red fox", "aspect_ratio": "ASPECT_1_1", "model": "V_2",
        "magic_prompt_option": "ON", "seed": 42, "style_type": "AUTO",
    }}
    full = IdeogramGenerateInputs(prompt="a red fox", seed=0, style="render_3D",
                                  aspect_ratio="9:16", magic_prompt=False,
                                  negative_prompt="blur", ideogram_model="V_2_TURBO",
                                  color_palette="MELON")
    assert image_request(full) == {"image_request": {
        "prompt": "a red fox", "aspect_ratio": "ASPECT_9_16", "model": "V_2_TURBO",
        "magic_prompt_option": "OFF", "seed": 0, "style_type": "RENDER_3D",
        "negative_prompt": "blur", "color_palette": {"name": "MELON"},
    }}
    # V_1 models take no style_type: auto sends none; a blank negative prompt is not sent.
    v1 = IdeogramGenerateInputs(prompt="x", seed=1, ideogram_model="V_1", negative_prompt="  ")
    assert image_request(v1)["image_request"] == {
        "prompt": "x", "aspect_ratio": "ASPECT_1_1", "model": "V_1",
        "magic_prompt_option": "ON", "seed": 1}


@pytest.mark.parametrize(("model", "style", "palette"), list(itertools.product(
    IDEOGRAM_MODELS, STYLES, (None, *COLOR_PALETTES))))
def test_model_support_for_every_combination(model: str, style: str,
                                             palette: str | None) -> None:
    """style_type and color_palette only with V_2 and V_2_TURBO (Ideogram's public API);
    style auto is always fine; whatever is accepted is accepted by the local server."""
    v2 = model in ("V_2", "V_2_TURBO")
    ok = v2 or (style == "auto" and palette is None)
    build = lambda: IdeogramGenerateInputs(  # noqa: E731
        prompt="p", seed=7, style=style, ideogram_model=model, color_palette=palette,
        negative_prompt="no text")
    if not ok:
        with pytest.raises(InvalidInput) as info:
            build()
        assert model in info.value.message and "V_2" in info.value.message
        return
    inputs = build()
    request = image_request(inputs)
    assert ideogram_request_error(request) is None
    assert ("style_type" in request["image_request"]) is v2
    assert request["image_request"]["negative_prompt"] == "no text"


def test_stored_payload_round_trips_for_reroll_and_info() -> None:
    inputs = IdeogramGenerateInputs(prompt="a kite", seed=9, style="anime", aspect_ratio="16:9",
                                    magic_prompt=False, negative_prompt="rain",
                                    ideogram_model="V_2_TURBO", color_palette="JUNGLE")
    payload = inputs.to_payload()
    assert payload == {"prompt": "a kite", "style": "anime", "aspect_ratio": "16:9",
                       "expand_prompt": False, "seed": 9, "negative_prompt": "rain",
                       "model": "V_2_TURBO", "color_palette": "JUNGLE"}
    rebuilt = inputs_from_payload(IDEOGRAM_GENERATE_MODEL, payload)
    assert rebuilt == inputs and rebuilt.model == IDEOGRAM_GENERATE_MODEL
    assert rebuilt.with_seed(10).to_payload() == {**payload, "seed": 10}
    # The /ideogram-style keys alone (no model, no palette) rebuild with the defaults.
    plain = inputs_from_payload(IDEOGRAM_GENERATE_MODEL, {"prompt": "a", "seed": 1})
    assert isinstance(plain, IdeogramGenerateInputs) and plain.ideogram_model == "V_2"


@pytest.mark.parametrize(("field", "value"), [
    ("ideogram_model", "V_3"), ("color_palette", "NEON"), ("style", "photo"),
    ("aspect_ratio", "5:4"), ("seed", -1), ("prompt", " "),
])
def test_invalid_values_are_refused(field: str, value: object) -> None:
    kwargs: dict[str, object] = {"prompt": "p", "seed": 1, field: value}
    with pytest.raises(InvalidInput):
        IdeogramGenerateInputs(**kwargs)  # type: ignore[arg-type]  # wrong on purpose


def test_price_is_the_generate_price() -> None:
    assert PriceTable(generate=0.05).estimate(IDEOGRAM_GENERATE_MODEL, {}) == 0.05
