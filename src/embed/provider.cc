#include "embed/provider.h"

#include <httplib.h>

#include <algorithm>
#include <cctype>
#include <chrono>
#include <cmath>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <ctime>
#include <limits>
#include <random>
#include <thread>
#include <utility>

#include "common/excerpt.h"
#include "common/json.h"

namespace sextant::embed {
namespace {

using Clock = std::chrono::steady_clock;

constexpr size_t kMaxBatchSize = 2048;     // OpenAI's limit on inputs per request
constexpr size_t kMaxDimensions = 65536;   // a collection's limit
constexpr double kMaxTimeoutS = 3600;
constexpr int kMaxRetries = 10;
constexpr double kBackoffFirstS = 0.5;     // as OpenAI's own clients
constexpr double kBackoffMaxS = 8;
constexpr double kMaxRetryAfterS = 60;     // a longer Retry-After falls back to the backoff
constexpr uint64_t kMaxAnswerBytes = uint64_t{256} << 20;
constexpr size_t kMaxQuotedMessage = 300;
constexpr const char* kProbeText = "dimension probe";

Status Bad(const std::string& message) { return Status::InvalidArgument("embedding provider: " + message); }

// A printable excerpt of a peer's text for an error message.
std::string Quoted(std::string_view s) { return Excerpt(s, kMaxQuotedMessage); }

// A number as people write it: 0.3, 30, 1e+100.
std::string Number(double v) {
  char buf[32];
  std::snprintf(buf, sizeof buf, "%g", v);
  return buf;
}

// The parts of a base URL: "http://127.0.0.1:8080/v1/" -> "http://127.0.0.1:8080", "/v1".
struct BaseUrl {
  std::string scheme_host_port;
  std::string path;  // no trailing '/'; may be empty
};

Result<BaseUrl> ParseBaseUrl(const std::string& url) {
  const auto bad = [&](const std::string& why) { return Bad("'url' " + why + ", got '" + Quoted(url) + "'"); };
  for (char c : url) {
    if (static_cast<unsigned char>(c) <= 0x20 || c == 0x7f) return bad("must not contain spaces or control characters");
  }
  const size_t sep = url.find("://");
  std::string scheme = sep == std::string::npos ? "" : url.substr(0, sep);
  std::transform(scheme.begin(), scheme.end(), scheme.begin(), [](unsigned char c) { return std::tolower(c); });
  if (scheme != "http" && scheme != "https") return bad("must start with http:// or https://");
  const std::string rest = url.substr(sep + 3);
  const size_t slash = rest.find('/');
  const std::string authority = rest.substr(0, slash);
  std::string path = slash == std::string::npos ? "" : rest.substr(slash);
  if (url.find_first_of("?#") != std::string::npos) return bad("must not have a query or fragment");
  if (authority.find('@') != std::string::npos) {
    return bad("must not hold a user name or password (name the key's environment variable in 'api_key_env')");
  }
  // host, or [IPv6], then an optional :port.
  std::string host = authority, port;
  if (!authority.empty() && authority[0] == '[') {
    const size_t close = authority.find(']');
    if (close == std::string::npos) return bad("has an unclosed '[' in its host");
    host = authority.substr(0, close + 1);
    const std::string after = authority.substr(close + 1);
    if (!after.empty() && after[0] != ':') return bad("has text after its IPv6 host");
    if (!after.empty()) port = after.substr(1);
    if (host.find_first_not_of("[]0123456789:") != std::string::npos) {
      return bad("has an IPv6 host this client cannot reach (digits and ':' only)");
    }
  } else if (const size_t colon = authority.find(':'); colon != std::string::npos) {
    host = authority.substr(0, colon);
    port = authority.substr(colon + 1);
  }
  if (host.empty() || host == "[]") return bad("has no host");
  if (authority.find(':') != std::string::npos && authority.back() == ':') return bad("has an empty port");
  if (!port.empty()) {
    if (port.size() > 5 || port.find_first_not_of("0123456789") != std::string::npos ||
        std::stoi(port) < 1 || std::stoi(port) > 65535) {
      return bad("has a port that is not a number from 1 to 65535");
    }
  }
  while (!path.empty() && path.back() == '/') path.pop_back();
  if (path.size() >= 11 && path.compare(path.size() - 11, 11, "/embeddings") == 0) {
    return bad("is the base URL, without '/embeddings' (requests go to url + '/embeddings')");
  }
  return BaseUrl{scheme + "://" + authority, path};
}

bool ValidEnvName(const std::string& s) {
  if (s.empty() || std::isdigit(static_cast<unsigned char>(s[0]))) return false;
  return std::all_of(s.begin(), s.end(), [](unsigned char c) { return std::isalnum(c) || c == '_'; });
}

// The checks that need no environment: everything but the key's presence.
Status CheckOptions(const ProviderOptions& o) {
  if (auto u = ParseBaseUrl(o.url); !u.ok()) return u.status();
  if (o.model.empty()) return Bad("'model' must name the provider's model");
  if (std::any_of(o.model.begin(), o.model.end(), [](unsigned char c) { return c < 0x20 || c == 0x7f; })) {
    return Bad("'model' must not contain control characters");
  }
  if (!o.api_key_env.empty() && !ValidEnvName(o.api_key_env)) {
    return Bad("'api_key_env' must be an environment variable's name (letters, digits, '_'), got '" +
               Quoted(o.api_key_env) + "'");
  }
  if (o.dimensions > kMaxDimensions) {
    return Bad("'dimensions' must be at most " + std::to_string(kMaxDimensions) + " (0: learn it from the provider), got " +
               std::to_string(o.dimensions));
  }
  if (o.batch_size < 1 || o.batch_size > kMaxBatchSize) {
    return Bad("'batch_size' must be from 1 to " + std::to_string(kMaxBatchSize) + ", got " + std::to_string(o.batch_size));
  }
  if (!(o.timeout_s > 0 && o.timeout_s <= kMaxTimeoutS)) {
    return Bad("'timeout_s' must be more than 0 and at most " + std::to_string(static_cast<int>(kMaxTimeoutS)) +
               " seconds, got " + Number(o.timeout_s));
  }
  if (o.max_retries < 0 || o.max_retries > kMaxRetries) {
    return Bad("'max_retries' must be from 0 to " + std::to_string(kMaxRetries) + ", got " + std::to_string(o.max_retries));
  }
  return Status::OK();
}

// The provider's own words from an error answer: OpenAI's {"error": {"message": ...}}, TEI's
// {"error": "..."}, FastAPI's {"detail": ...}, a bare {"message": ...}; else the body itself.
std::string ProviderMessage(const std::string& body) {
  auto j = ParseJson(body);
  if (j.ok() && j->is_object()) {
    const auto pick = [&](const nlohmann::json& v) -> std::string {
      if (v.is_string()) return v.get<std::string>();
      if (v.is_object() && v.contains("message") && v["message"].is_string()) return v["message"].get<std::string>();
      return v.is_null() ? "" : v.dump(-1, ' ', false, nlohmann::json::error_handler_t::replace);
    };
    for (const char* key : {"error", "detail", "message"}) {
      if (j->contains(key)) {
        const std::string m = pick((*j)[key]);
        if (!m.empty()) return Quoted(m);
      }
    }
  }
  return body.empty() ? "(empty body)" : Quoted(body);
}

// Seconds to wait before the next attempt: the answer's Retry-After (or OpenAI's retry-after-ms)
// when it is within reason, else exponential backoff with jitter.
double RetryDelay(int retry, const httplib::Response* res) {
  if (res != nullptr) {
    double wait = -1;
    if (res->has_header("retry-after-ms")) {
      char* end = nullptr;
      const std::string v = res->get_header_value("retry-after-ms");
      const double ms = std::strtod(v.c_str(), &end);
      if (end != v.c_str() && *end == '\0') wait = ms / 1000;
    }
    if (wait < 0 && res->has_header("Retry-After")) {
      const std::string v = res->get_header_value("Retry-After");
      char* end = nullptr;
      const double s = std::strtod(v.c_str(), &end);
      if (end != v.c_str() && *end == '\0') {
        wait = s;
      } else {  // an HTTP date: "Wed, 21 Oct 2015 07:28:00 GMT"
        std::tm tm{};
        if (::strptime(v.c_str(), "%a, %d %b %Y %H:%M:%S GMT", &tm) != nullptr) {
          wait = std::difftime(::timegm(&tm), std::time(nullptr));
        }
      }
    }
    if (std::isfinite(wait) && wait >= 0 && wait <= kMaxRetryAfterS) return wait;
  }
  thread_local std::mt19937_64 rng{std::random_device{}()};
  const double base = std::min(kBackoffMaxS, kBackoffFirstS * std::ldexp(1.0, std::min(retry, 30)));
  return base * (1 - 0.25 * std::uniform_real_distribution<double>(0, 1)(rng));
}

class ProviderModel final : public EmbeddingModel {
 public:
  ProviderModel(ProviderOptions options, BaseUrl base, std::string key)
      : options_(std::move(options)),
        base_(std::move(base)),
        endpoint_(base_.scheme_host_port + base_.path + "/embeddings"),
        key_(std::move(key)),
        name_("provider:" + options_.model),
        dimension_(options_.dimensions) {}

