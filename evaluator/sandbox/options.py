"""What a submitter or an operator may ask of one job's sandbox, declared once: `sonobench submit`
and `sonobench worker` generate their options from `SandboxOptions`, and its field names are the
intake request's (`intake.IntakeRequest`) and the settings' (`wall_seconds`), so a value keeps one
name from the command line to the launcher. What may be widened is the operator's call
(`sandbox.bounds`: a hosted team cannot ask for more than the settings allow)."""
from __future__ import annotations

from dataclasses import asdict, dataclass, field

import click

from sonobench.kernel.options import option

from .launcher import ISOLATION_MODES


@dataclass(frozen=True)
class SandboxOptions:
    isolation: str | None = field(default=None, metadata=option(
        "Sandbox isolation (default: bubblewrap when it can run; see the settings' require_isolation).",
        type=click.Choice(list(ISOLATION_MODES))))
    threads: int | None = field(default=None, metadata=option("Inference threads inside each sandbox."))
    wall_seconds: float | None = field(default=None, metadata=option(
        "Seconds before a model process is killed (the settings' wall_seconds).", flag="--wall-limit"))
    allow_pickle: bool = field(default=False, metadata=option(
        "Operator only: run pickled models (inside bubblewrap only)."))
    gpu: bool = field(default=False, metadata=option(
        "Bind only the NVIDIA device nodes into the sandbox and infer on CUDA."))

    def as_request(self) -> dict:
        """The intake request's fields of the same names."""
        return asdict(self)
