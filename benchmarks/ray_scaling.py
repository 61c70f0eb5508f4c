"""Ray scaling: the same batch of queued submissions evaluated by the local worker
(1 and 2 concurrent jobs) and by the Ray executor on a one-machine cluster of 1 and 2
worker processes (CPUs); wall times, a check that every run stored the same per-case
results, and Ray's per-job overhead.

    python benchmarks/ray_scaling.py [--task sim-breast-lesion] [--jobs 8]

Each run gets a fresh store holding the same `--jobs` queued ONNX models (one-conv
threshold models, different thresholds), so the time is the evaluator's own work:
sandbox start, manifest verification, inference on the task's test cases, metrics,
commit. Ray's cluster start is timed apart and not counted in the runs. Overhead per job
= (Ray wall with 1 CPU - local wall with 1 job at a time) / jobs, and the round trip of
an empty Ray task. Needs the ray extra: pip install 'sonobench[ray]'.
"""
from __future__ import annotations

import argparse
import os
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from sonobench.cli.toy import threshold_onnx  # noqa: E402
from sonobench.evaluator.queue import Worker, enqueue  # noqa: E402
from sonobench.evaluator.sandbox import sandbox_config  # noqa: E402
from sonobench.evaluator.scaleout import import_ray  # noqa: E402
from sonobench.evaluator.scaleout.ray_worker import RayWorker  # noqa: E402
from sonobench.evaluator.store import Store  # noqa: E402
from sonobench.evaluator.submission import prepare  # noqa: E402
from sonobench.evaluator.tasks import DEFAULT_TASK, get_task  # noqa: E402
from sonobench.kernel.settings import Settings  # noqa: E402


def queued_store(db: Path, task, models) -> Store:
    store = Store(db)
    for m in models:
        enqueue(store, task, prepare(m, name=m.stem), Settings())
    return store


def per_case(store: Store) -> list:
    rows = []
    for sub in store.db.query("select id, name from submissions order by name"):
        rows += [(sub["name"], *(c[k] for k in ("case_id", "class_index", "dice", "iou", "hd95", "tp", "fp", "fn")))
                 for c in store.case_results(sub["id"])]
    return rows


def run_local(work: Path, task, models, concurrency: int):
    store = queued_store(work / f"local{concurrency}.db", task, models)
    settings = Settings()
    t0 = time.perf_counter()
    reports = Worker(db_path=str(store.path), settings=settings, config=sandbox_config(settings, threads=1),
                     concurrency=concurrency, once=True, poll_seconds=0.1, log=lambda m: None).run()
    wall = time.perf_counter() - t0
    assert [r.status for r in reports] == ["done"] * len(models), reports
    return wall, per_case(store)


def run_ray(ray, work: Path, task, models, cpus: int, node_home: Path):
    t0 = time.perf_counter()
    ray.init(address="local", num_cpus=cpus, include_dashboard=False, log_to_driver=False,
             object_store_memory=256 * 1024**2, runtime_env={"env_vars": {"SONOBENCH_HOME": str(node_home)}})

    @ray.remote(num_cpus=1)
    def noop(x):
        return x

    ray.get([noop.remote(i) for i in range(cpus * 2)])  # start the worker processes
    started = time.perf_counter() - t0
    t0 = time.perf_counter()
    ray.get([noop.remote(i) for i in range(200)])
    roundtrip_ms = 1000 * (time.perf_counter() - t0) / 200
    try:
        store = queued_store(work / f"ray{cpus}.db", task, models)
        settings = Settings()
        t0 = time.perf_counter()
        reports = RayWorker(db_path=str(store.path), settings=settings, config=sandbox_config(settings, threads=1),
                            once=True, poll_seconds=0.1, log=lambda m: None).run()
        wall = time.perf_counter() - t0
    finally:
        ray.shutdown()
    assert [r.status for r in reports] == ["done"] * len(models), reports
    return wall, per_case(store), started, roundtrip_ms


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--task", default=DEFAULT_TASK)
    ap.add_argument("--jobs", type=int, default=8)
    args = ap.parse_args()
    ray = import_ray()
    task = get_task(args.task)
    with tempfile.TemporaryDirectory(prefix="sonobench-ray-bench-") as tmp:
        work = Path(tmp)
        os.environ["SONOBENCH_HOME"] = str(work / "home")
        models = [threshold_onnx(work / f"m{i:02d}.onnx", threshold=0.2 + 0.02 * i) for i in range(args.jobs)]
        print(f"{args.jobs} queued submissions on {task.ref} ({len(task.split('test'))} test cases each), "
              f"{os.cpu_count()} CPUs, 1 inference thread per sandbox")
        walls, results = {}, {}
        for c in (1, 2):
            walls[f"local x{c}"], results[f"local x{c}"] = run_local(work, task, models, c)
        node_home = work / "node-home"
        for cpus in (1, 2):
            wall, res, started, rt = run_ray(ray, work, task, models, cpus, node_home)
            walls[f"ray {cpus} cpu"], results[f"ray {cpus} cpu"] = wall, res
            print(f"ray {cpus} cpu: cluster start {started:.1f} s (not counted); empty-task round trip {rt:.2f} ms")
        base = walls["local x1"]
        for name, wall in walls.items():
            print(f"{name:<10} {wall:7.2f} s  {args.jobs / wall:5.2f} jobs/s  speed-up vs local x1 {base / wall:4.2f}")
        same = all(r == results["local x1"] for r in results.values())
        print(f"per-case results identical across all runs: {same} ({len(results['local x1'])} rows each)")
        overhead = 1000 * (walls["ray 1 cpu"] - base) / args.jobs
        print(f"Ray per-job overhead (ray 1 cpu - local x1) / jobs: {overhead:.0f} ms; "
              f"local job {1000 * base / args.jobs:.0f} ms")
        if not same:
            sys.exit("Error: the executors stored different per-case results")


if __name__ == "__main__":
    main()
