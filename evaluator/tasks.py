"""Tasks are data: a spec (`task.json`) and a frozen manifest (`manifest.json`)
in one folder per task version.

Layout of a task folder::

    <root>/<task_id>/v<version>/task.json
    <root>/<task_id>/v<version>/manifest.json
    <root>/<task_id>/v<version>/README.md        (optional)

Manifest paths are relative to the spec's ``data_root`` (itself relative to the
version folder unless absolute). Test labels may live elsewhere: an operator
passes ``labels_root`` (or sets ``SONOBENCH_TEST_LABELS``) and the manifest
still pins them by SHA-256.

Search path for tasks, first match wins: ``$SONOBENCH_TASKS_PATH`` (os.pathsep
separated), the user's data dir (imported datasets), the repository's ``splits/``.
"""
from __future__ import annotations

import hashlib
import json
import os
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Iterable, Iterator

from sonobench.kernel import environment
from sonobench.kernel.errors import InvalidTaskSpec, ManifestMismatch, TaskNotFound
from sonobench.kernel.paths import sha256_file, user_data_dir  # noqa: F401  (also part of this module's API)
from sonobench.kernel.registry import did_you_mean

from .clusters import ClusterKey, parse_clusters
from .scan_region import ScanRegion
from .task_archive import read_archive

if TYPE_CHECKING:
    import numpy as np

SPLITS = ("train", "val", "test")
DEFAULT_TASK = "sim-breast-lesion"  # the embedded default benchmark: `sonobench demo`, the app's Submit page
MANIFEST_FORMAT = 1
REPO_SPLITS = Path(__file__).resolve().parent.parent / "splits"


def task_search_path() -> list[Path]:
    paths = [Path(p) for p in environment.get("SONOBENCH_TASKS_PATH", "").split(os.pathsep) if p]
    return paths + [user_data_dir() / "tasks", REPO_SPLITS]


@dataclass(frozen=True)
class Case:
    id: str
    split: str
    image: str
    label: str
    image_sha256: str
    label_sha256: str
    meta: dict = field(default_factory=dict)

    def to_json(self) -> dict:
        d = asdict(self)
        if not d["meta"]:
            del d["meta"]
        return d


def manifest_digest(task_id: str, version: int, cases: Iterable[Case]) -> str:
    """SHA-256 over a canonical JSON form of the task identity and every case."""
    body = {
        "format": MANIFEST_FORMAT,
        "task_id": task_id,
        "version": version,
        "cases": [c.to_json() for c in sorted(cases, key=lambda c: c.id)],
    }
    blob = json.dumps(body, sort_keys=True, separators=(",", ":")).encode()
    return hashlib.sha256(blob).hexdigest()


