"""Sandboxed inference: the trusted process never loads a submission."""
from .launcher import ISOLATION_MODES, Isolation, Limits, ModelProcess, SandboxConfig, isolation_for

__all__ = ["ModelProcess", "SandboxConfig", "Limits", "ISOLATION_MODES", "Isolation", "isolation_for"]
