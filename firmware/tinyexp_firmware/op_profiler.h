// The sketch's per-operator profiler for PROF (protocol 2), on TFLM's MicroProfiler.
// Needs the board's CMSIS (DWT) through Arduino.h and the TFLM library's headers.
#ifndef TXP_OP_PROFILER_H
#define TXP_OP_PROFILER_H

#include <Arduino.h>

#include "src/txp_backend.h"
#include "tensorflow/lite/micro/compatibility.h"
#include "tensorflow/lite/micro/micro_profiler.h"
#include "tensorflow/lite/micro/micro_time.h"

// TFLM's MicroProfiler, which the interpreter calls around every operator's
// Invoke (ScopedMicroProfiler, tagged with the operator's name). MicroProfiler
// keeps its events private and can only print them (Log, LogCsv) as free text
// through MicroPrintf, which would break the framed link; so this subclass lets
// MicroProfiler time each event as usual (its ticks make GetTotalTicks) and
// keeps, per event, the tag and its own tick and DWT cycle reads, taken just
// inside MicroProfiler's. Disarmed (every invoke except PROF's) it returns at
// once: RUN and BENCH pay one virtual call per operator boundary, nothing more.
class OpProfiler : public tflite::MicroProfiler {
 public:
  OpProfiler() : armed_(false), has_dwt_(false), count_(0), overflow_(false) {}

  void set_cycle_counter(bool has_dwt) { has_dwt_ = has_dwt; }

  // Clears the events and records those of the invokes until disarm().
  void arm() {
    ClearEvents();
    count_ = 0;
    overflow_ = false;
    armed_ = true;
  }
  void disarm() { armed_ = false; }

  uint32_t BeginEvent(const char* tag) override {
    if (!armed_) return 0;
    const uint32_t handle = tflite::MicroProfiler::BeginEvent(tag);
    if (count_ == txp::kMaxProfiledOps) {
      overflow_ = true;
      return handle;
    }
    Event& e = events_[count_++];
    e.handle = handle;
    e.timing.op = tag;
    e.timing.has_cycles = has_dwt_;
    e.start_ticks = tflite::GetCurrentTimeTicks();
    e.start_cycles = DWT->CYCCNT;
    return handle;
  }

  void EndEvent(uint32_t handle) override {
    if (!armed_) return;
    const uint32_t cycles = DWT->CYCCNT;
    const uint32_t ticks = tflite::GetCurrentTimeTicks();
    // Operator events do not nest, so the match is the latest event.
    for (uint32_t i = count_; i > 0; --i) {
      Event& e = events_[i - 1];
      if (e.handle == handle) {
        e.timing.ticks = ticks - e.start_ticks;
        e.timing.cycles = cycles - e.start_cycles;
        break;
      }
    }
    tflite::MicroProfiler::EndEvent(handle);
  }

  uint32_t count() const { return count_; }
  bool overflow() const { return overflow_; }
  txp::OpTiming timing(uint32_t i) const { return events_[i].timing; }

 private:
  struct Event {
    uint32_t handle;
    uint32_t start_ticks;
    uint32_t start_cycles;
    txp::OpTiming timing;
  };

  bool armed_;
  bool has_dwt_;
  uint32_t count_;
  bool overflow_;
  Event events_[txp::kMaxProfiledOps];

  // MicroProfiler declares a private operator delete (TFLM's rule for Arduino builds:
  // no ::delete linked in); without one of its own, this class's virtual destructor
  // would be deleted and no OpProfiler could exist.
  TF_LITE_REMOVE_VIRTUAL_DELETE
};

#endif  // TXP_OP_PROFILER_H
