"""Results store (SQLite via sqlite-utils)."""
from .db import ReadOnlyStore, Store, default_db_path

__all__ = ["Store", "ReadOnlyStore", "default_db_path"]
