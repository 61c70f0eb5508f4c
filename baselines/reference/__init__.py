"""Committed reference results of the baselines, one gzip-compressed JSON file per task version
(`<task_id>@<version>.json.gz` next to this module), and their loading into a store.

The files are compressed because they carry every reference's test-set predictions (base64 PNG
masks, for `sonobench rescore`): plain, they took 6.3 MB of the checkout's 60 MB data budget;
compressed (deterministically: no name, mtime 0), 2.5 MB. `zcat FILE | python -m json.tool` reads
one. A plain `<task_id>@<version>.json` (a folder written by an older SonoBench, or by hand) is
still read.

A reference file::

    {"format": 1, "task": "sim-breast-lesion", "task_version": 1,
     "manifest_digest": "...", "note": "how and where these were produced",
     "rows": [{"model", "profile", "name", "team", "architecture", "onnx",
               "scores", "complexity", "history", "training", "provenance",
               "evaluation", "cases": {"columns": [...], "rows": [[...], ...]}}]}

`load_into_store` inserts each row as a finished kind="baseline" submission with
its result and per-case rows, keyed by the SHA-256 of the row's canonical JSON,
so loading twice changes nothing. This module imports no torch: `sonobench demo`
uses it.
"""
from __future__ import annotations

import base64
import gzip
import hashlib
import json
from pathlib import Path

from sonobench.evaluator.metrics import always_stored_metrics, summary_columns
from sonobench.evaluator.metrics.defaults import DEFAULT_PRIMARY_METRIC
from sonobench.evaluator.sweeps.metrics import sweep_metrics
from sonobench.kernel.errors import AlreadyScored, SonoBenchError, UnknownName
from sonobench.kernel.registry import did_you_mean

REFERENCE_DIR = Path(__file__).resolve().parent
FORMAT = 1
# Format 1 holds the metrics every stored result has (the registry's always_stored ones: dice,
# iou, hd95); a loaded row lacks the others until `sonobench rescore` fills them from its
# stored test predictions.
CASE_COLUMNS = ("case_id", "class_index", *always_stored_metrics(), "tp", "fp", "fn", "failed")
SCORE_KEYS = summary_columns(always_stored_metrics()) + (
    "hd95_unit", "per_class", "n_cases", "n_failed_cases", "split", "primary_metric")
# a sweep set's rows (evaluator.sweeps.task) also keep their 3D aggregates
SWEEP_KEYS = summary_columns(sweep_metrics()) + ("sweep_tolerance",)
COMPLEXITY_KEYS = ("params", "gflops", "complexity", "latency_ms", "peak_memory_mb")


class NoReference(UnknownName):
    """No committed reference row for that task / model / profile."""


class ReferenceMismatch(SonoBenchError):
    """A reference file that does not belong to the task it is loaded for."""


SUFFIX = ".json.gz"


def reference_path(task_id: str, version: int, folder: Path | None = None) -> Path:
    """Where `task_id@version`'s reference file is written (and read first)."""
    return Path(folder or REFERENCE_DIR) / f"{task_id}@{int(version)}{SUFFIX}"


def _plain_path(task_id: str, version: int, folder: Path | None) -> Path:
    """The uncompressed name, still read (older folders, hand-written files)."""
    return Path(folder or REFERENCE_DIR) / f"{task_id}@{int(version)}.json"


def read_json(path: Path) -> dict:
    """A reference file's JSON, gzip-compressed (`.gz`) or plain."""
    path = Path(path)
    raw = gzip.decompress(path.read_bytes()) if path.name.endswith(".gz") else path.read_bytes()
    return json.loads(raw)


def write_json(path: Path, obj: dict) -> Path:
    """Write `obj` as a reference file; `.gz` names are compressed byte-for-byte reproducibly."""
    path = Path(path)
    text = (json.dumps(obj, indent=1) + "\n").encode()
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(gzip.compress(text, compresslevel=9, mtime=0) if path.name.endswith(".gz") else text)
    return path


def reference_files(folder: Path | None = None) -> list[Path]:
    """Every `<task>@<version>` reference file in `folder` (compressed or plain), sorted by name."""
    root = Path(folder or REFERENCE_DIR)
    return sorted([*root.glob(f"*@*{SUFFIX}"), *root.glob("*@*.json")], key=lambda p: p.name)


