"""``POST /ideogram/generate``: the Ideogram-compatible synchronous API.

It answers after the run time with ``{"created", "data": [{"url", "prompt", "resolution",
"is_image_safe", "seed"}]}``; errors (and faults) come in the envelope
``{"code": "500", "message": ..., "data": null}``. A prompt containing ``[unsafe]`` comes
back withheld (``is_image_safe`` false, ``url`` null); one containing ``[fail]`` as a 500.
"""

from __future__ import annotations

import asyncio
import json
from typing import Any, Final

from aiohttp import web

from bot.localserver.ideogram_requests import ideogram_request_error, ideogram_size
from bot.localserver.simulation import (
    FAIL_MARKER,
    FAILURE_MESSAGE,
    iso_timestamp,
    server_state,
)
from bot.localserver.web_common import NOT_JSON_MESSAGE, envelope_answer, file_url

IDEOGRAM_PATH: Final = "/ideogram/generate"
UNSAFE_MARKER: Final = "[unsafe]"
#: What the local "magic prompt" adds to a prompt (ON or AUTO), so the revised prompt shows.
MAGIC_SUFFIX: Final = " — rendered with crisp detail, balanced composition and soft light"
#: The seed reported when the request gave none.
DEFAULT_SEED: Final = 12345


async def ideogram_generate(request: web.Request) -> web.Response:
    """Validate, wait the run time, then answer with the image's URL (or an error)."""
    state = server_state(request)
    try:
        body = json.loads(await request.read())
    except (UnicodeDecodeError, json.JSONDecodeError):
        return envelope_answer(400, NOT_JSON_MESSAGE)
    problem = ideogram_request_error(body)
    if problem is not None:
        return envelope_answer(400, problem)
    req: dict[str, Any] = body["image_request"]
    prompt: str = req["prompt"]
    fail = state.faults.take_failing_job() or FAIL_MARKER in prompt
    await asyncio.sleep(state.run_time())
    if fail:
        return envelope_answer(500, FAILURE_MESSAGE)
    job = state.generated(req)
    safe = UNSAFE_MARKER not in prompt
    magic = req.get("magic_prompt_option", "AUTO") != "OFF"
    width, height = ideogram_size(req)
    item = {
        "url": file_url(request, job.request_id) if safe else None,
        "prompt": prompt + MAGIC_SUFFIX if magic else prompt,
        "resolution": f"{width}x{height}",
        "is_image_safe": safe,
        "seed": req.get("seed", DEFAULT_SEED),
    }
    return web.json_response({"created": iso_timestamp(job.created_at), "data": [item]})
