"""Sandboxed inference: the trusted process never loads a submission."""
from .launcher import ISOLATION_MODES, Limits, ModelProcess, SandboxConfig, resolve_isolation

__all__ = ["ModelProcess", "SandboxConfig", "Limits", "ISOLATION_MODES", "resolve_isolation"]