def _task_and_version(path: Path) -> tuple[str, str]:
    stem = path.name.removesuffix(".gz").removesuffix(".json")
    task_id, _, version = stem.rpartition("@")
    return task_id, version


def _legacy_path(task_id: str, folder: Path | None) -> Path:
    """`<task_id>.json`: the name before files were per version (its `task_version` says which)."""
    return Path(folder or REFERENCE_DIR) / f"{task_id}.json"


def reference_versions(task_id: str, folder: Path | None = None) -> list[int]:
    """The task versions that have a reference file in `folder`, ascending."""
    found = {int(v) for t, v in map(_task_and_version, reference_files(folder)) if t == task_id and v.isdigit()}
    legacy = _legacy_path(task_id, folder)
    if legacy.is_file():
        found.add(int(_parse(legacy, task_id).get("task_version", 1)))
    return sorted(found)


def _parse(path: Path, task_id: str) -> dict:
    try:
        ref = read_json(path)
    except (json.JSONDecodeError, UnicodeDecodeError, OSError, EOFError) as e:
        raise ReferenceMismatch(f"{path} is not a readable reference file ({e}); "
                                "restore it from version control") from None
    if not isinstance(ref, dict) or ref.get("format") != FORMAT or ref.get("task") != task_id:
        raise ReferenceMismatch(f"{path} is not a format-{FORMAT} reference file for task '{task_id}'")
    return ref


def _current(ref: dict) -> dict:
    """The file with each row's convergence verdict derived again from its stored curve (the
    committed one may predate the current rule; a label shown never disagrees with it). A row's
    identity in the store (`row_sha256`) stays that of the row as committed."""
    from ..convergence import with_current_verdict

    return {**ref, "rows": [with_current_verdict(r) for r in ref.get("rows") or []]}


def _reference_file(task_id: str, folder: Path | None, version: int | None) -> tuple[Path, dict] | None:
    """(path, parsed file) of `task_id@version`'s reference file (default: the newest version
    that has one): `<id>@<version>.json.gz` or `.json`, else the older `<id>.json` when it declares that
    version."""
    if version is None:
        versions = reference_versions(task_id, folder)
        if not versions:
            return None
        version = versions[-1]
    path = reference_path(task_id, version, folder)
    if not path.is_file():
        path = _plain_path(task_id, version, folder)
    if path.is_file():
        ref = _parse(path, task_id)
        if int(ref.get("task_version", -1)) != int(version):
            raise ReferenceMismatch(f"{path} holds results for {task_id}@{ref.get('task_version')}, not @{version}; "
                                    "restore it from version control")
        return path, ref
    legacy = _legacy_path(task_id, folder)
    if legacy.is_file():
        ref = _parse(legacy, task_id)
        if int(ref.get("task_version", 1)) == int(version):
            return legacy, ref
    return None


def read_reference(task_id: str, folder: Path | None = None, version: int | None = None) -> dict | None:
    """The reference file of `task_id@version` (default: the newest version that has one)."""
    found = _reference_file(task_id, folder, version)
    return _current(found[1]) if found else None


def find_row(task_id: str, model: str, profile: str, folder: Path | None = None, version: int | None = None) -> dict:
    ref = read_reference(task_id, folder, version) or {"rows": []}
    keys = {f"{r['model']}@{r['profile']}": r for r in ref["rows"]}
    key = f"{model}@{profile}"
    where = task_id if version is None else f"{task_id}@{version}"
    if key not in keys:
        have = ", ".join(sorted(keys)) or "none"
        raise NoReference(f"No reference result for model '{model}' with profile '{profile}' on task '{where}' "
                          f"(committed: {have}).{did_you_mean(key, keys)} Produce one with "
                          f"`sonobench baselines run --task {where} --models {model} --profile {profile} --update-reference`.")
    return keys[key]


