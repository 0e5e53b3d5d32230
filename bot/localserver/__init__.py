"""A local server compatible with RunComfy's model API, on loopback, with fault injection.

It also serves the Ideogram-compatible synchronous API's ``POST /ideogram/generate``.
``LocalRunComfyServer`` runs it in the current event loop (tests, benchmarks);
``python -m bot.localserver`` runs it alone (local previews). The modules, by role:

- :mod:`.app`: the aiohttp application and its runner;
- :mod:`.routes`: RunComfy's model API, files and control routes;
  :mod:`.ideogram_compatible` and :mod:`.ideogram_requests`: the synchronous API;
- :mod:`.simulation`: the simulated jobs, driven by the clock; :mod:`.config`: settings;
- :mod:`.faults`: the faults a test can switch on, and their middleware;
  :mod:`.access`: counting, auth and JSON errors;
- :mod:`.job_pictures`, :mod:`.images`, :mod:`.caption_text` and :mod:`.glyph_fonts`:
  the placeholder pictures; :mod:`.input_images`: fetching a reframe's input image.
"""

from bot.localserver.app import LocalRunComfyServer, create_app
from bot.localserver.config import LocalServerConfig
from bot.localserver.faults import FaultRule, Faults
from bot.localserver.ideogram_compatible import MAGIC_SUFFIX
from bot.localserver.simulation import STATE_KEY, ServerState, SimulatedJob, SimulatedStatus

__all__ = [
    "MAGIC_SUFFIX",
    "STATE_KEY",
    "FaultRule",
    "Faults",
    "LocalRunComfyServer",
    "LocalServerConfig",
    "ServerState",
    "SimulatedJob",
    "SimulatedStatus",
    "create_app",
]
