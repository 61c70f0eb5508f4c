"""Real browser: the Submission page's method section and strata breakdown, with hostile method
fields stored on the row (a forged or damaged store): text stays text, the only links are the
validated http(s) ones. The screenshot goes to .artifacts/ for a human to look at."""
from __future__ import annotations

import sqlite3

import pytest

from .test_browser import _no_exception, _shot, page, running_app  # noqa: F401  (fixtures)
from .test_method_strata import HOSTILE

pytestmark = [pytest.mark.browser, pytest.mark.slow]


def test_method_and_strata_on_the_submission_page(writable_env, running_app, page, artifacts_dir):  # noqa: F811
    sid = writable_env["ids"]["smooth-0.30"]
    with sqlite3.connect(writable_env["db"]) as conn:
        fields = dict(HOSTILE, code_url="https://example.org/code?a=1&b=(2)")
        conn.execute(f"update submissions set {', '.join(f'{k} = ?' for k in fields)} where id = ?",
                     [*fields.values(), sid])
    page.goto(f"{running_app}/submission?id={sid}")
    page.get_by_text("Where it fails").first.wait_for()
    page.wait_for_function("document.querySelectorAll('.js-plotly-plot').length >= 2", timeout=60_000)
    _no_exception(page)
    main = page.locator("[data-testid=stMain]")
    hrefs = [a.get_attribute("href") for a in main.locator("a").all()]
    external = [h for h in hrefs if h and not h.startswith("#")]
    assert external == ["https://arxiv.org/abs/1%29%28x%29%3Cb%3E%22%27", "https://example.org/code?a=1&b=%282%29"]
    assert not any("evil" in h for h in hrefs)  # a bare address in a name is not autolinked either
    body = main.inner_text()
    assert "**bold** <img src=x onerror=alert(1)> [click](javascript:alert(1))" in body  # literal text
    assert "[evil](http://evil.example) <script>" in body
    assert main.locator("img[src=x]").count() == 0 and main.locator("script").count() == 0
    assert "Normal" in body  # the toy task's case meta gives its stratum
    _shot(page, artifacts_dir, "6-method-and-strata", height=2600)
