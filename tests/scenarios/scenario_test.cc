// Data-driven scenario tests: every tests/scenarios/*.test file runs twice — against the
// embedded C++ API (a worker process that owns a Database) and against the HTTP server (the
// real `sextant serve` as a child process) — and both must print what the file expects.
// DuckDB's test/sql/**.test files are the model. The format in short (tests/scenarios/README.md
// has it in full):
//
//   # a comment
//   create c {"dimension":3,"metric":"cosine","text":true}     the PUT /v1/collections/c body
//   upsert c {"id":"a","vector":[1,0,0],"metadata":{"n":1}}    a point, [points] or {"points":[...]}
//   query c {"vector":[1,0,0],"k":2}                           the POST .../query body
//   ----
//   a 0.0000                                                   id, or id and score, or the hit's JSON
//   c                                                          with ... as a wildcard
//
//   count c {"n":{"$gt":1}}                                    a filter (or nothing)
//   ----
//   2
//
//   upsert c {"id":"x","vector":[1,2]}
//   ----
//   error invalid_argument: dimension                          the failure's "code: message" contains it
//
// A command is one line; a JSON argument may continue over more lines until its brackets
// close. `----` starts the expected result, which ends at a blank line; a command without one
// must simply succeed. Commands: create, drop, list, upsert, generate, query, count, get,
// delete, update, scroll, snapshot, restore, info, stats, settle, restart, crash; `onlyif` /
// `skipif` (http|embedded) before a command limit it to one backend.
//
// Both backends take the HTTP API's request bodies and answer with its response bodies: the
// embedded worker turns the JSON into API types with its own small converter (not the
// server's), calls include/sextant/database.h, and builds the same JSON from the results, so
// a scenario also checks that the server adds nothing and loses nothing on the way.
// `restart` closes the database cleanly (the worker closes it and exits / the server gets
// SIGTERM and must exit 0) and opens it again; `crash` kills the process holding it with
// SIGKILL (no close, no checkpoint) and opens it again: acknowledged writes must be there.
#include <fcntl.h>
#include <gtest/gtest.h>
#include <poll.h>
#include <signal.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <charconv>
#include <chrono>
#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <limits>
#include <map>
#include <memory>
#include <optional>
#include <regex>
#include <sstream>
#include <string>
#include <thread>
#include <vector>

#include <httplib.h>
#include <nlohmann/json.hpp>

#include "common/json.h"
#include "sextant/database.h"

