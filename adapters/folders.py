"""Datasets stored as image/label folders with a published split:

* UltraBones100k — `cadaverNN_<id>/recordNN/UltrasoundImages/<t>.png` with
  `Labels/<t>_label.png`; split by specimen as the authors do (train on
  1,3,4,5,6,9,10,11,12,13,14, test on 2,7,8).
* US30K-style folders (TN3K, DDTI, UDIAT, MMOTU2D as PhyUS-Net/SAMUS ship
  them) — `<Dataset>/img/<id>.png` with `label/<id>.png`, and split files
  `<Dataset>/MainPatient/{train,val,test}.txt` or
  `MainPatient/{train,val,test}-<Dataset>.txt` next to the dataset folder
  (lines `[class/][Dataset/]<id>`).
"""
from __future__ import annotations

import os
import re
from pathlib import Path

from .base import (
    IMAGE_EXTS,
    SPLIT_NAMES,
    Adapter,
    Scan,
    SourceCase,
    find_dir,
    image_files,
    locate,
    pair_files,
    rel,
    slug,
)
from .errors import LayoutError
from .masks import binary_label, file_reader

# ---- UltraBones100k ------------------------------------------------------------------------

TRAIN_SPECIMENS = (1, 3, 4, 5, 6, 9, 10, 11, 12, 13, 14)
TEST_SPECIMENS = (2, 7, 8)
SPECIMEN = re.compile(r"^cadaver(\d+)", re.IGNORECASE)


def _specimens(root: Path) -> list[tuple[int, Path]]:
    found = []
    for d in sorted(root.iterdir()) if root.is_dir() else []:
        m = SPECIMEN.match(d.name)
        if d.is_dir() and m:
            found.append((int(m[1]), d))
    return found


def scan_ultrabones(root: Path) -> Scan:
    root = locate(root, "UltraBones100k", lambda p: bool(_specimens(p)),
                  "specimen folders cadaverNN_<id>/ (AI_Ultrasound_dataset)")
    problems, cases, files = [], [], []
    specimens = _specimens(root)
    present = {n for n, _ in specimens}
    problems += [f"specimen {n} ({'test' if n in TEST_SPECIMENS else 'train'}) is missing: expected a folder "
                 f"cadaver{n:02d}_<id>/" for n in sorted(set(TRAIN_SPECIMENS + TEST_SPECIMENS) - present)]
    for n, folder in specimens:
        split = "test" if n in TEST_SPECIMENS else "train" if n in TRAIN_SPECIMENS else None
        if split is None:
            problems.append(f"{folder.name}/: specimen {n} is in neither the published training specimens "
                            f"{list(TRAIN_SPECIMENS)} nor the test specimens {list(TEST_SPECIMENS)}")
            continue
        records = [r for r in sorted(folder.iterdir()) if r.is_dir() and r.name.lower().startswith("record")]
        if not records:
            problems.append(f"{folder.name}/: no recordNN/ folders")
        for rec in records:
            images, labels = find_dir(rec, "UltrasoundImages"), find_dir(rec, "Labels")
            if not (images and labels):
                problems.append(f"{rel(rec, root)}/: expected sub-folders UltrasoundImages/ and Labels/")
                continue
            for img, lab in pair_files(root, images, labels, problems, lambda s: s + "_label"):
                cases.append(SourceCase(key=rel(img, root), case_id=slug(f"s{n:02d}_{rec.name}_{img.stem}"),
                                        image=rel(img, root), masks=(rel(lab, root),), group=f"specimen {n}",
                                        split=split, meta={"specimen": n, "record": rec.name}))
                files += [rel(img, root), rel(lab, root)]
    if problems:
        raise LayoutError("UltraBones100k", root, problems)
    return Scan(cases, files, "published specimen split: train on specimens 1,3,4,5,6,9,10,11,12,13,14, "
                              "test on 2,7,8", root=root)


ULTRABONES = Adapter(
    name="ultrabones100k", family="bone", title="UltraBones100k: bone surface segmentation (Wu et al. 2025)",
    description="Lower-limb ultrasound of 14 cadaver specimens with automatically labelled bone surfaces.",
    layout="AI_Ultrasound_dataset/cadaverNN_<id>/recordNN/UltrasoundImages/<timestamp>.png with "
           "Labels/<timestamp>_label.png",
    split_rule="by specimen as published: train 1,3,4,5,6,9,10,11,12,13,14, test 2,7,8; val = whole training "
               "specimens picked by a fixed-seed fold (meta 'fold')",
    classes=("background", "bone"), scan=scan_ultrabones, read=file_reader(binary_label),
    source={"citation": "Wu L. et al., Computers in Biology and Medicine 194 (2025) 110435"},
)

# ---- US30K-style img/ + label/ folders -------------------------------------------------------


def _split_files(ds: Path) -> dict[str, Path]:
    own, shared = ds / "MainPatient", ds.parent / "MainPatient"
    found = {s: own / f"{s}.txt" for s in SPLIT_NAMES if (own / f"{s}.txt").is_file()}
    return found or {s: shared / f"{s}-{ds.name}.txt" for s in SPLIT_NAMES
                     if (shared / f"{s}-{ds.name}.txt").is_file()}


