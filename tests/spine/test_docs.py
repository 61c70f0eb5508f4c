"""Documentation that runs: every CLI command is in the README, and the README
opens with the two set-up commands."""
from pathlib import Path

from evaluator.cli import cli

README = (Path(__file__).resolve().parents[2] / "README.md").read_text()


def test_every_cli_command_is_documented():
    for name in cli.list_commands(None):
        assert f"`sonobench {name}" in README, f"`sonobench {name}` is missing from README's CLI reference"


def test_readme_starts_with_the_two_commands():
    block = README.split("```bash", 1)[1].split("```", 1)[0]
    assert [l.split("#")[0].strip() for l in block.strip().splitlines()] == ["make demo", "make test"]