namespace sextant::scenario {
namespace {

namespace fs = std::filesystem;
using nlohmann::json;

// How long one step may take before the runner gives up on the backend.
constexpr int kStepTimeoutS = 120;
// How long `settle` waits for the background indexer.
constexpr int kSettleTimeoutS = 120;

std::string Slurp(const std::string& path) {
  std::ifstream f(path, std::ios::binary);
  std::stringstream s;
  s << f.rdbuf();
  return s.str();
}

std::string Trim(std::string s) {
  while (!s.empty() && std::isspace(static_cast<unsigned char>(s.back()))) s.pop_back();
  size_t b = 0;
  while (b < s.size() && std::isspace(static_cast<unsigned char>(s[b]))) ++b;
  return s.substr(b);
}

std::string Tail(const std::string& s, size_t n = 3000) { return s.size() <= n ? s : "..." + s.substr(s.size() - n); }

// JSON text as compact, sorted and stable: floats print in the shortest form that reads back
// as the same float32 when they are float32 values (scores, vectors), else as the same double,
// so the embedded worker's and the server's numbers print alike.
std::string FormatFloat(double x) {
  if (!std::isfinite(x)) return "null";
  char buf[64];
  const float f = static_cast<float>(x);
  auto res = static_cast<double>(f) == x ? std::to_chars(buf, buf + sizeof(buf), f)
                                         : std::to_chars(buf, buf + sizeof(buf), x);
  std::string s(buf, res.ptr);
  if (s.find_first_of(".e") == std::string::npos) s += ".0";
  return s;
}

std::string Canonical(const json& j) {
  switch (j.type()) {
    case json::value_t::object: {
      std::string out = "{";
      bool first = true;
      for (const auto& [k, v] : j.items()) {  // std::map: keys in order
        if (!first) out += ",";
        first = false;
        out += json(k).dump(-1, ' ', false, json::error_handler_t::replace) + ":" + Canonical(v);
      }
      return out + "}";
    }
    case json::value_t::array: {
      std::string out = "[";
      for (size_t i = 0; i < j.size(); ++i) out += (i ? "," : "") + Canonical(j[i]);
      return out + "]";
    }
    case json::value_t::number_float: return FormatFloat(j.get<double>());
    default: return j.dump(-1, ' ', false, json::error_handler_t::replace);
  }
}

// `pattern` with "..." standing for any text (possibly empty) matches all of `text`.
bool WildcardMatch(const std::string& pattern, const std::string& text) {
  std::vector<std::string> parts;
  for (size_t p = 0;;) {
    const size_t q = pattern.find("...", p);
    parts.push_back(pattern.substr(p, q == std::string::npos ? std::string::npos : q - p));
    if (q == std::string::npos) break;
    p = q + 3;
  }
  if (parts.size() == 1) return pattern == text;
  if (text.compare(0, parts.front().size(), parts.front()) != 0) return false;
  size_t pos = parts.front().size();
  for (size_t i = 1; i + 1 < parts.size(); ++i) {
    const size_t at = text.find(parts[i], pos);
    if (at == std::string::npos) return false;
    pos = at + parts[i].size();
  }
  const std::string& last = parts.back();
  return text.size() >= pos + last.size() && text.compare(text.size() - last.size(), last.size(), last) == 0;
}

// ---------------------------------------------------------------------------------------
// Generated data: deterministic points for scenarios that need more than a handful.

uint64_t SplitMix(uint64_t x) {
  x += 0x9E3779B97F4A7C15ull;
  x = (x ^ (x >> 30)) * 0xBF58476D1CE4E5B9ull;
  x = (x ^ (x >> 27)) * 0x94D049BB133111EBull;
  return x ^ (x >> 31);
}

// Point i's vector: values in [-1, 1] with three decimals, as JSON text.
std::string GenVectorText(uint64_t i, size_t dim, uint64_t seed) {
  std::string out = "[";
  for (size_t d = 0; d < dim; ++d) {
    const int64_t v = static_cast<int64_t>(SplitMix(seed * 1000003ull + i * 4099ull + d) % 2001) - 1000;
    char buf[32];
    std::snprintf(buf, sizeof(buf), "%s%.3f", d ? "," : "", static_cast<double>(v) / 1000.0);
    out += buf;
  }
  return out + "]";
}

std::string GenId(const std::string& prefix, uint64_t i) {
  char buf[32];
  std::snprintf(buf, sizeof(buf), "%05llu", static_cast<unsigned long long>(i));
  return prefix + buf;
}

// Replaces every $vec(i,dim) or $vec(i,dim,seed) by point i's generated vector.
std::string ExpandMacros(const std::string& text) {
  static const std::regex kVec(R"(\$vec\((\d+),(\d+)(?:,(\d+))?\))");
  std::string out;
  auto begin = std::sregex_iterator(text.begin(), text.end(), kVec);
  size_t last = 0;
  for (auto it = begin; it != std::sregex_iterator(); ++it) {
    const std::smatch& m = *it;
    out += text.substr(last, m.position(0) - last);
    out += GenVectorText(std::stoull(m[1]), std::stoul(m[2]), m[3].matched ? std::stoull(m[3]) : 1);
    last = m.position(0) + m.length(0);
  }
  return out + text.substr(last);
}

// ---------------------------------------------------------------------------------------
// The scenario format.

struct Step {
  int line = 0;                       // where the command starts in its file
  std::string command;                // first word
  std::vector<std::string> words;     // words between the command and the JSON argument
  std::string json_text;              // the JSON argument as written (macros expanded)
  std::vector<std::string> options;   // words after the JSON argument (rowsort)
  bool has_expected = false;
  std::vector<std::string> expected;  // lines after ----
  std::string onlyif, skipif;         // "http" / "embedded"
  std::string text;                   // the command as written, for messages
};

// Depth of unclosed brackets in `s` after `depth`, outside JSON strings.
int BracketDepth(const std::string& s, int depth, bool* in_string) {
  for (size_t i = 0; i < s.size(); ++i) {
    const char c = s[i];
    if (*in_string) {
      if (c == '\\') ++i;
      else if (c == '"') *in_string = false;
    } else if (c == '"') {
      *in_string = true;
    } else if (c == '{' || c == '[') {
      ++depth;
    } else if (c == '}' || c == ']') {
      --depth;
    }
  }
  return depth;
}

// One past the bracket that closes the JSON value starting with '{' or '[' at `start`, or
// npos when it does not close.
size_t JsonValueEnd(const std::string& s, size_t start) {
  int depth = 0;
  bool in_string = false;
  for (size_t i = start; i < s.size(); ++i) {
    const char c = s[i];
    if (in_string) {
      if (c == '\\') ++i;
      else if (c == '"') in_string = false;
    } else if (c == '"') {
      in_string = true;
    } else if (c == '{' || c == '[') {
      ++depth;
    } else if ((c == '}' || c == ']') && --depth == 0) {
      return i + 1;
    }
  }
  return std::string::npos;
}

// Splits "cmd w1 w2 {json...} opt1" (the JSON may hold newlines). A word that starts with '"'
// is a JSON string (so an id may hold spaces).
bool SplitCommand(const std::string& text, Step* step, std::string* error) {
  size_t i = 0;
  auto skip = [&] {
    while (i < text.size() && std::isspace(static_cast<unsigned char>(text[i]))) ++i;
  };
  bool first = true;
  for (skip(); i < text.size(); skip()) {
    if (!first && (text[i] == '{' || text[i] == '[')) {
      const size_t end = JsonValueEnd(text, i);
      if (end == std::string::npos) {
        *error = "unbalanced JSON argument";
        return false;
      }
      step->json_text = text.substr(i, end - i);
      i = end;
      for (skip(); i < text.size(); skip()) {
        const size_t e = text.find_first_of(" \t\n", i);
        step->options.push_back(text.substr(i, e == std::string::npos ? std::string::npos : e - i));
        i = e == std::string::npos ? text.size() : e;
      }
      return true;
    }
    std::string word;
    if (text[i] == '"') {
      size_t j = i + 1;
      while (j < text.size() && text[j] != '"') j += text[j] == '\\' ? 2 : 1;
      if (j >= text.size()) {
        *error = "unterminated string";
        return false;
      }
      auto parsed = json::parse(text.substr(i, j + 1 - i), nullptr, false);
      if (parsed.is_discarded() || !parsed.is_string()) {
        *error = "bad string " + text.substr(i, j + 1 - i);
        return false;
      }
      word = parsed.get<std::string>();
      i = j + 1;
    } else {
      const size_t e = text.find_first_of(" \t\n", i);
      word = text.substr(i, e == std::string::npos ? std::string::npos : e - i);
      i = e == std::string::npos ? text.size() : e;
    }
    if (first) step->command = word;
    else step->words.push_back(word);
    first = false;
  }
  return true;
}

std::vector<Step> ParseScenario(const std::string& content, std::string* error) {
  std::vector<std::string> lines;
  std::istringstream in(content);
  for (std::string line; std::getline(in, line);) {
    if (!line.empty() && line.back() == '\r') line.pop_back();
    lines.push_back(line);
  }
  std::vector<Step> steps;
  std::string onlyif, skipif;
  for (size_t i = 0; i < lines.size();) {
    const std::string t = Trim(lines[i]);
    if (t.empty() || t[0] == '#') {
      ++i;
      continue;
    }
    if (t.rfind("onlyif ", 0) == 0 || t.rfind("skipif ", 0) == 0) {
      const std::string which = Trim(t.substr(7));
      if (which != "http" && which != "embedded") {
        *error = "line " + std::to_string(i + 1) + ": onlyif/skipif takes http or embedded";
        return {};
      }
      (t[0] == 'o' ? onlyif : skipif) = which;
      ++i;
      continue;
    }
    Step step;
    step.line = static_cast<int>(i + 1);
    step.onlyif = std::exchange(onlyif, "");
    step.skipif = std::exchange(skipif, "");
    std::string text = lines[i++];
    bool in_string = false;
    int depth = BracketDepth(text, 0, &in_string);
    while (depth > 0 && i < lines.size()) {
      text += "\n" + lines[i];
      depth = BracketDepth(lines[i++], depth, &in_string);
    }
    step.text = text;
    std::string why;
    if (!SplitCommand(ExpandMacros(text), &step, &why)) {
      *error = "line " + std::to_string(step.line) + ": " + why;
      return {};
    }
    if (i < lines.size() && Trim(lines[i]) == "----") {
      step.has_expected = true;
      for (++i; i < lines.size() && !Trim(lines[i]).empty(); ++i) step.expected.push_back(Trim(lines[i]));
    }
    steps.push_back(std::move(step));
  }
  return steps;
}

// ---------------------------------------------------------------------------------------
// Backends. An operation is a JSON object {"op", "collection", "body" (request body text),
// "id", "snapshot", "vector"}; a reply is the HTTP API's response body or an error.

struct Reply {
  bool ok = false;
  std::string code, message;  // when !ok: the API's error code ("invalid_argument") and message
  json body;
  std::string ErrorText() const { return code + ": " + message; }
  static Reply Error(std::string code, std::string message) {
    Reply r;
    r.code = std::move(code);
    r.message = std::move(message);
    return r;
  }
  static Reply Ok(json body) {
    Reply r;
    r.ok = true;
    r.body = std::move(body);
    return r;
  }
};

class Backend {
 public:
  virtual ~Backend() = default;
  // Starts the process that holds the data; "" or what went wrong.
  virtual std::string Start() = 0;
  virtual Reply Call(const json& op) = 0;
  // Stops the process: cleanly (its exit code must be 0) or with SIGKILL; "" or what went wrong.
  virtual std::string Stop(bool crash) = 0;
  // The process's log, for failure messages.
  virtual std::string Log() const = 0;
};

pid_t Spawn(const std::vector<std::string>& args, const std::string& out, const std::string& err,
            int keep_fd_a = -1, int keep_fd_b = -1) {
  const pid_t pid = ::fork();
  if (pid == 0) {
    const int o = ::open(out.c_str(), O_WRONLY | O_CREAT | O_TRUNC, 0644);
    const int e = ::open(err.c_str(), O_WRONLY | O_CREAT | O_APPEND, 0644);
    ::dup2(o, 1);
    ::dup2(e, 2);
    // The worker's pipes become fds 3 and 4.
    if (keep_fd_a >= 0) {
      const int a = ::dup(keep_fd_a), b = ::dup(keep_fd_b);
      ::dup2(a, 3);
      ::dup2(b, 4);
    }
    std::vector<std::string> copy = args;
    std::vector<char*> argv;
    for (auto& a : copy) argv.push_back(a.data());
    argv.push_back(nullptr);
    ::execv(argv[0], argv.data());
    ::_exit(127);
  }
  return pid;
}

// Waits up to `seconds` for the child; its exit code, 128+signal, or -1 (still running).
int WaitChild(pid_t pid, double seconds) {
  const auto deadline = std::chrono::steady_clock::now() + std::chrono::duration<double>(seconds);
  for (;;) {
    int status = 0;
    if (::waitpid(pid, &status, WNOHANG) == pid) {
      return WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status);
    }
    if (std::chrono::steady_clock::now() >= deadline) return -1;
    std::this_thread::sleep_for(std::chrono::milliseconds(5));
  }
}

std::string StopChild(pid_t pid, bool crash, const char* what) {
  if (pid <= 0) return "";
  ::kill(pid, crash ? SIGKILL : SIGTERM);
  const int rc = WaitChild(pid, 60);
  if (rc == -1) {
    ::kill(pid, SIGKILL);
    WaitChild(pid, 10);
    return std::string(what) + " did not exit within 60 s of " + (crash ? "SIGKILL" : "SIGTERM");
  }
  const int want = crash ? 128 + SIGKILL : 0;
  if (rc != want) return std::string(what) + " exited with " + std::to_string(rc) + ", expected " + std::to_string(want);
  return "";
}

// --- The HTTP server -------------------------------------------------------------------

std::string PercentEncode(const std::string& s) {
  std::string out;
  for (unsigned char c : s) {
    if (std::isalnum(c) || c == '-' || c == '_' || c == '.' || c == '~') {
      out.push_back(static_cast<char>(c));
    } else {
      char buf[4];
      std::snprintf(buf, sizeof(buf), "%%%02X", c);
      out += buf;
    }
  }
  return out;
}

class HttpBackend : public Backend {
 public:
  explicit HttpBackend(std::string dir) : dir_(std::move(dir)) {}
  ~HttpBackend() override {
    if (pid_ > 0) (void)StopChild(pid_, true, "server");
  }

