"""Results store (SQLite via sqlite-utils)."""
from .db import METRIC_COLUMNS, ReadOnlyStore, Store, default_db_path

__all__ = ["Store", "ReadOnlyStore", "default_db_path", "METRIC_COLUMNS"]
