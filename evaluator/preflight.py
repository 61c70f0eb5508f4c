"""`sonobench check`: tell a submitter every contract problem before a real submission.

Runs the same file checks as `submit`, reads the input/output shapes an ONNX
model declares (from the graph, in this process, never running it) and
compares them with the task's contract, then, when nothing blocks it, runs
two validation cases in the sandbox and checks their outputs. Nothing is
written to the store and no quota is charged. Problems are collected, not
raised one at a time, so a new user sees all of them at once.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

from sonobench.kernel import imageio
from sonobench.kernel.errors import InvalidSubmission, SonoBenchError
from sonobench.kernel.settings import Settings

from .sandbox import ModelProcess, SandboxConfig, isolation_for, policy, reports
from .submission import FileLimits, Format, Submission, prepare
from .tasks import Task

CHECK_CASES = 2


@dataclass
class Report:
    model: str
    task: str
    format: str | None = None
    problems: list[str] = field(default_factory=list)
    checked: list[str] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return not self.problems


def _export_advice(task: Task, c: int) -> str:
    h, w = task.input_size
    return (f"export it at the task's input size, e.g. torch.onnx.export(model, torch.zeros(1, {c}, {h}, {w}), "
            "'model.onnx', input_names=['image'], dynamic_axes={'image': {0: 'N', 2: 'H', 3: 'W'}}) "
            "(dynamic axes accept any size)")


def _dims(value_info) -> list:
    t = value_info.type.tensor_type
    if not t.HasField("shape"):
        return []
    return [d.dim_value if d.HasField("dim_value") else (d.dim_param or "?") for d in t.shape.dim]


def onnx_shape_problems(path: Path, task: Task) -> tuple[list[str], list[str]]:
    """(problems, what was checked) from the shapes the ONNX graph declares."""
    import onnx

    try:
        model = onnx.load(str(path), load_external_data=False)
    except Exception as e:  # protobuf's own errors
        return [f"the file is not a readable ONNX model ({type(e).__name__}); export it again"], []
    inits = {i.name for i in model.graph.initializer}
    inputs = [i for i in model.graph.input if i.name not in inits]
    h, w = task.input_size
    problems, checked = [], []
    if len(inputs) != 1:
        return [f"the model has {len(inputs)} inputs; it must take exactly one image tensor N x C x {h} x {w}"], []
    dims = _dims(inputs[0])
    checked.append(f"declared input {inputs[0].name}: {' x '.join(map(str, dims)) or 'no shape'}")
    if dims and len(dims) != 4:
        problems.append(f"the input has {len(dims)} dimensions; SonoBench feeds N x C x H x W = 1 x 1 x {h} x {w}")
    elif dims:
        c = dims[1] if isinstance(dims[1], int) and dims[1] in (1, 3) else 1
        if isinstance(dims[1], int) and dims[1] not in (1, 3):
            problems.append(f"the input declares {dims[1]} channels; SonoBench feeds 1 (grayscale) or 3 (repeated)")
        fixed = [d for d in dims[2:] if isinstance(d, int)]
        if fixed and tuple(d if isinstance(d, int) else s for d, s in zip(dims[2:], (h, w))) != (h, w):
            problems.append(f"the model is exported for {dims[2]} x {dims[3]} inputs, but task {task.ref} feeds "
                            f"{h} x {w} images; {_export_advice(task, c)}")
    allowed = imageio.expected_channels(task.num_classes)
    for out in model.graph.output[:1]:
        od = _dims(out)
        checked.append(f"declared output {out.name}: {' x '.join(map(str, od)) or 'no shape'}")
        if od and len(od) == 4 and isinstance(od[1], int) and od[1] not in allowed:
            problems.append(f"the output declares {od[1]} channels; task {task.ref} needs "
                            f"{' or '.join(map(str, allowed))} ({task.num_classes} classes)")
    return problems, checked


def contract_checks(task: Task, sub: Submission) -> tuple[list[str], list[str]]:
    """(problems, what was checked) found without running the model: what `check`, `submit` and
    the app's Evaluate all say first. "file checks passed" only once the file also parses."""
    problems, checked = [], []
    if sub.format is Format.ONNX:
        problems, checked = onnx_shape_problems(sub.path, task)
    unreadable = any(p.startswith("the file is not a readable") for p in problems)
    return problems, ([] if unreadable else [f"file checks passed: {sub.format.value}"]) + checked


def refusal(task: Task, sub: Submission) -> str | None:
    """The contract problems as one actionable message (the text `check` prints), or None."""
    problems, _ = contract_checks(task, sub)
    if not problems:
        return None
    return (f"{sub.path.name} is not ready for {task.ref}: " + "; ".join(problems)
            + f". (`sonobench check {sub.path.name} --task {task.ref}` lists every problem.)")


def _sandbox_cases(sub: Submission, task: Task, config: SandboxConfig, iso) -> tuple[list[str], list[str]]:
    problems, checked = [], []
    cases = task.split("val")[:CHECK_CASES] or task.split("train")[:CHECK_CASES]
    max_bytes = task.num_classes * task.input_size[0] * task.input_size[1] * 8
    with ModelProcess(sub.files, sub.format.value, config, sub.architecture, isolation=iso) as proc:
        loaded = proc.load(task.input_size, complexity=False)
        channels = loaded["channels"]
        checked.append(f"loaded in the sandbox ({iso.mode}); it takes {channels} input channel(s)")
        if loaded.get("output"):
            checked.append(f"note: {loaded['output']}")
        for case in cases:
            image = imageio.load_gray(task.image_path(case))
            resp, y = proc.request({"op": "infer", "case": case.id}, imageio.to_input(image, task.input_size, channels),
                                   max_bytes=max_bytes)
            if not reports.check_ok(resp, "inference"):
                problems.append(f"case {case.id}: the model failed: {proc.model_error(resp)}")
                break
            try:
                imageio.check_output(y, task.num_classes, task.input_size)
                checked.append(f"case {case.id} ({case.split}): output {'x'.join(map(str, y.shape))} is valid")
            except InvalidSubmission as e:
                problems.append(f"case {case.id}: {e}")
    return problems, checked


def preflight(task: Task, path, *, spec: dict | None = None, name=None, architecture=None, output=None,
              settings: Settings, config: SandboxConfig) -> Report:
    """Every problem `submit` would meet, found without storing anything."""
    path = Path(path)
    rep = Report(model=path.name, task=task.ref)
    try:
        sub = prepare(path, spec, name=name, architecture=architecture, output=output,
                      limits=FileLimits.from_settings(settings))
    except InvalidSubmission as e:
        rep.problems.append(str(e))
        return rep
    rep.format = sub.format.value
    problems, checked = contract_checks(task, sub)
    rep.problems += problems
    rep.checked += checked
    try:
        iso = isolation_for("bwrap" if settings.require_isolation == "bwrap" else config.isolation)
    except SonoBenchError as e:
        rep.problems.append(str(e))
        return rep
    why = policy.refusal(sub.format.value, iso.mode, allow_pickle=config.allow_pickle,
                         why_no_bwrap=iso.why_not_bwrap, embedded_code=sub.code_globals)
    if why:
        rep.problems.append(why)
    if rep.problems:  # the sandbox run would only repeat a known problem in rawer words
        return rep
    try:
        problems, checked = _sandbox_cases(sub, task, config, iso)
    except SonoBenchError as e:
        problems, checked = [str(e)], []
    rep.problems += problems
    rep.checked += checked
    return rep
