// Small helpers shared by the benchmark programs: wall and CPU timers, comma-separated lists.
#pragma once

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

// "1,2,4" -> {1, 2, 4}.
inline std::vector<int> ParseList(const std::string& s) {
  std::vector<int> out;
  size_t at = 0;
  while (at < s.size()) {
    size_t comma = s.find(',', at);
    if (comma == std::string::npos) comma = s.size();
    out.push_back(std::atoi(s.substr(at, comma - at).c_str()));
    at = comma + 1;
  }
  return out;
}

}  // namespace sextant::bench
