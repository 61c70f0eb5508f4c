"""Strata: each of a task's declared metrics broken down by what is known about every case, so
a researcher sees where a model fails (small, deep or iso-echoic lesions, high noise, ...).

A simulated task knows every case's physics. Two sources give a case its strata:
- the label: the size (equivalent diameter of the class's pixels) and depth (row of their
  centroid) of a named class, in mm, binned by edges declared per task family in `FAMILY_STRATA`;
- the manifest's case meta, read generically: the fields declared in `META_STRATA` (noise level,
  echogenicity, contrast, CNR, shift condition) with their bins where numeric, and any other
  categorical field with 2 to `MAX_GROUPS` values (a numeric one is cut at its tertiles).
  A field no case has is simply absent: new task versions that add one get its stratum.

Per group: the per-case metrics (the mean over the foreground classes present in the case, as
every aggregate) with a 95% bootstrap CI from `metrics.aggregate` (resampling whole clusters
where the task declares them), over the cases the metric applies to; on a task with one
foreground class also the image-level detection rates (Wilson intervals).
"""
from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Iterable

import numpy as np

from sonobench.kernel.errors import SonoBenchError

from .metrics import METRICS, detection_metrics, per_case_metrics
from .metrics.aggregate import aggregate
from .metrics.detection import detection_rates

MAX_GROUPS = 8
N_BOOT = 1000
# meta fields that name a case or its cluster, never a physical property
NOT_PHYSICS = {"source_case", "specimen", "phantom", "seed", "image_formation", "id"}
PRESENCE_FIELDS = {"has_lesion", "normal"}  # whether a case has a lesion: the label says so already
ORDER = {"low": 0, "medium": 1, "high": 2}  # noise levels and the like read in their natural order


class StrataUnavailable(SonoBenchError):
    """The strata of a result cannot be computed (private cases, or the task not on this machine)."""


@dataclass(frozen=True)
class Stratum:
    """One way of splitting the cases. `fields`: meta fields read (the first a case has);
    `derive` ("size" | "depth"): a property of class `cls` computed from the label instead;
    `edges`: bin edges for a numeric value (none: the values are the groups); `names`: one word
    per bin ("small", ...), shown before the range."""

    key: str
    title: str
    fields: tuple[str, ...] = ()
    derive: str | None = None
    cls: str | None = None
    edges: tuple[float, ...] = ()
    unit: str = ""
    names: tuple[str, ...] = ()

    def bin(self, value) -> str:
        if not self.edges or isinstance(value, (str, bool)):
            return str(value)
        return self.bin_label(int(np.searchsorted(self.edges, float(value), side="right")))

    def bin_label(self, i: int) -> str:
        """The name of bin i (0 = below the first edge): 'small (< 8 mm)', '8–12 mm', ..."""
        lo, hi = (self.edges[i - 1] if i else None), (self.edges[i] if i < len(self.edges) else None)
        span = f"< {_g(hi)}" if lo is None else f"≥ {_g(lo)}" if hi is None else f"{_g(lo)}–{_g(hi)}"
        span += f" {self.unit}" if self.unit else ""
        return f"{self.names[i]} ({span})" if self.names else span

    def order(self, group: str) -> tuple:
        """Sort key: 'no <class>' first, then bins in order, then categories (low < medium < high)."""
        bins = [self.bin_label(i) for i in range(len(self.edges) + 1)] if self.edges else []
        if group.startswith("no "):
            return (0, 0, group)
        return (1, bins.index(group) if group in bins else ORDER.get(group.lower(), 50), group)

    def to_json(self) -> dict:
        return {"key": self.key, "title": self.title, "unit": self.unit or None,
                "source": f"label ({self.derive} of '{self.cls}')" if self.derive else f"case meta ({', '.join(self.fields)})",
                "edges": list(self.edges) or None}


def _g(x: float) -> str:
    return f"{x:g}"


def _size(cls: str, edges: tuple[float, float]) -> Stratum:
    return Stratum(f"{cls}_size", f"{cls.capitalize()} size (equivalent diameter)", derive="size", cls=cls,
                   edges=edges, unit="mm", names=("small", "medium", "large"))


