// What the dispatcher needs from a board: the TFLM sketch implements it on the
// device, the host harness with a deterministic stub.
#ifndef TXP_BACKEND_H
#define TXP_BACKEND_H

#include <stdint.h>
#include <string.h>

#include "txp_values.h"

namespace txp {

// HELLO's answer. Every string must be free of spaces (they are frame values).
struct Identity {
  const char* board;
  const char* mcu;
  uint32_t clock_hz;
  const char* tflm;
  const char* compiler;
  const char* timer;           // micros | micros+dwt | estimate
  const char* latency_source;  // measured | estimate
};

enum ModelState { MODEL_READY, MODEL_NONE, MODEL_REFUSED };

struct ModelInfo {
  uint32_t model_bytes;
  uint32_t model_crc32;
  uint32_t arena_bytes;       // configured
  uint32_t arena_used_bytes;  // what the interpreter really took
  DType in_dtype;
  uint32_t in_len;
  DType out_dtype;
  uint32_t out_len;
};

struct Timing {
  uint32_t us;
  uint32_t cycles;
  bool has_cycles;  // false where no cycle counter runs: reported as -1
};

class Backend {
 public:
  virtual const Identity& identity() = 0;
  // For MODEL_REFUSED, *reason says why (printable ASCII, sent as msg).
  virtual ModelState model_state(const char** reason) = 0;
  // Only called in MODEL_READY.
  virtual ModelInfo model_info() = 0;
  // Indexes are checked by the dispatcher against in_len/out_len.
  virtual void set_input_f32(uint32_t index, uint32_t bits) = 0;
  virtual void set_input_i8(uint32_t index, int8_t value) = 0;
  virtual bool invoke(Timing* timing) = 0;
  virtual uint32_t output_f32(uint32_t index) = 0;
  virtual int8_t output_i8(uint32_t index) = 0;

 protected:
  // Never deleted through this interface (nothing here is heap-allocated).
  ~Backend() {}
};

// Where answer lines go: Serial on the board, stdout in the harness.
class LineSink {
 public:
  // `line` holds `len` bytes ending in '\n', at most kMaxLine.
  virtual void write_line(const char* line, size_t len) = 0;

 protected:
  ~LineSink() {}
};

}  // namespace txp

#endif  // TXP_BACKEND_H
