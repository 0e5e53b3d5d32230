"""Discord-free core of the Ideogram bot: configuration, provider clients, store, tracker.

Nothing in this package imports ``discord`` (``bot.cli`` is the composition root and
the only exception: it starts the Discord client from ``cogs``).
"""
