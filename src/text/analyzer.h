// Analyzer: turns UTF-8 text into the terms a full-text index stores and a query looks up.
//
// Every analyzer runs the same core (docs/analyzers.md has the full rules and examples):
//   1. the input must be valid UTF-8 (else InvalidArgument "text is not valid UTF-8 at byte N");
//   2. NFKC normalisation + Unicode case folding (ICU's NFKC_Casefold: "ＡＢＣ" -> "abc");
//   3. ICU word segmentation (UAX #29, with dictionaries for Chinese, Japanese, Thai, ...);
//      only word-like segments (letters, numbers, kana, ideographs) become tokens;
//   4. compounds: word segments joined by single '-', '.', '/', ':' or '@' characters
//      ("x-alpha", "tcp/ip", "user@example.com") yield the whole compound AND each part, so
//      a query for "X-Alpha", "X" or "Alpha" matches.
// "english" then drops English stop words and applies the Snowball English stemmer to plain
// Latin-script words; tokens with digits, compounds and non-Latin words pass unchanged.
//
// Index and query text must go through the same analyzer for their terms to meet.
// Thread-safety: an Analyzer is immutable after MakeAnalyzer; Analyze may be called from many
// threads at once on one instance.
#pragma once

#include <cstdint>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include "sextant/status.h"

namespace sextant::text {

// One term of analysed text.
struct Token {
  std::string term;   // normalised (and for "english" possibly stemmed) UTF-8 term
  uint32_t position;  // word ordinal; a compound shares the position of its first part
  uint32_t start;     // byte offsets in the original input: text.substr(start, end - start)
  uint32_t end;       //   is the source of the term (before normalisation)

  bool operator==(const Token&) const = default;
};

// Terms longer than this many bytes (after normalisation) are dropped, so that a stray
// base64 blob or hash dump does not bloat the term dictionary. Their position is still used.
inline constexpr size_t kMaxTermBytes = 255;

// The largest input Analyze accepts (ICU's normalizer indexes with int32_t).
inline constexpr size_t kMaxTextBytes = 0x7fffffff;

class Analyzer {
 public:
  virtual ~Analyzer() = default;

  // Returns the tokens of `utf8` ordered by position; at one position a compound comes
  // before its first part. Empty or whitespace/punctuation-only text gives an empty list.
  // Errors: InvalidArgument if `utf8` is not well-formed UTF-8 (the message names the byte
  // offset of the first bad sequence); OutOfRange if it is longer than kMaxTextBytes;
  // Internal if ICU or Snowball fails.
  virtual Result<std::vector<Token>> Analyze(std::string_view utf8) const = 0;

  // The canonical name of this analyzer ("standard", "english"); aliases report the name
  // they stand for, so a stored schema always names a canonical analyzer.
  virtual std::string_view name() const = 0;
};

// The names MakeAnalyzer accepts, canonical names first: "standard", "english", "cjk".
std::vector<std::string_view> AnalyzerNames();

// Creates the analyzer called `name` (case-sensitive):
//   "standard" - normalise, case fold, segment, compounds; no stemming, no stop words;
//                suited to any language and to mixed-language text.
//   "english"  - "standard" plus English stop words and Snowball English stemming.
//   "cjk"      - alias of "standard" (its segmentation already handles CJK and Thai).
// Errors: InvalidArgument for an unknown name (the message lists the known names);
// Internal if ICU cannot load its word-break data.
Result<std::unique_ptr<Analyzer>> MakeAnalyzer(std::string_view name);

}  // namespace sextant::text
