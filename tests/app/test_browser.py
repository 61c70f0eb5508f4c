"""Real browser: start `sonobench app`, drive Debian's headless Chromium with Playwright,
submit a model through the Submit page and find it on the leaderboard. Screenshots
of every page go to .artifacts/ for a human to look at."""
from __future__ import annotations

import csv
import os
import shutil
import signal
import socket
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

import pytest

from sonobench.cli.toy import threshold_onnx

pytestmark = [pytest.mark.browser, pytest.mark.slow]

CHROMIUM = shutil.which("chromium") or "/usr/bin/chromium"
FLAGS = ["--no-sandbox", "--disable-gpu", "--disable-background-networking", "--disable-component-update",
         "--no-first-run"]
PAGES = {"efficiency": "Efficiency", "submission": "Submission detail", "compare": "Compare two",
         "baselines": "Baselines", "tasks": "Tasks"}


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _sonobench() -> list[str]:
    script = Path(sys.executable).with_name("sonobench")
    return [str(script)] if script.exists() else [sys.executable, "-c", "from sonobench.cli import main; main()"]


@pytest.fixture
def running_app(writable_env, tmp_path):
    yield from _serve(writable_env["db"], tmp_path, dict(os.environ))


@pytest.fixture
def board_app(tmp_path):
    """The app on the synthetic store of tests/app/boards.py (a bone-like task, a lesion-like one)."""
    from .boards import build_board_store

    build_board_store(tmp_path / "boards.db")
    (tmp_path / "no-tasks").mkdir()
    yield from _serve(tmp_path / "boards.db", tmp_path, dict(os.environ, SONOBENCH_TASKS_PATH=str(tmp_path / "no-tasks")))


def _serve(db, tmp_path, env):
    port = _free_port()
    log = open(tmp_path / "app.log", "w+")
    proc = subprocess.Popen(_sonobench() + ["app", "--db", str(db), "--port", str(port)],
                            stdout=log, stderr=subprocess.STDOUT, env=env, start_new_session=True)
    url = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + 45
    while True:
        try:
            if urllib.request.urlopen(f"{url}/_stcore/health", timeout=1).read() == b"ok":
                break
        except OSError:
            pass
        if proc.poll() is not None or time.monotonic() > deadline:
            log.seek(0)
            pytest.fail(f"`sonobench app` did not come up:\n{log.read()}")
        time.sleep(0.3)
    log.seek(0)
    assert f"http://localhost:{port}" in log.read()  # the command prints its URL
    yield url
    os.killpg(proc.pid, signal.SIGTERM)
    try:
        proc.wait(timeout=15)
    except subprocess.TimeoutExpired:
        os.killpg(proc.pid, signal.SIGKILL)
    log.close()


@pytest.fixture
def page(artifacts_dir):
    sync_api = pytest.importorskip("playwright.sync_api")
    if not Path(CHROMIUM).exists():
        pytest.skip("chromium is not installed (Debian: apt-get install chromium)")
    with sync_api.sync_playwright() as p:
        browser = p.chromium.launch(executable_path=CHROMIUM, args=FLAGS, headless=True)
        pg = browser.new_page(viewport={"width": 1500, "height": 1000}, accept_downloads=True)
        pg.set_default_timeout(30_000)
        yield pg
        browser.close()


def _shot(page, artifacts_dir: Path, name: str, height: int = 1000) -> None:
    # Streamlit scrolls inside its main block, so a tall viewport stands in for a full-page shot.
    page.set_viewport_size({"width": 1500, "height": height})
    page.wait_for_timeout(800)
    page.screenshot(path=str(artifacts_dir / f"app-{name}.png"))
    page.set_viewport_size({"width": 1500, "height": 1000})


def _no_exception(page) -> None:
    assert page.locator("[data-testid=stException]").count() == 0, page.locator("[data-testid=stException]").first.inner_text()


def test_submit_in_the_browser_and_find_the_row(running_app, page, artifacts_dir, tmp_path):
    page.goto(running_app)
    page.get_by_role("heading", name="SonoBench leaderboard").wait_for()
    page.locator("[data-testid=stDataFrame]").wait_for()
    page.get_by_text("4 models", exact=True).wait_for()
    _no_exception(page)
    _shot(page, artifacts_dir, "1-leaderboard")
    page.get_by_text("Rank stability: 1,000 bootstrap resamples").wait_for()  # the blob plot's title
    page.get_by_text("Kendall's τ between the full ranking").wait_for()
    _shot(page, artifacts_dir, "1b-leaderboard-blob-plot", height=2000)

    page.get_by_role("link", name="Submit a model").click()
    page.get_by_role("heading", name="Submit a model").wait_for()
    task_box = page.locator("[data-testid=stSelectbox]").first
    assert "toy-lesion@1" in task_box.inner_text() + task_box.locator("input").input_value()
    model = threshold_onnx(tmp_path / "browser.onnx", threshold=0.27)
    page.locator("input[type=file]").first.set_input_files(str(model))
    page.get_by_text(model.name).first.wait_for(timeout=60_000)  # the uploader lists it once the server has it
    page.get_by_label("Display name").fill("browser-upload")
    page.get_by_label("Team").fill("playwright")
    page.get_by_role("button", name="Evaluate").click(timeout=120_000)  # enabled once the upload arrives
    page.get_by_text("Scored: submission #").wait_for(timeout=60_000)
    _no_exception(page)
    _shot(page, artifacts_dir, "2-submit-result")

    page.get_by_role("link", name="See it on the leaderboard").click()
    page.get_by_text("5 models", exact=True).wait_for()
    page.get_by_text("Rank stability: 1,000 bootstrap resamples").wait_for()  # the page has finished drawing
    with page.expect_download(timeout=90_000) as download:
        page.get_by_role("button", name="Download CSV").click()
    rows = list(csv.DictReader(open(download.value.path())))
    mine = [r for r in rows if r["name"] == "browser-upload"]
    assert len(mine) == 1 and mine[0]["team"] == "playwright" and mine[0]["kind"] == "submission"
    _shot(page, artifacts_dir, "3-leaderboard-with-upload")

    for slug, link in PAGES.items():
        page.get_by_role("link", name=link, exact=True).click()
        page.locator("h1").first.wait_for()
        if slug == "compare":
            page.get_by_text("Top 5 by mean Dice: row vs column").wait_for()  # the significance map
        page.wait_for_timeout(1500)  # let charts draw
        _no_exception(page)
        _shot(page, artifacts_dir, f"4-{slug}", height=2000)


