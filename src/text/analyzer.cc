#include "text/analyzer.h"

#include <libstemmer.h>
#include <unicode/brkiter.h>
#include <unicode/bytestream.h>
#include <unicode/edits.h>
#include <unicode/locid.h>
#include <unicode/normalizer2.h>
#include <unicode/uchar.h>
#include <unicode/uscript.h>
#include <unicode/utext.h>
#include <unicode/utf8.h>

#include <algorithm>
#include <array>
#include <string>
#include <utility>

namespace sextant::text {
namespace {

// Lucene's default English stop set: short, function words only, so that few queries lose
// meaning ("to be or not to be" is the known casualty).
constexpr std::array<std::string_view, 33> kEnglishStopWords = {
    "a",    "an",   "and",   "are",   "as",    "at",    "be",   "but",  "by",
    "for",  "if",   "in",    "into",  "is",    "it",    "no",   "not",  "of",
    "on",   "or",   "such",  "that",  "the",   "their", "then", "there", "these",
    "they", "this", "to",    "was",   "will",  "with"};

bool IsEnglishStopWord(std::string_view term) {
  return std::find(kEnglishStopWords.begin(), kEnglishStopWords.end(), term) !=
         kEnglishStopWords.end();
}

// Returns OK or the offset of the first ill-formed sequence. U8_NEXT is strict since ICU 60:
// it rejects overlong forms, surrogates, code points above U+10FFFF and truncated sequences.
Status ValidateUtf8(std::string_view s) {
  const auto* p = reinterpret_cast<const uint8_t*>(s.data());
  const auto n = static_cast<int32_t>(s.size());
  int32_t i = 0;
  while (i < n) {
    const int32_t start = i;
    UChar32 c;
    U8_NEXT(p, i, n, c);
    if (c < 0) {
      return Status::InvalidArgument("text is not valid UTF-8 at byte " + std::to_string(start));
    }
  }
  return Status::OK();
}

// Maps byte offsets in the normalised text back to the original, from ICU's edit record.
class OffsetMap {
 public:
  Status Build(const icu::Edits& edits) {
    UErrorCode ec = U_ZERO_ERROR;
    icu::Edits::Iterator it = edits.getFineIterator();
    while (it.next(ec)) {
      // Deletions (e.g. a soft hyphen) produce nothing to map to; skip them.
      if (it.newLength() == 0) continue;
      spans_.push_back({it.sourceIndex(), it.oldLength(), it.destinationIndex(),
                        it.newLength(), static_cast<bool>(it.hasChange())});
    }
    if (U_FAILURE(ec)) return Status::Internal(std::string("ICU edits: ") + u_errorName(ec));
    return Status::OK();
  }

  // Original offset of the normalised byte `d` that starts a token. Inside a changed span
  // (a composed or expanded character) the whole source span is taken.
  uint32_t Start(int32_t d) const {
    const Span& s = Find(d);
    return static_cast<uint32_t>(s.changed ? s.src : s.src + (d - s.dst));
  }
  // Original offset just past the token that ends before normalised byte `d` (d > 0).
  uint32_t End(int32_t d) const {
    const Span& s = Find(d - 1);
    return static_cast<uint32_t>(s.changed ? s.src + s.src_len : s.src + (d - s.dst));
  }

