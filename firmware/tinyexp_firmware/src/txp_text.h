// Bounded text building for protocol lines: no heap, no printf.
// Numbers are formatted here rather than with snprintf because Mbed OS based
// Arduino cores can link Mbed's minimal-printf, which drops %f and may drop %llu.
#ifndef TXP_TEXT_H
#define TXP_TEXT_H

#include <stdint.h>
#include <string.h>

namespace txp {

// Appends into a caller-provided buffer of `cap` bytes, always NUL-terminated.
// The first append that does not fit leaves the text as it was and marks the
// builder failed, so a truncated number or key can never reach the wire.
class Text {
 public:
  Text(char* buf, size_t cap);

  // Lowers or raises the usable size (still bounded by the buffer given to the
  // constructor); FrameWriter uses it to keep room for the CRC tail.
  void set_limit(size_t cap);

  // Marks the text failed, e.g. when a value would break the line's grammar.
  void fail() { ok_ = false; }

  bool put(const char* s);
  bool put_n(const char* s, size_t n);
  bool put_char(char c);
  bool put_u64(uint64_t v);
  bool put_i64(int64_t v);
  bool put_hex8(uint32_t v);
  // `milli` thousandths as "<int>.<3 digits>", the protocol's float format.
  bool put_milli(uint64_t milli);

  const char* c_str() const { return buf_; }
  size_t size() const { return len_; }
  size_t room() const { return limit_ - 1 - len_; }
  bool ok() const { return ok_; }

 private:
  char* buf_;
  size_t cap_;
  size_t limit_;
  size_t len_;
  bool ok_;
};

}  // namespace txp

#endif  // TXP_TEXT_H
