// The server's log: the writer thread and each request's held line.
#include "server/access_log.h"

#include <chrono>
#include <cstdio>
#include <ctime>
#include <iterator>
#include <optional>
#include <utility>

namespace sextant::server {
namespace {

using nlohmann::json;

std::string NowIso8601() {
  const auto now = std::chrono::system_clock::now();
  const std::time_t t = std::chrono::system_clock::to_time_t(now);
  const int ms = static_cast<int>(
      std::chrono::duration_cast<std::chrono::milliseconds>(now.time_since_epoch()).count() % 1000);
  std::tm tm{};
  gmtime_r(&t, &tm);
  char buf[96];
  std::snprintf(buf, sizeof(buf), "%04d-%02d-%02dT%02d:%02d:%02d.%03dZ", tm.tm_year + 1900, tm.tm_mon + 1,
                tm.tm_mday, tm.tm_hour, tm.tm_min, tm.tm_sec, ms);
  return buf;
}

// The line of the request this thread is answering, from its reply until its response is out.
thread_local std::optional<RequestLine> held_line;

}  // namespace

AccessLog::AccessLog(LogLevel level) : level_(level), thread_([this] { Loop(); }) {}

AccessLog::~AccessLog() {
  {
    std::lock_guard lock(mu_);
    stop_ = true;
  }
  cv_.notify_one();
  thread_.join();
}

void AccessLog::Write(LogLevel level, json fields) {
  if (!Enabled(level)) return;
  static const char* kNames[] = {"info", "warn", "error", "off"};
  json line = {{"ts", NowIso8601()}, {"level", kNames[static_cast<int>(level)]}};
  line.update(fields);
  {
    std::lock_guard lock(mu_);
    queue_.push_back(std::move(line));
  }
  cv_.notify_one();
}

void AccessLog::HoldRequestLine(RequestLine line) { held_line = std::move(line); }

void AccessLog::WriteRequestLine(const std::string& method, const std::string& remote, size_t bytes_out) {
  if (!held_line) return;
  RequestLine p = std::move(*held_line);
  held_line.reset();
  json fields = {{"msg", "request"}, {"request_id", p.request_id}, {"method", method}, {"route", p.route},
                 {"path", p.path}, {"status", p.status}, {"duration_ms", p.duration_ms},
                 {"bytes_in", p.bytes_in}, {"bytes_out", bytes_out}, {"remote", remote}};
  if (!p.key_id.empty()) fields["key_id"] = p.key_id;
  if (!p.error_code.empty()) {
    fields["error_code"] = p.error_code;
    fields["error"] = p.error;
  }
  Write(p.level, std::move(fields));
}

void AccessLog::Loop() {
  std::unique_lock lock(mu_);
  for (;;) {
    cv_.wait(lock, [&] { return stop_ || !queue_.empty(); });
    if (queue_.empty() && stop_) return;
    std::vector<json> batch(std::make_move_iterator(queue_.begin()), std::make_move_iterator(queue_.end()));
    queue_.clear();
    lock.unlock();
    std::string text;
    for (const json& line : batch) {
      text += line.dump(-1, ' ', false, json::error_handler_t::replace);
      text += '\n';
    }
    std::fwrite(text.data(), 1, text.size(), stderr);
    std::fflush(stderr);
    lock.lock();
  }
}

}  // namespace sextant::server
