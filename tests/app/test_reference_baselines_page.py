"""The Baselines page on the committed reference rows of the seeds' zoo (sim-breast-lesion@1):
one training profile at a time, converged rows first; per row the convergence
verdict in words, hardware, wall time and both parameter counts."""
from sonobench.baselines.reference import load_into_store, read_reference
from sonobench.evaluator.store import Store
from sonobench.evaluator.tasks import get_task

from .conftest import open_page


def test_profile_switch_shows_one_profile_at_a_time(tmp_path, monkeypatch):
    db = tmp_path / "results.db"
    load_into_store(Store(db), get_task("sim-breast-lesion@1"), log=lambda *_: None)
    monkeypatch.setenv("SONOBENCH_DB", str(db))
    rows = read_reference("sim-breast-lesion", version=1)["rows"]
    by_profile = {p: sorted(r["name"] for r in rows if r["profile"] == p) for p in {r["profile"] for r in rows}}
    order = [p for p in ("converged", "paper", "full", "quick") if p in by_profile]
    assert {"full", "quick"} <= set(by_profile) and set(order) == set(by_profile)
    verdicts = {r["name"]: r["training"]["convergence"]["reason"] for r in rows}
    params = {r["name"]: (r["complexity"]["params"], r["complexity"]["complexity"]["params_onnx"]) for r in rows}

    at = open_page("baselines", timeout=90)  # the first page ranks 18 rows cold (bootstrap); slow on a loaded machine
    per_model = next(m.value for m in at.markdown if "| Converged row |" in m.value)
    converged = {r["model"] for r in rows if r["training"]["convergence"]["converged"]}
    for line in per_model.splitlines()[2:]:
        model, row, why = [c.strip() for c in line.strip().strip("|").split(" | ")][:3]
        assert (row != "none") == (model in converged) and (why == "") == (model in converged), line
        assert model in converged or "not converged" in why
    radio = at.radio(key="base_profile")
    assert radio.options == order and radio.value == order[0]
    for profile in order:
        radio.set_value(profile).run()
        assert not at.exception
        table = next(m.value for m in at.markdown if "Train→Test ΔDice" in m.value)
        shown = sorted(line.split(" ", 2)[2].split(" |")[0] for line in table.splitlines()[2:])
        assert shown == by_profile[profile]
        summary = next(m.value for m in at.markdown if "Params, PyTorch module" in m.value)
        for line in summary.splitlines()[2:]:
            cells = [c.strip() for c in line.strip("|").split(" | ")]
            name = cells[0].split(" ", 1)[1]
            assert cells[1] == verdicts[name] and cells[2].startswith("cpu (")
            assert cells[4] == f"{params[name][0] / 1e6:.3f} M" and cells[5] == f"{params[name][1] / 1e6:.3f} M"
        assert len(summary.splitlines()) == 2 + len(by_profile[profile])