def _depth(cls: str, edges: tuple[float, float]) -> Stratum:
    return Stratum(f"{cls}_depth", f"{cls.capitalize()} depth (centroid)", derive="depth", cls=cls,
                   edges=edges, unit="mm", names=("shallow", "middle", "deep"))


# The one declared place: per task family (task.json "family"), the label-derived strata and their
# bins, chosen near the tertiles of the committed test splits (breast v2: lesion diameters 5-17 mm,
# depths 10-26 mm; neck v1: nodules 3-8 mm at 11-18 mm; bone v1: surfaces at 12-27 mm).
FAMILY_STRATA: dict[str, tuple[Stratum, ...]] = {
    "breast": (_size("lesion", (8.0, 12.0)), _depth("lesion", (14.0, 18.0))),
    "neck": (_size("nodule", (5.0, 7.0)), _depth("nodule", (14.0, 16.0))),
    "bone": (_depth("bone", (16.0, 22.0)),),
}
# Case-meta strata every family reads when its cases have the field (first listed field wins).
META_STRATA: tuple[Stratum, ...] = (
    Stratum("echogenicity", "Echogenicity", fields=("echogenicity",)),
    Stratum("contrast", "Contrast to the surrounding tissue", fields=("contrast_db",), edges=(-6.0, -2.0, 2.0),
            unit="dB", names=("strongly hypoechoic", "hypoechoic", "near iso-echoic", "hyperechoic")),
    Stratum("cnr", "Contrast-to-noise ratio", fields=("cnr", "lesion_cnr"), edges=(1.0, 2.0),
            names=("low", "medium", "high")),
    Stratum("noise_level", "Noise level", fields=("noise_level",)),
    Stratum("condition", "Shift condition", fields=("condition", "shift_condition")),
)


def _family(task) -> str | None:
    if task.family or not task.parent:
        return task.family
    from .tasks import get_task

    try:  # a shift set is its parent's family
        return get_task(task.parent).family
    except SonoBenchError:
        return None


def _discovered(cases, taken: set[str], skip: set[str]) -> list[Stratum]:
    """Strata for the other meta fields: categorical with 2..MAX_GROUPS values, or numeric
    (many values) cut at the tertiles of these cases."""
    out = []
    keys = sorted({k for c in cases for k in (c.meta or {})} - taken - skip - NOT_PHYSICS)
    for k in keys:
        values = [c.meta[k] for c in cases if c.meta.get(k) is not None]
        if not values or any(isinstance(v, (dict, list)) for v in values):
            continue
        distinct = set(map(str, values))
        numeric = all(isinstance(v, (int, float)) and not isinstance(v, bool) for v in values)
        if numeric and len(distinct) > MAX_GROUPS:
            edges = tuple(float(round(e, 3)) for e in np.percentile(np.asarray(values, float), [100 / 3, 200 / 3]))
            if edges[0] < edges[1]:
                out.append(Stratum(k, k.replace("_", " ").capitalize() + " (tertiles)", fields=(k,), edges=edges))
        elif 2 <= len(distinct) <= MAX_GROUPS:
            out.append(Stratum(k, k.replace("_", " ").capitalize(), fields=(k,)))
    return out


def strata_for(task, cases) -> list[Stratum]:
    """The strata of `task` on `cases`: its family's label-derived ones (for a class it has and with a
    pixel spacing, as their bins are in mm), the declared meta ones its cases have, then the rest."""
    declared = [s for s in FAMILY_STRATA.get(_family(task) or "", ())
                if s.cls in task.classes and task.spacing_mm]
    have = {k for c in cases for k in (c.meta or {})}
    meta = [s for s in META_STRATA if have & set(s.fields)]
    skip = {task.clusters.key} if task.clusters else set()
    if declared:  # 'no <class>' of a label-derived stratum already is the lesion-free group
        skip |= PRESENCE_FIELDS
    taken = {f for s in META_STRATA for f in s.fields}
    return [*declared, *meta, *_discovered(cases, taken, skip)]


