"""Near-duplicate detection with a perceptual hash, so a test image never has a
near copy in train or val.

The hash is the classic DCT "pHash": the grayscale image shrunk to 32 x 32, its
2-D DCT, the 8 x 8 lowest frequencies compared with their median -> 64 bits.
Re-encoding, small crops of borders, contrast changes and burnt-in calipers move
few bits; different scans differ in about half of them. Two images are near
duplicates when their hashes differ in at most `max_distance` bits.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Iterable, Iterator

import numpy as np
from PIL import Image
from scipy.fft import dct

# Of 64 bits. Bits whose DCT coefficient sits near the median flip under re-encoding or a burnt-in
# caliper, so true copies land at 0-8; unrelated images at ~32 +- 4. (imagededup's pHash default is 10;
# 8 keeps clusters of merely similar scans from chaining together when a split is computed.)
DEFAULT_MAX_DISTANCE = 8
BLOCK = 1 << 22               # hash pairs compared at once (x 8 bytes of memory)


def phash(gray: np.ndarray) -> int:
    small = np.asarray(Image.fromarray(gray).resize((32, 32), Image.LANCZOS), dtype=np.float64)
    low = dct(dct(small, axis=0, norm="ortho"), axis=1, norm="ortho")[:8, :8]
    bits = (low > np.median(low)).ravel()
    return int.from_bytes(np.packbits(bits).tobytes(), "big")


def close_pairs(hashes: list[int], max_distance: int) -> Iterator[tuple[int, int, int]]:
    """(i, j, distance) for every i < j whose hashes differ in at most `max_distance` bits."""
    h = np.array(hashes, dtype=np.uint64)
    step = max(1, BLOCK // max(1, len(h)))
    for start in range(0, len(h), step):
        block = h[start:start + step, None] ^ h[None, start:]
        dist = np.bitwise_count(block)
        hit_rows, hit_cols = np.nonzero(dist <= max_distance)
        for r, c in zip(hit_rows.tolist(), hit_cols.tolist()):
            i, j = start + r, start + c
            if j > i:
                yield i, j, int(dist[r, c])


@dataclass(frozen=True)
class DuplicatePair:
    a: str
    split_a: str
    b: str
    split_b: str
    distance: int

    @property
    def crosses(self) -> bool:
        return self.split_a != self.split_b

    def describe(self) -> str:
        return f"{self.split_a}: {self.a}  ~  {self.split_b}: {self.b}  (Hamming distance {self.distance} of 64)"

    def to_json(self) -> dict:
        return {"a": self.a, "split_a": self.split_a, "b": self.b, "split_b": self.split_b,
                "distance": self.distance}


@dataclass
class Duplicates:
    """All near-duplicate pairs of an import; only the first `keep` of each kind are listed."""
    within: list[DuplicatePair]
    across: list[DuplicatePair]
    n_within: int = 0
    n_across: int = 0

    def to_json(self, limit: int = 100) -> dict:
        return {"within_split_pairs": self.n_within, "cross_split_pairs": self.n_across,
                "cross_split": [p.to_json() for p in self.across[:limit]],
                "within_split": [p.to_json() for p in self.within[:limit]]}


def find_duplicates(keys: list[str], splits: list[str], pairs: Iterable[tuple[int, int, int]],
                    keep: int = 1000) -> Duplicates:
    dup = Duplicates([], [])
    for i, j, d in pairs:
        pair = DuplicatePair(keys[i], splits[i], keys[j], splits[j], d)
        if pair.crosses:
            dup.n_across += 1
            if len(dup.across) < keep:
                dup.across.append(pair)
        else:
            dup.n_within += 1
            if len(dup.within) < keep:
                dup.within.append(pair)
    return dup
