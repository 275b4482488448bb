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

// Most operators one PROF answer covers; a longer model is refused (too_big)
// rather than profiled in part. 128 slots of OpTiming are 2 KB on the board.
static const uint32_t kMaxProfiledOps = 128;

// One operator of a profiled invoke (PROF), in the order the interpreter ran them.
struct OpTiming {
  const char* op;    // the interpreter's operator name, e.g. FULLY_CONNECTED (no spaces)
  uint32_t ticks;    // profiler ticks (tflite::GetCurrentTimeTicks) of this operator
  uint32_t cycles;   // cycle-counter difference; meaningless unless has_cycles
  bool has_cycles;
};

// What one profiled invoke recorded (the operators themselves: Backend::op_timing).
struct ProfileSummary {
  uint32_t n_ops;        // operators recorded, at most kMaxProfiledOps
  bool overflow;         // more operators ran than could be recorded
  uint32_t total_ticks;  // the profiler's own total over the invoke's events
  uint32_t ticks_per_s;  // 0 if the build has no tick source
  Timing invoke;         // the whole Invoke(), timed as RUN times it
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
  // Brackets each timed invoke of BENCH (true before, false after), so a current
  // meter counts only inference: the sketch drives TXP_ENERGY_PIN (docs/energy.md).
  virtual void energy_mark(bool /*inference_running*/) {}
  // One invoke of the stored input with the per-operator profiler armed;
  // false if Invoke() failed. Then op_timing(i) for i < n_ops.
  virtual bool profile(ProfileSummary* summary) = 0;
  virtual OpTiming op_timing(uint32_t index) = 0;
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