  const std::string& name() const override { return name_; }
  size_t dimension() const override { return dimension_; }

  Result<std::vector<float>> Embed(std::span<const std::string_view> texts, int /*threads*/) const override {
    std::vector<float> out;
    if (texts.empty()) return out;
    out.reserve(texts.size() * dimension_);
    httplib::Client client = NewClient();  // one connection, kept alive across the batches
    for (size_t first = 0; first < texts.size(); first += options_.batch_size) {
      const size_t n = std::min(options_.batch_size, texts.size() - first);
      size_t dim = dimension_;
      auto rows = EmbedBatch(client, texts.subspan(first, n), first, texts.size(), dim);
      if (!rows.ok()) return rows.status();
      out.insert(out.end(), rows->begin(), rows->end());
    }
    return out;
  }

  // Learns the dimension with one request (OpenProvider, before the model is shared).
  Status Probe() {
    httplib::Client client = NewClient();
    const std::string_view text = kProbeText;
    size_t dim = 0;
    auto rows = EmbedBatch(client, std::span<const std::string_view>(&text, 1), 0, 1, dim);
    if (!rows.ok()) return rows.status().WithContext("learning the dimension");
    dimension_ = dim;
    return Status::OK();
  }

 private:
  httplib::Client NewClient() const {
    httplib::Client client(base_.scheme_host_port);
    const auto timeout = std::chrono::duration<double>(options_.timeout_s);
    client.set_connection_timeout(timeout);
    client.set_read_timeout(timeout);
    client.set_write_timeout(timeout);
    client.set_keep_alive(true);
    client.set_follow_location(false);
    return client;
  }