def row_sha256(row: dict) -> str:
    """Identity of a reference row in the store: SHA-256 of its canonical JSON, without its
    `shifts` block (the same model's results on the task's acquisition-shift sets, which may be
    added to a row later without making it another model). Its shift-set results are stored
    under the same identity, which is how the Robustness view pairs them with the row. A row
    re-scored under a newer evaluator policy keeps the identity it had before (`identity`, set by
    `sonobench.baselines.reference.rescore`), so a store that loaded it earlier does not load it twice."""
    if row.get("identity"):
        return row["identity"]
    core = {k: v for k, v in row.items() if k != "shifts"}
    return hashlib.sha256(json.dumps(core, sort_keys=True, separators=(",", ":")).encode()).hexdigest()


PARAMS_PYTORCH = "PyTorch module: every tensor of model.parameters() once, as papers count them"
PARAMS_ONNX = "ONNX graph: weight initialisers after export (batch norm folded into the convolutions)"


def paper_params(complexity: dict, params_pytorch: int) -> dict:
    """Complexity with `params` = the PyTorch module's count and the ONNX graph's count kept
    beside it (in the `complexity` details, a JSON column), both labelled."""
    details = dict(complexity.get("complexity") or {})
    onnx = details.get("params_onnx", complexity.get("params"))
    details.update({"params": params_pytorch, "params_onnx": onnx,
                    "params_counted_as": PARAMS_PYTORCH, "params_onnx_counted_as": PARAMS_ONNX})
    return {**complexity, "params": params_pytorch, "complexity": details}


PREDICTIONS_FORMAT = "png-base64"  # per test case: the evaluator's stored label-map PNG, base64


def stored_predictions(store, submission_id: int) -> dict[str, bytes]:
    """The test predictions the evaluator stored with a result (case id -> PNG bytes)."""
    sql = ("select p.case_id, p.png from predictions p join results r on r.id = p.result_id "
           "where r.submission_id = ? order by p.case_id")
    if "predictions" not in store.db.table_names():
        return {}
    return {r["case_id"]: r["png"] for r in store.db.query(sql, [submission_id])}


def encode_predictions(pngs: dict[str, bytes]) -> dict | None:
    if not pngs:
        return None
    return {"format": PREDICTIONS_FORMAT, "cases": {k: base64.b64encode(v).decode() for k, v in sorted(pngs.items())}}


def decode_predictions(block: dict | None) -> dict[str, bytes]:
    if not block:
        return {}
    if block.get("format") != PREDICTIONS_FORMAT:
        raise ReferenceMismatch(f"reference predictions in format {block.get('format')!r}; expected {PREDICTIONS_FORMAT}")
    return {k: base64.b64decode(v) for k, v in block["cases"].items()}


def _case_block(cases: list[dict]) -> dict:
    return {"columns": list(CASE_COLUMNS), "rows": [[c[k] for k in CASE_COLUMNS] for c in cases]}


def shift_block(shifts: dict) -> dict:
    """The row's `shifts`: per shift-set task ref, what the store needs to show the same model
    on it (manifest digest, aggregates, per-case rows, where it was evaluated). The masks are
    not kept (a row's own test predictions are): four sets' worth per row would cost the
    repository's data budget more than the Robustness view, which pairs per-case rows, needs."""
    return {ref: {"manifest_digest": s["result"]["manifest_digest"],
                  "scores": {**{k: s["result"][k] for k in SCORE_KEYS},
                             **{k: s["result"][k] for k in SWEEP_KEYS if s["result"].get(k) is not None}},
                  "evaluation": {"hardware": s["result"]["hardware"], "wall_s": s["result"]["wall_s"],
                                 "created_at": s["result"]["created_at"],
                                 "evaluator_version": s["result"]["evaluator_version"]},
                  "cases": _case_block(s["cases"])}
            for ref, s in sorted(shifts.items())}


