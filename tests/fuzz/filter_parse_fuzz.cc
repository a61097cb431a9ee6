// libFuzzer target: Filter::Parse on arbitrary JSON must return a value or a Status, never
// crash or throw; an accepted filter must give the same answer from the brute-force
// Filter::Matches and from PayloadIndex::Evaluate, and its ToString must parse back to the
// same filter. The input is also indexed as a point's metadata (and erased again), so odd
// metadata shapes meet fixed filters too.
#include <cstdint>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "filter/filter.h"
#include "filter/payload_index.h"

namespace {

using nlohmann::json;
using sextant::filter::Bitmap;
using sextant::filter::Filter;
using sextant::filter::PayloadIndex;

const std::vector<json>& FixedDocs() {
  static const std::vector<json> docs = {
      json::parse(R"({"a": 1, "b": "x", "c": true, "t": ["x", 2, false], "o": {"p": 1}})"),
      json::parse(R"({"a": 2.5, "b": "xyz", "c": false, "t": [], "n": null})"),
      json::parse(R"({"a": "1", "b": ["y", "x"], "t": "tx", "o": {"p": "q", "r": {"s": 0}}})"),
      json::object(),
      json::parse("[1, 2]"),
      json::parse(R"({"a": [1, [2], {"x": 1}], "b": {"c": 1}, "a.b": 3, "$x": 1, "": 0})"),
      json::parse(R"({"a": -0.0, "b": "", "c": 1e300, "t": [true, "xy", -1]})"),
  };
  return docs;
}

const std::vector<Filter>& FixedFilters() {
  static const std::vector<Filter> filters = [] {
    std::vector<Filter> out;
    for (const char* text : {R"({"a": {"$gt": 0}})", R"({"b": {"$contains": "x"}})",
                             R"({"t": {"$ne": 2}})", R"({"c": {"$exists": false}})",
                             R"({"$or": [{"a": {"$lte": "z"}}, {"t": {"$in": [true, "x"]}}]})"}) {
      out.push_back(*Filter::Parse(json::parse(text)));
    }
    return out;
  }();
  return filters;
}

// Matches and Evaluate agree on every id of `universe` (ids without metadata have none).
void CheckAgree(const Filter& f, const PayloadIndex& index, const std::vector<const json*>& docs,
                const Bitmap& universe) {
  auto got = index.Evaluate(f, universe);
  bool dotted = false;
  for (const std::string& path : f.Fields()) dotted |= path.find('.') != std::string::npos;
  if (got.has_value() == dotted) __builtin_trap();
  if (!got) return;
  static const json kNone = json::object();
  for (uint32_t id : universe) {
    const json& doc = id < docs.size() && docs[id] != nullptr ? *docs[id] : kNone;
    if (f.Matches(doc) != got->contains(id)) __builtin_trap();
  }
  if (!(*got - universe).isEmpty()) __builtin_trap();
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  const json input = json::parse(data, data + size, nullptr, /*allow_exceptions=*/false);
  if (input.is_discarded()) return 0;

  PayloadIndex index;
  std::vector<const json*> docs;
  for (const json& d : FixedDocs()) {
    index.Insert(static_cast<uint32_t>(docs.size()), d);
    docs.push_back(&d);
  }
  const size_t fixed_memory = index.MemoryUsage();
  const uint32_t input_id = static_cast<uint32_t>(docs.size());
  index.Insert(input_id, input);
  docs.push_back(&input);
  Bitmap universe;
  universe.addRange(0, docs.size() + 1);  // plus one id that was never inserted

  auto parsed = Filter::Parse(input);
  if (parsed.ok()) {
    const Filter& f = *parsed;
    CheckAgree(f, index, docs, universe);
    // The canonical text parses back to the same filter.
    const std::string text = f.ToString();
    const json again_json = json::parse(text, nullptr, false);
    if (again_json.is_discarded()) __builtin_trap();
    auto again = Filter::Parse(again_json);
    if (!again.ok() || again->ToString() != text) __builtin_trap();
    for (const json* d : docs) {
      if (again->Matches(*d) != f.Matches(*d)) __builtin_trap();
    }
  } else if (parsed.status().message().empty()) {
    __builtin_trap();  // every error names its problem
  }
  for (const Filter& f : FixedFilters()) CheckAgree(f, index, docs, universe);

  index.Erase(input_id, input);
  if (index.MemoryUsage() != fixed_memory) __builtin_trap();
  return 0;
}