@dataclass(frozen=True)
class Task:
    id: str
    version: int
    title: str
    description: str
    modality: str
    classes: tuple[str, ...]
    input_size: tuple[int, int]
    input_channels: int
    primary_metric: str
    native_size: tuple[int, int] | None
    spacing_mm: tuple[float, float] | None
    folder: Path
    data_root: Path
    cases: tuple[Case, ...]
    digest: str
    test_labels_private: bool = False
    source: dict = field(default_factory=dict)
    nsd_tolerance_declared: float | None = None  # task.json "nsd_tolerance" (mm with a spacing, else px)
    surface_tolerance_declared: float | None = None  # task.json "surface_tolerance" (same unit)
    family: str | None = None  # task.json "family" (e.g. "breast"): declared, never guessed; `sonobench crosseval`
    scan_region: ScanRegion | None = None  # task.json "scan_region"; None = the whole image is scored
    parent: str | None = None  # task.json "parent": id@version of the task this test-only set shifts
    condition: dict = field(default_factory=dict)  # task.json "condition": name, description, what changed
    corruption: tuple | None = None  # (name, severity) of a virtual corruption variant (evaluator.corruptions)
    archive: dict = field(default_factory=dict)  # archive.json: where git history keeps its files (task_archive)
    # task.json "metrics": the metrics its leaderboards show, primary first (default: the
    # registry's DEFAULT_TASK_METRICS); not part of the manifest digest, so declaring it
    # leaves a frozen version frozen.
    metrics: tuple[str, ...] = ()
    clusters: ClusterKey | None = None  # task.json "clusters": cases sharing a phantom/specimen (evaluator.clusters)
    sweeps: dict = field(default_factory=dict)  # task.json "sweeps" of a sweep set: tolerance_mm, folders (evaluator.sweeps.task)

    @property
    def ref(self) -> str:
        return f"{self.id}@{self.version}"

    @property
    def archived(self) -> bool:
        """Its files are in git history only (`sonobench tasks restore`), not on this machine."""
        return bool(self.archive) and not self.data_root.is_dir()

    def require_data(self) -> None:
        if self.archived:
            from .task_archive import TaskArchived, archived_message

            raise TaskArchived(archived_message(self))

    @property
    def nsd_tolerance(self) -> float:
        """NSD's tolerance in the task's distance unit (mm with a spacing, else pixels): the value
        task.json declares, else 2 pixels."""
        from .metrics import default_nsd_tolerance

        if self.nsd_tolerance_declared is not None:
            return self.nsd_tolerance_declared
        return default_nsd_tolerance(self.spacing_mm)

    @property
    def surface_tolerance(self) -> float:
        """The thin-structure surface metrics' tolerance (surface precision/recall/F1) in the
        task's distance unit (mm with a spacing, else pixels): the value task.json declares as
        "surface_tolerance", else the NSD tolerance (so a task declaring neither uses 2 pixels)."""
        if self.surface_tolerance_declared is not None:
            return self.surface_tolerance_declared
        return self.nsd_tolerance

    def case_clusters(self) -> dict[str, str] | None:
        """{case id: cluster} where cases share a phantom or specimen; None: every case alone."""
        return None if self.clusters is None else self.clusters.of(self.cases)

    @property
    def num_classes(self) -> int:
        return len(self.classes)

    @property
    def foreground(self) -> tuple[str, ...]:
        return self.classes[1:]

    def split(self, name: str) -> list[Case]:
        if name not in SPLITS:
            raise ValueError(f"Unknown split '{name}'. Valid: {', '.join(SPLITS)}")
        return [c for c in self.cases if c.split == name]

    def image_path(self, case: Case) -> Path:
        return self.data_root / case.image

    def load_image(self, case: Case) -> np.ndarray:
        """The case's grey image as a model sees it: a corruption variant corrupts it on read
        (deterministically; outside the scan region nothing changes)."""
        from sonobench.kernel import imageio

        self.require_data()
        image = imageio.load_gray(self.image_path(case))
        if self.corruption is None:
            return image
        from .corruptions import corrupt

        return corrupt(image, case.id, *self.corruption, region=self.region_for(case, image))

    def region_for(self, case: Case, image) -> np.ndarray | None:
        """The boolean scan region of `case` (native grey `image` given), or None without one."""
        return None if self.scan_region is None else self.scan_region.mask_for(case, image, self.data_root)

    def label_path(self, case: Case, labels_root: str | os.PathLike | None = None) -> Path:
        if case.split == "test":
            root = labels_root or environment.get("SONOBENCH_TEST_LABELS")
            if root:
                return Path(root) / case.label
        return self.data_root / case.label

    def summary(self) -> dict:
        counts = {s: len(self.split(s)) for s in SPLITS}
        return {
            "id": self.id,
            "version": self.version,
            "title": self.title,
            "modality": self.modality,
            "classes": list(self.classes),
            "input_size": list(self.input_size),
            "input_channels": self.input_channels,
            "native_size": list(self.native_size) if self.native_size else None,
            "spacing_mm": list(self.spacing_mm) if self.spacing_mm else None,
            "primary_metric": self.primary_metric,
            "metrics": list(self.metrics),
            "nsd_tolerance": self.nsd_tolerance,
            "surface_tolerance": self.surface_tolerance,
            "scan_region": self.scan_region.to_json() if self.scan_region else None,
            "parent": self.parent,
            "condition": self.condition or None,
            "corruption": list(self.corruption) if self.corruption else None,
            "splits": counts,
            "digest": self.digest,
            "folder": str(self.folder),
            "description": self.description,
            "test_labels_private": self.test_labels_private,
            "family": self.family,
            "archived": self.archived,
            "cluster_key": self.clusters.key if self.clusters else None,
        }


REQUIRED_SPEC_KEYS = ("id", "version", "classes", "input_size")


def _pair(value, name, cast):
    if value is None:
        return None
    if not (isinstance(value, (list, tuple)) and len(value) == 2):
        raise InvalidTaskSpec(f"'{name}' must be a list of two numbers, got {value!r}")
    return (cast(value[0]), cast(value[1]))


