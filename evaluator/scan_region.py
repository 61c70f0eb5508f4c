"""A task's scan-region declaration (task.json ``"scan_region"``) and how each case's
region is found. Two methods, both data:

- ``{"method": "convex-hull", "threshold": 0}``: derived from the case's own image, the
  convex hull of its pixels above the threshold (8-bit grey levels). Nothing is stored:
  the image is pinned by the manifest, so the region is too. Use it for exported
  convex-probe frames whose fan sits on a black background.
- ``{"method": "file"}``: each case's manifest ``meta`` names a mask file
  (``"region"``, relative to the task's data root, non-zero = inside) and its
  ``"region_sha256"``; `sonobench tasks verify` checks it like the image and label.

A task without the key is scored on the whole image."""
from __future__ import annotations

import math
from dataclasses import dataclass
from enum import Enum
from pathlib import Path

import numpy as np

from sonobench.kernel.errors import InvalidTaskSpec
from sonobench.kernel.registry import parse_choice


class RegionMethod(str, Enum):
    CONVEX_HULL = "convex-hull"
    FILE = "file"


@dataclass(frozen=True)
class ScanRegion:
    method: RegionMethod
    threshold: float = 0.0  # convex-hull only: grey level (0-255) a pixel must exceed

    @classmethod
    def from_spec(cls, value, where: str) -> "ScanRegion | None":
        """Parse task.json's ``scan_region`` (None when absent); `where` names the file in errors."""
        if value is None:
            return None
        if not isinstance(value, dict) or "method" not in value:
            raise InvalidTaskSpec(f"{where}: 'scan_region' must be an object with a 'method' "
                                  f"({', '.join(m.value for m in RegionMethod)}), got {value!r}")
        unknown = sorted(set(value) - {"method", "threshold"})
        if unknown:
            raise InvalidTaskSpec(f"{where}: 'scan_region' has unknown keys {unknown}; allowed: method, threshold")
        method = parse_choice(RegionMethod, value["method"], f"scan-region method in {where}", InvalidTaskSpec)
        threshold = value.get("threshold", 0.0)
        if method is RegionMethod.FILE and "threshold" in value:
            raise InvalidTaskSpec(f"{where}: 'threshold' applies to the convex-hull method only")
        if isinstance(threshold, bool) or not isinstance(threshold, (int, float)) or not (
                math.isfinite(threshold) and 0 <= threshold < 255):
            raise InvalidTaskSpec(f"{where}: 'scan_region.threshold' must be a grey level in [0, 255), got {threshold!r}")
        return cls(method, float(threshold))

    def to_json(self) -> dict:
        out = {"method": self.method.value}
        if self.method is RegionMethod.CONVEX_HULL:
            out["threshold"] = self.threshold
        return out

    def describe(self) -> str:
        if self.method is RegionMethod.CONVEX_HULL:
            return (f"scored inside each image's scan region: the convex hull of its pixels brighter than "
                    f"{self.threshold:g} (pixels outside count as background in both masks)")
        return "scored inside each case's scan-region mask file (pixels outside count as background in both masks)"

    def file_of(self, case, data_root: Path) -> tuple[Path, str] | None:
        """(path, expected SHA-256) of a case's mask file for the file method, else None."""
        if self.method is not RegionMethod.FILE:
            return None
        meta = case.meta or {}
        if "region" not in meta or "region_sha256" not in meta:
            raise InvalidTaskSpec(f"case {case.id}: the task declares scan-region files but its manifest entry "
                                  "has no 'region' / 'region_sha256' in meta")
        return data_root / meta["region"], meta["region_sha256"]

    def mask_for(self, case, image: np.ndarray, data_root: Path) -> np.ndarray:
        """The boolean region of `case` (whose native grey image is `image`)."""
        from sonobench.kernel import imageio

        from .metrics import convex_hull_region

        if self.method is RegionMethod.CONVEX_HULL:
            return convex_hull_region(image, self.threshold)
        path, _ = self.file_of(case, data_root)
        mask = imageio.load_label(path) > 0
        if mask.shape != image.shape:
            raise InvalidTaskSpec(f"case {case.id}: scan-region mask {path.name} is {mask.shape}, image is {image.shape}")
        return mask