  // "embedding provider http://host/v1/embeddings (model m), texts 64-127 of 200: "
  std::string Where(size_t first, size_t n, size_t total) const {
    std::string s = "embedding provider " + endpoint_ + " (model '" + Quoted(options_.model) + "')";
    if (total > 1) s += ", texts " + std::to_string(first) + "-" + std::to_string(first + n - 1) + " of " + std::to_string(total);
    return s + ": ";
  }

  // One batch, with its retries. `dim`: the expected dimension, or 0 to learn it (then set).
  Result<std::vector<float>> EmbedBatch(httplib::Client& client, std::span<const std::string_view> texts, size_t first,
                                        size_t total, size_t& dim) const {
    const std::string where = Where(first, texts.size(), total);
    nlohmann::json body = {{"model", options_.model}, {"input", nlohmann::json::array()}, {"encoding_format", "float"}};
    for (std::string_view t : texts) body["input"].push_back(std::string(t));
    if (options_.dimensions != 0) body["dimensions"] = options_.dimensions;
    std::string payload;
    try {
      payload = body.dump();
    } catch (const nlohmann::json::exception&) {
      for (size_t i = 0; i < texts.size(); ++i) {
        try {
          (void)nlohmann::json(std::string(texts[i])).dump();
        } catch (const nlohmann::json::exception&) {
          return Status::InvalidArgument("text " + std::to_string(first + i) + ": not valid UTF-8");
        }
      }
      return Status::Internal(where + "the request body does not encode");
    }

    const int attempts = options_.max_retries + 1;
    for (int attempt = 1;; ++attempt) {
      httplib::Request req;
      req.method = "POST";
      req.path = base_.path + "/embeddings";
      req.headers = {{"Content-Type", "application/json"}, {"Accept", "application/json"}};
      if (!key_.empty()) req.headers.emplace("Authorization", "Bearer " + key_);
      req.body = payload;
      // The whole answer within timeout_s (the client's own timeouts are per socket operation),
      // and no answer larger than kMaxAnswerBytes.
      const auto start = Clock::now();
      const auto deadline = start + std::chrono::duration_cast<Clock::duration>(std::chrono::duration<double>(options_.timeout_s));
      bool too_slow = false, too_big = false;
      req.progress = [&](uint64_t current, uint64_t) {
        too_big = current > kMaxAnswerBytes;
        too_slow = Clock::now() > deadline;
        return !too_big && !too_slow;
      };
      httplib::Response res;
      httplib::Error error = httplib::Error::Success;
      bool sent = false;
      try {
        sent = client.send(req, res, error);
      } catch (const std::exception& e) {
        return Status::IOError(where + "the HTTP client failed: " + e.what());
      }
      const double elapsed = std::chrono::duration<double>(Clock::now() - start).count();
      const std::string tries = attempt > 1 ? " (" + std::to_string(attempt) + " attempts)" : "";

      std::string failure;  // retryable
      if (!sent) {
        if (too_big) return Status::IOError(where + "the answer is larger than 256 MiB" + tries);
        if (too_slow || elapsed >= options_.timeout_s * 0.95) {
          failure = "no answer within " + Number(options_.timeout_s) + " s (timeout_s)";
        } else {
          failure = "transport error: " + httplib::to_string(error);
        }
      } else if (res.status >= 200 && res.status < 300) {
        return ParseAnswer(res.body, texts.size(), dim, where);
      } else if (res.status == 408 || res.status == 429 || res.status >= 500) {
        failure = "HTTP " + std::to_string(res.status) + ": " + ProviderMessage(res.body);
      } else {
        const std::string m = where + "HTTP " + std::to_string(res.status) + ": " + ProviderMessage(res.body) + tries;
        if (res.status == 401 || res.status == 403) {
          return Status::FailedPrecondition(m + (options_.api_key_env.empty()
                                                     ? " (no key sent: name its environment variable in 'api_key_env')"
                                                     : " (the key in $" + options_.api_key_env + " was refused)"));
        }
        return Status::InvalidArgument(m);
      }
      if (attempt >= attempts) {
        return Status::IOError(where + failure + (attempts > 1 ? " (gave up after " + std::to_string(attempts) + " attempts)" : ""));
      }
      const double wait = RetryDelay(attempt - 1, sent ? &res : nullptr);
      std::this_thread::sleep_for(std::chrono::duration<double>(wait));
    }
  }

