#include "embed/tokenizer.h"

#include <unicode/normalizer2.h>
#include <unicode/uchar.h>
#include <unicode/unistr.h>
#include <unicode/utf8.h>

#include <algorithm>
#include <cstring>
#include <limits>
#include <utility>

#include "common/excerpt.h"
#include "common/json.h"
#include "common/mapped_file.h"

namespace sextant::embed {
namespace {

using nlohmann::json;

// ---------------------------------------------------------------------------------------------
// Unicode classes, as `tokenizers` defines them (with ICU's data).

bool IsOther(char32_t c) {  // Rust's unicode_categories is_other: Cc Cf Cs Co Cn
  switch (u_charType(static_cast<UChar32>(c))) {
    case U_CONTROL_CHAR: case U_FORMAT_CHAR: case U_SURROGATE: case U_PRIVATE_USE_CHAR: case U_UNASSIGNED:
      return true;
    default:
      return false;
  }
}
bool IsBertWhitespace(char32_t c) {
  return c == '\t' || c == '\n' || c == '\r' || u_isUWhiteSpace(static_cast<UChar32>(c));
}
bool IsBertControl(char32_t c) { return c != '\t' && c != '\n' && c != '\r' && IsOther(c); }
bool IsChinese(char32_t c) {
  return (c >= 0x4E00 && c <= 0x9FFF) || (c >= 0x3400 && c <= 0x4DBF) || (c >= 0x20000 && c <= 0x2A6DF) ||
         (c >= 0x2A700 && c <= 0x2B73F) || (c >= 0x2B740 && c <= 0x2B81F) || (c >= 0x2B920 && c <= 0x2CEAF) ||
         (c >= 0xF900 && c <= 0xFAFF) || (c >= 0x2F800 && c <= 0x2FA1F);
}
bool IsNonspacingMark(char32_t c) { return u_charType(static_cast<UChar32>(c)) == U_NON_SPACING_MARK; }
bool IsPunctuation(char32_t c) {  // ASCII punctuation or Unicode P*
  if (c < 0x80) {
    return (c >= 33 && c <= 47) || (c >= 58 && c <= 64) || (c >= 91 && c <= 96) || (c >= 123 && c <= 126);
  }
  switch (u_charType(static_cast<UChar32>(c))) {
    case U_DASH_PUNCTUATION: case U_START_PUNCTUATION: case U_END_PUNCTUATION: case U_CONNECTOR_PUNCTUATION:
    case U_OTHER_PUNCTUATION: case U_INITIAL_PUNCTUATION: case U_FINAL_PUNCTUATION:
      return true;
    default:
      return false;
  }
}
bool IsAlphanumeric(char32_t c) {  // Rust's char::is_alphanumeric
  if (u_hasBinaryProperty(static_cast<UChar32>(c), UCHAR_ALPHABETIC)) return true;
  const int8_t t = u_charType(static_cast<UChar32>(c));
  return t == U_DECIMAL_DIGIT_NUMBER || t == U_LETTER_NUMBER || t == U_OTHER_NUMBER;
}
// Rust's char::to_lowercase: the full mapping, without context. The only unconditional
// multi-character lowercase mapping in Unicode is U+0130 (SpecialCasing.txt).
void AppendLower(char32_t c, std::u32string& out) {
  if (c == 0x130) {
    out += U'i';
    out += char32_t{0x307};
    return;
  }
  out += static_cast<char32_t>(u_tolower(static_cast<UChar32>(c)));
}
// The full decomposition of `c` under `n` (NFD or NFKD) into out[0, returned count); at most
// kMaxDecomposition code points (Unicode's longest, U+FDFA under NFKD, has 18).
constexpr size_t kMaxDecomposition = 32;
size_t Decompose(const icu::Normalizer2* n, char32_t c, char32_t* out) {
  icu::UnicodeString d;  // decompositions fit its inline buffer: no allocation
  if (!n->getDecomposition(static_cast<UChar32>(c), d)) {
    out[0] = c;
    return 1;
  }
  size_t k = 0;
  for (int32_t i = 0; i < d.length() && k < kMaxDecomposition;) {
    const UChar32 x = d.char32At(i);
    out[k++] = static_cast<char32_t>(x);
    i += U16_LENGTH(x);
  }
  return k;
}

void AppendUtf8(char32_t c, std::string& out) {
  if (c < 0x80) {
    out += static_cast<char>(c);
  } else if (c < 0x800) {
    out += static_cast<char>(0xC0 | (c >> 6));
    out += static_cast<char>(0x80 | (c & 0x3F));
  } else if (c < 0x10000) {
    out += static_cast<char>(0xE0 | (c >> 12));
    out += static_cast<char>(0x80 | ((c >> 6) & 0x3F));
    out += static_cast<char>(0x80 | (c & 0x3F));
  } else {
    out += static_cast<char>(0xF0 | (c >> 18));
    out += static_cast<char>(0x80 | ((c >> 12) & 0x3F));
    out += static_cast<char>(0x80 | ((c >> 6) & 0x3F));
    out += static_cast<char>(0x80 | (c & 0x3F));
  }
}

// Decodes the code point at text[i] (valid UTF-8 known), advancing i.
inline char32_t DecodeValid(std::string_view text, size_t& i) {
  const auto* s = reinterpret_cast<const uint8_t*>(text.data());
  const uint8_t b = s[i];
  if (b < 0x80) {
    ++i;
    return b;
  }
  if (b < 0xE0) {
    const char32_t c = ((b & 0x1Fu) << 6) | (s[i + 1] & 0x3Fu);
    i += 2;
    return c;
  }
  if (b < 0xF0) {
    const char32_t c = ((b & 0x0Fu) << 12) | ((s[i + 1] & 0x3Fu) << 6) | (s[i + 2] & 0x3Fu);
    i += 3;
    return c;
  }
  const char32_t c = ((b & 0x07u) << 18) | ((s[i + 1] & 0x3Fu) << 12) | ((s[i + 2] & 0x3Fu) << 6) | (s[i + 3] & 0x3Fu);
  i += 4;
  return c;
}

}  // namespace

size_t FirstInvalidUtf8(std::string_view text) {
  const auto* s = reinterpret_cast<const uint8_t*>(text.data());
  const size_t n = text.size();
  size_t i = 0;
  while (i < n) {
    if (i + 8 <= n) {
      uint64_t w;
      std::memcpy(&w, s + i, 8);
      if ((w & 0x8080808080808080ull) == 0) {
        i += 8;
        continue;
      }
    }
    if (s[i] < 0x80) {
      ++i;
      continue;
    }
    const size_t at = i;
    UChar32 c;
    int32_t pos = 0;
    const int32_t len = static_cast<int32_t>(std::min<size_t>(4, n - i));
    U8_NEXT(s + i, pos, len, c);
    if (c < 0) return at;
    i += static_cast<size_t>(pos);
  }
  return std::string_view::npos;
}

namespace {

// ---------------------------------------------------------------------------------------------
// The vocabulary: open addressing over string keys kept in one arena (lookups take a
// string_view into the word being tokenized; no allocation).

uint64_t HashBytes(const char* p, size_t n) {
  uint64_t h = 0x9e3779b97f4a7c15ull ^ (n * 0xff51afd7ed558ccdull);
  while (n >= 8) {
    uint64_t v;
    std::memcpy(&v, p, 8);
    h = (h ^ v) * 0xbf58476d1ce4e5b9ull;
    h ^= h >> 31;
    p += 8;
    n -= 8;
  }
  if (n > 0) {
    uint64_t v = 0;
    std::memcpy(&v, p, n);
    h = (h ^ v) * 0x94d049bb133111ebull;
    h ^= h >> 29;
  }
  h *= 0xbf58476d1ce4e5b9ull;
  return h ^ (h >> 32);
}

class VocabTable {
 public:
  // Later entries with the same key replace earlier ones.
  void Build(const std::vector<std::pair<std::string_view, int32_t>>& entries) {
    size_t cap = 16;
    while (cap < entries.size() * 2) cap <<= 1;
    slots_.assign(cap, Slot{});
    mask_ = cap - 1;
    arena_.clear();
    max_len_ = 0;
    // About 16 filter bits per key: a probe for a string that is not a token (most of
    // WordPiece's longest-match probes) is answered from this small array ~97% of the time.
    size_t bits = 1024;
    while (bits < entries.size() * 16) bits <<= 1;
    filter_.assign(bits / 64, 0);
    filter_mask_ = bits - 1;
    for (const auto& [key, id] : entries) {
      const uint64_t h = HashBytes(key.data(), key.size());
      size_t i = h & mask_;
      while (slots_[i].id >= 0) {
        if (slots_[i].hash == static_cast<uint32_t>(h) && KeyOf(slots_[i]) == key) break;
        i = (i + 1) & mask_;
      }
      Slot& slot = slots_[i];
      if (slot.id < 0) {
        slot.hash = static_cast<uint32_t>(h);
        slot.len = static_cast<uint32_t>(key.size());
        if (key.size() <= kInline) {
          std::memcpy(slot.key, key.data(), key.size());
        } else {
          const uint32_t off = static_cast<uint32_t>(arena_.size());
          std::memcpy(slot.key, &off, sizeof off);
          arena_.append(key);
        }
      }
      slot.id = id;
      const size_t bit = (h >> 32) & filter_mask_;
      filter_[bit >> 6] |= uint64_t{1} << (bit & 63);
      max_len_ = std::max(max_len_, key.size());
    }
  }
  int32_t Find(std::string_view key) const {
    if (slots_.empty()) return -1;
    const uint64_t h = HashBytes(key.data(), key.size());
    const size_t bit = (h >> 32) & filter_mask_;
    if (((filter_[bit >> 6] >> (bit & 63)) & 1) == 0) return -1;
    for (size_t i = h & mask_;; i = (i + 1) & mask_) {
      const Slot& s = slots_[i];
      if (s.id < 0) return -1;
      if (s.hash == static_cast<uint32_t>(h) && s.len == key.size() && KeyOf(s) == key) return s.id;
    }
  }
  size_t max_len() const { return max_len_; }

