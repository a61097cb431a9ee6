// Retrieval-quality metrics as BEIR (pytrec_eval) computes them, and a reader for BEIR qrels
// files. Shared by `sextant eval beir` and bench/beir_eval.
#pragma once

#include <algorithm>
#include <cmath>
#include <fstream>
#include <map>
#include <sstream>
#include <string>
#include <vector>

#include "sextant/status.h"

namespace sextant::text {

// query id -> (doc id -> grade), in file order of the queries.
using Qrels = std::map<std::string, std::map<std::string, int>>;

inline Result<Qrels> ReadQrels(const std::string& path) {
  std::ifstream in(path);
  if (!in) return Status::IOError("cannot open " + path);
  Qrels qrels;
  std::string line;
  bool header = true;
  while (std::getline(in, line)) {
    if (header) {  // "query-id\tcorpus-id\tscore"
      header = false;
      if (line.rfind("query-id", 0) == 0) continue;
    }
    if (line.empty()) continue;
    std::istringstream fields(line);
    std::string qid, did;
    int grade;
    if (!(fields >> qid >> did >> grade)) return Status::Corruption(path + ": bad line: " + line);
    qrels[qid][did] = grade;
  }
  return qrels;
}

// nDCG@cut with graded relevance: gain = grade, discount log2(rank + 1), ideal from the qrels.
inline double NdcgAt(const std::vector<std::string>& ranked, const std::map<std::string, int>& rel,
              size_t cut) {
  double dcg = 0;
  for (size_t i = 0; i < ranked.size() && i < cut; ++i) {
    auto it = rel.find(ranked[i]);
    if (it != rel.end() && it->second > 0) dcg += it->second / std::log2(i + 2.0);
  }
  std::vector<int> grades;
  for (const auto& [doc, g] : rel) {
    if (g > 0) grades.push_back(g);
  }
  std::sort(grades.rbegin(), grades.rend());
  double idcg = 0;
  for (size_t i = 0; i < grades.size() && i < cut; ++i) idcg += grades[i] / std::log2(i + 2.0);
  return idcg > 0 ? dcg / idcg : 0;
}

// Relevant documents among the first `cut`, over all relevant documents.
inline double RecallAt(const std::vector<std::string>& ranked, const std::map<std::string, int>& rel,
                size_t cut) {
  size_t relevant = 0, found = 0;
  for (const auto& [doc, g] : rel) relevant += g > 0;
  for (size_t i = 0; i < ranked.size() && i < cut; ++i) {
    auto it = rel.find(ranked[i]);
    found += it != rel.end() && it->second > 0;
  }
  return relevant > 0 ? static_cast<double>(found) / relevant : 0;
}

}  // namespace sextant::text
