#include "common/json.h"

#include "common/crc32c.h"
#include "common/excerpt.h"

#include <cstdio>
#include <string>
#include <vector>

namespace sextant {
namespace {

using json = nlohmann::json;

// A SAX handler that builds the document itself, so it can stop at the first object nested
// too deep or key seen twice (nlohmann's parser itself is iterative; only the limit is ours).
class BoundedBuilder : public nlohmann::json_sax<json> {
 public:
  explicit BoundedBuilder(const JsonParseOptions& o) : options_(o) {}

  bool null() override { return Put(json(nullptr)); }
  bool boolean(bool v) override { return Put(json(v)); }
  bool number_integer(number_integer_t v) override { return Put(json(v)); }
  bool number_unsigned(number_unsigned_t v) override { return Put(json(v)); }
  bool number_float(number_float_t v, const string_t&) override { return Put(json(v)); }
  bool string(string_t& v) override { return Put(json(std::move(v))); }
  bool binary(binary_t& v) override { return Put(json::binary(std::move(v))); }

  bool start_object(std::size_t) override { return Open(json::object()); }
  bool end_object() override { return Close(); }
  bool start_array(std::size_t) override { return Open(json::array()); }
  bool end_array() override { return Close(); }

  bool key(string_t& k) override {
    json& obj = *stack_.back();
    if (options_.reject_duplicate_keys && obj.contains(k)) {
      error_ = Status::InvalidArgument("duplicate key '" + Excerpt(k) + "' in a JSON object");
      return false;
    }
    key_ = std::move(k);
    return true;
  }

  bool parse_error(std::size_t position, const std::string&,
                   const nlohmann::detail::exception& ex) override {
    if (error_.ok()) {
      std::string what = ex.what();
      // "[json.exception.parse_error.101] parse error at line 1, column 3: syntax error ..."
      if (const size_t colon = what.find(": "); colon != std::string::npos) what = what.substr(colon + 2);
      error_ = Status::InvalidArgument("malformed JSON at byte " + std::to_string(position) + ": " + what);
    }
    return false;
  }

  Status error() const { return error_; }
  json Take() { return std::move(root_); }

 private:
  // Places a value where the parser is: the root, the next array element or the pending key.
  json* Place(json&& v) {
    if (stack_.empty()) {
      root_ = std::move(v);
      return &root_;
    }
    json& parent = *stack_.back();
    if (parent.is_array()) {
      parent.push_back(std::move(v));
      return &parent.back();
    }
    json& slot = parent[key_];
    slot = std::move(v);
    return &slot;
  }
  bool Put(json&& v) {
    Place(std::move(v));
    return true;
  }
  bool Open(json&& container) {
    if (static_cast<int>(stack_.size()) >= options_.max_depth) {
      error_ = Status::InvalidArgument("JSON nests deeper than " + std::to_string(options_.max_depth) +
                                       " levels");
      return false;
    }
    stack_.push_back(Place(std::move(container)));
    return true;
  }
  bool Close() {
    stack_.pop_back();
    return true;
  }

  const JsonParseOptions& options_;
  json root_;
  std::vector<json*> stack_;
  std::string key_;
  Status error_;
};

}  // namespace

std::string JsonChecksum(const json& j) {
  const std::string text = j.dump();
  char buf[16];
  std::snprintf(buf, sizeof buf, "%08x", Crc32c(text.data(), text.size()));
  return buf;
}

Result<json> ParseJson(std::string_view text, const JsonParseOptions& options) {
  BoundedBuilder builder(options);
  const bool ok = json::sax_parse(text.begin(), text.end(), &builder, json::input_format_t::json,
                                  /*strict=*/true);
  if (!ok) {
    Status st = builder.error();
    if (st.ok()) st = Status::InvalidArgument("malformed JSON");
    return st;
  }
  return builder.Take();
}

}  // namespace sextant
