"""`sonobench pretrain-set make/list/verify`: a thin click wrapper over simulation.pretrain."""
from __future__ import annotations

import json

import click

from sonobench.kernel.clitools import handle_errors

from .presets import PRESETS
from .sample import Backend


@click.group("pretrain-set")
def pretrain_set():
    """Pretraining sets: large simulated sets in the data dir (never committed), with a manifest + digest."""


@pretrain_set.command("make")
@click.argument("name")
@click.option("--preset", default="breast-lesion", show_default=True, help=f"Phantom preset: {', '.join(PRESETS.names())}.")
@click.option("--n", "n", type=click.IntRange(min=2), required=True, help="Number of images.")
@click.option("--backend", type=click.Choice([b.value for b in Backend]), default="fast", show_default=True,
              help="fast: convolution model on the CPU; kwave: wave simulation (a GPU makes it practical).")
@click.option("--seed", type=int, default=0, show_default=True)
@click.option("--workers", type=click.IntRange(min=1), default=1, show_default=True)
@click.option("--quiet", is_flag=True, help="No progress bar.")
@handle_errors
def make_cmd(name, preset, n, backend, seed, workers, quiet):
    """Generate (resumable) and freeze the pretraining set NAME."""
    from .pretrain import make_set

    pset = make_set(name, preset, n, backend=backend, seed=seed, workers=workers, progress=not quiet)
    s = pset.summary()
    cost = s["cost"]
    spent = f"; {cost['wall_s']:.1f} s wall ({cost['wall_s_per_100']:.1f} s per 100 images)" if cost else ""
    click.echo(f"Pretraining set {name}: {s['cases']} images (train {s['splits']['train']}, val {s['splits']['val']}) "
               f"in {s['folder']}; digest {s['digest']}{spent}")


@pretrain_set.command("list")
@click.option("--json", "as_json", is_flag=True)
@handle_errors
def list_cmd(as_json):
    """The pretraining sets in the data dir with their digests."""
    from .pretrain import list_sets, sets_root

    rows = [p.summary() for p in list_sets()]
    if as_json:
        click.echo(json.dumps(rows, indent=2))
        return
    if not rows:
        click.echo(f"No pretraining sets in {sets_root()}; make one with `sonobench pretrain-set make NAME --n 2000`.")
    for r in rows:
        click.echo(f"{r['name']:<20} {r['cases']:>6} images  {r['preset']} / {r['backend']} / seed {r['seed']}  "
                   f"digest {r['digest'][:12]}")


@pretrain_set.command("verify")
@click.argument("name")
@handle_errors
def verify_cmd(name):
    """Check every image and label of NAME against its manifest."""
    from .pretrain import verify_set

    pset = verify_set(name)
    click.echo(f"Pretraining set {name}: all {len(pset.task.cases)} cases match the manifest (digest {pset.digest})")
