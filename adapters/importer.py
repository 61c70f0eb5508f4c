"""`import_dataset`: a user's copy of a public dataset -> a frozen SonoBench task.

Steps, each failing loudly before anything is written to the tasks folder:
scan the layout (LayoutError) -> compare with a pinned split or an earlier
import of the same task (SplitListMismatch, CopyMismatch) -> convert every case
to 8-bit grayscale PNG + class-index PNG in a staging folder, validating as it
goes (LayoutError) -> assign splits -> refuse near duplicates across splits
(NearDuplicateLeak) -> freeze with `write_task` -> move into place.
"""
from __future__ import annotations

import hashlib
import json
import os
import re
import shutil
import tempfile
from dataclasses import dataclass, field
from pathlib import Path

from sonobench.evaluator.metrics.defaults import DEFAULT_PRIMARY_METRIC, DEFAULT_TASK_METRICS
from sonobench.evaluator.tasks import (
    REPO_SPLITS,
    Task,
    load_task_folder,
    sha256_file,
    task_search_path,
    user_data_dir,
    write_task,
)
from sonobench.kernel.errors import SonoBenchError

from . import splits as split_rules
from .base import Adapter, Scan, SourceCase, SourceProblem
from .catalog import get_adapter
from .errors import CopyMismatch, LayoutError, NearDuplicateLeak, SplitListMismatch
from .leakage import DEFAULT_MAX_DISTANCE, Duplicates, close_pairs, find_duplicates, phash
from .masks import write_png

INPUT_SIZE = (256, 256)
TASK_ID = re.compile(r"^[a-z0-9][a-z0-9._-]{0,63}$")
SOURCES_FILE = "sources.json"


class ImportOptionError(SonoBenchError):
    pass


@dataclass(frozen=True)
class Options:
    task_id: str | None = None
    version: int = 1
    out: Path | None = None               # tasks root; default: <user data dir>/tasks
    seed: int = 42
    test_fraction: float = 0.2
    folds: int = 5
    max_distance: int = DEFAULT_MAX_DISTANCE
    allow_duplicates: bool = False
    splits_dir: Path | None = None        # where pinned split lists live; default: the repository's splits/
    freeze_lists: bool = False            # write the split as file-name lists into splits_dir/<task>/
    scan_region: str = "auto"             # auto: the adapter's declaration; convex-hull; none (whole image)

    def __post_init__(self):
        for name in ("out", "splits_dir"):
            value = getattr(self, name)
            if value is not None:
                object.__setattr__(self, name, Path(value).expanduser())

    @property
    def lists_root(self) -> Path:
        return self.splits_dir or REPO_SPLITS

    def check(self) -> None:
        if not 0 < self.test_fraction < 1:
            raise ImportOptionError(f"--test-fraction must be between 0 and 1, got {self.test_fraction}")
        if self.folds < 2:
            raise ImportOptionError(f"--folds must be at least 2, got {self.folds}")
        if self.version < 1:
            raise ImportOptionError(f"--version must be 1 or more, got {self.version}")
        if not 0 <= self.max_distance <= 32:
            raise ImportOptionError(f"--hash-distance must be 0..32 bits, got {self.max_distance}")
        if self.task_id is not None and not TASK_ID.match(self.task_id):
            raise ImportOptionError(f"Task id '{self.task_id}' is not valid: use lower-case letters, digits, "
                                    "'.', '_' or '-' (e.g. busi or busi-mycopy)")


@dataclass
class Converted:
    case: SourceCase
    stratum: str
    hash: int
    shape: tuple[int, int]


@dataclass
class ImportReport:
    task: Task
    status: str                           # "created" or "unchanged"
    split_rule: str
    counts: dict[str, dict[str, int]]     # split -> stratum -> cases
    duplicates: Duplicates
    notes: list[str] = field(default_factory=list)
    lists_dir: Path | None = None

    def lines(self) -> list[str]:
        t = self.task
        n = {s: sum(c.values()) for s, c in self.counts.items()}
        verb = "Imported" if self.status == "created" else "Already imported, identical:"
        out = [f"{verb} {t.ref} ({len(t.cases)} cases: train/val/test {n['train']}/{n['val']}/{n['test']})",
               f"  folder: {t.folder}", f"  digest: {t.digest}", f"  split: {self.split_rule}"]
        for split, strata in self.counts.items():
            if strata:
                out.append(f"  {split}: " + ", ".join(f"{s} {k}" for s, k in sorted(strata.items())))
        d = self.duplicates
        out.append(f"  near duplicates: {d.n_within} pair(s) within a split, {d.n_across} across splits")
        out += [f"    {p.describe()}" for p in (d.across + d.within)[:20]]
        out += [f"  note: {x}" for x in self.notes]
        if self.lists_dir:
            out.append(f"  split lists: {self.lists_dir} (commit them to pin this split)")
        return out


