"""Archived task versions: frozen tasks whose files left the checkout but stay loadable.

The repository's tracked tree has a data budget (it must fit the 64 MiB the GPU machine's
transfer carries), so when a task gets a new version its old version's files may leave
`splits/`. Its folder keeps `task.json`, `manifest.json` and `README.md`, so the version still
loads (its cases, digest and committed reference results), plus `archive.json`::

    {"format": 1, "commit": "<40 hex digits>", "path": "splits/sim-breast-lesion/v1",
     "bytes": 14147137, "reason": "..."}

naming the commit of this repository whose tree still holds the whole version folder.
`task_restore.restore` (`sonobench tasks restore TASK@N`) takes that folder out of the repository's own git
history (no network), checks its manifest is the one frozen here and every file against its
SHA-256, and only then moves it into the user's data dir (`<data dir>/tasks/<id>/v<N>`), which
comes before the repository's `splits/` on the task search path. Nothing in the checkout
changes. Until then, anything that needs the files (scoring, training, `tasks verify`) stops
with `TaskArchived`, which says the command to run.
"""
from __future__ import annotations

import json
import re
from pathlib import Path

from sonobench.kernel.errors import SonoBenchError

ARCHIVE_NAME = "archive.json"
ARCHIVE_FORMAT = 1
_COMMIT = re.compile(r"^[0-9a-f]{40}$")


class TaskArchived(SonoBenchError):
    """A task version whose files are archived in git history and not restored here."""


class InvalidArchive(SonoBenchError):
    """archive.json that cannot be used."""


def read_archive(folder: Path) -> dict:
    """The folder's archive.json, checked ({} when the folder has none)."""
    path = Path(folder) / ARCHIVE_NAME
    if not path.is_file():
        return {}
    try:
        info = json.loads(path.read_text())
    except json.JSONDecodeError as e:
        raise InvalidArchive(f"{path} is not valid JSON ({e}); restore it from version control") from None
    if not isinstance(info, dict) or info.get("format") != ARCHIVE_FORMAT:
        raise InvalidArchive(f"{path}: expected a format-{ARCHIVE_FORMAT} archive record")
    if not _COMMIT.match(str(info.get("commit", ""))):
        raise InvalidArchive(f"{path}: 'commit' must be a full 40-digit git commit id, got {info.get('commit')!r}")
    rel = str(info.get("path", ""))
    if not rel or rel.startswith(("/", "-")) or ".." in Path(rel).parts:
        raise InvalidArchive(f"{path}: 'path' must be the folder's path inside the repository, got {rel!r}")
    return info


def restore_command(ref: str) -> str:
    return f"sonobench tasks restore {ref}"


def archived_message(task) -> str:
    size = task.archive.get("bytes")
    size = f" (~{size / 1e6:.0f} MB)" if isinstance(size, int) else ""
    return (f"{task.ref}'s images and labels are archived: they are not in this checkout "
            f"({task.archive.get('reason') or 'the repository keeps only the current version of its data'}). "
            f"`{restore_command(task.ref)}` brings them back{size} from this repository's git history "
            f"into {default_destination(task)}, checked against the frozen manifest; then rerun this command.")


def default_destination(task) -> Path:
    from sonobench.kernel.paths import user_data_dir

    return user_data_dir() / "tasks" / task.id / f"v{task.version}"