  std::string Start() override {
    const std::string out = dir_ + "/serve.out";
    fs::remove(out);
    pid_ = Spawn({SEXTANT_CLI, "serve", "--data", dir_ + "/data", "--port", "0", "--admin-key-file",
                  dir_ + "/admin.key", "--log-level", "warn", "--threads", "8", "--busy-poll-us", "0"},
                 out, dir_ + "/serve.err");
    static const std::regex kPort(R"re("port":(\d+))re");
    port_ = 0;
    for (int i = 0; i < 6000 && port_ == 0; ++i) {  // a minute: sanitizer builds start slowly
      std::smatch m;
      const std::string text = Slurp(out);
      if (std::regex_search(text, m, kPort)) {
        port_ = std::stoi(m[1]);
      } else if (WaitChild(pid_, 0) != -1) {
        pid_ = -1;
        return "sextant serve exited at start";
      } else {
        std::this_thread::sleep_for(std::chrono::milliseconds(10));
      }
    }
    if (port_ == 0) return "sextant serve did not report its port";
    key_ = Trim(Slurp(dir_ + "/admin.key"));
    client_ = std::make_unique<httplib::Client>("127.0.0.1", port_);
    client_->set_url_encode(false);
    client_->set_read_timeout(kStepTimeoutS, 0);
    client_->set_write_timeout(kStepTimeoutS, 0);
    client_->set_keep_alive(true);
    return "";
  }

  std::string Stop(bool crash) override {
    client_.reset();
    const std::string err = StopChild(pid_, crash, "sextant serve");
    pid_ = -1;
    return err;
  }

  std::string Log() const override { return Tail(Slurp(dir_ + "/serve.err")); }

  Reply Call(const json& op) override {
    const std::string name = op.value("op", "");
    const std::string col = "/v1/collections/" + PercentEncode(op.value("collection", ""));
    const std::string body = op.value("body", "");
    if (name == "create") return Send("PUT", col, body);
    if (name == "drop") return Send("DELETE", col, "");
    if (name == "list") return Send("GET", "/v1/collections", "");
    if (name == "info") return Send("GET", col, "");
    if (name == "upsert") return Send("POST", col + "/points", body);
    if (name == "query") return Send("POST", col + "/query", body);
    if (name == "count") return body.empty() ? Send("GET", col + "/count", "") : Send("POST", col + "/count", body);
    if (name == "scroll") return Send("POST", col + "/scroll", body);
    if (name == "delete") return Send("DELETE", col + "/points", body);
    if (name == "update") return Send("PATCH", col + "/points/" + PercentEncode(op.value("id", "")), body);
    if (name == "get") {
      const std::string path = col + "/points/" + PercentEncode(op.value("id", "")) +
                               (op.value("vector", true) ? "" : "?vector=false");
      return Send("GET", path, "");
    }
    if (name == "snapshot") {
      return Send("POST", col + "/snapshots", json{{"snapshot", op.value("snapshot", "")}}.dump());
    }
    if (name == "restore") {
      return Send("POST", "/v1/snapshots/" + PercentEncode(op.value("snapshot", "")) + "/restore",
                  json{{"collection", op.value("collection", "")}}.dump());
    }
    return Reply::Error("runner", "unknown operation " + name);
  }

 private:
  Reply Send(const std::string& method, const std::string& path, const std::string& body) {
    if (!client_) return Reply::Error("runner", "the server is not running");
    httplib::Request req;
    req.method = method;
    req.path = path;
    req.headers.emplace("Authorization", "Bearer " + key_);
    if (!body.empty() || method == "POST" || method == "PUT" || method == "PATCH") {
      req.body = body;
      req.headers.emplace("Content-Type", "application/json");
    }
    auto res = client_->send(req);
    if (!res) return Reply::Error("runner", method + " " + path + ": no response (" + httplib::to_string(res.error()) + ")");
    json j = json::parse(res->body, nullptr, false);
    if (j.is_discarded()) return Reply::Error("runner", method + " " + path + ": the reply is not JSON: " + res->body);
    if (res->status >= 400) {
      if (!j.is_object() || !j.contains("error") || !j["error"].is_object()) {
        return Reply::Error("runner", "HTTP " + std::to_string(res->status) + " without an error object: " + res->body);
      }
      return Reply::Error(j["error"].value("code", ""), j["error"].value("message", ""));
    }
    return Reply::Ok(std::move(j));
  }

