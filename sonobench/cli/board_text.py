"""The terminal leaderboard: a table that fits the terminal (120 columns by default).

The default table shows rank, rank range, name, team, the ranking metric with its 95% CI, at
most three other metrics the task declares (means), params and GFLOPs; names and teams are
shortened (…) before a metric column is dropped. `--columns` picks columns by key, `--wide`
shows every column of the task's board (CIs and rates with n; it does not try to fit). The
definitions are printed by `--explain`; the table itself carries a footer of two lines at most.
"""
from __future__ import annotations

import shutil
import textwrap
from dataclasses import dataclass
from typing import Callable

from sonobench.evaluator.metrics import METRICS, MetricKind
from sonobench.evaluator.metrics.defaults import short_label
from sonobench.evaluator.predictions import FORMAT as PREDICTIONS_FORMAT
from sonobench.kernel.errors import UnknownName
from sonobench.kernel.registry import did_you_mean

DEFAULT_WIDTH = 120
MAX_OTHER_METRICS = 3
GAP = "  "
MIN_NAME, MIN_TEAM, NAME_KEEP = 14, 10, 24  # NAME_KEEP: kept before a metric column is dropped


@dataclass
class Column:
    key: str
    header: str
    cell: Callable[[dict], str]
    right: bool = False  # numbers align right


def terminal_width() -> int:
    """The terminal's width ($COLUMNS first, as the shell sets it), else 120 (output piped to a file)."""
    return shutil.get_terminal_size(fallback=(DEFAULT_WIDTH, 24)).columns or DEFAULT_WIDTH


def _missing(v) -> bool:
    return v is None or v != v


def _digits(metric: str) -> int:
    info = METRICS.get(metric)
    return 2 if info.unit else min(info.digits, 3)


def _arrow(metric: str) -> str:
    return "↑" if METRICS.get(metric).higher_is_better else "↓"


def metric_column(metric: str, unit: str, ci: bool, full_label: bool = False) -> Column:
    """A metric's column: 'mean [low,high]' with `ci`, else the mean; rates as '0.83' (with `ci`:
    '0.83 (n=24)'); 'missing' for a row scored before the metric existed, 'n/a' for an undefined rate."""
    info = METRICS.get(metric)
    label = info.title if full_label else short_label(metric)
    header = f"{label}{f' {unit}' if info.unit else ''} {_arrow(metric)}{' [95% CI]' if ci and info.kind is MetricKind.PER_CASE else ''}"
    d = _digits(metric)
    if info.kind is MetricKind.DETECTION:
        def cell(r):
            if _missing(r.get(metric)):
                return "missing" if _missing(r.get(f"{metric}_n")) else "n/a"
            return f"{r[metric]:.2f}" + (f" (n={r[f'{metric}_n']})" if ci else "")
    else:
        def cell(r):
            mean = r.get(f"{metric}_mean")
            if _missing(mean):
                return "missing"
            if not ci:
                return f"{mean:.{d}f}"
            return f"{mean:.{d}f} [{r[f'{metric}_ci_low']:.{d}f},{r[f'{metric}_ci_high']:.{d}f}]"
    return Column(metric, header, cell, right=not ci)


def _count(v) -> str:
    if _missing(v):
        return "n/a"
    return f"{v:.0f}" if v < 1e3 else (f"{v / 1e3:.1f}k" if v < 1e6 else f"{v / 1e6:.2f}M")


def _rank_range(r: dict) -> str:
    lo, hi = r.get("rank_low"), r.get("rank_high")
    if _missing(lo):
        return "-"
    return str(lo) if lo == hi else f"{lo}-{hi}"


def _text(key: str) -> Callable[[dict], str]:
    return lambda r: "" if _missing(r.get(key)) else str(r[key])


def _kind_mark(r: dict) -> str:
    """' [floor]' for a row of any kind other than a participant's submission or a reference
    baseline, and ' [predictions]' for a row scored from prediction files, so such rows are marked
    on the default board, which has no Kind column."""
    kind = r.get("kind")
    if r.get("not_above_floor"):  # evaluator.floors.MARK: a reference not significantly above the best floor
        return " [≤ floor]"
    if kind == "submission" and r.get("format") == PREDICTIONS_FORMAT:  # a participant's masks, not a model
        return " [predictions]"
    return f" [{kind}]" if kind and kind not in ("submission", "baseline") else ""