def label_properties(task, cases, classes: Iterable[str], labels_root=None) -> dict[str, dict]:
    """{case id: {"<cls>_size": mm, "<cls>_depth": mm or None}} from each case's label (None: the
    class is absent). Raises StrataUnavailable when a label cannot be read."""
    from sonobench.kernel.imageio import load_label

    sy, sx = task.spacing_mm
    index = {name: i for i, name in enumerate(task.classes)}
    out = {}
    for case in cases:
        try:
            label = load_label(task.label_path(case, labels_root))
        except OSError as e:
            raise StrataUnavailable(f"the label of {case.id} cannot be read ({type(e).__name__}); the size and depth "
                                    "strata need the split's labels (pass --labels-root for a private split)") from None
        props = {}
        for cls in classes:
            mask = label == index[cls]
            n = int(mask.sum())
            props[f"{cls}_size"] = 2.0 * math.sqrt(n * sy * sx / math.pi) if n else None
            props[f"{cls}_depth"] = float(np.nonzero(mask)[0].mean() * sy) if n else None
        out[case.id] = props
    return out


def assign(strata: list[Stratum], cases, props: dict[str, dict]) -> dict[str, dict[str, str]]:
    """{stratum key: {case id: group}}; a case without the value is in no group (a case without
    the class is in the group 'no <class>')."""
    out = {}
    for s in strata:
        groups = {}
        for c in cases:
            if s.derive:
                v = props.get(c.id, {}).get(f"{s.cls}_{s.derive}")
                groups[c.id] = f"no {s.cls}" if v is None else s.bin(v)
            else:
                v = next((c.meta[f] for f in s.fields if (c.meta or {}).get(f) is not None), None)
                if v is not None:
                    groups[c.id] = s.bin(v)
        out[s.key] = groups
    return out


def _group_metrics(rows: list[dict], metrics: list[str], clusters: dict | None, binary: bool, n_boot: int) -> dict:
    out = {}
    for m in metrics:
        if m in per_case_metrics():
            kept = [r for r in rows if r.get("applicable") and r.get(m) is not None]
            if not kept:
                out[m] = {"mean": None, "ci_low": None, "ci_high": None, "n": 0}
                continue
            labels = [clusters[r["case_id"]] for r in kept] if clusters else None
            agg = aggregate([float(r[m]) for r in kept], n_boot=n_boot, clusters=labels)
            out[m] = {k: agg[k] for k in ("mean", "ci_low", "ci_high", "n")}
        elif m in detection_metrics() and binary:
            counts = [{k: int(r.get(k) or 0) for k in ("tp", "fp", "fn")} for r in rows]
            out[m] = detection_rates(counts)[m]
    return out


def _with_labels(task, cases, strata: list[Stratum], labels_root) -> tuple[list[Stratum], dict, list[dict]]:
    """(strata, label properties, skipped): the label-derived strata are left out, and said so,
    when the labels cannot be read here (an archived task version, a private split's labels)."""
    derived = sorted({s.cls for s in strata if s.derive})
    if not derived:
        return strata, {}, []
    try:
        task.require_data()
        return strata, label_properties(task, cases, derived, labels_root), []
    except SonoBenchError as e:
        keys = [s.key for s in strata if s.derive]
        return [s for s in strata if not s.derive], {}, [{"strata": keys, "why": str(e)}]


