"""Server presets: what a preset may hold, and how it fills /ideogram's options."""

from __future__ import annotations

import pytest

from bot.inputs import InvalidInput
from bot.presets import Preset, apply_preset, clean_name, make_preset


def test_a_preset_fills_only_what_the_member_left_out() -> None:
    kit = make_preset("Kit", style="design", aspect_ratio="3:2", magic_prompt=False,
                      negative_prompt=" text ", prompt_suffix="pastel tones")
    assert kit.negative_prompt == "text"
    used = apply_preset(kit, prompt="a tea tin", style="anime")
    assert used.prompt == "a tea tin, pastel tones"
    assert (used.style, used.aspect_ratio, used.magic_prompt) == ("anime", "3:2", False)
    assert used.negative_prompt == "text" and used.color_palette is None
    none = apply_preset(None, prompt="a tea tin")
    assert (none.style, none.aspect_ratio, none.magic_prompt, none.negative_prompt) == (
        "auto", "1:1", True, "")


def test_the_suffix_counts_against_the_prompt_limit() -> None:
    kit = Preset(name="k", prompt_suffix="s" * 10)
    assert len(apply_preset(kit, prompt="p" * 1988).prompt) == 2000
    with pytest.raises(InvalidInput, match="2,000"):
        apply_preset(kit, prompt="p" * 1989)


@pytest.mark.parametrize("kwargs", [
    {"style": "vaporwave"}, {"aspect_ratio": "5:4"}, {"color_palette": "NEON"},
    {"negative_prompt": "n" * 1001}, {"prompt_suffix": "s" * 501}, {},
])
def test_bad_presets_are_refused(kwargs: dict[str, object]) -> None:
    with pytest.raises(InvalidInput):
        make_preset("ok", **kwargs)  # type: ignore[arg-type]  # wrong on purpose


@pytest.mark.parametrize("name", ["", " ", "x" * 33, "bad\x07name", 5])
def test_bad_names_are_refused(name: object) -> None:
    with pytest.raises(InvalidInput):
        clean_name(name)


def test_names_keep_their_case_and_match_without_it() -> None:
    kit = make_preset("  Brand   Kit ", style="design")
    assert kit.name == "Brand Kit" and kit.key == "brand kit"
