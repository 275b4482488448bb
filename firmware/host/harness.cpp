// Host harness: runs the firmware's portable protocol code over a transcript.
//
//   txp_host_harness <transcript.txt>
//
// Output, one record per line, for tests/test_firmware_host.py:
//   R 0 <frame>        the BOOT frame, sent before any command
//   D <line> <json>    canonical decoding of the "< " line at <line> (1-based),
//                      as Python's json.dumps(obj, sort_keys=True)
//   R <line> <frame>   each frame the dispatcher answers to the "> " line at <line>
// Lines "# stub: <directive>" configure the stub backend (see stub_backend.h)
// before the first command. Exit status 2 on a usage or file error.
//
//   txp_host_harness --stream frames|commands
//
// Stream mode, for the fuzz tests (tests/unit/test_codec_fuzz.py): stdin holds
// records, each a 4-byte little-endian length and that many bytes (any bytes:
// NUL, '\r', non-ASCII). "frames" prints the decoding of each record as a line;
// "commands" feeds each record and a '\n' to the dispatcher (stub without a
// model) and prints "R <frame>" per answer. Both end each record's output with
// a line "E" and flush, so a test can keep one harness running for all lines.
#include <stdio.h>
#include <string.h>

#include "../tinyexp_firmware/src/txp_dispatch.h"
#include "../tinyexp_firmware/src/txp_protocol.h"
#include "stub_backend.h"

namespace {

// Transcript lines may be longer than a protocol line: that is what too_long tests.
const size_t kMaxTranscriptLine = 4096;
// Longest stream record: far past the protocol's 200 bytes, for over-long lines.
const size_t kMaxRecord = 65536;

class PrefixedSink : public txp::LineSink {
 public:
  PrefixedSink() : line_no_(0) {}
  void set_line(unsigned long n) { line_no_ = n; }
  void set_stream() { stream_ = true; }
  void write_line(const char* line, size_t len) {
    // Frames end in '\n'; print without it so the record stays one line.
    if (stream_) {
      printf("R %.*s\n", static_cast<int>(len - 1), line);
    } else {
      printf("R %lu %.*s\n", line_no_, static_cast<int>(len - 1), line);
    }
  }

 private:
  unsigned long line_no_;
  bool stream_ = false;
};

void print_json_string(const char* s, size_t n) {
  putchar('"');
  for (size_t i = 0; i < n; ++i) {
    // Frames hold printable ASCII only (the decoder checks), so these two are
    // the only characters json.dumps escapes.
    if (s[i] == '"' || s[i] == '\\') putchar('\\');
    putchar(s[i]);
  }
  putchar('"');
}

bool field_less(const txp::Field& a, const txp::Field& b) {
  size_t n = a.key_len < b.key_len ? a.key_len : b.key_len;
  int c = memcmp(a.key, b.key, n);
  return c < 0 || (c == 0 && a.key_len < b.key_len);
}

void print_decoding(const char* line, size_t len) {
  static txp::Frame frame;  // 1.5 KB of fields: keep it off the stack
  txp::DecodeResult r = txp::decode_frame(line, len, &frame);
  if (r == txp::DECODE_JUNK) {
    printf("{\"junk\": true}");
    return;
  }
  if (r != txp::DECODE_FRAME) {
    printf("{\"corrupt\": \"%s\"}", txp::decode_result_name(r));
    return;
  }
  // sort_keys=True: insertion sort of the fields by key.
  for (size_t i = 1; i < frame.n_fields; ++i) {
    txp::Field f = frame.fields[i];
    size_t j = i;
    for (; j > 0 && field_less(f, frame.fields[j - 1]); --j) frame.fields[j] = frame.fields[j - 1];
    frame.fields[j] = f;
  }
  printf("{\"fields\": {");
  for (size_t i = 0; i < frame.n_fields; ++i) {
    if (i) printf(", ");
    print_json_string(frame.fields[i].key, frame.fields[i].key_len);
    printf(": ");
    print_json_string(frame.fields[i].value, frame.fields[i].value_len);
  }
  printf("}, \"kind\": \"%s\", \"seq\": %lu}", txp::kind_name(frame.kind),
         static_cast<unsigned long>(frame.seq));
}

// One stream record into `buf`; false at a clean end of input or a bad record.
bool read_record(char* buf, size_t* len) {
  unsigned char head[4];
  if (fread(head, 1, 4, stdin) != 4) return false;
  *len = head[0] | (head[1] << 8) | (head[2] << 16) | (static_cast<size_t>(head[3]) << 24);
  return *len <= kMaxRecord && fread(buf, 1, *len, stdin) == *len;
}

int stream(const char* mode) {
  const bool frames = strcmp(mode, "frames") == 0;
  if (!frames && strcmp(mode, "commands") != 0) {
    fprintf(stderr, "unknown stream mode '%s' (frames or commands)\n", mode);
    return 2;
  }
  static char record[kMaxRecord];
  static uint32_t timings[txp::kMaxBench];
  txp::StubBackend backend;
  backend.configure("model=none");
  PrefixedSink sink;
  sink.set_stream();
  txp::Dispatcher dispatcher(backend, sink, timings);
  size_t len = 0;
  while (read_record(record, &len)) {
    if (frames) {
      print_decoding(record, len);
      putchar('\n');
    } else {
      for (size_t i = 0; i < len; ++i) dispatcher.feed(record[i]);
      dispatcher.feed('\n');
    }
    printf("E\n");
    fflush(stdout);
  }
  return 0;
}

}  // namespace

int main(int argc, char** argv) {
  if (argc == 3 && strcmp(argv[1], "--stream") == 0) return stream(argv[2]);
  if (argc != 2) {
    fprintf(stderr, "usage: %s <transcript.txt> | --stream frames|commands\n", argv[0]);
    return 2;
  }
  FILE* f = fopen(argv[1], "rb");
  if (!f) {
    fprintf(stderr, "cannot open %s\n", argv[1]);
    return 2;
  }
  static char text[kMaxTranscriptLine];
  static uint32_t timings[txp::kMaxBench];
  txp::StubBackend backend;
  PrefixedSink sink;
  txp::Dispatcher dispatcher(backend, sink, timings);
  bool booted = false;
  unsigned long line_no = 0;
  while (fgets(text, sizeof(text), f)) {
    ++line_no;
    size_t len = strlen(text);
    if (len > 0 && text[len - 1] == '\n') text[--len] = '\0';
    if (strncmp(text, "# stub: ", 8) == 0 && !booted) {
      if (!backend.configure(text + 8)) {
        fprintf(stderr, "%s:%lu: unknown stub directive '%s'\n", argv[1], line_no, text + 8);
        return 2;
      }
      continue;
    }
    const bool sent = strncmp(text, "> ", 2) == 0;
    const bool received = strncmp(text, "< ", 2) == 0;
    if ((sent || received) && !booted) {
      dispatcher.boot();
      booted = true;
    }
    if (received) {
      printf("D %lu ", line_no);
      print_decoding(text + 2, len - 2);
      putchar('\n');
    } else if (sent) {
      sink.set_line(line_no);
      for (size_t i = 2; i < len; ++i) dispatcher.feed(text[i]);
      dispatcher.feed('\n');
    }
  }
  fclose(f);
  return 0;
}
