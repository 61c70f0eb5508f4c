"""Named errors of the complexity counters."""
from sonobench.kernel.errors import SonoBenchError


class ComplexityError(SonoBenchError, ValueError):
    """Parameters or FLOPs cannot be counted (bad arguments, a graph whose shapes
    cannot be inferred, ...). The message says what to change."""
