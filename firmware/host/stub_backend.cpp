#include "stub_backend.h"

#include <string.h>

namespace txp {

StubBackend::StubBackend()
    : state_(MODEL_READY), dtype_(DTYPE_FLOAT32), invoke_fails_(false), rng_(12345u) {
  identity_.board = "host_stub";
  identity_.mcu = "none";
  identity_.clock_hz = 64000000u;
  identity_.tflm = "none";
  identity_.compiler = "none";
  identity_.timer = "estimate";
  identity_.latency_source = "estimate";
  memset(in_bits_, 0, sizeof(in_bits_));
  memset(in_q_, 0, sizeof(in_q_));
  memset(out_bits_, 0, sizeof(out_bits_));
  memset(out_q_, 0, sizeof(out_q_));
}

bool StubBackend::configure(const char* d) {
  if (strcmp(d, "model=float32") == 0) {
    state_ = MODEL_READY;
    dtype_ = DTYPE_FLOAT32;
  } else if (strcmp(d, "model=int8") == 0) {
    state_ = MODEL_READY;
    dtype_ = DTYPE_INT8;
  } else if (strcmp(d, "model=none") == 0) {
    state_ = MODEL_NONE;
  } else if (strcmp(d, "model=refused") == 0) {
    state_ = MODEL_REFUSED;
  } else if (strcmp(d, "invoke=fail") == 0) {
    invoke_fails_ = true;
  } else {
    return false;
  }
  return true;
}

const Identity& StubBackend::identity() { return identity_; }

ModelState StubBackend::model_state(const char** reason) {
  *reason = "AllocateTensors() failed: arena too small (stub)";
  return state_;
}

ModelInfo StubBackend::model_info() {
  ModelInfo m;
  m.model_bytes = 2656;
  m.model_crc32 = 0x1234abcdu;
  m.arena_bytes = 16384;
  m.arena_used_bytes = 1408;
  m.in_dtype = dtype_;
  m.in_len = kLen;
  m.out_dtype = dtype_;
  m.out_len = kLen;
  return m;
}

void StubBackend::set_input_f32(uint32_t index, uint32_t bits) { in_bits_[index] = bits; }

void StubBackend::set_input_i8(uint32_t index, int8_t value) { in_q_[index] = value; }

bool StubBackend::invoke(Timing* timing) {
  if (invoke_fails_) return false;
  for (uint32_t i = 0; i < kLen; ++i) {
    float x;
    memcpy(&x, &in_bits_[i], sizeof(x));
    float y = 2.0f * x + 1.0f;  // exact in IEEE-754 for the small values tests use
    memcpy(&out_bits_[i], &y, sizeof(y));
    out_q_[i] = static_cast<int8_t>(in_q_[i] / 2);
  }
  // A linear congruential generator: timings look noisy but repeat exactly.
  rng_ = rng_ * 1103515245u + 12345u;
  timing->us = 500u + (rng_ >> 16) % 100u;
  timing->cycles = timing->us * 64u;
  timing->has_cycles = true;
  return true;
}

uint32_t StubBackend::output_f32(uint32_t index) { return out_bits_[index]; }

int8_t StubBackend::output_i8(uint32_t index) { return out_q_[index]; }

}  // namespace txp
