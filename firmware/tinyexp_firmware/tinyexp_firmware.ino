// tinyexp firmware: runs the model in model_data.cc with TensorFlow Lite for
// Microcontrollers and answers protocol v2 (firmware/PROTOCOL.md) over Serial.
//
// The protocol itself lives in src/ (portable, host-tested); this file is only
// the Backend: TFLM set-up, tensor access, timing and the per-operator profile
// (TFLM's MicroProfiler, see OpProfiler). Pinned toolchain:
// firmware/versions.json. The arena size and the operators to register come
// from the model package's model_settings.h and model_ops.h, written beside
// model_data.* by tinyexp (tinyexp/tflm/package.py): the sketch reserves and
// registers what the package ships. Build flags:
//   -DTXP_ARENA_BYTES=<n>   tensor arena size (default: the package's kArenaBytes)

#include <Chirale_TensorFlowLite.h>

#include "tensorflow/lite/micro/micro_interpreter.h"
#include "tensorflow/lite/micro/micro_mutable_op_resolver.h"
#include "tensorflow/lite/schema/schema_generated.h"

#include "model_data.h"
#include "model_ops.h"
#include "model_settings.h"
#include "op_profiler.h"
#include "src/txp_dispatch.h"

#ifndef TXP_ARENA_BYTES
// TFLM's measured need for this model plus the package's stated margin.
#define TXP_ARENA_BYTES (tinyexp_model::kArenaBytes)
#endif

#define TXP_STR2(x) #x
#define TXP_STR(x) TXP_STR2(x)

namespace {

// Library and version that provide TFLM (firmware/versions.json).
const char kTflm[] = "Chirale_TensorFLowLite-2.0.0";
const char kCompiler[] = "arm-none-eabi-gcc-" TXP_STR(__GNUC__) "." TXP_STR(__GNUC_MINOR__) "." TXP_STR(__GNUC_PATCHLEVEL__);
const unsigned long kBaud = 115200;
// How long setup() waits for the host to open the USB serial port before it
// sends BOOT anyway (the host tolerates a missed BOOT: it handshakes with HELLO).
const unsigned long kSerialWaitMs = 3000;

alignas(16) uint8_t g_arena[TXP_ARENA_BYTES];
uint32_t g_timings[txp::kMaxBench];

// Enables the DWT cycle counter. TRCENA powers the DWT unit; NOCYCCNT marks a
// core built without CYCCNT. Returns false when the counter does not run, and
// the firmware then reports cycles=-1 rather than a made-up figure.
bool enable_cycle_counter() {
  CoreDebug->DEMCR |= CoreDebug_DEMCR_TRCENA_Msk;
  if (DWT->CTRL & DWT_CTRL_NOCYCCNT_Msk) return false;
  DWT->CYCCNT = 0;
  DWT->CTRL |= DWT_CTRL_CYCCNTENA_Msk;
  const uint32_t before = DWT->CYCCNT;
  delayMicroseconds(2);
  return DWT->CYCCNT != before;
}

class TflmBackend : public txp::Backend {
 public:
  TflmBackend() : state_(txp::MODEL_NONE), reason_(""), interpreter_(nullptr), has_dwt_(false) {}

  void begin() {
    has_dwt_ = enable_cycle_counter();
    profiler_.set_cycle_counter(has_dwt_);
    identity_.board = "nano33ble";  // conf/board/nano33ble.yaml; the core cannot tell BLE from BLE Sense
    identity_.mcu = "nRF52840";
    identity_.clock_hz = SystemCoreClock;
    identity_.tflm = kTflm;
    identity_.compiler = kCompiler;
    identity_.timer = has_dwt_ ? "micros+dwt" : "micros";
    identity_.latency_source = "measured";
    state_ = load_model();
  }

  const txp::Identity& identity() override { return identity_; }

  txp::ModelState model_state(const char** reason) override {
    *reason = reason_;
    return state_;
  }

  txp::ModelInfo model_info() override {
    txp::ModelInfo m;
    m.model_bytes = g_model_len;
    m.model_crc32 = static_cast<uint32_t>(g_model_crc32);
    m.arena_bytes = TXP_ARENA_BYTES;
    m.arena_used_bytes = static_cast<uint32_t>(interpreter_->arena_used_bytes());
    m.in_dtype = dtype(input());
    m.in_len = length(input());
    m.out_dtype = dtype(output());
    m.out_len = length(output());
    return m;
  }

  void set_input_f32(uint32_t index, uint32_t bits) override {
    memcpy(&input()->data.f[index], &bits, sizeof(bits));
  }

  void set_input_i8(uint32_t index, int8_t value) override { input()->data.int8[index] = value; }

