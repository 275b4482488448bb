#include "txp_dispatch.h"

#include "txp_values.h"
#include "txp_version.h"

namespace txp {

// Values per DATA line: the protocol's limit, and it keeps a line under 200 bytes.
static const uint32_t kValuesPerLine = 16;
static const uint32_t kMaxWarmup = 1000;

Dispatcher::Dispatcher(Backend& backend, LineSink& sink, uint32_t (&timings)[kMaxBench])
    : backend_(backend), sink_(sink), timings_(timings), frame_(), writer_(frame_) {}

void Dispatcher::send() {
  size_t len = writer_.finish();
  if (len == 0) {
    // Only a Backend identity string that is too long or holds a space gets
    // here; say so instead of sending a frame the host would call corrupt.
    writer_.begin(0, KIND_ERR);
    writer_.kv_str("code", "too_big");
    writer_.msg("answer does not fit one 200-byte frame");
    len = writer_.finish();
  }
  sink_.write_line(frame_, len);
}

void Dispatcher::error(uint32_t seq, const char* code, const char* msg) {
  writer_.begin(seq, KIND_ERR);
  writer_.kv_str("code", code);
  writer_.msg(msg);
  send();
}

// error() with a detail from the command line appended, e.g. the unknown verb.
void Dispatcher::error2(uint32_t seq, const char* code, const char* msg, const char* detail,
                        size_t detail_len) {
  char buf[kLineBuffer];
  Text text(buf, sizeof(buf));
  text.put(msg);
  text.put_n(detail, detail_len < text.room() ? detail_len : text.room());
  error(seq, code, buf);
}

void Dispatcher::boot() {
  const char* reason = "";
  ModelState state = backend_.model_state(&reason);
  writer_.begin(0, KIND_BOOT);
  writer_.kv_int("proto", kProtocolVersion);
  writer_.kv_str("fw", TXP_FW_VERSION);
  writer_.kv_str("model", state == MODEL_READY ? "ready" : state == MODEL_NONE ? "no_model" : "refused");
  send();
}

void Dispatcher::feed(char c) {
  switch (assembler_.feed(c)) {
    case LineAssembler::LINE:
      handle_line(assembler_.line(), assembler_.length());
      break;
    case LineAssembler::TOO_LONG:
      handle_too_long();
      break;
    case LineAssembler::NONE:
      break;
  }
}

void Dispatcher::handle_too_long() {
  error(0, "line_too_long", "line over 200 bytes dropped");
}

void Dispatcher::handle_line(const char* line, size_t len) {
  Command cmd;
  switch (parse_command(line, len, &cmd)) {
    case PARSE_EMPTY:
      return;
    case PARSE_BAD:
      error(0, "bad_command", "expected <seq 1..65535> <VERB> [arg ...], single spaces, ASCII");
      return;
    case PARSE_OK:
      break;
  }
  switch (cmd.verb) {
    case VERB_HELLO: hello(cmd); break;
    case VERB_INFO: info(cmd); break;
    case VERB_IN: input(cmd); break;
    case VERB_RUN: run(cmd); break;
    case VERB_BENCH: bench(cmd); break;
    case VERB_PROF: prof(cmd); break;
    case VERB_UNKNOWN:
      error2(cmd.seq, "bad_command", "unknown verb ", cmd.verb_text, cmd.verb_len);
      break;
  }
}

bool Dispatcher::require_model(uint32_t seq) {
  const char* reason = "";
  switch (backend_.model_state(&reason)) {
    case MODEL_READY:
      return true;
    case MODEL_NONE:
      error(seq, "no_model", "firmware built without a model (placeholder model_data)");
      return false;
    case MODEL_REFUSED:
      error(seq, "model_refused", reason);
      return false;
  }
  return false;
}

void Dispatcher::hello(const Command& cmd) {
  if (cmd.argc != 0) return error(cmd.seq, "bad_args", "HELLO takes no arguments");
  const Identity& id = backend_.identity();
  writer_.begin(cmd.seq, KIND_OK);
  writer_.kv_int("proto", kProtocolVersion);
  writer_.kv_str("fw", TXP_FW_VERSION);
  writer_.kv_str("board", id.board);
  writer_.kv_str("mcu", id.mcu);
  writer_.kv_int("clock_hz", id.clock_hz);
  writer_.kv_str("tflm", id.tflm);
  writer_.kv_str("compiler", id.compiler);
  writer_.kv_str("timer", id.timer);
  writer_.kv_str("latency_source", id.latency_source);
  send();
}

void Dispatcher::info(const Command& cmd) {
  if (cmd.argc != 0) return error(cmd.seq, "bad_args", "INFO takes no arguments");
  if (!require_model(cmd.seq)) return;
  ModelInfo m = backend_.model_info();
  writer_.begin(cmd.seq, KIND_OK);
  writer_.kv_int("model_bytes", m.model_bytes);
  writer_.kv_hex8("model_crc32", m.model_crc32);
  writer_.kv_int("arena_bytes", m.arena_bytes);
  writer_.kv_int("arena_used_bytes", m.arena_used_bytes);
  writer_.kv_str("in_dtype", dtype_name(m.in_dtype));
  writer_.kv_int("in_len", m.in_len);
  writer_.kv_str("out_dtype", dtype_name(m.out_dtype));
  writer_.kv_int("out_len", m.out_len);
  send();
}

void Dispatcher::input(const Command& cmd) {
  // Arity before the model, as for every verb; the values need the model's dtype.
  const uint32_t count = static_cast<uint32_t>(cmd.argc) - 1;
  // The offset's form (a decimal in 0..2^31-1) needs no model either; its range does.
  uint32_t offset = 0;
  if (cmd.argc < 2 || count > kValuesPerLine || cmd.too_many_args ||
      !parse_u32(cmd.argv[0], cmd.argl[0], 0x7fffffffu, &offset)) {
    return error(cmd.seq, "bad_args", "IN takes <offset> and 1..16 values");
  }
  if (!require_model(cmd.seq)) return;
  const ModelInfo m = backend_.model_info();
  if (offset > m.in_len || count > m.in_len - offset) {
    return error(cmd.seq, "bad_args", "offset and values must lie inside the input tensor");
  }
  // Check every value before storing any, so a bad line leaves the input as it was.
  uint32_t bits[kValuesPerLine];
  int8_t q[kValuesPerLine];
  for (uint32_t i = 0; i < count; ++i) {
    bool ok = m.in_dtype == DTYPE_FLOAT32 ? parse_f32_hex(cmd.argv[i + 1], cmd.argl[i + 1], &bits[i])
                                          : parse_i8(cmd.argv[i + 1], cmd.argl[i + 1], &q[i]);
    if (!ok) {
      return error2(cmd.seq, "bad_args",
                    m.in_dtype == DTYPE_FLOAT32 ? "float32 values are 8 hex digits, got "
                                                : "int8 values are -128..127, got ",
                    cmd.argv[i + 1], cmd.argl[i + 1]);
    }
  }
  for (uint32_t i = 0; i < count; ++i) {
    if (m.in_dtype == DTYPE_FLOAT32) {
      backend_.set_input_f32(offset + i, bits[i]);
    } else {
      backend_.set_input_i8(offset + i, q[i]);
    }
  }
  writer_.begin(cmd.seq, KIND_OK);
  writer_.kv_int("n", count);
  send();
}

void Dispatcher::run(const Command& cmd) {
  if (cmd.argc != 0) return error(cmd.seq, "bad_args", "RUN takes no arguments");
  if (!require_model(cmd.seq)) return;
  Timing t;
  if (!backend_.invoke(&t)) return error(cmd.seq, "invoke_failed", "Invoke() did not return kTfLiteOk");
  const ModelInfo m = backend_.model_info();
  for (uint32_t off = 0; off < m.out_len; off += kValuesPerLine) {
    writer_.begin(cmd.seq, KIND_DATA);
    writer_.kv_int("off", off);
    writer_.list_begin("v");
    for (uint32_t i = off; i < m.out_len && i < off + kValuesPerLine; ++i) {
      if (m.out_dtype == DTYPE_FLOAT32) {
        writer_.list_hex8(backend_.output_f32(i));
      } else {
        writer_.list_int(backend_.output_i8(i));
      }
    }
    send();
  }
  writer_.begin(cmd.seq, KIND_OK);
  writer_.kv_int("us", t.us);
  kv_cycles("cycles", t.cycles, t.has_cycles);
  send();
}

void Dispatcher::bench(const Command& cmd) {
  uint32_t warmup = 0;
  uint32_t n = 0;
  const bool raw = cmd.argc == 3 && cmd.argl[2] == 3 && memcmp(cmd.argv[2], "RAW", 3) == 0;
  if ((cmd.argc != 2 && !raw) || cmd.too_many_args || !parse_u32(cmd.argv[0], cmd.argl[0], kMaxWarmup, &warmup) ||
      !parse_u32(cmd.argv[1], cmd.argl[1], kMaxBench, &n) || n == 0) {
    return error(cmd.seq, "bad_args", "BENCH takes <warmup 0..1000> <n 1..1000> [RAW]");
  }
  if (!require_model(cmd.seq)) return;
  Timing t;
  for (uint32_t i = 0; i < warmup; ++i) {
    if (!backend_.invoke(&t)) return error(cmd.seq, "invoke_failed", "Invoke() failed during warm-up");
  }
  uint64_t cycles_sum = 0;
  bool all_cycles = true;
  for (uint32_t i = 0; i < n; ++i) {
    backend_.energy_mark(true);
    const bool ok = backend_.invoke(&t);
    backend_.energy_mark(false);
    if (!ok) return error(cmd.seq, "invoke_failed", "Invoke() failed during timed runs");
    timings_[i] = t.us;
    cycles_sum += t.cycles;
    all_cycles = all_cycles && t.has_cycles;
    if (raw) {
      // Sent between invokes, never inside one, so it does not touch the timings.
      writer_.begin(cmd.seq, KIND_DATA);
      writer_.kv_int("i", i);
      writer_.kv_int("us", t.us);
      kv_cycles("cycles", t.cycles, t.has_cycles);
      send();
    }
  }
  Stats s;
  compute_stats(timings_, n, &s);
  writer_.begin(cmd.seq, KIND_OK);
  writer_.kv_int("n", n);
  writer_.kv_milli("mean_us", s.mean_milli);
  writer_.kv_milli("std_us", s.std_milli);
  writer_.kv_milli("min_us", s.min_milli);
  writer_.kv_milli("median_us", s.median_milli);
  writer_.kv_milli("p95_us", s.p95_milli);
  writer_.kv_milli("max_us", s.max_milli);
  if (all_cycles) {
    writer_.kv_milli("mean_cycles", mean_milli(cycles_sum, n));
  } else {
    writer_.kv_int("mean_cycles", -1);
  }
  send();
}

// "<key>=<microseconds, 3 decimals>", or -1 where the build has no tick source.
void Dispatcher::kv_ticks_us(const char* key, uint32_t ticks, uint32_t ticks_per_s) {
  if (ticks_per_s == 0) {
    writer_.kv_int(key, -1);
  } else {
    writer_.kv_milli(key, ticks_to_us_milli(ticks, ticks_per_s));
  }
}

// "<key>=<count>", or -1 where no cycle counter runs.
void Dispatcher::kv_cycles(const char* key, uint32_t cycles, bool has_cycles) {
  writer_.kv_int(key, has_cycles ? static_cast<int64_t>(cycles) : -1);
}

void Dispatcher::prof(const Command& cmd) {
  if (cmd.argc != 0) return error(cmd.seq, "bad_args", "PROF takes no arguments");
  if (!require_model(cmd.seq)) return;
  ProfileSummary s;
  if (!backend_.profile(&s)) return error(cmd.seq, "invoke_failed", "Invoke() did not return kTfLiteOk");
  if (s.overflow) return error(cmd.seq, "too_big", "model runs more operators than PROF records (128)");
  if (s.n_ops == 0) {
    return error(cmd.seq, "no_profile", "no operator events recorded (TFLM built with TF_LITE_STRIP_ERROR_STRINGS?)");
  }
  // One line per operator, all sent after the invoke, so none of them is timed.
  for (uint32_t i = 0; i < s.n_ops; ++i) {
    const OpTiming op = backend_.op_timing(i);
    writer_.begin(cmd.seq, KIND_DATA);
    writer_.kv_int("i", i);
    writer_.kv_str("op", op.op);
    writer_.kv_int("ticks", op.ticks);
    kv_ticks_us("us", op.ticks, s.ticks_per_s);
    kv_cycles("cycles", op.cycles, op.has_cycles);
    send();
  }
  writer_.begin(cmd.seq, KIND_OK);
  writer_.kv_int("n", s.n_ops);
  writer_.kv_int("ticks", s.total_ticks);
  writer_.kv_int("ticks_per_s", s.ticks_per_s);
  kv_ticks_us("us", s.total_ticks, s.ticks_per_s);
  writer_.kv_milli("invoke_us", static_cast<uint64_t>(s.invoke.us) * 1000u);
  kv_cycles("invoke_cycles", s.invoke.cycles, s.invoke.has_cycles);
  send();
}

}  // namespace txp
