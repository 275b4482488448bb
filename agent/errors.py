"""The agent's one error type: the board could not be reached, refused the model, or misbehaved.

The agent stands alone (pyserial and the standard library), so it has its own error; tinyexp
turns it into its own DeviceError (tinyexp.core.errors) at the device boundary; the two names
differ so a reader always knows which side raised it.
"""


class BoardLinkError(Exception):
    """A failure at the serial link or on the board; the message is one actionable line."""
