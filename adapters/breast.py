"""Breast ultrasound datasets: BUSI, BUSBRA, BUS-UC, BUS-UCLM, Yap2018 (Dataset B).

Layouts follow the datasets' own releases (see each adapter's `layout`). All
become binary lesion tasks; the pathology (benign/malignant/normal) is kept as
the stratum the held-out split is balanced on.
"""
from __future__ import annotations

import re
from collections import defaultdict
from pathlib import Path

from .base import Adapter, Scan, SourceCase, find_dir, image_files, locate, pair_files, read_table, rel, slug
from .errors import LayoutError
from .masks import binary_label, file_reader, uclm_label

LESION = ("background", "lesion")
STRATIFIED = ("held-out test ({test:.0%}) stratified by {by}, fixed seed, near-duplicate images kept in one "
              "split; K-fold assignments of the rest (case meta 'fold'), val = fold 0")

# ---- BUSI ----------------------------------------------------------------------------------

BUSI_CLASSES = ("benign", "malignant", "normal")
BUSI_MASK = re.compile(r"^(?P<base>.+)_mask(?:_(?P<n>\d+))?$")


def scan_busi(root: Path) -> Scan:
    root = locate(root, "BUSI", lambda p: any((p / c).is_dir() for c in BUSI_CLASSES),
                  "folders benign/, malignant/ and normal/ (Dataset_BUSI_with_GT)")
    problems, cases, files = [], [], []
    for cls in BUSI_CLASSES:
        folder = root / cls
        if not folder.is_dir():
            problems.append(f"{cls}/: folder is missing")
            continue
        images, masks = {}, defaultdict(list)
        for f in image_files(folder):
            m = BUSI_MASK.match(f.stem)
            if m:
                masks[m["base"]].append((int(m["n"] or 0), m["n"] is not None, rel(f, root)))
            else:
                images[f.stem] = rel(f, root)
        for base, found in sorted(masks.items()):
            if base not in images:
                problems.append(f"{found[0][2]}: mask without an image (expected {cls}/{base}.png)")
        for stem, img in sorted(images.items()):
            found = sorted(masks.get(stem, []))
            if not found or found[0][1]:
                problems.append(f"{img}: no mask (expected {cls}/{stem}_mask.png)")
                continue
            ms = tuple(m for _, _, m in found)
            cases.append(SourceCase(key=img, case_id=slug(stem), image=img, masks=ms, stratum=cls))
            files += [img, *ms]
    if problems:
        raise LayoutError("BUSI", root, problems)
    return Scan(cases, files, root=root)


BUSI = Adapter(
    name="busi", family="breast", title="BUSI: breast lesion segmentation (Al-Dhabyani et al. 2020)",
    description="Breast ultrasound images of 600 women (benign, malignant, normal) with lesion masks; "
                "extra masks of multifocal cases are merged into one.",
    layout="Dataset_BUSI_with_GT/{benign,malignant,normal}/<class> (N).png with <class> (N)_mask.png "
           "(+ optional <class> (N)_mask_1.png, _mask_2.png ... merged)",
    split_rule=STRATIFIED.format(test=0.2, by="folder class (benign/malignant/normal)"),
    classes=LESION, scan=scan_busi, read=file_reader(binary_label),
    source={"citation": "Al-Dhabyani W. et al., Data in Brief 28 (2020) 104863",
            "url": "https://scholar.cu.edu.eg/?q=afahmy/pages/dataset"},
)

# ---- BUSBRA --------------------------------------------------------------------------------

BUSBRA_ID = re.compile(r"^bus_(?P<num>\d+)(?P<rest>.*)$")
BUSBRA_TEST_PARTITION, BUSBRA_VAL_PARTITION = 1, 2


def _busbra_folds(rows, root, problems) -> dict[str, int]:
    folds = {}
    for r in rows or []:
        try:
            folds[r["ID"]] = int(float(r["kFold"]))
        except ValueError:
            problems.append(f"5-fold-cv.csv: row {r['ID']} has kFold '{r['kFold']}', expected 1..5")
    return folds