 private:
  struct Span {
    int32_t src, src_len, dst, dst_len;
    bool changed;
  };
  // The span holding normalised byte `d`; spans tile the normalised text without gaps.
  const Span& Find(int32_t d) const {
    auto it = std::upper_bound(spans_.begin(), spans_.end(), d,
                               [](int32_t v, const Span& s) { return v < s.dst; });
    return *(it - 1);
  }
  std::vector<Span> spans_;
};

// Characters that glue adjacent word segments into one compound, after normalisation
// (NFKC maps the full-width forms and U+2011 onto these). Returns the canonical spelling.
std::string_view CompoundJoiner(std::string_view seg) {
  if (seg == "-" || seg == "\u2010") return "-";
  if (seg == "." || seg == "/" || seg == ":" || seg == "@") return seg;
  return {};
}

// Typographic apostrophes become ASCII ones so "don’t" and "don't" are one term.
std::string CanonicalTerm(std::string_view s) {
  std::string out;
  out.reserve(s.size());
  for (size_t i = 0; i < s.size();) {
    if (s.compare(i, 3, "\u2019") == 0 || s.compare(i, 3, "\u2018") == 0) {
      out += '\'';
      i += 3;
    } else if (s.compare(i, 2, "\u02BC") == 0) {
      out += '\'';
      i += 2;
    } else {
      out += s[i++];
    }
  }
  return out;
}

// What the token filters need to know about a token besides its text.
struct RawToken {
  Token token;
  bool compound = false;
};

// True if `term` has a decimal digit (in any script).
bool HasDigit(std::string_view term) {
  const auto* p = reinterpret_cast<const uint8_t*>(term.data());
  const auto n = static_cast<int32_t>(term.size());
  for (int32_t i = 0; i < n;) {
    UChar32 c;
    U8_NEXT(p, i, n, c);
    if (c >= 0 && u_isdigit(c)) return true;
  }
  return false;
}

// True if every letter of `term` is Latin script (marks and apostrophes are Common/Inherited),
// i.e. the English stemmer applies to it.
bool IsLatinWord(std::string_view term) {
  const auto* p = reinterpret_cast<const uint8_t*>(term.data());
  const auto n = static_cast<int32_t>(term.size());
  for (int32_t i = 0; i < n;) {
    UChar32 c;
    U8_NEXT(p, i, n, c);
    UErrorCode ec = U_ZERO_ERROR;
    const UScriptCode script = uscript_getScript(c, &ec);
    if (U_FAILURE(ec)) return false;
    if (script != USCRIPT_LATIN && script != USCRIPT_COMMON && script != USCRIPT_INHERITED) {
      return false;
    }
  }
  return true;
}

class IcuAnalyzer final : public Analyzer {
 public:
  IcuAnalyzer(std::string_view name, bool english, std::unique_ptr<icu::BreakIterator> words,
              const icu::Normalizer2* nfkc_cf)
      : name_(name), english_(english), words_(std::move(words)), nfkc_cf_(nfkc_cf) {}

  Result<std::vector<Token>> Analyze(std::string_view utf8) const override {
    if (utf8.size() > kMaxTextBytes) {
      return Status::OutOfRange("text is " + std::to_string(utf8.size()) + " bytes, at most " +
                                std::to_string(kMaxTextBytes) + " are supported");
    }
    SEXTANT_RETURN_IF_ERROR(ValidateUtf8(utf8));
    std::vector<RawToken> raw;
    SEXTANT_RETURN_IF_ERROR(Segment(utf8, &raw));
    if (!english_) {
      std::vector<Token> out;
      out.reserve(raw.size());
      for (RawToken& r : raw) out.push_back(std::move(r.token));
      return out;
    }
    return EnglishFilter(std::move(raw));
  }

  std::string_view name() const override { return name_; }

 private:
  // Steps 2-4 of the core: normalise, segment, emit words and compounds with positions.
  Status Segment(std::string_view utf8, std::vector<RawToken>* out) const {
    if (utf8.empty()) return Status::OK();
    std::string norm;
    icu::StringByteSink<std::string> sink(&norm);
    icu::Edits edits;
    UErrorCode ec = U_ZERO_ERROR;
    nfkc_cf_->normalizeUTF8(0, icu::StringPiece(utf8.data(), static_cast<int32_t>(utf8.size())),
                            sink, &edits, ec);
    if (U_FAILURE(ec)) return Status::Internal(std::string("ICU normalize: ") + u_errorName(ec));
    if (norm.empty()) return Status::OK();  // e.g. only default-ignorable characters
    OffsetMap map;
    SEXTANT_RETURN_IF_ERROR(map.Build(edits));

    // A clone per call: break iterators carry iteration state, the prototype stays untouched.
    std::unique_ptr<icu::BreakIterator> bi(words_->clone());
    if (bi == nullptr) return Status::ResourceExhausted("cannot clone ICU break iterator");
    UText* ut = utext_openUTF8(nullptr, norm.data(), static_cast<int64_t>(norm.size()), &ec);
    if (U_FAILURE(ec)) return Status::Internal(std::string("ICU utext: ") + u_errorName(ec));
    bi->setText(ut, ec);  // indices are now byte offsets into `norm`
    if (U_FAILURE(ec)) {
      utext_close(ut);
      return Status::Internal(std::string("ICU break iterator: ") + u_errorName(ec));
    }

    // A run is a sequence of word segments glued by single joiner characters; joiners[i]
    // sits between parts[i] and parts[i + 1].
    struct Part {
      int32_t start, end;
    };
    std::vector<Part> parts;
    std::vector<std::string_view> joiners;
    std::string_view pending_joiner;  // a joiner directly after parts.back(), not yet used
    int32_t pending_end = -1;
    uint32_t next_position = 0;

    auto flush = [&]() {
      if (parts.empty()) return;
      auto term_of = [&](const Part& p) {
        return CanonicalTerm(std::string_view(norm).substr(p.start, p.end - p.start));
      };
      auto emit = [&](std::string term, uint32_t position, int32_t s, int32_t e, bool compound) {
        if (term.size() > kMaxTermBytes) return;
        out->push_back({{std::move(term), position, map.Start(s), map.End(e)}, compound});
      };
      const uint32_t first_position = next_position;
      if (parts.size() > 1) {
        std::string whole = term_of(parts[0]);
        for (size_t i = 1; i < parts.size(); ++i) {
          whole += joiners[i - 1];
          whole += term_of(parts[i]);
        }
        emit(std::move(whole), first_position, parts.front().start, parts.back().end, true);
      }
      for (const Part& p : parts) emit(term_of(p), next_position++, p.start, p.end, false);
      parts.clear();
      joiners.clear();
    };

    int32_t start = bi->first();
    for (int32_t end = bi->next(); end != icu::BreakIterator::DONE; start = end, end = bi->next()) {
      const bool word_like = bi->getRuleStatus() >= UBRK_WORD_NONE_LIMIT;
      if (word_like) {
        if (!pending_joiner.empty() && pending_end == start) {
          joiners.push_back(pending_joiner);
        } else {
          flush();
        }
        parts.push_back({start, end});
        pending_joiner = {};
        continue;
      }
      const std::string_view joiner =
          CompoundJoiner(std::string_view(norm).substr(start, end - start));
      if (!joiner.empty() && pending_joiner.empty() && !parts.empty() &&
          parts.back().end == start) {
        pending_joiner = joiner;
        pending_end = end;
      } else {
        flush();
        pending_joiner = {};
      }
    }
    flush();
    utext_close(ut);
    return Status::OK();
  }

