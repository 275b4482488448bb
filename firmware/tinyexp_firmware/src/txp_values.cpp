#include "txp_values.h"

namespace txp {

const char* dtype_name(DType t) { return t == DTYPE_INT8 ? "int8" : "float32"; }

static int hex_digit(char c) {
  if (c >= '0' && c <= '9') return c - '0';
  if (c >= 'a' && c <= 'f') return c - 'a' + 10;
  if (c >= 'A' && c <= 'F') return c - 'A' + 10;
  return -1;
}

bool parse_f32_hex(const char* s, size_t n, uint32_t* bits) {
  if (n != 8) return false;
  uint32_t v = 0;
  for (size_t i = 0; i < n; ++i) {
    int d = hex_digit(s[i]);
    if (d < 0) return false;
    v = (v << 4) | static_cast<uint32_t>(d);
  }
  *bits = v;
  return true;
}

bool parse_u32(const char* s, size_t n, uint32_t max, uint32_t* out) {
  if (n == 0 || n > 10 || (n > 1 && s[0] == '0')) return false;  // no leading zeros
  uint64_t v = 0;
  for (size_t i = 0; i < n; ++i) {
    if (s[i] < '0' || s[i] > '9') return false;
    v = v * 10 + static_cast<uint64_t>(s[i] - '0');
  }
  if (v > max) return false;
  *out = static_cast<uint32_t>(v);
  return true;
}

bool parse_i8(const char* s, size_t n, int8_t* out) {
  bool negative = n > 0 && s[0] == '-';
  size_t skip = negative ? 1 : 0;
  uint32_t magnitude = 0;
  if (n - skip > 3 || !parse_u32(s + skip, n - skip, negative ? 128 : 127, &magnitude)) return false;
  *out = static_cast<int8_t>(negative ? -static_cast<int32_t>(magnitude) : static_cast<int32_t>(magnitude));
  return true;
}

}  // namespace txp
