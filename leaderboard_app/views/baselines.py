"""Baselines: per reference row its convergence verdict, hardware, wall time and both
parameter counts; its training curves; and the generalization gaps."""
import html

import pandas as pd
import plotly.graph_objects as go
import streamlit as st

from sonobench.baselines.convergence import CRITERION, row_verdict
from sonobench.evaluator.metrics import count_metrics
from sonobench.leaderboard_app import columns, data, ui

# (history key, legend label, line dash); a missing key is simply not drawn
# One panel per metric the trainer scores (the registry's count-based ones); the smoothed series
# exists for the metric early stopping follows (val_dice_ema) and is skipped for the others.
CURVES = {
    "Loss (lower is better)": [("train_loss", "train", "solid"), ("val_loss", "val", "dash")],
    **{f"{columns.QUALITY_LABEL[m]} ({columns.direction_words(m)})":
       [(f"train_{m}", "train", "solid"), (f"val_{m}", "val", "dash"), (f"val_{m}_ema", "val, smoothed", "dot")]
       for m in count_metrics()},
}
PALETTE = ["#0072B2", "#D55E00", "#009E73", "#CC79A7", "#E69F00", "#56B4E9", "#F0E442"]


def _training(row: dict) -> dict:
    training = (row.get("meta") or {}).get("training")
    return training if isinstance(training, dict) else {}


def _verdict(row: dict) -> dict:
    """The row's convergence verdict, derived from its stored curve by the current rule (the one
    stored with an older row may predate it)."""
    t = _training(row)
    return row_verdict({"history": t["history"], "training": t}) if t.get("history") and t.get("recipe") \
        else t.get("convergence") or {}


def _at_best(training: dict, key: str):
    """A history value at the best epoch (the checkpoint that was submitted)."""
    history = training.get("history") or []
    best = training.get("best_epoch")
    for h in history:
        if h.get("epoch") == best and h.get(key) is not None:
            return float(h[key])
    return None


def _gap_cell(start, end, gap) -> str:
    if start is not None and end is not None:
        return f"{start:.4f} → {end:.4f} = **{start - end:.4f}**"
    return "n/a" if gap is None else f"**{float(gap):.4f}**"


PROFILE_ORDER = ("converged", "paper", "full", "quick")  # trained to convergence first; quick = smoke


def _hardware(row: dict) -> str:
    hw = _training(row).get("hardware") or {}
    if not hw:
        return "not recorded"
    what = hw.get("gpu") if hw.get("device") == "cuda" else hw.get("cpu")
    return f"{hw.get('device')} ({what}, {hw.get('threads')} thread(s))"


def _count(n) -> str:
    return "n/a" if n is None else f"{int(n) / 1e6:.3f} M"


def converged_by_model(rows: list[dict]) -> list[dict]:
    """Per architecture among the rows: its converged row, or why there is none (in words)."""
    out = {}
    for r in rows:
        model = ((r.get("meta") or {}).get("architecture") or {}).get("name") or r["name"]
        verdict = _verdict(r)
        entry = out.setdefault(model, {"Model": model, "Converged row": None, "Why none": []})
        if verdict.get("converged") and entry["Converged row"] is None:
            entry["Converged row"] = f"#{r['submission_id']} {r['name']}: {_headline(r)}, {_hardware(r)}"
        elif not verdict.get("converged"):
            entry["Why none"].append(f"{profile_of(r)}: {verdict.get('reason') or 'no verdict recorded'}")
    return [{"Model": e["Model"], "Converged row": e["Converged row"] or "none",
             "Why none": "" if e["Converged row"] else "; ".join(e["Why none"])} for e in out.values()]


def summary_rows(rows: list[dict]) -> list[dict]:
    """Per row: whether it converged (in words), where and how long it trained, both parameter counts."""
    out = []
    for r in rows:
        t = _training(r)
        verdict = _verdict(r)
        details = r.get("complexity") if isinstance(r.get("complexity"), dict) else {}
        onnx = details.get("params_onnx", r.get("params") if r.get("format") == "onnx" else None)
        pytorch = details.get("params") if "params_onnx" in details else None
        wall = t.get("wall_s")
        out.append({
            "Model": f"#{r['submission_id']} {r['name']}",
            "Converged?": verdict.get("reason") or "no convergence verdict recorded (trained before verdicts existed)",
            "Trained on": _hardware(r),
            "Training wall time": "n/a" if wall is None else f"{wall / 60:.1f} min",
            "Params, PyTorch module": _count(pytorch),
            "Params, ONNX graph (BN folded)": _count(onnx),
            f"Test {_primary_label(r)}": _score(r),
            "Above the best floor?": _floor_cell(r),
            "Start": start_of(r),  # scratch, or the pretraining set's digest / the weights' SHA-256
        })
    return out