def row_from_record(record: dict) -> dict:
    """A compact reference row from `sonobench.baselines.training.run_baseline`'s record."""
    res, training = record["result"], dict(record["training"])
    history = training.pop("history")
    complexity = {k: res[k] for k in COMPLEXITY_KEYS}
    return {
        "model": record["model"], "profile": record["profile"], "name": record["name"],
        "team": "SonoBench baselines", "architecture": record["architecture"],
        "onnx": {k: record["onnx"][k] for k in ("sha256", "bytes", "parity_rel")} if record.get("onnx") else None,
        "scores": {k: res[k] for k in SCORE_KEYS},
        "complexity": paper_params(complexity, record["params_pytorch"]),
        "history": history,
        "training": training,
        "provenance": {"git_commit": training["git_commit"], "git_dirty": training["git_dirty"],
                       "hardware": training["hardware"], "seed": training["seed"], "wall_s": training["wall_s"],
                       "evaluator_version": res["evaluator_version"], "manifest_digest": res["manifest_digest"]},
        "evaluation": {"hardware": res["hardware"], "wall_s": res["wall_s"], "created_at": res["created_at"]},
        "cases": _case_block(record["cases"]),
        "predictions": encode_predictions(record.get("test_predictions") or {}),
        **({"shifts": shift_block(record["shifts"])} if record.get("shifts") else {}),
    }


GPU_DICE_TOLERANCE = 0.02  # GPU kernels (AMP, atomics in backward) are not bit-deterministic
REPRO_METRIC = DEFAULT_PRIMARY_METRIC  # a rerun is compared on Dice, whatever its task ranks by


def rerun_tolerance(row: dict, device: str, threads: int | None, cpu: str | None = None) -> dict:
    """How close a rerun of `row` on `device` with `threads` CPU threads (on the CPU model
    `cpu`, when known) should land: {"exact": bool, "tolerance": on REPRO_METRIC, "words": ...}. A CPU row
    rerun on the same CPU model at its recorded thread count repeats every floating-point
    operation in order (same kernels), so it must be bit-identical; another CPU model picks other
    SIMD kernels that round differently, so, like a GPU, it may only agree within ±0.02 Dice."""
    hw = row["provenance"]["hardware"]
    ref_threads = hw.get("threads")
    if hw["device"] == "cpu" and device == "cpu" and cpu and hw.get("cpu") and cpu != hw["cpu"]:
        return {"exact": False, "tolerance": GPU_DICE_TOLERANCE,
                "words": f"within ±{GPU_DICE_TOLERANCE} Dice (trained on {hw['cpu']!r}, rerun on {cpu!r}: other SIMD "
                         "kernels round differently, and early stopping may keep another epoch)"}
    if hw["device"] == "cpu" and device == "cpu" and (threads or ref_threads) == ref_threads:
        return {"exact": True, "tolerance": 0.0,
                "words": f"bit-identical (CPU at {ref_threads} thread(s), as the reference; on a CPU with other "
                         f"SIMD kernels than {hw.get('cpu')!r} the bytes may differ)"}
    if hw["device"] == "cpu" and device == "cpu":
        why = f"CPU at {threads} thread(s) instead of the reference's {ref_threads}: sums run in another order"
    else:
        why = f"trained on {hw['device']}, rerun on {device}: GPU kernels are not bit-deterministic"
    return {"exact": False, "tolerance": GPU_DICE_TOLERANCE, "words": f"within ±{GPU_DICE_TOLERANCE} Dice ({why})"}


def converged_row(rows: list[dict], model: str, notes: dict | None = None) -> tuple[dict | None, str]:
    """`model`'s converged reference row (a GPU `paper` row first, then the CPU `converged`
    one, then any other whose curve passed the criterion), or None and why there is none."""
    from ..convergence import row_verdict

    mine = [r for r in rows if r["model"] == model]
    rank = {"paper": 0, "converged": 1}
    done = sorted((r for r in mine if row_verdict(r)["converged"]), key=lambda r: rank.get(r["profile"], 2))
    if done:
        return done[0], row_verdict(done[0])["reason"]
    tried = [r for r in mine if r["profile"] in rank]
    if (notes or {}).get(model):
        return None, notes[model]
    if tried:
        return None, f"{tried[0]['profile']} row {row_verdict(tried[0])['reason']}"
    return None, (f"none trained to convergence yet (committed: {', '.join(sorted(r['profile'] for r in mine)) or 'nothing'}); "
                  f"`sonobench baselines run {model} --profile converged` trains one on the CPU")


