// libFuzzer target: the WordPiece tokenizer (src/embed/tokenizer.h) on arbitrary bytes, with a
// small BERT vocabulary. Valid UTF-8 must tokenize, with ids inside the vocabulary and spans
// inside the text; the same ids with and without spans; drop_unknown = the ids without [UNK];
// max_length = a prefix of the full result. Invalid UTF-8 must be refused, naming the byte.
#include <algorithm>
#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

#include "embed/tokenizer.h"

namespace {

const sextant::embed::Tokenizer& Tok() {
  static const sextant::embed::Tokenizer* t = [] {
    std::string vocab = "[PAD]\n[UNK]\n[CLS]\n[SEP]\n[MASK]\n";
    for (const char* w : {"the", "cat", "sat", "on", "mat", "un", "##able", "##s", "##ing", "hello", "world", ",", ".",
                          "!", "'", "\xe6\x9d\xb1", "\xe4\xba\xac", "cafe", "naive", "##e", "i", "\xcf\x83"}) {
      vocab += w;
      vocab += '\n';
    }
    for (char c = 'a'; c <= 'z'; ++c) vocab += std::string(1, c) + "\n##" + std::string(1, c) + "\n";
    return new sextant::embed::Tokenizer(std::move(sextant::embed::Tokenizer::FromVocabTxt(vocab)).value());
  }();
  return *t;
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  using namespace sextant::embed;
  const Tokenizer& tok = Tok();
  const std::string_view text(reinterpret_cast<const char*>(data), size);
  std::vector<int32_t> ids, plain;
  std::vector<TokenSpan> spans;
  const sextant::Status st = tok.Encode(text, {}, &ids, &spans);
  if (!st.ok()) {
    if (FirstInvalidUtf8(text) == std::string_view::npos) __builtin_trap();  // refused valid text
    if (st.message().rfind("text is not valid UTF-8 at byte ", 0) != 0) __builtin_trap();
    return 0;
  }
  if (FirstInvalidUtf8(text) != std::string_view::npos) __builtin_trap();  // accepted invalid text
  if (ids.size() != spans.size()) __builtin_trap();
  for (size_t i = 0; i < ids.size(); ++i) {
    if (ids[i] < 0 || static_cast<size_t>(ids[i]) >= tok.vocab_size()) __builtin_trap();
    if (spans[i].start > spans[i].end || spans[i].end > size) __builtin_trap();
    if (i > 0 && spans[i].start < spans[i - 1].start) __builtin_trap();
  }
  if (!tok.Encode(text, {}, &plain).ok() || plain != ids) __builtin_trap();
  std::vector<int32_t> known;
  if (!tok.Encode(text, {.drop_unknown = true}, &known).ok()) __builtin_trap();
  std::vector<int32_t> want;
  for (int32_t id : ids) {
    if (id != tok.unk_id()) want.push_back(id);
  }
  if (known != want) __builtin_trap();
  const size_t cut = 1 + size % 7;
  std::vector<int32_t> head;
  if (!tok.Encode(text, {.max_length = cut}, &head).ok()) __builtin_trap();
  if (head.size() != std::min(cut, ids.size()) || !std::equal(head.begin(), head.end(), ids.begin())) __builtin_trap();
  std::vector<int32_t> framed;
  if (!tok.Encode(text, {.add_special_tokens = true}, &framed).ok()) __builtin_trap();
  if (framed.size() != ids.size() + 2 || framed.front() != 2 || framed.back() != 3) __builtin_trap();
  return 0;
}
