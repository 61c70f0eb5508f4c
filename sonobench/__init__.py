"""SonoBench: fair, sandboxed benchmarking of ultrasound segmentation models.

One import namespace. An installed wheel holds every package under it (`sonobench.evaluator`,
`sonobench.simulation`, `sonobench.adapters`, `sonobench.baselines`, `sonobench.leaderboard_app`,
and this folder's own `sonobench.kernel`, `sonobench.zoo`, `sonobench.cli`); the checkout keeps
them as top-level folders (setuptools' `package-dir` maps them at build time). So that a
checkout also imports as `sonobench.<package>` with only its root on the path (PYTHONPATH, a
git worktree, the sandbox's child), this package's search path takes in the checkout's root
when it sits in one; installed, it does nothing of the kind.
"""
from __future__ import annotations

from pathlib import Path as _Path

_HERE = _Path(__file__).resolve().parent
_CHECKOUT = _HERE.parent
if not (_HERE / "evaluator").is_dir() and (_CHECKOUT / "evaluator" / "__init__.py").is_file():
    __path__.append(str(_CHECKOUT))  # noqa: F821 (a package's own search path)
