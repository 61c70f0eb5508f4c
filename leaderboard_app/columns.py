"""What each leaderboard number is, and which way is better.

Quality metrics take their direction from `evaluator.metrics.METRICS` (the
metric's own metadata); cost columns are declared here as data. Pages never
decide "lower is better" themselves.
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd

QUALITY = ("dice", "iou", "hd95")


@dataclass(frozen=True)
class Cost:
    label: str
    unit: str
    help: str
    higher_is_better: bool = False


COSTS = {
    "gflops": Cost("GFLOPs", "", "Forward-pass compute at batch 1 and the task's input size; one multiply-add = one FLOP."),
    "params": Cost("Params", "", "Number of weights (PyTorch parameters; ONNX weight initialisers); k = thousand, "
                             "M = million."),
    "latency_ms": Cost("Latency", "ms", "Median CPU time per image inside the sandbox, on the hardware recorded with the result."),
}

QUALITY_HELP = {
    "dice": "Dice overlap with the ground truth, 0–1, averaged over cases (macro over foreground classes).",
    "iou": "Intersection over union (Jaccard), 0–1, averaged over cases.",
    "hd95": "95th-percentile Hausdorff distance between predicted and true borders: how far the worst 5% of "
            "the border is off.",
}
QUALITY_LABEL = {"dice": "Dice", "iou": "IoU", "hd95": "HD95"}


def higher_is_better(name: str) -> bool:
    """Direction of a quality metric (from its metadata) or of a cost column."""
    if name in COSTS:
        return COSTS[name].higher_is_better
    from evaluator.metrics import METRICS

    return bool(METRICS.get(name).higher_is_better)


def arrow(name: str) -> str:
    return "↑" if higher_is_better(name) else "↓"


def direction_words(name: str) -> str:
    return "higher is better" if higher_is_better(name) else "lower is better"


def header(name: str, unit: str = "") -> str:
    """Column header with the direction arrow, e.g. 'Dice ↑' or 'HD95 (mm) ↓'."""
    label = QUALITY_LABEL.get(name) or COSTS[name].label
    unit = unit or (COSTS[name].unit if name in COSTS else "")
    return f"{label}{f' ({unit})' if unit else ''} {arrow(name)}"


def fmt_count(value) -> str:
    """25 -> '25', 31_042 -> '31.0 k', 7_800_000 -> '7.80 M'; None -> 'n/a'."""
    if value is None or value != value:
        return "n/a"
    if value < 1e3:
        return f"{value:.0f}"
    return f"{value / 1e3:.1f} k" if value < 1e6 else f"{value / 1e6:.2f} M"


def rank_labels(ranks: pd.Series) -> pd.Series:
    """'1', '=2', '=2', '4': a leading '=' marks a rank shared because the 95% CIs overlap."""
    counts = ranks.map(ranks.value_counts())
    return np.where(counts > 1, "=" + ranks.astype(str), ranks.astype(str))


def mean_ci(df: pd.DataFrame, metric: str, digits: int) -> pd.Series:
    """'0.812 [0.801–0.823]' per row; 'n/a' where the metric is missing."""
    mean, lo, hi = (df[f"{metric}_{k}"] for k in ("mean", "ci_low", "ci_high"))
    text = (mean.map(f"{{:.{digits}f}}".format) + " [" + lo.map(f"{{:.{digits}f}}".format)
            + "–" + hi.map(f"{{:.{digits}f}}".format) + "]")
    return text.where(mean.notna(), "n/a")


def display_table(ranked: pd.DataFrame) -> tuple[pd.DataFrame, dict[str, str]]:
    """The human table (text for mean [CI], numbers for costs) and the help text per header."""
    unit = _hd95_unit(ranked)
    out = pd.DataFrame({
        "Rank": rank_labels(ranked["rank"]),
        "Model": ranked["name"],
        "Type": np.where(ranked["kind"] == "baseline", "BASELINE", "submission"),
        "Team": ranked["team"].fillna(""),
        header("dice"): mean_ci(ranked, "dice", 3),
        header("iou"): mean_ci(ranked, "iou", 3),
        header("hd95", unit): mean_ci(ranked, "hd95", 2),
        header("gflops"): ranked["gflops"],
        header("params"): ranked["params"],
        header("latency_ms"): ranked["latency_ms"],
        "Date": ranked["created_at"].fillna("").str[:10],
        "ID": ranked["submission_id"],
    })
    helps = {
        "Rank": "Position by the ranking metric. '=' marks a shared rank: the 95% confidence intervals overlap, "
                "so the difference is not significant.",
        "Type": "BASELINE = a reference model trained and submitted by SonoBench itself (rerunnable with "
                "`sonobench baselines`); submission = uploaded by a participant.",
        header("dice"): f"{QUALITY_HELP['dice']} Mean [95% bootstrap CI]; {direction_words('dice')}.",
        header("iou"): f"{QUALITY_HELP['iou']} Mean [95% bootstrap CI]; {direction_words('iou')}.",
        header("hd95", unit): f"{QUALITY_HELP['hd95']} In {unit}. Mean [95% bootstrap CI]; {direction_words('hd95')}.",
        header("gflops"): f"{COSTS['gflops'].help} {direction_words('gflops').capitalize()}.",
        header("params"): f"{COSTS['params'].help} {direction_words('params').capitalize()}.",
        header("latency_ms"): f"{COSTS['latency_ms'].help} {direction_words('latency_ms').capitalize()}.",
        "Date": "When the result was scored (UTC).",
        "ID": "Submission number; open it on the Submission page.",
    }
    return out, helps


def csv_table(ranked: pd.DataFrame) -> pd.DataFrame:
    """Machine-readable export: numbers stay numbers, CI ends get their own columns."""
    cols = ["rank", "submission_id", "name", "team", "kind"]
    for m in QUALITY:
        cols += [f"{m}_mean", f"{m}_ci_low", f"{m}_ci_high", f"{m}_std"]
    cols += ["hd95_unit", "gflops", "params", "latency_ms", "peak_memory_mb", "split", "n_cases",
             "manifest_digest", "created_at"]
    return ranked[[c for c in cols if c in ranked.columns]]


def _hd95_unit(df: pd.DataFrame) -> str:
    units = df["hd95_unit"].dropna().unique() if "hd95_unit" in df else []
    return str(units[0]) if len(units) == 1 else "px"
