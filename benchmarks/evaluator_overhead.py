"""Evaluator overhead: wall time of a full `sonobench submit` (sandbox start,
manifest verification, model load, inference, validation, metrics, store write)
until its main result is stored, divided by a bare onnxruntime loop over the same
test images (read PNG, preprocess, run), both measured in this run, alternating
A B A B. A submission to a task with acquisition-shift sets is then also scored on
each of them (follow-ups, after the main result): their time is printed apart.

    python benchmarks/evaluator_overhead.py [--task sim-breast-lesion] [--arch unet] [--repeats 3]

It also prints where one submit's time goes (the phases the pipeline records on the
result, plus process start and imports measured here). Targets on the default task:
ratio <= 1.10 for unext, <= 1.05 for unet.
"""
from __future__ import annotations

import argparse
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from sonobench.cli.demo import default_task  # noqa: E402
from sonobench.evaluator.sandbox import SandboxConfig  # noqa: E402
from sonobench.evaluator.scoring import OVERLAPPED  # noqa: E402
from sonobench.evaluator.task_sets import shift_sets  # noqa: E402
from sonobench.evaluator.tasks import get_task  # noqa: E402
from sonobench.kernel import imageio  # noqa: E402


def export_model(arch: str, task, path: Path) -> Path:
    import torch

    from sonobench.zoo import create_model

    torch.manual_seed(0)
    model = create_model(arch, in_channels=task.input_channels, num_classes=1 if task.num_classes == 2 else task.num_classes).eval()
    x = torch.rand(1, task.input_channels, *task.input_size)
    torch.onnx.export(model, (x,), str(path), input_names=["image"], output_names=["logits"],
                      dynamic_axes={"image": {0: "N"}, "logits": {0: "N"}}, opset_version=17, dynamo=False)
    return path


def bare_loop(model: Path, task, threads: int) -> float:
    import onnxruntime as ort

    t0 = time.perf_counter()
    opts = ort.SessionOptions()
    opts.intra_op_num_threads = threads
    opts.inter_op_num_threads = 1
    sess = ort.InferenceSession(str(model), sess_options=opts, providers=["CPUExecutionProvider"])
    name = sess.get_inputs()[0].name
    for case in task.split("test"):
        x = imageio.to_input(imageio.load_gray(task.image_path(case)), task.input_size, task.input_channels)
        y = sess.run(None, {name: x})[0]
        assert np.isfinite(y).all()
    return time.perf_counter() - t0


def full_submit(model: Path, task, threads: int, workdir: Path, i: int) -> tuple[float, float, dict]:
    """One `sonobench submit`: wall seconds until its main result is printed (stored), wall
    seconds of the whole process (which then scores the task's acquisition-shift sets, if it
    has any), and the phases the main evaluation recorded on its result."""
    from sonobench.evaluator.store import Store

    db = workdir / f"bench-{i}.db"
    cmd = [str(Path(sys.executable).parent / "sonobench"), "submit", str(model), "--task", task.ref,
           "--db", str(db), "--threads", str(threads)]
    t0 = time.perf_counter()
    main = None
    with subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True,
                          env={**os.environ, "PYTHONUNBUFFERED": "1"}) as proc:
        for line in proc.stdout:
            if main is None and line.startswith("Scored: submission #"):
                main = time.perf_counter() - t0
                sid = int(line.split("#", 1)[1].split()[0])
    wall = time.perf_counter() - t0
    if proc.returncode or main is None:
        raise SystemExit(f"`{' '.join(cmd)}` failed (exit {proc.returncode})")
    store = Store(db)
    try:
        phases = store.result_for(sid)["hardware"].get("phases_s", {})
    finally:
        store.close()
    return main, wall, phases


def cli_start() -> float:
    """Process start + the imports of the CLI and the pipeline, without doing anything."""
    t0 = time.perf_counter()
    subprocess.run([sys.executable, "-c", "import sonobench.cli, sonobench.cli.commands, sonobench.evaluator.evaluate"], check=True)
    return time.perf_counter() - t0


def print_breakdown(walls: list[float], phases: list[dict], start_s: float) -> None:
    """Phases named "overlapped: ..." ran on another thread inside the others' time: shown,
    not added up."""
    names = list(dict.fromkeys(k for p in phases for k in p))
    med = {k: statistics.median(p.get(k, 0.0) for p in phases) for k in names}
    wall = statistics.median(walls)
    print("where the main result's time goes (median over runs, seconds):")
    print(f"  {'process start + imports (CLI, pipeline)':56s} {start_s:7.3f}")
    for k in names:
        print(f"  {k:56s} {med[k]:7.3f}")
    rest = wall - sum(v for k, v in med.items() if not k.startswith(OVERLAPPED)) - start_s
    print(f"  {'rest (task load, store open + write)':56s} {rest:7.3f}")
    print(f"  {'total until the main result is stored':56s} {wall:7.3f}")


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--task", default=None, help="task ref (default: the demo's default task)")
    ap.add_argument("--arch", default="unet", help="registered architecture to export as the model")
    ap.add_argument("--repeats", type=int, default=3)
    args = ap.parse_args()
    task = get_task(args.task) if args.task else default_task()
    threads = SandboxConfig().threads
    with tempfile.TemporaryDirectory() as tmp:
        work = Path(tmp)
        model = export_model(args.arch, task, work / f"{args.arch}.onnx")
        bare_loop(model, task, threads)  # warm the page cache for both sides
        a, whole, b, phases = [], [], [], []
        for i in range(args.repeats):
            main_s, wall, ph = full_submit(model, task, threads, work, i)
            a.append(main_s); whole.append(wall); phases.append(ph)
            b.append(bare_loop(model, task, threads))
        start_s = statistics.median(cli_start() for _ in range(3))
    ratios = [x / y for x, y in zip(a, b)]
    n = len(task.split("test"))
    shifts = len(shift_sets(task))
    print(f"task {task.ref}: {n} test images, model {args.arch} (ONNX), {threads} inference thread(s)")
    print(f"`sonobench submit` until its main result is stored: median {statistics.median(a):.2f} s  "
          f"(runs: {', '.join(f'{x:.2f}' for x in a)})")
    print(f"bare onnxruntime loop:                              median {statistics.median(b):.2f} s  "
          f"(runs: {', '.join(f'{x:.2f}' for x in b)})")
    if shifts:
        print(f"whole process, then scoring the {shifts} acquisition-shift sets: median "
              f"{statistics.median(whole):.2f} s (follow-ups, after the main result; not in the ratio)")
    print_breakdown(a, phases, start_s)
    print(f"overhead ratio submit/bare: median {statistics.median(ratios):.3f} (min {min(ratios):.3f}, "
          f"max {max(ratios):.3f}); target <= 1.10 for unext, <= 1.05 for unet")


if __name__ == "__main__":
    main()
