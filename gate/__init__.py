"""gate: a deterministic pre-execution safety gate for AI agents.

    from gate import Gate
    gate = Gate.from_policies("policies/")
    verdict = gate.check({"agent": "...", "action": {"tool": "...", "args": {}}})
    verdict.decision   # "ALLOW" | "BLOCK" | "REWRITE"
"""

from __future__ import annotations

from gate import _accel

_accel.install()     # before any hot-path module is imported: compiled build or source

# isort: split
from gate.core.verdict import Decision, Verdict
from gate.errors import GateError, PolicyError, RequestError
from gate.gate import Gate
from gate.guard import Blocked, agent_session, guard
from gate.settings import Settings

__all__ = ["Gate", "Decision", "Verdict", "Settings", "GateError", "PolicyError", "RequestError", "guard", "agent_session",
           "Blocked", "__version__"]

__version__ = "0.1.0"
