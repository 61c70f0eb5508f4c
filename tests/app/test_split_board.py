"""The Leaderboard page never mixes splits: a result scored on the val split is not on the test
board (the default); the Split choice shows it on a board of its own, labelled as such."""
import sqlite3

from sonobench.evaluator.store import ReadOnlyStore

from .conftest import open_page


def _add_val_result(db) -> int:
    """A copy of the leader's stored result, as if scored with `--split val` and better than all."""
    con = sqlite3.connect(db)
    con.row_factory = sqlite3.Row
    with con:
        sub = dict(con.execute("select * from submissions where task_id = 'toy-lesion' order by id limit 1").fetchone())
        res = dict(con.execute("select * from results where submission_id = ?", [sub["id"]]).fetchone())
        sub.update(id=None, file_sha256="f" * 64, name="val-only-run")
        sid = con.execute(f"insert into submissions ({', '.join(sub)}) values ({', '.join('?' * len(sub))})",
                          list(sub.values())).lastrowid
        old_rid = res["id"]
        res.update(id=None, submission_id=sid, split="val", dice_mean=0.999, dice_ci_low=0.99, dice_ci_high=1.0)
        rid = con.execute(f"insert into results ({', '.join(res)}) values ({', '.join('?' * len(res))})",
                          list(res.values())).lastrowid
        cases = [dict(r) for r in con.execute("select * from case_results where result_id = ?", [old_rid])]
        for c in cases:
            c.pop("id", None)
            c.update(result_id=rid, case_id="val-" + c["case_id"], dice=0.999)
            con.execute(f"insert into case_results ({', '.join(c)}) values ({', '.join('?' * len(c))})",
                        list(c.values()))
    con.close()
    return sid


def test_val_results_have_their_own_board(writable_env):
    sid = _add_val_result(writable_env["db"])
    tested = [r["submission_id"] for r in ReadOnlyStore(writable_env["db"]).leaderboard_rows("toy-lesion")
              if r["split"] == "test"]
    at = open_page()
    assert at.segmented_control(key="lb_split").value == "test"
    table = at.dataframe[0].value
    assert sid not in list(table["ID"]) and sorted(table["ID"]) == sorted(tested)
    at.segmented_control(key="lb_split").set_value("val").run()
    assert not at.exception
    assert list(at.dataframe[0].value["ID"]) == [sid]
    assert any("Validation (public labels) board" in w.value for w in at.warning)
