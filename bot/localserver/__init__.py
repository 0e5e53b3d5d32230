"""A RunComfy-compatible model API served on loopback, with fault injection.

``LocalRunComfyServer`` runs it in the current event loop (tests, benchmarks);
``python -m bot.localserver`` runs it alone (local previews). See :mod:`.app` for the
endpoints and :mod:`.faults` for the faults a test can switch on.
"""

from bot.localserver.app import (
    Job,
    JobStatus,
    LocalRunComfyServer,
    LocalServerConfig,
    ServerState,
    create_app,
)
from bot.localserver.faults import FaultRule, Faults

__all__ = [
    "FaultRule",
    "Faults",
    "Job",
    "JobStatus",
    "LocalRunComfyServer",
    "LocalServerConfig",
    "ServerState",
    "create_app",
]