def scan_busbra(root: Path) -> Scan:
    root = locate(root, "BUSBRA", lambda p: bool(find_dir(p, "Images") and find_dir(p, "Masks")),
                  "folders Images/ (bus_XXXX-s.png) and Masks/ (mask_XXXX-s.png)")
    problems: list[str] = []
    images, masks = find_dir(root, "Images"), find_dir(root, "Masks")
    info = read_table(root / "bus_data.csv", root, ("ID", "Pathology"), problems)
    partitions = read_table(root / "5-fold-cv.csv", root, ("ID", "kFold"), problems)
    meta = {r["ID"]: r for r in info or []}
    folds = _busbra_folds(partitions, root, problems)
    pairs = pair_files(root, images, masks, problems, lambda s: "mask_" + s[4:] if s.startswith("bus_") else s)
    cases, files = [], [rel(p, root) for p in (root / "bus_data.csv", root / "5-fold-cv.csv") if p.is_file()]
    for img, mask in pairs:
        m = BUSBRA_ID.match(img.stem)
        if not m:
            problems.append(f"{rel(img, root)}: unexpected name, BUSBRA images are named bus_XXXX-s.png")
            continue
        row = meta.get(img.stem, {})
        if info is not None and not row:
            problems.append(f"{rel(img, root)}: not listed in bus_data.csv")
        if partitions is not None and img.stem not in folds:
            problems.append(f"{rel(img, root)}: not listed in 5-fold-cv.csv")
        fold = folds.get(img.stem)
        split = None if fold is None else ("test" if fold == BUSBRA_TEST_PARTITION
                                           else "val" if fold == BUSBRA_VAL_PARTITION else "train")
        patient = row.get("Case") or str(int(m["num"]))
        cases.append(SourceCase(key=rel(img, root), case_id=slug(img.stem), image=rel(img, root),
                                masks=(rel(mask, root),), stratum=row.get("Pathology", "").lower(),
                                group=f"patient {patient}", split=split, fold=fold,
                                meta={"patient": patient}))
        files += [rel(img, root), rel(mask, root)]
    listed = set(meta) | set(folds)
    problems += [f"{name}: listed in the metadata but Images/{name}.png is missing"
                 for name in sorted(listed - {p.stem for p in image_files(images)})]
    if problems:
        raise LayoutError("BUSBRA", root, problems)
    used = "published 5-fold-cv.csv partitions (patient-level): test = partition 1, val = partition 2, " \
           "train = partitions 3-5" if partitions is not None else ""
    return Scan(cases, files, used, root=root)


BUSBRA = Adapter(
    name="busbra", family="breast", title="BUS-BRA: breast lesion segmentation (Gomez-Flores et al. 2024)",
    description="1,875 breast ultrasound images of 1,064 patients (biopsy-proven benign/malignant) "
                "with lesion delineations, four scanners.",
    layout="BUSBRA/Images/bus_XXXX-s.png, BUSBRA/Masks/mask_XXXX-s.png, optional bus_data.csv "
           "(ID, Case, Pathology, ...) and 5-fold-cv.csv (ID, kFold)",
    split_rule="the published patient-level partitions of 5-fold-cv.csv (test = 1, val = 2, train = 3-5, "
               "meta 'fold' = partition); without it: " + STRATIFIED.format(test=0.2, by="pathology")
               + ", patients kept whole",
    classes=LESION, scan=scan_busbra, read=file_reader(binary_label),
    source={"citation": "Gomez-Flores W. et al., Medical Physics 51 (2024) 3110-3123",
            "url": "https://zenodo.org/records/8231412"},
)

# ---- BUS-UC --------------------------------------------------------------------------------


def scan_bus_uc(root: Path) -> Scan:
    root = locate(root, "BUS-UC", lambda p: bool(find_dir(p, "Benign") or find_dir(p, "Malignant")
                                                 or find_dir(p, "All")),
                  "folders Benign/ and Malignant/, each with images/ and masks/")
    problems, cases, files = [], [], []
    classes = [(c, find_dir(root, c)) for c in ("Benign", "Malignant")]
    if not any(d for _, d in classes):
        classes = [("", find_dir(root, "All"))]
    for cls, folder in classes:
        images, masks = (find_dir(folder, "images"), find_dir(folder, "masks")) if folder else (None, None)
        if not (images and masks):
            problems.append(f"{cls or 'All'}/: expected sub-folders images/ and masks/")
            continue
        for img, mask in pair_files(root, images, masks, problems):
            cases.append(SourceCase(key=rel(img, root), case_id=slug(f"{cls.lower()}_{img.stem}".strip("_")),
                                    image=rel(img, root), masks=(rel(mask, root),), stratum=cls.lower()))
            files += [rel(img, root), rel(mask, root)]
    if problems:
        raise LayoutError("BUS-UC", root, problems)
    return Scan(cases, files, root=root)


