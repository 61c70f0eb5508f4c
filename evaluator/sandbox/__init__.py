"""Sandboxed inference: the trusted process never loads a submission."""
import dataclasses

from .launcher import ISOLATION_MODES, Isolation, Limits, ModelProcess, SandboxConfig, isolation_for

__all__ = ["ModelProcess", "SandboxConfig", "Limits", "ISOLATION_MODES", "Isolation", "isolation_for"]


def sandbox_config(settings, **overrides) -> SandboxConfig:
    """A SandboxConfig carrying the operator's `settings` (explicit overrides win; None keeps the
    setting). The settings live in the kernel below the sandbox, so the sandbox builds its own
    configuration from them."""
    limits = Limits(memory_mb=settings.memory_mb, cpu_seconds=settings.cpu_seconds,
                    wall_seconds=settings.wall_seconds, file_size_mb=settings.file_size_mb,
                    open_files=settings.open_files, processes=settings.processes, tmpfs_mb=settings.tmpfs_mb,
                    load_seconds=settings.load_seconds)
    cfg = SandboxConfig(isolation="bwrap" if settings.require_isolation == "bwrap" else "auto",
                        allow_pickle=settings.allow_pickle, gpu=settings.gpu, limits=limits,
                        onnx_domains=tuple(settings.onnx_domains), sandbox_uid=settings.sandbox_uid,
                        sandbox_uids=settings.sandbox_uids, model_error_details=settings.model_error_details)
    return dataclasses.replace(cfg, **{k: v for k, v in overrides.items() if v is not None})
