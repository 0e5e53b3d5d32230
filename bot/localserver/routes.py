"""The local server's routes: RunComfy's model API, files, control, and the table of them.

- ``POST /v1/models/{model}``: validate the inputs against ``bot/spec``, create a job;
- ``GET /v1/requests/{id}/status`` and ``GET /v1/requests/{id}/result[?include_cost=true]``;
- ``POST /v1/requests/{id}/cancel``: only while the job is queued;
- ``POST /ideogram/generate``: the Ideogram-compatible synchronous API
  (:mod:`.ideogram_compatible`);
- ``GET /files/{id}.png``: the job's picture (no auth), drawn on first request;
- ``POST /_control/faults`` and ``GET /_control/state``: fault injection and counters for
  out-of-process use (bearer auth, like ``/v1``).
"""

from __future__ import annotations

import json
from typing import Any, Final

import jsonschema
from aiohttp import web

from bot.inputs import GENERATE_MODEL
from bot.localserver.ideogram_compatible import IDEOGRAM_PATH, ideogram_generate
from bot.localserver.input_schemas import schema_error
from bot.localserver.simulation import SimulatedJob, SimulatedStatus, server_state
from bot.localserver.web_common import NOT_JSON_MESSAGE, detail_answer, file_url, origin

VALIDATORS_KEY: Final = web.AppKey("validators", dict[str, jsonschema.protocols.Validator])


def _job_or_404(request: web.Request) -> SimulatedJob:
    job = server_state(request).jobs.get(request.match_info["request_id"])
    if job is None:
        raise web.HTTPNotFound(reason="request not found")
    return job


async def submit(request: web.Request) -> web.Response:
    """Validate the inputs against the model's schema and create a job."""
    model = request.match_info["model"]
    validator = request.app[VALIDATORS_KEY].get(model)
    if validator is None:
        return detail_answer(404, f"model not found: {model}")
    try:
        body = json.loads(await request.read())
    except (UnicodeDecodeError, json.JSONDecodeError):
        return detail_answer(400, NOT_JSON_MESSAGE)
    problem = schema_error(validator, body)
    if problem is not None:
        return detail_answer(422, problem)
    job = server_state(request).submit(model, body)
    base = f"{origin(request)}/v1/requests/{job.request_id}"
    return web.json_response({
        "request_id": job.request_id,
        "status_url": f"{base}/status",
        "result_url": f"{base}/result",
        "cancel_url": f"{base}/cancel",
    })


async def status(request: web.Request) -> web.Response:
    """The job's status, with its place in the queue while queued."""
    return web.json_response(server_state(request).status_body(_job_or_404(request)))


async def result(request: web.Request) -> web.Response:
    """The job's outputs once completed (its status before that)."""
    state, job = server_state(request), _job_or_404(request)
    body = state.status_body(job)
    if body["status"] != SimulatedStatus.COMPLETED:
        return web.json_response(body)
    url = file_url(request, job.request_id)
    output: dict[str, Any] = {"images": [url]} if job.model == GENERATE_MODEL else {"image": url}
    answer: dict[str, Any] = {
        "request_id": job.request_id,
        "status": body["status"],
        "output": output,
        "created_at": body["created_at"],
        "finished_at": body["finished_at"],
    }
    if request.query.get("include_cost", "").lower() in ("true", "1"):
        answer["cost"] = job.cost
    return web.json_response(answer)


async def cancel(request: web.Request) -> web.Response:
    """Cancel a queued job; a job that has started is ``not_cancellable``."""
    job = _job_or_404(request)
    outcome = "cancelled" if server_state(request).cancel(job) else "not_cancellable"
    return web.json_response({"request_id": job.request_id, "outcome": outcome})


async def file_download(request: web.Request) -> web.Response:
    """The job's PNG, drawn on first request; 404 until the job has completed."""
    state = server_state(request)
    job = state.jobs.get(request.match_info["file_id"])
    if job is None or job.status() is not SimulatedStatus.COMPLETED:
        return detail_answer(404, "file not found")
    return web.Response(body=await state.pictures.image_for(job), content_type="image/png")


async def control_faults(request: web.Request) -> web.Response:
    """Set or clear faults from JSON (see :meth:`Faults.apply`)."""
    state = server_state(request)
    try:
        spec = json.loads(await request.read())
        state.faults.apply(spec)
    except (UnicodeDecodeError, json.JSONDecodeError):
        return detail_answer(400, NOT_JSON_MESSAGE)
    except ValueError as exc:
        return detail_answer(400, str(exc))
    return web.json_response(state.faults.snapshot())


async def control_state(request: web.Request) -> web.Response:
    """Counters, jobs and pending faults."""
    return web.json_response(server_state(request).snapshot())


def add_routes(router: web.UrlDispatcher) -> None:
    """Every route of the local server; the names are the request kinds counted."""
    router.add_post("/v1/models/{model:.+}", submit, name="submit")
    router.add_get("/v1/requests/{request_id}/status", status, name="status")
    router.add_get("/v1/requests/{request_id}/result", result, name="result")
    router.add_post("/v1/requests/{request_id}/cancel", cancel, name="cancel")
    router.add_post(IDEOGRAM_PATH, ideogram_generate, name="generate")
    router.add_get("/files/{file_id}.png", file_download, name="file")
    router.add_post("/_control/faults", control_faults, name="control_faults")
    router.add_get("/_control/state", control_state, name="control_state")
