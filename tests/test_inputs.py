"""Every payload the bot can build validates against the JSON schemas the providers publish,
and nothing else does."""

from __future__ import annotations

import itertools
import json
from pathlib import Path

import jsonschema
import pytest

from bot import inputs
from bot.i18n import use_locale
from bot.inputs import (
    ASPECT_RATIOS,
    COLOR_PALETTES,
    RENDERING_SPEEDS,
    RESOLUTIONS,
    STYLES,
    GenerateInputs,
    InvalidInput,
    ReframeInputs,
    inputs_from_payload,
)

REPO = Path(__file__).resolve().parents[1]
SHARED_SPEC = REPO.parent / "shared" / "spec"
PACKAGED_SPEC = REPO / "bot" / "spec"
SPEC_DIR = SHARED_SPEC if SHARED_SPEC.is_dir() else PACKAGED_SPEC


def _validator(name: str) -> jsonschema.protocols.Validator:
    schema = json.loads((SPEC_DIR / name).read_text())
    cls = jsonschema.validators.validator_for(schema)
    cls.check_schema(schema)
    return cls(schema)


GENERATE = _validator("ideogram-v2-generate.input.schema.json")
REFRAME = _validator("ideogram-v3-reframe.input.schema.json")


def test_packaged_schemas_are_the_seed_schemas() -> None:
    if not SHARED_SPEC.is_dir():
        pytest.skip("../shared/spec is not beside this checkout")
    for path in SHARED_SPEC.glob("*.json"):
        assert (PACKAGED_SPEC / path.name).read_bytes() == path.read_bytes(), path.name


def test_enums_are_exactly_the_schemas() -> None:
    g = GENERATE.schema["properties"]
    r = REFRAME.schema["properties"]
    assert tuple(g["style"]["enum"]) == STYLES and len(STYLES) == 6
    assert tuple(g["aspect_ratio"]["enum"]) == ASPECT_RATIOS and len(ASPECT_RATIOS) == 11
    assert tuple(r["resolution"]["enum"]) == RESOLUTIONS and len(RESOLUTIONS) == 69
    assert tuple(r["rendering_speed"]["enum"]) == RENDERING_SPEEDS and len(RENDERING_SPEEDS) == 3
    assert r["resolution"]["default"] == inputs.DEFAULT_RESOLUTION
    assert g["seed"]["minimum"] == r["seed"]["minimum"] == inputs.SEED_MIN
    assert g["seed"]["maximum"] == r["seed"]["maximum"] == inputs.SEED_MAX


@pytest.mark.parametrize("seed", [0, 1, 2147483646, 2147483647])
def test_every_generate_combination_validates(seed: int) -> None:
    count = 0
    for style, ratio, magic, negative in itertools.product(
        STYLES, ASPECT_RATIOS, (True, False), ("", "blurry, text")
    ):
        payload = GenerateInputs(
            prompt="A neon sign that says \"hello\"\nwith ünïcode ✨", seed=seed, style=style,
            aspect_ratio=ratio, magic_prompt=magic, negative_prompt=negative,
        ).to_payload()
        GENERATE.validate(payload)
        assert payload["seed"] == seed
        assert ("negative_prompt" in payload) == bool(negative)
        assert payload["expand_prompt"] is magic
        count += 1
    assert count == 6 * 11 * 2 * 2


@pytest.mark.parametrize("seed", [0, 2147483647])
def test_every_reframe_combination_validates(seed: int) -> None:
    count = 0
    for resolution, speed, palette in itertools.product(
        RESOLUTIONS, RENDERING_SPEEDS, (None, *COLOR_PALETTES)
    ):
        payload = ReframeInputs(
            image_url="https://cdn.discordapp.com/attachments/1/2/cat.png", seed=seed,
            resolution=resolution, rendering_speed=speed, color_palette=palette,
        ).to_payload()
        REFRAME.validate(payload)
        if palette is None:
            assert "color_palette" not in payload
        else:
            assert payload["color_palette"] == {"name": palette}
        count += 1
    assert count == 69 * 3 * 9


def test_random_seeds_validate() -> None:
    for _ in range(200):
        GENERATE.validate(GenerateInputs(prompt="x", seed=inputs.random_seed()).to_payload())


