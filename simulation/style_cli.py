"""`sonobench style-adapt`: a thin click wrapper over simulation.style."""
from __future__ import annotations

from pathlib import Path

import click

from sonobench.kernel.clitools import handle_errors

from .style import StyleMethod


@click.command("style-adapt")
@click.argument("source", type=click.Path(exists=True, file_okay=False, path_type=Path))
@click.option("--target", "target_dir", type=click.Path(exists=True, file_okay=False, path_type=Path), required=True,
              help="Folder of unlabelled target-domain (e.g. clinical) images.")
@click.option("--out", type=click.Path(file_okay=False, path_type=Path), required=True,
              help="Output folder: images/ adapted, labels/ copied unchanged.")
@click.option("--method", type=click.Choice([m.value for m in StyleMethod]), default="fda", show_default=True,
              help="fda: Fourier amplitude swap (Yang & Soatto 2020); histogram: histogram matching; "
                   "speckle: speckle-contrast matching.")
@click.option("--beta", type=float, default=0.01, show_default=True, help="FDA low-frequency window (0: identity).")
@click.option("--seed", type=int, default=0, show_default=True, help="Picks the target per image; same seed, same bytes.")
@click.option("--sheet", type=click.Path(dir_okay=False, path_type=Path), default=None,
              help="Also write a before/after contact sheet PNG (first 4 images).")
@handle_errors
def style_adapt(source, target_dir, out, method, beta, seed, sheet):
    """Adapt the simulated images in SOURCE toward the style of --target (training-free; labels untouched)."""
    from .style import adapt_folder, make_adapter

    adapter = make_adapter(method, target_dir, beta)
    info = adapt_folder(source, out, adapter, seed)
    click.echo(f"{info['images']} images adapted with {method} into {out}/images "
               f"({info['labels_copied']} labels copied unchanged; {info['targets']} target images)")
    if sheet:
        from .style import write_sheet

        click.echo(f"Contact sheet: {write_sheet(source, out, target_dir, sheet, seed)}")
