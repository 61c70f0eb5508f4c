"""Operator settings: quotas, visibility, isolation policy, format limits, queue timing.

Read from a JSON object in `$SONOBENCH_SETTINGS` (a file path) or, when that is
unset, `<data dir>/settings.json` if it exists; then any field can be
overridden by an environment variable `SONOBENCH_<FIELD>` (upper case), e.g.
`SONOBENCH_DAILY_SUBMISSIONS=5`, `SONOBENCH_PRIVATE_TEST_SPLIT=1`,
`SONOBENCH_REQUIRE_ISOLATION=bwrap`. Unknown keys are refused with a
suggestion, so a typo never silently disables a quota.
"""
from __future__ import annotations

import json
import os
from dataclasses import dataclass, field, fields
from pathlib import Path

from sonobench.kernel import environment, paths
from sonobench.kernel.errors import SonoBenchError
from sonobench.kernel.registry import did_you_mean

ISOLATION_REQUIREMENTS = ("auto", "bwrap")


class SettingsError(SonoBenchError):
    """The operator settings file or an override is malformed."""


class QuotaExceeded(SonoBenchError):
    """A team has used its submissions (or failures) for the day."""


@dataclass(frozen=True)
class Settings:
    # Quotas, per team and UTC day; None = unlimited. Baselines are never counted.
    daily_submissions: int | None = None   # queued, running and scored submissions
    daily_failures: int | None = None      # failed submissions, counted separately
    # Visibility: per-case test results are never exposed, only aggregates.
    private_test_split: bool = False
    # "bwrap": refuse to evaluate anything when bubblewrap cannot run (hosted use).
    # "auto": data formats (ONNX, safetensors, state_dict) may run under weaker
    # isolation with a warning on the row; code formats never do.
    require_isolation: str = "auto"
    allow_pickle: bool = False
    # Hosted mode: submitting needs a team token (`sonobench teams add`); the team comes from it.
    require_auth: bool = False
    # Prediction submissions (masks instead of a model) on a task with a hidden test split.
    predictions_on_hidden_split: bool = False
    gpu: bool = False
    # Failure reasons are the evaluator's sentences; the model's own one-line exception message
    # (<= 400 chars) is appended unless this is false. Its stdout/stderr are never shown.
    model_error_details: bool = True
    # Files
    onnx_domains: tuple[str, ...] = ("", "ai.onnx", "ai.onnx.ml", "com.microsoft")
    max_model_mb: int = 2048                # one model file (protobuf's own limit for ONNX)
    max_upload_mb: int = 8192               # model + external data files together
    max_unpacked_mb: int = 8192             # total uncompressed size of a PyTorch archive
    max_zip_ratio: float = 20.0             # uncompressed / compressed, over the archive
    max_zip_members: int = 50_000
    # Sandbox (the launcher's Limits and SandboxConfig take their defaults from here)
    wall_seconds: float = 600.0             # the whole run, loading included
    load_seconds: float = 120.0             # loading + complexity counting
    memory_mb: int = 8192                   # address space of the model process
    cpu_seconds: int = 1800
    file_size_mb: int = 64                  # any one file the model process writes
    open_files: int = 256
    processes: int = 128                    # RLIMIT_NPROC under bubblewrap (threads count)
    tmpfs_mb: int = 256                     # the sandbox's private /tmp
    sandbox_uid: int = 62000                # root only: children run as uids [uid, uid + sandbox_uids)
    sandbox_uids: int = 64
    # Queue
    lease_seconds: float = 120.0
    max_attempts: int = 2                   # runs of one job before a lost worker marks it failed
    # Ranking (see evaluator/ranking): the paired scheme's family-wise level and how many of the
    # best rows (by mean) are tested pairwise (floors and baselines always are); others rank by their means.
    ranking_alpha: float = 0.05
    ranking_top_n: int = 20
    # The web app (SONOBENCH_APP_*): its own upload cap (never above the evaluator's
    # max_upload_mb, see `app_upload_mb`) and how many uploads it evaluates at once.
    app_max_upload_mb: float = 256.0
    app_max_jobs: int = 2
    extra: dict = field(default_factory=dict, compare=False)

    def validate(self) -> "Settings":
        if self.require_isolation not in ISOLATION_REQUIREMENTS:
            raise SettingsError(f"require_isolation must be one of {', '.join(ISOLATION_REQUIREMENTS)}, "
                                f"got {self.require_isolation!r}")
        for name in ("daily_submissions", "daily_failures"):
            v = getattr(self, name)
            if v is not None and (not isinstance(v, int) or v < 0):
                raise SettingsError(f"{name} must be a non-negative integer or null, got {v!r}")
        if not (isinstance(self.ranking_alpha, (int, float)) and 0 < self.ranking_alpha < 1):
            raise SettingsError(f"ranking_alpha must be a number in (0, 1), got {self.ranking_alpha!r}")
        if not isinstance(self.ranking_top_n, int) or isinstance(self.ranking_top_n, bool) or self.ranking_top_n < 2:
            raise SettingsError(f"ranking_top_n must be an integer >= 2, got {self.ranking_top_n!r}")
        if not isinstance(self.app_max_upload_mb, (int, float)) or not self.app_max_upload_mb > 0:
            raise SettingsError(f"app_max_upload_mb must be a number of MB > 0, got {self.app_max_upload_mb!r}")
        if not isinstance(self.app_max_jobs, int) or isinstance(self.app_max_jobs, bool) or self.app_max_jobs < 1:
            raise SettingsError(f"app_max_jobs must be an integer >= 1, got {self.app_max_jobs!r}")
        if self.lease_seconds <= 0 or self.max_attempts < 1:
            raise SettingsError("lease_seconds must be > 0 and max_attempts >= 1")
        for name in _POSITIVE:
            v = getattr(self, name)
            if isinstance(v, bool) or not isinstance(v, (int, float)) or not v > 0:
                raise SettingsError(f"{name} must be a number > 0, got {v!r}")
        return self

    @property
    def app_upload_mb(self) -> float:
        """The app's effective upload cap: its own, never above what the evaluator accepts."""
        return min(float(self.app_max_upload_mb), float(self.max_upload_mb))

    @property
    def heartbeat_seconds(self) -> float:
        return max(0.2, self.lease_seconds / 4)


