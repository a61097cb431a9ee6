// `sextant embed`: JSON lines of text in, JSON lines of embeddings out, in order.
#include <charconv>
#include <chrono>
#include <cstdio>
#include <iostream>
#include <optional>
#include <string>
#include <thread>
#include <vector>

#include "args.h"
#include "commands.h"
#include "common/json.h"
#include "embed/model.h"

namespace sextant::cli {
namespace {

constexpr const char* kEmbedUsage =
    "usage: sextant embed [--model NAME|DIR] [--threads N] [--dimensions D] [--batch 256]\n"
    "                     [--precision fp32|int8] < texts.jsonl\n"
    "\n"
    "Reads lines {\"text\": \"...\", \"id\": ...} and prints one line {\"id\": ..., \"embedding\": [...]}\n"
    "per input line, in order (\"id\" only when the input has one; blank lines are skipped).\n"
    "  --model NAME|DIR  a built-in model (default potion-base-4M) or a model directory: Model2Vec,\n"
    "                    or a BERT sentence-transformers directory (config.json model_type bert)\n"
    "  --threads N       threads that embed (default: one per hardware thread)\n"
    "  --dimensions D    keep the first D dimensions and re-normalise (Matryoshka)\n"
    "  --batch N         lines embedded at a time (default 256)\n"
    "  --precision P     fp32 (default) or int8: a BERT model's dense layers in int8 (fast with\n"
    "                    AVX-512 VNNI; cosine >= 0.9998 to fp32 measured); Model2Vec ignores it\n";

using Clock = std::chrono::steady_clock;

struct Pending {
  std::vector<std::string> texts;
  std::vector<std::optional<std::string>> ids;  // the "id" value as JSON text
  size_t first_line = 0;
  size_t last_line = 0;
};

void AppendFloat(std::string& out, float x) {
  char buf[32];
  const auto r = std::to_chars(buf, buf + sizeof buf, x);  // shortest text that reads back as x
  out.append(buf, r.ptr);
}

class EmbedRun {
 public:
  EmbedRun(std::shared_ptr<const embed::EmbeddingModel> model, int threads, size_t dims)
      : model_(std::move(model)), threads_(threads), dims_(dims), start_(Clock::now()), last_progress_(start_) {}

  // Embeds and prints the pending lines.
  Status Flush(Pending& p) {
    if (p.texts.empty()) return Status::OK();
    auto rows = model_->Embed(p.texts, threads_);
    if (!rows.ok()) {
      return rows.status().WithContext("lines " + std::to_string(p.first_line) + "-" + std::to_string(p.last_line));
    }
    const size_t dim = model_->dimension();
    std::vector<float> cut;
    const std::vector<float>* out = &*rows;
    if (dims_ != 0 && dims_ != dim) {
      SEXTANT_ASSIGN_OR_RETURN(cut, embed::TruncateDimensions(*rows, dim, dims_));
      out = &cut;
    }
    const size_t d = dims_ != 0 ? dims_ : dim;
    std::string text;
    text.reserve(p.texts.size() * (d * 12 + 32));
    for (size_t i = 0; i < p.texts.size(); ++i) {
      text += '{';
      if (p.ids[i]) {
        text += "\"id\":";
        text += *p.ids[i];
        text += ',';
      }
      text += "\"embedding\":[";
      for (size_t j = 0; j < d; ++j) {
        if (j) text += ',';
        AppendFloat(text, (*out)[i * d + j]);
      }
      text += "]}\n";
    }
    std::fwrite(text.data(), 1, text.size(), stdout);
    std::fflush(stdout);
    done_ += p.texts.size();
    p.texts.clear();
    p.ids.clear();
    Progress();
    return Status::OK();
  }

 private:
  // After two seconds, a progress line on stderr at most once a second.
  void Progress() {
    const auto now = Clock::now();
    const double elapsed = std::chrono::duration<double>(now - start_).count();
    if (elapsed < 2.0 || std::chrono::duration<double>(now - last_progress_).count() < 1.0) return;
    last_progress_ = now;
    std::fprintf(stderr, "{\"event\":\"progress\",\"embedded\":%zu,\"elapsed_s\":%.1f,\"texts_per_s\":%.0f}\n", done_,
                 elapsed, done_ / elapsed);
  }