@pytest.mark.parametrize(
    ("kwargs", "option"),
    [
        ({"seed": -1}, "seed"),
        ({"seed": 2147483648}, "seed"),
        ({"seed": True}, "seed"),
        ({"seed": 1.5}, "seed"),
        ({"prompt": ""}, "prompt"),
        ({"prompt": "   "}, "prompt"),
        ({"prompt": "x" * 2001}, "prompt"),
        ({"negative_prompt": "x" * 1001}, "negative_prompt"),
        ({"style": "Auto"}, "style"),
        ({"style": "render_3d"}, "style"),
        ({"aspect_ratio": "7:5"}, "aspect_ratio"),
        ({"magic_prompt": "yes"}, "magic_prompt"),
        ({"prompt": "nul\x00byte"}, "prompt"),
    ],
)
def test_generate_refuses_out_of_range(kwargs: dict[str, object], option: str) -> None:
    args: dict[str, object] = {"prompt": "ok", "seed": 5, **kwargs}
    with pytest.raises(InvalidInput) as info:
        GenerateInputs(**args)  # type: ignore[arg-type]  # wrong on purpose
    assert info.value.option == option
    assert len(info.value.message) < 200


def test_generate_limits_are_inclusive() -> None:
    GENERATE.validate(GenerateInputs(prompt="x" * 2000, seed=0,
                                     negative_prompt="n" * 1000).to_payload())


@pytest.mark.parametrize(
    ("kwargs", "option"),
    [
        ({"resolution": "1152:864"}, "resolution"),
        ({"resolution": "4000:4000 (1:1)"}, "resolution"),
        ({"rendering_speed": "FAST"}, "rendering_speed"),
        ({"color_palette": "RAINBOW"}, "color_palette"),
        ({"image_url": "file:///etc/passwd"}, "image"),
        ({"image_url": ""}, "image"),
        ({"seed": -5}, "seed"),
    ],
)
def test_reframe_refuses_out_of_range(kwargs: dict[str, object], option: str) -> None:
    args: dict[str, object] = {"image_url": "https://x.test/a.png", "seed": 1, **kwargs}
    with pytest.raises(InvalidInput) as info:
        ReframeInputs(**args)  # type: ignore[arg-type]  # wrong on purpose
    assert info.value.option == option


def test_payload_round_trip_and_with_seed() -> None:
    g = GenerateInputs(prompt="p", seed=3, style="anime", aspect_ratio="9:16",
                       magic_prompt=False, negative_prompt="n")
    assert inputs_from_payload(g.model, g.to_payload()) == g
    assert g.with_seed(9).seed == 9 and g.with_seed(9).prompt == "p"
    r = ReframeInputs(image_url="https://x.test/a.png", seed=4, resolution="512:1536 (1:3)",
                      rendering_speed="TURBO", color_palette="MELON")
    assert inputs_from_payload(r.model, r.to_payload()) == r
    assert r.size == (512, 1536)


def test_sizes() -> None:
    for ratio in ASPECT_RATIOS:
        w, h = inputs.aspect_ratio_size(ratio)
        assert w % 64 == 0 and h % 64 == 0
        assert 0.8e6 < w * h < 1.2e6
        rw, rh = (int(x) for x in ratio.split(":"))
        assert abs(w / h - rw / rh) / (rw / rh) < 0.1
    for resolution in RESOLUTIONS:
        w, h = inputs.resolution_size(resolution)
        assert resolution.startswith(f"{w}:{h} ")


@pytest.mark.parametrize(("locale", "choices"), [
    ("en", "TURBO, BALANCED, or QUALITY"), ("pt-BR", "TURBO, BALANCED ou QUALITY"),
    ("it", "TURBO, BALANCED o QUALITY")])
def test_a_refused_choice_lists_the_others_with_or_in_the_readers_language(
        locale: str, choices: str) -> None:
    with pytest.raises(InvalidInput) as refused:
        ReframeInputs(image_url="https://example.com/a.png", seed=1, rendering_speed="FAST")
    with use_locale(locale):
        assert str(refused.value).endswith(f": {'use' if locale != 'it' else 'usa'} {choices}.")