BUS_UC = Adapter(
    name="bus-uc", family="breast", title="BUS-UC: breast lesion segmentation",
    description="Breast ultrasound images (benign/malignant) with lesion masks (Mendeley Data 3ksd7w7jkx).",
    layout="BUS_UC/{Benign,Malignant}/images/<name>.png with masks/<name>.png (or All/images + All/masks)",
    split_rule=STRATIFIED.format(test=0.2, by="folder class (benign/malignant)"),
    classes=LESION, scan=scan_bus_uc, read=file_reader(binary_label),
    source={"url": "https://data.mendeley.com/datasets/3ksd7w7jkx/1"},
)

# ---- BUS-UCLM ------------------------------------------------------------------------------


def scan_bus_uclm(root: Path) -> Scan:
    root = locate(root, "BUS-UCLM", lambda p: bool(find_dir(p, "images") and find_dir(p, "masks")),
                  "folders images/ and masks/ (RGB masks: green = benign, red = malignant)")
    problems: list[str] = []
    info = read_table(root / "INFO.csv", root, ("Image", "Label"), problems)
    labels = {Path(r["Image"]).stem: r["Label"].lower() for r in info or []}
    cases, files = [], [rel(root / "INFO.csv", root)] if info is not None else []
    for img, mask in pair_files(root, find_dir(root, "images"), find_dir(root, "masks"), problems):
        patient = img.stem.split("_")[0]
        cases.append(SourceCase(key=rel(img, root), case_id=slug(img.stem), image=rel(img, root),
                                masks=(rel(mask, root),), stratum=labels.get(img.stem, ""),
                                group=f"patient {patient}", meta={"patient": patient}))
        files += [rel(img, root), rel(mask, root)]
    if problems:
        raise LayoutError("BUS-UCLM", root, problems)
    return Scan(cases, files, root=root)


BUS_UCLM = Adapter(
    name="bus-uclm", family="breast", title="BUS-UCLM: breast lesion segmentation (Vallez et al. 2025)",
    description="683 breast ultrasound images of 38 patients; RGB masks (green benign, red malignant) "
                "become one binary lesion label.",
    layout="BUS-UCLM/images/<PATIENT>_<NNN>.png with masks/<PATIENT>_<NNN>.png (RGB: black background, "
           "green benign, red malignant), optional INFO.csv (Image, Label)",
    split_rule=STRATIFIED.format(test=0.2, by="pathology (INFO.csv, else the mask colour)")
    + ", patients (file-name prefix) kept whole",
    classes=LESION, scan=scan_bus_uclm, read=file_reader(uclm_label),
    source={"citation": "Vallez N. et al., Scientific Data 12 (2025) 242",
            "url": "https://github.com/noeliavallez/BUS-UCLM-Dataset"},
)

# ---- Yap2018 (Dataset B) -------------------------------------------------------------------


def scan_yap2018(root: Path) -> Scan:
    root = locate(root, "Yap2018", lambda p: bool(find_dir(p, "original") and find_dir(p, "GT")),
                  "folders original/ and GT/ (Dataset B)")
    problems: list[str] = []
    pairs = pair_files(root, find_dir(root, "original"), find_dir(root, "GT"), problems)
    if problems:
        raise LayoutError("Yap2018", root, problems)
    cases = [SourceCase(key=rel(i, root), case_id=slug(i.stem), image=rel(i, root), masks=(rel(m, root),))
             for i, m in pairs]
    return Scan(cases, [f for i, m in pairs for f in (rel(i, root), rel(m, root))], root=root)


YAP2018 = Adapter(
    name="yap2018", family="breast", title="Yap2018: breast lesion segmentation (Dataset B, UDIAT)",
    description="163 breast ultrasound images (Siemens ACUSON Sequoia) with lesion masks.",
    layout="DatasetB/original/<NNNNNN>.png with GT/<NNNNNN>.png",
    split_rule=STRATIFIED.format(test=0.2, by="lesion present/absent"),
    classes=LESION, scan=scan_yap2018, read=file_reader(binary_label),
    source={"citation": "Yap M.H. et al., IEEE JBHI 22 (2018) 1218-1226",
            "url": "https://www2.docm.mmu.ac.uk/STAFF/m.yap/dataset.php"},
)

ADAPTERS = (BUSI, BUSBRA, BUS_UC, BUS_UCLM, YAP2018)