def _floor_cell(row: dict) -> str:
    """Whether the reference is significantly better than the task's best no-skill floor."""
    mark = row.get("not_above_floor")
    if not mark:
        return "yes"
    return f"**NO** (≤ FLOOR): not significantly better than '{mark['floor']}' (p = {mark['p']:.3g}, {mark['n']} cases)"


def start_of(row: dict) -> str:
    """Where training started: from scratch, a pretraining set (its digest) or local weights (SHA-256)."""
    pt = _training(row).get("pretraining")
    if not isinstance(pt, dict):
        return "scratch"
    if pt.get("set_digest"):
        return f"pretrained on {pt.get('set')} (digest {str(pt['set_digest'])[:12]})"
    return f"{pt.get('kind', 'init')} {str(pt.get('path', '')).rsplit('/', 1)[-1]} (SHA-256 {str(pt.get('checkpoint_sha256'))[:12]})"


def scratch_vs_pretrained(rows: list[dict]) -> list[dict]:
    """Per (architecture, fine-tuning profile) with a scratch row and a pretrained one: their test
    Dice side by side (PhyUS-Net's comparison at the same fine-tuning budget)."""
    groups: dict[tuple, dict] = {}
    for r in rows:
        model = ((r.get("meta") or {}).get("architecture") or {}).get("name") or r["name"]
        start = start_of(r)
        groups.setdefault((model, profile_of(r)), {}).setdefault(start, r)
    out = []
    for (model, profile), starts in sorted(groups.items()):
        scratch = starts.get("scratch")
        label = _primary_label(scratch or next(iter(starts.values())))
        for start, r in starts.items():
            if start == "scratch" or scratch is None:
                continue
            out.append({"Model": model, "Fine-tuning profile": profile,
                        f"Scratch {label}": _score(scratch, ci=True),
                        "Started from": start,
                        f"Pretrained {label}": _score(r, ci=True),
                        f"Δ {label}": _delta(r, scratch)})
    return out


def _primary(row: dict) -> str:
    """The metric the row's task ranks by (recorded with the result)."""
    return row.get("primary_metric") or data.DEFAULT_PRIMARY_METRIC


def _primary_label(row: dict) -> str:
    return columns.QUALITY_LABEL[_primary(row)]


def _score(row: dict, ci: bool = False) -> str:
    """The row's primary metric: '0.706' or, with `ci`, '0.706 [0.642, 0.767]'; 'missing' if not scored."""
    m = _primary(row)
    mean = row.get(f"{m}_mean")
    if mean is None:
        return columns.MISSING
    d = columns.ndigits(m)
    return f"{mean:.{d}f}" + (f" [{row[f'{m}_ci_low']:.{d}f}, {row[f'{m}_ci_high']:.{d}f}]" if ci else "")


def _headline(row: dict) -> str:
    return f"{_primary_label(row)} {_score(row)}"


def _delta(row: dict, scratch: dict) -> str:
    m = _primary(row)
    a, b = row.get(f"{m}_mean"), scratch.get(f"{m}_mean")
    return columns.MISSING if a is None or b is None else f"{a - b:+.{columns.ndigits(m)}f}"


def profile_of(row: dict) -> str:
    return str(_training(row).get("profile") or "other")


def profiles(rows: list[dict]) -> list[str]:
    """The training profiles present, the reference setting first (see baselines/recipes.py)."""
    names = {profile_of(r) for r in rows}
    rank = {p: i for i, p in enumerate(PROFILE_ORDER)}
    return sorted(names, key=lambda p: (rank.get(p, len(rank)), p))


def gap_rows(rows: list[dict]) -> list[dict]:
    """Seed 001's table: train→test and val→test drops of Dice and IoU at the submitted checkpoint."""
    out = []
    for r in rows:
        t = _training(r)
        gaps = t.get("gaps") or {}
        cells = {"Model": ui.plain(f"#{r['submission_id']} {r['name']}")}
        for metric in count_metrics():  # what the trainer scores each epoch (the registry says which)
            test = r.get(f"{metric}_mean")
            for start in ("train", "val"):
                label = f"{start.capitalize()}→Test Δ{columns.QUALITY_LABEL[metric]}"
                cells[label] = _gap_cell(_at_best(t, f"{start}_{metric}"), test, gaps.get(f"{start}_test_{metric}"))
        cells["Epochs run"] = t.get("epochs_run", len(t.get("history") or []) or "n/a")
        cells["Best epoch"] = t.get("best_epoch", "n/a")
        out.append(cells)
    return out


