// Prometheus text exposition for the server: request counters and latency histograms per
// route pattern, plus helpers to print gauges and counters with labels.
//
// Thread-safety: Observe and Reject may be called from many threads; Render takes a
// consistent-enough snapshot (each route is read under its own lock).
#pragma once

#include <array>
#include <atomic>
#include <cstdint>
#include <map>
#include <memory>
#include <mutex>
#include <string>
#include <vector>

namespace sextant::server {

// Escapes a label value (backslash, quote, newline) for the exposition format.
std::string EscapeLabel(const std::string& value);

// Appends "# HELP"/"# TYPE" lines for a metric family.
void AppendFamily(std::string* out, const std::string& name, const std::string& type,
                  const std::string& help);
// Appends `name{labels} value` ("labels" already formatted: a="x",b="y").
void AppendSample(std::string* out, const std::string& name, const std::string& labels, double value);

class HttpMetrics {
 public:
  // One slot per route, labelled by its method and pattern; slot routes.size() collects
  // requests that matched no route (label route="unmatched").
  HttpMetrics(const std::vector<std::pair<std::string, std::string>>& routes);

  // Records a finished request. `route` is an index given to the constructor or -1.
  void Observe(int route, int status, double seconds);
  // Counts a request turned away before its handler ran ("overload", "queue_timeout", "draining").
  void Reject(const std::string& reason);
  void AddInFlight(int delta) { in_flight_.fetch_add(delta, std::memory_order_relaxed); }

  // The http_* families in the text format.
  std::string Render() const;

  static constexpr std::array<double, 14> kBuckets = {0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05,
                                                      0.1,    0.25,  0.5,    1,     2.5,   5,     10};

 private:
  struct Slot {
    std::string method, pattern;
    mutable std::mutex mu;
    std::map<int, uint64_t> by_status;
    std::array<uint64_t, kBuckets.size() + 1> buckets{};  // last: +Inf
    double sum = 0;
    uint64_t count = 0;
  };
  std::vector<std::unique_ptr<Slot>> slots_;
  mutable std::mutex reject_mu_;
  std::map<std::string, uint64_t> rejected_;
  std::atomic<int64_t> in_flight_{0};
};

}  // namespace sextant::server
