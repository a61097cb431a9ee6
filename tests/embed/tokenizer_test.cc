// The WordPiece tokenizer: goldens (llama.cpp's bge test vectors through vocab.txt and through
// all-MiniLM-L6-v2's tokenizer.json, the potion model's reference ids), a slow twin written the
// obvious way (whole-string ICU normalization, u32string passes, std::map vocabulary) over
// random text, and the edge cases (invalid UTF-8, empty text, long words, CJK, accents,
// control characters, added tokens, truncation, spans, unsupported components).
#include "embed/tokenizer.h"

#include <gtest/gtest.h>
#include <unicode/normalizer2.h>
#include <unicode/uchar.h>
#include <unicode/unistr.h>

#include <algorithm>
#include <atomic>
#include <cctype>
#include <map>
#include <random>
#include <sstream>
#include <thread>

#include "embed_test_util.h"

namespace sextant::embed {
namespace {

using nlohmann::json;
using testing::HaveShared;
using testing::PotionDir;
using testing::SharedData;
using testing::Slurp;

constexpr const char* kBgeDir = "tokenizers/bert-bge-vocab-gguf";
constexpr const char* kMiniLmDir = "tokenizers/all-MiniLM-L6-v2";

struct Case {
  std::string text;
  std::vector<int32_t> ids;
};

// llama.cpp's test vectors: inputs separated by "\n__ggml_vocab_test__\n", one line of ids each.
std::vector<Case> BgeCases() {
  const std::string inp = Slurp(SharedData() + "/" + kBgeDir + "/ggml-vocab-bert-bge.gguf.inp");
  const std::string out = Slurp(SharedData() + "/" + kBgeDir + "/ggml-vocab-bert-bge.gguf.out");
  const std::string sep = "\n__ggml_vocab_test__\n";
  std::vector<std::string> texts;
  for (size_t at = 0;;) {
    const size_t next = inp.find(sep, at);
    if (next == std::string::npos) break;
    texts.push_back(inp.substr(at, next - at));
    at = next + sep.size();
  }
  std::vector<Case> cases;
  std::istringstream lines(out);
  std::string line;
  for (const std::string& t : texts) {
    if (!std::getline(lines, line)) break;
    Case c{t, {}};
    std::istringstream ids(line);
    for (int32_t id; ids >> id;) c.ids.push_back(id);
    cases.push_back(std::move(c));
  }
  EXPECT_EQ(cases.size(), texts.size());
  return cases;
}

Tokenizer MustLoad(Result<Tokenizer> t) {
  EXPECT_TRUE(t.ok()) << t.status().ToString();
  return std::move(t).value();
}

std::vector<int32_t> Ids(const Tokenizer& t, std::string_view text, EncodeOptions o = {}) {
  auto r = t.Encode(text, o);
  EXPECT_TRUE(r.ok()) << r.status().ToString();
  return r.ok() ? *r : std::vector<int32_t>{};
}

TEST(Tokenizer, BgeGoldensThroughVocabTxtAndTokenizerJson) {
  if (!HaveShared(kBgeDir) || !HaveShared(kMiniLmDir)) GTEST_SKIP() << "no ../shared/data/tokenizers";
  const Tokenizer vocab = MustLoad(Tokenizer::FromVocabFile(SharedData() + "/" + kMiniLmDir + "/vocab.txt"));
  const Tokenizer json = MustLoad(Tokenizer::FromJsonFile(SharedData() + "/" + kMiniLmDir + "/tokenizer.json"));
  EXPECT_EQ(vocab.vocab_size(), 30522u);
  EXPECT_EQ(json.vocab_size(), 30522u);
  EXPECT_EQ(json.truncation_max_length(), 256u);
  const auto cases = BgeCases();
  ASSERT_EQ(cases.size(), 46u);
  for (const Case& c : cases) {
    EXPECT_EQ(Ids(vocab, c.text), c.ids) << "vocab.txt: '" << c.text << "'";
    EXPECT_EQ(Ids(json, c.text), c.ids) << "tokenizer.json: '" << c.text << "'";
    // With the post-processor: [CLS] ... [SEP].
    std::vector<int32_t> with = c.ids;
    with.insert(with.begin(), 101);
    with.push_back(102);
    EXPECT_EQ(Ids(json, c.text, {.add_special_tokens = true}), with);
    EXPECT_EQ(Ids(vocab, c.text, {.add_special_tokens = true}), with);
  }
}

TEST(Tokenizer, PotionReferenceIds) {
  const Tokenizer t = MustLoad(Tokenizer::FromJsonFile(PotionDir() + "/tokenizer.json"));
  EXPECT_EQ(t.vocab_size(), 29528u);
  EXPECT_EQ(t.unk_id(), 1);
  const json ref = json::parse(Slurp(PotionDir() + "/reference_embeddings_numpy.json"));
  ASSERT_EQ(ref["cases"].size(), 7u);
  for (const json& c : ref["cases"]) {
    const std::string text = c["text"];
    EXPECT_EQ(Ids(t, text, {.drop_unknown = true}), c["token_ids"].get<std::vector<int32_t>>()) << text;
  }
}

// --- the slow twin ---------------------------------------------------------------------------

std::u32string Decode(std::string_view s) {
  icu::UnicodeString u = icu::UnicodeString::fromUTF8(icu::StringPiece(s.data(), static_cast<int32_t>(s.size())));
  std::u32string out;
  for (int32_t i = 0; i < u.length(); i = u.moveIndex32(i, 1)) out += static_cast<char32_t>(u.char32At(i));
  return out;
}
std::string Encode8(const std::u32string& s) {
  icu::UnicodeString u;
  for (char32_t c : s) u.append(static_cast<UChar32>(c));
  std::string out;
  u.toUTF8String(out);
  return out;
}
bool TwinIsOther(char32_t c) {
  const int t = u_charType(c);
  return t == U_CONTROL_CHAR || t == U_FORMAT_CHAR || t == U_SURROGATE || t == U_PRIVATE_USE_CHAR || t == U_UNASSIGNED;
}
bool TwinIsSpace(char32_t c) { return u_isUWhiteSpace(c); }
bool TwinIsPunct(char32_t c) {
  if (c < 128) return std::ispunct(static_cast<int>(c)) != 0;
  const int t = u_charType(c);
  return t == U_DASH_PUNCTUATION || t == U_START_PUNCTUATION || t == U_END_PUNCTUATION ||
         t == U_CONNECTOR_PUNCTUATION || t == U_OTHER_PUNCTUATION || t == U_INITIAL_PUNCTUATION ||
         t == U_FINAL_PUNCTUATION;
}
bool TwinIsCjk(char32_t c) {
  const std::pair<char32_t, char32_t> ranges[] = {{0x4E00, 0x9FFF},   {0x3400, 0x4DBF},   {0x20000, 0x2A6DF},
                                                  {0x2A700, 0x2B73F}, {0x2B740, 0x2B81F}, {0x2B920, 0x2CEAF},
                                                  {0xF900, 0xFAFF},   {0x2F800, 0x2FA1F}};
  for (auto [a, b] : ranges) {
    if (c >= a && c <= b) return true;
  }
  return false;
}

// BERT uncased tokenization written as the Python reference does it, one pass per step.
std::vector<int32_t> TwinTokenize(const std::map<std::string, int32_t>& vocab, std::string_view text, int32_t unk) {
  std::u32string s;
  for (char32_t c : Decode(text)) {  // clean_text
    if (c == 0 || c == 0xFFFD || (c != '\t' && c != '\n' && c != '\r' && TwinIsOther(c))) continue;
    s += TwinIsSpace(c) ? U' ' : c;
  }
  std::u32string t;
  for (char32_t c : s) {  // handle_chinese_chars
    if (TwinIsCjk(c)) {
      t += U' ';
      t += c;
      t += U' ';
    } else {
      t += c;
    }
  }
  UErrorCode ec = U_ZERO_ERROR;
  icu::UnicodeString whole;
  for (char32_t c : t) whole.append(static_cast<UChar32>(c));
  const icu::UnicodeString nfd = icu::Normalizer2::getNFDInstance(ec)->normalize(whole, ec);  // strip_accents
  std::u32string u;
  for (char32_t c : Decode([&] { std::string x; nfd.toUTF8String(x); return x; }())) {
    if (u_charType(c) == U_NON_SPACING_MARK) continue;
    if (c == 0x130) {  // lowercase, per character
      u += U"i\u0307";
    } else {
      u += static_cast<char32_t>(u_tolower(c));
    }
  }
  std::vector<std::u32string> words;  // BertPreTokenizer
  std::u32string cur;
  for (char32_t c : u) {
    if (TwinIsSpace(c) || TwinIsPunct(c)) {
      if (!cur.empty()) words.push_back(cur);
      cur.clear();
      if (TwinIsPunct(c)) words.push_back(std::u32string(1, c));
    } else {
      cur += c;
    }
  }
  if (!cur.empty()) words.push_back(cur);
  std::vector<int32_t> ids;
  for (const std::u32string& w : words) {  // WordPiece
    if (w.size() > 100) {
      ids.push_back(unk);
      continue;
    }
    std::vector<int32_t> pieces;
    size_t start = 0;
    bool bad = false;
    while (start < w.size()) {
      size_t end = w.size();
      int32_t found = -1;
      while (start < end) {
        const std::string sub = (start > 0 ? "##" : "") + Encode8(w.substr(start, end - start));
        if (auto it = vocab.find(sub); it != vocab.end()) {
          found = it->second;
          break;
        }
        --end;
      }
      if (found < 0) {
        bad = true;
        break;
      }
      pieces.push_back(found);
      start = end;
    }
    if (bad) {
      ids.push_back(unk);
    } else {
      ids.insert(ids.end(), pieces.begin(), pieces.end());
    }
  }
  return ids;
}

std::map<std::string, int32_t> PotionVocab() {
  const json tj = json::parse(Slurp(PotionDir() + "/tokenizer.json"));
  return tj["model"]["vocab"].get<std::map<std::string, int32_t>>();
}

TEST(Tokenizer, MatchesSlowTwinOnRandomText) {
  const Tokenizer t = MustLoad(Tokenizer::FromJsonFile(PotionDir() + "/tokenizer.json"));
  const auto vocab = PotionVocab();
  std::vector<std::string> tokens;
  for (const auto& [tok, id] : vocab) {
    if (tok.size() > 2 && tok[0] != '[') tokens.push_back(tok.rfind("##", 0) == 0 ? tok.substr(2) : tok);
  }
  // Characters from every class the pipeline treats specially.
  const std::vector<std::string> pool = {
      "a", "b", "Z", "q", "7", "0", " ", "  ", "\t", "\n", "\r", ".", ",", "!", "'", "$", "+", "^", "`", "|", "~",
      "-", "\x01", "\x7f", "\xc2\x85" /* NEL */, "\xc2\xa0" /* NBSP */, "\xe3\x80\x80" /* ideographic space */,
      "\xe2\x80\xa8" /* line separator */, "\xc3\xa9" /* é */, "e\xcc\x81" /* e + acute */, "\xc3\xb1", "\xc3\x9c",
      "\xc3\x9f" /* ß */, "\xc4\xb0" /* İ */, "\xce\xa3" /* Σ */, "\xcf\x82", "\xce\xac" /* ά */, "\xd0\x96",
      "\xef\xac\x81" /* ﬁ */, "\xc2\xbd" /* ½ */, "\xe6\x9d\xb1" /* 東 */, "\xe4\xba\xac", "\xe6\x88\x91",
      "\xf0\xa0\x80\x80" /* U+20000 */, "\xef\xa4\x80" /* U+F900 */, "\xf0\x9f\xa6\x99" /* 🦙 */,
      "\xe2\x80\x8d" /* ZWJ */, "\xef\xb8\x8f" /* VS16 */, "\xef\xbf\xbd" /* U+FFFD */, "\xee\x80\x80" /* U+E000 */,
      "\xcd\xb8" /* unassigned U+0378 */, "\xd8\xb9", "\xe0\xa4\x95", "\xed\x95\x9c" /* 한 */, "\xe0\xb8\x81",
      "\xe2\x80\x9c" /* “ */, "\xe2\x80\x94" /* — */, "\xc2\xbf", "\xe3\x80\x82", "\xef\xbc\x81" /* ！ */,
      "\xe2\x82\xac" /* € */, "\xc2\xb0", "\xe2\x84\xa2", "\xf0\x9d\x90\x80" /* 𝐀 */};
  std::mt19937 rng(7);
  for (int iter = 0; iter < 3000; ++iter) {
    std::string text;
    const int parts = std::uniform_int_distribution<int>(0, 24)(rng);
    for (int p = 0; p < parts; ++p) {
      if (rng() % 3 == 0) {
        text += tokens[rng() % tokens.size()];
      } else {
        text += pool[rng() % pool.size()];
      }
    }
    ASSERT_EQ(Ids(t, text), TwinTokenize(vocab, text, 1)) << "text: '" << text << "'";
  }
  if (HaveShared(kBgeDir)) {
    for (const Case& c : BgeCases()) EXPECT_EQ(Ids(t, c.text), TwinTokenize(vocab, c.text, 1)) << c.text;
  }
}

// --- edge cases ------------------------------------------------------------------------------

class PotionTokenizer : public ::testing::Test {
 protected:
  static void SetUpTestSuite() { tok_ = new Tokenizer(MustLoad(Tokenizer::FromJsonFile(PotionDir() + "/tokenizer.json"))); }
  static void TearDownTestSuite() { delete tok_; }
  int32_t Id(std::string_view token) const { return tok_->TokenToId(token).value_or(-99); }
  static Tokenizer* tok_;
};
Tokenizer* PotionTokenizer::tok_ = nullptr;

TEST_F(PotionTokenizer, InvalidUtf8IsRefusedNamingTheByte) {
  const std::pair<std::string, size_t> cases[] = {
      {"\xff", 0}, {"abc\xc3", 3}, {"ok \xc0\xaf", 3}, {"\xed\xa0\x80", 0} /* surrogate */,
      {"x\xf4\x90\x80\x80", 1} /* above U+10FFFF */, {"hello world and more\x80", 20}, {"\xe6\x9d", 0}};
  for (const auto& [text, at] : cases) {
    auto r = tok_->Encode(text);
    ASSERT_FALSE(r.ok()) << text;
    EXPECT_EQ(r.status().code(), StatusCode::kInvalidArgument);
    EXPECT_EQ(r.status().message(), "text is not valid UTF-8 at byte " + std::to_string(at));
  }
  EXPECT_EQ(FirstInvalidUtf8("\xef\xbf\xbf"), std::string_view::npos);  // U+FFFF is valid UTF-8
  EXPECT_EQ(FirstInvalidUtf8("\xf4\x8f\xbf\xbf"), std::string_view::npos);  // U+10FFFF
}

TEST_F(PotionTokenizer, EmptyAndWhitespaceTextHaveNoTokens) {
  for (const char* text : {"", " ", "\t\n\r  ", "\xc2\xa0\xe3\x80\x80", "\x01\x02\x7f", "\xe2\x80\x8d"}) {
    EXPECT_TRUE(Ids(*tok_, text).empty()) << text;
    EXPECT_EQ(Ids(*tok_, text, {.add_special_tokens = true}), (std::vector<int32_t>{101, 102}))
        << "the template's ids as the file gives them";
  }
}

TEST_F(PotionTokenizer, LongWordsAreOneUnknownToken) {
  const std::string hundred(100, 'a'), longer(101, 'a');
  const auto ids = Ids(*tok_, hundred);
  EXPECT_GT(ids.size(), 1u);
  EXPECT_EQ(std::count(ids.begin(), ids.end(), tok_->unk_id()), 0);
  EXPECT_EQ(Ids(*tok_, longer), (std::vector<int32_t>{1}));
  EXPECT_EQ(Ids(*tok_, "x " + longer + " y"), (std::vector<int32_t>{Id("x"), 1, Id("y")}));
  // Characters, not bytes: 60 two-byte characters are under the limit.
  std::string accented;
  for (int i = 0; i < 60; ++i) accented += "\xc3\xa9";
  EXPECT_NE(Ids(*tok_, accented), (std::vector<int32_t>{1}));
}

TEST_F(PotionTokenizer, CjkAccentsAndControlCharacters) {
  // Each CJK ideograph is its own word.
  EXPECT_EQ(Ids(*tok_, "\xe6\x9d\xb1\xe4\xba\xac"), Ids(*tok_, "\xe6\x9d\xb1 \xe4\xba\xac"));
  EXPECT_EQ(Ids(*tok_, "\xe6\x9d\xb1\xe4\xba\xac").size(), 2u);
  // Accents stripped, case folded: café = cafe = CAFÉ = cafe + combining acute.
  EXPECT_EQ(Ids(*tok_, "caf\xc3\xa9"), Ids(*tok_, "cafe"));
  EXPECT_EQ(Ids(*tok_, "CAF\xc3\x89"), Ids(*tok_, "cafe"));
  EXPECT_EQ(Ids(*tok_, "cafe\xcc\x81"), Ids(*tok_, "cafe"));
  // Control and format characters vanish; tabs and newlines separate words.
  EXPECT_EQ(Ids(*tok_, "hel\x01lo"), Ids(*tok_, "hello"));
  EXPECT_EQ(Ids(*tok_, "hello\x7fworld"), Ids(*tok_, "helloworld"));
  EXPECT_EQ(Ids(*tok_, "hello\tworld\n"), Ids(*tok_, "hello world"));
  // Punctuation is its own word, ASCII symbols included.
  EXPECT_EQ(Ids(*tok_, "a+b"), (std::vector<int32_t>{Id("a"), Id("+"), Id("b")}));
}

TEST_F(PotionTokenizer, SpansPointIntoTheInput) {
  const std::string text = "H\xc3\xa9llo, WORLD!! \xe6\x9d\xb1 unbelievably";
  std::vector<int32_t> ids;
  std::vector<TokenSpan> spans;
  ASSERT_TRUE(tok_->Encode(text, {}, &ids, &spans).ok());
  ASSERT_EQ(ids.size(), spans.size());
  std::vector<std::string> pieces;
  for (const TokenSpan& s : spans) pieces.push_back(text.substr(s.start, s.end - s.start));
  ASSERT_GE(pieces.size(), 7u);
  EXPECT_EQ(pieces[0], "H\xc3\xa9llo");
  EXPECT_EQ(pieces[1], ",");
  EXPECT_EQ(pieces[2], "WORLD");
  EXPECT_EQ(pieces[3], "!");
  EXPECT_EQ(pieces[4], "!");
  EXPECT_EQ(pieces[5], "\xe6\x9d\xb1");
  std::string rest;
  for (size_t i = 6; i < pieces.size(); ++i) rest += pieces[i];
  EXPECT_EQ(rest, "unbelievably");  // word pieces tile the word
  // The same ids without spans.
  EXPECT_EQ(Ids(*tok_, text), ids);
}

TEST_F(PotionTokenizer, TruncationStopsEarly) {
  std::string text;
  for (int i = 0; i < 1000; ++i) text += "hello ";
  EXPECT_EQ(Ids(*tok_, text, {.max_length = 5}).size(), 5u);
  const auto with = Ids(*tok_, text, {.add_special_tokens = true, .max_length = 5});
  EXPECT_EQ(with, (std::vector<int32_t>{101, Id("hello"), Id("hello"), Id("hello"), 102}));
  auto too_small = tok_->Encode(text, {.add_special_tokens = true, .max_length = 1});
  ASSERT_FALSE(too_small.ok());
  EXPECT_NE(too_small.status().message().find("cannot hold the 2 special tokens"), std::string::npos);
  // drop_unknown counts kept tokens only.
  const auto kept = Ids(*tok_, "\xf0\x9f\xa6\x99 \xf0\x9f\xa6\x99 hello hello hello", {.drop_unknown = true, .max_length = 2});
  EXPECT_EQ(kept, (std::vector<int32_t>{Id("hello"), Id("hello")}));
}

TEST_F(PotionTokenizer, AddedTokensAreSplitFromRawText) {
  EXPECT_EQ(Ids(*tok_, "[CLS] hello [MASK]world[SEP]"),
            (std::vector<int32_t>{2, Id("hello"), 4, Id("world"), 3}));
  // Lower-case "[cls]" is not the added token: it is punctuation and a word.
  EXPECT_EQ(Ids(*tok_, "[cls]"), Ids(*tok_, "[ cls ]"));
  EXPECT_EQ(Ids(*tok_, "[cls]").front(), Id("["));
  EXPECT_EQ(Ids(*tok_, "[UNK] a", {.drop_unknown = true}), (std::vector<int32_t>{Id("a")}));
}

TEST(TokenizerJson, AddedTokenOptions) {
  json tj = json::parse(Slurp(PotionDir() + "/tokenizer.json"));
  // A normalized added token (matched in lowercased, accent-stripped text), one that takes the
  // whitespace around it, and one that matches only as a whole word.
  tj["added_tokens"].push_back({{"id", 29528}, {"content", "New York"}, {"normalized", true}, {"special", false},
                                {"lstrip", false}, {"rstrip", false}, {"single_word", false}});
  tj["added_tokens"].push_back({{"id", 29529}, {"content", "<sep>"}, {"normalized", false}, {"special", true},
                                {"lstrip", true}, {"rstrip", true}, {"single_word", false}});
  tj["added_tokens"].push_back({{"id", 29530}, {"content", "cat"}, {"normalized", false}, {"special", false},
                                {"lstrip", false}, {"rstrip", false}, {"single_word", true}});
  const Tokenizer t = MustLoad(Tokenizer::FromJson(tj.dump()));
  const Tokenizer base = MustLoad(Tokenizer::FromJsonFile(PotionDir() + "/tokenizer.json"));
  EXPECT_EQ(t.vocab_size(), 29531u);
  EXPECT_EQ(t.IdToToken(29529), "<sep>");
  const int32_t in = *base.TokenToId("in");
  const int32_t cats = Ids(base, "cats").front();
  EXPECT_EQ(Ids(t, "in NEW YORK"), (std::vector<int32_t>{in, 29528}));
  EXPECT_EQ(Ids(t, "in n\xc3\xa9w york"), (std::vector<int32_t>{in, 29528}));
  EXPECT_EQ(Ids(t, "in new  york").size(), 3u);  // two spaces: not the token
  // lstrip/rstrip: the spaces around <sep> belong to it.
  std::vector<int32_t> ids;
  std::vector<TokenSpan> spans;
  const std::string text = "in  <sep>  in";
  ASSERT_TRUE(t.Encode(text, {}, &ids, &spans).ok());
  EXPECT_EQ(ids, (std::vector<int32_t>{in, 29529, in}));
  EXPECT_EQ(spans[1], (TokenSpan{2, 11}));
  // single_word: "cat" alone, not inside "cats".
  EXPECT_EQ(Ids(t, "cat in"), (std::vector<int32_t>{29530, in}));
  EXPECT_EQ(Ids(t, "cats"), Ids(base, "cats"));
  EXPECT_EQ(Ids(t, "cats").front(), cats);
}

// A tokenizer.json with parts replaced.
std::string PotionJsonWith(const std::string& key, const json& value) {
  json tj = json::parse(Slurp(PotionDir() + "/tokenizer.json"));
  if (key == "model.type") {
    tj["model"]["type"] = value;
  } else {
    tj[key] = value;
  }
  return tj.dump();
}

TEST(TokenizerJson, UnsupportedComponentsAreNamed) {
  const std::pair<std::pair<std::string, json>, std::string> cases[] = {
      {{"model.type", "Unigram"}, "model type 'Unigram' is not supported"},
      {{"model.type", "BPE"}, "model type 'BPE' is not supported"},
      {{"pre_tokenizer", {{"type", "Metaspace"}, {"replacement", "_"}}}, "pre_tokenizer type 'Metaspace' is not supported"},
      {{"pre_tokenizer", {{"type", "Sequence"}, {"pretokenizers", {{{"type", "WhitespaceSplit"}}, {{"type", "ByteLevel"}}}}}},
       "pre_tokenizer type 'ByteLevel' is not supported"},
      {{"pre_tokenizer", {{"type", "Punctuation"}, {"behavior", "MergedWithPrevious"}}}, "behavior \"MergedWithPrevious\""},
      {{"normalizer", {{"type", "Precompiled"}}}, "normalizer type 'Precompiled' is not supported"},
      {{"normalizer", {{"type", "Sequence"}, {"normalizers", {{{"type", "NFD"}}, {{"type", "Replace"}}}}}},
       "normalizer type 'Replace' is not supported"},
      {{"normalizer", {{"type", "NFC"}}}, "normalizer type 'NFC' is not supported"},
      {{"post_processor", {{"type", "RobertaProcessing"}}}, "post_processor type 'RobertaProcessing' is not supported"},
      {{"normalizer", {{"type", "BertNormalizer"}, {"lowercase", "yes"}}}, "lowercase must be true or false"},
      {{"added_tokens", json::array({json{{"id", -1}, {"content", "x"}}})}, "added token 'x' id must be an integer"},
  };
  for (const auto& [edit, words] : cases) {
    auto t = Tokenizer::FromJson(PotionJsonWith(edit.first, edit.second), "tok.json");
    ASSERT_FALSE(t.ok()) << words;
    EXPECT_EQ(t.status().code(), StatusCode::kInvalidArgument);
    EXPECT_NE(t.status().message().find("tok.json: "), std::string::npos) << t.status().message();
    EXPECT_NE(t.status().message().find(words), std::string::npos) << t.status().message();
  }
  auto not_json = Tokenizer::FromJson("{\"model\":", "tok.json");
  EXPECT_FALSE(not_json.ok());
  auto no_unk = Tokenizer::FromJson(R"({"model":{"type":"WordPiece","vocab":{"a":0},"unk_token":"[UNK]"}})", "tok.json");
  ASSERT_FALSE(no_unk.ok());
  EXPECT_NE(no_unk.status().message().find("unknown token '[UNK]' is not in the vocabulary"), std::string::npos);
}

TEST(TokenizerJson, SequenceOfSimpleNormalizersMatchesBert) {
  // NFD + Lowercase + StripAccents, WhitespaceSplit + Punctuation: BERT's pipeline without
  // clean_text and the CJK split, so the same ids on text without control characters or CJK.
  const std::string seq = PotionJsonWith(
      "normalizer", {{"type", "Sequence"},
                     {"normalizers", {{{"type", "NFD"}}, {{"type", "Lowercase"}}, {{"type", "StripAccents"}}}}});
  json tj = json::parse(seq);
  tj["pre_tokenizer"] = {{"type", "Sequence"},
                         {"pretokenizers", {{{"type", "WhitespaceSplit"}}, {{"type", "Punctuation"}, {"behavior", "Isolated"}}}}};
  const Tokenizer a = MustLoad(Tokenizer::FromJson(tj.dump()));
  const Tokenizer b = MustLoad(Tokenizer::FromJsonFile(PotionDir() + "/tokenizer.json"));
  for (const char* text : {"Hello, World!", "Cr\xc3\xa8me br\xc3\xbbl\xc3\xa9" "e na\xc3\xafve", "It's 3.14 -- \xce\x91\xce\xb8\xce\xae\xce\xbd\xce\xb1",
                           "\xc4\xb0stanbul \xc3\x85ngstr\xc3\xb6m", "multi   space\ttab"}) {
    EXPECT_EQ(Ids(a, text), Ids(b, text)) << text;
  }
}

TEST(TokenizerVocabTxt, DefaultsAndDamage) {
  const Tokenizer t = MustLoad(Tokenizer::FromVocabTxt("[PAD]\n[UNK]\n[CLS]\n[SEP]\n[MASK]\nhello\nworld\n##s\n,\r\n"));
  EXPECT_EQ(t.vocab_size(), 9u);
  EXPECT_EQ(Ids(t, "Hello, worlds"), (std::vector<int32_t>{5, 8, 6, 7}));
  EXPECT_EQ(Ids(t, "hello", {.add_special_tokens = true}), (std::vector<int32_t>{2, 5, 3}));
  EXPECT_EQ(Ids(t, "hi [MASK]"), (std::vector<int32_t>{1, 4}));
  EXPECT_FALSE(Tokenizer::FromVocabTxt("").ok());
  EXPECT_FALSE(Tokenizer::FromVocabTxt("a\nb\n").ok());  // no [UNK]
  EXPECT_FALSE(Tokenizer::FromVocabTxt("[UNK]\n\xff\n").ok());
  // Cased: no lowercasing, accents kept.
  VocabTxtOptions cased;
  cased.lowercase = false;
  const Tokenizer c = MustLoad(Tokenizer::FromVocabTxt("[UNK]\nHello\nhello\ncaf\xc3\xa9\n", cased));
  EXPECT_EQ(Ids(c, "Hello hello caf\xc3\xa9"), (std::vector<int32_t>{1, 2, 3}));
}

TEST(Tokenizer, ManyThreadsAgree) {
  const Tokenizer t = MustLoad(Tokenizer::FromJsonFile(PotionDir() + "/tokenizer.json"));
  const std::string text = "The feline is sleeping on the sofa, na\xc3\xafvely \xe6\x9d\xb1\xe4\xba\xac.";
  const auto want = Ids(t, text);
  std::vector<std::thread> threads;
  std::atomic<int> bad{0};
  for (int k = 0; k < 4; ++k) {
    threads.emplace_back([&] {
      for (int i = 0; i < 500; ++i) {
        auto r = t.Encode(text);
        if (!r.ok() || *r != want) ++bad;
      }
    });
  }
  for (auto& th : threads) th.join();
  EXPECT_EQ(bad.load(), 0);
}

}  // namespace
}  // namespace sextant::embed