# ---- steps -----------------------------------------------------------------------------------

def _hash_sources(scan: Scan) -> dict[str, str]:
    return {f: sha256_file(scan.root / f) for f in sorted(set(scan.files))}


def _check_ids(adapter: Adapter, scan: Scan) -> None:
    if not scan.cases:
        raise LayoutError(adapter.short, scan.root, ["no images found"], "Point the import at the dataset folder.")
    seen: dict[str, str] = {}
    clashes = []
    for c in scan.cases:
        if c.case_id in seen:
            clashes.append(f"{c.key} and {seen[c.case_id]} both map to case id '{c.case_id}'")
        seen[c.case_id] = c.key
    if clashes:
        raise LayoutError(adapter.short, scan.root, clashes, "Rename one file of each pair.")


def _convert(adapter: Adapter, scan: Scan, data: Path) -> list[Converted]:
    problems, out = [], []
    present = adapter.classes[1] if len(adapter.classes) == 2 else "foreground"
    for case in scan.cases:
        try:
            loaded = adapter.read(scan.root, case)
        except SourceProblem as p:
            problems.append(str(p))
            continue
        write_png(data / "images" / f"{case.case_id}.png", loaded.image)
        write_png(data / "labels" / f"{case.case_id}.png", loaded.label)
        stratum = case.stratum or loaded.stratum or (present if loaded.label.any() else "empty")
        out.append(Converted(case, stratum, phash(loaded.image), loaded.image.shape))
    if problems:
        raise LayoutError(adapter.short, scan.root, problems)
    return out


def _pinned(opts: Options, task_id: str, existing: Task | None) -> tuple[dict | None, Path | None]:
    lists = opts.lists_root / task_id
    pinned = split_rules.read_lists(lists)
    if pinned is not None:
        return pinned, lists
    if existing is not None:
        return {c.meta["source"]: split_rules.Assignment(c.split, c.meta.get("fold")) for c in existing.cases}, None
    return None, None


def _groups(conv: list[Converted], max_distance: int) -> list[str]:
    """Group of every case: its declared group (patient...) merged with its near-duplicate cluster."""
    parent = list(range(len(conv)))

    def find(i: int) -> int:
        while parent[i] != i:
            parent[i] = parent[parent[i]]
            i = parent[i]
        return i

    def union(i: int, j: int) -> None:
        a, b = find(i), find(j)
        parent[max(a, b)] = min(a, b)

    first: dict[str, int] = {}
    for i, c in enumerate(conv):
        if c.case.group:
            union(i, first.setdefault(c.case.group, i))
    for i, j, _ in close_pairs([c.hash for c in conv], max_distance):
        union(i, j)
    return [conv[find(i)].case.key for i in range(len(conv))]


def _assign(conv: list[Converted], scan: Scan, pinned: dict | None, pinned_from: str,
            opts: Options) -> tuple[dict, str]:
    if pinned is not None:
        return pinned, f"pinned split, as frozen in {pinned_from}"
    given = {c.case.key: split_rules.Assignment(c.case.split, c.case.fold) for c in conv if c.case.split}
    if given:
        items = [split_rules.Item(c.case.key, c.stratum, c.case.group or c.case.key) for c in conv]
        out, carved = split_rules.published(items, given, opts.folds, opts.seed)
        carve = f"; val = fold 0 of {opts.folds} fixed-seed folds of its training part (by group)" if carved else ""
        return out, f"{scan.split_source}{carve}"
    groups = _groups(conv, opts.max_distance)
    items = [split_rules.Item(c.case.key, c.stratum, g) for c, g in zip(conv, groups)]
    return (split_rules.computed(items, opts.test_fraction, opts.folds, opts.seed),
            f"held-out test {opts.test_fraction:.0%} stratified by class, groups and near-duplicate clusters kept "
            f"whole, seed {opts.seed}; {opts.folds}-fold assignments of the rest (meta 'fold'), val = fold 0")


def _spec(adapter: Adapter, task_id: str, opts: Options, scan: Scan, conv: list[Converted], rule: str,
          dups: Duplicates, sources: dict[str, str]) -> dict:
    shapes = {c.shape for c in conv}
    blob = json.dumps(sources, sort_keys=True).encode()
    return {
        "id": task_id, "version": opts.version, "title": adapter.title, "description": adapter.description,
        "modality": adapter.modality, "classes": list(adapter.classes),
        "native_size": list(shapes.pop()) if len(shapes) == 1 else None, "input_size": list(INPUT_SIZE),
        "input_channels": 1, "spacing_mm": None, "primary_metric": DEFAULT_PRIMARY_METRIC,
        "metrics": list(DEFAULT_TASK_METRICS), "test_labels_private": False,
        "source": {"adapter": adapter.name, "dataset": adapter.source, "imported_from": str(scan.root),
                   "split_rule": rule, "seed": opts.seed, "test_fraction": opts.test_fraction, "folds": opts.folds,
                   "near_duplicates": {"hash": "dct-phash-64", "max_distance": opts.max_distance, **dups.to_json()},
                   "sources_sha256": hashlib.sha256(blob).hexdigest()},
        **({"family": adapter.family} if adapter.family else {}),
        **({"scan_region": region} if (region := _scan_region(adapter, opts)) else {}),
    }


