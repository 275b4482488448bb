// A deterministic Backend for the host harness: fixed identity, a 20-value
// model whose output is a simple function of its input, and pseudo-random but
// reproducible timings, so transcripts of the dispatcher can be golden files.
#ifndef TXP_STUB_BACKEND_H
#define TXP_STUB_BACKEND_H

#include "../tinyexp_firmware/src/txp_backend.h"

namespace txp {

class StubBackend : public Backend {
 public:
  static const uint32_t kLen = 20;

  StubBackend();

  // "model=float32|int8|none|refused" or "invoke=fail"; false if unknown.
  bool configure(const char* directive);

  const Identity& identity();
  ModelState model_state(const char** reason);
  ModelInfo model_info();
  void set_input_f32(uint32_t index, uint32_t bits);
  void set_input_i8(uint32_t index, int8_t value);
  bool invoke(Timing* timing);
  uint32_t output_f32(uint32_t index);
  int8_t output_i8(uint32_t index);

 private:
  Identity identity_;
  ModelState state_;
  DType dtype_;
  bool invoke_fails_;
  uint32_t rng_;
  uint32_t in_bits_[kLen];
  int8_t in_q_[kLen];
  uint32_t out_bits_[kLen];
  int8_t out_q_[kLen];
};

}  // namespace txp

#endif  // TXP_STUB_BACKEND_H
