"""The C array compiles as C++ and carries the model's exact bytes, length and CRC-32."""

from __future__ import annotations

import shutil
import subprocess
import zlib
from pathlib import Path

import pytest

from tinyexp.tflm.c_array import to_c_array

CHECK_PROGRAM = r"""
#include <cstdint>
#include <cstdio>
#include "model_data.h"
static uint32_t crc32(const unsigned char* p, unsigned n) {
  uint32_t c = 0xFFFFFFFFu;
  for (unsigned i = 0; i < n; ++i) { c ^= p[i]; for (int k = 0; k < 8; ++k) c = (c >> 1) ^ (0xEDB88320u & -(c & 1u)); }
  return ~c;
}
int main() {
  std::printf("%u %08lx %08lx %lu\n", g_model_len, (unsigned long)crc32(g_model, g_model_len),
              g_model_crc32, (unsigned long)((uintptr_t)g_model % 16));
  return 0;
}
"""


def test_header_and_source_declare_the_model():
    data = bytes(range(256)) * 3 + b"\x01"
    arr = to_c_array(data, "test model")
    assert arr.length == len(data)
    assert arr.crc32 == zlib.crc32(data)
    assert "alignas(16) const unsigned char g_model[]" in arr.source
    assert f"g_model_len = {len(data)};" in arr.source
    assert "extern const unsigned long g_model_crc32;" in arr.header


def test_empty_model_is_refused():
    with pytest.raises(ValueError):
        to_c_array(b"", "empty")


@pytest.mark.skipif(shutil.which("g++") is None, reason="g++ is not installed")
def test_c_array_compiles_and_matches_bytes(tmp_path: Path):
    data = bytes((i * 37 + 11) % 256 for i in range(5000))
    for name, text in to_c_array(data, "compile check").files().items():
        (tmp_path / name).write_text(text)
    (tmp_path / "main.cc").write_text(CHECK_PROGRAM)
    exe = tmp_path / "check"
    subprocess.run(["g++", "-std=c++11", "-Wall", "-Werror", "-o", str(exe), str(tmp_path / "main.cc"),
                    str(tmp_path / "model_data.cc")], check=True, cwd=tmp_path, timeout=120)
    length, crc_computed, crc_declared, misalign = subprocess.run(
        [str(exe)], capture_output=True, text=True, check=True, timeout=30).stdout.split()
    assert int(length) == len(data)
    assert int(crc_computed, 16) == zlib.crc32(data) == int(crc_declared, 16)
    assert misalign == "0"
