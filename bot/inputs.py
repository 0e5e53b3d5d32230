"""Typed model inputs, with exactly the providers' enums and ranges.

For the two RunComfy models (the values of their input schemas) and for the
Ideogram-compatible synchronous generate API.

The RunComfy values below are copied from ``bot/spec/*.input.schema.json`` (unchanged
copies of the JSON schemas the providers publish); ``tests/test_inputs.py`` proves every
payload built here validates. The synchronous API's inputs are stored in the same
``/ideogram`` shape plus its own ``model`` and ``color_palette``; :mod:`bot.ideogram_api` maps
them to its request.
"""

from __future__ import annotations

import secrets
from collections.abc import Mapping
from dataclasses import dataclass, field, replace
from typing import Any, Final, Self

from bot.i18n import LazyText, LocalizedError, LocalList, LocalNumber, lazy

GENERATE_MODEL: Final = "ideogram/ideogram-v2/generate"
REFRAME_MODEL: Final = "ideogram/ideogram-v3/reframe"
MODELS: Final = (GENERATE_MODEL, REFRAME_MODEL)
#: ``/ideogram`` served by the Ideogram-compatible synchronous API, not RunComfy.
IDEOGRAM_GENERATE_MODEL: Final = "ideogram/generate"
ALL_MODELS: Final = (*MODELS, IDEOGRAM_GENERATE_MODEL)

SEED_MIN: Final = 0
SEED_MAX: Final = 2147483647
PROMPT_MAX: Final = 2000
NEGATIVE_PROMPT_MAX: Final = 1000
IMAGE_URL_MAX: Final = 4096

STYLES: Final = ("auto", "general", "realistic", "design", "render_3D", "anime")
DEFAULT_STYLE: Final = "auto"

ASPECT_RATIOS: Final = (
    "3:1", "16:9", "16:10", "3:2", "4:3", "1:1", "3:4", "2:3", "10:16", "9:16", "1:3",
)
DEFAULT_ASPECT_RATIO: Final = "1:1"

RENDERING_SPEEDS: Final = ("TURBO", "BALANCED", "QUALITY")
DEFAULT_RENDERING_SPEED: Final = "BALANCED"

COLOR_PALETTES: Final = (
    "EMBER", "FRESH", "JUNGLE", "MAGIC", "MELON", "MOSAIC", "PASTEL", "ULTRAMARINE",
)

#: The synchronous API's models, and which of them take a style or a palette.
#: The API's reference says nothing per model, so this follows Ideogram's public API: ``style_type``
#: and ``color_palette`` only for V_2 and V_2_TURBO; ``negative_prompt`` for all.
IDEOGRAM_MODELS: Final = ("V_1", "V_1_TURBO", "V_2", "V_2_TURBO")
DEFAULT_IDEOGRAM_MODEL: Final = "V_2"
STYLE_MODELS: Final = ("V_2", "V_2_TURBO")
COLOR_PALETTE_MODELS: Final = ("V_2", "V_2_TURBO")

RESOLUTIONS: Final = (
    "1536:640 (12:5)", "1536:576 (8:3)", "1536:512 (3:1)", "1472:704 (23:11)",
    "1472:640 (23:10)", "1472:576 (23:9)", "1408:704 (2:1)", "1408:640 (11:5)",
    "1408:576 (22:9)", "1344:768 (7:4)", "1344:704 (21:11)", "1344:640 (21:10)",
    "1312:736 (41:23)", "1280:800 (8:5)", "1280:768 (5:3)", "1280:704 (20:11)",
    "1248:832 (3:2)", "1216:832 (19:13)", "1216:768 (19:12)", "1216:704 (19:11)",
    "1152:896 (9:7)", "1152:864 (4:3)", "1152:832 (18:13)", "1152:704 (18:11)",
    "1120:896 (5:4)", "1088:960 (17:15)", "1088:896 (17:14)", "1088:832 (17:13)",
    "1088:768 (17:12)", "1024:1024 (1:1)", "1024:960 (16:15)", "1024:896 (8:7)",
    "1024:832 (16:13)", "960:1088 (15:17)", "960:1024 (15:16)", "960:896 (15:14)",
    "960:832 (15:13)", "896:1152 (7:9)", "896:1120 (4:5)", "896:1088 (14:17)",
    "896:1024 (7:8)", "896:960 (14:15)", "864:1152 (3:4)", "832:1248 (2:3)",
    "832:1216 (13:19)", "832:1152 (13:18)", "832:1088 (13:17)", "832:1024 (13:16)",
    "832:960 (13:15)", "800:1280 (5:8)", "768:1344 (4:7)", "768:1280 (3:5)",
    "768:1216 (12:19)", "768:1088 (12:17)", "736:1312 (23:41)", "704:1472 (11:23)",
    "704:1408 (1:2)", "704:1344 (11:21)", "704:1280 (11:20)", "704:1216 (11:19)",
    "704:1152 (11:18)", "640:1536 (5:12)", "640:1472 (10:23)", "640:1408 (5:11)",
    "640:1344 (10:21)", "576:1536 (3:8)", "576:1472 (9:23)", "576:1408 (9:22)",
    "512:1536 (1:3)",
)
DEFAULT_RESOLUTION: Final = "1152:864 (4:3)"


