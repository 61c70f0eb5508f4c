"""`sqlite_utils`, imported without pandas.

sqlite-utils imports pandas at import time whenever it is installed, only to map
`pandas.Timestamp` to TEXT, a type the store never writes; pandas is installed
(for the app), and importing it cost ~0.15-0.25 s of every command's start, a
tenth of a light model's whole evaluation. So the first import of sqlite_utils
sees pandas as absent. Where pandas is already imported (the app), nothing is
changed.
"""
from __future__ import annotations

import sys

if "sqlite_utils" not in sys.modules and "pandas" not in sys.modules:
    sys.modules["pandas"] = None  # type: ignore[assignment]  # `import pandas` raises ImportError
    try:
        import sqlite_utils  # noqa: F401
    finally:
        del sys.modules["pandas"]

import sqlite_utils  # noqa: E402

__all__ = ["sqlite_utils"]