def _curves(rows: list[dict], title: str, series) -> go.Figure:
    fig = go.Figure()
    for i, r in enumerate(rows):
        history = pd.DataFrame(_training(r).get("history") or [])
        if history.empty or "epoch" not in history:
            continue
        color = PALETTE[i % len(PALETTE)]
        for key, split, dash in series:
            if key in history and history[key].notna().any():
                fig.add_trace(go.Scatter(x=history["epoch"], y=history[key], mode="lines",
                                         name=html.escape(f"{r['name']} ({split})"), line=dict(color=color, dash=dash)))
        best = _training(r).get("best_epoch")
        if best is not None:
            fig.add_vline(x=best, line_dash="dot", line_color=color, opacity=0.5)
    fig.update_layout(title=title, xaxis_title="epoch", height=360, margin=dict(t=50),
                      legend=dict(orientation="h", y=-0.25))
    return fig


@ui.shows_errors
def baselines_page():
    st.title("Baselines")
    st.caption("Reference models trained by SonoBench on the task's train split, checkpoint chosen on validation "
               "Dice, then scored by the same sandboxed evaluator as every submission. Rerun them with "
               "`sonobench baselines`.")
    picked = ui.task_picker(key="base_task")
    if picked is None:
        return
    task_id, version, _ = picked
    rows = data.baselines(task_id, version)
    if not rows:
        st.info(f"No baselines scored on {task_id}@{version} yet. Train and submit them with `sonobench baselines`.")
        return
    st.subheader("Converged reference per model")
    st.markdown(_markdown_table(converged_by_model(rows)))
    paired = scratch_vs_pretrained(rows)
    if paired:
        st.subheader("Scratch vs pretrained")
        st.caption("The same architecture fine-tuned with the same profile from scratch and from pretrained weights "
                   "(`sonobench baselines run MODEL --pretrain SET`); the task's primary metric on test, with its 95% bootstrap CI. "
                   "`sonobench compare A B` tests the difference case by case.")
        st.markdown(_markdown_table(paired))
    present = profiles(rows)
    if len(present) > 1:
        chosen = st.radio("Training profile", present, horizontal=True, key="base_profile",
                          help="converged: trained on a CPU until the smoothed val Dice plateaued; paper: the "
                               "seeds' GPU recipe; full: the earlier CPU-sized setting (not converged); quick: "
                               "a CPU smoke-level run. `sonobench baselines list` describes each.")
        rows = [r for r in rows if profile_of(r) == chosen]
    with_history = [r for r in rows if _training(r).get("history")]
    st.subheader("Reference rows")
    st.caption(f"{CRITERION[0].upper()}{CRITERION[1:]} (derived from the stored curve). Above the best floor? = "
               "a one-sided paired Wilcoxon test on the task's primary metric against its best no-skill floor "
               "(an input-independent model built from the train split) rejects at the ranking's alpha. "
               "Params, PyTorch module: every tensor of `model.parameters()` once, as papers report them (the "
               "leaderboard's column for a reference); ONNX graph: the exported file's weights, batch norm folded.")
    st.markdown(_markdown_table(summary_rows(rows)))
    st.subheader("Generalization gaps (smaller is better)")
    st.caption("Score at the submitted (best-validation) epoch on train and validation, minus the evaluator's "
               "score on the held-out split: a large drop means the model fits its training data better than "
               "it generalizes.")
    st.markdown(_markdown_table(gap_rows(rows)))
    st.subheader("Training curves")
    if not with_history:
        st.info("These baselines were submitted without a training history.")
        return
    st.caption("Solid = train, dashed = validation, dotted = smoothed validation Dice (what early stopping "
               "follows); the dotted vertical line marks each model's best epoch.")
    cols = st.columns(len(CURVES))
    for col, (title, series) in zip(cols, CURVES.items()):
        col.plotly_chart(_curves(with_history, title, series), key=f"curve_{title.split()[0]}")


def _markdown_table(rows: list[dict]) -> str:
    """A markdown table, so the bold gap stands out inside 'train → test = gap' as in seed 001."""
    head = list(rows[0])
    lines = ["| " + " | ".join(head) + " |", "|" + "|".join(["---"] + ["---:"] * (len(head) - 1)) + "|"]
    lines += ["| " + " | ".join(str(r[h]).replace("|", "\\|") for h in head) + " |" for r in rows]
    return "\n".join(lines)


baselines_page()