  bool invoke(txp::Timing* t) override {
    // Cycles are read innermost, so they exclude the two micros() calls.
    const uint32_t t0 = micros();
    const uint32_t c0 = DWT->CYCCNT;
    const TfLiteStatus status = interpreter_->Invoke();
    const uint32_t c1 = DWT->CYCCNT;
    const uint32_t t1 = micros();
    // Unsigned differences stay right across one wrap of either counter
    // (micros: 71 minutes, CYCCNT: 67 s at 64 MHz).
    t->us = t1 - t0;
    t->cycles = c1 - c0;
    t->has_cycles = has_dwt_;
    return status == kTfLiteOk;
  }

#ifdef TXP_ENERGY_PIN
  // High during each timed invoke: the current meter's trigger input (docs/energy.md).
  void energy_mark(bool inference_running) override { digitalWrite(TXP_ENERGY_PIN, inference_running ? HIGH : LOW); }
#endif

  bool profile(txp::ProfileSummary* s) override {
    profiler_.arm();
    const bool ok = invoke(&s->invoke);
    profiler_.disarm();
    s->n_ops = profiler_.count();
    s->overflow = profiler_.overflow();
    s->total_ticks = profiler_.GetTotalTicks();
    s->ticks_per_s = tflite::ticks_per_second();
    return ok;
  }

  txp::OpTiming op_timing(uint32_t index) override { return profiler_.timing(index); }

  uint32_t output_f32(uint32_t index) override {
    uint32_t bits;
    memcpy(&bits, &output()->data.f[index], sizeof(bits));
    return bits;
  }

  int8_t output_i8(uint32_t index) override { return output()->data.int8[index]; }

 private:
  TfLiteTensor* input() { return interpreter_->input(0); }
  TfLiteTensor* output() { return interpreter_->output(0); }

  static txp::DType dtype(const TfLiteTensor* t) {
    return t->type == kTfLiteInt8 ? txp::DTYPE_INT8 : txp::DTYPE_FLOAT32;
  }
  static uint32_t length(const TfLiteTensor* t) {
    return static_cast<uint32_t>(t->bytes / (t->type == kTfLiteInt8 ? 1 : 4));
  }
  static bool supported(const TfLiteTensor* t) { return t->type == kTfLiteFloat32 || t->type == kTfLiteInt8; }

  // Everything that can make TFLM refuse the model is checked here, once, so
  // the host hears the reason from INFO instead of a failed RUN.
  txp::ModelState load_model() {
    if (g_model_len == 0) return txp::MODEL_NONE;
    if (txp::crc32(0, g_model, g_model_len) != static_cast<uint32_t>(g_model_crc32)) {
      return refuse("model bytes do not match g_model_crc32 (corrupt flash or build)");
    }
    const tflite::Model* model = tflite::GetModel(g_model);
    if (model->version() != TFLITE_SCHEMA_VERSION) return refuse("model schema version differs from TFLM's");

    // Exactly the model's operators (the package's model_ops.h).
    static tinyexp_model::OpResolver resolver;
    if (tinyexp_model::RegisterOps(resolver) != kTfLiteOk) return refuse("op resolver full");
    // The profiler is attached for good (TFLM takes it at construction) and armed only by PROF.
    static tflite::MicroInterpreter interpreter(model, resolver, g_arena, TXP_ARENA_BYTES, nullptr, &profiler_);
    interpreter_ = &interpreter;
    // TFLM logs its own reason (unsupported op, arena short by N bytes) as
    // plain text lines, which the host keeps in the transcript.
    if (interpreter.AllocateTensors() != kTfLiteOk) {
      return refuse("AllocateTensors() failed: unsupported op or type, or arena too small (see log lines)");
    }
    if (interpreter.inputs_size() != 1 || interpreter.outputs_size() != 1) {
      return refuse("tinyexp expects one input and one output tensor");
    }
    if (!supported(input()) || !supported(output())) return refuse("input and output must be float32 or int8");
    return txp::MODEL_READY;
  }

  txp::ModelState refuse(const char* why) {
    reason_ = why;
    return txp::MODEL_REFUSED;
  }

  txp::Identity identity_;
  txp::ModelState state_;
  const char* reason_;
  tflite::MicroInterpreter* interpreter_;
  bool has_dwt_;
  OpProfiler profiler_;
};

class SerialSink : public txp::LineSink {
 public:
  void write_line(const char* line, size_t len) override {
    Serial.write(reinterpret_cast<const uint8_t*>(line), len);
  }
};

TflmBackend g_backend;
SerialSink g_sink;
txp::Dispatcher g_dispatcher(g_backend, g_sink, g_timings);

}  // namespace

void setup() {
#ifdef TXP_ENERGY_PIN
  pinMode(TXP_ENERGY_PIN, OUTPUT);
  digitalWrite(TXP_ENERGY_PIN, LOW);
#endif
  Serial.begin(kBaud);
  const unsigned long start = millis();
  while (!Serial && millis() - start < kSerialWaitMs) {
  }
  g_backend.begin();
  // A newline first ends any partial line (TFLM log, boot noise) so that BOOT
  // starts a line of its own.
  Serial.write('\n');
  g_dispatcher.boot();
}

void loop() {
  while (Serial.available() > 0) {
    g_dispatcher.feed(static_cast<char>(Serial.read()));
  }
}