def describe(rows: list[dict]) -> str:
    """The file's `note`: which profile ran on what hardware, and what that means."""
    parts = []
    for profile in sorted({r["profile"] for r in rows}):
        mine = [r for r in rows if r["profile"] == profile]
        devices = sorted({f"{r['provenance']['hardware']['device']} ({r['provenance']['hardware'].get('gpu') or r['provenance']['hardware']['cpu']}, "
                          f"{r['provenance']['hardware']['threads']} thread(s))" for r in mine})
        parts.append(f"Profile '{profile}' ({', '.join(sorted(r['model'] for r in mine))}) was trained on {'; '.join(devices)}.")
    if any(r["profile"] == "quick" for r in rows):
        parts.append("'quick' rows are CPU smoke-level references: a few epochs on small patches, far from "
                     "converged, meant to be reproduced locally with `sonobench baselines rerun MODEL --profile quick`.")
    full = [r for r in rows if r["profile"] == "full"]
    if full and all(r["provenance"]["hardware"]["device"] == "cpu" for r in full):
        parts.append("'full' is the reference setting; no GPU was available when these rows were trained, so it "
                     "is sized for a CPU (the quick recipe run ~1.5x longer, see baselines/recipes.py) and its "
                     "models are not converged either. The seeds' GPU recipe is the 'paper' profile.")
    elif not full:
        parts.append("No 'full' (reference-setting) rows are committed yet.")
    return " ".join(parts)


def write_row(task, row: dict, folder: Path | None = None) -> Path:
    """Add or replace the (model, profile) row of `task`'s reference file (`<id>@<version>.json.gz`;
    a plain `.json` one read for it is replaced by the compressed file)."""
    path = reference_path(task.id, task.version, folder)
    found = _reference_file(task.id, folder, task.version)
    ref = found[1] if found else None  # the kept rows as committed (their identity in stores unchanged)
    if ref and ref["manifest_digest"] != task.digest:
        raise ReferenceMismatch(f"{path} holds results for {task.id}@{ref['task_version']} with manifest "
                                f"{ref['manifest_digest'][:12]}…, not {task.ref}'s ({task.digest[:12]}…); "
                                "a changed split is a new task version: move the file aside")
    kept = [r for r in (ref or {"rows": []})["rows"] if (r["model"], r["profile"]) != (row["model"], row["profile"])]
    rows = sorted(kept + [row], key=lambda r: (r["profile"], r["model"]))
    notes = (ref or {}).get("converged_notes")  # per model: why it has no converged row (measured cost)
    ref = {"format": FORMAT, "task": task.id, "task_version": task.version, "manifest_digest": task.digest,
           "note": describe(rows), **({"converged_notes": notes} if notes else {}), "rows": rows}
    write_json(path, ref)
    if found and found[0] != path and found[0].name.endswith(".json") and found[0].stem.endswith(f"@{task.version}"):
        found[0].unlink()  # the plain file it replaces (its rows are all in the new one)
    return path


def _result_row(task, row: dict) -> dict:
    """The committed row as a result row, through the evaluator's one builder (its stored values as they are)."""
    from sonobench.evaluator.result_row import result_row

    scores, cx, prov = row["scores"], row["complexity"], row["provenance"]
    return result_row(task, split=scores["split"], n_cases=scores["n_cases"],
                      columns={**scores, "params": cx["params"], "gflops": cx["gflops"]},
                      complexity=cx["complexity"], latency_ms=cx["latency_ms"], peak_memory_mb=cx["peak_memory_mb"],
                      hardware=row["evaluation"]["hardware"], evaluator_version=prov["evaluator_version"],
                      wall_s=row["evaluation"]["wall_s"], manifest_digest=prov["manifest_digest"],
                      rescored_version=prov.get("rescored_version"),
                      test_predictions=decode_predictions(row.get("predictions")))


def _detection(task, cases: list[dict]) -> dict:
    """Image-level detection rates from the row's stored per-case counts (rows written before the
    rates existed carry the counts, so the rates are exact, not estimated)."""
    from sonobench.evaluator.metrics.detection import detection_rates
    from sonobench.evaluator.summary import detection_columns

    per_class = {name: detection_rates([c for c in cases if c["class_index"] == k])
                 for k, name in enumerate(task.classes[1:], start=1)}
    return detection_columns(per_class)


