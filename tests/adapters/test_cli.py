"""`sonobench datasets list|import` through click, with SONOBENCH_HOME in a temp dir."""
from __future__ import annotations

import json

from click.testing import CliRunner

from sonobench.adapters import ADAPTERS
from sonobench.cli import cli


def test_list_shows_every_adapter_with_its_layout():
    r = CliRunner().invoke(cli, ["datasets", "list"])
    assert r.exit_code == 0, r.output
    for name, adapter in ADAPTERS.items():
        assert f"{name}  {adapter.title}" in r.output
    for fragment in ("Dataset_BUSI_with_GT", "mask_XXXX-s.png", "abdomenus_256.npz", "UltrasoundImages",
                     "ThyroidNodule-TN3K/img", "original/", "INFO.csv", "test 2,7,8"):
        assert fragment in r.output
    rows = json.loads(CliRunner().invoke(cli, ["datasets", "list", "--json"]).output)
    assert [r["name"] for r in rows] == ADAPTERS.names() and all(r["layout"] and r["split_rule"] for r in rows)


def test_import_then_tasks_json_lists_the_task(replica, splits_dir):
    root = replica("bus-uclm")
    r = CliRunner().invoke(cli, ["datasets", "import", "BUS-UCLM", str(root), "--task-id", "uclm-mine",
                                 "--splits-dir", str(splits_dir), "--seed", "3"])
    assert r.exit_code == 0, r.output
    assert r.output.startswith("Imported uclm-mine@1 (14 cases")
    tasks = json.loads(CliRunner().invoke(cli, ["tasks", "--json"]).output)
    mine = next(t for t in tasks if t["id"] == "uclm-mine")
    assert mine["classes"] == ["background", "lesion"] and mine["native_size"] is None
    assert sum(mine["splits"].values()) == 14 and mine["splits"]["test"] > 0
    again = CliRunner().invoke(cli, ["datasets", "import", "bus-uclm", str(root), "--task-id", "uclm-mine",
                                     "--splits-dir", str(splits_dir), "--seed", "3"])
    assert again.exit_code == 0 and again.output.startswith("Already imported, identical: uclm-mine@1")
    assert CliRunner().invoke(cli, ["tasks", "verify", "uclm-mine"]).exit_code == 0


def test_out_and_freeze_into_repo(replica, splits_dir, tmp_path):
    root = replica("yap2018")
    r = CliRunner().invoke(cli, ["datasets", "import", "yap2018", str(root), "--out", str(tmp_path / "elsewhere"),
                                 "--splits-dir", str(splits_dir), "--freeze-into-repo"])
    assert r.exit_code == 0, r.output
    assert (tmp_path / "elsewhere" / "yap2018" / "v1" / "manifest.json").is_file()
    assert "is not on the task search path" in r.output
    assert f"split lists: {splits_dir / 'yap2018'}" in r.output
    assert sorted(p.name for p in (splits_dir / "yap2018").iterdir()) == ["folds.csv", "test.txt", "train.txt",
                                                                          "val.txt"]


def test_unknown_adapter_and_bad_options_say_what_to_do(tmp_path):
    r = CliRunner().invoke(cli, ["datasets", "import", "bussi", str(tmp_path)])
    assert r.exit_code == 1 and "Unknown dataset adapter 'bussi'" in r.output and "Did you mean 'busi'?" in r.output
    r = CliRunner().invoke(cli, ["datasets", "import", "busi", str(tmp_path), "--task-id", "Bad/Id"])
    assert r.exit_code == 1 and "Task id 'Bad/Id' is not valid" in r.output
    r = CliRunner().invoke(cli, ["datasets", "import", "busi", str(tmp_path)])
    assert r.exit_code == 1 and "expected folders benign/, malignant/ and normal/" in r.output
