// The server's log: JSON lines on stderr, one per request answered (the access log) and a
// few events (listening, a key created). A thread of its own formats and writes them, so a
// request's thread, which on a keep-alive connection serves the next request, only hands the
// fields over.
//
// Thread-safety: Write may be called from many threads at once; a request line is held per
// thread (HoldRequestLine / WriteRequestLine run on the thread answering the request).
#pragma once

#include <condition_variable>
#include <cstddef>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

#include <nlohmann/json.hpp>

#include "server/server.h"

namespace sextant::server {

// The fields of a request's line known when its reply is made.
struct RequestLine {
  LogLevel level = LogLevel::kInfo;
  std::string request_id, route, path, key_id, error_code, error;
  int status = 0;
  double duration_ms = 0;
  size_t bytes_in = 0;
};

class AccessLog {
 public:
  explicit AccessLog(LogLevel level);
  // Writes what is queued, then stops the writer thread.
  ~AccessLog();

  // Whether lines of `level` are written at all.
  bool Enabled(LogLevel level) const { return level >= level_ && level_ != LogLevel::kOff; }

  // Queues {"ts": now, "level": level, fields...} when `level` is enabled.
  void Write(LogLevel level, nlohmann::json fields);

  // A request's line is written only once its response has gone out (from httplib's logger
  // hook, on the same thread), so that it can carry the bytes sent: the reply's step holds
  // it, WriteRequestLine adds what only the response knows and queues it (once).
  void HoldRequestLine(RequestLine line);
  void WriteRequestLine(const std::string& method, const std::string& remote, size_t bytes_out);

 private:
  void Loop();

  const LogLevel level_;
  std::mutex mu_;
  std::condition_variable cv_;
  std::vector<nlohmann::json> queue_;  // guarded by mu_
  bool stop_ = false;                  // guarded by mu_
  std::thread thread_;                 // last: starts once the rest is ready
};

}  // namespace sextant::server