class InvalidInput(LocalizedError, ValueError):
    """An input outside the schema.

    ``message`` (and ``str(exc)``) is a short message a user can act on, in the language of whoever
    reads it (a :class:`~bot.i18n.LazyText`).
    """

    def __init__(self, option: str, message: str | LazyText) -> None:
        super().__init__(message)
        self.option = option


def random_seed() -> int:
    """A fresh seed in the schema's full range, 0–2147483647 inclusive."""
    return secrets.randbelow(SEED_MAX + 1)


def _check_seed(seed: object) -> int:
    # The bounds in plain digits, as seeds are shown everywhere: a member may type them
    # back into the seed option, which takes no thousands separators.
    if isinstance(seed, bool) or not isinstance(seed, int):
        raise InvalidInput("seed", lazy("Seed must be a whole number between {least} and "
                                        "{most}.", least=SEED_MIN, most=SEED_MAX))
    if not SEED_MIN <= seed <= SEED_MAX:
        raise InvalidInput("seed", lazy("Seed {seed} is out of range: use {least} to {most}.",
                                        seed=seed, least=SEED_MIN, most=SEED_MAX))
    return seed


def unsendable(value: str) -> bool:
    """Whether text holds what can be neither stored nor sent.

    A NUL, or half of a character (a lone surrogate, as a cut emoji leaves).
    """
    if "\x00" in value:
        return True
    try:
        value.encode("utf-8")
    except UnicodeEncodeError:
        return True
    return False


def _check_text(option: str, value: object, *, maximum: int, required: bool) -> str:
    if not isinstance(value, str):
        raise InvalidInput(option, lazy("The {option} must be text.", option=option))
    if unsendable(value):
        raise InvalidInput(option, lazy("The {option} contains a character that cannot be "
                                        "sent.", option=option))
    if required and not value.strip():
        raise InvalidInput(option, lazy("The {option} cannot be empty.", option=option))
    if len(value) > maximum:
        raise InvalidInput(option, lazy("The {option} is {length} characters long; the limit "
                                        "is {limit}.", option=option,
                                        length=LocalNumber(len(value)),
                                        limit=LocalNumber(maximum)))
    return value


def _check_choice(option: str, value: object, allowed: tuple[str, ...]) -> str:
    if value not in allowed:
        value = _shown(value)
        if len(allowed) <= 12:
            raise InvalidInput(option, lazy("`{value}` is not a valid {option}: use {allowed}.",
                                            value=value, option=option,
                                            allowed=LocalList(allowed, style="or")))
        raise InvalidInput(option, lazy("`{value}` is not a valid {option}: use one of the "
                                        "suggested values.", value=value, option=option))
    return str(value)


def _shown(value: object, limit: int = 40) -> str:
    """A refused value as a refusal quotes it: one line, at most ``limit`` characters."""
    text = " ".join(str(value).split()).replace("`", "'")
    return text if len(text) <= limit else text[: limit - 1] + "…"


def resolution_size(resolution: str) -> tuple[int, int]:
    """``"1152:864 (4:3)"`` → ``(1152, 864)``."""
    _check_choice("resolution", resolution, RESOLUTIONS)
    w, h = resolution.split(" ", 1)[0].split(":")
    return int(w), int(h)


