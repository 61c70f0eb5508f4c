"""`sonobench tasks restore TASK@N`: bring an archived task version back from this repository's
own git history (see `task_archive` for what an archived version is), checked against its frozen
manifest before anything moves. Here, above `tasks` (it loads and verifies what it restores);
`task_archive` below it only reads an archive's record and says how to restore."""
from __future__ import annotations

import os
import shutil
import subprocess
import tarfile
from pathlib import Path

from .task_archive import ARCHIVE_NAME, TaskArchived, default_destination, restore_command
from .tasks import load_task_folder, verify_task


def _git(repo: Path, *args: str, **kw) -> subprocess.CompletedProcess:
    try:
        return subprocess.run(["git", "-C", str(repo), *args], capture_output=True, **kw)
    except FileNotFoundError:
        raise TaskArchived("Restoring an archived task needs `git` on PATH (apt install git).") from None


def _repository(task) -> Path:
    out = _git(task.folder, "rev-parse", "--show-toplevel", text=True)
    if out.returncode != 0:
        raise TaskArchived(
            f"{task.ref} is archived in the git history of the SonoBench repository, but {task.folder} is not "
            "inside a git checkout (an installed package or an exported copy). Clone the repository "
            f"(a full clone, not --depth) and run `{restore_command(task.ref)}` there.")
    return Path(out.stdout.strip())


def _extract(tar: tarfile.TarFile, work: Path) -> None:
    """Regular files and folders only, inside `work` (tarfile's "data" filter where this Python
    has it, 3.10.12+/3.11.4+; else the same checks by hand)."""
    if hasattr(tarfile, "data_filter"):
        tar.extractall(work, filter="data")
        return
    for member in tar:
        parts = Path(member.name).parts
        if member.name.startswith("/") or ".." in parts or not (member.isfile() or member.isdir()):
            raise TaskArchived(f"the archive holds an unexpected entry {member.name!r}; nothing was restored")
        tar.extract(member, work)


def restore(task, dest: Path | None = None, log=print):
    """Bring an archived task version back from git history; returns the restored Task.

    Refuses (and leaves nothing behind) when the history lacks the commit, when the commit's
    folder freezes another manifest, or when any file differs from the manifest."""
    if not task.archive and Path(task.folder).resolve() == default_destination(task).resolve():
        verify_task(task)
        log(f"{task.ref} is already restored at {task.folder} (all {len(task.cases)} cases match the manifest).")
        return task
    if not task.archive:
        raise TaskArchived(f"{task.ref} is not archived (its folder {task.folder} has no {ARCHIVE_NAME}); nothing to restore.")
    dest = Path(dest) if dest else default_destination(task)
    if (dest / "task.json").is_file():
        done = load_task_folder(dest)
        if done.digest != task.digest:
            raise TaskArchived(f"{dest} already holds {done.ref} with another manifest ({done.digest[:12]}…, "
                               f"not {task.digest[:12]}…); move it aside and rerun.")
        verify_task(done)
        log(f"{task.ref} is already restored at {dest} (all {len(done.cases)} cases match the manifest).")
        return done
    repo = _repository(task)
    commit, rel = task.archive["commit"], task.archive["path"].rstrip("/")
    if _git(repo, "cat-file", "-e", f"{commit}^{{commit}}").returncode != 0:
        raise TaskArchived(
            f"Commit {commit[:12]} (which holds {task.ref}'s files) is not in this clone's history "
            f"({repo}). Fetch it (`git fetch --unshallow`, or clone without --depth) and rerun.")
    dest.parent.mkdir(parents=True, exist_ok=True)
    work = dest.parent / f".{dest.name}.restoring-{os.getpid()}"
    shutil.rmtree(work, ignore_errors=True)
    work.mkdir()
    try:
        log(f"Restoring {task.ref} from commit {commit[:12]} ({rel}) ...")
        proc = subprocess.Popen(["git", "-C", str(repo), "archive", "--format=tar", commit, "--", rel],
                                stdout=subprocess.PIPE, stderr=subprocess.PIPE)
        with tarfile.open(fileobj=proc.stdout, mode="r|") as tar:
            _extract(tar, work)
        err = proc.stderr.read().decode(errors="replace").strip()
        if proc.wait() != 0:
            raise TaskArchived(f"`git archive {commit[:12]} -- {rel}` failed: {err or 'no output'}")
        got = work / rel
        if not (got / "task.json").is_file():
            raise TaskArchived(f"Commit {commit[:12]} has no task folder at {rel}; {task.folder / ARCHIVE_NAME} names the wrong place.")
        (got / ARCHIVE_NAME).unlink(missing_ok=True)
        restored = load_task_folder(got)
        if (restored.id, restored.version, restored.digest) != (task.id, task.version, task.digest):
            raise TaskArchived(f"Commit {commit[:12]} holds {restored.ref} with manifest {restored.digest[:12]}…, "
                               f"not the {task.ref} frozen here ({task.digest[:12]}…); nothing was restored.")
        verify_task(restored)
        got.rename(dest)
    finally:
        shutil.rmtree(work, ignore_errors=True)
    done = load_task_folder(dest)
    log(f"Restored {done.ref} to {dest}: all {len(done.cases)} cases match the manifest (digest {done.digest[:12]}).")
    return done
