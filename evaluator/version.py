"""One benchmark version string: which code, metric definitions and task versions a number comes
from, printed by `sonobench --version`, shown in the app's footer and meant to be quoted next to
any number taken from SonoBench.

    sonobench 0.1.0 · evaluator 0.2.0 · metrics 5c1e0a9b · tasks sim-bone-surface@1, ...

- `sonobench`: the distribution's version (pyproject.toml);
- `evaluator`: the scoring code's own version (`sonobench.evaluator.__version__`), raised when a
  policy that changes a stored number changes (the class-absent policy, a metric's definition);
- `metrics`: a digest of the metric registry (every entry's name, kind, computation, direction,
  unit, bounds and tolerance), so adding or redefining a metric changes it without anyone
  remembering to;
- `tasks`: the newest version of every task embedded in this release (shift sets follow their
  parent's version and are not listed).
"""
from __future__ import annotations

import hashlib
import json
from importlib import metadata

from . import __version__
from .metrics.info import METRICS
from .tasks import REPO_SPLITS, _version_folders


def distribution_version() -> str:
    try:
        return metadata.version("sonobench")
    except metadata.PackageNotFoundError:  # a checkout on the path, not installed
        return "unknown"


def metrics_digest() -> str:
    """8 hex digits of the registry's definitions (not of the code that computes them)."""
    entries = [{"name": m.name, "kind": m.kind.value, "computed": m.computed.value if m.computed else None,
                "higher_is_better": m.higher_is_better, "unit": m.unit, "bounds": [m.lower_bound, m.upper_bound],
                "tolerance": m.tolerance} for _, m in sorted(METRICS.items())]
    return hashlib.sha256(json.dumps(entries, sort_keys=True).encode()).hexdigest()[:8]


def embedded_tasks() -> list[str]:
    """`id@version` of the newest version of each task shipped in `splits/` (not shift sets)."""
    refs = []
    for task_dir in sorted(REPO_SPLITS.iterdir()) if REPO_SPLITS.is_dir() else []:
        versions = dict(_version_folders(task_dir)) if task_dir.is_dir() else {}
        if not versions:
            continue
        newest = max(versions)
        spec = json.loads((versions[newest] / "task.json").read_text())
        if not spec.get("parent"):
            refs.append(f"{task_dir.name}@{newest}")
    return refs


def benchmark_version() -> str:
    return (f"sonobench {distribution_version()} · evaluator {__version__} · metrics {metrics_digest()} · "
            f"tasks {', '.join(embedded_tasks()) or 'none'}")