  std::string dir_, key_;
  pid_t pid_ = -1;
  int port_ = 0;
  std::unique_ptr<httplib::Client> client_;
};

// --- The embedded API: the worker side -----------------------------------------------
//
// JSON -> API types, written apart from the server's codec. Shape errors (a wrong type, an
// unknown field) are code "bad_request", like the server's; values are left to the database.

struct BadRequest {
  std::string message;
};

Result<json> ParseBody(const std::string& body) {
  if (Trim(body).empty()) return json::object();
  auto j = ParseJson(body);
  if (!j.ok()) return Status::InvalidArgument(j.status().message() + " in the request body");
  return j;
}

void OnlyFields(const json& j, std::initializer_list<const char*> allowed) {
  if (!j.is_object()) throw BadRequest{"the request body must be a JSON object"};
  for (auto it = j.begin(); it != j.end(); ++it) {
    const std::string& key = it.key();
    if (std::none_of(allowed.begin(), allowed.end(), [&](const char* a) { return key == a; })) {
      throw BadRequest{"unknown field '" + key + "'"};
    }
  }
}

template <typename T>
void Read(const json& j, const char* field, T* out) {
  if (!j.contains(field) || j[field].is_null()) return;
  const json& v = j[field];
  if constexpr (std::is_same_v<T, bool>) {
    if (!v.is_boolean()) throw BadRequest{std::string("field '") + field + "' must be true or false"};
  } else if constexpr (std::is_same_v<T, std::string>) {
    if (!v.is_string()) throw BadRequest{std::string("field '") + field + "' must be a string"};
  } else if constexpr (std::is_integral_v<T>) {
    if (!v.is_number_integer() || (!v.is_number_unsigned() && v.get<int64_t>() < 0)) {
      throw BadRequest{std::string("field '") + field + "' must be a non-negative integer"};
    }
  } else {
    if (!v.is_number()) throw BadRequest{std::string("field '") + field + "' must be a number"};
  }
  *out = v.get<T>();
}

std::vector<float> VectorOf(const json& v) {
  if (!v.is_array()) throw BadRequest{"field 'vector' must be an array of numbers"};
  std::vector<float> out;
  for (size_t i = 0; i < v.size(); ++i) {
    if (!v[i].is_number()) throw BadRequest{"field 'vector': element " + std::to_string(i) + " is not a number"};
    const double x = v[i].get<double>();
    if (std::fabs(x) > std::numeric_limits<float>::max()) {
      throw BadRequest{"field 'vector': element " + std::to_string(i) + " is not a finite float32"};
    }
    out.push_back(static_cast<float>(x));
  }
  return out;
}

std::optional<json> FilterOf(const json& j) {
  if (!j.contains("filter") || j["filter"].is_null()) return std::nullopt;
  if (!j["filter"].is_object()) throw BadRequest{"field 'filter' must be an object"};
  return j["filter"];
}

CollectionConfig ConfigOf(const std::string& name, const json& j) {
  OnlyFields(j, {"dimension", "metric", "index", "text", "analyzer", "hnsw", "bm25", "quantization", "segments"});
  if (!j.contains("dimension")) throw BadRequest{"field 'dimension' is required"};
  CollectionConfig c;
  c.name = name;
  Read(j, "dimension", &c.dimension);
  std::string metric = "l2", index = "hnsw";
  Read(j, "metric", &metric);
  Read(j, "index", &index);
  auto m = MetricFromString(metric);
  if (!m.ok()) throw BadRequest{"field 'metric': " + m.status().message()};
  auto ix = IndexTypeFromString(index);
  if (!ix.ok()) throw BadRequest{"field 'index': " + ix.status().message()};
  c.metric = *m;
  c.index = *ix;
  Read(j, "text", &c.text);
  Read(j, "analyzer", &c.analyzer);
  if (j.contains("hnsw")) {
    OnlyFields(j["hnsw"], {"M", "ef_construction", "ef_search"});
    Read(j["hnsw"], "M", &c.hnsw.M);
    Read(j["hnsw"], "ef_construction", &c.hnsw.ef_construction);
    Read(j["hnsw"], "ef_search", &c.hnsw.ef_search);
  }
  if (j.contains("quantization")) {
    const json& q = j["quantization"];
    OnlyFields(q, {"nlist", "nprobe", "m", "nbits", "rerank"});
    Read(q, "nlist", &c.quantization.nlist);
    Read(q, "nprobe", &c.quantization.nprobe);
    Read(q, "m", &c.quantization.m);
    Read(q, "nbits", &c.quantization.nbits);
    Read(q, "rerank", &c.quantization.rerank);
  }
  if (j.contains("segments")) {
    const json& s = j["segments"];
    OnlyFields(s, {"seal_points", "merge_factor", "compact_deleted_fraction", "quiet_seconds"});
    Read(s, "seal_points", &c.segments.seal_points);
    Read(s, "merge_factor", &c.segments.merge_factor);
    Read(s, "compact_deleted_fraction", &c.segments.compact_deleted_fraction);
    Read(s, "quiet_seconds", &c.segments.quiet_seconds);
  }
  if (j.contains("bm25")) {
    OnlyFields(j["bm25"], {"k1", "b"});
    Read(j["bm25"], "k1", &c.bm25_k1);
    Read(j["bm25"], "b", &c.bm25_b);
  }
  return c;
}

std::vector<Point> PointsOf(const json& j) {
  OnlyFields(j, {"points"});
  if (!j.contains("points") || !j["points"].is_array()) throw BadRequest{"field 'points' must be an array"};
  std::vector<Point> out;
  for (size_t i = 0; i < j["points"].size(); ++i) {
    const json& p = j["points"][i];
    try {
      OnlyFields(p, {"id", "vector", "document", "metadata"});
      Point point;
      if (!p.contains("id") || !p["id"].is_string()) throw BadRequest{"field 'id' must be a string"};
      point.id = p["id"].get<std::string>();
      if (p.contains("vector")) point.vector = VectorOf(p["vector"]);
      if (p.contains("document") && !p["document"].is_null()) {
        std::string doc;
        Read(p, "document", &doc);
        point.document = doc;
      }
      if (p.contains("metadata") && !p["metadata"].is_null()) {
        if (!p["metadata"].is_object()) throw BadRequest{"field 'metadata' must be an object"};
        point.metadata = p["metadata"];
      }
      out.push_back(std::move(point));
    } catch (const BadRequest& e) {
      throw BadRequest{"points[" + std::to_string(i) + "]: " + e.message};
    }
  }
  return out;
}

QueryRequest QueryOf(const json& j) {
  OnlyFields(j, {"vector", "text", "k", "ef", "nprobe", "rerank", "filter", "fusion", "alpha", "rrf_k",
                 "vector_weight", "text_weight", "explain", "include", "timeout_ms"});
  QueryRequest q;
  if (j.contains("vector")) q.vector = VectorOf(j["vector"]);
  if (j.contains("text")) {
    std::string text;
    Read(j, "text", &text);
    q.text = text;
  }
  Read(j, "k", &q.k);
  Read(j, "ef", &q.ef);
  Read(j, "nprobe", &q.nprobe);
  if (j.contains("rerank")) {
    size_t r = 0;
    Read(j, "rerank", &r);
    q.rerank = r;
  }
  q.filter = FilterOf(j);
  Read(j, "fusion", &q.fusion);
  if (j.contains("alpha")) {
    double a = 0;
    Read(j, "alpha", &a);
    q.alpha = a;
  }
  Read(j, "rrf_k", &q.rrf_k);
  Read(j, "vector_weight", &q.vector_weight);
  Read(j, "text_weight", &q.text_weight);
  Read(j, "explain", &q.explain);
  if (j.contains("timeout_ms")) {
    size_t ms = 0;
    Read(j, "timeout_ms", &ms);
    q.deadline = std::chrono::steady_clock::now() + std::chrono::milliseconds(ms);
  }
  // The HTTP API's default: documents and metadata.
  q.include_document = q.include_metadata = true;
  if (j.contains("include")) {
    if (!j["include"].is_array()) throw BadRequest{"field 'include' must be an array"};
    q.include_document = q.include_metadata = false;
    for (const json& f : j["include"]) {
      if (f == "document") q.include_document = true;
      else if (f == "metadata") q.include_metadata = true;
      else if (f == "vector") q.include_vector = true;
      else throw BadRequest{"field 'include': unknown entry " + f.dump()};
    }
  }
  return q;
}

json PointJson(const Point& p, bool with_vector) {
  json j = {{"id", p.id}, {"metadata", p.metadata}};
  if (with_vector) j["vector"] = p.vector;
  if (p.document) j["document"] = *p.document;
  return j;
}

json HitJson(const QueryHit& h) {
  json j = {{"id", h.id}, {"score", h.score}};
  if (h.document) j["document"] = *h.document;
  if (h.metadata) j["metadata"] = *h.metadata;
  if (h.vector) j["vector"] = *h.vector;
  if (h.explain) j["explain"] = *h.explain;
  return j;
}

json StatsJson(const CollectionStats& s) {
  return {{"points", s.points}, {"memory_bytes", s.memory_bytes}, {"disk_bytes", s.disk_bytes},
          {"segments", s.segments}, {"unindexed_points", s.unindexed_points},
          {"deleted_pending", s.deleted_pending}, {"wal_bytes", s.wal_bytes}, {"wal_records", s.wal_records},
          {"checkpoints", s.checkpoints}, {"segments_sealed", s.segments_sealed},
          {"segments_merged", s.segments_merged}, {"index_errors", s.index_errors},
          {"last_index_error", s.last_index_error}, {"write_stalls", s.write_stalls}};
}

Reply FromStatus(const Status& st) { return Reply::Error(StatusCodeName(st.code()), st.message()); }

// One operation against the database, as the HTTP API would answer it.
Reply Execute(Database& db, const std::string& snapshot_root, const json& op) {
  const std::string name = op.value("op", "");
  const std::string col_name = op.value("collection", "");
  auto body_or = ParseBody(op.value("body", ""));
  if (!body_or.ok()) return Reply::Error("bad_request", body_or.status().message());
  const json body = *body_or;
  try {
    if (name == "create") {
      auto col = db.CreateCollection(ConfigOf(col_name, body));
      if (!col.ok()) return FromStatus(col.status());
      return Reply::Ok({{"created", true}, {"name", col_name}});
    }
    if (name == "drop") {
      const Status st = db.DropCollection(col_name);
      return st.ok() ? Reply::Ok({{"dropped", col_name}}) : FromStatus(st);
    }
    if (name == "list") {
      json cols = json::array();
      for (const CollectionConfig& c : db.ListCollections()) cols.push_back({{"name", c.name}});
      return Reply::Ok({{"collections", cols}});
    }
    if (name == "restore") {
      const std::string dir = snapshot_root + "/" + op.value("snapshot", "");
      if (!fs::is_directory(dir)) return Reply::Error("not_found", "no snapshot '" + op.value("snapshot", "") + "'");
      auto col = db.RestoreSnapshot(dir, col_name);
      if (!col.ok()) return FromStatus(col.status());
      auto n = (*col)->Count();
      if (!n.ok()) return FromStatus(n.status());
      return Reply::Ok({{"restored", col_name}, {"count", *n}});
    }
    auto col_or = db.GetCollection(col_name);
    if (!col_or.ok()) return FromStatus(col_or.status());
    Collection& col = **col_or;
    if (name == "info") {
      const CollectionConfig& c = col.config();
      json j = {{"name", c.name}, {"dimension", c.dimension}, {"metric", MetricToString(c.metric)},
                {"index", IndexTypeToString(c.index)}, {"text", c.text}, {"stats", StatsJson(col.Stats())}};
      if (c.text) j["analyzer"] = c.analyzer;
      return Reply::Ok(j);
    }
    if (name == "upsert") {
      const std::vector<Point> points = PointsOf(body);
      auto n = col.Upsert(points);
      return n.ok() ? Reply::Ok({{"acked", *n}}) : FromStatus(n.status());
    }
    if (name == "query") {
      auto hits = col.Query(QueryOf(body));
      if (!hits.ok()) return FromStatus(hits.status());
      json results = json::array();
      for (const QueryHit& h : *hits) results.push_back(HitJson(h));
      return Reply::Ok({{"results", results}});
    }
    if (name == "count") {
      OnlyFields(body, {"filter"});
      auto n = col.Count(FilterOf(body));
      return n.ok() ? Reply::Ok({{"count", *n}}) : FromStatus(n.status());
    }
    if (name == "scroll") {
      OnlyFields(body, {"limit", "after", "filter", "vectors"});
      size_t limit = 100;
      std::string after;
      bool vectors = false;
      Read(body, "limit", &limit);
      Read(body, "after", &after);
      Read(body, "vectors", &vectors);
      auto page = col.Scroll(after, limit, FilterOf(body), vectors);
      if (!page.ok()) return FromStatus(page.status());
      json points = json::array();
      for (const Point& p : page->points) points.push_back(PointJson(p, vectors));
      return Reply::Ok({{"points", points}, {"next", page->next ? json(*page->next) : json()}});
    }
    if (name == "delete") {
      OnlyFields(body, {"ids", "filter"});
      const std::optional<json> filter = FilterOf(body);
      if (body.contains("ids") == filter.has_value()) throw BadRequest{"give exactly one of 'ids' or 'filter'"};
      Result<size_t> n = size_t{0};
      if (filter) {
        n = col.DeleteByFilter(*filter);
      } else {
        if (!body["ids"].is_array()) throw BadRequest{"field 'ids' must be an array of strings"};
        std::vector<std::string> ids;
        for (const json& id : body["ids"]) {
          if (!id.is_string()) throw BadRequest{"field 'ids' must be an array of strings"};
          ids.push_back(id.get<std::string>());
        }
        n = col.Delete(ids);
      }
      return n.ok() ? Reply::Ok({{"deleted", *n}}) : FromStatus(n.status());
    }
    if (name == "update") {
      OnlyFields(body, {"metadata", "merge"});
      if (!body.contains("metadata") || !body["metadata"].is_object()) throw BadRequest{"field 'metadata' must be an object"};
      bool merge = false;
      Read(body, "merge", &merge);
      const Status st = col.UpdateMetadata(op.value("id", ""), body["metadata"], merge);
      return st.ok() ? Reply::Ok({{"updated", op.value("id", "")}}) : FromStatus(st);
    }
    if (name == "get") {
      const std::string id = op.value("id", "");
      const bool with_vector = op.value("vector", true);
      auto points = col.Get(std::span<const std::string>(&id, 1), with_vector);
      if (!points.ok()) return FromStatus(points.status());
      if (points->empty()) return Reply::Error("not_found", "no point '" + id + "'");
      return Reply::Ok(PointJson((*points)[0], with_vector));
    }
    if (name == "snapshot") {
      const std::string dir = snapshot_root + "/" + op.value("snapshot", "");
      if (fs::exists(dir)) return Reply::Error("already_exists", "snapshot '" + op.value("snapshot", "") + "' already exists");
      fs::create_directories(snapshot_root);
      const Status st = col.CreateSnapshot(dir);
      return st.ok() ? Reply::Ok({{"snapshot", op.value("snapshot", "")}, {"collection", col_name}}) : FromStatus(st);
    }
    return Reply::Error("runner", "unknown operation " + name);
  } catch (const BadRequest& e) {
    return Reply::Error("bad_request", e.message);
  } catch (const json::exception& e) {
    return Reply::Error("bad_request", e.what());
  }
}

bool ReadAll(int fd, void* buf, size_t n) {
  char* p = static_cast<char*>(buf);
  while (n > 0) {
    const ssize_t r = ::read(fd, p, n);
    if (r < 0 && errno == EINTR) continue;
    if (r <= 0) return false;
    p += r;
    n -= static_cast<size_t>(r);
  }
  return true;
}

bool WriteAll(int fd, const void* buf, size_t n) {
  const char* p = static_cast<const char*>(buf);
  while (n > 0) {
    const ssize_t w = ::write(fd, p, n);
    if (w < 0 && errno == EINTR) continue;
    if (w <= 0) return false;
    p += w;
    n -= static_cast<size_t>(w);
  }
  return true;
}

// Messages over the worker's pipes: a 4-byte length, then JSON text.
bool SendMessage(int fd, const json& j) {
  const std::string s = j.dump(-1, ' ', false, json::error_handler_t::replace);
  const uint32_t n = static_cast<uint32_t>(s.size());
  return WriteAll(fd, &n, sizeof(n)) && WriteAll(fd, s.data(), s.size());
}

std::optional<json> ReceiveMessage(int fd, int timeout_s) {
  pollfd p{fd, POLLIN, 0};
  int r;
  do {
    r = ::poll(&p, 1, timeout_s * 1000);
  } while (r < 0 && errno == EINTR);
  if (r <= 0) return std::nullopt;
  uint32_t n = 0;
  if (!ReadAll(fd, &n, sizeof(n))) return std::nullopt;
  std::string s(n, '\0');
  if (!ReadAll(fd, s.data(), n)) return std::nullopt;
  json j = json::parse(s, nullptr, false);
  if (j.is_discarded()) return std::nullopt;
  return j;
}

json ReplyJson(const Reply& r) {
  return r.ok ? json{{"ok", true}, {"body", r.body}} : json{{"ok", false}, {"code", r.code}, {"message", r.message}};
}

Reply ReplyFromJson(const json& j) {
  if (j.value("ok", false)) return Reply::Ok(j["body"]);
  return Reply::Error(j.value("code", ""), j.value("message", ""));
}

// The worker process: opens the database, answers operations from fd 3 on fd 4 until
// {"op":"close"} or end of input, then closes it and exits 0.
int WorkerMain(const std::string& dir) {
  DatabaseOptions options;
  options.index_threads = 1;
  auto db = Database::Open(dir + "/data", options);
  if (!SendMessage(4, db.ok() ? json{{"ok", true}} : json{{"ok", false}, {"message", db.status().ToString()}})) return 1;
  if (!db.ok()) return 1;
  for (;;) {
    std::optional<json> op = ReceiveMessage(3, 24 * 3600);
    if (!op || op->value("op", "") == "close") break;
    if (!SendMessage(4, ReplyJson(Execute(**db, dir + "/snapshots", *op)))) return 1;
  }
  db->reset();
  return SendMessage(4, json{{"ok", true}}) ? 0 : 1;
}

std::string g_self_exe;  // this program, which runs the worker with --scenario-worker

// --- The embedded API: the parent side ------------------------------------------------

class EmbeddedBackend : public Backend {
 public:
  explicit EmbeddedBackend(std::string dir) : dir_(std::move(dir)) {}
  ~EmbeddedBackend() override {
    if (pid_ > 0) (void)StopChild(pid_, true, "worker");
    ClosePipes();
  }

