"""SonoBench evaluator: tasks, submissions, sandboxed scoring, results store."""

__version__ = "0.1.0"
