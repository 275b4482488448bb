#include "stub_backend.h"

#include <stdlib.h>
#include <string.h>

namespace txp {

namespace {

// PROF's default table: the operators of a 1-16-16-1 int8 net with float I/O,
// with made-up but fixed ticks (1 tick = 1 us by default, as the Arduino TFLM
// build counts). "# stub: ops=..." replaces it.
const char kDefaultOps[] = "QUANTIZE:14,FULLY_CONNECTED:61,FULLY_CONNECTED:113,FULLY_CONNECTED:38,DEQUANTIZE:11";
const uint32_t kStubTicksPerS = 1000000u;
const uint32_t kStubCyclesPerTick = 64u;     // 64 MHz
const uint32_t kStubInvokeOverheadUs = 23u;  // Invoke() beyond its operators

}  // namespace

StubBackend::StubBackend()
    : state_(MODEL_READY),
      dtype_(DTYPE_FLOAT32),
      invoke_fails_(false),
      prof_none_(false),
      prof_overflow_(false),
      has_cycles_(true),
      ticks_per_s_(kStubTicksPerS),
      n_ops_(0),
      rng_(12345u) {
  set_ops(kDefaultOps);
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
  } else if (strncmp(d, "ops=", 4) == 0) {
    return set_ops(d + 4);
  } else if (strcmp(d, "prof=none") == 0) {
    prof_none_ = true;
  } else if (strcmp(d, "prof=overflow") == 0) {
    prof_overflow_ = true;
  } else if (strcmp(d, "cycles=none") == 0) {
    has_cycles_ = false;
  } else if (strncmp(d, "ticks_per_s=", 12) == 0) {
    char* end = 0;
    const unsigned long rate = strtoul(d + 12, &end, 10);
    if (end == d + 12 || *end != '\0' || rate > 0xffffffffUL) return false;
    ticks_per_s_ = static_cast<uint32_t>(rate);
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
  timing->has_cycles = has_cycles_;
  return true;
}

bool StubBackend::set_ops(const char* table) {
  uint32_t n = 0;
  const char* p = table;
  while (*p != '\0') {
    const char* colon = strchr(p, ':');
    if (n == kMaxProfiledOps || colon == 0 || colon == p || colon - p >= static_cast<long>(kMaxOpName)) return false;
    char* end = 0;
    const unsigned long ticks = strtoul(colon + 1, &end, 10);
    if (end == colon + 1 || (*end != ',' && *end != '\0') || ticks > 0xffffffffUL) return false;
    memcpy(op_names_[n], p, static_cast<size_t>(colon - p));
    op_names_[n][colon - p] = '\0';
    op_ticks_[n++] = static_cast<uint32_t>(ticks);
    p = *end == ',' ? end + 1 : end;
  }
  n_ops_ = n;
  return n > 0;
}

bool StubBackend::profile(ProfileSummary* s) {
  if (invoke_fails_) return false;
  s->n_ops = prof_none_ ? 0 : prof_overflow_ ? kMaxProfiledOps : n_ops_;
  s->overflow = prof_overflow_;
  s->ticks_per_s = ticks_per_s_;
  s->total_ticks = 0;
  for (uint32_t i = 0; i < s->n_ops; ++i) s->total_ticks += op_timing(i).ticks;
  const uint64_t ops_us = ticks_per_s_ ? static_cast<uint64_t>(s->total_ticks) * 1000000u / ticks_per_s_ : 0;
  s->invoke.us = static_cast<uint32_t>(ops_us) + kStubInvokeOverheadUs;
  s->invoke.cycles = s->invoke.us * kStubCyclesPerTick;
  s->invoke.has_cycles = has_cycles_;
  return true;
}

OpTiming StubBackend::op_timing(uint32_t index) {
  const uint32_t k = index % n_ops_;
  OpTiming t;
  t.op = op_names_[k];
  t.ticks = op_ticks_[k];
  t.cycles = op_ticks_[k] * kStubCyclesPerTick;
  t.has_cycles = has_cycles_;
  return t;
}

uint32_t StubBackend::output_f32(uint32_t index) { return out_bits_[index]; }

int8_t StubBackend::output_i8(uint32_t index) { return out_q_[index]; }

}  // namespace txp
