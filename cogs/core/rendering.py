"""How a job looks in Discord at each stage: message text and embeds, within Discord's limits."""

from __future__ import annotations

import re
import time
from typing import Final

import discord

from bot.i18n import N_
from bot.inputs import GENERATE_MODEL, IDEOGRAM_GENERATE_MODEL, REFRAME_MODEL
from bot.job_errors import render_job_error
from bot.jobs import JobRecord, JobStatus

MODEL_TITLES = {
    GENERATE_MODEL: "Ideogram 2.0",
    REFRAME_MODEL: "Ideogram 3.0 Reframe",
    IDEOGRAM_GENERATE_MODEL: "Ideogram",
}
#: The synchronous API's models (``inputs["model"]``), by their public names.
IDEOGRAM_MODEL_TITLES = {
    "V_1": "Ideogram 1.0",
    "V_1_TURBO": "Ideogram 1.0 Turbo",
    "V_2": "Ideogram 2.0",
    "V_2_TURBO": "Ideogram 2.0 Turbo",
}
TEXT_TO_IMAGE_MODELS = (GENERATE_MODEL, IDEOGRAM_GENERATE_MODEL)
COLOUR_WORKING = discord.Colour.blurple()
COLOUR_DONE = discord.Colour.green()
COLOUR_FAILED = discord.Colour.red()
COLOUR_CANCELLED = discord.Colour.light_grey()
LOCAL_PROVIDER_NOTE = "local preview provider"


#: Characters Discord's markdown gives a meaning to (links, emphasis, code, spoilers, quotes,
#: headings, lists, mentions, timestamps, emoji). A backslash before any of them shows the
#: character itself, so escaping them all changes nothing a reader sees.
_MARKDOWN: Final = re.compile(r"([\\*_~`|>\[\]()#<@:!-])")
_TOKEN: Final = re.compile(r"\\.|.", re.DOTALL)


def truncate(text: str, limit: int) -> str:
    return text if len(text) <= limit else text[: limit - 1] + "…"


def user_text(text: object, limit: int) -> str:
    """Text a member (or a provider) wrote, safe to put in a message or an embed: every
    markdown character escaped, so ``[free nitro](https://evil.example)`` shows as typed and
    is no link, then clipped to ``limit`` characters without splitting an escape."""
    escaped = _MARKDOWN.sub(r"\\\1", str(text))
    if len(escaped) <= limit:
        return escaped
    kept: list[str] = []
    size = 0
    for token in _TOKEN.finditer(escaped):
        piece = token.group()
        if size + len(piece) > limit - 1:
            break
        kept.append(piece)
        size += len(piece)
    return "".join(kept) + "…"


def discord_timestamp(when: float, style: str = "R") -> str:
    """A Discord timestamp that every client renders (and keeps current) in its own zone."""
    return f"<t:{int(when)}:{style}>"


def model_title(job: JobRecord) -> str:
    """"Ideogram 2.0 Turbo", "Ideogram 3.0 Reframe"…"""
    if job.model == IDEOGRAM_GENERATE_MODEL:
        return IDEOGRAM_MODEL_TITLES.get(str(job.inputs.get("model")), "Ideogram")
    return MODEL_TITLES.get(job.model, job.model)


def status_line(job: JobRecord, *, eta: float | None = None, now: float | None = None) -> str:
    now = time.time() if now is None else now
    who = f"<@{job.user_id}>"
    if job.status is JobStatus.PENDING:
        return f"⏳ Sending {who}'s request…"
    if job.status is JobStatus.QUEUED:
        place = (f"place **{job.queue_position}** in line"
                 if job.queue_position is not None else "waiting in line")
        eta_text = f" · expected {discord_timestamp(eta)}" if eta and eta > now else ""
        return f"⏳ Queued — {place}{eta_text}"
    if job.status is JobStatus.RUNNING:
        started = job.started_at or now
        eta_text = f" · expected {discord_timestamp(eta)}" if eta and eta > now else ""
        return f"🎨 Making the image — started {discord_timestamp(started)}{eta_text}"
    if job.status is JobStatus.COMPLETED:
        return f"✅ Done for {who}"
    if job.status is JobStatus.CANCELLED:
        return f"🚫 Cancelled — {user_text(render_job_error(job.error, N_('cancelled')), 300)}"
    return f"❌ Failed — {user_text(render_job_error(job.error), 400)}"


def _duration(seconds: float) -> str:
    if seconds < 60:
        return f"{seconds:.1f} s"
    minutes, secs = divmod(int(seconds), 60)
    return f"{minutes} min {secs} s"


