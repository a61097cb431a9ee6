// Analyzers: golden token lists (pinned against ICU 72.1 and Snowball 2.2 on Debian bookworm),
// identifier and compound rules, offsets, invalid UTF-8 and analyzer names.
#include "text/analyzer.h"

#include <gtest/gtest.h>

#include <algorithm>
#include <random>
#include <set>
#include <string>
#include <thread>
#include <utility>
#include <vector>

namespace sextant::text {

// Readable failure output: {"term", position, start, end}.
void PrintTo(const Token& t, std::ostream* os) {
  *os << "{\"" << t.term << "\", " << t.position << ", " << t.start << ", " << t.end << "}";
}

namespace {

using TermPos = std::pair<std::string, uint32_t>;

std::unique_ptr<Analyzer> Make(std::string_view name) {
  auto a = MakeAnalyzer(name);
  EXPECT_TRUE(a.ok()) << a.status().ToString();
  return a.ok() ? std::move(a).value() : nullptr;
}

std::vector<Token> Tokens(const Analyzer& a, std::string_view text) {
  auto r = a.Analyze(text);
  EXPECT_TRUE(r.ok()) << text << " -> " << r.status().ToString();
  return r.ok() ? std::move(r).value() : std::vector<Token>{};
}

std::vector<std::string> Terms(const Analyzer& a, std::string_view text) {
  std::vector<std::string> out;
  for (const Token& t : Tokens(a, text)) out.push_back(t.term);
  return out;
}

std::vector<TermPos> TermsAndPositions(const Analyzer& a, std::string_view text) {
  std::vector<TermPos> out;
  for (const Token& t : Tokens(a, text)) out.emplace_back(t.term, t.position);
  return out;
}

// The message of the error that analysing `text` must give.
std::string AnalyzeError(const Analyzer& a, std::string_view text) {
  auto r = a.Analyze(text);
  EXPECT_FALSE(r.ok()) << "accepted " << text;
  if (r.ok()) return "";
  EXPECT_EQ(r.status().code(), StatusCode::kInvalidArgument);
  return r.status().message();
}

class AnalyzerTest : public ::testing::Test {
 protected:
  std::unique_ptr<Analyzer> standard_ = Make("standard");
  std::unique_ptr<Analyzer> english_ = Make("english");
};

// --- names -----------------------------------------------------------------------------

TEST(MakeAnalyzerTest, KnownNames) {
  EXPECT_EQ(AnalyzerNames(), (std::vector<std::string_view>{"standard", "english", "cjk"}));
  EXPECT_EQ(Make("standard")->name(), "standard");
  EXPECT_EQ(Make("english")->name(), "english");
  EXPECT_EQ(Make("cjk")->name(), "standard");  // an alias reports its canonical name
}

TEST(MakeAnalyzerTest, UnknownNameListsKnownOnes) {
  for (std::string_view name : {"klingon", "", "English", "standard "}) {
    auto a = MakeAnalyzer(name);
    ASSERT_FALSE(a.ok()) << name;
    EXPECT_EQ(a.status().code(), StatusCode::kInvalidArgument);
    EXPECT_EQ(a.status().message(), "unknown analyzer \"" + std::string(name) +
                                        "\"; known analyzers: standard, english, cjk");
  }
}

// --- English ---------------------------------------------------------------------------

TEST_F(AnalyzerTest, StandardFoldsCaseButNeitherStemsNorStops) {
  EXPECT_EQ(Tokens(*standard_, "The Quick Fox is RUNNING"),
            (std::vector<Token>{{"the", 0, 0, 3},
                                {"quick", 1, 4, 9},
                                {"fox", 2, 10, 13},
                                {"is", 3, 14, 16},
                                {"running", 4, 17, 24}}));
}

TEST_F(AnalyzerTest, EnglishStemsAndDropsStopWordsKeepingPositions) {
  // Stop words leave gaps in the positions so that phrase distances stay true.
  EXPECT_EQ(Tokens(*english_, "The runners were running quickly; John's cars"),
            (std::vector<Token>{{"runner", 1, 4, 11},
                                {"were", 2, 12, 16},
                                {"run", 3, 17, 24},
                                {"quick", 4, 25, 32},
                                {"john", 5, 34, 40},
                                {"car", 6, 41, 45}}));
  EXPECT_EQ(Terms(*english_, "Running RUNS ran"), (std::vector<std::string>{"run", "run", "ran"}));
  EXPECT_EQ(Terms(*english_, "to be or not to be"), std::vector<std::string>{});
  EXPECT_EQ(Terms(*english_, "The cafés are naïve"),
            (std::vector<std::string>{"café", "naïv"}));
}

TEST_F(AnalyzerTest, NfkcFoldsFullWidthAndCompatibilityForms) {
  EXPECT_EQ(Tokens(*standard_, "ＡＢＣ"), (std::vector<Token>{{"abc", 0, 0, 9}}));
  EXPECT_EQ(Tokens(*english_, "Ｒｕｎｎｉｎｇ"), (std::vector<Token>{{"run", 0, 0, 21}}));
  // ß folds to "ss"; the ligature ﬁ to "fi"; offsets still cover the original characters.
  EXPECT_EQ(Tokens(*standard_, "Straße ﬁne"),
            (std::vector<Token>{{"strasse", 0, 0, 7}, {"fine", 1, 8, 13}}));
  // A soft hyphen (default ignorable) disappears from the term, not from the offsets.
  EXPECT_EQ(Tokens(*standard_, "co\u00ADoperate"), (std::vector<Token>{{"cooperate", 0, 0, 11}}));
  // Typographic apostrophes become ASCII ones.
  EXPECT_EQ(Terms(*standard_, "don’t don't"), (std::vector<std::string>{"don't", "don't"}));
}

// --- CJK, Thai and other scripts --------------------------------------------------------

TEST_F(AnalyzerTest, ChineseIsSegmentedByDictionary) {
  EXPECT_EQ(Tokens(*standard_, "我爱北京天安门"),
            (std::vector<Token>{{"我", 0, 0, 3},
                                {"爱", 1, 3, 6},
                                {"北京", 2, 6, 12},
                                {"天安门", 3, 12, 21}}));
  // CJK tokens pass the English analyzer unchanged.
  EXPECT_EQ(Terms(*english_, "我爱北京天安门"),
            (std::vector<std::string>{"我", "爱", "北京", "天安门"}));
}

TEST_F(AnalyzerTest, JapaneseIsSegmentedByDictionary) {
  EXPECT_EQ(TermsAndPositions(*standard_, "東京都に住んでいます"),
            (std::vector<TermPos>{{"東京", 0}, {"都", 1}, {"に", 2}, {"住", 3},
                                  {"んで", 4}, {"い", 5}, {"ます", 6}}));
  EXPECT_EQ(Terms(*english_, "東京都に住んでいます"), Terms(*standard_, "東京都に住んでいます"));
}

TEST_F(AnalyzerTest, ThaiIsSegmentedByDictionary) {
  EXPECT_EQ(Tokens(*standard_, "ภาษาไทยง่ายนิดเดียว"),
            (std::vector<Token>{{"ภาษา", 0, 0, 12},
                                {"ไทย", 1, 12, 21},
                                {"ง่าย", 2, 21, 33},
                                {"นิด", 3, 33, 42},
                                {"เดียว", 4, 42, 57}}));
  EXPECT_EQ(Terms(*english_, "ภาษาไทยง่ายนิดเดียว"), Terms(*standard_, "ภาษาไทยง่ายนิดเดียว"));
}

TEST_F(AnalyzerTest, OtherScriptsSplitOnSpaces) {
  EXPECT_EQ(Terms(*standard_, "안녕하세요 세계"), (std::vector<std::string>{"안녕하세요", "세계"}));
  EXPECT_EQ(Terms(*english_, "مرحبا بالعالم"), (std::vector<std::string>{"مرحبا", "بالعالم"}));
  EXPECT_EQ(Terms(*standard_, "ÉCOLE"), (std::vector<std::string>{"école"}));
}

TEST_F(AnalyzerTest, MixedEnglishAndChinese) {
  EXPECT_EQ(TermsAndPositions(*standard_, "Sextant是一个向量数据库, written in C++20"),
            (std::vector<TermPos>{{"sextant", 0}, {"是", 1}, {"一个", 2}, {"向量", 3},
                                  {"数据", 4}, {"库", 5}, {"written", 6}, {"in", 7},
                                  {"c", 8}, {"20", 9}}));
  EXPECT_EQ(TermsAndPositions(*english_, "我爱北京天安门 running dogs"),
            (std::vector<TermPos>{{"我", 0}, {"爱", 1}, {"北京", 2}, {"天安门", 3},
                                  {"run", 4}, {"dog", 5}}));
}

// --- identifiers, numbers, compounds ------------------------------------------------------

TEST_F(AnalyzerTest, IdentifiersAndNumbersStayWhole) {
  for (const Analyzer* a : {standard_.get(), english_.get()}) {
    SCOPED_TRACE(a->name());
    EXPECT_EQ(Tokens(*a, "Error 0x800403"),
              (std::vector<Token>{{"error", 0, 0, 5}, {"0x800403", 1, 6, 14}}));
    EXPECT_EQ(Terms(*a, "v1.2.3 3.14 1,000,000"),
              (std::vector<std::string>{"v1.2.3", "3.14", "1,000,000"}));
    EXPECT_EQ(Terms(*a, "foo_bar user@example.com."),
              (std::vector<std::string>{"foo_bar", "user@example.com"}));
  }
  // Tokens with digits are neither stemmed nor stop words.
  EXPECT_EQ(Terms(*english_, "runs2 a1 Model3s"),
            (std::vector<std::string>{"runs2", "a1", "model3s"}));
}

TEST_F(AnalyzerTest, HyphenatedCompoundsYieldWholeAndParts) {
  EXPECT_EQ(Tokens(*standard_, "Project X-Alpha"),
            (std::vector<Token>{{"project", 0, 0, 7},
                                {"x-alpha", 1, 8, 15},
                                {"x", 1, 8, 9},
                                {"alpha", 2, 10, 15}}));
  // Full-width letters and hyphen normalise to the same terms, offsets stay in the input.
  EXPECT_EQ(Tokens(*standard_, "Ｘ－Ａｌｐｈａ"),
            (std::vector<Token>{{"x-alpha", 0, 0, 21}, {"x", 0, 0, 3}, {"alpha", 1, 6, 21}}));
  // U+2011 (non-breaking hyphen) and U+2010 (hyphen) are spelled '-' in the compound.
  EXPECT_EQ(Terms(*standard_, "X\u2011Alpha"), (std::vector<std::string>{"x-alpha", "x", "alpha"}));
  // English: the compound is kept verbatim, the parts are ordinary words.
  EXPECT_EQ(TermsAndPositions(*english_, "state-of-the-art X-Alphas"),
            (std::vector<TermPos>{{"state-of-the-art", 0}, {"state", 0}, {"art", 3},
                                  {"x-alphas", 4}, {"x", 4}, {"alpha", 5}}));
}

TEST_F(AnalyzerTest, OtherCompoundJoiners) {
  EXPECT_EQ(TermsAndPositions(*standard_, "10:30 TCP/IP 2023-01-15 x.y-z/w"),
            (std::vector<TermPos>{{"10:30", 0}, {"10", 0}, {"30", 1},
                                  {"tcp/ip", 2}, {"tcp", 2}, {"ip", 3},
                                  {"2023-01-15", 4}, {"2023", 4}, {"01", 5}, {"15", 6},
                                  {"x.y-z/w", 7}, {"x.y", 7}, {"z", 8}, {"w", 9}}));
  // Only a single joiner between two words glues them.
  EXPECT_EQ(Terms(*standard_, "a--b -x y- a - b 1.2.3-rc1"),
            (std::vector<std::string>{"a", "b", "x", "y", "a", "b", "1.2.3-rc1", "1.2.3", "rc1"}));
}

TEST_F(AnalyzerTest, QueriesForIdentifiersMatchTheDocument) {
  const std::string doc =
      "Project X-Alpha failed with Error 0x800403 after upgrading to v1.2.3 (pi is 3.14).";
  for (const Analyzer* a : {standard_.get(), english_.get()}) {
    SCOPED_TRACE(a->name());
    const std::vector<std::string> doc_terms = Terms(*a, doc);
    const std::set<std::string> terms(doc_terms.begin(), doc_terms.end());
    for (std::string_view query : {"X-Alpha", "x alpha", "ALPHA", "0x800403", "error 0x800403",
                                   "v1.2.3", "3.14", "x‐alpha", "ｘ－ａｌｐｈａ"}) {
      const std::vector<std::string> q = Terms(*a, query);
      ASSERT_FALSE(q.empty()) << query;
      for (const std::string& t : q) EXPECT_TRUE(terms.count(t)) << query << ": " << t;
    }
  }
}

// --- edge cases ---------------------------------------------------------------------------

TEST_F(AnalyzerTest, EmptyWhitespaceAndSymbolOnlyInputGiveNoTokens) {
  for (const Analyzer* a : {standard_.get(), english_.get()}) {
    for (std::string_view text : std::vector<std::string_view>{"", " ", " \t\r\n  \u3000", "!?;-- ...", "😀 👍 ★", "\u00AD",
                                  std::string_view("\0", 1)}) {
      EXPECT_EQ(Tokens(*a, text), std::vector<Token>{}) << a->name() << " [" << text << "]";
    }
  }
}

TEST_F(AnalyzerTest, OverlongTermsAreDroppedButKeepTheirPosition) {
  const std::string longword(kMaxTermBytes + 1, 'a');
  EXPECT_EQ(TermsAndPositions(*standard_, "x " + longword + " y"),
            (std::vector<TermPos>{{"x", 0}, {"y", 2}}));
  const std::string maxword(kMaxTermBytes, 'b');
  EXPECT_EQ(Terms(*standard_, maxword), std::vector<std::string>{maxword});
  // A compound over the limit loses only the whole, not its parts.
  EXPECT_EQ(Terms(*standard_, maxword + "-c"), (std::vector<std::string>{maxword, "c"}));
}

TEST_F(AnalyzerTest, InvalidUtf8IsRejectedWithItsOffset) {
  for (const Analyzer* a : {standard_.get(), english_.get()}) {
    EXPECT_EQ(AnalyzeError(*a, "\xff"), "text is not valid UTF-8 at byte 0");
    EXPECT_EQ(AnalyzeError(*a, "abc\x80"), "text is not valid UTF-8 at byte 3");   // stray trail
    EXPECT_EQ(AnalyzeError(*a, "ab\xc3"), "text is not valid UTF-8 at byte 2");    // truncated
    EXPECT_EQ(AnalyzeError(*a, "é\xe6\x9d"), "text is not valid UTF-8 at byte 2");  // truncated
    EXPECT_EQ(AnalyzeError(*a, "x\xc0\xaf"), "text is not valid UTF-8 at byte 1");  // overlong
    EXPECT_EQ(AnalyzeError(*a, "x\xe0\x80\xaf"), "text is not valid UTF-8 at byte 1");
    EXPECT_EQ(AnalyzeError(*a, "ok \xed\xa0\x80"), "text is not valid UTF-8 at byte 3");  // surrogate
    EXPECT_EQ(AnalyzeError(*a, "\xf4\x90\x80\x80"), "text is not valid UTF-8 at byte 0");  // >10FFFF
    EXPECT_EQ(AnalyzeError(*a, "北京\xf5\x80"), "text is not valid UTF-8 at byte 6");
  }
  // The largest code point and a 4-byte character are fine.
  EXPECT_EQ(Terms(*standard_, "\xf4\x8f\xbf\xbf"), std::vector<std::string>{});
  EXPECT_EQ(Terms(*standard_, "𠀋"), std::vector<std::string>{"𠀋"});
}

// Every token's offsets point at source text that analyses, on its own, to that same term
// first; this ties offsets to terms without hand-computing every byte count.
TEST_F(AnalyzerTest, OffsetsPointAtTheSourceOfEachTerm) {
  const std::string text =
      "Ｔｈｅ Straße, Project X‑Alpha (v1.2.3) 我爱北京天安门! ÉCOLE ﬁne co\u00ADoperate "
      "ภาษาไทย 東京 안녕하세요 don’t 2023-01-15";
  const std::vector<Token> tokens = Tokens(*standard_, text);
  ASSERT_GT(tokens.size(), 20u);
  uint32_t last_position = 0;
  for (const Token& t : tokens) {
    ASSERT_LT(t.start, t.end);
    ASSERT_LE(t.end, text.size());
    EXPECT_GE(t.position, last_position);
    last_position = t.position;
    const std::string source = text.substr(t.start, t.end - t.start);
    const std::vector<std::string> again = Terms(*standard_, source);
    ASSERT_FALSE(again.empty()) << source;
    EXPECT_EQ(again.front(), t.term) << source;
  }
}

// Random text from a mix of scripts, joiners, marks and invisible characters: never an
// error, offsets inside the input, positions never decreasing, terms within the limit.
TEST_F(AnalyzerTest, RandomTextKeepsTheInvariants) {
  const std::vector<std::string> pieces = {
      "a", "Z", "é", "\u0301", "ß", "ﬁ", "Ａ", "－", "-", ".", "/", ":", "@", "_", "'", "’",
      " ", "\t", "\u00AD", "\u200B", "\u200D", "0", "９", "北", "京", "の", "カ", "ー",
      "ไ", "ท", "ย", "한", "ش", "😀", "\U0001F3FD", "İ", "ǅ", "x", "1", ","};
  std::mt19937 rng(42);
  for (int round = 0; round < 300; ++round) {
    std::string text;
    const int n = static_cast<int>(rng() % 40);
    for (int i = 0; i < n; ++i) text += pieces[rng() % pieces.size()];
    for (const Analyzer* a : {standard_.get(), english_.get()}) {
      auto r = a->Analyze(text);
      ASSERT_TRUE(r.ok()) << text << " -> " << r.status().ToString();
      uint32_t last_position = 0;
      for (const Token& t : *r) {
        ASSERT_FALSE(t.term.empty()) << text;
        ASSERT_LE(t.term.size(), kMaxTermBytes);
        ASSERT_LT(t.start, t.end) << text;
        ASSERT_LE(t.end, text.size()) << text;
        ASSERT_GE(t.position, last_position) << text;
        last_position = t.position;
      }
    }
  }
}

TEST_F(AnalyzerTest, ConcurrentCallsOnOneAnalyzerAgree) {
  const std::string text = "Project X-Alpha 我爱北京天安门 running ภาษาไทยง่ายนิดเดียว 0x800403 ";
  std::string big;
  for (int i = 0; i < 50; ++i) big += text;
  const std::vector<Token> expected = Tokens(*english_, big);
  std::vector<std::thread> threads;
  std::vector<int> mismatches(4, 0);
  for (int t = 0; t < 4; ++t) {
    threads.emplace_back([&, t] {
      for (int i = 0; i < 20; ++i) {
        auto r = english_->Analyze(big);
        if (!r.ok() || *r != expected) ++mismatches[t];
      }
    });
  }
  for (std::thread& th : threads) th.join();
  EXPECT_EQ(mismatches, std::vector<int>(4, 0));
}

}  // namespace
}  // namespace sextant::text
