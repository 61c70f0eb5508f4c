"""The operator's settings bound every job: a job's own options may only narrow them.

A queued job carries the options its submitter chose (isolation, threads, wall
limit, GPU, pickle permission, labels folder, split). The worker that runs it was
started by the operator with the operator's settings; those are the ceiling.
`widenings` names every option of a request that would go past that ceiling (the
queue refuses such a job at submit time in hosted mode); `bound` returns the request
with each such option dropped back to the worker's own, which is what a worker runs,
whatever the queue holds (a job written before this check, or straight into the store).
A worker also records the limits it ran under with the result (`limits_record`).

Narrowing is allowed: a stronger isolation, fewer threads, a shorter wall limit.
A labels folder is never taken from a job: only the worker's `--labels-root` decides
where private labels are read.
"""
from __future__ import annotations

import dataclasses

from sonobench.kernel.errors import SonoBenchError

# auto means "bubblewrap when it can run", so it sits between unshare and bwrap
ISOLATION_STRENGTH = {"none": 0, "unshare": 1, "auto": 2, "bwrap": 3}


class JobOptionRefused(SonoBenchError):
    """A submission asked for more than the operator's settings allow; nothing was stored."""


def widenings(request, base, *, hosted: bool = False) -> list[str]:
    """Each option of `request` (an evaluate.Request) that `base` (the operator's SandboxConfig)
    does not allow, as a sentence; empty when the request only narrows. `hosted`: a team may
    not choose the split (only the test split is ranked) nor ask for a GPU the operator did not
    enable."""
    out = []
    if request.allow_pickle and not base.allow_pickle:
        out.append("--allow-pickle (the operator runs no pickled models)")
    if hosted and request.gpu and not base.gpu:  # elsewhere kept: a worker without a GPU fails the job
        out.append("--gpu (the operator's workers run on CPU)")
    if request.isolation and ISOLATION_STRENGTH[request.isolation] < ISOLATION_STRENGTH[base.isolation]:
        out.append(f"--isolation {request.isolation} (weaker than the operator's '{base.isolation}')")
    if request.threads and int(request.threads) > int(base.threads):
        out.append(f"--threads {request.threads} (the operator allows {base.threads})")
    if request.wall_seconds and float(request.wall_seconds) > float(base.limits.wall_seconds):
        out.append(f"--wall-limit {request.wall_seconds:g} (the operator allows {base.limits.wall_seconds:g} s)")
    if request.labels_root:
        out.append("--labels-root (only the operator's worker chooses where labels are read)")
    if hosted and request.split != "test" and request.follow_up_of is None:
        out.append(f"--split {request.split} (hosted submissions are scored on the test split)")
    return out


def refuse_widening(request, base, *, hosted: bool) -> None:
    """Raise JobOptionRefused naming every option that goes past `base`."""
    wide = widenings(request, base, hosted=hosted)
    if wide:
        raise JobOptionRefused("This leaderboard's operator settings bind every submission; not allowed: "
                               + "; ".join(wide) + ". Submit again without them. Nothing was stored.")


def bound(request, base):
    """`request` with every option that would widen `base` set back to the worker's own (None /
    False), and no labels folder. Kept: the split (a hosted store refuses another split at
    submit time, and a job's split decides which board its result belongs to) and `gpu` (a job
    that needs CUDA fails with the reason on a worker without a GPU; hosted mode refuses it at
    submit time unless the operator's settings enable the GPU)."""
    def keep(bad: bool, value):
        return None if bad else value

    iso = request.isolation
    return dataclasses.replace(
        request,
        allow_pickle=bool(request.allow_pickle and base.allow_pickle),
        isolation=keep(bool(iso) and ISOLATION_STRENGTH[iso] < ISOLATION_STRENGTH[base.isolation], iso),
        threads=keep(bool(request.threads) and int(request.threads) > int(base.threads), request.threads),
        wall_seconds=keep(bool(request.wall_seconds) and float(request.wall_seconds) > base.limits.wall_seconds,
                          request.wall_seconds),
        labels_root=None)


def limits_record(config) -> dict:
    """The limits a sandbox actually ran under, for the result's sandbox facts."""
    lim = config.limits
    return {"wall_seconds": lim.wall_seconds, "load_seconds": lim.load_seconds, "memory_mb": lim.memory_mb,
            "cpu_seconds": lim.cpu_seconds, "file_size_mb": lim.file_size_mb, "open_files": lim.open_files,
            "tmpfs_mb": lim.tmpfs_mb, "threads": config.threads, "allow_pickle": bool(config.allow_pickle),
            "gpu": bool(config.gpu)}
