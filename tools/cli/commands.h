// Sub-commands of the `sextant` tool. Each returns the process exit code and prints its own
// errors to stderr (0 ok, 1 runtime error, 2 usage error).
#pragma once

#include <chrono>
#include <string>
#include <vector>

namespace sextant::cli {

int RunBenchAnn(const std::vector<std::string>& args);
int RunDemo(const std::vector<std::string>& args);
// `sextant embed` (embed_command.cc): texts in, embeddings out, as JSON lines.
int RunEmbed(const std::vector<std::string>& args);
// `sextant model list|info|pull` (model_command.cc): embedding models and their files.
int RunModel(const std::vector<std::string>& args);
// collection|upsert|query|get|delete|count|scroll|snapshot; -1 if `cmd` is none of these.
int RunDbCommand(const std::string& cmd, const std::vector<std::string>& args);

using Clock = std::chrono::steady_clock;
// Seconds since `since`, for progress and timing lines.
inline double Seconds(Clock::time_point since) {
  return std::chrono::duration<double>(Clock::now() - since).count();
}

// Prints "sextant <cmd>: error: <message>" to stderr.
void PrintError(const std::string& command, const std::string& message);

}  // namespace sextant::cli
