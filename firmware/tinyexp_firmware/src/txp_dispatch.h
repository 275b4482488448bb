// Turns command lines into answer frames for any Backend: everything the board
// says over serial, except what the Backend measures, is decided here, so the
// host harness exercises the same code the board runs.
#ifndef TXP_DISPATCH_H
#define TXP_DISPATCH_H

#include <stdint.h>
#include <string.h>

#include "txp_backend.h"
#include "txp_command.h"
#include "txp_protocol.h"
#include "txp_stats.h"

namespace txp {

class Dispatcher {
 public:
  // `timings` holds BENCH's per-invoke micros; the caller owns it so that its
  // 4 KB are visible in the link map rather than hidden on a stack.
  Dispatcher(Backend& backend, LineSink& sink, uint32_t (&timings)[kMaxBench]);

  // The unsolicited "@0 BOOT ..." frame, once the serial link is up.
  void boot();
  // One received byte; answers are written to the sink as lines complete.
  void feed(char c);

 private:
  void handle_line(const char* line, size_t len);
  void handle_too_long();
  void send();
  void error(uint32_t seq, const char* code, const char* msg);
  void error2(uint32_t seq, const char* code, const char* msg, const char* detail, size_t detail_len);
  bool require_model(uint32_t seq);
  void hello(const Command& cmd);
  void info(const Command& cmd);
  void input(const Command& cmd);
  void run(const Command& cmd);
  void bench(const Command& cmd);
  void prof(const Command& cmd);
  void kv_ticks_us(const char* key, uint32_t ticks, uint32_t ticks_per_s);
  void kv_cycles(const char* key, uint32_t cycles, bool has_cycles);

  Backend& backend_;
  LineSink& sink_;
  uint32_t* timings_;
  LineAssembler assembler_;
  char frame_[kLineBuffer];
  FrameWriter writer_;
};

}  // namespace txp

#endif  // TXP_DISPATCH_H
