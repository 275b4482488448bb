// Tensor values and decimal arguments as they travel in commands and frames:
// float32 as the 8 hex digits of its IEEE-754 bit pattern (exact, locale-free),
// int8 as a signed decimal.
#ifndef TXP_VALUES_H
#define TXP_VALUES_H

#include <stdint.h>
#include <string.h>

namespace txp {

enum DType { DTYPE_FLOAT32, DTYPE_INT8 };
const char* dtype_name(DType t);

// Exactly 8 hex digits (either case: hosts may print upper case) -> bit pattern.
bool parse_f32_hex(const char* s, size_t n, uint32_t* bits);
// "-128".."127"; an optional '-' and 1-3 digits.
bool parse_i8(const char* s, size_t n, int8_t* out);
// 1-10 decimal digits, no leading zero, with a value <= max (as agent/protocol.py).
bool parse_u32(const char* s, size_t n, uint32_t max, uint32_t* out);

}  // namespace txp

#endif  // TXP_VALUES_H
