// libFuzzer target: the HTTP server's request parsers (src/server/request_codec.h and
// router.h) on arbitrary bytes. Each parser must return a value or a Status with a message
// and one of the codes the server maps (400/413/422), never crash or throw; accepted values
// must respect the limits; routing and percent-decoding must be consistent.
//
// Without a seed corpus of its own, the input is used twice: as a whole request body, and
// spliced into valid request bodies (so that mutations reach the deeper fields).
#include <cstdint>
#include <set>
#include <string>
#include <string_view>
#include <vector>

#include <nlohmann/json.hpp>

#include "server/request_codec.h"
#include "server/router.h"

namespace {

using nlohmann::json;
using sextant::Status;
using sextant::StatusCode;
using namespace sextant::server;

const Limits& TestLimits() {
  static const Limits limits = [] {
    Limits l;
    l.max_batch = 64;
    l.max_k = 100;
    l.max_dimension = 4096;
    l.max_scroll_limit = 100;
    l.max_json_depth = 32;
    return l;
  }();
  return limits;
}

void CheckStatus(const Status& st) {
  if (st.ok()) return;
  if (st.message().empty()) __builtin_trap();
  if (st.code() != StatusCode::kInvalidArgument && st.code() != StatusCode::kResourceExhausted &&
      st.code() != StatusCode::kOutOfRange) {
    __builtin_trap();  // the server maps only these to 400/413/422
  }
}

void RunParsers(std::string_view text) {
  const Limits& limits = TestLimits();
  auto body = ParseJsonBody(text, limits.max_json_depth);
  CheckStatus(body.status());
  if (!body.ok()) {
    // The fast paths must fail too (on text the JSON parser rejects).
    if (ParseQueryBody(text, limits).ok() || ParseUpsertBody(text, limits).ok()) __builtin_trap();
    return;
  }
  const json& j = *body;
  // The body must print back (the server echoes parts of it in messages and metadata).
  (void)j.dump(-1, ' ', false, json::error_handler_t::replace);

  auto spec = ParseCollectionSpec(j, limits);
  CheckStatus(spec.status());
  if (spec.ok() && spec->config.dimension > limits.max_dimension) __builtin_trap();

  auto points = ParseUpsert(j, limits);
  CheckStatus(points.status());
  if (points.ok()) {
    if (points->empty() || points->size() > limits.max_batch) __builtin_trap();
    std::set<std::string> ids;
    for (const auto& p : *points) {
      if (!ids.insert(p.id).second) __builtin_trap();  // duplicates are rejected
      if (!p.metadata.is_object()) __builtin_trap();
    }
  }

  auto query = ParseQuery(j, limits);
  CheckStatus(query.status());
  if (query.ok()) {
    if (query->k < 1 || query->k > limits.max_k) __builtin_trap();
    if (query->vector.empty() && !query->text) __builtin_trap();
    if (query->vector.size() > limits.max_dimension) __builtin_trap();
    if (query->filter && !query->filter->is_object()) __builtin_trap();
  }

  // The fast path straight from the text agrees with the JSON parser's path.
  auto fast_query = ParseQueryBody(text, limits);
  if (fast_query.ok() != query.ok()) __builtin_trap();
  if (fast_query.ok() && (fast_query->vector != query->vector || fast_query->k != query->k ||
                          fast_query->text != query->text || fast_query->filter != query->filter)) {
    __builtin_trap();
  }
  auto fast_points = ParseUpsertBody(text, limits);
  if (fast_points.ok() != points.ok()) __builtin_trap();
  if (fast_points.ok()) {
    for (size_t i = 0; i < points->size(); ++i) {
      const auto& a = (*fast_points)[i];
      const auto& b = (*points)[i];
      if (a.id != b.id || a.vector != b.vector || a.document != b.document || a.metadata != b.metadata) {
        __builtin_trap();
      }
    }
  }

  auto del = ParseDelete(j, limits);
  CheckStatus(del.status());
  if (del.ok() && (del->filter.has_value() == !del->ids.empty() && !del->ids.empty())) __builtin_trap();
  if (del.ok() && del->ids.size() > limits.max_batch) __builtin_trap();

  auto scroll = ParseScroll(j, limits);
  CheckStatus(scroll.status());
  if (scroll.ok() && (scroll->limit < 1 || scroll->limit > limits.max_scroll_limit)) __builtin_trap();

  CheckStatus(ParseCount(j).status());
  CheckStatus(ParseMetadataPatch(j).status());
  auto get = ParseGetPoints(j, limits);
  CheckStatus(get.status());
  if (get.ok() && get->ids.size() > limits.max_batch) __builtin_trap();
  auto patch = ParseCollectionPatch(j);
  CheckStatus(patch.status());
  if (patch.ok() && !patch->is_object()) __builtin_trap();
  auto key = ParseKeySpec(j);
  CheckStatus(key.status());
  if (key.ok() && ((key->tenant && !sextant::IsValidName(*key->tenant)) || (key->database && !key->tenant))) __builtin_trap();
  auto snap = ParseSnapshotCreate(j);
  CheckStatus(snap.status());
  if (snap.ok() && *snap && !sextant::IsValidName(**snap)) __builtin_trap();
  auto restore = ParseSnapshotRestore(j);
  CheckStatus(restore.status());
  if (restore.ok() && !sextant::IsValidName(*restore)) __builtin_trap();
}

const Router& TestRouter() {
  static const Router router = [] {
    Router r;
    for (const char* prefix : {"/v1/tenants/{tenant}/databases/{database}", "/v1"}) {
      const std::string p = prefix;
      r.Add("GET", p + "/collections");
      r.Add("PUT", p + "/collections/{collection}");
      r.Add("POST", p + "/collections/{collection}/points");
      r.Add("POST", p + "/collections/{collection}/points/delete");
      r.Add("GET", p + "/collections/{collection}/points/{id}");
      r.Add("POST", p + "/snapshots/{snapshot}/restore");
    }
    r.Add("GET", "/v1/tenants/{tenant}");
    r.Add("DELETE", "/v1/keys/{key_id}");
    r.Add("GET", "/healthz");
    return r;
  }();
  return router;
}

void RunTextParsers(std::string_view text) {
  // Routing: a match binds every parameter to a non-empty, NUL-free decoded segment and keeps
  // the pattern's literal segments.
  for (const char* method : {"GET", "POST", "PUT", "DELETE"}) {
    auto m = TestRouter().Match(method, text);
    if (m.route >= 0) {
      if (!m.allowed_methods.empty()) __builtin_trap();
      for (const auto& [name, value] : m.params) {
        if (value.empty() || value.find('\0') != std::string::npos) __builtin_trap();
      }
      if (TestRouter().routes()[m.route].method != method) __builtin_trap();
    }
  }
  // Percent-encoding every byte decodes back to the input.
  std::string encoded;
  bool has_nul = false;
  for (unsigned char c : text) {
    static const char* kHex = "0123456789ABCDEF";
    encoded += '%';
    encoded += kHex[c >> 4];
    encoded += kHex[c & 15];
    has_nul |= c == 0;
  }
  auto decoded = PercentDecode(encoded);
  if (has_nul ? decoded.has_value() : (!decoded || *decoded != text)) __builtin_trap();
  (void)PercentDecode(text);
  (void)ParseQueryString(text);
  if (auto token = ParseBearer(text)) {
    if (token->empty() || token->find(' ') != std::string::npos) __builtin_trap();
  }
  if (auto id = SanitizeRequestId(text)) {
    if (id->empty() || id->size() > 128) __builtin_trap();
  }
  (void)sextant::IsValidName(text);
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  const std::string_view input(reinterpret_cast<const char*>(data), size);
  RunParsers(input);
  RunTextParsers(input);
  // Spliced into valid bodies: {"points":[{"id":"a","vector":[1,2],"metadata":<input>}]} etc.
  static const std::vector<std::pair<std::string, std::string>> kTemplates = {
      {R"({"points":[{"id":"a","vector":[1,2],"metadata":)", "}]}"},
      {R"({"points":[{"id":"a","vector":)", R"(},{"id":"b","document":"x"}]})"},
      {R"({"points":[{"id":"a","vector":[1,2]},{"id":"b","vector":[)", "]}]}"},
      {R"({"vector":[)", R"(],"k":3})"},
      {R"({"vector":[0.5,1],"k":)", R"(,"filter":{"a":1}})"},
      {R"({"vector":[0.5,1],"filter":)", R"(,"include":["document"]})"},
      {R"({"text":"hello","fusion":"rrf","alpha":)", "}"},
      {R"({"dimension":)", R"(,"metric":"cosine","hnsw":{"M":16}})"},
      {R"({"ids":)", "}"},
      {R"({"limit":10,"after":)", "}"},
      {R"({"role":"reader","tenant":)", "}"},
      {R"({"metadata":)", R"(,"merge":true})"},
  };
  if (size > 0) {
    const auto& [head, tail] = kTemplates[data[0] % kTemplates.size()];
    RunParsers(head + std::string(input.substr(1)) + tail);
  }
  return 0;
}
