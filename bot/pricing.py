"""What an image costs when the provider does not say: a price table from the settings.

The provider's reported cost always wins (the tracker stores it on the job); these prices
are the fallback, and the estimate a quota reservation is taken at before the real cost
is known.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any, Protocol

from bot.inputs import (
    DEFAULT_RENDERING_SPEED,
    GENERATE_MODEL,
    IDEOGRAM_GENERATE_MODEL,
    REFRAME_MODEL,
)

DEFAULT_GENERATE_PRICE = 0.08
DEFAULT_REFRAME_PRICES: Mapping[str, float] = {"TURBO": 0.03, "BALANCED": 0.06, "QUALITY": 0.09}


class PriceSettings(Protocol):
    """The price settings a :class:`PriceTable` is made from."""

    PRICE_GENERATE: float
    PRICE_REFRAME_TURBO: float
    PRICE_REFRAME_BALANCED: float
    PRICE_REFRAME_QUALITY: float


@dataclass(frozen=True, slots=True)
class PriceTable:
    """USD per image, by model (and rendering speed for a reframe)."""

    generate: float = DEFAULT_GENERATE_PRICE
    reframe: Mapping[str, float] = field(default_factory=lambda: dict(DEFAULT_REFRAME_PRICES))

    @classmethod
    def from_settings(cls, settings: PriceSettings) -> PriceTable:
        """Return the price table the settings describe."""
        return cls(
            generate=settings.PRICE_GENERATE,
            reframe={
                "TURBO": settings.PRICE_REFRAME_TURBO,
                "BALANCED": settings.PRICE_REFRAME_BALANCED,
                "QUALITY": settings.PRICE_REFRAME_QUALITY,
            },
        )

    def estimate(self, model: str, inputs: Mapping[str, Any]) -> float:
        """The price of one job of ``model`` with these inputs (an image counts once).

        ``/ideogram`` costs ``generate`` on either provider (the synchronous API reports no cost).
        """
        if model in (GENERATE_MODEL, IDEOGRAM_GENERATE_MODEL):
            return self.generate
        if model == REFRAME_MODEL:
            speed = str(inputs.get("rendering_speed") or DEFAULT_RENDERING_SPEED).upper()
            return self.reframe.get(speed, self.reframe[DEFAULT_RENDERING_SPEED])
        return max(self.generate, *self.reframe.values())  # an unknown model: the dearest
