"""Discord-facing code: the bot client, one cog per feature, shared rendering and buttons."""
