"""The physics-guided workflow in the app: the Cross-dataset matrix (in-domain cell marked) and the
Baselines page's scratch-vs-pretrained table."""
from __future__ import annotations

from .conftest import open_page


def test_crosseval_page_shows_the_matrix(tmp_path, monkeypatch):
    from sonobench.cli.toy import build_toy_task, threshold_onnx
    from sonobench.evaluator.crosseval import ModelSource, score_family
    from sonobench.evaluator.store import Store
    root = tmp_path / "tasks"
    build_toy_task(root / "toy-a" / "v1", task_id="toy-a", seed=0, family="toy")
    build_toy_task(root / "toy-b" / "v1", task_id="toy-b", seed=5, n=16, family="toy")
    monkeypatch.setenv("SONOBENCH_TASKS_PATH", str(root))
    db = tmp_path / "app.db"
    store = Store(db)
    score_family(store, ModelSource(threshold_onnx(tmp_path / "m.onnx"), "toy-a", "threshold"), "toy",
                 log=lambda m: None)
    store.close()
    monkeypatch.setenv("SONOBENCH_DB", str(db))
    at = open_page("crosseval")
    assert at.title[0].value == "Cross-dataset"
    picker = at.selectbox(key="cx_family")
    assert list(picker.options) == ["bone", "breast", "neck", "toy"] and picker.value == "toy"  # opens on a scored family
    assert len(at.dataframe) == 1, [i.value for i in at.info] + [e.value for e in at.error] + [w.value for w in at.warning]
    table = at.dataframe[0].value
    assert list(table.columns) == ["trained on", "model", "toy-a@1", "toy-b@1"]
    (row,) = table.to_dict("records")
    assert row["trained on"] == "toy-a@1" and row["model"] == "threshold"
    assert row["toy-a@1"].startswith("★ ") and not row["toy-b@1"].startswith("★")


def test_baselines_page_puts_scratch_and_pretrained_side_by_side(toy_task, tmp_path, monkeypatch):
    from sonobench.cli.toy import threshold_onnx
    from sonobench.evaluator.evaluate import evaluate
    from sonobench.evaluator.sandbox import SandboxConfig
    from sonobench.evaluator.store import Store
    from sonobench.evaluator.submission import prepare

    from .helpers import training_meta

    db = tmp_path / "base.db"
    store = Store(db)
    digest = "ab" * 32
    dice = {}
    for name, threshold, extra in (("unext (quick)", 0.30, {}),
                                   ("unext (quick, pretrain-abababab)", 0.36,
                                    {"pretraining": {"kind": "pretrain", "set": "breast-2k", "set_digest": digest}})):
        sub = prepare(threshold_onnx(tmp_path / f"{threshold}.onnx", threshold=threshold), {}, name=name,
                      team="SonoBench baselines", architecture={"name": "unext", "kwargs": {}})
        meta = {"training": {**training_meta(), "profile": "quick", **extra}}
        out = evaluate(store, toy_task, sub, kind="baseline", config=SandboxConfig(), extra_meta=meta)
        dice[name] = out.result["dice_mean"]
    store.close()
    monkeypatch.setenv("SONOBENCH_DB", str(db))
    at = open_page("baselines")
    assert "Scratch vs pretrained" in [h.value for h in at.subheader]
    table = next(m.value for m in at.markdown if "Pretrained Dice" in m.value)
    (line,) = [l for l in table.splitlines() if l.startswith("| unext")]
    cells = [c.strip() for c in line.strip("|").split("|")]
    assert cells[:2] == ["unext", "quick"] and cells[3] == f"pretrained on breast-2k (digest {digest[:12]})"
    assert cells[2].startswith(f"{dice['unext (quick)']:.3f} [")
    assert cells[4].startswith(f"{dice['unext (quick, pretrain-abababab)']:.3f} [")
    assert cells[5] == f"{dice['unext (quick, pretrain-abababab)'] - dice['unext (quick)']:+.3f}"
