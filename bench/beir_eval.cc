// BM25 retrieval quality and speed on a BEIR data set.
//
// Usage: sextant_beir_eval CORPUS.jsonl QUERIES.jsonl QRELS.tsv
//                          [--analyzer english] [--k1 0.9 --b 0.4] [--exhaustive]
// Indexes title + " " + text of every corpus line, runs every query that has qrels (top 100)
// and prints one JSON line: {"ndcg@10", "recall@100", "ms_per_query", "queries", "index_s"}.
// Metrics follow pytrec_eval (as BEIR uses it): nDCG@10 with gain = relevance grade and
// discount log2(rank + 1), the ideal ranking taken from the qrels; recall@100 = relevant
// documents (grade > 0) in the top 100 / relevant documents. Both are averaged over queries.
#include <algorithm>
#include <chrono>
#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <fstream>
#include <iostream>
#include <map>
#include <sstream>
#include <string>
#include <unordered_map>
#include <vector>

#include <nlohmann/json.hpp>

#include "text/inverted_index.h"
#include "text/ir_metrics.h"

namespace {

using sextant::Result;
using sextant::Status;
using sextant::text::Bm25Params;
using sextant::text::InvertedIndex;
using sextant::text::NdcgAt;
using sextant::text::Qrels;
using sextant::text::ReadQrels;
using sextant::text::RecallAt;

struct Options {
  std::string corpus, queries, qrels;
  std::string analyzer = "english";
  Bm25Params params;
  bool exhaustive = false;
};

Result<Options> ParseArgs(int argc, char** argv) {
  Options o;
  std::vector<std::string> positional;
  for (int i = 1; i < argc; ++i) {
    const std::string a = argv[i];
    auto value = [&]() -> const char* { return i + 1 < argc ? argv[++i] : nullptr; };
    if (a == "--analyzer" || a == "--k1" || a == "--b") {
      const char* v = value();
      if (v == nullptr) return Status::InvalidArgument(a + " needs a value");
      if (a == "--analyzer") o.analyzer = v;
      if (a == "--k1") o.params.k1 = std::strtof(v, nullptr);
      if (a == "--b") o.params.b = std::strtof(v, nullptr);
    } else if (a == "--exhaustive") {
      o.exhaustive = true;
    } else if (a.rfind("--", 0) == 0) {
      return Status::InvalidArgument("unknown option " + a);
    } else {
      positional.push_back(a);
    }
  }
  if (positional.size() != 3) {
    return Status::InvalidArgument(
        "usage: sextant_beir_eval CORPUS.jsonl QUERIES.jsonl QRELS.tsv [--analyzer english] "
        "[--k1 0.9 --b 0.4] [--exhaustive]");
  }
  o.corpus = positional[0];
  o.queries = positional[1];
  o.qrels = positional[2];
  return o;
}

// Calls fn(json) for each line of a JSONL file.
template <typename Fn>
Status ForEachJsonLine(const std::string& path, Fn fn) {
  std::ifstream in(path);
  if (!in) return Status::IOError("cannot open " + path);
  std::string line;
  size_t line_no = 0;
  while (std::getline(in, line)) {
    ++line_no;
    if (line.empty()) continue;
    auto j = nlohmann::json::parse(line, nullptr, /*allow_exceptions=*/false);
    if (j.is_discarded() || !j.is_object()) {
      return Status::Corruption(path + ":" + std::to_string(line_no) + ": not a JSON object");
    }
    SEXTANT_RETURN_IF_ERROR(fn(j));
  }
  return Status::OK();
}

std::string StringField(const nlohmann::json& j, const char* key) {
  auto it = j.find(key);
  return it != j.end() && it->is_string() ? it->get<std::string>() : std::string();
}

Status Run(const Options& o) {
  using Clock = std::chrono::steady_clock;
  SEXTANT_ASSIGN_OR_RETURN(std::unique_ptr<InvertedIndex> index,
                           InvertedIndex::Create(o.analyzer, o.params));

  std::vector<std::string> doc_ids;
  const auto index_start = Clock::now();
  SEXTANT_RETURN_IF_ERROR(ForEachJsonLine(o.corpus, [&](const nlohmann::json& j) -> Status {
    const uint32_t doc = static_cast<uint32_t>(doc_ids.size());
    doc_ids.push_back(StringField(j, "_id"));
    return index->Add(doc, StringField(j, "title") + " " + StringField(j, "text"))
        .WithContext("document " + doc_ids.back());
  }));
  const double index_s = std::chrono::duration<double>(Clock::now() - index_start).count();

  std::unordered_map<std::string, std::string> queries;
  SEXTANT_RETURN_IF_ERROR(ForEachJsonLine(o.queries, [&](const nlohmann::json& j) -> Status {
    queries[StringField(j, "_id")] = StringField(j, "text");
    return Status::OK();
  }));
  SEXTANT_ASSIGN_OR_RETURN(Qrels qrels, ReadQrels(o.qrels));

  double ndcg = 0, recall = 0, search_s = 0;
  size_t n = 0;
  for (const auto& [qid, rel] : qrels) {
    auto q = queries.find(qid);
    if (q == queries.end()) return Status::NotFound("query " + qid + " of the qrels is missing");
    const auto start = Clock::now();
    auto hits = o.exhaustive ? index->SearchExhaustive(q->second, 100)
                             : index->Search(q->second, 100);
    search_s += std::chrono::duration<double>(Clock::now() - start).count();
    std::vector<std::string> ranked;
    if (hits.ok()) {
      for (const auto& [doc, score] : *hits) ranked.push_back(doc_ids[doc]);
    } else if (hits.status().code() != sextant::StatusCode::kInvalidArgument) {
      return hits.status().WithContext("query " + qid);
    }  // a query with no searchable terms retrieves nothing and scores 0
    ndcg += NdcgAt(ranked, rel, 10);
    recall += RecallAt(ranked, rel, 100);
    ++n;
  }
  nlohmann::json out = {
      {"ndcg@10", n ? ndcg / n : 0.0},
      {"recall@100", n ? recall / n : 0.0},
      {"ms_per_query", n ? 1000 * search_s / n : 0.0},
      {"queries", n},
      {"index_s", index_s},
  };
  std::cout << out.dump() << "\n";
  return Status::OK();
}

}  // namespace

int main(int argc, char** argv) {
  auto options = ParseArgs(argc, argv);
  Status st = options.ok() ? Run(*options) : options.status();
  if (!st.ok()) {
    std::cerr << "sextant_beir_eval: " << st.ToString() << "\n";
    return 1;
  }
  return 0;
}