  std::shared_ptr<const embed::EmbeddingModel> model_;
  int threads_;
  size_t dims_;
  Clock::time_point start_, last_progress_;
  size_t done_ = 0;
};

Status EmbedCmd(const std::vector<std::string>& argv) {
  SEXTANT_ASSIGN_OR_RETURN(Args args, Args::Parse(argv, {"model", "threads", "dimensions", "batch", "precision"}, {}));
  const std::string precision = args.Get("precision", "fp32");
  if (precision != "fp32" && precision != "int8") {
    return Status::InvalidArgument("--precision must be fp32 or int8, got '" + precision + "'");
  }
  if (!args.positional().empty()) {
    return Status::InvalidArgument("unexpected argument '" + args.positional()[0] + "' (texts come on stdin)");
  }
  const int64_t hw = std::max(1u, std::thread::hardware_concurrency());
  SEXTANT_ASSIGN_OR_RETURN(int64_t threads, args.GetPositiveInt("threads", hw));
  SEXTANT_ASSIGN_OR_RETURN(int64_t batch, args.GetPositiveInt("batch", 256));
  SEXTANT_ASSIGN_OR_RETURN(int64_t dims, args.GetPositiveInt("dimensions", 0));
  SEXTANT_ASSIGN_OR_RETURN(auto model, embed::LoadModel(args.Get("model", std::string(embed::kDefaultModel)),
                                                        precision == "int8" ? embed::Precision::kInt8
                                                                            : embed::Precision::kFloat32));
  if (dims > static_cast<int64_t>(model->dimension())) {
    return Status::InvalidArgument("--dimensions " + std::to_string(dims) + " is larger than the " +
                                   std::to_string(model->dimension()) + " dimensions of model " + model->name());
  }
  EmbedRun run(model, static_cast<int>(std::min<int64_t>(threads, 1024)), static_cast<size_t>(dims));
  std::ios::sync_with_stdio(false);
  Pending p;
  std::string line;
  size_t line_no = 0;
  // A bad line stops the run; the lines before it are embedded and printed first, so the
  // output is the same whatever the batch size.
  auto bad_line = [&](const std::string& what) -> Status {
    SEXTANT_RETURN_IF_ERROR(run.Flush(p));
    return Status::InvalidArgument("line " + std::to_string(line_no) + ": " + what);
  };
  while (std::getline(std::cin, line)) {
    ++line_no;
    if (line.find_first_not_of(" \t\r") == std::string::npos) continue;
    auto j = ParseJson(line);
    if (!j.ok()) return bad_line(j.status().message());
    if (!j->is_object()) return bad_line("expected an object {\"text\": \"...\"}");
    const auto text = j->find("text");
    if (text == j->end()) return bad_line("no \"text\" field");
    if (!text->is_string()) return bad_line("\"text\" must be a string");
    if (p.texts.empty()) p.first_line = line_no;
    p.last_line = line_no;
    p.texts.push_back(text->get<std::string>());
    const auto id = j->find("id");
    p.ids.push_back(id == j->end() ? std::nullopt : std::optional<std::string>(id->dump()));
    if (p.texts.size() >= static_cast<size_t>(batch)) SEXTANT_RETURN_IF_ERROR(run.Flush(p));
  }
  return run.Flush(p);
}

}  // namespace

int RunEmbed(const std::vector<std::string>& args) {
  for (const std::string& a : args) {
    if (a == "--help" || a == "-h") {
      std::fputs(kEmbedUsage, stdout);
      return 0;
    }
  }
  const Status st = EmbedCmd(args);
  if (!st.ok()) {
    PrintError("embed", st.message());
    return st.code() == StatusCode::kInvalidArgument ? 2 : 1;
  }
  return 0;
}

}  // namespace sextant::cli