SCAN_REGION_CHOICES = ("auto", "convex-hull", "none")


def _scan_region(adapter: Adapter, opts: Options) -> dict | None:
    """The imported task's scan region: the adapter's own (auto), the convex hull of each image's
    non-black pixels, or none; an unknown choice names the valid ones."""
    if opts.scan_region == "auto":
        return dict(adapter.scan_region) if adapter.scan_region else None
    if opts.scan_region == "convex-hull":
        return {"method": "convex-hull", "threshold": 0}
    if opts.scan_region == "none":
        return None
    raise ImportOptionError(f"--scan-region must be one of {', '.join(SCAN_REGION_CHOICES)}, got {opts.scan_region!r}")


def _cases(conv: list[Converted], assigned: dict) -> list[dict]:
    out = []
    for c in conv:
        a = assigned[c.case.key]
        meta = {"source": c.case.key, "stratum": c.stratum, **c.case.meta}
        if len(c.case.masks) > 1 or (c.case.masks and c.case.masks[0] != c.case.key):
            meta["masks"] = list(c.case.masks)
        if c.case.group:
            meta["group"] = c.case.group
        if a.fold is not None:
            meta["fold"] = a.fold
        out.append({"id": c.case.case_id, "split": a.split, "image": f"images/{c.case.case_id}.png",
                    "label": f"labels/{c.case.case_id}.png", "meta": meta})
    return out


def _source_diff(old: dict[str, str], new: dict[str, str]) -> list[str]:
    out = [f"changed: {f} (SHA-256 differs)" for f in sorted(set(old) & set(new)) if old[f] != new[f]]
    out += [f"missing: {f}" for f in sorted(set(old) - set(new))]
    return out + [f"new: {f}" for f in sorted(set(new) - set(old))]


def _case_diff(old: Task, new: Task) -> list[tuple[str, str]]:
    """(case id, difference) for every case whose converted files, split or metadata changed."""
    before, after = {c.id: c for c in old.cases}, {c.id: c for c in new.cases}
    out = []
    for cid in sorted(set(before) & set(after)):
        a, b = before[cid], after[cid]
        src = a.meta.get("source", cid)
        if a.image_sha256 != b.image_sha256:
            out.append((cid, f"case {cid}: converted image differs (source {src})"))
        if a.label_sha256 != b.label_sha256:
            out.append((cid, f"case {cid}: converted label differs (mask of {src})"))
        if (a.split, a.meta) != (b.split, b.meta):
            out.append((cid, f"case {cid}: split or metadata differs ({a.split} -> {b.split})"))
    out += [(cid, f"case {cid}: missing from this copy ({before[cid].meta.get('source', cid)})")
            for cid in sorted(set(before) - set(after))]
    return out + [(cid, f"case {cid}: new in this copy ({after[cid].meta.get('source', cid)})")
                  for cid in sorted(set(after) - set(before))]


def _read_sources(folder: Path) -> dict[str, str]:
    path = folder / SOURCES_FILE
    return json.loads(path.read_text()).get("files", {}) if path.is_file() else {}


def _counts(conv: list[Converted], assigned: dict) -> dict[str, dict[str, int]]:
    out: dict[str, dict[str, int]] = {s: {} for s in split_rules.SPLIT_NAMES}
    for c in conv:
        strata = out[assigned[c.case.key].split]
        strata[c.stratum] = strata.get(c.stratum, 0) + 1
    return out


# ---- the entry point ---------------------------------------------------------------------------

