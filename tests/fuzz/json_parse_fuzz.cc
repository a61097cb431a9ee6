// libFuzzer target: ParseJson (the one JSON reader for requests, command-line input, metadata
// files and the log) against nlohmann's own parser as its twin. Both must agree on what is
// valid JSON, and on the document, except where ParseJson refuses by design (nesting deeper
// than its limit, a key twice), which it must then name.
#include <cstdint>
#include <string>
#include <string_view>
#include <vector>
#include <algorithm>

#include <nlohmann/json.hpp>

#include "common/json.h"

namespace {

bool HasDuplicateKeys(std::string_view text) {
  bool dup = false;
  // nlohmann keeps the last of duplicate keys; a re-parse that counts keys per object tells.
  struct Counter : nlohmann::json_sax<nlohmann::json> {
    std::vector<std::vector<std::string>> keys;
    bool* dup;
    bool null() override { return true; }
    bool boolean(bool) override { return true; }
    bool number_integer(number_integer_t) override { return true; }
    bool number_unsigned(number_unsigned_t) override { return true; }
    bool number_float(number_float_t, const string_t&) override { return true; }
    bool string(string_t&) override { return true; }
    bool binary(binary_t&) override { return true; }
    bool start_object(std::size_t) override { keys.emplace_back(); return true; }
    bool key(string_t& k) override {
      for (const auto& seen : keys.back()) if (seen == k) *dup = true;
      keys.back().push_back(k);
      return true;
    }
    bool end_object() override { keys.pop_back(); return true; }
    bool start_array(std::size_t) override { return true; }
    bool end_array() override { return true; }
    bool parse_error(std::size_t, const std::string&, const nlohmann::detail::exception&) override { return false; }
  } counter;
  counter.dup = &dup;
  nlohmann::json::sax_parse(text.begin(), text.end(), &counter, nlohmann::json::input_format_t::json, true);
  return dup;
}

int Depth(const nlohmann::json& j) {
  if (!j.is_structured()) return 0;
  int d = 0;
  for (const auto& e : j) d = std::max(d, Depth(e));
  return d + 1;
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  const std::string_view text(reinterpret_cast<const char*>(data), size);
  sextant::JsonParseOptions options;
  options.max_depth = 16;
  auto ours = sextant::ParseJson(text, options);
  // nlohmann's parser is iterative, but its destructor and dump recurse: keep the twin shallow.
  size_t opens = 0;
  for (char c : text) opens += (c == '[' || c == '{');
  if (opens > 2000) return 0;
  const nlohmann::json theirs = nlohmann::json::parse(text.begin(), text.end(), nullptr, false);
  if (theirs.is_discarded()) {
    if (ours.ok()) __builtin_trap();  // we accepted what is not JSON
  } else if (ours.ok()) {
    if (*ours != theirs) __builtin_trap();  // a different document
  } else {
    const std::string& m = ours.status().message();
    const bool deep = Depth(theirs) > options.max_depth;
    const bool dup = HasDuplicateKeys(text);
    if (!deep && !dup) __builtin_trap();  // refused valid JSON for no stated reason
    if (m.find("nests deeper") == std::string::npos && m.find("duplicate key") == std::string::npos) {
      __builtin_trap();
    }
  }
  return 0;
}
