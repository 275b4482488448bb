// Host-to-board commands of protocol v2 (v1's, plus PROF): "<seq> <VERB> [arg ...]\n".
// A bounded line assembler (it never holds more than one line's bytes) and a
// tokenizer that points into the assembled line.
#ifndef TXP_COMMAND_H
#define TXP_COMMAND_H

#include <stdint.h>
#include <string.h>

#include "txp_protocol.h"

namespace txp {

class LineAssembler {
 public:
  enum Event { NONE, LINE, TOO_LONG };

  LineAssembler();

  // Feeds one received byte. LINE: line()/length() hold the line without its
  // "\n" (and without one trailing "\r"). TOO_LONG: the line passed kMaxLine
  // bytes and was dropped (answered with seq 0, like any malformed line).
  Event feed(char c);
  const char* line() const { return buf_; }
  size_t length() const { return len_; }

 private:
  char buf_[kMaxLine];  // kMaxLine - 1 bytes of line, then the NUL
  size_t len_;
  bool overflow_;
  bool pending_reset_;
};

enum Verb { VERB_HELLO, VERB_INFO, VERB_IN, VERB_RUN, VERB_BENCH, VERB_PROF, VERB_UNKNOWN };

// IN takes an offset and up to 16 values; one more slot detects "too many".
static const size_t kMaxArgs = 18;

struct Command {
  uint32_t seq;
  Verb verb;
  const char* verb_text;
  size_t verb_len;
  size_t argc;
  bool too_many_args;
  const char* argv[kMaxArgs];
  size_t argl[kMaxArgs];
};

enum ParseResult {
  PARSE_OK,
  PARSE_EMPTY,  // empty line (a terminal's stray Enter): ignored, no answer
  PARSE_BAD,    // not "<seq 1..65535> <VERB> [arg ...]" in printable ASCII with single spaces
};

// Splits a line into seq, verb and arguments pointing into `line`. The seq is
// "1".."65535" without leading zeros. On PARSE_BAD nothing in the line is
// trusted, its seq included: the answer says seq 0 (as agent/protocol.py).
ParseResult parse_command(const char* line, size_t len, Command* cmd);

}  // namespace txp

#endif  // TXP_COMMAND_H
