"""What TFLM runs: the flatbuffer's contents, the interpreter, per-operator analysis."""
