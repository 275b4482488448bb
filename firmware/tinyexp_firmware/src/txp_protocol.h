// Board-to-host frames of protocol v2 (see firmware/PROTOCOL.md; v1's frames are unchanged):
//   @<seq> <KIND> <key=value ...> *<crc32>\n
// CRC-32, a bounded frame writer for the board, and the canonical frame
// decoder that the host-side harness checks against agent/protocol.py.
#ifndef TXP_PROTOCOL_H
#define TXP_PROTOCOL_H

#include <stdint.h>
#include <string.h>

#include "txp_text.h"

namespace txp {

// 2 adds PROF; every v1 command and frame is unchanged.
static const uint32_t kProtocolVersion = 2;
// Longest line in either direction, terminator included.
static const size_t kMaxLine = 200;
// Buffer that holds any valid line plus its NUL.
static const size_t kLineBuffer = kMaxLine + 1;

// CRC-32 as zlib.crc32 (IEEE 802.3, reflected, init and final xor 0xffffffff).
// Pass the previous result as `crc` to continue over more bytes; start with 0.
uint32_t crc32(uint32_t crc, const void* data, size_t len);

enum Kind { KIND_OK, KIND_DATA, KIND_ERR, KIND_BOOT };
const char* kind_name(Kind kind);

// Builds one frame in a caller-provided buffer of at least kLineBuffer bytes.
// Use: begin(), any number of kv_*/list_*, at most one msg() last, finish().
class FrameWriter {
 public:
  explicit FrameWriter(char* buf);

  void begin(uint32_t seq, Kind kind);
  void kv_str(const char* key, const char* value);
  void kv_int(const char* key, int64_t value);
  void kv_hex8(const char* key, uint32_t value);
  void kv_milli(const char* key, uint64_t milli);
  // A comma-separated value list: list_begin("v"), then list_* per element.
  void list_begin(const char* key);
  void list_hex8(uint32_t value);
  void list_int(int64_t value);
  // Free text, always the last key. It is cut to the room left, and any byte
  // outside printable ASCII becomes '?', so an error message never breaks a frame.
  void msg(const char* text);

  // Appends " *<crc32>\n". Returns the line length (terminator included), or 0
  // if a key or value did not fit in kMaxLine bytes: the caller then must not send it.
  size_t finish();

 private:
  void key(const char* name);

  char* buf_;
  Text text_;
  bool list_empty_;
};

// Canonical decoding of one received line (`line` excludes the '\n'), the same
// as agent/protocol.py decode_line: too long first, then junk (no '@' after
// one trailing '\r' is dropped), then the " *<crc>" tail, the CRC, the grammar.
enum DecodeResult { DECODE_FRAME, DECODE_JUNK, DECODE_BAD_CRC, DECODE_BAD_GRAMMAR, DECODE_TOO_LONG };
const char* decode_result_name(DecodeResult r);  // "bad_crc", ... for the corrupt ones

static const size_t kMaxFields = 64;  // more than fit in 200 bytes ("k=" plus a space each)

struct Field {
  const char* key;
  size_t key_len;
  const char* value;
  size_t value_len;
};

struct Frame {
  uint32_t seq;
  Kind kind;
  size_t n_fields;
  Field fields[kMaxFields];  // point into the decoded line, in wire order
};

DecodeResult decode_frame(const char* line, size_t len, Frame* out);

}  // namespace txp

#endif  // TXP_PROTOCOL_H
