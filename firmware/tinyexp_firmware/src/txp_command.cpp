#include "txp_command.h"

#include "txp_values.h"

namespace txp {

LineAssembler::LineAssembler() : len_(0), overflow_(false), pending_reset_(false) { buf_[0] = '\0'; }

LineAssembler::Event LineAssembler::feed(char c) {
  if (pending_reset_) {
    len_ = 0;
    overflow_ = false;
    pending_reset_ = false;
    buf_[0] = '\0';
  }
  if (c == '\n') {
    pending_reset_ = true;
    if (overflow_) return TOO_LONG;
    if (len_ > 0 && buf_[len_ - 1] == '\r') buf_[--len_] = '\0';
    return LINE;
  }
  // With the "\n" a line may have kMaxLine bytes, so kMaxLine - 1 before it.
  if (len_ + 1 >= kMaxLine) {
    overflow_ = true;
    return NONE;
  }
  buf_[len_++] = c;
  buf_[len_] = '\0';
  return NONE;
}

static bool parse_seq(const char* s, size_t n, uint32_t* seq) {
  return n >= 1 && n <= 5 && s[0] != '0' && parse_u32(s, n, 65535, seq);
}

static const char* const kVerbs[] = {"HELLO", "INFO", "IN", "RUN", "BENCH", "PROF"};

static Verb lookup_verb(const char* s, size_t n) {
  for (size_t v = 0; v < sizeof(kVerbs) / sizeof(kVerbs[0]); ++v) {
    if (strlen(kVerbs[v]) == n && memcmp(kVerbs[v], s, n) == 0) return static_cast<Verb>(v);
  }
  return VERB_UNKNOWN;
}

// Next space-delimited token of line[*pos..len); false if it is empty, which
// catches double, leading and trailing spaces.
static bool next_token(const char* line, size_t len, size_t* pos, const char** tok, size_t* tok_len) {
  size_t start = *pos;
  while (*pos < len && line[*pos] != ' ') ++*pos;
  *tok = line + start;
  *tok_len = *pos - start;
  if (*pos < len) ++*pos;  // step over the separator
  return *tok_len > 0;
}

ParseResult parse_command(const char* line, size_t len, Command* cmd) {
  if (len == 0) return PARSE_EMPTY;
  for (size_t i = 0; i < len; ++i) {
    if (line[i] < 0x20 || line[i] > 0x7e) return PARSE_BAD;
  }
  size_t pos = 0;
  const char* tok;
  size_t tok_len;
  if (!next_token(line, len, &pos, &tok, &tok_len) || !parse_seq(tok, tok_len, &cmd->seq)) return PARSE_BAD;
  if (line[len - 1] == ' ' || pos >= len) return PARSE_BAD;
  if (!next_token(line, len, &pos, &cmd->verb_text, &cmd->verb_len)) return PARSE_BAD;
  cmd->verb = lookup_verb(cmd->verb_text, cmd->verb_len);
  cmd->argc = 0;
  cmd->too_many_args = false;
  while (pos < len) {
    if (!next_token(line, len, &pos, &tok, &tok_len)) return PARSE_BAD;
    if (cmd->argc == kMaxArgs) {
      cmd->too_many_args = true;
      continue;
    }
    cmd->argv[cmd->argc] = tok;
    cmd->argl[cmd->argc] = tok_len;
    ++cmd->argc;
  }
  return PARSE_OK;
}

}  // namespace txp
