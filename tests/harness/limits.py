"""Discord's limits on messages, components, choices and commands: each validator returns
the list of breaches (empty when the body is valid)."""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from typing import Any

_EMBED_TOTAL = 6000


def _validate_components(components: Sequence[Any], *, v2: bool) -> list[str]:
    errors: list[str] = []
    custom_ids: list[str] = []

    def check_item(c: Mapping[str, Any], where: str) -> None:
        ctype = c.get("type")
        cid = c.get("custom_id")
        if ctype == 2 and c.get("style") in (5, 6):
            if cid is not None:
                errors.append(f"{where}: link/premium buttons cannot have a custom_id")
        elif ctype in (2, 3, 4, 5, 6, 7, 8):
            if not isinstance(cid, str) or not 1 <= len(cid) <= 100:
                errors.append(f"{where}: custom_id must be 1-100 characters, got {cid!r}")
            else:
                custom_ids.append(cid)
        if ctype == 2 and len(c.get("label") or "") > 80:
            errors.append(f"{where}: button label longer than 80 characters")
        if ctype == 3:
            options = c.get("options") or []
            if not 1 <= len(options) <= 25:
                errors.append(f"{where}: a select needs 1-25 options, got {len(options)}")
            for o in options:
                if (
                    not 1 <= len(o.get("label") or "") <= 100
                    or not 1 <= len(o.get("value") or "") <= 100
                ):
                    errors.append(f"{where}: select option label/value must be 1-100 characters")
        if ctype in (3, 5, 6, 7, 8) and len(c.get("placeholder") or "") > 150:
            errors.append(f"{where}: placeholder longer than 150 characters")

    def walk(c: Mapping[str, Any], where: str) -> None:
        check_item(c, where)
        for i, child in enumerate(c.get("components") or []):
            walk(child, f"{where}.components[{i}]")
        accessory = c.get("accessory")
        if isinstance(accessory, Mapping):
            walk(accessory, f"{where}.accessory")
        inner = c.get("component")
        if isinstance(inner, Mapping):
            walk(inner, f"{where}.component")

    if v2:
        for i, c in enumerate(components):
            walk(c, f"components[{i}]")
    else:
        if len(components) > 5:
            errors.append(f"components: at most 5 action rows, got {len(components)}")
        for r, row in enumerate(components):
            if row.get("type") != 1:
                errors.append(f"components[{r}]: top-level components must be action rows")
                continue
            children = row.get("components") or []
            if not 1 <= len(children) <= 5:
                errors.append(
                    f"components[{r}]: an action row holds 1-5 components, got {len(children)}"
                )
            if any(c.get("type") in (3, 5, 6, 7, 8) for c in children) and len(children) > 1:
                errors.append(f"components[{r}]: a select menu must be alone in its row")
            for i, c in enumerate(children):
                check_item(c, f"components[{r}].components[{i}]")
    dupes = sorted({c for c in custom_ids if custom_ids.count(c) > 1})
    if dupes:
        errors.append(f"components: duplicate custom_id(s) {dupes}")
    return errors


def _validate_embeds(embeds: Sequence[Any]) -> list[str]:
    errors: list[str] = []
    if len(embeds) > 10:
        errors.append(f"embeds: at most 10, got {len(embeds)}")
    total = 0
    for i, e in enumerate(embeds):
        where = f"embeds[{i}]"
        title = e.get("title") or ""
        desc = e.get("description") or ""
        footer = (e.get("footer") or {}).get("text") or ""
        author = (e.get("author") or {}).get("name") or ""
        fields = e.get("fields") or []
        for label, value, limit in (
            ("title", title, 256),
            ("description", desc, 4096),
            ("footer.text", footer, 2048),
            ("author.name", author, 256),
        ):
            if len(value) > limit:
                errors.append(f"{where}.{label}: {len(value)} > {limit} characters")
        if len(fields) > 25:
            errors.append(f"{where}.fields: at most 25, got {len(fields)}")
        for j, f in enumerate(fields):
            name, value = f.get("name") or "", f.get("value") or ""
            if not 1 <= len(name) <= 256:
                errors.append(f"{where}.fields[{j}].name must be 1-256 characters")
            if not 1 <= len(value) <= 1024:
                errors.append(f"{where}.fields[{j}].value must be 1-1024 characters")
            total += len(name) + len(value)
        total += len(title) + len(desc) + len(footer) + len(author)
    if total > _EMBED_TOTAL:
        errors.append(f"embeds: {total} > {_EMBED_TOTAL} characters in all")
    return errors


def validate_message_body(body: Mapping[str, Any]) -> list[str]:
    """Discord's limits on a message create/edit body; returns error strings."""
    errors: list[str] = []
    content = body.get("content")
    if isinstance(content, str) and len(content) > 2000:
        errors.append(f"content: {len(content)} > 2000 characters")
    errors += _validate_embeds(body.get("embeds") or [])
    flags = body.get("flags") or 0
    errors += _validate_components(body.get("components") or [], v2=bool(flags & (1 << 15)))
    if len(body.get("attachments") or []) > 10:
        errors.append("attachments: at most 10")
    return errors


def validate_choices(choices: Sequence[Any]) -> list[str]:
    errors: list[str] = []
    if len(choices) > 25:
        errors.append(f"choices: at most 25, got {len(choices)}")
    for i, c in enumerate(choices):
        if not 1 <= len(c.get("name") or "") <= 100:
            errors.append(f"choices[{i}].name must be 1-100 characters")
        value = c.get("value")
        if isinstance(value, str) and len(value) > 100:
            errors.append(f"choices[{i}].value longer than 100 characters")
    return errors


def validate_modal(data: Mapping[str, Any]) -> list[str]:
    """Discord's limits on a modal (callback type 9)."""
    errors: list[str] = []
    if not 1 <= len(data.get("title") or "") <= 45:
        errors.append("modal title must be 1-45 characters")
    if not 1 <= len(data.get("custom_id") or "") <= 100:
        errors.append("modal custom_id must be 1-100 characters")
    return errors


_COMMAND_NAME = re.compile(r"^[-_'\w]{1,32}$")


def validate_commands(commands_: Sequence[Any]) -> list[str]:
    errors: list[str] = []

    def check_options(options: Sequence[Any], where: str) -> None:
        if len(options) > 25:
            errors.append(f"{where}.options: at most 25")
        seen_optional = False
        for i, o in enumerate(options):
            w = f"{where}.options[{i}]"
            name = o.get("name") or ""
            if not _COMMAND_NAME.match(name) or name != name.lower():
                errors.append(f"{w}.name {name!r} invalid")
            if not 1 <= len(o.get("description") or "") <= 100:
                errors.append(f"{w}.description must be 1-100 characters")
            errors.extend(f"{w}.{e}" for e in validate_choices(o.get("choices") or []))
            if o.get("type") in (1, 2):
                check_options(o.get("options") or [], w)
            elif o.get("required"):
                if seen_optional:
                    errors.append(f"{w}: required options must come before optional ones")
            else:
                seen_optional = True

    for i, c in enumerate(commands_):
        where = f"commands[{i}]"
        name = c.get("name") or ""
        if c.get("type", 1) == 1:
            if not _COMMAND_NAME.match(name) or name != name.lower():
                errors.append(f"{where}.name {name!r} invalid")
            if not 1 <= len(c.get("description") or "") <= 100:
                errors.append(f"{where}.description must be 1-100 characters")
            check_options(c.get("options") or [], where)
        elif not 1 <= len(name) <= 32:
            errors.append(f"{where}.name must be 1-32 characters")
    return errors