 private:
  // Keys of up to kInline bytes live in the slot itself (one cache line holds two slots), so a
  // hit costs one memory access; longer keys are in the arena.
  static constexpr size_t kInline = 20;
  struct Slot {
    uint32_t hash = 0;
    int32_t id = -1;
    uint32_t len = 0;
    char key[kInline] = {};
  };
  static_assert(sizeof(Slot) == 32);
  std::string_view KeyOf(const Slot& s) const {
    if (s.len <= kInline) return {s.key, s.len};
    uint32_t off;
    std::memcpy(&off, s.key, sizeof off);
    return std::string_view(arena_).substr(off, s.len);
  }
  std::vector<Slot> slots_;
  std::string arena_;
  size_t mask_ = 0;
  std::vector<uint64_t> filter_;
  size_t filter_mask_ = 0;
  size_t max_len_ = 0;
};

// ---------------------------------------------------------------------------------------------

enum class NormKind { kBert, kNfd, kNfkd, kLowercase, kStripAccents };
struct NormStep {
  NormKind kind;
  bool clean_text = false;
  bool chinese = false;
  bool strip_accents = false;
  bool lowercase = false;
};

enum CharClass : uint8_t { kOther = 0, kSpace = 1, kPunct = 2 };
// What the ASCII fast path does with a byte.
enum AsciiAction : uint8_t { kDrop, kFlush, kIsolate, kAppend, kSlow };

struct AddedToken {
  std::string content;  // as matched (normalized content for normalized tokens)
  int32_t id = 0;
  bool single_word = false;
  bool lstrip = false;
  bool rstrip = false;
};

// A set of added tokens to split text on: candidates by first byte, longest first.
struct AddedSet {
  std::vector<AddedToken> tokens;
  std::vector<uint32_t> by_first[256];
  bool empty() const { return tokens.empty(); }
  void Index() {
    std::vector<uint32_t> order(tokens.size());
    for (uint32_t i = 0; i < order.size(); ++i) order[i] = i;
    std::stable_sort(order.begin(), order.end(), [&](uint32_t a, uint32_t b) {
      return tokens[a].content.size() > tokens[b].content.size();
    });
    for (auto& v : by_first) v.clear();
    for (uint32_t i : order) by_first[static_cast<uint8_t>(tokens[i].content[0])].push_back(i);
  }
};

// Per-thread buffers, reused across calls so that tokenizing allocates nothing in steady state.
struct Scratch {
  std::string word;                // the current word, normalized UTF-8
  std::vector<TokenSpan> word_src; // per byte of `word`: its source span (when spans are asked)
  size_t word_chars = 0;
  std::vector<std::pair<int32_t, uint32_t>> pieces;  // WordPiece: (id, end byte in word)
  std::u32string norm_a, norm_b;   // generic normalization (NormalizeChar's steps)
  std::u32string char_out;         // one character's normalization
  std::string norm;                // normalized segment (only with normalized added tokens)
  std::vector<TokenSpan> norm_src; // per byte of `norm`
};

Scratch& ThreadScratch() {
  thread_local Scratch s;
  return s;
}

// Where tokens go: the result, minus dropped unknowns, up to the limit.
struct Sink {
  std::vector<int32_t>* ids;
  std::vector<TokenSpan>* spans;
  size_t limit;
  int32_t drop;  // id left out (-1: none)
  bool full = false;
  void Add(int32_t id, TokenSpan span) {
    if (full || id == drop) return;
    ids->push_back(id);
    if (spans) spans->push_back(span);
    if (ids->size() >= limit) full = true;
  }
};

Status Bad(const std::string& source, const std::string& what) {
  return Status::InvalidArgument(source + ": " + what);
}

// A name from a tokenizer file, cut for messages.
std::string Shown(std::string_view s) { return Excerpt(s, 60); }

}  // namespace

// ---------------------------------------------------------------------------------------------

struct Tokenizer::Impl {
  std::string source;
  const icu::Normalizer2* nfd = nullptr;
  const icu::Normalizer2* nfkd = nullptr;