def _trained_on(r: dict) -> str:
    """'train-only', 'pretraining (NAME)', 'external' or '-' (not stated): the method's training data."""
    value = r.get("training_data")
    if _missing(value):
        return "-"
    return f"{value} ({r['pretraining_set']})" if r.get("pretraining_set") else str(value)


BASIC = {
    "rank": Column("rank", "Rank", _text("rank"), right=True),
    "rank_range": Column("rank_range", "Range", _rank_range),
    "p_rank1": Column("p_rank1", "P(1)", lambda r: "-" if _missing(r.get("p_rank1")) else f"{r['p_rank1']:.2f}", True),
    "name": Column("name", "Model", lambda r: _text("name")(r) + _kind_mark(r)),
    "team": Column("team", "Team", _text("team")),
    "kind": Column("kind", "Kind", _text("kind")),
    "training": Column("training", "Trained on", _trained_on),
    "params": Column("params", "Params", lambda r: _count(r.get("params")), True),
    "gflops": Column("gflops", "GFLOPs", lambda r: "n/a" if _missing(r.get("gflops")) else f"{r['gflops']:.2f}", True),
    "latency_ms": Column("latency_ms", "ms/img", lambda r: "n/a" if _missing(r.get("latency_ms")) else f"{r['latency_ms']:.1f}", True),
    "date": Column("date", "Date", lambda r: (r.get("created_at") or "")[:10]),
    "id": Column("id", "ID", _text("submission_id"), right=True),
}
LEAD = ("rank", "rank_range")
IDENTITY = ("name", "team")
COSTS = ("params", "gflops")
WIDE_EXTRA = ("latency_ms", "date", "id")


def column_keys(metrics: list[str]) -> list[str]:
    """Every key `--columns` accepts on this board."""
    return [*LEAD, "p_rank1", *IDENTITY, "kind", "training", *metrics, *COSTS, *WIDE_EXTRA]


def pick_columns(spec: str | None, wide: bool, metrics: list[str], unit: str) -> list[Column]:
    """The columns to show: `--columns` (comma-separated keys), `--wide`, or the default set.
    `metrics` is the board's metrics, the ranking metric first."""
    primary = metrics[0]
    if spec:
        keys = [k.strip() for k in spec.split(",") if k.strip()]
        valid = column_keys(metrics) + [m for m in METRICS.names() if m not in metrics]
        bad = [k for k in keys if k not in valid]
        if bad:
            raise UnknownName(f"Unknown column '{bad[0]}'. Valid choices: {', '.join(valid)}.{did_you_mean(bad[0], valid)}")
        return [BASIC[k] if k in BASIC else metric_column(k, unit, ci=k == primary, full_label=k == primary) for k in keys]
    if wide:
        return ([BASIC[k] for k in (*LEAD, "p_rank1", *IDENTITY, "kind", "training")]
                + [metric_column(m, unit, ci=True, full_label=m == primary) for m in metrics]
                + [BASIC[k] for k in (*COSTS, *WIDE_EXTRA)])
    return ([BASIC[k] for k in (*LEAD, *IDENTITY)] + [metric_column(primary, unit, ci=True, full_label=True)]
            + [metric_column(m, unit, ci=False) for m in metrics[1:1 + MAX_OTHER_METRICS]]
            + [BASIC[k] for k in COSTS])


def _clip(text: str, width: int) -> str:
    if len(text) <= width:
        return text
    head, sep, mark = text.rpartition(" [")
    if sep and mark.endswith("]") and len(mark) + 4 < width:  # a row's mark ('[floor]') outlives the name
        return head[:max(0, width - len(mark) - 3)] + "…" + sep + mark
    return text[:max(0, width - 1)] + "…"