  // Checks an answer's rows and puts them in input order.
  static Result<std::vector<float>> ParseAnswer(const std::string& text, size_t n, size_t& dim, const std::string& where) {
    const auto bad = [&](const std::string& why) { return Status::IOError(where + "bad answer: " + why); };
    auto parsed = ParseJson(text);
    if (!parsed.ok()) return bad("not JSON (" + parsed.status().message() + ")");
    const nlohmann::json& j = *parsed;
    if (!j.is_object() || !j.contains("data") || !j["data"].is_array()) return bad("no \"data\" array");
    const auto& data = j["data"];
    if (data.size() != n) {
      return bad(std::to_string(data.size()) + (data.size() == 1 ? " embedding" : " embeddings") + " for " +
                 std::to_string(n) + (n == 1 ? " text" : " texts"));
    }
    std::vector<float> out;
    std::vector<bool> seen(n, false);
    for (size_t i = 0; i < n; ++i) {
      const auto& item = data[i];
      if (!item.is_object()) return bad("data[" + std::to_string(i) + "] is not an object");
      size_t index = i;
      if (item.contains("index")) {
        const auto& v = item["index"];
        if (!v.is_number_integer() || v.get<int64_t>() < 0 || v.get<uint64_t>() >= n) {
          return bad("data[" + std::to_string(i) + "].index is not an index of the " + std::to_string(n) + " texts");
        }
        index = v.get<size_t>();
      }
      if (seen[index]) return bad("index " + std::to_string(index) + " answered twice");
      seen[index] = true;
      if (!item.contains("embedding") || !item["embedding"].is_array()) {
        return bad("data[" + std::to_string(i) + "].embedding is not an array of numbers");
      }
      const auto& e = item["embedding"];
      if (dim == 0) {
        if (e.empty() || e.size() > kMaxDimensions) {
          return bad("an embedding of dimension " + std::to_string(e.size()) + " (1 to " + std::to_string(kMaxDimensions) + " expected)");
        }
        dim = e.size();
      }
      if (e.size() != dim) {
        return bad("text " + std::to_string(index) + "'s embedding has dimension " + std::to_string(e.size()) + ", expected " +
                   std::to_string(dim));
      }
      if (out.empty()) out.resize(n * dim);
      float* row = out.data() + index * dim;
      for (size_t d = 0; d < dim; ++d) {
        if (!e[d].is_number()) return bad("text " + std::to_string(index) + "'s embedding holds a non-number");
        const double v = e[d].get<double>();
        if (!std::isfinite(v) || std::fabs(v) > std::numeric_limits<float>::max()) {
          return bad("text " + std::to_string(index) + "'s embedding holds a non-finite value at " + std::to_string(d));
        }
        row[d] = static_cast<float>(v);
      }
    }
    return out;
  }