  std::string Start() override {
    int to_child[2], from_child[2];  // close-on-exec: the worker gets copies as fds 3 and 4
    if (::pipe2(to_child, O_CLOEXEC) != 0 || ::pipe2(from_child, O_CLOEXEC) != 0) return "pipe failed";
    pid_ = Spawn({g_self_exe, "--scenario-worker", dir_}, dir_ + "/worker.out", dir_ + "/worker.err", to_child[0],
                 from_child[1]);
    ::close(to_child[0]);
    ::close(from_child[1]);
    to_ = to_child[1];
    from_ = from_child[0];
    std::optional<json> hello = ReceiveMessage(from_, kStepTimeoutS);
    if (!hello) return "the worker did not start";
    if (!hello->value("ok", false)) return "the worker could not open the database: " + hello->value("message", "");
    return "";
  }

  std::string Stop(bool crash) override {
    std::string err;
    if (crash) {
      err = StopChild(pid_, true, "worker");
    } else {
      if (!SendMessage(to_, json{{"op", "close"}})) err = "the worker is gone";
      std::optional<json> done = ReceiveMessage(from_, kStepTimeoutS);
      if (!done) err = "the worker did not confirm closing the database";
      const int rc = WaitChild(pid_, 60);
      if (rc != 0 && err.empty()) err = "the worker exited with " + std::to_string(rc) + " after closing the database";
      if (rc == -1) (void)StopChild(pid_, true, "worker");
    }
    pid_ = -1;
    ClosePipes();
    return err;
  }

