"""The inputs of a new job made from a past one: Reroll, Reroll all and Remix.

A past ``/ideogram`` job is remade for the provider that serves ``/ideogram`` in the server
now, as the command itself would be: ``/settings provider`` may have changed since. A
reframe stays a reframe (it runs on RunComfy only).
"""

from __future__ import annotations

from dataclasses import replace

from bot.config import ProviderName
from bot.i18n import _
from bot.inputs import GenerateInputs, IdeogramGenerateInputs, ModelInputs, inputs_from_payload
from bot.jobs import JobRecord
from cogs.core.errors import Refusal


def rerun_inputs(job: JobRecord, serving: ProviderName, *, seed: int,
                 prompt: str | None = None, negative_prompt: str | None = None) -> ModelInputs:
    """``job``'s inputs with a new seed (and, for a Remix, a new prompt), for ``serving``.

    Moving to RunComfy drops the synchronous API's model (RunComfy's generate model is
    Ideogram V2) and refuses a job that used a colour palette, which RunComfy does not have:
    the image would not be the one asked for. Moving to the ideogram provider uses its
    default model. Raises :class:`~bot.inputs.InvalidInput` for a prompt the new inputs
    refuse.
    """
    original = inputs_from_payload(job.model, job.inputs)
    if not isinstance(original, GenerateInputs | IdeogramGenerateInputs):
        return original.with_seed(seed)  # a reframe
    prompt = original.prompt if prompt is None else prompt
    if negative_prompt is None:
        negative_prompt = original.negative_prompt
    if isinstance(original, IdeogramGenerateInputs) is (serving is ProviderName.IDEOGRAM):
        return replace(original, seed=seed, prompt=prompt, negative_prompt=negative_prompt)
    if serving is ProviderName.IDEOGRAM:
        return IdeogramGenerateInputs(
            prompt=prompt, negative_prompt=negative_prompt, seed=seed, style=original.style,
            aspect_ratio=original.aspect_ratio, magic_prompt=original.magic_prompt)
    if isinstance(original, IdeogramGenerateInputs) and original.color_palette is not None:
        raise Refusal(_("This image used the colour palette {palette}, which only the ideogram "
                        "provider has, and `/ideogram` now runs on RunComfy here. Make a new "
                        "one with `/ideogram`.", palette=original.color_palette))
    return GenerateInputs(
        prompt=prompt, negative_prompt=negative_prompt, seed=seed, style=original.style,
        aspect_ratio=original.aspect_ratio, magic_prompt=original.magic_prompt)
