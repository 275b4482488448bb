#include "txp_protocol.h"

namespace txp {

// ---- CRC-32 ---------------------------------------------------------------
// Reflected polynomial 0xedb88320 processed a nibble at a time: a 64-byte table
// is 4x faster than bit by bit and small enough for any flash budget.
static const uint32_t kCrcNibble[16] = {
    0x00000000u, 0x1db71064u, 0x3b6e20c8u, 0x26d930acu, 0x76dc4190u, 0x6b6b51f4u,
    0x4db26158u, 0x5005713cu, 0xedb88320u, 0xf00f9344u, 0xd6d6a3e8u, 0xcb61b38cu,
    0x9b64c2b0u, 0x86d3d2d4u, 0xa00ae278u, 0xbdbdf21cu};

uint32_t crc32(uint32_t crc, const void* data, size_t len) {
  const uint8_t* p = static_cast<const uint8_t*>(data);
  crc = ~crc;
  for (size_t i = 0; i < len; ++i) {
    crc ^= p[i];
    crc = (crc >> 4) ^ kCrcNibble[crc & 0xFu];
    crc = (crc >> 4) ^ kCrcNibble[crc & 0xFu];
  }
  return ~crc;
}

// ---- kinds ----------------------------------------------------------------
static const char* const kKindNames[] = {"OK", "DATA", "ERR", "BOOT"};
static const size_t kKindCount = sizeof(kKindNames) / sizeof(kKindNames[0]);

const char* kind_name(Kind kind) { return kKindNames[kind]; }

static bool is_printable(char c) { return c >= 0x20 && c <= 0x7e; }

// ---- writer ---------------------------------------------------------------
// The tail " *" + 8 hex digits + "\n" is 11 bytes; the body keeps room for it.
static const size_t kTailLen = 11;

FrameWriter::FrameWriter(char* buf) : buf_(buf), text_(buf, kLineBuffer), list_empty_(true) {}

void FrameWriter::begin(uint32_t seq, Kind kind) {
  text_ = Text(buf_, kLineBuffer);
  text_.set_limit(kLineBuffer - kTailLen);
  text_.put_char('@');
  text_.put_u64(seq);
  text_.put_char(' ');
  text_.put(kind_name(kind));
}

void FrameWriter::key(const char* name) {
  text_.put_char(' ');
  text_.put(name);
  text_.put_char('=');
}

void FrameWriter::kv_str(const char* name, const char* value) {
  for (const char* p = value; *p; ++p) {
    if (*p == ' ' || !is_printable(*p)) {
      text_.fail();  // a value with a space would be misparsed: refuse the frame
      return;
    }
  }
  key(name);
  text_.put(value);
}

void FrameWriter::kv_int(const char* name, int64_t value) {
  key(name);
  text_.put_i64(value);
}

void FrameWriter::kv_hex8(const char* name, uint32_t value) {
  key(name);
  text_.put_hex8(value);
}

void FrameWriter::kv_milli(const char* name, uint64_t milli) {
  key(name);
  text_.put_milli(milli);
}

void FrameWriter::list_begin(const char* name) {
  key(name);
  list_empty_ = true;
}

void FrameWriter::list_hex8(uint32_t value) {
  if (!list_empty_) text_.put_char(',');
  list_empty_ = false;
  text_.put_hex8(value);
}

void FrameWriter::list_int(int64_t value) {
  if (!list_empty_) text_.put_char(',');
  list_empty_ = false;
  text_.put_i64(value);
}

void FrameWriter::msg(const char* message) {
  key("msg");
  for (const char* p = message; *p && text_.room() > 0; ++p) {
    text_.put_char(is_printable(*p) ? *p : '?');
  }
}

size_t FrameWriter::finish() {
  if (!text_.ok()) return 0;
  text_.set_limit(kLineBuffer);
  text_.put_char(' ');
  uint32_t crc = crc32(0, text_.c_str(), text_.size());
  text_.put_char('*');
  text_.put_hex8(crc);
  text_.put_char('\n');
  return text_.ok() ? text_.size() : 0;
}

// ---- decoder --------------------------------------------------------------
const char* decode_result_name(DecodeResult r) {
  switch (r) {
    case DECODE_BAD_CRC: return "bad_crc";
    case DECODE_BAD_GRAMMAR: return "bad_grammar";
    case DECODE_TOO_LONG: return "too_long";
    case DECODE_JUNK: return "junk";
    case DECODE_FRAME: break;
  }
  return "frame";
}

static int hex_digit_lower(char c) {
  if (c >= '0' && c <= '9') return c - '0';
  if (c >= 'a' && c <= 'f') return c - 'a' + 10;
  return -1;
}

static bool is_digit(char c) { return c >= '0' && c <= '9'; }

// seq: "0", or 1-5 digits without a leading zero, at most 65535.
static bool parse_seq(const char* s, size_t n, uint32_t* out) {
  if (n == 0 || n > 5 || (n > 1 && s[0] == '0')) return false;
  uint32_t v = 0;
  for (size_t i = 0; i < n; ++i) {
    if (!is_digit(s[i])) return false;
    v = v * 10 + static_cast<uint32_t>(s[i] - '0');
  }
  if (v > 65535) return false;
  *out = v;
  return true;
}

static bool parse_kind(const char* s, size_t n, Kind* out) {
  for (size_t k = 0; k < kKindCount; ++k) {
    if (strlen(kKindNames[k]) == n && memcmp(kKindNames[k], s, n) == 0) {
      *out = static_cast<Kind>(k);
      return true;
    }
  }
  return false;
}

static bool is_key_char(char c) { return (c >= 'a' && c <= 'z') || is_digit(c) || c == '_'; }

static bool has_key(const Frame* f, const char* key, size_t n) {
  for (size_t i = 0; i < f->n_fields; ++i) {
    if (f->fields[i].key_len == n && memcmp(f->fields[i].key, key, n) == 0) return true;
  }
  return false;
}

// Parses the "key=value ..." payload of head[pos..n) into out->fields: keys
// [a-z0-9_]+, values 1+ printable non-space bytes, msg last and free text.
static bool parse_fields(const char* head, size_t pos, size_t n, Frame* out) {
  while (pos < n) {
    size_t key_start = pos;
    while (pos < n && is_key_char(head[pos])) ++pos;
    size_t key_len = pos - key_start;
    if (key_len == 0 || pos >= n || head[pos] != '=') return false;
    if (has_key(out, head + key_start, key_len) || out->n_fields == kMaxFields) return false;
    ++pos;
    Field& f = out->fields[out->n_fields++];
    f.key = head + key_start;
    f.key_len = key_len;
    f.value = head + pos;
    if (key_len == 3 && memcmp(f.key, "msg", 3) == 0) {
      f.value_len = n - pos;  // msg runs to the " *" and may hold spaces
      return true;
    }
    while (pos < n && head[pos] != ' ') ++pos;
    f.value_len = static_cast<size_t>(head + pos - f.value);
    if (f.value_len == 0) return false;  // only msg may be empty
    if (pos < n) {
      ++pos;  // the single separating space; another token must follow
      if (pos == n) return false;
    }
  }
  return true;
}

DecodeResult decode_frame(const char* line, size_t len, Frame* out) {
  // Length first, whatever the line holds: a receiver drops any long line.
  if (len + 1 > kMaxLine) return DECODE_TOO_LONG;  // +1: the '\n' counts
  if (len > 0 && line[len - 1] == '\r') --len;
  if (len == 0 || line[0] != '@') return DECODE_JUNK;

  // Tail " *" + 8 lower-case hex digits.
  if (len < 10 || line[len - 10] != ' ' || line[len - 9] != '*') return DECODE_BAD_GRAMMAR;
  uint32_t sent = 0;
  for (size_t i = len - 8; i < len; ++i) {
    int d = hex_digit_lower(line[i]);
    if (d < 0) return DECODE_BAD_GRAMMAR;
    sent = (sent << 4) | static_cast<uint32_t>(d);
  }
  if (crc32(0, line, len - 9) != sent) return DECODE_BAD_CRC;

  const size_t n = len - 10;  // head: '@' up to, not including, the space before '*'
  for (size_t i = 0; i < n; ++i) {
    if (!is_printable(line[i])) return DECODE_BAD_GRAMMAR;
  }
  size_t pos = 1;
  while (pos < n && line[pos] != ' ') ++pos;
  if (!parse_seq(line + 1, pos - 1, &out->seq) || pos >= n) return DECODE_BAD_GRAMMAR;
  size_t kind_start = ++pos;
  while (pos < n && line[pos] != ' ') ++pos;
  if (!parse_kind(line + kind_start, pos - kind_start, &out->kind)) return DECODE_BAD_GRAMMAR;
  out->n_fields = 0;
  if (pos < n) {
    ++pos;
    if (pos == n || !parse_fields(line, pos, n, out)) return DECODE_BAD_GRAMMAR;
  }
  return DECODE_FRAME;
}

}  // namespace txp
