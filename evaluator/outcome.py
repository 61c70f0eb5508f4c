"""What an intake answers: the outcome of one submission (scored, queued, or a repeat not scored
twice). Its own module so the intake and the scorers it hands work to (prediction files) both
use it without importing each other."""
from __future__ import annotations

from dataclasses import dataclass, field

from .tasks import Task

SCORED = "Scored"
QUEUED = "Queued"
ALREADY_SCORED = "Already scored (not scored twice)"
ALREADY_SUBMITTED = "Already submitted (not scored twice)"


@dataclass
class IntakeOutcome:
    task: Task
    name: str
    status: str                          # SCORED | QUEUED | ALREADY_SCORED | ALREADY_SUBMITTED
    submission_id: int | None
    result: dict | None = None
    job_id: int | None = None
    shifts: list = field(default_factory=list)   # follow_ups.ShiftOutcome per follow-up set
    predictions: bool = False
