"""Each simulated job's picture: drawn once, in a worker thread, and cached on the job."""

from __future__ import annotations

import asyncio
from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

import httpx

from bot.inputs import (
    DEFAULT_RESOLUTION,
    GENERATE_MODEL,
    IDEOGRAM_GENERATE_MODEL,
    aspect_ratio_size,
    resolution_size,
)
from bot.localserver import images
from bot.localserver.ideogram_requests import ideogram_size
from bot.localserver.input_images import download_input_image, new_input_client

if TYPE_CHECKING:
    from bot.localserver.simulation import SimulatedJob


def _generate_size_and_style(model: str, inputs: Mapping[str, Any]) -> tuple[tuple[int, int], str]:
    """Picture size and style name of a text-to-image job, by the API it came through."""
    if model == IDEOGRAM_GENERATE_MODEL:
        return ideogram_size(inputs), str(inputs.get("style_type", "AUTO")).lower()
    return aspect_ratio_size(inputs.get("aspect_ratio", "1:1")), str(inputs.get("style", "auto"))


class JobPictures:
    """Draws job pictures off the event loop; owns the client that fetches reframe inputs."""

    def __init__(self) -> None:
        self._http: httpx.AsyncClient | None = None

    async def image_for(self, job: SimulatedJob) -> bytes:
        """The job's PNG, drawn once (in a worker thread) and cached on the job."""
        async with job.image_lock:
            if job.image_bytes is None:
                job.image_bytes = await self._render(job)
        return job.image_bytes

    async def _render(self, job: SimulatedJob) -> bytes:
        seed = int(job.inputs.get("seed", 0))
        if job.model in (GENERATE_MODEL, IDEOGRAM_GENERATE_MODEL):
            size, style = _generate_size_and_style(job.model, job.inputs)
            return await asyncio.to_thread(
                images.render_generate, str(job.inputs.get("prompt", "")), size,
                seed=seed, style=style,
            )
        resolution = job.inputs.get("resolution", DEFAULT_RESOLUTION)
        source = await self.fetch_input_image(str(job.inputs.get("image", "")))
        return await asyncio.to_thread(
            images.render_reframe, source, resolution_size(resolution),
            resolution=resolution, seed=seed,
        )

    async def fetch_input_image(self, url: str) -> bytes | None:
        """The reframe input at ``url``, or None when it cannot be had."""
        if self._http is None:
            self._http = new_input_client()
        return await download_input_image(self._http, url)

    async def aclose(self) -> None:
        """Close the input-image client, if one was opened."""
        if self._http is not None:
            await self._http.aclose()
            self._http = None
