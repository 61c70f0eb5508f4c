"""Named exceptions of the dataset adapters (all SonoBenchError, so the CLI prints
`Error: ...` and exits 1)."""
from __future__ import annotations

from sonobench.kernel.errors import ManifestMismatch, SonoBenchError

SHOWN = 20  # problems quoted in one message; the rest are counted


def listing(items: list[str], shown: int = SHOWN) -> str:
    body = "\n".join(f"  - {p}" for p in items[:shown])
    more = f"\n  ... and {len(items) - shown} more" if len(items) > shown else ""
    return body + more


class LayoutError(SonoBenchError):
    """The user's copy does not have the layout the adapter expects (missing or
    malformed folders/files, unreadable images, masks of the wrong size...)."""

    def __init__(self, dataset: str, root, problems: list[str], hint: str = ""):
        self.problems = list(problems)
        head = f"{dataset} copy at {root}: {len(problems)} problem(s) found before importing anything:"
        tail = hint or "Fix these files (or restore them from the original download) and run the import again."
        super().__init__(f"{head}\n{listing(self.problems)}\n{tail}")


class NearDuplicateLeak(SonoBenchError):
    """Near-duplicate images sit in different splits: the test split would leak."""

    def __init__(self, pairs: list, total: int):
        self.pairs = list(pairs)
        lines = [p.describe() for p in pairs]
        super().__init__(
            f"{total} near-duplicate image pair(s) fall in different splits, so the test split would leak:\n"
            f"{listing(lines)}\n"
            "Remove one image of each pair from your copy, or pass --allow-duplicates to import anyway "
            "(the pairs are then recorded in the task's source information)."
        )


class SplitListMismatch(SonoBenchError):
    """Pinned split lists (splits/<task>/) do not cover exactly the files of this copy."""

    def __init__(self, where, missing: list[str], new: list[str]):
        self.missing, self.new = list(missing), list(new)
        parts = []
        if missing:
            parts.append(f"{len(missing)} file(s) listed in the pinned split are missing from this copy:\n{listing(missing)}")
        if new:
            parts.append(f"{len(new)} file(s) of this copy are in no pinned split list:\n{listing(new)}")
        super().__init__(
            f"This copy does not match the split pinned in {where}.\n" + "\n".join(parts) +
            "\nImport the same copy the split was made from, or import under a new --task-id to create a new split."
        )


class CopyMismatch(ManifestMismatch):
    """A re-import produced different content than the frozen task version."""

    def __init__(self, ref: str, folder, differences: list[str], cases=()):
        self.differences = list(differences)
        super().__init__(
            f"This copy differs from the one frozen as {ref} ({folder}), file by file:\n"
            f"{listing(self.differences, 40)}\n"
            "Nothing was changed. Restore the original files, or freeze this copy as a new task version "
            "(--version N) or under a new --task-id.",
            cases=cases,
        )
