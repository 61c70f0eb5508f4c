"""Dataset adapters: turn a user's local copy of a public ultrasound dataset
(BUSI, BUSBRA, BUS-UC, BUS-UCLM, Yap2018, AbdomenUS, UltraBones100k, and the
US30K-style TN3K, DDTI, UDIAT, MMOTU2D folders) into a frozen SonoBench task
with a reproducible, leakage-checked split.

    from sonobench.adapters import import_dataset
    report = import_dataset("busi", "~/data/Dataset_BUSI_with_GT")
"""
from .catalog import ADAPTERS, UnknownAdapter, get_adapter
from .errors import CopyMismatch, LayoutError, NearDuplicateLeak, SplitListMismatch
from .importer import ImportOptionError, ImportReport, import_dataset

__all__ = ["ADAPTERS", "get_adapter", "import_dataset", "ImportReport", "LayoutError", "NearDuplicateLeak",
           "SplitListMismatch", "CopyMismatch", "UnknownAdapter", "ImportOptionError"]
