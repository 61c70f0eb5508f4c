"""`sonobench datasets`: list the adapters and import a local dataset copy.

A thin wrapper: the work is in `sonobench.adapters.import_dataset`; library
errors become `Error: ...` with exit status 1 through `handle_errors`.
"""
from __future__ import annotations

import json
import textwrap

import click

from sonobench.kernel.clitools import handle_errors

from .catalog import ADAPTERS
from .importer import SCAN_REGION_CHOICES, Options, import_dataset
from .leakage import DEFAULT_MAX_DISTANCE
from .ultrabones_sweeps import PoseSet, export_sweeps

DEFAULTS = Options()


@click.group()
def datasets():
    """Import public ultrasound datasets from your local copy as frozen tasks."""


@datasets.command("list")
@click.option("--json", "as_json", is_flag=True, help="Machine-readable output.")
@handle_errors
def list_adapters(as_json):
    """Show every adapter with the layout it expects and its split rule."""
    rows = [{"name": n, "title": a.title, "classes": list(a.classes), "layout": a.layout,
             "split_rule": a.split_rule, "source": a.source} for n, a in ADAPTERS.items()]
    if as_json:
        click.echo(json.dumps(rows, indent=2))
        return
    for r in rows:
        click.echo(f"{r['name']}  {r['title']}")
        for label, text in (("layout", r["layout"]), ("split", r["split_rule"])):
            click.echo(textwrap.fill(text, 100, initial_indent=f"    {label}: ", subsequent_indent=" " * 12))


@datasets.command("import")
@click.argument("name")
@click.argument("path", type=click.Path(exists=True))
@click.option("--task-id", help="Task id to create (default: the adapter name, e.g. busi).")
@click.option("--version", type=int, default=DEFAULTS.version, show_default=True,
              help="Task version to create; a changed copy or split must become a new version.")
@click.option("--out", type=click.Path(file_okay=False),
              help="Tasks root to write into (default: <SONOBENCH_HOME>/tasks, on the task search path).")
@click.option("--seed", type=int, default=DEFAULTS.seed, show_default=True,
              help="Seed of the held-out test and the folds (when the source publishes no split).")
@click.option("--test-fraction", type=float, default=DEFAULTS.test_fraction, show_default=True)
@click.option("--folds", type=int, default=DEFAULTS.folds, show_default=True, help="K of the K-fold assignments.")
@click.option("--hash-distance", type=int, default=DEFAULT_MAX_DISTANCE, show_default=True,
              help="Near duplicates: perceptual hashes differing in at most this many of 64 bits.")
@click.option("--allow-duplicates", is_flag=True, help="Import even if near duplicates cross splits (recorded).")
@click.option("--splits-dir", type=click.Path(file_okay=False),
              help="Where pinned split lists are read and frozen (default: the checkout's splits/ folder).")
@click.option("--freeze-into-repo", is_flag=True,
              help="Write the split as file-name lists into <splits-dir>/<task-id>/ to commit them.")
@click.option("--scan-region", type=click.Choice(SCAN_REGION_CHOICES), default="auto", show_default=True,
              help="Score only inside each image's scan region: auto = the adapter's declaration (convex-probe "
                   "datasets such as AbdomenUS: the convex hull of the non-black pixels); convex-hull = that, "
                   "for any dataset; none = the whole image.")
@handle_errors
def import_cmd(name, path, task_id, version, out, seed, test_fraction, folds, hash_distance, allow_duplicates,
               splits_dir, freeze_into_repo, scan_region):
    """Import the copy of dataset NAME found at PATH (see `sonobench datasets list`)."""
    report = import_dataset(name, path, task_id=task_id, version=version, out=out, seed=seed,
                            test_fraction=test_fraction, folds=folds, max_distance=hash_distance,
                            allow_duplicates=allow_duplicates, splits_dir=splits_dir,
                            freeze_lists=freeze_into_repo, scan_region=scan_region)
    for line in report.lines():
        click.echo(line)


@datasets.command("sweeps")
@click.argument("path", type=click.Path(exists=True))
@click.option("--out", type=click.Path(file_okay=False), required=True,
              help="Folder to write one sub-folder per sweep into (sweep.json + the CT bone model).")
@click.option("--poses", type=click.Choice([p.value for p in PoseSet]), default=PoseSet.OPTIMIZED.value,
              show_default=True, help="Which poses of tracking.csv place the frames.")
@click.option("--calibration", type=click.Path(dir_okay=False),
              help="Pixel spacing and image-to-probe calibration (JSON), required where the copy has no "
                   "calibration.json of its own.")
@click.option("--specimen", "specimens", type=int, multiple=True, help="Only these specimens (repeatable).")
@click.option("--check-labels", "tolerance", type=float, default=None,
              help="Also score the labels' own 3D reconstruction against the CT model at this tolerance (mm).")
@handle_errors
def sweeps_cmd(path, out, poses, calibration, specimens, tolerance):
    """Read UltraBones100k's tracked sweeps at PATH (frames, tracking.csv, CT_bone_model.stl) and write them."""
    for row in export_sweeps(path, out, poses, calibration, specimens or None, tolerance):
        click.echo(json.dumps(row))
