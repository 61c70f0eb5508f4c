"""AbdomenUS as released by MedSegBench: one `abdomenus_<size>.npz` holding
`train_images`, `train_label`, `val_images`, `val_label`, `test_images`,
`test_label` (N x H x W uint8; labels are class indices 0..8). The published
train/val/test split is kept as is.
"""
from __future__ import annotations

import zipfile
from functools import lru_cache
from pathlib import Path

import numpy as np
from PIL import Image

from .base import SPLIT_NAMES, Adapter, Loaded, Scan, SourceCase, SourceProblem
from .errors import LayoutError
from .masks import check_indices

ABDOMEN_CLASSES = ("background", "liver", "kidney", "pancreas", "vessels", "adrenals", "gallbladder", "bones",
                   "spleen")


def _find_npz(root: Path) -> Path:
    if root.is_file():
        return root
    found = sorted(root.glob("abdomenus_*.npz")) if root.is_dir() else []
    preferred = [p for p in found if p.name == "abdomenus_256.npz"]
    if preferred or len(found) == 1:
        return (preferred or found)[0]
    problem = (f"{root} holds several abdomenus_*.npz files ({', '.join(p.name for p in found)}): point at one"
               if found else f"expected abdomenus_256.npz (MedSegBench release) in {root}")
    raise LayoutError("AbdomenUS", root, [problem])


@lru_cache(maxsize=2)
def _arrays(path: str, stamp: tuple) -> dict[str, np.ndarray]:
    with np.load(path, allow_pickle=False) as z:
        return {k: z[k] for k in z.files}


def load_npz(path: Path) -> dict[str, np.ndarray]:
    st = path.stat()
    try:
        return _arrays(str(path), (st.st_size, st.st_mtime_ns))
    except (OSError, ValueError, zipfile.BadZipFile, EOFError) as e:
        raise LayoutError("AbdomenUS", path, [f"{path.name}: cannot be read as a NumPy .npz archive ({e})"]) from None


def scan_abdomenus(root: Path) -> Scan:
    npz = _find_npz(Path(root))
    arrays = load_npz(npz)
    problems = []
    for split in SPLIT_NAMES:
        imgs, labs = arrays.get(f"{split}_images"), arrays.get(f"{split}_label")
        if imgs is None or labs is None:
            missing = [k for k in (f"{split}_images", f"{split}_label") if k not in arrays]
            problems.append(f"{npz.name}: lacks array(s) {', '.join(missing)} (has {', '.join(sorted(arrays))})")
        elif len(imgs) != len(labs):
            problems.append(f"{npz.name}: {split}_images has {len(imgs)} entries but {split}_label has {len(labs)}")
    if problems:
        raise LayoutError("AbdomenUS", npz, problems)
    cases = [SourceCase(key=f"{npz.name}:{split}_images[{i}]", case_id=f"{split}_{i:04d}", split=split,
                        locator=(npz.name, split, i))
             for split in SPLIT_NAMES for i in range(len(arrays[f"{split}_images"]))]
    return Scan(cases, [npz.name], f"published MedSegBench train/val/test arrays of {npz.name}", root=npz.parent)


def _as_gray(a: np.ndarray) -> np.ndarray:
    if a.ndim == 3 and a.shape[-1] == 1:
        a = a[..., 0]
    if a.ndim == 3 and a.shape[-1] in (3, 4):
        return np.asarray(Image.fromarray(a.astype(np.uint8)[..., :3]).convert("L"))
    if a.ndim != 2:
        raise ValueError(f"has shape {a.shape}, expected H x W (or H x W x 1/3)")
    return a.astype(np.uint8) if a.dtype != np.uint8 else a


def read_abdomenus(root: Path, case: SourceCase) -> Loaded:
    name, split, i = case.locator
    arrays = load_npz(root / name)
    try:
        image = _as_gray(arrays[f"{split}_images"][i])
    except ValueError as e:
        raise SourceProblem(case.key, str(e)) from None
    label = arrays[f"{split}_label"][i]
    label = label[..., 0] if label.ndim == 3 and label.shape[-1] == 1 else label
    if label.shape != image.shape:
        raise SourceProblem(f"{name}:{split}_label[{i}]", f"mask is {label.shape[1]}x{label.shape[0]} px but its "
                                                          f"image {case.key} is {image.shape[1]}x{image.shape[0]} px")
    return Loaded(image, check_indices(label, len(ABDOMEN_CLASSES), f"{name}:{split}_label[{i}]"))


ABDOMENUS = Adapter(
    name="abdomenus", title="AbdomenUS: abdominal organ segmentation (MedSegBench AbdomenUSMSBench)",
    description="Abdominal ultrasound with 8 structures (liver, kidney, pancreas, vessels, adrenals, gallbladder, "
                "bones, spleen), MedSegBench's 256 x 256 release.",
    layout="abdomenus_256.npz (MedSegBench) with arrays train_images, train_label, val_images, val_label, "
           "test_images, test_label",
    split_rule="the published MedSegBench train/val/test arrays, unchanged",
    classes=ABDOMEN_CLASSES, scan=scan_abdomenus, read=read_abdomenus,
    scan_region={"method": "convex-hull", "threshold": 0},  # convex abdominal probe: a fan on black
    source={"citation": "Vitale S. et al., IJCARS 15 (2020); MedSegBench (Aydin & Kus 2024)",
            "url": "https://zenodo.org/records/13358372"},
)