def load_task_folder(folder: str | os.PathLike) -> Task:
    """Read and check `task.json` + `manifest.json` in one version folder."""
    folder = Path(folder)
    spec_path, man_path = folder / "task.json", folder / "manifest.json"
    for p in (spec_path, man_path):
        if not p.is_file():
            raise InvalidTaskSpec(f"{p} is missing: a task folder needs task.json and manifest.json")
    try:
        spec = json.loads(spec_path.read_text())
        man = json.loads(man_path.read_text())
    except json.JSONDecodeError as e:
        raise InvalidTaskSpec(f"Cannot parse JSON in {folder}: {e}") from None
    missing = [k for k in REQUIRED_SPEC_KEYS if k not in spec]
    if missing:
        raise InvalidTaskSpec(f"{spec_path} lacks {', '.join(missing)}")
    classes = tuple(spec["classes"])
    if len(classes) < 2 or classes[0] != "background":
        raise InvalidTaskSpec(f"{spec_path}: 'classes' must start with 'background' and name at least one foreground class")
    cases = tuple(Case(**c) for c in man.get("cases", []))
    bad = [c.id for c in cases if c.split not in SPLITS]
    if bad:
        raise InvalidTaskSpec(f"{man_path}: cases with an unknown split: {', '.join(bad[:5])}")
    if len({c.id for c in cases}) != len(cases):
        raise InvalidTaskSpec(f"{man_path}: case ids are not unique")
    digest = manifest_digest(spec["id"], int(spec["version"]), cases)
    if man.get("digest") != digest:
        raise ManifestMismatch(
            f"The manifest of {spec['id']}@{spec['version']} was edited: its recorded digest "
            f"{str(man.get('digest'))[:12]}… does not match its contents ({digest[:12]}…). "
            "A changed split must become a new task version; restore manifest.json from version control."
        )
    data_root = Path(spec.get("data_root", "."))
    if not data_root.is_absolute():
        data_root = (folder / data_root).resolve()
    channels = int(spec.get("input_channels", 1))
    from .metrics.defaults import DEFAULT_PRIMARY_METRIC, check_primary_metric, check_task_metrics

    primary = check_primary_metric(spec.get("primary_metric", DEFAULT_PRIMARY_METRIC), str(spec_path))
    if channels not in (1, 3):
        raise InvalidTaskSpec(f"{spec_path}: input_channels must be 1 or 3, got {channels}")
    return Task(
        id=spec["id"],
        version=int(spec["version"]),
        title=spec.get("title", spec["id"]),
        description=spec.get("description", ""),
        modality=spec.get("modality", "ultrasound"),
        classes=classes,
        input_size=_pair(spec["input_size"], "input_size", int),
        input_channels=channels,
        primary_metric=primary,
        metrics=check_task_metrics(spec.get("metrics"), primary, str(spec_path)),
        native_size=_pair(spec.get("native_size"), "native_size", int),
        spacing_mm=_pair(spec.get("spacing_mm"), "spacing_mm", float),
        folder=folder.resolve(),
        data_root=data_root,
        cases=cases,
        digest=digest,
        test_labels_private=bool(spec.get("test_labels_private", False)),
        source=spec.get("source", {}),
        nsd_tolerance_declared=_tolerance(spec, spec_path, "nsd_tolerance"),
        surface_tolerance_declared=_tolerance(spec, spec_path, "surface_tolerance"),
        family=_family(spec, spec_path),
        scan_region=ScanRegion.from_spec(spec.get("scan_region"), str(spec_path)),
        **_shift_fields(spec, spec_path, cases),
        archive=read_archive(folder),
        clusters=parse_clusters(spec.get("clusters"), cases, str(spec_path)),
    )


def _family(spec: dict, spec_path: Path) -> str | None:
    value = spec.get("family")
    if value is not None and not (isinstance(value, str) and value.strip() == value and value):
        raise InvalidTaskSpec(f"{spec_path}: 'family' must be a non-empty name such as \"breast\", got {value!r}")
    return value


def _shift_fields(spec: dict, spec_path: Path, cases: tuple[Case, ...]) -> dict:
    """`parent` and `condition` of an acquisition-shift set: test cases only, each naming the
    parent's test case it re-images (`meta.source_case`), so scores pair case by case."""
    parent = spec.get("parent")
    if parent is None:
        if "condition" in spec:
            raise InvalidTaskSpec(f"{spec_path}: 'condition' belongs to a shift set, which also names its 'parent'")
        return {}
    if not isinstance(parent, str) or "@" not in parent:
        raise InvalidTaskSpec(f"{spec_path}: 'parent' must be a task reference id@version, got {parent!r}")
    condition = spec.get("condition")
    if not isinstance(condition, dict) or not isinstance(condition.get("name"), str) or not condition["name"]:
        raise InvalidTaskSpec(f"{spec_path}: a shift set needs a 'condition' object with a 'name'")
    if "sweeps" in spec:  # a sweep set: new specimens, each frame naming its sweep (evaluator.sweeps.task)
        bad = [c.id for c in cases if c.split != "test" or not isinstance(c.meta.get("sweep"), str)]
        if bad:
            raise InvalidTaskSpec(f"{spec_path}: a sweep set holds test cases only, each with meta.sweep naming its "
                                  f"sweep; not so: {', '.join(bad[:5])}")
        return {"parent": parent, "condition": dict(condition), "sweeps": dict(spec["sweeps"])}
    bad = [c.id for c in cases if c.split != "test" or not isinstance(c.meta.get("source_case"), str)]
    if bad:
        raise InvalidTaskSpec(f"{spec_path}: a shift set holds test cases only, each with meta.source_case naming "
                              f"the parent's case it re-images; not so: {', '.join(bad[:5])}")
    return {"parent": parent, "condition": dict(condition)}


