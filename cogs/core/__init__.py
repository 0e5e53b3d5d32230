"""The Discord-side machinery the extensions share: the bot class and its wiring, the launch
path, result delivery, rendering, buttons and their actions, checks, the error path and the
commands' localizations. No extension lives here (``tests/test_layout.py`` checks it)."""
