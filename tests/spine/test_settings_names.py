"""One name means one thing: the app's upload cap is not the evaluator's, and a bad value
is a clear SettingsError instead of a crash."""
import pytest

from sonobench.kernel.settings import SettingsError, load_settings


def test_the_apps_upload_cap_has_its_own_name():
    s = load_settings(env={"SONOBENCH_APP_MAX_UPLOAD_MB": "100"})
    assert s.app_max_upload_mb == 100 and s.max_upload_mb == 8192  # the evaluator's cap is untouched
    lowered = load_settings(env={"SONOBENCH_MAX_UPLOAD_MB": "100"})
    assert lowered.app_max_upload_mb == 256 and lowered.app_upload_mb == 100  # derived: never above it


@pytest.mark.parametrize("env,message", [
    ({"SONOBENCH_MAX_UPLOAD_MB": "100.5"}, "SONOBENCH_MAX_UPLOAD_MB: 'max_upload_mb' has an invalid value '100.5'"),
    ({"SONOBENCH_APP_MAX_UPLOAD_MB": "-1"}, "app_max_upload_mb must be a number of MB > 0"),
    ({"SONOBENCH_APP_MAX_UPLOAD_MB": "lots"}, "'app_max_upload_mb' has an invalid value 'lots'"),
    ({"SONOBENCH_APP_MAX_JOBS": "0"}, "app_max_jobs must be an integer >= 1"),
])
def test_bad_values_are_clear_errors(env, message):
    with pytest.raises(SettingsError, match=message):
        load_settings(env=env)


# --- One source of settings -------------------------------------------------------------

import dataclasses
import re
from pathlib import Path

from sonobench.evaluator.sandbox import sandbox_config

REPO = Path(__file__).resolve().parents[2]
ENV_MODULE = "sonobench/kernel/environment.py"
# Writes to the environment, not reads of a setting; each says why where it stands.
ENV_EXCEPTIONS = {"baselines/training/env.py": "CUBLAS_WORKSPACE_CONFIG must be in the process "
                                               "environment before CUDA starts"}
ENV_READ = re.compile(r"os\.environ|getenv|from os import environ")


def test_the_environment_is_read_in_one_module():
    hits = []
    for folder in ("sonobench", "evaluator", "baselines", "leaderboard_app", "simulation", "adapters"):
        for path in sorted((REPO / folder).rglob("*.py")):
            rel = str(path.relative_to(REPO))
            if rel == ENV_MODULE:
                continue
            for n, line in enumerate(path.read_text().splitlines(), 1):
                if ENV_READ.search(line) and not line.lstrip().startswith("#"):
                    hits.append(f"{rel}:{n}: {line.strip()}")
    unexpected = [h for h in hits if h.split(":")[0] not in ENV_EXCEPTIONS]
    assert not unexpected, unexpected
    for rel in ENV_EXCEPTIONS:  # an exception that no longer happens is dropped from the list
        assert any(h.startswith(rel) for h in hits), rel


def test_every_listed_variable_is_read_somewhere_and_documented():
    from sonobench.kernel import environment

    sources = "".join(p.read_text() for folder in ("sonobench", "evaluator", "leaderboard_app", "simulation", "adapters")
                      for p in (REPO / folder).rglob("*.py") if str(p.relative_to(REPO)) != ENV_MODULE)
    page = (REPO / "docs" / "reference" / "settings.md").read_text()
    for name in environment.VARIABLES:
        assert f'"{name}"' in sources, f"{name} is listed but nothing reads it"
        assert name in page, f"{name} is not on the generated settings page"
    with pytest.raises(KeyError, match="SONOBENCH_DB"):
        environment.get("SONOBENCH_DBB")


def test_settings_overrides_read_the_given_environment():
    from sonobench.kernel import environment

    env = {"SONOBENCH_WALL_SECONDS": "5", "SONOBENCH_NOT_A_FIELD": "1", "HOME": "/x"}
    assert environment.settings_overrides(["wall_seconds", "memory_mb"], env) == {"wall_seconds": "5"}


def test_the_sandbox_and_file_limits_derive_from_the_settings():
    from sonobench.evaluator.sandbox import Limits, SandboxConfig
    from sonobench.evaluator.submission import FileLimits
    from sonobench.kernel.settings import DEFAULTS, MB

    limits, cfg = Limits(), SandboxConfig()
    assert (limits.memory_mb, limits.wall_seconds, limits.load_seconds, limits.cpu_seconds,
            limits.file_size_mb, limits.open_files, limits.processes, limits.tmpfs_mb) == \
        (DEFAULTS.memory_mb, DEFAULTS.wall_seconds, DEFAULTS.load_seconds, DEFAULTS.cpu_seconds,
         DEFAULTS.file_size_mb, DEFAULTS.open_files, DEFAULTS.processes, DEFAULTS.tmpfs_mb)
    assert (cfg.onnx_domains, cfg.sandbox_uid, cfg.sandbox_uids, cfg.allow_pickle, cfg.gpu,
            cfg.model_error_details) == (DEFAULTS.onnx_domains, DEFAULTS.sandbox_uid, DEFAULTS.sandbox_uids,
                                         DEFAULTS.allow_pickle, DEFAULTS.gpu, DEFAULTS.model_error_details)
    # The defaults are exactly what the default settings give, so there is one number per limit.
    assert sandbox_config(DEFAULTS) == cfg
    assert FileLimits() == FileLimits.from_settings(DEFAULTS)
    assert FileLimits().max_upload_bytes == DEFAULTS.max_upload_mb * MB


def test_changed_settings_reach_the_limits():
    from sonobench.evaluator.submission import FileLimits

    s = load_settings(env={"SONOBENCH_WALL_SECONDS": "7.5", "SONOBENCH_TMPFS_MB": "32",
                           "SONOBENCH_MAX_ZIP_MEMBERS": "9", "SONOBENCH_MAX_MODEL_MB": "3"})
    cfg = sandbox_config(s)
    assert cfg.limits.wall_seconds == 7.5 and cfg.limits.tmpfs_mb == 32
    fl = FileLimits.from_settings(s)
    assert fl.zip.max_members == 9 and fl.max_model_bytes == 3 * 1024 * 1024
    assert sandbox_config(dataclasses.replace(s, wall_seconds=1.0)).limits.wall_seconds == 1.0


@pytest.mark.parametrize("var", ["SONOBENCH_TMPFS_MB", "SONOBENCH_WALL_SECONDS", "SONOBENCH_MAX_ZIP_RATIO"])
def test_a_limit_must_be_positive(var):
    with pytest.raises(SettingsError, match="must be a number > 0"):
        load_settings(env={var: "0"})


def test_a_fractional_app_upload_cap_loads():
    assert load_settings(env={"SONOBENCH_APP_MAX_UPLOAD_MB": "100.5"}).app_upload_mb == 100.5


def test_every_setting_is_on_the_settings_page():
    from sonobench.kernel.settings import Settings

    page = (REPO / "docs" / "reference" / "settings.md").read_text()
    missing = [f.name for f in dataclasses.fields(Settings) if f.name != "extra" and f"`{f.name}`" not in page]
    assert not missing, missing


def test_the_rankings_defaults_are_the_settings():
    from sonobench.evaluator import ranking
    from sonobench.kernel.settings import DEFAULTS

    assert (ranking.DEFAULT_ALPHA, ranking.DEFAULT_TOP_N) == (DEFAULTS.ranking_alpha, DEFAULTS.ranking_top_n)
