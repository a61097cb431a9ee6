// The BERT runtime's speed, measured like the ONNX Runtime peer (../shared/peers/
// ort_sentence_bench.js) measures itself: token ids made before the clock starts, one warm-up
// call on the longest text, then one timed pass over all texts; texts/s and tokens/s. JSON lines
// on stdout. bench/bert_vs_ort.sh runs it and the peers on the same model, inputs and threads.
//
//   sextant_bert_bench make-model DIR [--tokenizer DIR] [--seed N] [--dtype F32|F16|BF16]
//       writes a random-weight all-MiniLM-L6-v2-shaped model (hidden 384, 6 layers, 12 heads,
//       intermediate 1536, 512 positions, max_seq_length 256, mean pooling, Normalize) with the
//       tokenizer.json of --tokenizer (default ../shared/data/tokenizers/all-MiniLM-L6-v2)
//   sextant_bert_bench texts --model DIR --out-dir DIR [--corpus FILE] [--queries FILE] [--docs 256]
//       writes abstracts.jsonl (the first --docs SciFact documents, title + " " + abstract),
//       queries.jsonl (every query), and their token ids as the model cuts them
//       (*.ids.jsonl: {"ids": [...]}, the peers' input)
//   sextant_bert_bench run --model DIR --ids FILE [--precision fp32|int8] [--texts FILE]
//                          [--threads 1,2] [--out FILE]
//       times the encoder on the ids (and, with --texts, the whole Embed including the
//       tokenizer); --out writes {"embedding": [...]} per line for comparison with a peer's
#include <algorithm>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <ctime>
#include <filesystem>
#include <fstream>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "embed/bert.h"
#include "embed/bert_kernels.h"
#include "embed/model.h"
#include "random_bert.h"

#include "bench_util.h"

