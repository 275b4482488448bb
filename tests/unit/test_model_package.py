"""The model package: its arena runs the model in TFLM, its resolver registers exactly the model's
operators with TFLM's own method names, and its C++ compiles (host g++ and arm-none-eabi-g++,
against a stand-in of TFLM's API: TFLM's own headers are not on this machine)."""

from __future__ import annotations

import re
import shutil
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from tinyexp.core.config import QuantMode
from tinyexp.model.convert import convert
from tinyexp.tflm.c_array import to_c_array
from tinyexp.tflm.graph import read_graph
from tinyexp.tflm.package import (EXAMPLE_NAME, OPS_NAME, SETTINGS_NAME, ModelPackage, arena_margin_bytes,
                                  build_package)
from tinyexp.tflm.resolver import resolver_method
from tinyexp.tflm.runtime import TflmModel, check_support

METHODS_FILE = Path(__file__).parents[1] / "data" / "tflm" / "resolver_methods.txt"
FIRMWARE = Path(__file__).parents[2] / "firmware"


def _tflm_methods() -> list[tuple[str, str]]:
    rows = [line.split() for line in METHODS_FILE.read_text().splitlines() if line and not line.startswith("#")]
    return [(op, method) for op, method in rows]


def _keras_cnn():
    import keras

    inputs = keras.Input((8, 8, 1))
    x = keras.layers.Conv2D(4, 3, activation="relu")(inputs)
    x = keras.layers.MaxPooling2D(2)(x)
    x = keras.layers.Flatten()(x)
    return keras.Model(inputs, keras.layers.Dense(3, activation="softmax")(x))


def _keras_dense():
    import keras

    inputs = keras.Input((1,))
    x = keras.layers.Dense(8, activation="relu")(inputs)
    return keras.Model(inputs, keras.layers.Dense(1)(x))


_MODELS = {"cnn": (_keras_cnn, (8, 8, 1)), "dense": (_keras_dense, (1,))}


def _package(kind: str, mode: str) -> tuple[bytes, ModelPackage]:
    build, shape = _MODELS[kind]
    calibration = np.random.default_rng(0).normal(size=(64, *shape)).astype(np.float32)
    model = convert(build(), QuantMode(mode), True, calibration, batch_one=True)
    support = check_support(model)
    assert support.runs, support.reason
    return model, build_package(read_graph(model), to_c_array(model, f"{kind} {mode}"), support.arena_bytes,
                                f"{kind} {mode}")


@pytest.fixture(scope="module", params=[("cnn", "int8"), ("cnn", "int16x8"), ("dense", "float32")],
                ids=lambda p: f"{p[0]}-{p[1]}")
def packaged(request):
    return _package(*request.param)


def _header_value(package: ModelPackage, name: str) -> int:
    match = re.search(rf"constexpr unsigned int {name} = (\d+);", package.files[SETTINGS_NAME])
    assert match is not None, f"{name} not in {SETTINGS_NAME}"
    return int(match.group(1))


def test_resolver_rule_gives_tflm_own_method_names():
    pairs = _tflm_methods()
    assert len(pairs) > 80
    wrong = {op: (method, resolver_method(op)) for op, method in pairs if resolver_method(op) != method}
    assert not wrong


def test_custom_operator_is_refused_by_name():
    with pytest.raises(Exception, match="MyCustomOp.*AddCustom"):
        resolver_method("MyCustomOp")


def test_resolver_registers_every_operator_of_the_model_and_no_other(packaged):
    model, package = packaged
    called = re.findall(r"resolver\.(Add\w+)\(\)", package.files[OPS_NAME])
    operators = {op.type for op in read_graph(model).operators}
    assert sorted(called) == sorted({resolver_method(op) for op in operators})
    assert len(called) == len(set(called)) == _header_value(package, "kOperatorCount")
    assert set(called) <= {method for _, method in _tflm_methods()}


def test_header_arena_runs_the_model_and_below_the_need_is_refused(packaged, tmp_path):
    model, package = packaged
    required = _header_value(package, "kArenaRequiredBytes")
    margin = _header_value(package, "kArenaMarginBytes")
    assert margin == arena_margin_bytes(required) >= 1024
    assert "kArenaBytes = kArenaRequiredBytes + kArenaMarginBytes" in package.files[SETTINGS_NAME]
    for arena in (required + margin, required):
        tflm = TflmModel(model, arena)
        out = tflm.invoke(np.zeros(tflm.input_shape, dtype=tflm.input_dtype))
        assert out.size == int(np.prod(package.tensors[-1].shape))
    # Below TFLM's need: tried in a child process (the binding may crash rather than refuse).
    path = tmp_path / "model.tflite"
    path.write_bytes(model)
    below = required - 16
    child = subprocess.run([sys.executable, "-m", "tinyexp.tflm.probe", str(path), str(below), "16", str(below),
                            str(below - 16)],
                           capture_output=True, text=True, timeout=120)
    assert f"TRY {below}" in child.stdout and "OK" not in child.stdout


