"""What an adapter is: data (names, classes, the layout it expects, its split
rule) plus two small functions — `scan` (find the cases, check the layout) and
`read` (load one case as an 8-bit image and a class-index label).
"""
from __future__ import annotations

import csv
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable

import numpy as np

from .errors import LayoutError

IMAGE_EXTS = (".png", ".bmp", ".jpg", ".jpeg", ".tif", ".tiff")
SPLIT_NAMES = ("train", "val", "test")


class SourceProblem(Exception):
    """One malformed source file; the importer collects these into a LayoutError."""

    def __init__(self, path: str, reason: str):
        super().__init__(f"{path}: {reason}")
        self.path, self.reason = path, reason


@dataclass(frozen=True)
class SourceCase:
    """One image of the user's copy, before conversion.

    `key` names the case in split lists and reports: the image path relative to
    the dataset root (or `file.npz:array[i]` for array datasets)."""
    key: str
    case_id: str
    image: str = ""                        # relative path of the image file
    masks: tuple[str, ...] = ()            # relative paths of its mask file(s), merged
    stratum: str = ""                      # class to stratify by; "" = from the label (lesion/empty)
    group: str = ""                        # patient/specimen kept in one split; "" = the case alone
    split: str | None = None               # the source's published split, if any
    fold: int | None = None                # the source's published fold, if any
    locator: tuple = ()                    # where array datasets keep the case
    meta: dict = field(default_factory=dict)


@dataclass(frozen=True)
class Scan:
    cases: list[SourceCase]
    files: list[str]                       # every source file the import depends on (hashed for provenance)
    split_source: str = ""                 # the published split used, in words ("" = none)
    root: Path | None = None               # the folder the paths are relative to


@dataclass(frozen=True)
class Loaded:
    image: np.ndarray                      # uint8 H x W
    label: np.ndarray                      # uint8 H x W class indices
    stratum: str | None = None             # class read from the mask itself (e.g. colour-coded masks)


@dataclass(frozen=True)
class Adapter:
    name: str                              # registry key, lower case
    title: str
    description: str
    layout: str                            # the expected layout, shown by `sonobench datasets list`
    split_rule: str                        # how the splits are made, in words
    classes: tuple[str, ...]
    scan: Callable[[Path], Scan]
    read: Callable[[Path, SourceCase], Loaded]
    source: dict = field(default_factory=dict)   # citation / download page
    modality: str = "ultrasound"
    family: str | None = None                    # task.json "family" of the imported task (`sonobench crosseval`)
    # task.json "scan_region" of the imported task (evaluator/scan_region.py): a convex-probe dataset
    # whose fan sits on a black background declares {"method": "convex-hull", "threshold": 0}, so
    # metrics count only inside the fan (UltraBench's convention); None = the whole image.
    scan_region: dict | None = None

    @property
    def short(self) -> str:
        return self.title.split(":")[0]


# ---- helpers shared by the layout modules -------------------------------------------------

def slug(text: str) -> str:
    """A file-system- and URL-safe case id: `benign (12)` -> `benign_12`."""
    s = re.sub(r"[^A-Za-z0-9.-]+", "_", text).strip("_.")
    return s or "case"


def rel(path: Path, root: Path) -> str:
    return path.relative_to(root).as_posix()


def image_files(folder: Path) -> list[Path]:
    """Image files of a folder, sorted by name; hidden files are ignored."""
    return sorted(p for p in folder.iterdir()
                  if p.is_file() and not p.name.startswith(".") and p.suffix.lower() in IMAGE_EXTS)


def find_dir(parent: Path, *names: str) -> Path | None:
    """The first existing sub-folder among `names`, matched case-insensitively."""
    if not parent.is_dir():
        return None
    children = {c.name.lower(): c for c in parent.iterdir() if c.is_dir()}
    for n in names:
        if n.lower() in children:
            return children[n.lower()]
    return None


def locate(root: Path, dataset: str, matches: Callable[[Path], bool], expected: str) -> Path:
    """The dataset root: `root` itself, or its only sub-folder that has the layout
    (users often point at the folder the archive unpacked into)."""
    root = Path(root)
    if not root.exists():
        raise LayoutError(dataset, root, [f"{root} does not exist"], f"Point the import at your {dataset} copy.")
    if root.is_dir() and matches(root):
        return root
    if root.is_dir():
        hits = [c for c in sorted(root.iterdir()) if c.is_dir() and matches(c)]
        if len(hits) == 1:
            return hits[0]
    raise LayoutError(dataset, root, [f"expected {expected}"],
                      f"Point the import at the folder that holds the {dataset} files.")


def stems(files: list[Path]) -> dict[str, Path]:
    return {p.stem: p for p in files}


def pair_files(root: Path, images: Path, masks: Path, problems: list[str],
               mask_stem: Callable[[str], str] = lambda s: s) -> list[tuple[Path, Path]]:
    """Match every image with its mask (`mask_stem(image stem)`); unmatched files become problems."""
    by_stem = stems(image_files(masks))
    pairs, used = [], set()
    for img in image_files(images):
        want = mask_stem(img.stem)
        if want in by_stem:
            pairs.append((img, by_stem[want]))
            used.add(want)
        else:
            problems.append(f"{rel(img, root)}: no mask (expected {rel(masks, root)}/{want}.png)")
    for stem, m in by_stem.items():
        if stem not in used:
            problems.append(f"{rel(m, root)}: mask without an image in {rel(images, root)}/")
    return pairs


def read_table(path: Path, root: Path, required: tuple[str, ...], problems: list[str]) -> list[dict] | None:
    """Rows of a metadata CSV (`,` or `;` separated), or None when the file is absent."""
    if not path.is_file():
        return None
    try:
        text = path.read_text(encoding="utf-8-sig")
    except (OSError, UnicodeDecodeError) as e:
        problems.append(f"{rel(path, root)}: cannot be read ({e})")
        return None
    delimiter = ";" if text.partition("\n")[0].count(";") > text.partition("\n")[0].count(",") else ","
    rows = list(csv.DictReader(text.splitlines(), delimiter=delimiter))
    header = rows[0].keys() if rows else []
    missing = [c for c in required if c not in header]
    if missing:
        problems.append(f"{rel(path, root)}: lacks column(s) {', '.join(missing)}")
        return None
    return [{k: (v or "").strip() for k, v in r.items() if k} for r in rows]
