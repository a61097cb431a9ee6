// `sextant model list | info | pull`: the built-in and installed embedding models, what one
// is, and downloading one from the Hugging Face hub.
#include <chrono>
#include <cstdio>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "args.h"
#include "commands.h"
#include "embed/model_store.h"

namespace sextant::cli {
namespace {

constexpr const char* kModelUsage =
    "usage: sextant model list\n"
    "       sextant model info NAME|DIR\n"
    "       sextant model pull REPO [--revision main] [--models-dir DIR]\n"
    "\n"
    "  list   one JSON line per model: the built-in ones, then those in the models folder\n"
    "         ($SEXTANT_MODELS, default ~/.cache/sextant/models)\n"
    "  info   one JSON object: kind, dimension, max tokens, pooling, prompts, files, licence\n"
    "  pull   downloads the model files of Hugging Face repository REPO (owner/name) from\n"
    "         $HF_ENDPOINT (default https://huggingface.co) into the models folder as\n"
    "         owner/name, sending $HF_TOKEN if set; checks that the model loads before it\n"
    "         replaces an installed one; progress on stderr; prints the installed model's info.\n"
    "         Then `--model owner/name` (sextant embed, collections, the server) uses it.\n";

std::string Entry(const embed::ModelEntry& e) {
  nlohmann::json j = {{"name", e.name}, {"kind", e.kind}, {"dimension", e.dimension}, {"bytes", e.bytes},
                      {"builtin", e.builtin}};
  if (!e.path.empty()) j["path"] = e.path;
  if (!e.error.empty()) j["error"] = e.error;
  return j.dump(-1, ' ', false, nlohmann::json::error_handler_t::replace);
}

Status List(const std::vector<std::string>& argv) {
  SEXTANT_ASSIGN_OR_RETURN(Args args, Args::Parse(argv, {}, {}));
  if (!args.positional().empty()) return Status::InvalidArgument("unexpected argument '" + args.positional()[0] + "'");
  SEXTANT_ASSIGN_OR_RETURN(std::vector<embed::ModelEntry> models, embed::ListModels());
  for (const auto& m : models) std::printf("%s\n", Entry(m).c_str());
  return Status::OK();
}

Status Info(const std::vector<std::string>& argv) {
  SEXTANT_ASSIGN_OR_RETURN(Args args, Args::Parse(argv, {}, {}));
  if (args.positional().size() != 1) return Status::InvalidArgument("expected one model: sextant model info NAME|DIR");
  SEXTANT_ASSIGN_OR_RETURN(nlohmann::json info, embed::ModelInfo(args.positional()[0]));
  std::printf("%s\n", info.dump(-1, ' ', false, nlohmann::json::error_handler_t::replace).c_str());
  return Status::OK();
}

Status Pull(const std::vector<std::string>& argv, bool* runtime_error) {
  SEXTANT_ASSIGN_OR_RETURN(Args args, Args::Parse(argv, {"revision", "models-dir"}, {}));
  if (args.positional().size() != 1) {
    return Status::InvalidArgument("expected one repository: sextant model pull owner/name");
  }
  const std::string repo = args.positional()[0];
  embed::PullOptions options;
  options.revision = args.Get("revision", "main");
  options.dir = args.Get("models-dir", "");
  // A line when a file starts and ends, and at most one a second in between.
  auto last = std::chrono::steady_clock::now();
  options.progress = [&last](const embed::PullProgress& p) {
    const auto now = std::chrono::steady_clock::now();
    if (!p.done && p.received != 0 && now - last < std::chrono::seconds(1)) return;
    last = now;
    nlohmann::json j = {{"event", p.done ? "downloaded" : "downloading"}, {"file", p.file}, {"bytes", p.received}};
    if (p.total != 0) j["total"] = p.total;
    std::fprintf(stderr, "%s\n", j.dump().c_str());
  };
  SEXTANT_RETURN_IF_ERROR(embed::CheckRepoName(repo));
  auto pulled = embed::PullModel(repo, options);
  if (!pulled.ok()) {
    *runtime_error = true;  // the name was fine: what failed is the download or the model
    return pulled.status();
  }
  const std::string dir = *pulled;
  // With --models-dir outside the models folder the name does not resolve: describe the directory.
  auto info = embed::ModelInfo(options.dir.empty() ? repo : dir);
  if (!info.ok()) return info.status();
  (*info)["name"] = repo;
  (*info)["path"] = dir;
  std::printf("%s\n", info->dump(-1, ' ', false, nlohmann::json::error_handler_t::replace).c_str());
  return Status::OK();
}

}  // namespace

int RunModel(const std::vector<std::string>& args) {
  if (args.empty()) {
    std::fputs(kModelUsage, stderr);
    return 2;
  }
  for (const std::string& a : args) {
    if (a == "--help" || a == "-h") {
      std::fputs(kModelUsage, stdout);
      return 0;
    }
  }
  const std::string sub = args[0];
  const std::vector<std::string> rest(args.begin() + 1, args.end());
  Status st;
  bool runtime_error = false;
  if (sub == "list") {
    st = List(rest);
  } else if (sub == "info") {
    st = Info(rest);
  } else if (sub == "pull") {
    st = Pull(rest, &runtime_error);
  } else {
    PrintError("model", "unknown sub-command '" + sub + "' (expected list, info or pull)");
    std::fputs(kModelUsage, stderr);
    return 2;
  }
  if (!st.ok()) {
    PrintError("model " + sub, st.message());
    return st.code() == StatusCode::kInvalidArgument && !runtime_error ? 2 : 1;
  }
  return 0;
}

}  // namespace sextant::cli
