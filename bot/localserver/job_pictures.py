"""Each simulated job's picture: drawn once, in a worker thread, and cached on the job."""

from __future__ import annotations

import asyncio
from collections import OrderedDict
from collections.abc import Callable, Mapping
from typing import TYPE_CHECKING, Any

from bot.inputs import (
    DEFAULT_RESOLUTION,
    GENERATE_MODEL,
    IDEOGRAM_GENERATE_MODEL,
    aspect_ratio_size,
    resolution_size,
)
from bot.localserver import images
from bot.localserver.ideogram_requests import ideogram_size
from bot.localserver.input_images import download_input_image, new_input_fetcher
from bot.net import SafeFetcher

if TYPE_CHECKING:
    from bot.localserver.simulation import SimulatedJob


def _generate_size_and_style(model: str, inputs: Mapping[str, Any]) -> tuple[tuple[int, int], str]:
    """Picture size and style name of a text-to-image job, by the API it came through."""
    if model == IDEOGRAM_GENERATE_MODEL:
        return ideogram_size(inputs), str(inputs.get("style_type", "AUTO")).lower()
    return aspect_ratio_size(inputs.get("aspect_ratio", "1:1")), str(inputs.get("style", "auto"))


#: Text-to-image pictures kept, by everything they are drawn from (a picture is a pure
#: function of prompt, size, seed and style): a burst of identical requests, as in the
#: benchmarks, is drawn once instead of once per job.
GENERATE_CACHE_SIZE = 32


class JobPictures:
    """Draws job pictures off the event loop; owns the client that fetches reframe inputs."""

    def __init__(self, trusted_hosts: Callable[[], tuple[str, ...]] = tuple) -> None:
        self._trusted_hosts = trusted_hosts
        self._fetcher: SafeFetcher | None = None
        self._fetcher_hosts: tuple[str, ...] = ()
        self._generated: OrderedDict[tuple[str, tuple[int, int], int, str],
                                     asyncio.Future[bytes]] = OrderedDict()

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
            return await self._generate(str(job.inputs.get("prompt", "")), size, seed, style)
        resolution = job.inputs.get("resolution", DEFAULT_RESOLUTION)
        source = await self.fetch_input_image(str(job.inputs.get("image", "")))
        return await asyncio.to_thread(
            images.render_reframe, source, resolution_size(resolution),
            resolution=resolution, seed=seed,
        )

    async def _generate(self, prompt: str, size: tuple[int, int], seed: int,
                        style: str) -> bytes:
        """One drawing per distinct picture, shared by every job that asks for it."""
        key = (prompt, size, seed, style)
        drawing = self._generated.get(key)
        if drawing is None or (drawing.done() and drawing.exception() is not None):
            drawing = asyncio.ensure_future(asyncio.to_thread(
                images.render_generate, prompt, size, seed=seed, style=style))
            self._generated[key] = drawing
            while len(self._generated) > GENERATE_CACHE_SIZE:
                self._generated.popitem(last=False)
        self._generated.move_to_end(key)
        return await asyncio.shield(drawing)

    async def fetch_input_image(self, url: str) -> bytes | None:
        """The reframe input at ``url``, or None when it cannot be had."""
        hosts = self._trusted_hosts()
        if self._fetcher is None or hosts != self._fetcher_hosts:
            if self._fetcher is not None:
                await self._fetcher.aclose()
            self._fetcher, self._fetcher_hosts = new_input_fetcher(hosts), hosts
        return await download_input_image(self._fetcher, url)

    async def aclose(self) -> None:
        """Close the input-image client, if one was opened."""
        if self._fetcher is not None:
            await self._fetcher.aclose()
            self._fetcher = None