class _Pixel:
    """An HTTP server on 127.0.0.1 that counts every request (the injected image's target)."""

    def __init__(self):
        import http.server
        import threading

        hits = self.hits = []

        class Handler(http.server.BaseHTTPRequestHandler):
            def do_GET(self):
                hits.append(self.path)
                self.send_response(200)
                self.end_headers()

            def log_message(self, *args):
                pass

        self.server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.port = self.server.server_address[1]
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    def close(self):
        self.server.shutdown()


def test_markdown_and_html_in_a_team_name_stay_text_and_only_the_app_is_contacted(writable_env, running_app,
                                                                                   page, artifacts_dir):
    import sqlite3

    pixel = _Pixel()
    try:
        target = f"http://127.0.0.1:{pixel.port}"
        team = f'![t]({target}/pixel.png) <img src="{target}/img.png"> **VERIFIED BASELINE**'
        name = f'<b>bold</b> [click]({target}/link)'
        sid = writable_env["ids"]["smooth-0.30"]
        with sqlite3.connect(writable_env["db"]) as conn:
            conn.execute("update submissions set team = ?, name = ? where id = ?", [team, name, sid])
        requests = []
        page.on("request", lambda r: requests.append(r.url))
        for path in ("", f"submission?id={sid}", "efficiency", "compare", "baselines", "tasks", "submit"):
            page.goto(f"{running_app}/{path}")
            page.locator("h1").first.wait_for()
            page.wait_for_timeout(2500)
            _no_exception(page)
        page.goto(f"{running_app}/submission?id={sid}")
        page.get_by_text("VERIFIED BASELINE").first.wait_for()
        body = page.locator("[data-testid=stMain]").inner_text()
        assert f"![t]({target}/pixel.png)" in body and "**VERIFIED BASELINE**" in body  # literal text
        assert "<b>bold</b>" in body
        assert page.locator(f"img[src^='{target}']").count() == 0
        assert page.locator("[data-testid=stMain] strong", has_text="VERIFIED BASELINE").count() == 0
        _shot(page, artifacts_dir, "5-injection-shown-as-text")
        foreign = [u for u in requests if not u.startswith((running_app, "data:", "blob:", "about:"))]
        assert foreign == [], foreign
        assert pixel.hits == []
    finally:
        pixel.close()


@pytest.mark.parametrize("path,heading", [("submit", "Submit a model"), ("compare", "Compare")])
def test_a_cold_deep_link_shows_the_apps_navigation(running_app, page, path, heading):
    """Opened first thing after `sonobench app` starts, a deep link routes through
    st.navigation: the sidebar lists the app's page titles, never Streamlit's automatic
    file-name navigation (which a folder called pages/ would add)."""
    page.goto(f"{running_app}/{path}")
    page.locator("h1").filter(has_text=heading).first.wait_for()
    nav = page.locator("[data-testid=stSidebarNav]")
    nav.wait_for()
    text = nav.inner_text()
    assert "Leaderboard" in text and "Submit a model" in text and "Compare two" in text, text
    assert "streamlit app" not in text.lower() and "streamlit_app" not in text, text
    _no_exception(page)


def test_rank_by_shows_each_tasks_primary_metric_after_a_switch(board_app, page, artifacts_dir):
    """What the browser shows, not only what the script returns: a keyed selectbox whose state is
    cleared keeps showing its old choice in the browser, so the switch is checked here."""
    page.goto(board_app)
    page.locator("[data-testid=stDataFrame]").wait_for()
    for task, label, leader in (("lesion-like@1", "Dice", "lesion-x"), ("bone-like@1", "Surface F1", "bone-a"),
                                ("lesion-like@1", "Dice", "lesion-x")):
        page.locator("[data-testid=stSelectbox]").first.click()
        page.get_by_role("option", name=task).first.click()
        page.get_by_text(f"ranked by {label} ").first.wait_for()
        page.get_by_text(f"Leader: {leader}.").wait_for()
        box = page.locator("[data-testid=stSelectbox]").nth(1)
        rank_by = box.inner_text() + box.locator("input").input_value()
        assert f"{label} ↑" in rank_by, (task, rank_by)
        _no_exception(page)
    _shot(page, artifacts_dir, "6-leaderboard-bone-like")
