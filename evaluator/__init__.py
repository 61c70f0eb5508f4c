"""SonoBench evaluator: tasks, submissions, sandboxed scoring, results store."""

__version__ = "0.2.0"  # 0.2.0: the class-absent policy and multi-tolerance surface metrics (evaluator/rescore.py)