  // Normalizer: the steps, and their result precomputed for every code point below 0x800.
  std::vector<NormStep> steps;
  static constexpr char32_t kSmall = 0x800;
  std::vector<uint32_t> small_begin;  // kSmall + 1 offsets into small_pool
  std::u32string small_pool;
  uint8_t small_class[kSmall] = {};
  AsciiAction ascii_action[128] = {};
  char ascii_char[128] = {};

  // Pre-tokenizer.
  bool split_whitespace = false;
  bool isolate_punctuation = false;

  // WordPiece.
  VocabTable initial;       // every token as written
  VocabTable continuation;  // tokens that start with the prefix, without it
  std::string prefix = "##";
  size_t max_chars_per_word = 100;
  int32_t unk = -1;
  std::vector<std::pair<int32_t, std::string>> id_to_token;  // sorted by id
  size_t vocab_size = 0;

  AddedSet raw_added;         // matched on the raw text
  AddedSet normalized_added;  // matched on normalized text

  bool has_post = false;
  std::vector<int32_t> special_prefix, special_suffix;
  size_t truncation = 0;

  // --- loading ---

  Status InitIcu() {
    UErrorCode ec = U_ZERO_ERROR;
    nfd = icu::Normalizer2::getNFDInstance(ec);
    if (U_FAILURE(ec)) return Status::Internal(std::string("ICU NFD: ") + u_errorName(ec));
    nfkd = icu::Normalizer2::getNFKDInstance(ec);
    if (U_FAILURE(ec)) return Status::Internal(std::string("ICU NFKD: ") + u_errorName(ec));
    return Status::OK();
  }

  // The normalization of one code point, appended to `out` (the slow, general path).
  void NormalizeChar(char32_t c, std::u32string& out, Scratch& s) const {
    if (steps.empty()) {
      out += c;
      return;
    }
    std::u32string& a = s.norm_a;
    std::u32string& b = s.norm_b;
    a.assign(1, c);
    for (const NormStep& step : steps) {
      b.clear();
      for (char32_t x : a) ApplyStep(step, x, b);
      a.swap(b);
    }
    out += a;
  }

  void ApplyStep(const NormStep& step, char32_t c, std::u32string& out) const {
    switch (step.kind) {
      case NormKind::kNfd:
      case NormKind::kNfkd: {
        char32_t d[kMaxDecomposition];
        out.append(d, Decompose(step.kind == NormKind::kNfd ? nfd : nfkd, c, d));
        return;
      }
      case NormKind::kLowercase: AppendLower(c, out); return;
      case NormKind::kStripAccents:
        if (!IsNonspacingMark(c)) out += c;
        return;
      case NormKind::kBert: {
        if (step.clean_text) {
          if (c == 0 || c == 0xFFFD || IsBertControl(c)) return;
          if (IsBertWhitespace(c)) c = U' ';
        }
        const bool pad = step.chinese && IsChinese(c);
        if (pad) out += U' ';
        char32_t decomposed[kMaxDecomposition];
        size_t n = 0;
        if (step.strip_accents) {
          char32_t d[kMaxDecomposition];
          const size_t nd = Decompose(nfd, c, d);
          for (size_t i = 0; i < nd; ++i) {
            if (!IsNonspacingMark(d[i])) decomposed[n++] = d[i];
          }
        } else {
          decomposed[n++] = c;
        }
        for (size_t i = 0; i < n; ++i) {
          if (step.lowercase) {
            AppendLower(decomposed[i], out);
          } else {
            out += decomposed[i];
          }
        }
        if (pad) out += U' ';
        return;
      }
    }
  }

  CharClass Classify(char32_t c) const {
    if (c < kSmall) return static_cast<CharClass>(small_class[c]);
    return ClassifySlow(c);
  }
  CharClass ClassifySlow(char32_t c) const {
    if (split_whitespace && IsBertWhitespace(c)) return kSpace;
    if (isolate_punctuation && IsPunctuation(c)) return kPunct;
    return kOther;
  }

  void Precompute() {
    Scratch s;
    small_begin.assign(kSmall + 1, 0);
    small_pool.clear();
    for (char32_t c = 0; c < kSmall; ++c) {
      small_begin[c] = static_cast<uint32_t>(small_pool.size());
      NormalizeChar(c, small_pool, s);
      small_class[c] = ClassifySlow(c);
    }
    small_begin[kSmall] = static_cast<uint32_t>(small_pool.size());
    for (char32_t c = 0; c < 128; ++c) {
      const uint32_t b = small_begin[c], e = small_begin[c + 1];
      if (e == b) {
        ascii_action[c] = kDrop;
      } else if (e - b == 1 && small_pool[b] < 128) {
        const char32_t o = small_pool[b];
        ascii_char[c] = static_cast<char>(o);
        const CharClass k = Classify(o);
        ascii_action[c] = k == kSpace ? kFlush : k == kPunct ? kIsolate : kAppend;
      } else {
        ascii_action[c] = kSlow;
      }
    }
  }

  // --- encoding ---

