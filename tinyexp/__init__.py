"""tinyexp: declarative experiments on neural networks for microcontrollers."""

__version__ = "0.1.0"
