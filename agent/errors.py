"""The agent's one error type: the board could not be reached, refused the model, or misbehaved.

The agent stands alone (pyserial and the standard library), so it has its own error; tinyexp
turns it into its own DeviceError at the device boundary.
"""


class DeviceError(Exception):
    """A failure at the serial link or on the board; the message is one actionable line."""