def job_embed(job: JobRecord, *, image_filename: str | None = None,
              footer_extra: str | None = None) -> discord.Embed:
    """Prompt and parameters; with ``image_filename`` the attached image shows in the embed."""
    colour = {
        JobStatus.COMPLETED: COLOUR_DONE,
        JobStatus.FAILED: COLOUR_FAILED,
        JobStatus.CANCELLED: COLOUR_CANCELLED,
    }.get(job.status, COLOUR_WORKING)
    embed = discord.Embed(title=model_title(job), colour=colour)
    inputs = job.inputs
    if job.model in TEXT_TO_IMAGE_MODELS:
        embed.description = user_text(inputs.get("prompt", ""), 4000)
        embed.add_field(name="Style", value=str(inputs.get("style", "auto")))
        embed.add_field(name="Aspect ratio", value=str(inputs.get("aspect_ratio", "1:1")))
        embed.add_field(name="Magic prompt",
                        value="on" if inputs.get("expand_prompt", True) else "off")
        if inputs.get("color_palette"):
            embed.add_field(name="Colour palette", value=str(inputs["color_palette"]))
        if inputs.get("negative_prompt"):
            embed.add_field(name="Negative prompt",
                            value=user_text(inputs["negative_prompt"], 1024), inline=False)
    else:
        embed.description = f"Reframed to **{inputs.get('resolution', '?')}**"
        embed.add_field(name="Resolution", value=str(inputs.get("resolution", "?")))
        embed.add_field(name="Rendering speed", value=str(inputs.get("rendering_speed", "?")))
        palette = inputs.get("color_palette")
        if isinstance(palette, dict) and palette.get("name"):
            embed.add_field(name="Colour palette", value=str(palette["name"]))
    embed.add_field(name="Seed", value=f"`{job.seed}`")
    if job.preset:
        embed.add_field(name="Preset", value=user_text(job.preset, 100))
    if job.status is JobStatus.COMPLETED and job.finished_at and job.submitted_at:
        embed.add_field(name="Time taken", value=_duration(job.finished_at - job.submitted_at))
    footer = [f"Job {job.short_id}", job.model]
    if job.provider == "local":
        footer.append(LOCAL_PROVIDER_NOTE)
    if footer_extra:
        footer.append(footer_extra)
    embed.set_footer(text=truncate(" · ".join(footer), 2048))
    if image_filename:
        embed.set_image(url=f"attachment://{image_filename}")
    return embed


def info_embed(job: JobRecord) -> discord.Embed:
    """Everything that was sent, for the Info button."""
    embed = discord.Embed(title=f"Job {job.short_id}", colour=COLOUR_WORKING)
    lines = [f"**{key}**: {user_text(value, 900)}" for key, value in job.inputs.items()]
    embed.description = truncate("\n".join(lines), 4000)
    embed.add_field(name="Model", value=job.model, inline=False)
    if job.revised_prompt:
        embed.add_field(name="Prompt used by the provider",
                        value=user_text(job.revised_prompt, 1024), inline=False)
    embed.add_field(name="Provider", value=job.provider)
    embed.add_field(name="Status", value=job.status.value)
    embed.add_field(name="Seed", value=f"`{job.seed}`")
    if job.preset:
        embed.add_field(name="Preset", value=user_text(job.preset, 100))
    if job.batch_id is not None and job.batch_index is not None:
        embed.add_field(name="Batch", value=f"image {job.batch_index + 1} of {job.batch_size} "
                        f"(`{job.batch_id[:8]}`)")
    embed.add_field(name="Job id", value=f"`{job.id}`", inline=False)
    if job.request_id:
        embed.add_field(name="Provider request", value=f"`{job.request_id}`", inline=False)
    timings = [f"requested {discord_timestamp(job.created_at, 'T')}"]
    if job.submitted_at and job.started_at:
        timings.append(f"queued {_duration(max(0.0, job.started_at - job.submitted_at))}")
    if job.started_at and job.finished_at:
        timings.append(f"ran {_duration(max(0.0, job.finished_at - job.started_at))}")
    embed.add_field(name="Timings", value=" · ".join(timings), inline=False)
    if job.cost is not None:
        embed.add_field(name="Cost", value=f"${job.cost:.3f}")
    if job.error:
        embed.add_field(name="Error", value=user_text(render_job_error(job.error), 1024),
                        inline=False)
    return embed


def batch_status_line(jobs: list[JobRecord]) -> str:
    """"⏳ 2 of 4 done" while a batch runs; what came of it once all have ended."""
    who = f"<@{jobs[0].user_id}>"
    total = len(jobs)
    done = sum(job.status is JobStatus.COMPLETED for job in jobs)
    ended = sum(job.status.terminal for job in jobs)
    if ended < total:
        running = sum(job.status is JobStatus.RUNNING for job in jobs)
        making = f" · {running} being made" if running else ""
        return f"⏳ {done} of {total} done for {who}{making}"
    if done == total:
        return f"✅ {total} of {total} done for {who}"
    if done:
        return f"✅ {done} of {total} done for {who} (the others failed)"
    failed = next((job for job in jobs if job.error), jobs[0])
    reason = user_text(render_job_error(failed.error), 300)
    if all(job.status is JobStatus.CANCELLED for job in jobs):
        return f"🚫 Cancelled — {reason}"
    return f"❌ None of the {total} images could be made — {reason}"


def batch_embed(jobs: list[JobRecord], *, image_filename: str | None = None,
                footer_extra: str | None = None) -> discord.Embed:
    """The first job's embed, with every seed of the batch and the batch's numbering."""
    first = jobs[0]
    done = all(job.status.terminal for job in jobs)
    shown = first.evolve(status=(JobStatus.COMPLETED if done and any(
        job.status is JobStatus.COMPLETED for job in jobs) else first.status))
    embed = job_embed(shown, image_filename=image_filename, footer_extra=footer_extra)
    seeds = ", ".join(f"{n}: `{job.seed}`" for n, job in enumerate(jobs, start=1))
    for index, field in enumerate(embed.fields):
        if field.name == "Seed":
            embed.set_field_at(index, name="Seeds", value=truncate(seeds, 1024), inline=False)
        elif field.name == "Time taken":
            embed.remove_field(index)
    footer = [f"Batch {str(first.batch_id)[:8]} · {len(jobs)} images", first.model]
    if first.provider == "local":
        footer.append(LOCAL_PROVIDER_NOTE)
    if footer_extra:
        footer.append(footer_extra)
    embed.set_footer(text=truncate(" · ".join(footer), 2048))
    return embed
