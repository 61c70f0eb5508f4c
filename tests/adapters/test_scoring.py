"""An imported task is scored by the same evaluator as every other task: no
special case for varying native sizes or multi-class labels."""
from __future__ import annotations

import numpy as np
import pytest

from sonobench.cli.toy import threshold_onnx
from sonobench.evaluator.evaluate import evaluate
from sonobench.evaluator.submission import prepare
from sonobench.evaluator.tasks import get_task


def constant_classes_onnx(path, k: int):
    """A 1x1 convolution giving K class logits per pixel (the image nudges class 1)."""
    import onnx
    from onnx import TensorProto, helper, numpy_helper

    w = np.zeros((k, 1, 1, 1), np.float32)
    w[1] = 4.0
    b = np.linspace(1.0, -1.0, k).astype(np.float32)
    graph = helper.make_graph(
        [helper.make_node("Conv", ["image", "w", "b"], ["logits"])], "k_class_toy",
        [helper.make_tensor_value_info("image", TensorProto.FLOAT, ["N", 1, "H", "W"])],
        [helper.make_tensor_value_info("logits", TensorProto.FLOAT, ["N", k, "H", "W"])],
        [numpy_helper.from_array(w, "w"), numpy_helper.from_array(b, "b")])
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)])
    model.ir_version = 8
    onnx.save(model, path)
    return path


@pytest.mark.parametrize("name", ["busi", "abdomenus"])
def test_imported_task_is_scored_end_to_end(name, replica, run_import, store, tmp_path):
    run_import(name, replica(name))
    task = get_task(name)
    model = (threshold_onnx(tmp_path / "m.onnx") if task.num_classes == 2
             else constant_classes_onnx(tmp_path / "m.onnx", task.num_classes))
    out = evaluate(store, task, prepare(model, name="toy"))
    assert out.result["n_cases"] == len(task.split("test"))
    assert out.result["manifest_digest"] == task.digest
    assert {c["case_id"] for c in store.case_results(out.submission_id)} == {c.id for c in task.split("test")}