def breakdown(task, case_rows: list[dict], metrics: Iterable[str], *, split: str = "test", labels_root=None,
              n_boot: int = N_BOOT) -> dict:
    """Every stratum of `task`, each group with its case count and `metrics` (those the task declares)
    over its cases. `case_rows`: one row per scored case (`store.queries.case_means`: case_id, each
    per-case metric, applicable, tp, fp, fn)."""
    by_id = {r["case_id"]: r for r in case_rows}
    cases = [c for c in task.split(split) if c.id in by_id]
    strata = strata_for(task, cases)
    strata, props, skipped = _with_labels(task, cases, strata, labels_root)
    groups = assign(strata, cases, props)
    metrics = [m for m in metrics if m in METRICS]
    clusters = task.case_clusters()
    binary = len(task.foreground) == 1
    out = []
    for s in strata:
        members: dict[str, list[dict]] = {}
        for cid, g in groups[s.key].items():
            members.setdefault(g, []).append(by_id[cid])
        if len(members) < 2 and not s.derive:
            continue  # one group: nothing to compare
        ordered = sorted(members, key=s.order)
        out.append({**s.to_json(), "groups": [
            {"group": g, "n_cases": len(members[g]),
             "metrics": _group_metrics(members[g], metrics, clusters, binary, n_boot)} for g in ordered]})
    return {"task": task.ref, "split": split, "n_cases": len(cases), "metrics": metrics, "skipped": skipped,
            "clustered_by": task.clusters.key if task.clusters else None,
            "definition": "per group: mean over the cases a metric applies to, 95% percentile-bootstrap CI "
                          f"({n_boot} resamples{', whole clusters' if task.clusters else ''}); detection rates "
                          "with Wilson 95% intervals", "strata": out}


def submission_strata(store, submission_id: int, *, labels_root=None, n_boot: int = N_BOOT) -> dict:
    """`breakdown` of one stored result, over the metrics its task declares. Raises
    StrataUnavailable for a result whose per-case rows are private or whose task is not here."""
    from . import tasks as tasks_mod
    from .metrics.defaults import DEFAULT_TASK_METRICS
    from .store import queries

    res = store.result_for(submission_id)
    if res is None:
        raise StrataUnavailable(f"submission #{submission_id} has no result; see `sonobench leaderboard TASK` "
                                "for the scored ones")
    if res.get("private_cases"):
        raise StrataUnavailable(f"submission #{submission_id} was scored on a hidden test split: its per-case "
                                "results, and so its strata, are shown to the operator only")
    try:
        task = tasks_mod.get_task(f"{res['task_id']}@{res['task_version']}")
    except SonoBenchError as e:
        raise StrataUnavailable(f"the strata need the task's case metadata and labels: {e}") from None
    rows = queries.case_means(store, submission_id)
    metrics = list(task.metrics or DEFAULT_TASK_METRICS)
    out = breakdown(task, rows, metrics, split=res["split"], labels_root=labels_root, n_boot=n_boot)
    shifted = _condition_stratum(store, task, submission_id, rows, out["metrics"], n_boot)
    if shifted:
        out["strata"].append(shifted)
    return {"submission_id": submission_id, **out}


def _condition_stratum(store, task, submission_id: int, rows: list[dict], metrics: list[str], n_boot: int) -> dict | None:
    """The acquisition condition: the submission's scores on the task's shift sets it was scored on
    (each re-images test phantoms under a named condition), after the same phantoms as acquired.
    Groups are compared unpaired here; `leaderboard --view robustness` gives the paired drops."""
    from . import tasks as tasks_mod
    from .store import queries

    groups, sources = [], set()
    for f in queries.follow_up_results(store, submission_id):
        try:
            child = tasks_mod.get_task(f"{f['task_id']}@{f['task_version']}")
        except SonoBenchError:
            continue  # a shift set not on this machine
        if child.parent != task.ref or not child.condition.get("name"):
            continue
        child_rows = queries.case_means(store, f["submission_id"])
        groups.append((child.condition["name"], child_rows, child.case_clusters()))
        sources |= {c.meta.get("source_case", c.id) for c in child.cases}
    if not groups:
        return None
    base = [r for r in rows if r["case_id"] in sources]
    groups.insert(0, ("as acquired (the same phantoms)", base, task.case_clusters()))
    binary = len(task.foreground) == 1
    return {"key": "shift_condition", "title": "Acquisition condition (shift sets)", "unit": None,
            "source": "submission's results on the task's acquisition-shift sets", "edges": None,
            "groups": [{"group": name, "n_cases": len(g), "metrics": _group_metrics(g, metrics, clusters, binary, n_boot)}
                       for name, g, clusters in groups]}
