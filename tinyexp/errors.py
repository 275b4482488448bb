"""The one error type a stage raises when it cannot proceed.

Every stage raises :class:`TinyexpError` with a message a user can act on; the runner and
the command line turn it into a one-line message and a non-zero exit, and the tracking sink
records it on the MLflow run before marking the run FAILED.
"""


class TinyexpError(Exception):
    """A failure the user can act on; the message is shown as is, on one line."""


class ConfigError(TinyexpError):
    """The configuration is invalid; raised before any work is done."""


class DeviceError(TinyexpError):
    """The board (real or virtual) could not be reached, refused the model, or misbehaved."""
