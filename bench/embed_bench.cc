// Model2Vec throughput: tokens per second per thread of a model (default: the built-in
// potion-base-4M) on a BEIR corpus (default: SciFact from ../shared/data, title + " " + text per
// document), tokenizer alone and the whole embedding, for each thread count asked. Each figure
// is the best of --repeat runs; "per_cpu_s" figures divide by the process's CPU time instead of
// wall time, which holds up better on a shared machine. JSON lines on stdout.
//
//   sextant_embed_bench [--corpus FILE] [--model NAME|DIR] [--threads 1,2] [--repeat 3] [--limit N]
#include <algorithm>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <ctime>
#include <fstream>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "embed/model.h"
#include "embed/model2vec.h"

#include "bench_util.h"

namespace {

using sextant::bench::Clock;
using sextant::bench::CpuSeconds;
using sextant::bench::ParseList;
using sextant::bench::Seconds;

}  // namespace

int main(int argc, char** argv) {
  std::string corpus = "../shared/data/scifact/beir_format/corpus.jsonl";
  std::string model_name = "potion-base-4M";
  std::vector<int> threads = {1, 2};
  int repeat = 3;
  size_t limit = 0;
  for (int i = 1; i + 1 < argc; i += 2) {
    const std::string flag = argv[i], value = argv[i + 1];
    if (flag == "--corpus") corpus = value;
    else if (flag == "--model") model_name = value;
    else if (flag == "--threads") threads = ParseList(value);
    else if (flag == "--repeat") repeat = std::max(1, std::atoi(value.c_str()));
    else if (flag == "--limit") limit = std::strtoull(value.c_str(), nullptr, 10);
    else {
      std::fprintf(stderr, "unknown flag %s\n", flag.c_str());
      return 2;
    }
  }
  std::ifstream in(corpus);
  if (!in) {
    std::fprintf(stderr, "cannot open %s (SciFact is in ../shared/data/scifact when present)\n", corpus.c_str());
    return 1;
  }
  std::vector<std::string> texts;
  size_t bytes = 0;
  for (std::string line; std::getline(in, line) && (limit == 0 || texts.size() < limit);) {
    const auto j = nlohmann::json::parse(line, nullptr, false);
    if (!j.is_object()) continue;
    std::string t = j.value("title", std::string());
    const std::string body = j.value("text", std::string());
    if (!t.empty() && !body.empty()) t += ' ';
    t += body;
    bytes += t.size();
    texts.push_back(std::move(t));
  }
  auto loaded = sextant::embed::LoadModel(model_name);
  if (!loaded.ok()) {
    std::fprintf(stderr, "%s\n", loaded.status().ToString().c_str());
    return 1;
  }
  const auto* model = dynamic_cast<const sextant::embed::Model2Vec*>(loaded->get());
  if (model == nullptr) {
    std::fprintf(stderr, "not a Model2Vec model\n");
    return 1;
  }

  // Tokens: all of each text's tokens (the tokenizer's work) and those the mean uses (at most
  // 512 known ones per text, after model2vec's character cut).
  size_t all_tokens = 0, used_tokens = 0;
  std::vector<int32_t> ids;
  double tok_s = 1e30, tok_cpu = 1e30;
  for (int r = 0; r < repeat; ++r) {
    all_tokens = 0;
    const auto t0 = Clock::now();
    const double c0 = CpuSeconds();
    for (const std::string& t : texts) {
      if (!model->tokenizer().Encode(t, {}, &ids).ok()) return 1;
      all_tokens += ids.size();
    }
    tok_s = std::min(tok_s, Seconds(t0));
    tok_cpu = std::min(tok_cpu, CpuSeconds() - c0);
  }
  for (const std::string& t : texts) {
    if (!model->TokenIds(t, &ids).ok()) return 1;
    used_tokens += ids.size();
  }
  std::printf("{\"event\":\"corpus\",\"file\":\"%s\",\"texts\":%zu,\"bytes\":%zu,\"tokens\":%zu,\"tokens_embedded\":%zu,"
              "\"model\":\"%s\"}\n",
              corpus.c_str(), texts.size(), bytes, all_tokens, used_tokens, model->name().c_str());
  std::printf("{\"event\":\"tokenize\",\"threads\":1,\"seconds\":%.4f,\"tokens_per_s\":%.0f,\"mb_per_s\":%.1f,"
              "\"cpu_seconds\":%.4f,\"tokens_per_cpu_s\":%.0f}\n",
              tok_s, all_tokens / tok_s, bytes / tok_s / 1e6, tok_cpu, all_tokens / tok_cpu);
  for (int th : threads) {
    double best = 1e30, best_cpu = 1e30;
    for (int r = 0; r < repeat; ++r) {
      const auto t0 = Clock::now();
      const double c0 = CpuSeconds();
      auto out = model->Embed(texts, th);
      const double s = Seconds(t0);
      best_cpu = std::min(best_cpu, CpuSeconds() - c0);
      if (!out.ok()) {
        std::fprintf(stderr, "%s\n", out.status().ToString().c_str());
        return 1;
      }
      best = std::min(best, s);
    }
    // Tokens are the tokenizer's (all of each text's tokens: what bounds the speed).
    std::printf("{\"event\":\"embed\",\"threads\":%d,\"seconds\":%.4f,\"texts_per_s\":%.0f,\"tokens_per_s\":%.0f,"
                "\"tokens_per_s_per_thread\":%.0f,\"cpu_seconds\":%.4f,\"tokens_per_cpu_s\":%.0f}\n",
                th, best, texts.size() / best, all_tokens / best, all_tokens / best / th, best_cpu,
                all_tokens / best_cpu);
  }
  return 0;
}
