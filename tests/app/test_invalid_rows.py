"""A store holding a deliberately corrupted result row still renders everywhere: the bad
row is listed as invalid, the others are ranked and drawn as before."""
import json
import sqlite3

import pytest
from click.testing import CliRunner

from sonobench.cli import cli

from .conftest import open_page


@pytest.fixture
def corrupted(writable_env):
    sid = writable_env["ids"]["smooth-0.20"]
    with sqlite3.connect(writable_env["db"]) as conn:
        conn.execute("update results set params = 'seven', gflops = 'tiny', latency_ms = ?, dice_mean = 'great', "
                     "per_class = '{not json' where submission_id = ?", ["9" * 4000, sid])
    return dict(writable_env, bad=sid)


@pytest.mark.parametrize("fmt", ["table", "csv", "json"])
def test_cli_leaderboard_survives_a_corrupted_row(corrupted, fmt):
    out = CliRunner().invoke(cli, ["leaderboard", "toy-lesion", "--format", fmt, "--db", str(corrupted["db"])])
    assert out.exit_code == 0, out.output
    assert "smooth-0.30" in out.output  # the valid rows still render
    if fmt == "json":
        board = json.loads(out.stdout)
        [bad] = board["invalid"]
        assert bad["submission_id"] == corrupted["bad"]
        assert "params is 'seven'" in bad["invalid"]
        assert corrupted["bad"] not in [r["submission_id"] for r in board["rows"]]
    elif fmt == "csv":  # numbers only: the invalid row is named on stderr, not written as a CSV row
        assert f"#{corrupted['bad']} is invalid and not ranked" in out.stderr
        assert "invalid" not in out.stdout and out.stdout.splitlines()[0].startswith("rank,")
    else:
        assert f"#{corrupted['bad']} is invalid and not ranked" in out.output


@pytest.mark.parametrize("page", ["leaderboard", "efficiency"])
def test_app_pages_survive_a_corrupted_row(corrupted, page):
    at = open_page(page)
    assert not at.exception
    warnings = " ".join(w.value for w in at.warning)
    assert f"#{corrupted['bad']}: its stored result is invalid" in warnings


def test_submission_page_shows_the_corrupted_row_as_invalid(corrupted):
    at = open_page("submission")
    at.selectbox(key="sub_pick").set_value(corrupted["bad"]).run()
    assert not at.exception
    assert any("is invalid and cannot be shown" in e.value for e in at.error)
    at.selectbox(key="sub_pick").set_value(corrupted["ids"]["smooth-0.30"]).run()
    assert not at.exception and at.header  # the other rows render as before
