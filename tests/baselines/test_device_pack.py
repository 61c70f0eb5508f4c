"""The GPU script end to end on the CPU with a tiny budget: `baselines.device train` packs
histories, per-case label maps and the weights that fit into <= 8 files of <= 16 MiB;
`import-device` scores them here through the evaluator's scoring code; the imported Dice
equals the sandboxed evaluator's on the model rebuilt from the returned weights."""
import json

import numpy as np
import pytest
from click.testing import CliRunner

from baselines.device import MAX_FILE_BYTES, MAX_FILES, PackTooLarge, _pack, check_pack, unpack
from evaluator.cli import cli

pytestmark = pytest.mark.slow


def test_pack_roundtrip_keeps_every_label_and_shape():
    rng = np.random.default_rng(0)
    maps = [rng.integers(0, 2, (5, 7), dtype=np.uint8), rng.integers(0, 2, (3, 4), dtype=np.uint8)]
    assert all(np.array_equal(a, b) for a, b in zip(maps, unpack(_pack(maps, 2), 2)))
    multi = [rng.integers(0, 4, (6, 6), dtype=np.uint8)]
    assert np.array_equal(multi[0], unpack(_pack(multi, 4), 4)[0])


def test_a_pack_over_the_limits_is_refused(tmp_path):
    for i in range(MAX_FILES + 1):
        (tmp_path / f"f{i}").write_bytes(b"x")
    with pytest.raises(PackTooLarge, match=f"at most {MAX_FILES} files"):
        check_pack(tmp_path)


def test_device_script_trains_packs_and_imports_like_the_evaluator(toy_task, tmp_path, monkeypatch):
    from baselines.device import main
    from baselines.reference import read_reference

    out = tmp_path / "device-out"
    main(["train", "--task", "toy-lesion", "--models", "unext,segformer-b0", "--profile", "paper", "--epochs", "2",
          "--device", "cpu", "--threads", "1", "--concurrent", "2", "--out", str(out)])
    files = sorted(p.name for p in out.iterdir())
    assert files == ["predictions.npz", "segformer-b0.safetensors", "summary.json", "unext.safetensors"]
    assert len(files) <= MAX_FILES and all(p.stat().st_size <= MAX_FILE_BYTES for p in out.iterdir())
    pack = json.loads((out / "summary.json").read_text())
    assert [m["model"] for m in pack["models"]] == ["unext", "segformer-b0"]
    assert all(len(m["history"]) == m["epochs_run"] == 2 and "reason" in m["convergence"] for m in pack["models"])

    db, refs = tmp_path / "r.db", tmp_path / "refs"
    result = CliRunner().invoke(cli, ["baselines", "import-device", str(out), "--task", "toy-lesion", "--db", str(db),
                                      "--update-reference", "--reference-dir", str(refs)])
    assert result.exit_code == 0, result.output
    assert "unext (paper): #1  Dice" in result.output and "not converged: reached the epoch cap" in result.output
    rows = {r["model"]: r for r in read_reference("toy-lesion", refs)["rows"]}
    assert set(rows) == {"unext", "segformer-b0"} and rows["unext"]["onnx"] is None
    assert len(rows["unext"]["predictions"]["cases"]) == len(toy_task.split("test"))

    # independent check: rebuild unext from its returned weights, export, score in the sandbox
    from safetensors.torch import load_file

    from baselines.training.export import export_onnx
    from evaluator.architectures import build_from_config
    from evaluator.evaluate import evaluate
    from evaluator.store import Store
    from evaluator.submission import prepare

    model = build_from_config(rows["unext"]["architecture"])
    model.load_state_dict(load_file(str(out / "unext.safetensors")))
    onnx = export_onnx(model.eval(), tmp_path / "unext.onnx", toy_task.input_size, toy_task.input_channels)
    store = Store(memory=True)
    outcome = evaluate(store, toy_task, prepare(onnx, name="rebuilt"))
    sandboxed = store.result_for(outcome.submission_id)
    assert rows["unext"]["scores"]["dice_mean"] == pytest.approx(sandboxed["dice_mean"], abs=1e-9)
    assert rows["unext"]["complexity"]["params"] == sum(p.numel() for p in model.parameters())
