"""The method-metadata options of `sonobench submit` (--description, --paper-url, --code-url,
--training-data, --pretraining-set): declared once here, merged over the submission.json's
values (a command-line value wins) and checked by evaluator/method.py like the file's."""
from __future__ import annotations

import click

from .method import FIELDS, TrainingData, check_method

_OPTIONS = (
    click.option("--description", "method_description", default=None, metavar="TEXT",
                 help=f"A short description of the method (at most {FIELDS['description']} characters)."),
    click.option("--paper-url", "method_paper_url", default=None, metavar="URL", help="Link to the paper (http/https)."),
    click.option("--code-url", "method_code_url", default=None, metavar="URL", help="Link to the code (http/https)."),
    click.option("--training-data", "method_training_data", default=None,
                 type=click.Choice([t.value for t in TrainingData]),
                 help="What the model was trained on: the task's train split only, plus a named pretraining set "
                 "(--pretraining-set), or plus external data. Boards can filter by it."),
    click.option("--pretraining-set", "method_pretraining_set", default=None, metavar="NAME",
                 help="The pretraining set's name, with --training-data pretraining."),
)


def options(f):
    """Add the method options to a command; they arrive as method_<field> keyword arguments."""
    for opt in reversed(_OPTIONS):
        f = opt(f)
    return f


def merge(spec: dict, given: dict) -> dict:
    """`spec` with the method options given on the command line over it (checked: InvalidSubmission
    naming the field)."""
    cli = {k[len("method_"):]: v for k, v in given.items() if k.startswith("method_") and v is not None}
    check_method(cli, where="command line: ")
    return {**spec, **cli}