  const ProviderOptions options_;
  const BaseUrl base_;
  const std::string endpoint_;
  const std::string key_;
  const std::string name_;
  size_t dimension_;  // set before the model is shared, constant after
};

}  // namespace

Result<std::shared_ptr<const EmbeddingModel>> OpenProvider(const ProviderOptions& options) {
  if (Status st = CheckOptions(options); !st.ok()) return st;
  auto base = ParseBaseUrl(options.url);
  if (!base.ok()) return base.status();
  std::string key;
  if (!options.api_key_env.empty()) {
    const char* v = std::getenv(options.api_key_env.c_str());
    if (v == nullptr) return Bad("the key's environment variable $" + options.api_key_env + " ('api_key_env') is not set");
    if (*v == '\0') return Bad("the key's environment variable $" + options.api_key_env + " ('api_key_env') is empty");
    key = v;
    if (std::any_of(key.begin(), key.end(), [](unsigned char c) { return c < 0x20 || c == 0x7f; })) {
      return Bad("the key in $" + options.api_key_env + " holds control characters");
    }
  }
  {
    // cpp-httplib builds function-local static regexes the first time a client is made; made
    // here, before any thread shares the provider, they exist before Embed runs anywhere (the
    // library is not instrumented, so ThreadSanitizer cannot see its own once-only guard).
    httplib::Client warm_up(base->scheme_host_port);
  }
  auto model = std::make_shared<ProviderModel>(options, std::move(base).value(), std::move(key));
  if (model->dimension() == 0) {
    if (Status st = model->Probe(); !st.ok()) return st;
  }
  return std::shared_ptr<const EmbeddingModel>(std::move(model));
}

Result<ProviderOptions> ProviderOptionsFromJson(const nlohmann::json& j) {
  if (!j.is_object()) return Bad("settings must be a JSON object");
  ProviderOptions o;
  bool has_url = false, has_model = false;
  const auto str = [](const nlohmann::json& v, const char* field, std::string& to) -> Status {
    if (!v.is_string()) return Bad("'" + std::string(field) + "' must be a string");
    to = v.get<std::string>();
    return Status::OK();
  };
  const auto count = [](const nlohmann::json& v, const char* field, uint64_t max, uint64_t& to) -> Status {
    if (!v.is_number_integer() || (v.is_number_integer() && !v.is_number_unsigned() && v.get<int64_t>() < 0) ||
        v.get<uint64_t>() > max) {
      return Bad("'" + std::string(field) + "' must be a whole number from 0 to " + std::to_string(max));
    }
    to = v.get<uint64_t>();
    return Status::OK();
  };
  for (const auto& [key, v] : j.items()) {
    Status st;
    uint64_t n = 0;
    if (key == "url") {
      st = str(v, "url", o.url);
      has_url = true;
    } else if (key == "model") {
      st = str(v, "model", o.model);
      has_model = true;
    } else if (key == "api_key_env") {
      st = str(v, "api_key_env", o.api_key_env);
    } else if (key == "dimensions") {
      st = count(v, "dimensions", kMaxDimensions, n);
      o.dimensions = n;
    } else if (key == "batch_size") {
      st = count(v, "batch_size", kMaxBatchSize, n);
      o.batch_size = n;
    } else if (key == "max_retries") {
      st = count(v, "max_retries", kMaxRetries, n);
      o.max_retries = static_cast<int>(n);
    } else if (key == "timeout_s") {
      if (!v.is_number()) st = Bad("'timeout_s' must be a number of seconds");
      else o.timeout_s = v.get<double>();
    } else {
      st = Bad("unknown setting '" + Quoted(key) +
               "' (known: url, model, api_key_env, dimensions, batch_size, timeout_s, max_retries)");
    }
    if (!st.ok()) return st;
  }
  if (!has_url) return Bad("'url' is required (the API's base URL, e.g. \"https://api.openai.com/v1\")");
  if (!has_model) return Bad("'model' is required (the provider's model name)");
  if (Status st = CheckOptions(o); !st.ok()) return st;
  return o;
}

nlohmann::json ProviderOptionsToJson(const ProviderOptions& o) {
  return {{"url", o.url},
          {"model", o.model},
          {"api_key_env", o.api_key_env},
          {"dimensions", o.dimensions},
          {"batch_size", o.batch_size},
          {"timeout_s", o.timeout_s},
          {"max_retries", o.max_retries}};
}

}  // namespace sextant::embed
