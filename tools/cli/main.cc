// The `sextant` command-line tool.
#include <csignal>
#include <cstdio>
#include <cstring>
#include <string>
#include <vector>

#include "commands.h"
#include "simd/distance.h"

namespace sextant::cli {
// `sextant serve` (serve.cc): runs the HTTP server until SIGTERM; returns the exit code.
int RunServe(const std::vector<std::string>& args);
}  // namespace sextant::cli

namespace {

constexpr const char* kUsage =
    "Sextant — a vector database.\n"
    "\n"
    "usage: sextant <command> [flags]\n"
    "\n"
    "commands:\n"
    "  demo [--data DIR] [--n N]   index and search real vectors (../shared/data/fashion-mnist\n"
    "                              when present, generated clustered vectors otherwise)\n"
    "  bench ann --base F --query F --groundtruth F [...]\n"
    "                              ANN benchmark: build, then recall@k and QPS per ef (JSON lines)\n"
    "  embed [--model NAME|DIR] [--threads N] [--dimensions D] < texts.jsonl\n"
    "                              lines {\"text\":...} in, {\"embedding\":[...]} out (built-in\n"
    "                              model potion-base-4M; see `sextant embed --help`)\n"
    "  model list | info NAME|DIR | pull REPO [--revision R] [--models-dir DIR]\n"
    "                              embedding models: built-in and installed ones, what one is,\n"
    "                              download one from the Hugging Face hub (see `sextant model --help`)\n"
    "  version                     version and the SIMD kernels this CPU uses\n"
    "  serve --data DIR [--port 8080] [--admin-key-file F] [--tls-cert F --tls-key F]\n"
    "                              the HTTP/JSON server (see `sextant serve --help`)\n"
    "\n"
    "database (a data directory, --db DIR; JSON lines in and out):\n"
    "  collection create --db DIR NAME --dim D [--metric l2|ip|cosine]\n"
    "                    [--index hnsw|flat|ivf-flat|ivf-pq|pq|sq8|hnsw-sq8] [--M 16]\n"
    "                    [--ef-construction 200] [--ef 128] [--nlist 256] [--nprobe 8] [--m M]\n"
    "                    [--nbits 8|4] [--rerank N] [--seal-points N] [--text [--analyzer A]]\n"
    "  collection list --db DIR          collection drop --db DIR NAME\n"
    "  upsert --db DIR NAME [--batch 1000] [--relaxed] [--no-index] < points.jsonl\n"
    "                              lines {\"id\",\"vector\",\"document\",\"metadata\"}; prints {\"acked\":N}\n"
    "  optimize --db DIR NAME [--merge-all]   index pending points, wait for merges\n"
    "  query --db DIR NAME [--k 10] [--ef N] [--nprobe N] [--rerank N]\n"
    "        [--include document,metadata,vector] < queries.jsonl\n"
    "                              lines {\"vector\":[...],\"k\":10,\"filter\":{...}}\n"
    "  get --db DIR NAME --ids a,b   delete --db DIR NAME --ids a,b | --filter JSON\n"
    "  count --db DIR NAME [--filter JSON]   scroll --db DIR NAME [--limit N] [--after ID]\n"
    "  snapshot create --db DIR NAME --out SNAPDIR   snapshot restore --db DIR --from SNAPDIR NAME\n"
    "\n"
    "Run `sextant <command> --help` for a command's flags.\n";

}  // namespace

namespace sextant::cli {

void PrintError(const std::string& command, const std::string& message) {
  std::fprintf(stderr, "sextant %s: error: %s\n", command.c_str(), message.c_str());
}

}  // namespace sextant::cli

int main(int argc, char** argv) {
  // A peer that closes a TLS connection (an https embedding provider, a model download) must
  // give an error, not kill the process; writes to a closed pipe then fail with EPIPE.
  std::signal(SIGPIPE, SIG_IGN);
  std::vector<std::string> args(argv + 1, argv + argc);
  if (args.empty() || args[0] == "--help" || args[0] == "-h" || args[0] == "help") {
    std::fputs(kUsage, args.empty() ? stderr : stdout);
    return args.empty() ? 2 : 0;
  }
  const std::string cmd = args[0];
  if (cmd == "version" || cmd == "--version") {
    std::printf("sextant 0.1.0 (simd: %s)\n", sextant::simd::Best().isa);
    return 0;
  }
  if (int rc = sextant::cli::RunDbCommand(cmd, {args.begin() + 1, args.end()}); rc >= 0) return rc;
  if (cmd == "serve") return sextant::cli::RunServe({args.begin() + 1, args.end()});
  if (cmd == "demo") return sextant::cli::RunDemo({args.begin() + 1, args.end()});
  if (cmd == "embed") return sextant::cli::RunEmbed({args.begin() + 1, args.end()});
  if (cmd == "model") return sextant::cli::RunModel({args.begin() + 1, args.end()});
  if (cmd == "bench") {
    if (args.size() >= 2 && args[1] == "ann") {
      return sextant::cli::RunBenchAnn({args.begin() + 2, args.end()});
    }
    sextant::cli::PrintError("bench", "unknown benchmark (expected: sextant bench ann ...)");
    return 2;
  }
  sextant::cli::PrintError(cmd, "unknown command");
  std::fputs(kUsage, stderr);
  return 2;
}
