"""Miniature replicas of every supported dataset layout: a few small generated
images with the datasets' exact folder and file naming.

Every image is a distinct random low-frequency texture (so perceptual hashes of
different images are far apart); `near_copy` makes a near duplicate of one.
"""
from __future__ import annotations

import csv
from pathlib import Path

import numpy as np
from PIL import Image

SIZES = ((48, 40), (40, 48), (44, 44), (32, 56))       # (H, W): native sizes vary, as in real datasets


def texture(seed: int, shape: tuple[int, int]) -> np.ndarray:
    rng = np.random.default_rng(seed)
    low = Image.fromarray((rng.random((6, 6)) * 255).astype(np.uint8)).resize(shape[::-1], Image.BICUBIC)
    noisy = np.asarray(low, np.float64) * 0.8 + rng.normal(0, 6, shape) + 20
    return noisy.clip(0, 255).astype(np.uint8)


def near_copy(image: np.ndarray, seed: int = 1) -> np.ndarray:
    """A near duplicate: re-encoded with a little noise and a small burnt-in caliper mark."""
    out = image.astype(np.int16) + np.random.default_rng(seed).integers(-1, 2, image.shape)
    out[1:2, 1:4] = 255
    return out.clip(0, 255).astype(np.uint8)


def disk(seed: int, shape: tuple[int, int], value: int = 255) -> np.ndarray:
    rng = np.random.default_rng(seed + 10_000)
    h, w = shape
    yy, xx = np.mgrid[0:h, 0:w]
    cy, cx, r = rng.uniform(0.35, 0.65) * h, rng.uniform(0.35, 0.65) * w, rng.uniform(0.12, 0.25) * min(h, w)
    return np.where((yy - cy) ** 2 + (xx - cx) ** 2 <= r * r, value, 0).astype(np.uint8)


def save(path: Path, array: np.ndarray) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    Image.fromarray(array).save(path)
    return path


def write_csv(path: Path, header: list[str], rows: list[list], delimiter: str = ",") -> None:
    with open(path, "w", newline="", encoding="utf-8") as f:
        w = csv.writer(f, delimiter=delimiter, lineterminator="\n")
        w.writerow(header)
        w.writerows(rows)


class Seeds:
    """Hands out fresh image seeds, so no two replica images share a texture."""

    def __init__(self, start: int):
        self.n = start

    def __call__(self) -> int:
        self.n += 1
        return self.n


# ---- breast ----------------------------------------------------------------------------------

def make_busi(root: Path, counts=(("benign", 6), ("malignant", 5), ("normal", 4))) -> Path:
    base, seed = root / "Dataset_BUSI_with_GT", Seeds(100)
    for cls, n in counts:
        for i in range(1, n + 1):
            s, shape = seed(), SIZES[i % len(SIZES)]
            save(base / cls / f"{cls} ({i}).png", np.stack([texture(s, shape)] * 3, axis=2))   # BUSI ships RGB
            save(base / cls / f"{cls} ({i})_mask.png", disk(s, shape) if cls != "normal" else np.zeros(shape, np.uint8))
    # a multifocal benign case: its second lesion lives in _mask_1.png
    shape = SIZES[1 % len(SIZES)]
    save(base / "benign" / "benign (1)_mask_1.png", disk(999, shape))
    return base


def make_busbra(root: Path, folds: bool = True) -> Path:
    base, seed = root / "BUSBRA", Seeds(200)
    info, parts = [], []
    for p in range(1, 11):                                   # 10 patients, patients 1-4 with two images
        for side in ("l", "r")[: 2 if p <= 4 else 1]:
            cid, s, shape = f"bus_{p:04d}-{side}", seed(), SIZES[p % len(SIZES)]
            path = "malignant" if p % 3 == 0 else "benign"
            save(base / "Images" / f"{cid}.png", texture(s, shape))
            save(base / "Masks" / f"mask_{p:04d}-{side}.png", disk(s, shape))
            info.append([cid, p, "histology", path, 3, "device", shape[1], shape[0], side, "[1,1,5,5]"])
            parts.append([cid, path, (p - 1) % 5 + 1])
    write_csv(base / "bus_data.csv", ["ID", "Case", "Histology", "Pathology", "BIRADS", "Device", "Width", "Height",
                                      "Side", "BBOX"], info)
    if folds:
        write_csv(base / "5-fold-cv.csv", ["ID", "Pathology", "kFold"], parts)
    return base


def make_bus_uc(root: Path) -> Path:
    base, seed = root / "BUS_UC", Seeds(300)
    for cls, n in (("Benign", 6), ("Malignant", 5)):
        for i in range(1, n + 1):
            s, shape = seed(), SIZES[i % len(SIZES)]
            save(base / cls / "images" / f"{i:03d}.png", texture(s, shape))
            save(base / cls / "masks" / f"{i:03d}.png", disk(s, shape))
    return base


def uclm_mask(seed: int, shape, kind: str) -> np.ndarray:
    rgb = np.zeros((*shape, 3), np.uint8)
    if kind != "normal":
        rgb[..., 1 if kind == "benign" else 0] = disk(seed, shape)
    return rgb