def _tolerance(spec: dict, spec_path: Path, key: str) -> float | None:
    """task.json's `key` ("nsd_tolerance", "surface_tolerance"): absent/null, or a finite number > 0."""
    value = spec.get(key)
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not 0 < value < float("inf"):
        raise InvalidTaskSpec(f"{spec_path}: '{key}' must be a positive number (mm with a spacing, "
                              f"else pixels), got {value!r}")
    return float(value)


def _version_folders(task_dir: Path) -> Iterator[tuple[int, Path]]:
    for child in task_dir.iterdir():
        if child.is_dir() and child.name.startswith("v") and child.name[1:].isdigit():
            if (child / "task.json").is_file():
                yield int(child.name[1:]), child


def discover() -> dict[str, dict[int, Path]]:
    """task id -> {version: folder}; earlier search-path entries shadow later ones."""
    found: dict[str, dict[int, Path]] = {}
    for root in task_search_path():
        if not root.is_dir():
            continue
        for task_dir in sorted(root.iterdir()):
            if not task_dir.is_dir() or task_dir.name.startswith((".", "_")):
                continue
            for version, folder in _version_folders(task_dir):
                found.setdefault(task_dir.name, {}).setdefault(version, folder)
    return found


def parse_ref(ref: str) -> tuple[str, int | None]:
    if "@" in ref:
        name, _, ver = ref.partition("@")
        try:
            return name, int(ver.lstrip("v"))
        except ValueError:
            raise TaskNotFound(f"Bad task reference '{ref}': use TASK or TASK@VERSION, e.g. sim-breast-lesion@1") from None
    return ref, None


def get_task(ref: str) -> Task:
    """Load a task by `id` (latest version) or `id@version`; `id~corruption-sN` is the
    corruption variant of a task (evaluator.corruptions)."""
    name, version = parse_ref(ref)
    if "~" in name:
        from .corruptions import parse_variant, variant_task

        parent_id, corruption, severity = parse_variant(name)
        parent = get_task(parent_id if version is None else f"{parent_id}@{version}")
        return variant_task(parent, corruption, severity)
    found = discover()
    if name not in found:
        from .private import versions as private_versions  # a private split: by exact name only

        found = {**found, name: private_versions(name)} if private_versions(name) else found
    if name not in found:
        valid = ", ".join(sorted(found)) or "(none: run `sonobench simulate` or `sonobench datasets import`)"
        raise TaskNotFound(f"Unknown task '{name}'. Valid choices: {valid}.{did_you_mean(name, found)}")
    versions = found[name]
    if version is None:
        version = max(versions)
    if version not in versions:
        raise TaskNotFound(f"Task '{name}' has no version {version}. Versions: {', '.join(map(str, sorted(versions)))}")
    return load_task_folder(versions[version])


def summaries() -> tuple[list[dict], list[str]]:
    """Summary dicts of every task version on the search path, and the problems met
    reading them: one broken task folder must not hide the others."""
    rows, problems = [], []
    for name, versions in sorted(discover().items()):
        for version, folder in sorted(versions.items()):
            try:
                rows.append(load_task_folder(folder).summary())
            except Exception as e:
                problems.append(f"{name}@{version}: {e}")
    return rows, problems


def children_of(task: Task) -> list[Task]:
    """The test-only children of `task` (tasks whose `parent` is its id@version: acquisition-shift
    sets and sweep sets), by id. A shift set whose source cases are not all in the parent's test split is refused loudly."""
    out = []
    for name, versions in sorted(discover().items()):
        for _, folder in sorted(versions.items()):
            spec_parent = _peek_parent(folder)
            if spec_parent != task.ref:
                continue
            child = load_task_folder(folder)
            if child.sweeps:  # a sweep set images specimens of its own (none of the parent's cases)
                out.append(child)
                continue
            test_ids = {c.id for c in task.split("test")}
            missing = sorted({c.meta["source_case"] for c in child.cases} - test_ids)
            if missing:
                raise InvalidTaskSpec(f"shift set {child.ref} re-images cases that are not test cases of "
                                      f"{task.ref}: {', '.join(missing[:5])}")
            out.append(child)
    return out