def import_dataset(name: str, path: str | os.PathLike, **options) -> ImportReport:
    """Import the user's copy at `path` with adapter `name` (see `Options` for the keyword arguments)."""
    opts = Options(**options)
    opts.check()
    adapter = get_adapter(name)
    task_id = opts.task_id or adapter.name
    scan = adapter.scan(Path(path).expanduser())
    _check_ids(adapter, scan)
    sources = _hash_sources(scan)
    root = opts.out or user_data_dir() / "tasks"
    folder = root / task_id / f"v{opts.version}"
    existing = _existing(folder, adapter, f"{task_id}@{opts.version}")
    pinned, lists_dir = _pinned(opts, task_id, existing)
    _check_keys(scan, pinned, lists_dir, existing, sources)
    root.mkdir(parents=True, exist_ok=True)
    staging = Path(tempfile.mkdtemp(prefix=f".import-{task_id}-", dir=root))
    try:
        pinned_from = str(lists_dir) if lists_dir else f"the first import of {task_id}@{opts.version}"
        report, assigned = _build(adapter, task_id, opts, scan, (pinned, pinned_from), sources, staging)
        if existing is not None:
            _settle_existing(existing, report, sources)
        else:
            _place(staging, folder, report)
        if opts.freeze_lists:
            report.lists_dir = _freeze(opts, task_id, assigned, adapter.name, report.split_rule, lists_dir)
        return report
    finally:
        shutil.rmtree(staging, ignore_errors=True)


def _existing(folder: Path, adapter: Adapter, ref: str) -> Task | None:
    """The version this import would create, if an earlier import already froze it."""
    if not (folder / "manifest.json").is_file():
        if folder.exists():
            raise CopyMismatch(ref, folder, ["the folder exists but holds no manifest.json (an interrupted "
                                             "import?): remove it first"])
        return None
    existing = load_task_folder(folder)
    if existing.source.get("adapter") != adapter.name:
        raise CopyMismatch(existing.ref, folder, [f"the task was imported with adapter "
                                                  f"'{existing.source.get('adapter')}', not '{adapter.name}'"])
    return existing


def _check_keys(scan: Scan, pinned: dict | None, lists_dir: Path | None, existing: Task | None,
                sources: dict[str, str]) -> None:
    """A pinned split must cover exactly this copy's files."""
    keys = {c.key for c in scan.cases}
    if pinned is None or set(pinned) == keys:
        return
    missing, new = sorted(set(pinned) - keys), sorted(keys - set(pinned))
    if lists_dir is not None:
        raise SplitListMismatch(lists_dir, missing, new)
    raise CopyMismatch(existing.ref, existing.folder, _source_diff(_read_sources(existing.folder), sources)
                       + [f"missing: case {k}" for k in missing] + [f"new: case {k}" for k in new])


def _build(adapter: Adapter, task_id: str, opts: Options, scan: Scan, pinned: tuple[dict | None, str],
           sources: dict[str, str], staging: Path) -> tuple[ImportReport, dict]:
    """Convert, split, check for leakage and freeze the task inside `staging`."""
    conv = _convert(adapter, scan, staging / "data")
    assigned, rule = _assign(conv, scan, *pinned, opts)
    dups = find_duplicates([c.case.key for c in conv], [assigned[c.case.key].split for c in conv],
                           close_pairs([c.hash for c in conv], opts.max_distance))
    if dups.n_across and not opts.allow_duplicates:
        raise NearDuplicateLeak(dups.across, dups.n_across)
    spec = _spec(adapter, task_id, opts, scan, conv, rule, dups, sources)
    task = write_task(staging, spec, _cases(conv, assigned), data_root="data")
    (staging / SOURCES_FILE).write_text(json.dumps({"adapter": adapter.name, "files": sources}, indent=1) + "\n")
    return ImportReport(task, "created", rule, _counts(conv, assigned), dups), assigned


def _place(staging: Path, folder: Path, report: ImportReport) -> None:
    folder.parent.mkdir(parents=True, exist_ok=True)
    os.replace(staging, folder)
    report.task = load_task_folder(folder)
    root = folder.parent.parent
    if not any(Path(p).resolve() == root.resolve() for p in task_search_path()):
        report.notes.append(f"{root} is not on the task search path: add it to SONOBENCH_TASKS_PATH to use "
                            f"{report.task.id}")


def _settle_existing(existing: Task, report: ImportReport, sources: dict[str, str]) -> None:
    """Same content as the frozen version: report it unchanged; different: refuse, file by file."""
    new = report.task
    source_diff = _source_diff(_read_sources(existing.folder), sources)
    if new.digest != existing.digest:
        cases = _case_diff(existing, new)
        raise CopyMismatch(existing.ref, existing.folder, source_diff + [d for _, d in cases],
                           cases=sorted({cid for cid, _ in cases}))
    report.task, report.status = existing, "unchanged"
    report.notes += [f"source file differs but the scored content is identical — {d}" for d in source_diff]


def _freeze(opts: Options, task_id: str, assigned: dict, adapter: str, rule: str, pinned_from) -> Path:
    """Write the split as file-name lists (unless it was read from those very lists)."""
    folder = opts.lists_root / task_id
    if pinned_from is None:
        split_rules.write_lists(folder, assigned, f"{task_id}: {adapter} split ({rule}); one source file per line")
    return folder