def test_io_description_matches_tflm(packaged):
    model, package = packaged
    tflm = TflmModel(model, package.arena_bytes)
    inp, out = package.tensors[0], package.tensors[-1]
    assert inp.shape == tflm.input_shape and inp.dtype == tflm.input_dtype.name
    assert out.dtype == tflm.output_dtype.name
    scale, zero_point = tflm.input_details["quantization_parameters"]["scales"], \
        tflm.input_details["quantization_parameters"]["zero_points"]
    if inp.quantised:
        assert inp.scale == pytest.approx(float(scale[0])) and inp.zero_point == int(zero_point[0])
        assert "std::lround(x / kInput0Scale) + kInput0ZeroPoint" in package.files[EXAMPLE_NAME]
    else:
        assert "return static_cast<Input0Type>(x);" in package.files[EXAMPLE_NAME]


def _stub_tflm(root: Path) -> Path:
    """A stand-in for the TFLM API the package uses, its resolver offering exactly TFLM's method
    list: a name the package calls that TFLM lacks fails to compile."""
    micro = root / "tensorflow" / "lite" / "micro"
    micro.mkdir(parents=True)
    (root / "tensorflow" / "lite" / "schema").mkdir()
    methods = "".join(f"  TfLiteStatus {m}() {{ return kTfLiteOk; }}\n" for _, m in _tflm_methods())
    (micro / "micro_mutable_op_resolver.h").write_text(
        "#pragma once\n#include <stdint.h>\n#include <stddef.h>\n"
        "enum TfLiteStatus { kTfLiteOk = 0, kTfLiteError = 1 };\n"
        "struct TfLiteTensor { union { void* raw; } data; };\n"
        "namespace tflite {\nstruct Model {};\ninline const Model* GetModel(const void*) { return nullptr; }\n"
        f"template <unsigned int tOpCount> class MicroMutableOpResolver {{\n public:\n{methods}}};\n"
        "class MicroInterpreter {\n public:\n  template <typename R>\n"
        "  MicroInterpreter(const Model*, R&, uint8_t*, size_t) {}\n"
        "  TfLiteStatus AllocateTensors() { return kTfLiteOk; }\n  TfLiteStatus Invoke() { return kTfLiteOk; }\n"
        "  TfLiteTensor* input(size_t) { return &t_; }\n  TfLiteTensor* output(size_t) { return &t_; }\n"
        " private:\n  TfLiteTensor t_;\n};\n}  // namespace tflite\n")
    (micro / "micro_interpreter.h").write_text('#pragma once\n#include "micro_mutable_op_resolver.h"\n')
    (root / "tensorflow" / "lite" / "schema" / "schema_generated.h").write_text("#pragma once\n")
    return root


_COMPILERS = {
    "g++": ["-std=c++11", "-Wall", "-Wextra", "-Werror"],
    # The firmware Makefile's Cortex-M4 flags (the Nano 33 BLE's core).
    "arm-none-eabi-g++": ["-std=c++11", "-mcpu=cortex-m4", "-mthumb", "-mfloat-abi=softfp", "-mfpu=fpv4-sp-d16",
                          "-fno-exceptions", "-fno-rtti", "-funsigned-char", "-Os", "-Wall", "-Wextra", "-Werror"],
}


@pytest.mark.parametrize("compiler", list(_COMPILERS))
def test_package_compiles(packaged, compiler, tmp_path):
    if shutil.which(compiler) is None:
        pytest.skip(f"{compiler} is not installed")
    _, package = packaged
    for name, text in package.files.items():
        (tmp_path / name).write_text(text)
    include = _stub_tflm(tmp_path / "stub")
    for source in (EXAMPLE_NAME, "model_data.cc"):
        result = subprocess.run([compiler, *_COMPILERS[compiler], "-I", str(include), "-I", str(tmp_path), "-c",
                                 str(tmp_path / source), "-o", str(tmp_path / f"{source}.o")],
                                capture_output=True, text=True, timeout=120)
        assert result.returncode == 0, result.stderr


def test_firmware_placeholders_declare_what_the_package_generates(packaged):
    """The sketch's placeholder headers and the generated ones declare the same names."""
    _, package = packaged
    for name in (SETTINGS_NAME, OPS_NAME):
        placeholder = (FIRMWARE / "tinyexp_firmware" / name).read_text()
        for declared in re.findall(r"(?:constexpr unsigned int|typedef [\w:<>]+|inline \w+) (\w+)", placeholder):
            assert declared in package.files[name], f"{declared} of the placeholder {name} is not generated"
    sketch = (FIRMWARE / "tinyexp_firmware" / "tinyexp_firmware.ino").read_text()
    assert "tinyexp_model::RegisterOps(resolver)" in sketch and "tinyexp_model::kArenaBytes" in sketch
    assert set(package.sketch_files()) == {"model_data.h", "model_data.cc", SETTINGS_NAME, OPS_NAME}


def test_sketch_copy_holds_the_package_and_the_repository_keeps_its_placeholders(packaged, tmp_path):
    from tinyexp.device.sketch import prepare_sketch

    _, package = packaged
    placeholder = (FIRMWARE / "tinyexp_firmware" / SETTINGS_NAME).read_text()
    sketch = prepare_sketch(FIRMWARE / "tinyexp_firmware", package.sketch_files(), tmp_path)
    for name, text in package.sketch_files().items():
        assert (sketch / name).read_text() == text
    assert not (sketch / EXAMPLE_NAME).exists()  # Arduino would compile a second RunModel into the sketch
    assert (FIRMWARE / "tinyexp_firmware" / SETTINGS_NAME).read_text() == placeholder
