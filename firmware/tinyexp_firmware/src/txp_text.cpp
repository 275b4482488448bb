#include "txp_text.h"

namespace txp {

Text::Text(char* buf, size_t cap) : buf_(buf), cap_(cap), limit_(cap), len_(0), ok_(cap > 0) {
  if (cap_ > 0) buf_[0] = '\0';
}

void Text::set_limit(size_t cap) {
  limit_ = cap < cap_ ? cap : cap_;
  if (len_ + 1 > limit_) ok_ = false;
}

bool Text::put_n(const char* s, size_t n) {
  if (!ok_ || len_ + n + 1 > limit_) {
    ok_ = false;
    return false;
  }
  memcpy(buf_ + len_, s, n);
  len_ += n;
  buf_[len_] = '\0';
  return true;
}

bool Text::put(const char* s) { return put_n(s, strlen(s)); }

bool Text::put_char(char c) { return put_n(&c, 1); }

// Writes v's decimal digits right-aligned into out[0..20) and returns how many.
static size_t format_u64(uint64_t v, char out[20]) {
  size_t n = 0;
  do {
    out[19 - n] = static_cast<char>('0' + v % 10);
    v /= 10;
    ++n;
  } while (v != 0);
  return n;
}

bool Text::put_u64(uint64_t v) {
  char digits[20];
  size_t n = format_u64(v, digits);
  return put_n(digits + 20 - n, n);
}

bool Text::put_i64(int64_t v) {
  if (v >= 0) return put_u64(static_cast<uint64_t>(v));
  // Negate in unsigned arithmetic so INT64_MIN does not overflow.
  char out[21];
  size_t n = format_u64(~static_cast<uint64_t>(v) + 1, out + 1);
  out[20 - n] = '-';
  return put_n(out + 20 - n, n + 1);
}

bool Text::put_hex8(uint32_t v) {
  static const char kHex[] = "0123456789abcdef";
  char out[8];
  for (int i = 7; i >= 0; --i) {
    out[i] = kHex[v & 0xFu];
    v >>= 4;
  }
  return put_n(out, 8);
}

bool Text::put_milli(uint64_t milli) {
  char out[24];
  size_t n = format_u64(milli / 1000, out);
  memmove(out, out + 20 - n, n);
  uint32_t f = static_cast<uint32_t>(milli % 1000);
  out[n] = '.';
  out[n + 1] = static_cast<char>('0' + f / 100);
  out[n + 2] = static_cast<char>('0' + (f / 10) % 10);
  out[n + 3] = static_cast<char>('0' + f % 10);
  return put_n(out, n + 4);
}

}  // namespace txp
