"""The one error type a stage raises when it cannot proceed.

Every stage raises :class:`TinyexpError` with a message a user can act on; the runner and
the command line turn it into a one-line message and a non-zero exit, and the tracking sink
records it on the MLflow run before marking the run FAILED. :func:`first_line` is how a
multi-line report from a tool below tinyexp becomes such a one-line message.
"""


def first_line(text: str) -> str:
    """The first line of a (possibly multi-line) message once surrounding whitespace is
    removed; "" if nothing is left.

    Tools below tinyexp (MLflow, the TF converter, arduino-cli) raise or print multi-line
    reports; a TinyexpError message and an MLflow tag keep only their first line.
    """
    text = text.strip()
    return text.splitlines()[0] if text else ""


class TinyexpError(Exception):
    """A failure the user can act on; the message is shown as is, on one line."""


class ConfigError(TinyexpError):
    """The configuration is invalid; raised before any work is done."""


class DeviceError(TinyexpError):
    """The board (real or virtual) could not be reached, refused the model, or misbehaved."""


class DivergenceError(TinyexpError):
    """Training or the converted model produced non-finite numbers: a result that must end
    the job FAILED, never be measured or reported as a model."""
