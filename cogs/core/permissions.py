"""Discord's permissions by the names its own interface gives them, in the reader's
language (the names come from discord.py's ``Permissions`` attributes)."""

from __future__ import annotations

from typing import Final

from bot.i18n import N_, _

#: The permissions the bot asks for or talks about, in English (Discord's words).
PERMISSION_LABELS: Final[dict[str, str]] = {
    "view_channel": N_("View Channels"),
    "send_messages": N_("Send Messages"),
    "embed_links": N_("Embed Links"),
    "attach_files": N_("Attach Files"),
    "read_message_history": N_("Read Message History"),
    "send_messages_in_threads": N_("Send Messages in Threads"),
    "manage_guild": N_("Manage Server"),
}


def permission_label(name: str) -> str:
    """A permission's name as Discord shows it to the reader (``send_messages`` → "Send
    Messages" / "Enviar mensagens"); one the bot does not know, with spaces for
    underscores."""
    label = PERMISSION_LABELS.get(name)
    return _(label) if label is not None else name.replace("_", " ")
