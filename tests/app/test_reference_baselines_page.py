"""The Baselines page on the committed reference rows of the default benchmark:
one training profile at a time, the reference setting (`full`) first."""
from baselines.reference import load_into_store, read_reference
from evaluator.demo import DEFAULT_TASK
from evaluator.store import Store
from evaluator.tasks import get_task

from .conftest import open_page


def test_profile_switch_shows_one_profile_at_a_time(tmp_path, monkeypatch):
    db = tmp_path / "results.db"
    load_into_store(Store(db), get_task(DEFAULT_TASK), log=lambda *_: None)
    monkeypatch.setenv("SONOBENCH_DB", str(db))
    rows = read_reference(DEFAULT_TASK)["rows"]
    by_profile = {p: sorted(r["name"] for r in rows if r["profile"] == p) for p in {r["profile"] for r in rows}}
    assert set(by_profile) == {"full", "quick"}

    at = open_page("baselines")
    radio = at.radio(key="base_profile")
    assert radio.options == ["full", "quick"] and radio.value == "full"
    for profile in ("full", "quick"):
        radio.set_value(profile).run()
        assert not at.exception
        table = next(m.value for m in at.markdown if "Train→Test ΔDice" in m.value)
        shown = sorted(line.split(" ", 2)[2].split(" |")[0] for line in table.splitlines()[2:])
        assert shown == by_profile[profile]