def aspect_ratio_size(aspect_ratio: str) -> tuple[int, int]:
    """Pixel size for an aspect ratio at about one megapixel, both sides multiples of 64."""
    _check_choice("aspect_ratio", aspect_ratio, ASPECT_RATIOS)
    rw, rh = (int(x) for x in aspect_ratio.split(":"))
    scale = (1024 * 1024 / (rw * rh)) ** 0.5
    return max(64, round(rw * scale / 64) * 64), max(64, round(rh * scale / 64) * 64)


class _Reseedable:
    """Inputs whose ``seed`` a reroll replaces."""

    __slots__ = ()
    seed: int

    def with_seed(self, seed: int) -> Self:
        """Return the same inputs with another seed."""
        return replace(self, seed=seed)  # type: ignore[type-var]  # mypy cannot bind Self in replace()


#: Each of ``/ideogram``'s options and its key in RunComfy's generate body, both ways.
PROMPT_PAYLOAD_KEYS: Final[Mapping[str, str]] = {
    "prompt": "prompt",
    "style": "style",
    "aspect_ratio": "aspect_ratio",
    "magic_prompt": "expand_prompt",
    "seed": "seed",
    "negative_prompt": "negative_prompt",
}


@dataclass(frozen=True, slots=True)
class _PromptOptions(_Reseedable):
    """What ``/ideogram``'s inputs share on both providers: options, checks and payload."""

    prompt: str
    seed: int
    style: str = DEFAULT_STYLE
    aspect_ratio: str = DEFAULT_ASPECT_RATIO
    magic_prompt: bool = True
    negative_prompt: str = ""

    def _check_prompt_options(self) -> None:
        _check_text("prompt", self.prompt, maximum=PROMPT_MAX, required=True)
        _check_text("negative_prompt", self.negative_prompt, maximum=NEGATIVE_PROMPT_MAX,
                    required=False)
        _check_choice("style", self.style, STYLES)
        _check_choice("aspect_ratio", self.aspect_ratio, ASPECT_RATIOS)
        if not isinstance(self.magic_prompt, bool):
            raise InvalidInput("magic_prompt", lazy("magic_prompt must be true or false."))
        _check_seed(self.seed)

    def _prompt_payload(self) -> dict[str, Any]:
        """The RunComfy v2 generate body. An empty negative prompt is not sent."""
        payload = {key: getattr(self, option) for option, key in PROMPT_PAYLOAD_KEYS.items()}
        if not self.negative_prompt.strip():
            del payload["negative_prompt"]
        return payload

    @property
    def size(self) -> tuple[int, int]:
        return aspect_ratio_size(self.aspect_ratio)


@dataclass(frozen=True, slots=True)
class GenerateInputs(_PromptOptions):
    """Inputs of ``ideogram/ideogram-v2/generate``; validated on construction."""

    model: str = field(default=GENERATE_MODEL, init=False)

    def __post_init__(self) -> None:
        self._check_prompt_options()

    def to_payload(self) -> dict[str, Any]:
        """The JSON body RunComfy receives. An empty negative prompt is not sent."""
        return self._prompt_payload()


#: Each of ``/reframe``'s options and its key in RunComfy's reframe body, both ways (but
#: the colour palette, an object there: ``{"name": ...}``).
REFRAME_PAYLOAD_KEYS: Final[Mapping[str, str]] = {
    "image_url": "image",
    "resolution": "resolution",
    "rendering_speed": "rendering_speed",
    "seed": "seed",
}


@dataclass(frozen=True, slots=True)
class ReframeInputs(_Reseedable):
    """Inputs of ``ideogram/ideogram-v3/reframe``; validated on construction."""

    image_url: str
    seed: int
    resolution: str = DEFAULT_RESOLUTION
    rendering_speed: str = DEFAULT_RENDERING_SPEED
    color_palette: str | None = None

    model: str = field(default=REFRAME_MODEL, init=False)

    def __post_init__(self) -> None:
        _check_text("image", self.image_url, maximum=IMAGE_URL_MAX, required=True)
        if not self.image_url.startswith(("https://", "http://")):
            raise InvalidInput("image", lazy("The image must be a web address (http or "
                                             "https)."))
        _check_choice("resolution", self.resolution, RESOLUTIONS)
        _check_choice("rendering_speed", self.rendering_speed, RENDERING_SPEEDS)
        if self.color_palette is not None:
            _check_choice("color_palette", self.color_palette, COLOR_PALETTES)
        _check_seed(self.seed)

    def to_payload(self) -> dict[str, Any]:
        """Return the JSON body RunComfy's model API takes for a reframe."""
        payload = {key: getattr(self, option) for option, key in REFRAME_PAYLOAD_KEYS.items()}
        if self.color_palette is not None:
            payload["color_palette"] = {"name": self.color_palette}
        return payload

    @property
    def size(self) -> tuple[int, int]:
        """The output's (width, height) in pixels."""
        return resolution_size(self.resolution)


