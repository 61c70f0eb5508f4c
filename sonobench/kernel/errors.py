"""Named exceptions. The library raises these; only the CLI and the app turn them
into user-facing messages."""


class SonoBenchError(Exception):
    """Base class: every message says what happened and what to do."""


class UnknownName(SonoBenchError, KeyError):
    """A registry lookup failed; the message lists the valid names."""

    def __str__(self):  # KeyError would otherwise quote the message
        return str(self.args[0]) if self.args else ""


class TaskNotFound(UnknownName):
    pass


class ManifestMismatch(SonoBenchError):
    """Files on disk do not match the frozen manifest."""

    def __init__(self, message, cases=()):
        super().__init__(message)
        self.cases = list(cases)


class InvalidTaskSpec(SonoBenchError):
    pass


class InvalidSubmission(SonoBenchError):
    """The submitted file cannot be accepted (format, I/O contract, size...)."""


class SandboxFailure(SonoBenchError):
    """The model failed inside the sandbox (crash, timeout, limit, bad output)."""


class AlreadyScored(SonoBenchError):
    def __init__(self, message, submission_id=None):
        super().__init__(message)
        self.submission_id = submission_id


class StoreError(SonoBenchError):
    pass


class EvaluationStopped(SonoBenchError):
    """An evaluation was stopped from outside (a lost lease, a cancel): nothing is recorded for it."""