  void FlushWord(Scratch& s, Sink& sink, bool want_spans) const {
    if (s.word.empty()) return;
    WordPiece(s, sink, want_spans);
    s.word.clear();
    s.word_src.clear();
    s.word_chars = 0;
  }

  void AppendToWord(char32_t c, TokenSpan src, Scratch& s, bool want_spans) const {
    const size_t before = s.word.size();
    AppendUtf8(c, s.word);
    ++s.word_chars;
    if (want_spans) s.word_src.insert(s.word_src.end(), s.word.size() - before, src);
  }

  // One normalized character into the pre-tokenizer.
  void Feed(char32_t c, TokenSpan src, Scratch& s, Sink& sink, bool want_spans) const {
    switch (Classify(c)) {
      case kSpace:
        FlushWord(s, sink, want_spans);
        return;
      case kPunct:
        FlushWord(s, sink, want_spans);
        AppendToWord(c, src, s, want_spans);
        FlushWord(s, sink, want_spans);
        return;
      default:
        AppendToWord(c, src, s, want_spans);
    }
  }

  void WordPiece(Scratch& s, Sink& sink, bool want_spans) const {
    const std::string_view w = s.word;
    auto span_of = [&](size_t b, size_t e) {
      return want_spans ? TokenSpan{s.word_src[b].start, s.word_src[e - 1].end} : TokenSpan{};
    };
    if (s.word_chars > max_chars_per_word) {
      sink.Add(unk, span_of(0, w.size()));
      return;
    }
    s.pieces.clear();
    size_t start = 0;
    while (start < w.size()) {
      const VocabTable& table = start == 0 ? initial : continuation;
      size_t end = std::min(w.size(), start + table.max_len());
      while (end < w.size() && (static_cast<uint8_t>(w[end]) & 0xC0) == 0x80) --end;
      int32_t id = -1;
      while (end > start) {
        id = table.Find(w.substr(start, end - start));
        if (id >= 0) break;
        --end;
        while (end > start && (static_cast<uint8_t>(w[end]) & 0xC0) == 0x80) --end;
      }
      if (id < 0) {
        sink.Add(unk, span_of(0, w.size()));
        return;
      }
      s.pieces.emplace_back(id, static_cast<uint32_t>(end));
      start = end;
    }
    size_t b = 0;
    for (const auto& [id, e] : s.pieces) {
      sink.Add(id, span_of(b, e));
      b = e;
    }
  }

  // Normalizes text[begin, end) and feeds it to the pre-tokenizer (or, with `collect`, into
  // s.norm for the normalized added tokens).
  void NormalizeSegment(std::string_view text, size_t begin, size_t end, Scratch& s, Sink& sink,
                        bool want_spans, bool collect) const {
    auto emit = [&](char32_t c, TokenSpan src) {
      if (collect) {
        const size_t before = s.norm.size();
        AppendUtf8(c, s.norm);
        if (want_spans) s.norm_src.insert(s.norm_src.end(), s.norm.size() - before, src);
      } else {
        Feed(c, src, s, sink, want_spans);
      }
    };
    size_t i = begin;
    while (i < end && !sink.full) {
      const uint8_t b = static_cast<uint8_t>(text[i]);
      if (b < 0x80 && !collect) {
        const AsciiAction a = ascii_action[b];
        if (a == kAppend) {  // a run of plain ASCII word characters, copied (mapped) at once
          size_t j = i + 1;
          while (j < end && static_cast<uint8_t>(text[j]) < 0x80 && ascii_action[static_cast<uint8_t>(text[j])] == kAppend) ++j;
          const size_t before = s.word.size();
          s.word.resize(before + (j - i));
          char* w = s.word.data() + before;
          for (size_t k = i; k < j; ++k) *w++ = ascii_char[static_cast<uint8_t>(text[k])];
          s.word_chars += j - i;
          if (want_spans) {
            for (size_t k = i; k < j; ++k) s.word_src.push_back({static_cast<uint32_t>(k), static_cast<uint32_t>(k + 1)});
          }
          i = j;
          continue;
        }
        if (a == kDrop) {
          ++i;
          continue;
        }
        if (a == kFlush) {
          FlushWord(s, sink, want_spans);
          ++i;
          continue;
        }
        if (a == kIsolate) {
          FlushWord(s, sink, want_spans);
          s.word += ascii_char[b];
          s.word_chars = 1;
          if (want_spans) s.word_src.push_back({static_cast<uint32_t>(i), static_cast<uint32_t>(i + 1)});
          FlushWord(s, sink, want_spans);
          ++i;
          continue;
        }
      }
      const size_t at = i;
      const char32_t c = DecodeValid(text, i);
      const TokenSpan src{static_cast<uint32_t>(at), static_cast<uint32_t>(i)};
      if (c < kSmall) {
        for (uint32_t k = small_begin[c]; k < small_begin[c + 1]; ++k) emit(small_pool[k], src);
      } else {
        s.char_out.clear();
        NormalizeChar(c, s.char_out, s);
        for (char32_t x : s.char_out) emit(x, src);
      }
    }
  }

  // Splits text[begin, end) on the tokens of `set`; calls on_text(b, e) for the pieces between
  // and on_token(id, b, e) for each match.
  template <typename OnText, typename OnToken>
  void SplitAdded(const AddedSet& set, std::string_view text, size_t begin, size_t end, const bool& stop,
                  OnText on_text, OnToken on_token) const {
    size_t seg = begin, i = begin;
    while (i < end && !stop) {
      const auto& cands = set.by_first[static_cast<uint8_t>(text[i])];
      const AddedToken* hit = nullptr;
      for (uint32_t k : cands) {
        const AddedToken& t = set.tokens[k];
        if (t.content.size() <= end - i && std::memcmp(text.data() + i, t.content.data(), t.content.size()) == 0) {
          if (t.single_word && !IsSingleWord(text, begin, end, i, i + t.content.size())) continue;
          hit = &t;
          break;
        }
      }
      if (hit == nullptr) {
        ++i;
        continue;
      }
      size_t mb = i, me = i + hit->content.size();
      if (hit->lstrip) {
        while (mb > seg) {
          size_t p = mb - 1;
          while (p > seg && (static_cast<uint8_t>(text[p]) & 0xC0) == 0x80) --p;
          size_t q = p;
          if (!IsWhitespaceAt(text, q)) break;
          mb = p;
        }
      }
      if (hit->rstrip) {
        while (me < end) {
          size_t q = me;
          if (!IsWhitespaceAt(text, q) || q > end) break;
          me = q;
        }
      }
      if (mb > seg) on_text(seg, mb);
      on_token(hit->id, mb, me);
      seg = i = me;
    }
    if (seg < end && !stop) on_text(seg, end);
  }
  // Rust's char::is_whitespace at text[i], advancing i.
  static bool IsWhitespaceAt(std::string_view text, size_t& i) {
    const char32_t c = DecodeValid(text, i);
    return u_isUWhiteSpace(static_cast<UChar32>(c));
  }
  static bool IsSingleWord(std::string_view text, size_t begin, size_t end, size_t mb, size_t me) {
    if (mb > begin) {
      size_t p = mb - 1;
      while (p > begin && (static_cast<uint8_t>(text[p]) & 0xC0) == 0x80) --p;
      if (IsAlphanumeric(DecodeValid(text, p))) return false;
    }
    if (me < end) {
      size_t q = me;
      if (IsAlphanumeric(DecodeValid(text, q))) return false;
    }
    return true;
  }