namespace {

using sextant::bench::Clock;
using sextant::bench::CpuSeconds;
using sextant::bench::ParseList;
using sextant::bench::Seconds;
using nlohmann::json;
using sextant::embed::BertModel;

struct Flags {
  std::string positional;
  std::vector<std::pair<std::string, std::string>> kv;
  std::string Get(const std::string& k, const std::string& fallback = "") const {
    for (const auto& [key, v] : kv) {
      if (key == k) return v;
    }
    return fallback;
  }
};

int Fail(const std::string& msg) {
  std::fprintf(stderr, "sextant_bert_bench: %s\n", msg.c_str());
  return 1;
}

std::unique_ptr<BertModel> LoadOrDie(const std::string& dir, const std::string& precision = "fp32") {
  sextant::embed::BertOptions options;
  if (precision == "int8") {
    options.precision = sextant::embed::BertPrecision::kInt8;
  } else if (precision != "fp32") {
    std::fprintf(stderr, "sextant_bert_bench: --precision is fp32 or int8\n");
    std::exit(2);
  }
  auto m = BertModel::Load(dir, "", options);
  if (!m.ok()) {
    std::fprintf(stderr, "sextant_bert_bench: %s\n", m.status().ToString().c_str());
    std::exit(1);
  }
  return std::move(m).value();
}

int MakeModel(const Flags& f) {
  if (f.positional.empty()) return Fail("make-model needs a directory");
  const std::string tok_dir = f.Get("--tokenizer", "../shared/data/tokenizers/all-MiniLM-L6-v2");
  sextant::embed::testing::RandomBertSpec s;
  s.tokenizer_json = sextant::embed::testing::Slurp(tok_dir + "/tokenizer.json");
  if (s.tokenizer_json.empty()) return Fail("no tokenizer.json in " + tok_dir);
  s.hidden = 384;
  s.layers = 6;
  s.heads = 12;
  s.intermediate = 1536;
  s.max_positions = 512;
  s.max_seq_length = 256;
  s.pooling = "mean";
  s.normalize = true;
  s.scale = 0.05f;
  s.seed = std::strtoull(f.Get("--seed", "1").c_str(), nullptr, 10);
  s.dtype = f.Get("--dtype", "F32");
  const auto m = sextant::embed::testing::WriteRandomBert(f.positional, s);
  std::printf("{\"event\":\"model\",\"dir\":\"%s\",\"vocab\":%zu,\"dtype\":\"%s\"}\n", f.positional.c_str(), m.vocab,
              s.dtype.c_str());
  return 0;
}

std::vector<std::string> ReadTexts(const std::string& path, const char* field, size_t limit, bool title) {
  std::ifstream in(path);
  std::vector<std::string> texts;
  for (std::string line; std::getline(in, line) && (limit == 0 || texts.size() < limit);) {
    const auto j = json::parse(line, nullptr, false);
    if (!j.is_object()) continue;
    std::string t = title ? j.value("title", std::string()) : std::string();
    const std::string body = j.value(field, std::string());
    if (!t.empty() && !body.empty()) t += ' ';
    texts.push_back(t + body);
  }
  return texts;
}

int Texts(const Flags& f) {
  const auto model = LoadOrDie(f.Get("--model"));
  const std::string out = f.Get("--out-dir");
  if (out.empty()) return Fail("texts needs --out-dir");
  std::filesystem::create_directories(out);
  const std::string scifact = "../shared/data/scifact/beir_format";
  const size_t docs = std::strtoull(f.Get("--docs", "256").c_str(), nullptr, 10);
  const std::vector<std::pair<std::string, std::vector<std::string>>> sets = {
      {"abstracts", ReadTexts(f.Get("--corpus", scifact + "/corpus.jsonl"), "text", docs, true)},
      {"queries", ReadTexts(f.Get("--queries", scifact + "/queries.jsonl"), "text", 0, false)}};
  for (const auto& [name, texts] : sets) {
    if (texts.empty()) return Fail("no texts for " + name + " (SciFact is in ../shared/data/scifact when present)");
    std::ofstream t(out + "/" + name + ".jsonl"), ids_out(out + "/" + name + ".ids.jsonl");
    size_t tokens = 0;
    std::vector<int32_t> ids;
    for (const std::string& text : texts) {
      if (!model->TokenIds(text, "", &ids).ok()) return Fail("cannot tokenize a text of " + name);
      t << json{{"text", text}}.dump() << "\n";
      ids_out << json{{"ids", ids}}.dump() << "\n";
      tokens += ids.size();
    }
    std::printf("{\"event\":\"texts\",\"set\":\"%s\",\"texts\":%zu,\"tokens\":%zu,\"tokens_per_text\":%.1f}\n",
                name.c_str(), texts.size(), tokens, double(tokens) / texts.size());
  }
  return 0;
}

int Run(const Flags& f) {
  const std::string precision = f.Get("--precision", "fp32");
  const auto model = LoadOrDie(f.Get("--model"), precision);
  std::vector<std::vector<int32_t>> ids;
  {
    std::ifstream in(f.Get("--ids"));
    for (std::string line; std::getline(in, line);) {
      const auto j = json::parse(line, nullptr, false);
      if (j.is_object() && j.contains("ids")) ids.push_back(j["ids"].get<std::vector<int32_t>>());
    }
  }
  if (ids.empty()) return Fail("no ids in --ids file");
  const std::vector<std::string> texts = f.Get("--texts").empty() ? std::vector<std::string>()
                                                                   : ReadTexts(f.Get("--texts"), "text", 0, false);
  size_t tokens = 0, longest = 0;
  for (size_t i = 0; i < ids.size(); ++i) {
    tokens += ids[i].size();
    if (ids[i].size() > ids[longest].size()) longest = i;
  }
  const std::string label = f.Get("--label", "sextant " + precision);
  for (int th : ParseList(f.Get("--threads", "1,2"))) {
    // Warm-up: the longest text once (as the peer does).
    if (!model->EmbedTokenIds(std::span(&ids[longest], 1), th).ok()) return Fail("warm-up failed");
    const auto t0 = Clock::now();
    const double c0 = CpuSeconds();
    auto out = model->EmbedTokenIds(ids, th);
    const double s = Seconds(t0), cpu = CpuSeconds() - c0;
    if (!out.ok()) return Fail(out.status().ToString());
    double with_tok = 0;
    if (!texts.empty()) {
      const auto t1 = Clock::now();
      auto e2e = model->Embed(texts, th);
      with_tok = Seconds(t1);
      if (!e2e.ok()) return Fail(e2e.status().ToString());
    }
    std::printf("{\"system\":\"%s\",\"isa\":\"%s\",\"threads\":%d,\"texts\":%zu,\"tokens\":%zu,\"seconds\":%.3f,"
                "\"texts_per_s\":%.1f,\"tokens_per_s\":%.1f,\"cpu_seconds\":%.3f",
                label.c_str(),
                precision == "int8" ? sextant::embed::kernels::Int8Best().isa : sextant::embed::kernels::Best().isa, th, ids.size(), tokens, s, ids.size() / s,
                tokens / s, cpu);
    if (!texts.empty()) std::printf(",\"with_tokenizer_seconds\":%.3f,\"with_tokenizer_texts_per_s\":%.1f", with_tok, texts.size() / with_tok);
    std::printf("}\n");
    std::fflush(stdout);
    if (const std::string path = f.Get("--out"); !path.empty()) {
      std::ofstream o(path);
      const size_t d = model->dimension();
      for (size_t i = 0; i < ids.size(); ++i) {
        o << json{{"embedding", std::vector<float>(out->begin() + i * d, out->begin() + (i + 1) * d)}}.dump() << "\n";
      }
    }
  }
  return 0;
}

}  // namespace

int main(int argc, char** argv) {
  if (argc < 2) {
    std::fprintf(stderr, "usage: sextant_bert_bench make-model DIR | texts --model DIR --out-dir DIR | run --model DIR --ids FILE\n");
    return 2;
  }
  const std::string cmd = argv[1];
  Flags f;
  for (int i = 2; i < argc; ++i) {
    const std::string a = argv[i];
    if (a.rfind("--", 0) == 0 && i + 1 < argc) {
      f.kv.emplace_back(a, argv[++i]);
    } else {
      f.positional = a;
    }
  }
  if (cmd == "make-model") return MakeModel(f);
  if (cmd == "texts") return Texts(f);
  if (cmd == "run") return Run(f);
  return Fail("unknown command " + cmd);
}