@dataclass(frozen=True, slots=True)
class IdeogramGenerateInputs(_PromptOptions):
    """The options of ``/ideogram`` on the Ideogram-compatible synchronous API.

    ``/ideogram`` on the synchronous API: the same options plus ``ideogram_model`` and
    ``color_palette``. Validated on construction, including what the chosen model supports:
    an option the model cannot use is refused, never silently dropped.
    """

    ideogram_model: str = DEFAULT_IDEOGRAM_MODEL
    color_palette: str | None = None

    model: str = field(default=IDEOGRAM_GENERATE_MODEL, init=False)

    def __post_init__(self) -> None:
        self._check_prompt_options()
        _check_choice("model", self.ideogram_model, IDEOGRAM_MODELS)
        if self.color_palette is not None:
            _check_choice("color_palette", self.color_palette, COLOR_PALETTES)
        check_model_support(self.ideogram_model, style=self.style,
                            color_palette=self.color_palette)

    def to_payload(self) -> dict[str, Any]:
        """What the job stores: the ``/ideogram`` payload plus ``model`` (and the palette)."""
        payload = self._prompt_payload()
        payload["model"] = self.ideogram_model
        if self.color_palette is not None:
            payload["color_palette"] = self.color_palette
        return payload


def _one_of(names: tuple[str, ...]) -> LazyText:
    """"V_2 or V_2_TURBO", in the reader's language."""
    return lazy("{names} or {last}", names=", ".join(names[:-1]), last=names[-1])


def check_model_support(ideogram_model: str, *, style: str = DEFAULT_STYLE,
                        color_palette: str | None = None) -> None:
    """Refuse options the synchronous API's ``ideogram_model`` cannot use.

    ``style`` auto is never refused: with V_1 models no ``style_type`` is sent, which is
    what auto means there.
    """
    better = _one_of(STYLE_MODELS)
    if style != DEFAULT_STYLE and ideogram_model not in STYLE_MODELS:
        raise InvalidInput("style", lazy("Model {model} has no styles: style `{style}` needs "
                                         "model {better} (or leave style on auto).",
                                         model=ideogram_model, style=style, better=better))
    if color_palette is not None and ideogram_model not in COLOR_PALETTE_MODELS:
        better = _one_of(COLOR_PALETTE_MODELS)
        raise InvalidInput("color_palette", lazy("Model {model} has no colour palettes: "
                                                 "color_palette needs model {better}.",
                                                 model=ideogram_model, better=better))


ModelInputs = GenerateInputs | ReframeInputs | IdeogramGenerateInputs


def _options(payload: dict[str, Any], keys: Mapping[str, str]) -> dict[str, Any]:
    """The options ``keys`` names in a stored payload; a missing one takes its default."""
    return {option: payload[key] for option, key in keys.items() if key in payload}


def inputs_from_payload(model: str, payload: dict[str, Any]) -> ModelInputs:
    """Rebuild typed inputs from a stored payload (for Reroll, Info and restarts)."""
    if model == GENERATE_MODEL:
        return GenerateInputs(**_options(payload, PROMPT_PAYLOAD_KEYS))
    if model == REFRAME_MODEL:
        palette = payload.get("color_palette")
        return ReframeInputs(
            **_options(payload, REFRAME_PAYLOAD_KEYS),
            color_palette=palette.get("name") if isinstance(palette, dict) else None,
        )
    if model == IDEOGRAM_GENERATE_MODEL:
        palette = payload.get("color_palette")
        return IdeogramGenerateInputs(
            **_options(payload, PROMPT_PAYLOAD_KEYS),
            ideogram_model=payload.get("model", DEFAULT_IDEOGRAM_MODEL),
            color_palette=palette.get("name") if isinstance(palette, dict) else palette,
        )
    raise InvalidInput("model", lazy("Unknown model {model}.", model=repr(model)))
