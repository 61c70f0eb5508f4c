"""A contact sheet of generated samples with their label outlines (for READMEs and eyes).

    python -m sonobench.simulation.preview DATA_DIR OUT.png [--n 12] [--cols 4]
"""
from __future__ import annotations

import argparse
import json
from pathlib import Path

import numpy as np
from PIL import Image, ImageDraw

OUTLINE = (255, 64, 64)
# class 1 red (as in the single-class sheets), then green, blue, yellow, cyan, magenta
CLASS_COLOURS = (OUTLINE, (64, 255, 64), (80, 140, 255), (255, 230, 0), (0, 230, 230), (255, 0, 255))


def outlined(image: np.ndarray, label: np.ndarray) -> np.ndarray:
    """The B-mode with each class's outline in its own colour (CLASS_COLOURS[class - 1])."""
    rgb = np.repeat(image[..., None], 3, axis=2)
    for c in np.unique(label[label > 0]):
        fg = label == c
        edge = fg & ~(np.roll(fg, 1, 0) & np.roll(fg, -1, 0) & np.roll(fg, 1, 1) & np.roll(fg, -1, 1))
        rgb[edge] = CLASS_COLOURS[(int(c) - 1) % len(CLASS_COLOURS)]
    return rgb


def _caption(meta: dict) -> str:
    ph = meta["phantom"]
    les = ", ".join(f"{l['shape']}/{l['echogenicity']}/{l['posterior']}" for l in ph["lesions"])
    if ph.get("structures"):  # name the structures in view (walls are part of their structure)
        names = sorted({b["name"] for b in ph["structures"]} - {"thyroid", "trachea"})
        return f"{'+'.join(names) or 'no vessels'}; nodule: {les or 'none'}"
    if "specimen" in meta:
        return f"specimen {meta['specimen']}: {les or 'no bone in view'}"
    return les or "normal"


def contact_sheet(data_dir, out_png, n: int = 12, cols: int = 4, ids=None) -> Path:
    data_dir = Path(data_dir)
    metas = sorted((data_dir / "meta").glob("*.json"))
    if ids is None:
        # spread over the dataset, normal cases included
        pick = np.linspace(0, len(metas) - 1, min(n, len(metas))).round().astype(int)
        metas = [metas[i] for i in pick]
    else:
        metas = [data_dir / "meta" / f"{i}.json" for i in ids]
    tiles = []
    for m in metas:
        meta = json.loads(m.read_text())
        img = np.asarray(Image.open(data_dir / meta["image"]))
        lab = np.asarray(Image.open(data_dir / meta["label"]))
        tile = Image.fromarray(np.concatenate([np.repeat(img[..., None], 3, 2), outlined(img, lab)], axis=1))
        ImageDraw.Draw(tile).text((4, 2), f"{meta['sample_id'][-5:]} {meta['noise_level']}: {_caption(meta)}",
                                  fill=(255, 255, 0))
        tiles.append(np.asarray(tile))
    h, w, _ = tiles[0].shape
    rows = -(-len(tiles) // cols)
    sheet = np.zeros((rows * (h + 4), cols * (w + 4), 3), dtype=np.uint8)
    for k, t in enumerate(tiles):
        r, c = divmod(k, cols)
        sheet[r * (h + 4):r * (h + 4) + h, c * (w + 4):c * (w + 4) + w] = t
    Image.fromarray(sheet).save(out_png, optimize=True)
    return Path(out_png)


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("data_dir")
    ap.add_argument("out_png")
    ap.add_argument("--n", type=int, default=12)
    ap.add_argument("--cols", type=int, default=3)
    a = ap.parse_args()
    print(contact_sheet(a.data_dir, a.out_png, a.n, a.cols))


if __name__ == "__main__":
    main()
