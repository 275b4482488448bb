// A deterministic Backend for the host harness: fixed identity, a 20-value
// model whose output is a simple function of its input, pseudo-random but
// reproducible timings, and a fixed per-operator table for PROF (a dense
// int8 net's operators, written like a transcript), so transcripts of the
// dispatcher can be golden files.
#ifndef TXP_STUB_BACKEND_H
#define TXP_STUB_BACKEND_H

#include "../tinyexp_firmware/src/txp_backend.h"

namespace txp {

class StubBackend : public Backend {
 public:
  static const uint32_t kLen = 20;
  static const uint32_t kMaxOpName = 32;  // name and NUL

  StubBackend();

  // "model=float32|int8|none|refused", "invoke=fail", "prof=none" (a build
  // that records no events), "prof=overflow" (more operators than PROF
  // records), "ops=<NAME>:<ticks>,..." (PROF's table, 1..128 operators),
  // "cycles=none" (no cycle counter) or "ticks_per_s=<n>" (the
  // profiler's tick rate, 1000000 by default; 0: no tick source); false if unknown.
  bool configure(const char* directive);

  const Identity& identity();
  ModelState model_state(const char** reason);
  ModelInfo model_info();
  void set_input_f32(uint32_t index, uint32_t bits);
  void set_input_i8(uint32_t index, int8_t value);
  bool invoke(Timing* timing);
  bool profile(ProfileSummary* summary);
  OpTiming op_timing(uint32_t index);
  uint32_t output_f32(uint32_t index);
  int8_t output_i8(uint32_t index);

 private:
  bool set_ops(const char* table);

  Identity identity_;
  ModelState state_;
  DType dtype_;
  bool invoke_fails_;
  bool prof_none_;
  bool prof_overflow_;
  bool has_cycles_;
  uint32_t ticks_per_s_;
  char op_names_[kMaxProfiledOps][kMaxOpName];
  uint32_t op_ticks_[kMaxProfiledOps];
  uint32_t n_ops_;
  uint32_t rng_;
  uint32_t in_bits_[kLen];
  int8_t in_q_[kLen];
  uint32_t out_bits_[kLen];
  int8_t out_q_[kLen];
};

}  // namespace txp

#endif  // TXP_STUB_BACKEND_H
