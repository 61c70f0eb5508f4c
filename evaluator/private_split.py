"""A task's private (hidden) test split, loaded: above `tasks` and `private` (which `tasks` itself
uses to find a private split by name), so neither of those imports the other."""
from __future__ import annotations

from sonobench.kernel.errors import SonoBenchError

from .private import folder_for, is_private
from .tasks import load_task_folder


def split_of(task):
    """The private split of `task` (a Task), or None; one that belongs to another version of
    the task (its task.json `private_of`) is refused loudly rather than scored."""
    if task.parent or task.corruption or is_private(task):
        return None
    folder = folder_for(task.id, task.version)
    if not (folder / "manifest.json").is_file():
        return None
    split = load_task_folder(folder)
    if split.source.get("private_of") != task.ref:
        raise SonoBenchError(f"The private split in {folder} belongs to {split.source.get('private_of')}, not "
                             f"{task.ref}; make this version its own with `sonobench private make {task.ref}`.")
    return split
