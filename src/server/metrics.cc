#include "server/metrics.h"

#include <cmath>
#include <cstdio>

namespace sextant::server {

std::string EscapeLabel(const std::string& value) {
  std::string out;
  out.reserve(value.size());
  for (char c : value) {
    if (c == '\\') out += "\\\\";
    else if (c == '"') out += "\\\"";
    else if (c == '\n') out += "\\n";
    else out.push_back(c);
  }
  return out;
}

void AppendFamily(std::string* out, const std::string& name, const std::string& type,
                  const std::string& help) {
  *out += "# HELP " + name + " " + help + "\n# TYPE " + name + " " + type + "\n";
}

void AppendSample(std::string* out, const std::string& name, const std::string& labels, double value) {
  char buf[64];
  if (std::isinf(value)) {
    std::snprintf(buf, sizeof(buf), "%s", value > 0 ? "+Inf" : "-Inf");
  } else if (value == std::floor(value) && std::fabs(value) < 1e15) {
    std::snprintf(buf, sizeof(buf), "%.0f", value);
  } else {
    std::snprintf(buf, sizeof(buf), "%.9g", value);
  }
  *out += name;
  if (!labels.empty()) *out += "{" + labels + "}";
  *out += " ";
  *out += buf;
  *out += "\n";
}

HttpMetrics::HttpMetrics(const std::vector<std::pair<std::string, std::string>>& routes) {
  for (const auto& [method, pattern] : routes) {
    slots_.push_back(std::make_unique<Slot>());
    slots_.back()->method = method;
    slots_.back()->pattern = pattern;
  }
  slots_.push_back(std::make_unique<Slot>());
  slots_.back()->method = "any";
  slots_.back()->pattern = "unmatched";
}

void HttpMetrics::Observe(int route, int status, double seconds) {
  Slot& s = *slots_[route < 0 || route >= static_cast<int>(slots_.size()) - 1 ? slots_.size() - 1 : route];
  size_t b = 0;
  while (b < kBuckets.size() && seconds > kBuckets[b]) ++b;
  std::lock_guard lock(s.mu);
  ++s.by_status[status];
  ++s.buckets[b];
  s.sum += seconds;
  ++s.count;
}

void HttpMetrics::Reject(const std::string& reason) {
  std::lock_guard lock(reject_mu_);
  ++rejected_[reason];
}

std::string HttpMetrics::Render() const {
  std::string out;
  AppendFamily(&out, "sextant_http_requests_total", "counter", "HTTP requests by route pattern and status.");
  for (const auto& s : slots_) {
    std::lock_guard lock(s->mu);
    for (const auto& [status, n] : s->by_status) {
      AppendSample(&out, "sextant_http_requests_total",
                   "method=\"" + s->method + "\",route=\"" + EscapeLabel(s->pattern) + "\",status=\"" +
                       std::to_string(status) + "\"",
                   static_cast<double>(n));
    }
  }
  AppendFamily(&out, "sextant_http_request_duration_seconds", "histogram",
               "Time from the request's arrival at its handler to the response, by route pattern.");
  for (const auto& s : slots_) {
    std::lock_guard lock(s->mu);
    if (s->count == 0) continue;
    const std::string base = "method=\"" + s->method + "\",route=\"" + EscapeLabel(s->pattern) + "\"";
    uint64_t cumulative = 0;
    for (size_t b = 0; b <= kBuckets.size(); ++b) {
      cumulative += s->buckets[b];
      char le[32];
      if (b < kBuckets.size()) std::snprintf(le, sizeof(le), "%g", kBuckets[b]);
      else std::snprintf(le, sizeof(le), "+Inf");
      AppendSample(&out, "sextant_http_request_duration_seconds_bucket", base + ",le=\"" + le + "\"",
                   static_cast<double>(cumulative));
    }
    AppendSample(&out, "sextant_http_request_duration_seconds_sum", base, s->sum);
    AppendSample(&out, "sextant_http_request_duration_seconds_count", base, static_cast<double>(s->count));
  }
  AppendFamily(&out, "sextant_http_requests_in_flight", "gauge", "Requests being handled now.");
  AppendSample(&out, "sextant_http_requests_in_flight", "", static_cast<double>(in_flight_.load()));
  AppendFamily(&out, "sextant_http_requests_rejected_total", "counter",
               "Requests turned away (overload, queue_timeout, draining) or stopped by their deadline, by reason.");
  {
    std::lock_guard lock(reject_mu_);
    for (const char* reason : {"overload", "queue_timeout", "draining", "deadline"}) {
      auto it = rejected_.find(reason);
      AppendSample(&out, "sextant_http_requests_rejected_total", std::string("reason=\"") + reason + "\"",
                   it == rejected_.end() ? 0.0 : static_cast<double>(it->second));
    }
  }
  return out;
}

}  // namespace sextant::server
