"""Method metadata of a submission: a short description, a paper and a code link, and the
training data the model saw (the task's train split only, plus a named pretraining set, or
plus external data), as Papers-with-Code-style boards show on every row.

One home for the fields (`FIELDS`), their limits and their validation: `submission.json`, the
CLI options of `sonobench submit` and the app's upload form all pass through `check_method`,
which returns a `Method` or raises InvalidSubmission naming the field and what to do. Links
are http/https only, with a host and no credentials; texts have length caps and no control
characters. Stored values are shown as plain text and safe links by the readers (the app
escapes them; `link_or_none` decides what may become a link).

References and floors carry their own (`reference_method`): trained or built from the task's
train split only, their code a path inside this repository.
"""
from __future__ import annotations

import enum
from dataclasses import asdict, dataclass
from urllib.parse import urlsplit

from sonobench.kernel.errors import InvalidSubmission
from sonobench.kernel.registry import did_you_mean


class TrainingData(str, enum.Enum):
    TRAIN_ONLY = "train-only"      # the task's train (and val) split, nothing else
    PRETRAINING = "pretraining"    # plus a named pretraining set (e.g. a simulated one)
    EXTERNAL = "external"          # plus other data (public datasets, private data, ...)

    @property
    def label(self) -> str:
        return TRAINING_DATA_LABELS[self]


TRAINING_DATA_LABELS = {
    TrainingData.TRAIN_ONLY: "the task's train split only",
    TrainingData.PRETRAINING: "train split + a named pretraining set",
    TrainingData.EXTERNAL: "train split + external data",
}
NOT_STATED = "not stated"  # a row stored without the field (older rows, or a submitter who left it out)

# spec key -> maximum length; the one list of method fields (spec keys, store columns, CLI options)
FIELDS = {"description": 1000, "paper_url": 500, "code_url": 500, "training_data": 20, "pretraining_set": 100}
URL_FIELDS = ("paper_url", "code_url")


@dataclass(frozen=True)
class Method:
    description: str | None = None
    paper_url: str | None = None
    code_url: str | None = None
    training_data: str | None = None    # a TrainingData value, or None: not stated
    pretraining_set: str | None = None  # only with training_data == "pretraining"

    def to_json(self) -> dict:
        return asdict(self)

    @property
    def empty(self) -> bool:
        return not any(asdict(self).values())


def _text(value, key: str, where: str, *, newlines: bool = False) -> str | None:
    if value is None:
        return None
    if not isinstance(value, str):
        raise InvalidSubmission(f"{where}'{key}' must be a text, got a JSON {type(value).__name__}")
    value = value.strip()
    if len(value) > FIELDS[key]:
        raise InvalidSubmission(f"{where}'{key}' is {len(value)} characters long; the limit is {FIELDS[key]}. "
                                "Shorten it (link the paper for the details).")
    allowed = "\n" if newlines else ""
    bad = next((ch for ch in value if not ch.isprintable() and ch not in allowed), None)
    if bad is not None:
        raise InvalidSubmission(f"{where}'{key}' contains the control or format character U+{ord(bad):04X}; "
                                "write plain text" + (" (line breaks are allowed)" if newlines else ""))
    return value or None


def check_url(value, key: str, where: str = "") -> str | None:
    """An http(s) link with a host, no credentials, no spaces; None when absent."""
    value = _text(value, key, where)
    if value is None:
        return None
    try:
        parts = urlsplit(value)
        port_ok = parts.port is None or parts.port > 0
    except ValueError:
        parts, port_ok = None, False
    if parts is None or parts.scheme.lower() not in ("http", "https") or not parts.hostname or not port_ok:
        raise InvalidSubmission(f"{where}'{key}' must be an http:// or https:// link with a host, such as "
                                f"https://arxiv.org/abs/2501.00001; got {value[:80]!r}")
    if " " in value or "\\" in value:
        raise InvalidSubmission(f"{where}'{key}' contains a space or a backslash; percent-encode it (%20)")
    if parts.username is not None or parts.password is not None:
        raise InvalidSubmission(f"{where}'{key}' carries a user name or password (user@host); link the public page")
    return value


def parse_training_data(value, where: str = "") -> str | None:
    value = _text(value, "training_data", where)
    if value is None:
        return None
    try:
        return TrainingData(value.lower()).value
    except ValueError:
        valid = [t.value for t in TrainingData]
        raise InvalidSubmission(f"{where}'training_data' must be one of {', '.join(valid)}, got {value!r}."
                                f"{did_you_mean(value, valid)}") from None


def check_method(spec: dict, where: str = "") -> Method:
    """The method fields of a submission.json (or of the CLI options / upload form merged into
    one); InvalidSubmission naming the first bad field."""
    training = parse_training_data(spec.get("training_data"), where)
    pretraining = _text(spec.get("pretraining_set"), "pretraining_set", where)
    if training == TrainingData.PRETRAINING.value and not pretraining:
        raise InvalidSubmission(f"{where}'training_data' is 'pretraining': name the pretraining set in "
                                "'pretraining_set' (--pretraining-set), e.g. 'sim-breast-pretrain@1'")
    if pretraining and training != TrainingData.PRETRAINING.value:
        raise InvalidSubmission(f"{where}'pretraining_set' is given but 'training_data' is "
                                f"{training or 'not stated'}; set 'training_data' to 'pretraining' or drop the name")
    return Method(description=_text(spec.get("description"), "description", where, newlines=True),
                  paper_url=check_url(spec.get("paper_url"), "paper_url", where),
                  code_url=check_url(spec.get("code_url"), "code_url", where),
                  training_data=training, pretraining_set=pretraining)


def link_or_none(value) -> str | None:
    """`value` when it is a link a reader may render as one (http/https, as `check_url` accepts);
    None otherwise (a repository path of a reference, or anything a damaged row holds)."""
    try:
        return check_url(value, "code_url") if isinstance(value, str) else None
    except InvalidSubmission:
        return None


# What references and floors carry: built from the train split only; their code in this repository.
REFERENCE_CODE = {"baseline": "baselines/training in this repository (sonobench baselines run)",
                  "floor": "baselines/floors.py in this repository (sonobench baselines floors)"}


def reference_method(kind: str, meta: dict | None = None) -> Method | None:
    """The method of a reference ('baseline') or floor row; None for a submission. A reference
    pretrained on a pretraining set (`baselines run --pretrain SET`, recorded in its meta's
    training history) names that set; every other reference used the train split only."""
    if kind not in REFERENCE_CODE:
        return None
    what = ("A SonoBench reference model trained by the project's recipe." if kind == "baseline"
            else "A no-skill floor: an input-independent model built from the train split.")
    pretraining = ((meta or {}).get("training") or {}).get("pretraining") or {}
    name = pretraining.get("set") if isinstance(pretraining, dict) else None
    if isinstance(name, str) and name:
        return Method(description=what, code_url=REFERENCE_CODE[kind], training_data=TrainingData.PRETRAINING.value,
                      pretraining_set=name[:FIELDS["pretraining_set"]])
    return Method(description=what, code_url=REFERENCE_CODE[kind], training_data=TrainingData.TRAIN_ONLY.value)


def training_data_text(row: dict) -> str:
    """'train split + a named pretraining set (sim-pre@1)' etc., or 'not stated'."""
    value = row.get("training_data")
    try:
        text = TrainingData(value).label
    except ValueError:
        return NOT_STATED
    return f"{text} ({row['pretraining_set']})" if row.get("pretraining_set") else text


def method_of(row: dict) -> dict:
    """The method fields of a stored row (a submission or a board row), as JSON shows them."""
    return {k: row.get(k) for k in FIELDS}
