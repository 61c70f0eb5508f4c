"""What the sandbox can see is decided by the bwrap command line: check it as data."""
from pathlib import Path

from sonobench.evaluator.sandbox import bwrap
from sonobench.evaluator.tasks import user_data_dir


def _binds(args):
    out = []
    for i, a in enumerate(args):
        if a in ("--ro-bind", "--dev-bind", "--bind"):
            out.append((a, args[i + 1], args[i + 2]))
    return out


def test_only_code_python_and_the_model_are_bound(tmp_path):
    args = bwrap.command(tmp_path / "model", as_root=True)
    binds = _binds(args)
    sources = [s for _, s, _ in binds]
    assert all(kind == "--ro-bind" for kind, _, _ in binds), "everything is read-only"
    assert ("--ro-bind", str(tmp_path / "model"), "/model") in binds
    repo = str(bwrap.REPO_ROOT)
    assert repo not in sources, "the repository root (splits/ with labels) must not be bound"
    assert repo + "/evaluator" in sources
    assert repo + "/baselines" not in sources, "training code stays out of the sandbox"
    for forbidden in (repo + "/splits", str(user_data_dir()), str(Path.home()), "/etc", "/home", "/root"):
        assert forbidden not in sources, forbidden
    assert not any(s.startswith(repo + "/splits") for s in sources)
    for flag in ("--unshare-pid", "--unshare-net", "--unshare-ipc", "--unshare-uts", "--die-with-parent",
                 "--new-session"):
        assert flag in args
    assert args[args.index("--tmpfs") - 1].isdigit() and args[args.index("--tmpfs") + 1] == "/tmp"
    assert args[-1] == "--"


def test_root_keeps_only_setuid_and_user_mode_uses_a_user_namespace(tmp_path):
    root = bwrap.command(tmp_path, as_root=True)
    i = root.index("--cap-drop")
    assert root[i:i + 6] == ["--cap-drop", "ALL", "--cap-add", "CAP_SETUID", "--cap-add", "CAP_SETGID"]
    assert "--unshare-user" not in root  # a user namespace would map the child to kernel uid 0
    user = bwrap.command(tmp_path, as_root=False)
    assert "--unshare-user" in user and "--disable-userns" in user and "--cap-add" not in user


def test_parent_directories_are_traversable(tmp_path):
    args = bwrap.command(tmp_path / "m", as_root=True)
    dirs = [args[i + 3] for i, a in enumerate(args) if a == "--perms" and args[i + 2] == "--dir"]
    for _, _, dest in _binds(args):
        parent = str(Path(dest).parent)
        if parent != "/" and not any(parent.startswith(s) for s in ("/usr",)):
            assert parent in dirs or any(d == parent for d in dirs), parent


def test_gpu_mode_binds_only_nvidia_device_nodes(tmp_path, monkeypatch):
    fake = {"/dev/nvidia[0-9]*": ["/dev/nvidia0", "/dev/nvidia1"], "/dev/nvidia-caps/*": []}
    monkeypatch.setattr(bwrap.glob, "glob", lambda pattern: fake.get(pattern, []))
    monkeypatch.setattr(bwrap.os.path, "exists", lambda p: p in ("/dev/nvidiactl", "/dev/nvidia-uvm") or
                        Path(p).exists())
    args = bwrap.command(tmp_path, gpu=True, as_root=True)
    devs = [(s, d) for kind, s, d in _binds(args) if kind == "--dev-bind"]
    assert sorted(s for s, _ in devs) == ["/dev/nvidia-uvm", "/dev/nvidia0", "/dev/nvidia1", "/dev/nvidiactl"]
    assert all(s == d for s, d in devs)
    assert not [b for b in _binds(bwrap.command(tmp_path, gpu=False, as_root=True)) if b[0] == "--dev-bind"]
