"""What each leaderboard number is, and which way is better.

Quality metrics take their direction from `sonobench.evaluator.metrics.METRICS` (the
metric's own metadata); cost columns are declared here as data. Pages never
decide "lower is better" themselves.
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd

from sonobench.evaluator import board_columns
from sonobench.evaluator.metrics import (
    METRICS,
    PIXELS,
    detection_metrics,
    per_case_metrics,
    summary_columns,
    tolerance_columns,
)
from sonobench.evaluator.predictions import FORMAT as PREDICTIONS_FORMAT

# Everything below is driven by the metric registry: a metric registered there gets its column.
QUALITY = per_case_metrics()      # dice, iou, hd95, nsd, assd, surface metrics: mean over cases [95% CI]
DETECTION = detection_metrics()   # image-level sensitivity, specificity: rate [Wilson 95% CI] (n images)
MISSING = "missing"               # a metric added after the row was scored (re-scoring fills it in)


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

class _Labels(dict):
    def __missing__(self, name):  # the registry's label ("Dice", "HD95")
        return METRICS.get(name).title


QUALITY_LABEL = _Labels()


class _Helps(dict):
    def __missing__(self, name):
        return METRICS.get(name).description


# The registry's own descriptions (they state each empty-mask policy, and that HD95 is medpy's
# pooled definition, not MONAI's).
QUALITY_HELP = _Helps()


def is_distance(name: str) -> bool:
    """hd95, assd, the mean distances: in pixels, or mm on a task with a spacing (the row's `hd95_unit`)."""
    return name in METRICS and METRICS.get(name).unit == PIXELS


def ndigits(name: str) -> int:
    return 2 if is_distance(name) else 3


def higher_is_better(name: str) -> bool:
    """Direction of a quality metric (from its metadata) or of a cost column."""
    if name in COSTS:
        return COSTS[name].higher_is_better
    from sonobench.evaluator.metrics import METRICS

    return bool(METRICS.get(name).higher_is_better)


def arrow(name: str) -> str:
    return "↑" if higher_is_better(name) else "↓"


def direction_words(name: str) -> str:
    return "higher is better" if higher_is_better(name) else "lower is better"


def header(name: str, unit: str = "") -> str:
    """Column header with the direction arrow, e.g. 'Dice ↑' or 'HD95 (mm) ↓'."""
    label = QUALITY_LABEL[name] if name not in COSTS else COSTS[name].label
    unit = unit or (COSTS[name].unit if name in COSTS else "")
    return f"{label}{f' ({unit})' if unit else ''} {arrow(name)}"


def metric_header(name: str, distance_unit: str = "px") -> str:
    """`header` with the distance unit on the distance metrics."""
    return header(name, distance_unit if is_distance(name) else "")


def fmt_count(value) -> str:
    """25 -> '25', 31_042 -> '31.0 k', 7_800_000 -> '7.80 M'; None -> 'n/a'."""
    if value is None or value != value:
        return "n/a"
    if value < 1e3:
        return f"{value:.0f}"
    return f"{value / 1e3:.1f} k" if value < 1e6 else f"{value / 1e6:.2f} M"


def rank_labels(ranks: pd.Series) -> pd.Series:
    """'1', '=2', '=2', '4': a leading '=' marks a rank held by more than one row."""
    counts = ranks.map(ranks.value_counts())
    return np.where(counts > 1, "=" + ranks.astype(str), ranks.astype(str))


def _missing(value) -> bool:
    return value is None or value != value


def mean_ci(df: pd.DataFrame, metric: str, digits: int) -> pd.Series:
    """'0.812 [0.801–0.823]' per row; 'missing' where the row was scored before the metric existed."""
    if f"{metric}_mean" not in df:
        return pd.Series(MISSING, index=df.index)
    # astype(float): a column that is NULL on every row comes back as None objects
    mean, lo, hi = (df[f"{metric}_{k}"].astype(float) for k in ("mean", "ci_low", "ci_high"))
    f = f"{{:.{digits}f}}".format
    text = mean.map(f) + " [" + lo.map(f) + "–" + hi.map(f) + "]"
    return text.where(mean.notna(), MISSING)


def rate_ci(value, low, high, n) -> str:
    """'0.950 [0.835–0.986] (n = 40)'; 'n/a (no such images)' when undefined; 'missing' when the
    row was scored before detection rates existed (its n is NULL)."""
    if _missing(n):
        return MISSING
    if _missing(value):
        return "n/a (no such images)"
    ci = "" if _missing(low) else f" [{low:.3f}–{high:.3f}]"
    return f"{value:.3f}{ci} (n = {int(n)})"


def rates(df: pd.DataFrame, metric: str) -> pd.Series:
    if f"{metric}_n" not in df:
        return pd.Series(MISSING, index=df.index)
    cols = [df[c].astype(object) for c in (metric, f"{metric}_ci_low", f"{metric}_ci_high", f"{metric}_n")]
    return pd.Series([rate_ci(*v) for v in zip(*cols)], index=df.index, dtype=object)


def _range(lo, hi) -> str:
    if _missing(lo) or _missing(hi):
        return ""
    return f"{int(lo)}" if lo == hi else f"{int(lo)}–{int(hi)}"


def rank_range(df: pd.DataFrame) -> pd.Series:
    """'1–3' (95% bootstrap rank interval) for the tested rows, '' for the rest."""
    if "rank_low" not in df:
        return pd.Series("", index=df.index)
    return pd.Series([_range(lo, hi) for lo, hi in zip(df["rank_low"], df["rank_high"])], index=df.index)


def p_rank1(df: pd.DataFrame) -> pd.Series:
    if "p_rank1" not in df:
        return pd.Series("", index=df.index)
    return df["p_rank1"].map(lambda v: "" if _missing(v) else f"{v:.0%}")


def tolerance_words(df: pd.DataFrame, metric: str) -> str:
    """The tolerance `metric` was scored at on these rows (the registry names its column, e.g.
    nsd_tolerance, surface_tolerance), in the rows' distance unit; '' for a metric without one."""
    col = METRICS.get(metric).tolerance
    if not col:
        return ""
    unit = _hd95_unit(df)
    tol = df[col].dropna().unique() if col in df else []
    if len(tol) == 1:
        return f"Tolerance τ = {tol[0]:g} {unit} on this task."
    if len(tol) > 1:
        return "Tolerances differ between rows: " + ", ".join(f"{t:g}" for t in sorted(tol)) + f" {unit}."
    return "Tolerance: the task's declared τ (mm with a pixel spacing, else pixels), else 2 pixels."


RANK_HELP = {
    "paired": "1 + the number of models significantly better on the same test cases (one-sided Wilcoxon "
              "signed-rank per pair, Holm-corrected over each model's tests against the models with a better "
              "mean, so a worse model never moves it). '=' marks a rank held by several rows: the same number "
              "of models beat each of them, which does not mean they tie with each other. Floors and "
              "baselines are always tested; other rows below the top N are not, and rank by their means.",
    "ci-overlap": "1 + the number of rows whose whole 95% bootstrap interval lies strictly better than this "
                  "row's interval (unpaired). '=' marks a rank held by several rows; rows whose intervals "
                  "overlap can still get different ranks.",
    "mean": "1 + the number of rows with a strictly better mean. '=' marks rows with equal means.",
}


def type_labels(ranked: pd.DataFrame) -> np.ndarray:
    """FLOOR, BASELINE (with '≤ FLOOR' when not significantly above the best floor) or submission;
    ' (predictions)' after a row scored from prediction files instead of a model."""
    marked = ranked["not_above_floor"].notna().to_numpy() if "not_above_floor" in ranked else np.zeros(len(ranked), bool)
    kind = ranked["kind"].to_numpy()
    labels = np.where(kind == "floor", "FLOOR", np.where(kind == "baseline", np.where(marked, "BASELINE ≤ FLOOR",
                                                                                      "BASELINE"), "submission"))
    if "format" not in ranked:
        return labels
    masks = (ranked["format"].to_numpy() == PREDICTIONS_FORMAT) & (kind == "submission")  # a participant's masks
    return np.where(masks, np.char.add(labels.astype(str), " (predictions)"), labels)


def rows_frame(rows: list[dict]) -> pd.DataFrame:
    """Ranked rows as a frame with a column for every registered metric's summary (empty where
    no row has it: a stored row leaves out the metrics its task version never had)."""
    frame = pd.DataFrame(rows)
    missing = [c for c in (*summary_columns(), *tolerance_columns()) if c not in frame.columns]
    return frame.reindex(columns=[*frame.columns, *missing]) if missing else frame


def board_metrics(ranked: pd.DataFrame, spec: dict | None, primary: str | None = None) -> list[str]:
    """The metrics this board shows: what the task declares (primary first), less those no row has.
    One summary row (each metric's first value, if any) stands in for the board's rows: a board
    of 10,000 results is not turned into 10,000 dicts to find out which columns have values."""
    summary = {}
    for column in ranked.columns:
        if column.endswith("_mean") or column in DETECTION:
            values = ranked[column].dropna()
            summary[column] = values.iloc[0] if len(values) else None
    return board_columns.shown_metrics(spec, [summary], primary)


def _default_metrics(ranked: pd.DataFrame) -> list[str]:
    """The default board for rows whose task spec is not at hand: ranked by their primary metric."""
    primary = ranked["primary_metric"].iloc[0] if "primary_metric" in ranked and len(ranked) else None
    return board_metrics(ranked, {"primary_metric": primary})


def display_table(ranked: pd.DataFrame, scheme: str = "paired",
                  metrics: list[str] | None = None) -> tuple[pd.DataFrame, dict[str, str]]:
    """The human table (text for mean [CI], numbers for costs) and the help text per header,
    with a column per metric of `metrics` (the task's board: `board_metrics`; default: the
    default board), in that order."""
    metrics = _default_metrics(ranked) if metrics is None else metrics
    unit = _hd95_unit(ranked)
    out = {
        "Rank": rank_labels(ranked["rank"]),
        "Rank range": rank_range(ranked),
        "P(rank 1)": p_rank1(ranked),
        "Model": ranked["name"],
        "Type": type_labels(ranked),
        "Team": ranked["team"].fillna(""),
    }
    helps = {
        "Rank": f"Rank ({scheme}): {RANK_HELP.get(scheme, '')}",
        "Rank range": "95% interval of this model's rank over 1,000 bootstrap resamples of the test cases "
                      "(reranked each time by the same scheme); blank for rows outside the tested top N.",
        "P(rank 1)": "Share of the bootstrap resamples in which this model is ranked 1.",
        "Type": "BASELINE = a reference model trained and submitted by SonoBench itself (rerunnable with "
                "`sonobench baselines`); BASELINE ≤ FLOOR = a reference not significantly better than the task's "
                "best floor (one-sided paired Wilcoxon); FLOOR = a no-skill floor, an input-independent model "
                "built from the train split; submission = uploaded by a participant; (predictions) = scored from "
                "uploaded per-case masks, not a model: params, GFLOPs and latency n/a.",
    }
    for m in metrics:
        if m in DETECTION:
            h = header(m)
            out[h] = rates(ranked, m)
            helps[h] = (f"{QUALITY_HELP[m]} Rate [Wilson 95% CI] (n = images it is a rate over); "
                        f"{direction_words(m)}. '{MISSING}': scored before this metric existed.")
            continue
        h = metric_header(m, unit)
        out[h] = mean_ci(ranked, m, ndigits(m))
        extra = f" In {unit}." if is_distance(m) else ""
        extra += f" {tolerance_words(ranked, m)}" if METRICS.get(m).tolerance else ""
        helps[h] = (f"{QUALITY_HELP[m]}{extra} Mean over cases [95% bootstrap CI]; {direction_words(m)}. "
                    f"'{MISSING}': scored before this metric existed.")
    for c in COSTS:
        out[header(c)] = ranked[c]
        helps[header(c)] = f"{COSTS[c].help} {direction_words(c).capitalize()}."
    out["Date"] = ranked["created_at"].fillna("").str[:10]
    out["ID"] = ranked["submission_id"]
    helps["Date"] = "When the result was scored (UTC)."
    helps["ID"] = "Submission number; open it on the Submission page."
    return pd.DataFrame(out), helps


def csv_table(ranked: pd.DataFrame, metrics: list[str] | None = None) -> pd.DataFrame:
    """Machine-readable export of the board showing `metrics` (default: the default board):
    numbers stay numbers, CI ends get their own columns (the CLI's `--format csv` writes the same)."""
    metrics = _default_metrics(ranked) if metrics is None else metrics
    cols = [*board_columns.csv_fields(metrics)]
    cols[cols.index("kind") + 1:cols.index("kind") + 1] = ["rank_median", "rank_tested"]
    return ranked[[c for c in cols if c in ranked.columns]]


def _hd95_unit(df: pd.DataFrame) -> str:
    units = df["hd95_unit"].dropna().unique() if "hd95_unit" in df else []
    return str(units[0]) if len(units) == 1 else "px"
