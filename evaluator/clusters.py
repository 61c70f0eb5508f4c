"""Which cases of a task share a phantom or specimen: the task's declared cluster key.

Cases of one cluster are not independent (the same bone imaged ten times, or a shift set's
re-simulation of a parent phantom), so bootstrap intervals and rank stability resample whole
clusters. A task declares its clusters in task.json (a task without the key has one case per
cluster):

    "clusters": {"key": "source_case"}
        each case's cluster is the value of that field of its manifest meta;
    "clusters": {"key": "specimen", "cases": {"<case id>": <cluster>, ...}}
        the clusters listed here, for a frozen manifest whose case meta lacks the field: the
        manifest digest covers every case's meta, so a frozen version cannot gain it there, and
        task.json (outside the digest) says it instead. Every case must be listed.
"""
from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field

from sonobench.kernel.errors import InvalidTaskSpec


@dataclass(frozen=True)
class ClusterKey:
    key: str
    listed: dict = field(default_factory=dict)  # case id -> cluster, when task.json lists them

    def label(self, case) -> str:
        value = self.listed[case.id] if self.listed else case.meta[self.key]
        return str(value)

    def of(self, cases: Iterable) -> dict[str, str]:
        """{case id: cluster} for `cases` (Case objects of the task's manifest)."""
        return {c.id: self.label(c) for c in cases}

    def to_json(self) -> dict:
        return {"key": self.key, **({"cases": dict(self.listed)} if self.listed else {})}


def parse_clusters(value, cases, where: str) -> ClusterKey | None:
    """task.json's "clusters" (absent: None), checked against the manifest's `cases`."""
    if value is None:
        return None
    if not isinstance(value, dict) or not isinstance(value.get("key"), str) or not value["key"]:
        raise InvalidTaskSpec(f"{where}: 'clusters' must be an object with a 'key' naming what cases share, "
                              f"e.g. {{\"key\": \"specimen\"}}, got {value!r}")
    unknown = sorted(set(value) - {"key", "cases"})
    if unknown:
        raise InvalidTaskSpec(f"{where}: 'clusters' has unknown field(s) {unknown}; valid: key, cases")
    listed = value.get("cases") or {}
    if not isinstance(listed, dict):
        raise InvalidTaskSpec(f"{where}: 'clusters.cases' must map case ids to clusters")
    ids = {c.id for c in cases}
    if listed:
        stray = sorted(set(listed) - ids)
        lacking = sorted(ids - set(listed))
    else:
        stray, lacking = [], sorted(c.id for c in cases if c.meta.get(value["key"]) is None)
    if stray:
        raise InvalidTaskSpec(f"{where}: 'clusters.cases' names cases the manifest lacks: {', '.join(stray[:5])}")
    if lacking:
        source = "'clusters.cases'" if listed else f"meta.{value['key']}"
        raise InvalidTaskSpec(f"{where}: {len(lacking)} case(s) have no cluster in {source}: "
                              f"{', '.join(lacking[:5])}; every case needs one")
    return ClusterKey(value["key"], dict(listed))


__all__ = ["ClusterKey", "parse_clusters"]
