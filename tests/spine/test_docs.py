"""Documentation that runs: the README is short and opens with the two set-up commands, the
generated reference pages equal what the code says today (the CLI page is every command's
`--help`), every CLI command and setting is documented, and the site builds in strict mode."""
import importlib.util
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from sonobench.cli import cli

REPO = Path(__file__).resolve().parents[2]
README = (REPO / "README.md").read_text()


def _gen_docs():
    spec = importlib.util.spec_from_file_location("gen_docs", REPO / "scripts" / "gen_docs.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_readme_starts_with_the_two_commands():
    block = README.split("```bash", 1)[1].split("```", 1)[0]
    assert [l.split("#")[0].strip() for l in block.strip().splitlines()] == ["make demo", "make test"]


def test_readme_is_short():
    assert len(README.splitlines()) <= 200


def test_readme_links_point_at_files_in_the_repository():
    import re

    for target in re.findall(r"\]\(([^)#]+)\)", README):
        if "://" not in target:
            assert (REPO / target).exists(), f"README links to {target}, which does not exist"


def test_generated_reference_pages_are_current():
    pages = _gen_docs().render()
    stale = [name for name, text in pages.items() if (REPO / "docs" / "reference" / name).read_text() != text]
    assert not stale, f"run `python scripts/gen_docs.py` and commit: {stale}"


def test_cli_page_is_each_commands_help():
    from click.testing import CliRunner

    page = (REPO / "docs" / "reference" / "cli.md").read_text()
    for name in cli.list_commands(None):
        assert f"## `sonobench {name}`" in page
    out = CliRunner().invoke(cli, ["submit", "--help"], prog_name="sonobench",
                            terminal_width=_gen_docs().HELP_WIDTH).output
    body = page.split("## `sonobench submit`", 1)[1].split("```text\n", 1)[1].split("\n```", 1)[0]
    assert body.strip() == out.strip()


def test_every_setting_and_variable_is_on_the_settings_page():
    import dataclasses

    from sonobench.kernel import environment
    from sonobench.kernel.settings import Settings

    page = (REPO / "docs" / "reference" / "settings.md").read_text()
    missing = [f.name for f in dataclasses.fields(Settings) if f.name != "extra" and f"`{f.name}`" not in page]
    missing += [v for v in environment.VARIABLES if f"`{v}`" not in page]
    assert not missing, missing


@pytest.mark.slow
def test_the_site_builds_in_strict_mode(tmp_path):
    mkdocs = shutil.which("mkdocs", path=str(Path(sys.executable).parent))
    if mkdocs is None:
        pytest.fail("mkdocs is not installed: `pip install -c constraints.txt -e .[docs]`")
    run = subprocess.run([mkdocs, "build", "--strict", "--quiet", "-d", str(tmp_path / "site")], cwd=REPO,
                         capture_output=True, text=True, env={"NO_MKDOCS_2_WARNING": "1", "PATH": "/usr/bin:/bin"})
    assert run.returncode == 0, run.stderr[-2000:]
