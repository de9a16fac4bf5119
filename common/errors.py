"""The one error type users see: a clear, one-line message, no TensorFlow stack trace."""


class UserError(ValueError):
    """Bad input or a bad request from the user. The command line prints it on one line."""
