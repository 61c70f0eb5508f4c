"""One network submitted as ONNX, TorchScript, torch.export (.pt2) and
state_dict + architecture spec must score identically and cost the same."""
import json

import pytest

torch = pytest.importorskip("torch")

from sonobench.evaluator.evaluate import evaluate  # noqa: E402
from sonobench.evaluator.submission import Format, prepare  # noqa: E402

ARCH = {"name": "unext", "kwargs": {"in_channels": 1, "num_classes": 1}}


@pytest.fixture(scope="module")
def exported(tmp_path_factory):
    from sonobench.zoo import build_from_config

    out = tmp_path_factory.mktemp("formats")
    torch.manual_seed(0)
    model = build_from_config(ARCH).eval()
    with torch.no_grad():  # push logits far from the 0 threshold so float noise cannot flip pixels
        model.head.weight.mul_(1000.0)
        model.head.bias.mul_(1000.0)
    x = torch.rand(1, 1, 64, 64)
    paths = {}
    paths["onnx"] = out / "m.onnx"
    torch.onnx.export(model, (x,), str(paths["onnx"]), input_names=["image"], output_names=["logits"],
                      dynamic_axes={"image": {0: "N"}}, opset_version=17, dynamo=False)
    paths["torchscript"] = out / "m_script.pt"
    torch.jit.trace(model, x).save(str(paths["torchscript"]))
    paths["export"] = out / "m.pt2"
    torch.export.save(torch.export.export(model, (x,)), str(paths["export"]))
    paths["state_dict"] = out / "m_weights.pt"
    torch.save(model.state_dict(), paths["state_dict"])
    return paths


@pytest.mark.slow
def test_four_formats_score_the_same(file_store, toy_task, exported):
    results = {}
    for kind, path in exported.items():
        sub = prepare(path, name=kind, architecture=ARCH if kind == "state_dict" else None)
        assert sub.format is Format(kind)
        results[kind] = evaluate(file_store, toy_task, sub).result
    ref = results["onnx"]
    assert ref["params"] == pytest.approx(1471633, rel=0.01)
    for kind, r in results.items():
        for m in ("dice", "iou", "hd95"):
            assert r[f"{m}_mean"] == pytest.approx(ref[f"{m}_mean"], abs=1e-4), (kind, m)
        assert r["params"] == pytest.approx(ref["params"], rel=0.01), kind
        assert r["gflops"] == pytest.approx(ref["gflops"], rel=0.01), kind
        assert r["gflops"] > 0
    # and per case, not only on average
    per_case = {k: [c["dice"] for c in file_store.case_results(i + 1)] for i, k in enumerate(results)}
    for k, v in per_case.items():
        assert v == pytest.approx(per_case["onnx"], abs=1e-4), k
    assert json.loads(json.dumps(ref["complexity"]))["input_shape"] == [1, 1, 64, 64]