  // Stop words and stemming for plain Latin words; everything else passes unchanged.
  Result<std::vector<Token>> EnglishFilter(std::vector<RawToken> raw) const {
    // Snowball stemmers keep per-call state, so each Analyze call has its own.
    struct StemmerCloser {
      void operator()(sb_stemmer* s) const { sb_stemmer_delete(s); }
    };
    std::unique_ptr<sb_stemmer, StemmerCloser> stemmer;
    std::vector<Token> out;
    out.reserve(raw.size());
    for (RawToken& r : raw) {
      std::string& term = r.token.term;
      if (r.compound || HasDigit(term) || !IsLatinWord(term)) {
        out.push_back(std::move(r.token));
        continue;
      }
      if (IsEnglishStopWord(term)) continue;  // its position stays used: phrases keep gaps
      if (stemmer == nullptr) {
        stemmer.reset(sb_stemmer_new("english", "UTF_8"));
        if (stemmer == nullptr) return Status::Internal("cannot create Snowball English stemmer");
      }
      const sb_symbol* stem = sb_stemmer_stem(
          stemmer.get(), reinterpret_cast<const sb_symbol*>(term.data()),
          static_cast<int>(term.size()));
      if (stem == nullptr) return Status::ResourceExhausted("Snowball stemmer out of memory");
      term.assign(reinterpret_cast<const char*>(stem),
                  static_cast<size_t>(sb_stemmer_length(stemmer.get())));
      out.push_back(std::move(r.token));
    }
    return out;
  }

  std::string_view name_;
  bool english_;
  std::unique_ptr<icu::BreakIterator> words_;  // prototype, only cloned
  const icu::Normalizer2* nfkc_cf_;            // ICU-owned singleton
};

}  // namespace

std::vector<std::string_view> AnalyzerNames() { return {"standard", "english", "cjk"}; }

Result<std::unique_ptr<Analyzer>> MakeAnalyzer(std::string_view name) {
  std::string_view canonical;
  bool english = false;
  if (name == "standard" || name == "cjk") {
    canonical = "standard";
  } else if (name == "english") {
    canonical = "english";
    english = true;
  } else {
    std::string known;
    for (std::string_view n : AnalyzerNames()) {
      if (!known.empty()) known += ", ";
      known += n;
    }
    return Status::InvalidArgument("unknown analyzer \"" + std::string(name) +
                                   "\"; known analyzers: " + known);
  }
  UErrorCode ec = U_ZERO_ERROR;
  const icu::Normalizer2* nfkc_cf = icu::Normalizer2::getNFKCCasefoldInstance(ec);
  if (U_FAILURE(ec)) return Status::Internal(std::string("ICU NFKC_Casefold: ") + u_errorName(ec));
  // The root locale: segmentation must not depend on the server's locale, and the
  // dictionaries (Chinese, Japanese, Thai, Lao, Khmer, Burmese) apply in every locale.
  std::unique_ptr<icu::BreakIterator> words(
      icu::BreakIterator::createWordInstance(icu::Locale::getRoot(), ec));
  if (U_FAILURE(ec) || words == nullptr) {
    return Status::Internal(std::string("ICU word break iterator: ") + u_errorName(ec));
  }
  return std::unique_ptr<Analyzer>(
      std::make_unique<IcuAnalyzer>(canonical, english, std::move(words), nfkc_cf));
}

}  // namespace sextant::text