_FIELDS = {f.name: f for f in fields(Settings) if f.name != "extra"}
_POSITIVE = ("max_model_mb", "max_upload_mb", "max_unpacked_mb", "max_zip_ratio", "max_zip_members",
             "wall_seconds", "load_seconds", "memory_mb", "cpu_seconds", "file_size_mb", "open_files",
             "processes", "tmpfs_mb", "sandbox_uids")
# Every default in one object: the launcher's Limits/SandboxConfig and submission.FileLimits
# take theirs from it, so no number is written twice.
DEFAULTS = Settings()
MB = 1024 * 1024
# Fixed, not an operator setting: how much pickle data the parent disassembles before it
# refuses to be sure (the scan runs in the trusted parent, so it stays bounded whatever the caps).
MAX_PICKLE_SCAN_BYTES = 256 * MB


def _coerce(name: str, value, source: str):
    kind = str(_FIELDS[name].type)
    try:
        if value is None and "None" in kind:
            return None
        if isinstance(value, str):
            if kind.startswith("bool"):
                if value.lower() not in ("1", "0", "true", "false", "yes", "no"):
                    raise ValueError(value)
                return value.lower() in ("1", "true", "yes")
            if kind.startswith("tuple"):
                return tuple(s.strip() for s in value.split(",")) if value else ()
            if value.lower() in ("", "none", "null") and "None" in kind:
                return None
            if kind.startswith("int"):
                return int(value)
            if kind.startswith("float"):
                return float(value)
            return value
        if kind.startswith("tuple"):
            return tuple(value)
        if kind.startswith("bool") and not isinstance(value, bool):
            raise ValueError(value)
        return value
    except (TypeError, ValueError):
        raise SettingsError(f"{source}: '{name}' has an invalid value {value!r} (expected {kind})") from None


def settings_path() -> Path | None:
    env = environment.get("SONOBENCH_SETTINGS")
    if env:
        return Path(env).expanduser()
    p = paths.user_data_dir() / "settings.json"
    return p if p.is_file() else None


def load_settings(path: str | os.PathLike | None = None, env: dict | None = None) -> Settings:
    values: dict = {}
    path = Path(path) if path else settings_path()
    if path is not None:
        try:
            data = json.loads(path.read_text())
        except OSError as e:
            raise SettingsError(f"Cannot read the settings file {path}: {e.strerror}") from None
        except json.JSONDecodeError as e:
            raise SettingsError(f"{path} is not valid JSON: {e}") from None
        if not isinstance(data, dict):
            raise SettingsError(f"{path} must hold a JSON object")
        for key, value in data.items():
            if key not in _FIELDS:
                raise SettingsError(f"{path}: unknown setting '{key}'. Valid: {', '.join(sorted(_FIELDS))}."
                                    f"{did_you_mean(key, _FIELDS)}")
            values[key] = _coerce(key, value, str(path))
    for name, raw in environment.settings_overrides(_FIELDS, env).items():
        values[name] = _coerce(name, raw, environment.setting_variable(name))
    return Settings(**values).validate()