  std::string Log() const override { return Tail(Slurp(dir_ + "/worker.err")); }

  Reply Call(const json& op) override {
    if (to_ < 0) return Reply::Error("runner", "the worker is not running");
    if (!SendMessage(to_, op)) return Reply::Error("runner", "the worker is gone");
    std::optional<json> reply = ReceiveMessage(from_, kStepTimeoutS);
    if (!reply) return Reply::Error("runner", "no reply from the worker within " + std::to_string(kStepTimeoutS) + " s");
    return ReplyFromJson(*reply);
  }

 private:
  void ClosePipes() {
    if (to_ >= 0) ::close(to_);
    if (from_ >= 0) ::close(from_);
    to_ = from_ = -1;
  }
  std::string dir_;
  pid_t pid_ = -1;
  int to_ = -1, from_ = -1;
};

// ---------------------------------------------------------------------------------------
// The runner: a step -> operations -> rendered lines -> compared with the expected lines.

enum class LineKind { kText, kPoint };  // kPoint: a hit or a point, matched by id [score] or JSON

struct Rendered {
  std::vector<std::string> lines;
  std::vector<json> points;  // for kPoint lines, the object each line shows
  LineKind kind = LineKind::kText;
};

// An expected point line "ID [SCORE]" split into its id (a JSON string when it starts with
// '"', so it may hold spaces) and the rest; the JSON form {"id":...} gives its "id" field.
std::string ExpectedId(const std::string& want, std::string* rest = nullptr) {
  if (rest) rest->clear();
  if (!want.empty() && want[0] == '{') {
    static const std::regex kId(R"re("id":("(?:[^"\\]|\\.)*"))re");
    std::smatch m;
    if (!std::regex_search(want, m, kId)) return "";
    json s = json::parse(m[1].str(), nullptr, false);
    return s.is_string() ? s.get<std::string>() : "";
  }
  size_t end = want.find(' ');
  std::string id = want.substr(0, end);
  if (!want.empty() && want[0] == '"') {
    end = 1;
    while (end < want.size() && want[end] != '"') end += want[end] == '\\' ? 2 : 1;
    end = std::min(end + 1, want.size());
    json s = json::parse(want.substr(0, end), nullptr, false);
    id = s.is_string() ? s.get<std::string>() : "";
  }
  if (rest && end < want.size()) *rest = Trim(want.substr(end));
  return id;
}

// A hit or point line against an expected line: the JSON form with ... wildcards, or the id
// and optionally the score, to as many decimals as written (within one unit of the last).
bool MatchPointLine(const std::string& want, const std::string& got_text, const json& got) {
  if (!want.empty() && want[0] == '{') return WildcardMatch(want, got_text);
  std::string score_text;
  if (ExpectedId(want, &score_text) != got.value("id", "")) return false;
  if (score_text.empty()) return true;
  if (!got.contains("score") || !got["score"].is_number()) return false;
  const size_t dot = score_text.find('.');
  const int decimals = dot == std::string::npos ? 0 : static_cast<int>(score_text.size() - dot - 1);
  char* end = nullptr;
  const double want_score = std::strtod(score_text.c_str(), &end);
  if (end == score_text.c_str() || *end != '\0') return false;
  return std::fabs(got["score"].get<double>() - want_score) <= std::pow(10.0, -decimals) * 1.0000001;
}

class Runner {
 public:
  Runner(Backend& backend, std::string backend_name, std::string file)
      : backend_(backend), backend_name_(std::move(backend_name)), file_(std::move(file)) {}

  void Run(const std::vector<Step>& steps) {
    const std::string start = backend_.Start();
    ASSERT_EQ(start, "") << backend_.Log();
    for (const Step& step : steps) {
      if ((!step.onlyif.empty() && step.onlyif != backend_name_) || step.skipif == backend_name_) continue;
      SCOPED_TRACE(file_ + ":" + std::to_string(step.line) + ": " + step.text);
      RunStep(step);
      if (::testing::Test::HasFatalFailure()) return;
      if (::testing::Test::HasFailure()) {
        ADD_FAILURE() << "stopping at the first failing step; the " << backend_name_ << " log:\n" << backend_.Log();
        return;
      }
    }
    const std::string stop = backend_.Stop(false);
    EXPECT_EQ(stop, "") << backend_.Log();
  }

 private:
  void RunStep(const Step& s) {
    const std::string& cmd = s.command;
    auto word = [&](size_t i) { return i < s.words.size() ? s.words[i] : std::string(); };
    auto need_words = [&](size_t n) {
      if (s.words.size() < n) ADD_FAILURE() << cmd << " needs " << n << " argument(s)";
      return s.words.size() >= n;
    };
    if (cmd == "restart" || cmd == "crash") {
      ASSERT_EQ(backend_.Stop(cmd == "crash"), "") << backend_.Log();
      ASSERT_EQ(backend_.Start(), "") << backend_.Log();
      return;
    }
    if (cmd == "settle") {
      if (need_words(1)) Settle(word(0));
      return;
    }
    if (cmd == "generate") {
      if (need_words(1)) Generate(s);
      return;
    }
    json op = {{"op", cmd}};
    std::vector<json> ops;
    if (cmd == "create" || cmd == "upsert" || cmd == "query" || cmd == "scroll" || cmd == "delete" ||
        cmd == "count" || cmd == "drop" || cmd == "info" || cmd == "stats") {
      if (!need_words(1)) return;
      op["collection"] = word(0);
      op["body"] = s.json_text;
      if (cmd == "upsert") op["body"] = UpsertBody(s.json_text);
      if (cmd == "count" && !s.json_text.empty()) op["body"] = "{\"filter\":" + s.json_text + "}";
      if (cmd == "create") {
        // settle needs the seal size; flat collections never seal.
        json spec = json::parse(s.json_text, nullptr, false);
        if (spec.is_object() && spec.contains("segments") && spec["segments"].is_object() &&
            spec.value("index", std::string("hnsw")) != "flat") {
          seal_points_[word(0)] = spec["segments"].value("seal_points", size_t{0});
        }
      }
      if (cmd == "stats") op["op"] = "info";
      ops.push_back(op);
    } else if (cmd == "list") {
      ops.push_back(op);
    } else if (cmd == "update") {
      if (!need_words(2)) return;
      ops.push_back({{"op", "update"}, {"collection", word(0)}, {"id", word(1)}, {"body", s.json_text}});
    } else if (cmd == "get") {
      if (!need_words(2)) return;
      const bool vector = std::find(s.options.begin(), s.options.end(), "novector") == s.options.end() &&
                          std::find(s.words.begin(), s.words.end(), "novector") == s.words.end();
      for (size_t i = 1; i < s.words.size(); ++i) {
        if (s.words[i] == "novector") continue;
        ops.push_back({{"op", "get"}, {"collection", word(0)}, {"id", s.words[i]}, {"vector", vector}});
      }
    } else if (cmd == "snapshot") {
      if (!need_words(2)) return;
      ops.push_back({{"op", "snapshot"}, {"collection", word(0)}, {"snapshot", word(1)}});
    } else if (cmd == "restore") {
      if (!need_words(2)) return;
      ops.push_back({{"op", "restore"}, {"snapshot", word(0)}, {"collection", word(1)}});
    } else {
      FAIL() << "unknown command '" << cmd << "'";
    }

    Rendered got;
    for (const json& o : ops) {
      Reply r = backend_.Call(o);
      // get: an absent id is skipped, like Collection::Get.
      if (cmd == "get" && !r.ok && r.code == "not_found" && r.message.rfind("no point", 0) == 0) continue;
      if (!r.ok) {
        CheckFailure(s, r);
        return;
      }
      Render(s, r.body, &got);
    }
    if (s.has_expected && !s.expected.empty() && s.expected[0].rfind("error", 0) == 0) {
      ADD_FAILURE() << "expected an error, got success:\n" << Join(got.lines);
      return;
    }
    if (s.has_expected) Compare(s, got);
  }

  static std::string Join(const std::vector<std::string>& lines) {
    std::string out;
    for (const auto& l : lines) out += "  " + l + "\n";
    return out.empty() ? "  (nothing)\n" : out;
  }

  // A single point object, an array of them, or the {"points": [...]} body itself.
  static std::string UpsertBody(const std::string& text) {
    const std::string t = Trim(text);
    if (!t.empty() && t[0] == '[') return "{\"points\":" + t + "}";
    json j = json::parse(t, nullptr, false);
    if (j.is_object() && j.contains("points")) return t;
    return "{\"points\":[" + t + "]}";
  }

  void CheckFailure(const Step& s, const Reply& r) {
    if (r.code == "runner") {
      ADD_FAILURE() << r.message;
      return;
    }
    if (!s.has_expected || s.expected.empty() || s.expected[0].rfind("error", 0) != 0) {
      ADD_FAILURE() << "unexpected error: " << r.ErrorText();
      return;
    }
    std::string want = Trim(s.expected[0].substr(5));
    if (!want.empty() && want[0] == ':') want = Trim(want.substr(1));
    EXPECT_TRUE(WildcardMatch("..." + want + "...", r.ErrorText()))
        << "the error '" << r.ErrorText() << "' does not contain '" << want << "'";
  }

  void Render(const Step& s, const json& body, Rendered* out) {
    const std::string& cmd = s.command;
    auto point_line = [&](const json& p) {
      out->kind = LineKind::kPoint;
      out->lines.push_back(Canonical(p));
      out->points.push_back(p);
    };
    if (cmd == "query") {
      for (const json& h : body.value("results", json::array())) point_line(h);
    } else if (cmd == "get") {
      point_line(body);
    } else if (cmd == "scroll") {
      for (const json& p : body.value("points", json::array())) point_line(p);
      out->lines.push_back("next: " + Canonical(body.value("next", json())));
      out->points.push_back(json());
    } else if (cmd == "count") {
      out->lines.push_back(Canonical(body.value("count", json())));
    } else if (cmd == "upsert") {
      out->lines.push_back(Canonical(body.value("acked", json())));
    } else if (cmd == "delete") {
      out->lines.push_back(Canonical(body.value("deleted", json())));
    } else if (cmd == "restore") {
      out->lines.push_back(Canonical(body.value("count", json())));
    } else if (cmd == "list") {
      std::vector<std::string> names;
      for (const json& c : body.value("collections", json::array())) names.push_back(c.value("name", ""));
      std::sort(names.begin(), names.end());
      out->lines.insert(out->lines.end(), names.begin(), names.end());
    } else if (cmd == "info") {
      std::string line;
      for (const char* f : {"name", "dimension", "metric", "index", "text", "analyzer"}) {
        if (body.contains(f)) line += std::string(line.empty() ? "" : " ") + f + "=" + Scalar(body[f]);
      }
      if (body.contains("stats")) line += " points=" + Scalar(body["stats"].value("points", json()));
      out->lines.push_back(line);
    } else if (cmd == "stats") {
      std::string line;
      for (size_t i = 1; i < s.words.size(); ++i) {
        const json& st = body.value("stats", json::object());
        line += (i > 1 ? " " : "") + s.words[i] + "=" + (st.contains(s.words[i]) ? Scalar(st[s.words[i]]) : "?");
      }
      out->lines.push_back(line);
    }
    // create, drop, update, snapshot: nothing to show.
  }

  static std::string Scalar(const json& j) { return j.is_string() ? j.get<std::string>() : Canonical(j); }

  void Compare(const Step& s, Rendered got) {
    std::vector<std::string> want = s.expected;
    const bool rowsort = std::find(s.options.begin(), s.options.end(), "rowsort") != s.options.end();
    if (rowsort && got.kind == LineKind::kPoint) {
      std::vector<size_t> order(got.points.size());
      for (size_t i = 0; i < order.size(); ++i) order[i] = i;
      std::stable_sort(order.begin(), order.end(), [&](size_t a, size_t b) {
        return got.points[a].value("id", "") < got.points[b].value("id", "");
      });
      Rendered sorted;
      sorted.kind = got.kind;
      for (size_t i : order) {
        sorted.lines.push_back(got.lines[i]);
        sorted.points.push_back(got.points[i]);
      }
      got = std::move(sorted);
      std::stable_sort(want.begin(), want.end(),
                       [](const std::string& a, const std::string& b) { return ExpectedId(a) < ExpectedId(b); });
    } else if (rowsort) {
      std::sort(got.lines.begin(), got.lines.end());
      std::sort(want.begin(), want.end());
    }
    bool same = want.size() == got.lines.size();
    for (size_t i = 0; same && i < want.size(); ++i) {
      const bool point = got.kind == LineKind::kPoint && got.points[i].is_object();
      same = point ? MatchPointLine(want[i], got.lines[i], got.points[i]) : WildcardMatch(want[i], got.lines[i]);
    }
    EXPECT_TRUE(same) << "expected:\n" << Join(want) << "got:\n" << Join(got.lines);
  }

  // Waits until the background indexer has sealed every full mutable segment.
  void Settle(const std::string& col) {
    const size_t seal = seal_points_.count(col) ? seal_points_[col] : 0;
    if (seal == 0) return;
    const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(kSettleTimeoutS);
    json stats;
    while (std::chrono::steady_clock::now() < deadline) {
      Reply r = backend_.Call({{"op", "info"}, {"collection", col}});
      ASSERT_TRUE(r.ok) << r.ErrorText();
      stats = r.body.value("stats", json::object());
      if (stats.value("unindexed_points", size_t{0}) < seal) return;
      std::this_thread::sleep_for(std::chrono::milliseconds(20));
    }
    FAIL() << "the indexer did not settle within " << kSettleTimeoutS << " s: " << stats.dump();
  }

  // generate COLLECTION {"n", "dim", "start", "prefix", "seed", "batch", "text"}: upserts
  // points prefix00000.. with $vec vectors and metadata {"i", "mod10", "tag"}.
  void Generate(const Step& s) {
    json g = json::parse(s.json_text.empty() ? "{}" : s.json_text, nullptr, false);
    ASSERT_TRUE(g.is_object()) << "generate takes a JSON object";
    const size_t n = g.value("n", size_t{100}), dim = g.value("dim", size_t{4}), start = g.value("start", size_t{0});
    const size_t batch = g.value("batch", size_t{100});
    const uint64_t seed = g.value("seed", uint64_t{1});
    const std::string prefix = g.value("prefix", std::string("p"));
    const bool text = g.value("text", false);
    static const char* kWords[] = {"alpha", "bravo", "charlie", "delta", "echo", "foxtrot", "golf"};
    size_t acked = 0;
    for (size_t b = start; b < start + n; b += batch) {
      std::string body = "{\"points\":[";
      for (size_t i = b; i < std::min(start + n, b + batch); ++i) {
        json md = {{"i", i}, {"mod10", i % 10}, {"tag", "t" + std::to_string(i % 3)}};
        body += (i > b ? "," : "") + std::string("{\"id\":\"") + GenId(prefix, i) + "\"";
        if (dim > 0) body += ",\"vector\":" + GenVectorText(i, dim, seed);
        if (text) {
          body += ",\"document\":\"" + std::string(kWords[i % 7]) + " " + kWords[(i / 7) % 7] + " item" +
                  std::to_string(i) + "\"";
        }
        body += ",\"metadata\":" + md.dump() + "}";
      }
      body += "]}";
      Reply r = backend_.Call({{"op", "upsert"}, {"collection", s.words[0]}, {"body", body}});
      if (!r.ok) {
        CheckFailure(s, r);
        return;
      }
      acked += r.body.value("acked", size_t{0});
    }
    if (s.has_expected) {
      Rendered got;
      got.lines.push_back(std::to_string(acked));
      Compare(s, got);
    }
  }

  Backend& backend_;
  std::string backend_name_, file_;
  std::map<std::string, size_t> seal_points_;
};

// ---------------------------------------------------------------------------------------
// One test per scenario file and backend.

struct Param {
  std::string path, backend;
};

void PrintTo(const Param& p, std::ostream* os) { *os << fs::path(p.path).filename().string() << " (" << p.backend << ")"; }

std::vector<Param> AllScenarios() {
  std::vector<std::string> files;
  for (const auto& e : fs::directory_iterator(SEXTANT_SCENARIO_DIR)) {
    if (e.path().extension() == ".test") files.push_back(e.path().string());
  }
  std::sort(files.begin(), files.end());
  std::vector<Param> out;
  for (const auto& f : files) {
    out.push_back({f, "embedded"});
    out.push_back({f, "http"});
  }
  return out;
}

std::string TestName(const ::testing::TestParamInfo<Param>& info) {
  std::string stem = fs::path(info.param.path).stem().string();
  for (char& c : stem) {
    if (!std::isalnum(static_cast<unsigned char>(c))) c = '_';
  }
  return stem + "_" + info.param.backend;
}

class ScenarioTest : public ::testing::TestWithParam<Param> {};

TEST_P(ScenarioTest, Run) {
  const Param& p = GetParam();
  std::string error;
  const std::vector<Step> steps = ParseScenario(Slurp(p.path), &error);
  ASSERT_EQ(error, "") << p.path;
  ASSERT_FALSE(steps.empty()) << p.path << " has no steps";
  static std::atomic<int> counter{0};
  const std::string dir = (fs::temp_directory_path() / ("sextant_scenario_" + TestName({p, 0}) + "_" +
                                                        std::to_string(::getpid()) + "_" + std::to_string(counter++)))
                              .string();
  fs::remove_all(dir);
  fs::create_directories(dir);
  std::unique_ptr<Backend> backend;
  if (p.backend == "http") backend = std::make_unique<HttpBackend>(dir);
  else backend = std::make_unique<EmbeddedBackend>(dir);
  Runner(*backend, p.backend, fs::path(p.path).filename().string()).Run(steps);
  backend.reset();
  if (HasFailure()) {
    std::printf("scenario data kept in %s\n", dir.c_str());
  } else {
    fs::remove_all(dir);
  }
}

INSTANTIATE_TEST_SUITE_P(Scenarios, ScenarioTest, ::testing::ValuesIn(AllScenarios()), TestName);

// The runner's own pieces.
TEST(ScenarioFormatTest, ParsesCommandsJsonAndExpectations) {
  std::string error;
  const auto steps = ParseScenario(
      "# comment\n"
      "create c {\"dimension\":2,\n"
      "  \"metric\":\"l2\"}\n"
      "onlyif http\n"
      "get c a \"b c\" novector\n"
      "----\n"
      "a\n"
      "{\"id\":\"b c\",...}\n"
      "\n"
      "query c {\"vector\":$vec(3,2)} rowsort\n"
      "----\n"
      "\n"
      "restart\n",
      &error);
  ASSERT_EQ(error, "");
  ASSERT_EQ(steps.size(), 4u);
  EXPECT_EQ(steps[0].command, "create");
  EXPECT_EQ(steps[0].json_text, "{\"dimension\":2,\n  \"metric\":\"l2\"}");
  EXPECT_EQ(steps[1].onlyif, "http");
  EXPECT_EQ(steps[1].words, (std::vector<std::string>{"c", "a", "b c", "novector"}));
  EXPECT_EQ(steps[1].expected.size(), 2u);
  EXPECT_EQ(steps[2].json_text, "{\"vector\":" + GenVectorText(3, 2, 1) + "}");
  EXPECT_EQ(steps[2].options, std::vector<std::string>{"rowsort"});
  EXPECT_TRUE(steps[2].has_expected);
  EXPECT_TRUE(steps[2].expected.empty());
  EXPECT_EQ(steps[3].command, "restart");
  EXPECT_FALSE(steps[3].has_expected);
}

TEST(ScenarioFormatTest, MatchesWildcardsIdsAndScores) {
  EXPECT_TRUE(WildcardMatch("{\"id\":\"a\",...}", "{\"id\":\"a\",\"score\":0.5}"));
  EXPECT_TRUE(WildcardMatch("a...b...c", "abc"));
  EXPECT_FALSE(WildcardMatch("a...b", "ab c"));
  EXPECT_TRUE(WildcardMatch("2", "2"));
  const json hit = {{"id", "a b"}, {"score", 0.00611627}};
  EXPECT_TRUE(MatchPointLine("\"a b\" 0.0061", Canonical(hit), hit));
  EXPECT_FALSE(MatchPointLine("\"a b\" 0.0080", Canonical(hit), hit));
  EXPECT_FALSE(MatchPointLine("a", Canonical(hit), hit));
  EXPECT_EQ(Canonical(json{{"v", {static_cast<double>(0.9f), 1.0, 2}}}), "{\"v\":[0.9,1.0,2]}");
  EXPECT_EQ(FormatFloat(0.1), "0.1");
}

}  // namespace
}  // namespace sextant::scenario

int main(int argc, char** argv) {
  if (argc == 3 && std::string(argv[1]) == "--scenario-worker") return sextant::scenario::WorkerMain(argv[2]);
  char buf[4096];
  const ssize_t n = ::readlink("/proc/self/exe", buf, sizeof(buf) - 1);
  sextant::scenario::g_self_exe = n > 0 ? std::string(buf, static_cast<size_t>(n)) : std::string(argv[0]);
  ::signal(SIGPIPE, SIG_IGN);
  ::testing::InitGoogleTest(&argc, argv);
  return RUN_ALL_TESTS();
}