def _fit(columns: list[Column], cells: list[list[str]], width: int, fit: bool) -> tuple[list[Column], list[int]]:
    """Column widths; when `fit`: shorten team and name (to NAME_KEEP), then drop the last optional
    metric columns, then shorten the name further (to MIN_NAME), until the table fits `width`."""
    while True:
        widths = [max(len(c.header), *(len(row[i]) for row in cells)) if cells else len(c.header)
                  for i, c in enumerate(columns)]
        if not fit:
            return columns, widths
        optional = [i for i, c in enumerate(columns) if c.key in METRICS and i != _first_metric(columns)]
        if _shrink(columns, widths, width, NAME_KEEP) or not optional:
            _shrink(columns, widths, width, MIN_NAME)
            return columns, widths
        drop = optional[-1]
        columns = columns[:drop] + columns[drop + 1:]
        cells = [row[:drop] + row[drop + 1:] for row in cells]


def _shrink(columns: list[Column], widths: list[int], width: int, min_name: int) -> bool:
    """Shorten the longer of name and team, one character at a time, down to their minimums;
    True when the table then fits `width`."""
    keys = [c.key for c in columns]
    floor = {keys.index(k): max(least, len(columns[keys.index(k)].header))
             for k, least in (("name", min_name), ("team", MIN_TEAM)) if k in keys}
    total = sum(widths) + len(GAP) * (len(columns) - 1)
    while total > width:
        room = [i for i, least in floor.items() if widths[i] > least]
        if not room:
            return False
        widths[max(room, key=lambda i: widths[i])] -= 1
        total -= 1
    return True


def _first_metric(columns: list[Column]) -> int:
    return next((i for i, c in enumerate(columns) if c.key in METRICS), -1)


def render(rows: list[dict], columns: list[Column], width: int, fit: bool = True) -> list[str]:
    """The table's lines (header first); with `fit`, no line is longer than `width`."""
    cells = [[c.cell(r) for c in columns] for r in rows]
    kept, widths = _fit(columns, cells, width, fit)
    index = [columns.index(c) for c in kept]
    lines = [GAP.join(_pad(c.header, w, c.right) for c, w in zip(kept, widths)).rstrip()]
    for row in cells:
        lines.append(GAP.join(_pad(row[i], w, c.right) for i, c, w in zip(index, kept, widths)).rstrip())
    return lines


def _pad(text: str, width: int, right: bool) -> str:
    text = _clip(text, width)
    return text.rjust(width) if right else text.ljust(width)


def wrap(text: str, width: int, max_lines: int | None = None) -> list[str]:
    lines = textwrap.wrap(text, width=width, break_on_hyphens=False) or [""]
    if max_lines and len(lines) > max_lines:
        lines = lines[:max_lines]
        lines[-1] = _clip(lines[-1] + " …", width)
    return lines


def footer(metrics_shown: list[str], primary: str, unit: str, hidden: int) -> str:
    """One short paragraph (two lines at most): how to read the table and where the rest is."""
    names = ", ".join(f"{short_label(m)} = {METRICS.get(m).title.lower()}" for m in metrics_shown
                      if m != primary and short_label(m) != METRICS.get(m).title)
    more = f" · {hidden} more metric(s): --wide" if hidden else ""
    return (f"↑/↓ better · mean [95% bootstrap CI] · {names + ' · ' if names else ''}distances in {unit}{more} · "
            "definitions: --explain · pick columns: --columns")


def explain(ranking_definition: str, resamples, tau: str, metrics: list[str], unit: str, width: int) -> list[str]:
    """The definitions the table leaves out: the ranking, the rank range and every metric shown."""
    paras = [f"Ranking: {ranking_definition}.",
             f"Range: 95% interval of the rank when the test cases are resampled {resamples} times and reranked "
             f"each time; P(1): share of resamples ranked 1; Kendall's tau to the full ranking {tau}.",
             "Params: the network's weights (k = thousand, M = million); GFLOPs: one multiply-add = one FLOP "
             "at batch 1 and the task's input size; n/a: not measured (e.g. a prediction submission)."]
    for m in metrics:
        info = METRICS.get(m)
        short = f"{short_label(m)}, " if short_label(m) != info.title else ""
        paras.append(f"{info.title} ({short}{'higher' if info.higher_is_better else 'lower'} is better"
                     f"{f', {unit}' if info.unit else ''}): {info.description}")
    return [line for p in paras for line in wrap(p, width)]