  // Tokenizes one piece of raw text between added tokens.
  void EncodeSegment(std::string_view text, size_t begin, size_t end, Scratch& s, Sink& sink, bool want_spans) const {
    if (normalized_added.empty()) {
      NormalizeSegment(text, begin, end, s, sink, want_spans, false);
      FlushWord(s, sink, want_spans);
      return;
    }
    s.norm.clear();
    s.norm_src.clear();
    NormalizeSegment(text, begin, end, s, sink, want_spans, true);
    const std::string& norm = s.norm;  // Feed below builds words in s.word; s.norm stays put
    const std::vector<TokenSpan>& norm_src = s.norm_src;
    auto source_of = [&](size_t b, size_t e) {
      return want_spans && e > b ? TokenSpan{norm_src[b].start, norm_src[e - 1].end} : TokenSpan{};
    };
    SplitAdded(
        normalized_added, norm, 0, norm.size(), sink.full,
        [&](size_t b, size_t e) {
          for (size_t i = b; i < e && !sink.full;) {
            const size_t at = i;
            const char32_t c = DecodeValid(norm, i);
            Feed(c, source_of(at, i), s, sink, want_spans);
          }
          FlushWord(s, sink, want_spans);
        },
        [&](int32_t id, size_t b, size_t e) { sink.Add(id, source_of(b, e)); });
  }
};

// ---------------------------------------------------------------------------------------------
// Loading tokenizer.json.

namespace {

Result<bool> BoolField(const json& j, const char* key, bool def, const std::string& where, const std::string& source) {
  const auto it = j.find(key);
  if (it == j.end() || it->is_null()) return def;
  if (!it->is_boolean()) return Bad(source, where + "." + key + " must be true or false");
  return it->get<bool>();
}

std::string TypeOf(const json& j) {
  const auto it = j.find("type");
  return it != j.end() && it->is_string() ? it->get<std::string>() : std::string();
}

Status AddNormalizer(const json& j, std::vector<NormStep>& steps, const std::string& source, int depth) {
  if (j.is_null()) return Status::OK();
  if (!j.is_object()) return Bad(source, "normalizer is not an object");
  const std::string type = TypeOf(j);
  const std::string where = "normalizer '" + Shown(type) + "'";
  if (type == "BertNormalizer") {
    NormStep s{NormKind::kBert};
    SEXTANT_ASSIGN_OR_RETURN(s.clean_text, BoolField(j, "clean_text", true, "normalizer", source));
    SEXTANT_ASSIGN_OR_RETURN(s.chinese, BoolField(j, "handle_chinese_chars", true, "normalizer", source));
    SEXTANT_ASSIGN_OR_RETURN(s.lowercase, BoolField(j, "lowercase", true, "normalizer", source));
    SEXTANT_ASSIGN_OR_RETURN(s.strip_accents, BoolField(j, "strip_accents", s.lowercase, "normalizer", source));
    steps.push_back(s);
  } else if (type == "NFD") {
    steps.push_back({NormKind::kNfd});
  } else if (type == "NFKD") {
    steps.push_back({NormKind::kNfkd});
  } else if (type == "Lowercase") {
    steps.push_back({NormKind::kLowercase});
  } else if (type == "StripAccents") {
    steps.push_back({NormKind::kStripAccents});
  } else if (type == "Sequence") {
    if (depth > 8) return Bad(source, "normalizer Sequence nests too deep");
    const auto it = j.find("normalizers");
    if (it == j.end() || !it->is_array()) return Bad(source, "normalizer Sequence has no 'normalizers' array");
    for (const json& n : *it) SEXTANT_RETURN_IF_ERROR(AddNormalizer(n, steps, source, depth + 1));
  } else {
    return Bad(source, (type.empty() ? std::string("a normalizer without a type") : "normalizer type '" + Shown(type) + "'") +
                           " is not supported (supported: BertNormalizer, NFD, NFKD, Lowercase, StripAccents, "
                           "Sequence of these)");
  }
  return Status::OK();
}

Status AddPreTokenizer(const json& j, bool& ws, bool& punct, const std::string& source, int depth) {
  if (j.is_null()) return Status::OK();
  if (!j.is_object()) return Bad(source, "pre_tokenizer is not an object");
  const std::string type = TypeOf(j);
  if (type == "BertPreTokenizer") {
    ws = punct = true;
  } else if (type == "WhitespaceSplit") {
    ws = true;
  } else if (type == "Punctuation") {
    const auto it = j.find("behavior");
    if (it != j.end() && !(it->is_string() && it->get<std::string>() == "Isolated")) {
      return Bad(source, "pre_tokenizer Punctuation with behavior " + Shown(it->dump()) +
                             " is not supported (supported: Isolated)");
    }
    punct = true;
  } else if (type == "Sequence") {
    if (depth > 8) return Bad(source, "pre_tokenizer Sequence nests too deep");
    const auto it = j.find("pretokenizers");
    if (it == j.end() || !it->is_array()) return Bad(source, "pre_tokenizer Sequence has no 'pretokenizers' array");
    for (const json& p : *it) SEXTANT_RETURN_IF_ERROR(AddPreTokenizer(p, ws, punct, source, depth + 1));
  } else {
    return Bad(source, (type.empty() ? std::string("a pre_tokenizer without a type") : "pre_tokenizer type '" + Shown(type) + "'") +
                           " is not supported (supported: BertPreTokenizer, WhitespaceSplit, Punctuation, Sequence "
                           "of these)");
  }
  return Status::OK();
}

Result<int32_t> IdValue(const json& v, const std::string& what, const std::string& source) {
  if (!v.is_number_integer() || v.get<int64_t>() < 0 || v.get<int64_t>() >= std::numeric_limits<int32_t>::max()) {
    return Bad(source, what + " must be an integer id from 0 to 2^31-2");
  }
  return static_cast<int32_t>(v.get<int64_t>());
}

}  // namespace

namespace {

// What the two loaders share once the parts are known.
struct Parts {
  std::vector<NormStep> steps;
  bool split_whitespace = false;
  bool isolate_punctuation = false;
  std::vector<std::pair<std::string, int32_t>> vocab;
  std::string unk_token = "[UNK]";
  std::string prefix = "##";
  size_t max_chars_per_word = 100;
  struct Added {
    std::string content;
    int32_t id;
    bool single_word, lstrip, rstrip, normalized;
  };
  std::vector<Added> added;
  bool has_post = false;
  std::vector<int32_t> special_prefix, special_suffix;
  size_t truncation = 0;
};

}  // namespace

Result<std::unique_ptr<Tokenizer::Impl>> BuildImpl(Parts p, const std::string& source) {
  auto impl = std::make_unique<Tokenizer::Impl>();
  impl->source = source;
  SEXTANT_RETURN_IF_ERROR(impl->InitIcu());
  impl->steps = std::move(p.steps);
  impl->split_whitespace = p.split_whitespace;
  impl->isolate_punctuation = p.isolate_punctuation;
  impl->prefix = p.prefix;
  impl->max_chars_per_word = p.max_chars_per_word;
  impl->has_post = p.has_post;
  impl->special_prefix = std::move(p.special_prefix);
  impl->special_suffix = std::move(p.special_suffix);
  impl->truncation = p.truncation;

  std::vector<std::pair<std::string_view, int32_t>> all, cont;
  all.reserve(p.vocab.size());
  int64_t max_id = -1;
  for (const auto& [tok, id] : p.vocab) {
    all.emplace_back(tok, id);
    if (!p.prefix.empty() && tok.size() > p.prefix.size() && tok.compare(0, p.prefix.size(), p.prefix) == 0) {
      cont.emplace_back(std::string_view(tok).substr(p.prefix.size()), id);
    }
    max_id = std::max<int64_t>(max_id, id);
  }
  impl->initial.Build(all);
  if (p.prefix.empty()) {
    impl->continuation.Build(all);
  } else {
    impl->continuation.Build(cont);
  }
  const int32_t unk = impl->initial.Find(p.unk_token);
  if (unk < 0) return Bad(source, "the unknown token '" + Shown(p.unk_token) + "' is not in the vocabulary");
  impl->unk = unk;
  for (const auto& [tok, id] : p.vocab) impl->id_to_token.emplace_back(id, tok);
  for (const auto& a : p.added) {
    if (impl->initial.Find(a.content) != a.id) impl->id_to_token.emplace_back(a.id, a.content);
    max_id = std::max<int64_t>(max_id, a.id);
  }
  for (int32_t id : impl->special_prefix) max_id = std::max<int64_t>(max_id, id);
  for (int32_t id : impl->special_suffix) max_id = std::max<int64_t>(max_id, id);
  std::stable_sort(impl->id_to_token.begin(), impl->id_to_token.end(),
                   [](const auto& a, const auto& b) { return a.first < b.first; });
  impl->vocab_size = static_cast<size_t>(max_id + 1);

  impl->Precompute();
  // Added tokens: normalized ones are matched on normalized text, so their content is
  // normalized the same way.
  Scratch s;
  for (const auto& a : p.added) {
    AddedToken t{a.content, a.id, a.single_word, a.lstrip, a.rstrip};
    if (a.normalized && !impl->steps.empty()) {
      std::u32string n;
      size_t i = 0;
      while (i < a.content.size()) impl->NormalizeChar(DecodeValid(a.content, i), n, s);
      t.content.clear();
      for (char32_t c : n) AppendUtf8(c, t.content);
      if (t.content.empty()) continue;  // normalizes to nothing: can never match
      impl->normalized_added.tokens.push_back(std::move(t));
    } else {
      impl->raw_added.tokens.push_back(std::move(t));
    }
  }
  impl->raw_added.Index();
  impl->normalized_added.Index();
  return impl;
}

Result<Tokenizer> Tokenizer::FromJson(std::string_view text, const std::string& source) {
  auto parsed = ParseJson(text);
  if (!parsed.ok()) return Bad(source, parsed.status().message());
  const json& j = *parsed;
  if (!j.is_object()) return Bad(source, "not a JSON object");
  Parts p;

  const auto model = j.find("model");
  if (model == j.end() || !model->is_object()) return Bad(source, "no 'model' object");
  const std::string mtype = TypeOf(*model);
  if (mtype != "WordPiece") {
    return Bad(source, (mtype.empty() ? std::string("a model without a type") : "model type '" + Shown(mtype) + "'") +
                           " is not supported (supported: WordPiece)");
  }
  const auto vocab = model->find("vocab");
  if (vocab == model->end() || !vocab->is_object() || vocab->empty()) {
    return Bad(source, "model.vocab must be a non-empty object of token -> id");
  }
  p.vocab.reserve(vocab->size());
  for (const auto& [tok, id] : vocab->items()) {
    SEXTANT_ASSIGN_OR_RETURN(int32_t v, IdValue(id, "model.vocab['" + Shown(tok) + "']", source));
    p.vocab.emplace_back(tok, v);
  }
  if (const auto u = model->find("unk_token"); u != model->end() && !u->is_null()) {
    if (!u->is_string()) return Bad(source, "model.unk_token must be a string");
    p.unk_token = u->get<std::string>();
  }
  if (const auto pr = model->find("continuing_subword_prefix"); pr != model->end() && !pr->is_null()) {
    if (!pr->is_string()) return Bad(source, "model.continuing_subword_prefix must be a string");
    p.prefix = pr->get<std::string>();
  }
  if (const auto m = model->find("max_input_chars_per_word"); m != model->end() && !m->is_null()) {
    if (!m->is_number_unsigned()) return Bad(source, "model.max_input_chars_per_word must be a non-negative integer");
    p.max_chars_per_word = m->get<uint64_t>() > (1u << 30) ? (1u << 30) : m->get<size_t>();
  }

  if (const auto n = j.find("normalizer"); n != j.end()) SEXTANT_RETURN_IF_ERROR(AddNormalizer(*n, p.steps, source, 0));
  if (const auto pt = j.find("pre_tokenizer"); pt != j.end()) {
    SEXTANT_RETURN_IF_ERROR(AddPreTokenizer(*pt, p.split_whitespace, p.isolate_punctuation, source, 0));
  }

  if (const auto at = j.find("added_tokens"); at != j.end() && !at->is_null()) {
    if (!at->is_array()) return Bad(source, "added_tokens must be an array");
    for (const json& a : *at) {
      if (!a.is_object()) return Bad(source, "an added token is not an object");
      const auto c = a.find("content");
      if (c == a.end() || !c->is_string() || c->get_ref<const std::string&>().empty()) {
        return Bad(source, "an added token has no content");
      }
      const std::string& content = c->get_ref<const std::string&>();
      const std::string what = "added token '" + Shown(content) + "'";
      const auto id = a.find("id");
      if (id == a.end()) return Bad(source, what + " has no id");
      Parts::Added added{content, 0, false, false, false, false};
      SEXTANT_ASSIGN_OR_RETURN(added.id, IdValue(*id, what + " id", source));
      SEXTANT_ASSIGN_OR_RETURN(added.single_word, BoolField(a, "single_word", false, what, source));
      SEXTANT_ASSIGN_OR_RETURN(added.lstrip, BoolField(a, "lstrip", false, what, source));
      SEXTANT_ASSIGN_OR_RETURN(added.rstrip, BoolField(a, "rstrip", false, what, source));
      SEXTANT_ASSIGN_OR_RETURN(bool special, BoolField(a, "special", false, what, source));
      SEXTANT_ASSIGN_OR_RETURN(added.normalized, BoolField(a, "normalized", !special, what, source));
      p.added.push_back(std::move(added));
    }
  }

  if (const auto pp = j.find("post_processor"); pp != j.end() && !pp->is_null()) {
    if (!pp->is_object()) return Bad(source, "post_processor is not an object");
    const std::string ptype = TypeOf(*pp);
    if (ptype == "BertProcessing") {
      for (const char* key : {"cls", "sep"}) {
        const auto it = pp->find(key);
        if (it == pp->end() || !it->is_array() || it->size() != 2 || !(*it)[0].is_string()) {
          return Bad(source, std::string("post_processor BertProcessing needs '") + key + "': [token, id]");
        }
        SEXTANT_ASSIGN_OR_RETURN(int32_t id, IdValue((*it)[1], std::string("post_processor ") + key + " id", source));
        (std::string(key) == "cls" ? p.special_prefix : p.special_suffix).push_back(id);
      }
      p.has_post = true;
    } else if (ptype == "TemplateProcessing") {
      const auto single = pp->find("single");
      const auto specials = pp->find("special_tokens");
      if (single == pp->end() || !single->is_array()) return Bad(source, "post_processor TemplateProcessing has no 'single' template");
      bool seen_sequence = false;
      for (const json& piece : *single) {
        if (piece.is_object() && piece.contains("Sequence")) {
          const json& seq = piece["Sequence"];
          if (seen_sequence || !seq.is_object() || seq.value("id", std::string()) != "A") {
            return Bad(source, "post_processor TemplateProcessing: the 'single' template must hold sequence A once");
          }
          seen_sequence = true;
        } else if (piece.is_object() && piece.contains("SpecialToken") && piece["SpecialToken"].is_object() &&
                   piece["SpecialToken"].contains("id") && piece["SpecialToken"]["id"].is_string()) {
          const std::string name = piece["SpecialToken"]["id"].get<std::string>();
          if (specials == pp->end() || !specials->is_object() || !specials->contains(name) ||
              !(*specials)[name].is_object() || !(*specials)[name].contains("ids") ||
              !(*specials)[name]["ids"].is_array()) {
            return Bad(source, "post_processor TemplateProcessing: special token '" + Shown(name) + "' has no ids");
          }
          for (const json& id : (*specials)[name]["ids"]) {
            SEXTANT_ASSIGN_OR_RETURN(int32_t v, IdValue(id, "post_processor special token '" + Shown(name) + "' id", source));
            (seen_sequence ? p.special_suffix : p.special_prefix).push_back(v);
          }
        } else {
          return Bad(source, "post_processor TemplateProcessing: a 'single' piece is neither Sequence nor SpecialToken");
        }
      }
      if (!seen_sequence) return Bad(source, "post_processor TemplateProcessing: the 'single' template has no sequence");
      p.has_post = true;
    } else {
      return Bad(source, (ptype.empty() ? std::string("a post_processor without a type") : "post_processor type '" + Shown(ptype) + "'") +
                             " is not supported (supported: TemplateProcessing, BertProcessing)");
    }
  }

  if (const auto t = j.find("truncation"); t != j.end() && t->is_object()) {
    const auto m = t->find("max_length");
    if (m != t->end() && m->is_number_unsigned()) p.truncation = m->get<size_t>();
  }
  SEXTANT_ASSIGN_OR_RETURN(auto impl, BuildImpl(std::move(p), source));
  return Tokenizer(std::move(impl));
}

Result<Tokenizer> Tokenizer::FromJsonFile(const std::string& path) {
  SEXTANT_ASSIGN_OR_RETURN(std::string text, ReadFileToString(path));
  return FromJson(text, path);
}

Result<Tokenizer> Tokenizer::FromVocabTxt(std::string_view text, const VocabTxtOptions& o, const std::string& source) {
  Parts p;
  NormStep bert{NormKind::kBert};
  bert.clean_text = true;
  bert.chinese = o.handle_chinese_chars;
  bert.lowercase = o.lowercase;
  bert.strip_accents = o.strip_accents.value_or(o.lowercase);
  p.steps.push_back(bert);
  p.split_whitespace = p.isolate_punctuation = true;
  p.unk_token = o.unk_token;
  p.prefix = o.continuing_subword_prefix;
  p.max_chars_per_word = o.max_input_chars_per_word;
  if (FirstInvalidUtf8(text) != std::string_view::npos) return Bad(source, "not valid UTF-8");
  size_t start = 0;
  int32_t id = 0;
  while (start < text.size()) {
    size_t nl = text.find('\n', start);
    if (nl == std::string_view::npos) nl = text.size();
    std::string_view line = text.substr(start, nl - start);
    while (!line.empty() && (line.back() == '\r' || line.back() == ' ' || line.back() == '\t')) line.remove_suffix(1);
    if (id == std::numeric_limits<int32_t>::max() - 1) return Bad(source, "too many lines");
    p.vocab.emplace_back(std::string(line), id++);
    start = nl + 1;
  }
  if (p.vocab.empty()) return Bad(source, "empty vocabulary");
  // The tokens BERT's tokenizers hold as special added tokens, where the vocabulary has them
  // (a token listed twice has its last line's id, as in Hugging Face's reader).
  for (const std::string& special : {std::string("[PAD]"), o.unk_token, o.cls_token, o.sep_token, std::string("[MASK]")}) {
    int32_t found = -1;
    for (const auto& [tok, i] : p.vocab) {
      if (tok == special) found = i;
    }
    if (found >= 0) p.added.push_back({special, found, false, false, false, false});
  }
  int32_t cls = -1, sep = -1;
  for (const auto& a : p.added) {
    if (a.content == o.cls_token) cls = a.id;
    if (a.content == o.sep_token) sep = a.id;
  }
  if (cls >= 0 && sep >= 0) {
    p.has_post = true;
    p.special_prefix = {cls};
    p.special_suffix = {sep};
  }
  SEXTANT_ASSIGN_OR_RETURN(auto impl, BuildImpl(std::move(p), source));
  return Tokenizer(std::move(impl));
}

Result<Tokenizer> Tokenizer::FromVocabFile(const std::string& path, const VocabTxtOptions& options) {
  SEXTANT_ASSIGN_OR_RETURN(std::string text, ReadFileToString(path));
  return FromVocabTxt(text, options, path);
}

Tokenizer::Tokenizer(std::unique_ptr<Impl> impl) : impl_(std::move(impl)) {}
Tokenizer::Tokenizer(Tokenizer&&) noexcept = default;
Tokenizer& Tokenizer::operator=(Tokenizer&&) noexcept = default;
Tokenizer::~Tokenizer() = default;

Status Tokenizer::Encode(std::string_view text, const EncodeOptions& options, std::vector<int32_t>* ids,
                         std::vector<TokenSpan>* spans) const {
  const Impl& m = *impl_;
  ids->clear();
  if (spans) spans->clear();
  if (text.size() >= std::numeric_limits<uint32_t>::max()) {
    return Status::OutOfRange("text of " + std::to_string(text.size()) + " bytes is too long to tokenize");
  }
  if (const size_t bad = FirstInvalidUtf8(text); bad != std::string_view::npos) {
    return Status::InvalidArgument("text is not valid UTF-8 at byte " + std::to_string(bad));
  }
  const bool specials = options.add_special_tokens && m.has_post;
  const size_t nspecial = specials ? m.special_prefix.size() + m.special_suffix.size() : 0;
  size_t limit = std::numeric_limits<size_t>::max();
  if (options.max_length > 0) {
    if (options.max_length < nspecial) {
      return Status::InvalidArgument("max_length " + std::to_string(options.max_length) + " cannot hold the " +
                                     std::to_string(nspecial) + " special tokens");
    }
    limit = options.max_length - nspecial;
  }
  if (specials) {
    for (int32_t id : m.special_prefix) {
      ids->push_back(id);
      if (spans) spans->push_back({});
    }
    limit = limit == std::numeric_limits<size_t>::max() ? limit : limit + m.special_prefix.size();
  }
  Sink sink{ids, spans, limit, options.drop_unknown ? m.unk : -1};
  sink.full = ids->size() >= limit;
  Scratch& s = ThreadScratch();
  s.word.clear();
  s.word_src.clear();
  s.word_chars = 0;
  const bool want_spans = spans != nullptr;
  if (m.raw_added.empty()) {
    m.EncodeSegment(text, 0, text.size(), s, sink, want_spans);
  } else {
    m.SplitAdded(
        m.raw_added, text, 0, text.size(), sink.full,
        [&](size_t b, size_t e) {
          if (!sink.full) m.EncodeSegment(text, b, e, s, sink, want_spans);
        },
        [&](int32_t id, size_t b, size_t e) {
          sink.Add(id, {static_cast<uint32_t>(b), static_cast<uint32_t>(e)});
        });
  }
  // A segment cut short by the limit may leave a partial word behind.
  s.word.clear();
  s.word_src.clear();
  s.word_chars = 0;
  if (specials) {
    for (int32_t id : m.special_suffix) {
      ids->push_back(id);
      if (spans) spans->push_back({});
    }
  }
  return Status::OK();
}

Result<std::vector<int32_t>> Tokenizer::Encode(std::string_view text, const EncodeOptions& options) const {
  std::vector<int32_t> ids;
  SEXTANT_RETURN_IF_ERROR(Encode(text, options, &ids));
  return ids;
}

size_t Tokenizer::vocab_size() const { return impl_->vocab_size; }
int32_t Tokenizer::unk_id() const { return impl_->unk; }
size_t Tokenizer::num_special_tokens() const {
  return impl_->has_post ? impl_->special_prefix.size() + impl_->special_suffix.size() : 0;
}
size_t Tokenizer::truncation_max_length() const { return impl_->truncation; }

std::optional<int32_t> Tokenizer::TokenToId(std::string_view token) const {
  const int32_t id = impl_->initial.Find(token);
  if (id >= 0) return id;
  for (const auto& [i, t] : impl_->id_to_token) {
    if (t == token) return i;
  }
  return std::nullopt;
}

std::string_view Tokenizer::IdToToken(int32_t id) const {
  const auto& v = impl_->id_to_token;
  const auto it = std::lower_bound(v.begin(), v.end(), id, [](const auto& e, int32_t x) { return e.first < x; });
  return it != v.end() && it->first == id ? std::string_view(it->second) : std::string_view();
}

std::vector<size_t> Tokenizer::TokenCharLengths() const {
  std::vector<size_t> out;
  out.reserve(impl_->id_to_token.size());
  int32_t prev = -1;
  for (const auto& [id, tok] : impl_->id_to_token) {
    if (id == prev) continue;
    prev = id;
    size_t chars = 0;
    for (char c : tok) chars += (static_cast<uint8_t>(c) & 0xC0) != 0x80;
    out.push_back(chars);
  }
  return out;
}

}  // namespace sextant::embed
