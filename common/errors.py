"""The one error type users see: a clear, one-line message, no TensorFlow stack trace."""


class UserError(ValueError):
    """Bad input or a bad request from the user. The command line prints it on one line."""


class WorkerLost(RuntimeError):
    """Training on several workers stopped because one of them was lost (killed, its
    machine down). Printed on one line; the run is kept, and starting every worker again
    with the same command resumes it."""