def _listed_ids(path: Path) -> list[str]:
    ids = []
    for line in path.read_text(encoding="utf-8-sig").splitlines():
        name = line.strip().replace("\\", "/").rsplit("/", 1)[-1]
        if name:
            ids.append(name[: -len(Path(name).suffix)] if Path(name).suffix.lower() in IMAGE_EXTS else name)
    return ids


def _published(ds: Path, stems: set[str], problems: list[str]) -> tuple[dict[str, str], list[Path]]:
    lists = _split_files(ds)
    if lists and "test" not in lists:
        problems.append(f"split files {', '.join(p.name for p in lists.values())} found but no test list")
    where: dict[str, str] = {}
    for split, path in lists.items():
        shown = os.path.relpath(path, ds)
        for i in _listed_ids(path):
            if i in where:
                problems.append(f"{shown}: '{i}' is already listed in the {where[i]} split")
            elif i not in stems:
                problems.append(f"{shown}: lists '{i}' but img/{i}.png is missing")
            where[i] = split
    if lists:
        problems += [f"img/{s}: in no split list ({', '.join(p.name for p in lists.values())})"
                     for s in sorted(stems - set(where))]
    return where, list(lists.values())


def scan_us30k(root: Path, dataset: str, folders: tuple[str, ...]) -> Scan:
    def is_dataset(p: Path) -> bool:
        return bool(find_dir(p, "img") and find_dir(p, "label"))

    root = Path(root)
    named = find_dir(root, *folders)
    ds = root if is_dataset(root) or not named else named
    ds = locate(ds, dataset, is_dataset, f"folders img/ and label/ (US30K layout, e.g. {folders[0]}/img)")
    problems: list[str] = []
    pairs = pair_files(ds, find_dir(ds, "img"), find_dir(ds, "label"), problems)
    where, lists = _published(ds, {i.stem for i in image_files(find_dir(ds, "img"))}, problems)
    if problems:
        raise LayoutError(dataset, ds, problems)
    cases = [SourceCase(key=rel(i, ds), case_id=slug(i.stem), image=rel(i, ds), masks=(rel(m, ds),),
                        split=where.get(i.stem)) for i, m in pairs]
    files = [os.path.relpath(p, ds) for p in lists] + [f for i, m in pairs for f in (rel(i, ds), rel(m, ds))]
    used = f"published split files {', '.join(os.path.relpath(p, ds) for p in lists)}" if lists else ""
    return Scan(cases, files, used, root=ds)


def us30k_adapter(name: str, dataset: str, folders: tuple[str, ...], organ: str, target: str, source: dict) -> Adapter:
    def scan(root: Path) -> Scan:
        return scan_us30k(root, dataset, folders)

    return Adapter(
        name=name, title=f"{dataset}: {organ} {target} segmentation (US30K layout)",
        description=f"{dataset} {organ} ultrasound with binary {target} masks, organised as in SAMUS' US30K and "
                    "PhyUS-Net's benchmark_datasets.",
        layout=f"{folders[0]}/img/<id>.png with {folders[0]}/label/<id>.png; split files "
               f"{folders[0]}/MainPatient/{{train,val,test}}.txt or MainPatient/{{train,val,test}}-{folders[0]}.txt "
               "if present",
        split_rule="the split files of the copy when present (val carved from train by a fixed-seed fold when "
                   "there is no val list); otherwise a held-out test (20%) stratified by lesion present/absent, "
                   "fixed seed, K-fold assignments of the rest (val = fold 0)",
        classes=("background", target), scan=scan, read=file_reader(binary_label), source=source,
    )


TN3K = us30k_adapter("tn3k", "TN3K", ("ThyroidNodule-TN3K", "TN3K"), "thyroid", "nodule",
                     {"citation": "Gong H. et al., Computers in Biology and Medicine 155 (2023) 106389",
                      "url": "https://github.com/haifangong/TRFE-Net-for-thyroid-nodule-segmentation"})
DDTI = us30k_adapter("ddti", "DDTI", ("ThyroidNodule-DDTI", "DDTI"), "thyroid", "nodule",
                     {"citation": "Pedraza L. et al., SPIE 9287 (2015)",
                      "url": "https://github.com/haifangong/TRFE-Net-for-thyroid-nodule-segmentation"})
UDIAT = us30k_adapter("udiat", "UDIAT", ("Breast-UDIAT", "UDIAT"), "breast", "lesion",
                      {"citation": "Yap M.H. et al., IEEE JBHI 22 (2018) 1218-1226",
                       "url": "https://www2.docm.mmu.ac.uk/STAFF/m.yap/dataset.php"})
MMOTU2D = us30k_adapter("mmotu2d", "MMOTU2D", ("MMOTU2D", "Ovarian-MMOTU2D", "MMOTU"), "ovarian", "tumor",
                        {"citation": "Zhao Q. et al., MMOTU (2022), arXiv:2207.06799",
                         "url": "https://github.com/cv516Buaa/MMOTU_DS2Net"})

ADAPTERS = (ULTRABONES, TN3K, DDTI, UDIAT, MMOTU2D)
