"""`sonobench compare` and `sonobench rescore`: paired comparison of two results and
re-scoring of stored results from their stored predictions."""
from __future__ import annotations

import json

import click

from sonobench.kernel.clitools import db_option, handle_errors, pass_settings


@click.command()
@click.argument("a", type=int)
@click.argument("b", type=int)
@click.option("--metric", default=None, help="Compare on this metric (default: the task's primary metric).")
@click.option("--format", "fmt", type=click.Choice(["text", "json"]), default="text", show_default=True)
@db_option
@handle_errors
@pass_settings
def compare(a, b, metric, fmt, db_path, settings):
    """Compare submissions A and B case by case (one-sided Wilcoxon both ways, paired bootstrap CI)."""
    from sonobench.evaluator.ranking.compare import compare_results
    from sonobench.evaluator.store import ReadOnlyStore
    from sonobench.kernel.errors import SonoBenchError

    store = ReadOnlyStore(db_path)
    for sid in (a, b):  # a withdrawn result is gone from every reader, this one included
        row = store.submission(sid)
        if row and row.get("withdrawn_at"):
            raise SonoBenchError(f"Submission #{sid} was withdrawn by the operator; it cannot be compared. "
                                 "`sonobench leaderboard TASK` lists the results shown.")
    out = compare_results(store, a, b, metric, alpha=settings.ranking_alpha)
    if fmt == "json":
        click.echo(json.dumps(out, indent=2))
        return
    better = "higher" if out["higher_is_better"] else "lower"
    click.echo(f"#{a} vs #{b} on {out['task']} ({out['split']}, {out['n_cases']} shared cases), {out['metric']} "
               f"({better} is better)")
    click.echo(f"  mean {out['metric']}: #{a} {out['mean_a']:.4f}, #{b} {out['mean_b']:.4f}")
    click.echo(f"  paired mean difference (#{a} - #{b}): {out['mean_difference']:+.4f} "
               f"[{out['ci_low']:+.4f}, {out['ci_high']:+.4f}] (95% bootstrap CI, {out['resamples']} resamples, "
               f"seed {out['seed']})")
    click.echo(f"  one-sided Wilcoxon signed-rank p: #{a} better {out['p_a_better']:.3g}, "
               f"#{b} better {out['p_b_better']:.3g}")
    click.echo(f"  verdict at alpha = {out['alpha']} (this one pair, uncorrected): {out['verdict']}. The "
               "leaderboard's paired ranks Holm-correct over each model's tests against the better-mean models.")


@click.command()
@click.option("--task", "task_id", default=None, help="Only results of this task id.")
@click.option("--labels-root", type=click.Path(file_okay=False), default=None,
              help="Folder holding private test labels (default: $SONOBENCH_TEST_LABELS or the task folder).")
@db_option
@handle_errors
def rescore(task_id, labels_root, db_path):
    """Re-score stored results from their stored predictions (no model runs): results scored by an
    older evaluator follow today's policy, and metrics added since are filled."""
    from sonobench.evaluator import __version__
    from sonobench.evaluator.metrics import per_case_metrics
    from sonobench.evaluator.rescore import rescore as run
    from sonobench.evaluator.store import Store

    report = run(Store(db_path), task_id=task_id, labels_root=labels_root)
    for sid, metrics in report.policy:
        missing = [m for m in per_case_metrics() if m not in metrics]
        click.echo(f"#{sid}: re-scored under the evaluator {__version__} policy (a class absent from a case's "
                   "reference is not scored)" + (f"; {', '.join(missing)} stay missing (no stored predictions, or the task's labels are not here)"
                                                 if missing else ""))
    for sid, metrics in report.filled:
        click.echo(f"#{sid}: filled {', '.join(metrics)}")
    if report.up_to_date:
        click.echo(f"{len(report.up_to_date)} result(s) already up to date")
    for sid, why in report.skipped:
        click.echo(f"#{sid}: not re-scored: {why}")
    click.echo(f"re-scored {len(report.filled) + len(report.policy)}, up to date {len(report.up_to_date)}, "
               f"could not re-score {len(report.skipped)}")


COMMANDS = (compare, rescore,)  # added to `sonobench` by sonobench.cli