def list_tasks() -> list[Task]:
    """Every version of every discoverable task (unreadable ones are skipped by `tasks` CLI with a warning)."""
    return [load_task_folder(folder) for _, vs in sorted(discover().items()) for _, folder in sorted(vs.items())]


def _peek_parent(folder: Path) -> str | None:
    try:
        return json.loads((folder / "task.json").read_text()).get("parent")
    except (OSError, json.JSONDecodeError, AttributeError):
        return None  # an unreadable folder is reported by `sonobench tasks`, not here


def verify_task(task: Task, splits: Iterable[str] = SPLITS, labels_root=None, images=True, labels=True) -> None:
    """Check every file of the given splits against the manifest; raise ManifestMismatch naming the cases."""
    task.require_data()
    problems: list[tuple[str, str]] = []
    for case in task.cases:
        if case.split not in splits:
            continue
        checks = []
        if images:
            checks.append(("image", task.image_path(case), case.image_sha256))
        if labels:
            checks.append(("label", task.label_path(case, labels_root), case.label_sha256))
        region_file = task.scan_region.file_of(case, task.data_root) if task.scan_region and images else None
        if region_file:
            checks.append(("scan region", *region_file))
        for kind, path, expected in checks:
            if not path.is_file():
                problems.append((case.id, f"{kind} missing at {path}"))
            elif sha256_file(path) != expected:
                problems.append((case.id, f"{kind} {path.name} differs from the manifest (SHA-256)"))
    if problems:
        shown = "; ".join(f"{cid}: {why}" for cid, why in problems[:20])
        more = f" (and {len(problems) - 20} more)" if len(problems) > 20 else ""
        raise ManifestMismatch(
            f"Task {task.ref}: {len(problems)} file(s) do not match the frozen manifest — {shown}{more}. "
            "Restore the original files (or re-import the dataset) before scoring.",
            cases=[cid for cid, _ in problems],
        )


def write_task(folder: str | os.PathLike, spec: dict, cases: Iterable[dict], data_root: str | os.PathLike | None = None) -> Task:
    """Freeze a task: hash every file, write task.json + manifest.json, return the loaded Task.

    `cases`: dicts with id, split, image, label (paths relative to data_root) and optional meta.
    Refuses to overwrite an existing, different manifest (a changed split is a new version).
    """
    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    spec = dict(spec)
    if data_root is not None:
        spec["data_root"] = str(data_root)
    root = Path(spec.get("data_root", "."))
    root = root if root.is_absolute() else folder / root
    frozen = []
    for c in cases:
        if c["split"] not in SPLITS:
            raise InvalidTaskSpec(f"case {c['id']}: unknown split '{c['split']}'")
        frozen.append(Case(
            id=str(c["id"]), split=c["split"], image=str(c["image"]), label=str(c["label"]),
            image_sha256=sha256_file(root / c["image"]), label_sha256=sha256_file(root / c["label"]),
            meta=dict(c.get("meta") or {}),
        ))
    frozen.sort(key=lambda c: c.id)
    digest = manifest_digest(spec["id"], int(spec["version"]), frozen)
    man_path = folder / "manifest.json"
    if man_path.exists():
        old = json.loads(man_path.read_text())
        if old.get("digest") != digest:
            raise ManifestMismatch(
                f"{man_path} already freezes a different split of {spec['id']}@{spec['version']}. "
                "Create a new version instead of editing a frozen one."
            )
    (folder / "task.json").write_text(json.dumps(spec, indent=2) + "\n")
    man = {"format": MANIFEST_FORMAT, "task_id": spec["id"], "version": int(spec["version"]),
           "digest": digest, "cases": [c.to_json() for c in frozen]}
    man_path.write_text(json.dumps(man, indent=1) + "\n")
    return load_task_folder(folder)


def family_tasks(family: str) -> list[Task]:
    """The latest version of every discoverable task whose task.json declares `family`,
    sorted by id; raises TaskNotFound naming the families there are."""
    latest = {}
    for task in list_tasks():
        if task.family is not None and (task.id not in latest or task.version > latest[task.id].version):
            latest[task.id] = task
    members = sorted((t for t in latest.values() if t.family == family), key=lambda t: t.id)
    if not members:
        known = sorted({t.family for t in latest.values()})
        raise TaskNotFound(f"No task declares family '{family}'. Families: {', '.join(known) or '(none)'}."
                           f"{did_you_mean(family, known)}")
    return members