def _insert(store, task, row: dict, sha: str, source: str) -> int:
    from ..convergence import with_current_verdict

    row = with_current_verdict(row)  # the verdict by the current rule; `sha` is the row as committed
    meta = {"architecture": row["architecture"], "output": "logits", "split": row["scores"]["split"],
            "training": {**row["training"], "history": row["history"]},
            "reference": {"file": source, "row_sha256": sha, "onnx_sha256": (row.get("onnx") or {}).get("sha256")},
            **({"floor": row["floor"]} if row.get("floor") else {})}
    fmt = "onnx" if row.get("onnx") else "predictions"
    sid = store.create_submission(file_sha256=sha, filename=f"{row['model']}-{row['profile']}.{fmt}", fmt=fmt,
                                  task=task, name=row["name"], team=row["team"], kind=row.get("kind", "baseline"),
                                  meta=meta)  # kind "floor": a no-skill floor's row (baselines/floors.py)
    try:
        cases = [dict(zip(row["cases"]["columns"], values)) for values in row["cases"]["rows"]]
        store.write_result(sid, {**_detection(task, cases), **_result_row(task, row)}, cases)
    except BaseException:
        store.set_status(sid, "failed", "loading the reference row failed")
        raise
    return sid


def load_into_store(store, task, log=print, folder: Path | None = None) -> int:
    """Insert the committed reference rows for `task` as baseline results; returns how many
    were new. Rows already present (same row SHA-256) are skipped."""
    found = _reference_file(task.id, folder, task.version)
    if not found or not found[1]["rows"]:
        return 0
    path, ref = found
    if ref["manifest_digest"] != task.digest:
        log(f"Reference baselines in {path.name} are for {task.id}@{ref['task_version']} with manifest "
            f"{ref['manifest_digest'][:12]}…, not {task.ref}'s ({task.digest[:12]}…); not loaded. "
            f"Rerun them with `sonobench baselines run --task {task.ref}`.")
        return 0
    store.register_task(task)
    source = f"baselines/reference/{path.name}"
    added = 0
    for row in ref["rows"]:
        sha = row_sha256(row)
        if store.find_scored(sha, task.id, task.version) is None:
            try:
                _insert(store, task, row, sha, source)
                added += 1
            except AlreadyScored:  # loaded concurrently by another process
                pass
        _load_shifts(store, task, row, sha, source, log)
    if added:
        # A row holds the always-stored metrics (format 1); every other metric (NSD, ASSD, the
        # bone task's surface_f1 it ranks by) is computed now from the row's own stored test
        # predictions, so no reference shows a metric as 'missing' that its predictions give.
        from sonobench.evaluator.rescore import rescore

        rescore(store, task.id)
    return added


def _load_shifts(store, task, row: dict, sha: str, source: str, log) -> None:
    """Insert the row's results on the task's acquisition-shift sets (under the row's identity),
    skipping sets that are absent here, re-frozen since (another digest) or already loaded."""
    from sonobench.evaluator.task_sets import shift_sets, sweep_sets

    children = {c.ref: c for c in shift_sets(task) + sweep_sets(task)}
    for ref, block in (row.get("shifts") or {}).items():
        child = children.get(ref)
        if child is None:
            continue
        if block["manifest_digest"] != child.digest:
            log(f"{row['model']} ({row['profile']}): its {ref} result was scored on manifest "
                f"{block['manifest_digest'][:12]}…, not {child.digest[:12]}…; not loaded.")
            continue
        if store.find_scored(sha, child.id, child.version) is not None:
            continue
        store.register_task(child)
        ev = block["evaluation"]
        shifted = {**row, "scores": block["scores"], "cases": block["cases"], "predictions": block.get("predictions"),
                   "provenance": {**row["provenance"], "manifest_digest": block["manifest_digest"],
                                  "evaluator_version": ev["evaluator_version"],
                                  "rescored_version": ev.get("rescored_version")},
                   "evaluation": {k: ev[k] for k in ("hardware", "wall_s", "created_at")}}
        try:
            _insert(store, child, shifted, sha, source)
        except AlreadyScored:
            continue