def make_bus_uclm(root: Path, info: bool = True) -> Path:
    base, seed = root / "BUS-UCLM", Seeds(400)
    rows = []
    for patient, kinds in (("ALWI", "bbn"), ("ANAT", "mmn"), ("ANFO", "nn"), ("CHCO", "bb"), ("DAPA", "mn"),
                           ("KIFO", "bn")):
        for k, code in enumerate(kinds):
            kind = {"b": "benign", "m": "malignant", "n": "normal"}[code]
            name, s, shape = f"{patient}_{k:03d}.png", seed(), SIZES[k % len(SIZES)]
            save(base / "images" / name, np.stack([texture(s, shape)] * 3, axis=2))
            save(base / "masks" / name, uclm_mask(s, shape, kind))
            rows.append([name, kind.capitalize(), "No", "No"])
    if info:
        write_csv(base / "INFO.csv", ["Image", "Label", "Doppler", "Marks"], rows, delimiter=";")
    return base


def make_yap2018(root: Path) -> Path:
    base, seed = root / "DatasetB", Seeds(500)
    for i in range(1, 13):
        s, shape = seed(), SIZES[i % len(SIZES)]
        save(base / "original" / f"{i:06d}.png", texture(s, shape))
        save(base / "GT" / f"{i:06d}.png", disk(s, shape))
    return base


# ---- AbdomenUS (MedSegBench npz) -------------------------------------------------------------

def make_abdomenus(root: Path, counts=(("train", 8), ("val", 3), ("test", 4))) -> Path:
    root.mkdir(parents=True, exist_ok=True)
    arrays, seed = {}, Seeds(600)
    for split, n in counts:
        imgs, labs = [], []
        for _ in range(n):
            s = seed()
            imgs.append(texture(s, (32, 32)))
            lab = np.zeros((32, 32), np.uint8)
            lab[4:12, 4:28] = 1 + s % 8          # liver..spleen, one organ band per image
            lab[20:28, 8:16] = 2
            labs.append(lab)
        arrays[f"{split}_images"], arrays[f"{split}_label"] = np.stack(imgs), np.stack(labs)
    path = root / "abdomenus_256.npz"
    np.savez(path, **arrays)
    return path


# ---- UltraBones100k --------------------------------------------------------------------------

def make_ultrabones(root: Path, specimens=range(1, 15)) -> Path:
    base, seed = root / "AI_Ultrasound_dataset", Seeds(700)
    for n in specimens:
        spec = base / f"cadaver{n:02d}_F23{n:04d}"
        spec.mkdir(parents=True, exist_ok=True)
        (spec / "CT_bone_model.stl").write_text("solid bone\nendsolid bone\n")
        for r in (1, 2) if n in (2, 5) else (1,):
            rec = spec / f"record{r:02d}"
            for t in range(2):
                ts, s, shape = f"{1690000000 + 10 * n + t}{r}", seed(), (40, 48)
                save(rec / "UltrasoundImages" / f"{ts}.png", texture(s, shape))
                save(rec / "Labels" / f"{ts}_label.png", disk(s, shape))
            (rec / "tracking.csv").write_text("timestamp,x,x_optimized\n")
    return base


# ---- US30K-style folders ---------------------------------------------------------------------

def make_us30k(root: Path, folder: str, *, lists: str = "shared", n_train: int = 8, n_test: int = 4,
               n_val: int = 0, seed0: int = 800) -> Path:
    """`lists`: "shared" (US30K/MainPatient/<split>-<folder>.txt), "own" (<folder>/MainPatient/<split>.txt)
    or "none"."""
    us30k, seed = root / "US30K", Seeds(seed0)
    ds = us30k / folder
    names = {"train": [f"trainval{i:04d}" for i in range(1, n_train + 1)],
             "val": [f"val{i:04d}" for i in range(1, n_val + 1)],
             "test": [f"test{i:04d}" for i in range(1, n_test + 1)]}
    for split, ids in names.items():
        for i, name in enumerate(ids):
            s, shape = seed(), SIZES[i % len(SIZES)]
            save(ds / "img" / f"{name}.png", texture(s, shape))
            save(ds / "label" / f"{name}.png", disk(s, shape, value=1 if i % 2 else 255))
    for split, ids in names.items():
        if not ids or lists == "none":
            continue
        if lists == "shared":
            line = (lambda x: f"1/{folder}/{x}") if split != "test" else (lambda x: f"{folder}/{x}")
            path = us30k / "MainPatient" / f"{split}-{folder}.txt"
        else:
            line, path = (lambda x: x), ds / "MainPatient" / f"{split}.txt"
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text("".join(line(x) + "\n" for x in ids))
    return ds


REPLICAS = {
    "busi": make_busi,
    "busbra": make_busbra,
    "bus-uc": make_bus_uc,
    "bus-uclm": make_bus_uclm,
    "yap2018": make_yap2018,
    "abdomenus": make_abdomenus,
    "ultrabones100k": make_ultrabones,
    "tn3k": lambda root: make_us30k(root, "ThyroidNodule-TN3K", lists="shared"),
    "ddti": lambda root: make_us30k(root, "ThyroidNodule-DDTI", lists="own", n_val=2, seed0=850),
    "udiat": lambda root: make_us30k(root, "Breast-UDIAT", lists="none", n_train=10, seed0=900),
    "mmotu2d": lambda root: make_us30k(root, "MMOTU2D", lists="shared", n_val=3, seed0=950),
}
