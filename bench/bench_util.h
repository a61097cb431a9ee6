// Small helpers shared by the benchmark programs: wall and CPU timers, comma-separated lists,
// medians.
#pragma once

#include <algorithm>
#include <chrono>
#include <cstdlib>
#include <ctime>
#include <string>
#include <vector>

namespace sextant::bench {

using Clock = std::chrono::steady_clock;

inline double Seconds(Clock::time_point t0) { return std::chrono::duration<double>(Clock::now() - t0).count(); }
// The process's CPU time (all threads), which a shared machine's load disturbs less than wall time.
inline double CpuSeconds() { return static_cast<double>(std::clock()) / CLOCKS_PER_SEC; }

// "f32,auto" -> {"f32", "auto"}.
inline std::vector<std::string> SplitList(const std::string& s) {
  std::vector<std::string> out;
  size_t at = 0;
  while (at < s.size()) {
    size_t comma = s.find(',', at);
    if (comma == std::string::npos) comma = s.size();
    out.push_back(s.substr(at, comma - at));
    at = comma + 1;
  }
  return out;
}

// "1,2,4" -> {1, 2, 4}.
inline std::vector<int> ParseList(const std::string& s) {
  std::vector<int> out;
  for (const std::string& item : SplitList(s)) out.push_back(std::atoi(item.c_str()));
  return out;
}

// The median (the upper one of an even count; 0 for none): what a noisy machine's rounds report.
inline double Median(std::vector<double> v) {
  std::sort(v.begin(), v.end());
  return v.empty() ? 0 : v[v.size() / 2];
}

}  // namespace sextant::bench
