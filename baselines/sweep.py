"""`baselines run --executor ray`: a sweep over models (and folds) with one Ray task each.

Each task trains, exports and scores the gaps on the node Ray picks, with the task's data
brought there through the object store and the node's verified cache (evaluator/scaleout/
taskdata.py), and sends back the run folder's files. The driver writes them under its own
`--out` folder and submits each ONNX file through the sandboxed evaluator like any user,
so the store keeps one writer. Training is deterministic for a profile, so Ray may rerun a
task whose worker died without changing what is submitted.
"""
from __future__ import annotations

import dataclasses
import tempfile
from pathlib import Path
from typing import Callable

from sonobench.evaluator.scaleout import connect, import_ray, taskdata
from sonobench.evaluator.store import Store
from sonobench.evaluator.tasks import SPLITS, Task, verify_task
from sonobench.kernel.errors import SonoBenchError

from .recipes import Profile

Fold = tuple[int, int] | None
Log = Callable[[str], None]


def train_on_node(task: Task, bundle_box: list, model: str, profile: Profile, device: str, fold: Fold):
    """The body of one Ray task: returns the Trained record and its run folder's files."""
    from .training import TaskData
    from .training.pipeline import train_and_export

    ray = import_ray()
    node_task, labels = taskdata.materialize(task, SPLITS, lambda: ray.get(bundle_box[0]))
    data = TaskData.load(node_task, labels)
    with tempfile.TemporaryDirectory(prefix="sonobench-train-") as tmp:
        trained = train_and_export(data, model, profile, folder=Path(tmp) / "run", device=device, fold=fold)
        files = {p.name: p.read_bytes() for p in sorted(trained.folder.iterdir()) if p.is_file()}
    return trained, files


def ray_device(ray, device: str | None) -> str:
    """--device as given, else cuda when the cluster has a GPU."""
    if device:
        return device
    return "cuda" if ray.cluster_resources().get("GPU", 0) >= 1 else "cpu"


def train_on_ray(task: Task, units: list[tuple[str, Fold]], profile: Profile, *, store: Store,
                 out_dir: Path | None, device: str | None, labels_root=None, address: str | None = None,
                 log: Log = print) -> dict[tuple[str, Fold], dict]:
    """Train every (model, fold) unit as a Ray task; submit each as it comes back.
    Returns the run record of every unit."""
    from .training.pipeline import run_folder, submit_trained

    ray = connect(address)
    device = ray_device(ray, device)
    verify_task(task, labels_root=labels_root)  # the head's copy, before anything is sent
    bundle = ray.put(taskdata.make_bundle(task, SPLITS, labels_root))
    remote = ray.remote(train_on_node)
    options = {"num_cpus": profile.threads or 1, **({"num_gpus": 1} if device == "cuda" else {})}
    pending = {remote.options(**options).remote(task, [bundle], model, profile, device, fold): (model, fold)
               for model, fold in units}
    log(f"{len(pending)} training task(s) sent to Ray ({options})")
    records = {}
    while pending:
        [ref], _ = ray.wait(list(pending), num_returns=1)
        model, fold = pending.pop(ref)
        try:
            trained, files = ray.get(ref)
        except ray.exceptions.RayTaskError as e:
            cause = getattr(e, "cause", None)
            if isinstance(cause, SonoBenchError):
                raise cause from None
            raise SonoBenchError(f"training {model} on a Ray node failed: {cause or e}") from None
        folder = run_folder(task, model, profile, out_dir, fold)
        folder.mkdir(parents=True, exist_ok=True)
        for name, data in files.items():
            (folder / name).write_bytes(data)
        trained = dataclasses.replace(trained, folder=folder, onnx_path=folder / trained.onnx_path.name)
        record = records[(model, fold)] = submit_trained(store, task, trained, labels_root=labels_root, log=log)
        log(f"{trained.name}: trained on Ray in {trained.wall_s:.0f} s, submitted as #{record['submission_id']}")
    return records
