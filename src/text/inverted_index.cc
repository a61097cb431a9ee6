#include "text/inverted_index.h"

#include <algorithm>
#include <cassert>
#include <cmath>
#include <limits>
#include <map>
#include <queue>

namespace sextant::text {
namespace {

using Hit = std::pair<uint32_t, float>;

// Ranking order: higher score first, then lower doc id.
bool Better(const Hit& a, const Hit& b) {
  return a.second > b.second || (a.second == b.second && a.first < b.first);
}

struct PostingDocLess {
  template <typename P>
  bool operator()(const P& p, uint32_t doc) const { return p.doc < doc; }
};

}  // namespace

Result<std::unique_ptr<InvertedIndex>> InvertedIndex::Create(std::unique_ptr<Analyzer> analyzer,
                                                             Bm25Params params) {
  if (analyzer == nullptr) return Status::InvalidArgument("analyzer is null");
  if (!(params.k1 >= 0) || !std::isfinite(params.k1)) {
    return Status::InvalidArgument("BM25 k1 must be a finite number >= 0, got " +
                                   std::to_string(params.k1));
  }
  if (!(params.b >= 0 && params.b <= 1)) {
    return Status::InvalidArgument("BM25 b must be in [0, 1], got " + std::to_string(params.b));
  }
  return std::unique_ptr<InvertedIndex>(new InvertedIndex(std::move(analyzer), params));
}

Result<std::unique_ptr<InvertedIndex>> InvertedIndex::Create(std::string_view analyzer_name,
                                                             Bm25Params params) {
  SEXTANT_ASSIGN_OR_RETURN(std::unique_ptr<Analyzer> analyzer, MakeAnalyzer(analyzer_name));
  return Create(std::move(analyzer), params);
}

Status InvertedIndex::Add(uint32_t doc, std::string_view text) {
  if (Contains(doc)) {
    return Status::AlreadyExists("document " + std::to_string(doc) + " is already indexed");
  }
  SEXTANT_ASSIGN_OR_RETURN(std::vector<Token> tokens, analyzer_->Analyze(text));

  // Length counts positions: a compound and its first part share one (Lucene's overlaps).
  uint32_t len = 0;
  std::map<std::string_view, uint32_t> tf;  // ordered: deterministic term-id assignment
  for (size_t i = 0; i < tokens.size(); ++i) {
    if (i == 0 || tokens[i].position != tokens[i - 1].position) ++len;
    ++tf[tokens[i].term];
  }

  std::vector<uint32_t> term_ids;
  term_ids.reserve(tf.size());
  for (const auto& [term, count] : tf) {
    auto [it, inserted] = term_ids_.try_emplace(std::string(term), lists_.size());
    if (inserted) lists_.emplace_back();
    PostingList& list = lists_[it->second];
    const Posting p{doc, count, len};
    // Appending is the common case (ids ascending); otherwise insert in place.
    if (list.postings.empty() || list.postings.back().doc < doc) {
      list.postings.push_back(p);
    } else {
      auto pos = std::lower_bound(list.postings.begin(), list.postings.end(), doc,
                                  PostingDocLess());
      list.postings.insert(pos, p);
    }
    if (list.postings.size() == 1) {
      list.max_tf = count;
      list.min_len = len;
    } else {
      list.max_tf = std::max(list.max_tf, count);
      list.min_len = std::min(list.min_len, len);
    }
    term_ids.push_back(it->second);
  }
  doc_terms_.emplace(doc, std::move(term_ids));
  doc_len_.emplace(doc, len);
  total_len_ += len;
  return Status::OK();
}

void InvertedIndex::RecomputeBounds(PostingList& list) {
  list.max_tf = 0;
  list.min_len = std::numeric_limits<uint32_t>::max();
  for (const Posting& p : list.postings) {
    list.max_tf = std::max(list.max_tf, p.tf);
    list.min_len = std::min(list.min_len, p.doc_len);
  }
  if (list.postings.empty()) list.min_len = 0;
}

Status InvertedIndex::Remove(uint32_t doc) {
  auto it = doc_terms_.find(doc);
  if (it == doc_terms_.end()) {
    return Status::NotFound("document " + std::to_string(doc) + " is not indexed");
  }
  for (uint32_t term_id : it->second) {
    PostingList& list = lists_[term_id];
    auto pos = std::lower_bound(list.postings.begin(), list.postings.end(), doc,
                                PostingDocLess());
    assert(pos != list.postings.end() && pos->doc == doc);
    const bool was_bound = pos->tf == list.max_tf || pos->doc_len == list.min_len;
    list.postings.erase(pos);
    // Keep the bounds tight; a stale bound would stay correct but prune less.
    if (was_bound) RecomputeBounds(list);
  }
  doc_terms_.erase(it);
  auto len_it = doc_len_.find(doc);
  total_len_ -= len_it->second;
  doc_len_.erase(len_it);
  return Status::OK();
}

Result<std::vector<std::pair<std::string, uint32_t>>> InvertedIndex::QueryTerms(
    std::string_view query) const {
  SEXTANT_ASSIGN_OR_RETURN(std::vector<Token> tokens, analyzer_->Analyze(query));
  if (tokens.empty()) return Status::InvalidArgument("query has no searchable terms");
  std::vector<std::pair<std::string, uint32_t>> terms;
  std::unordered_map<std::string_view, size_t> at;  // term -> its place in `terms`
  for (const Token& t : tokens) {
    auto [it, inserted] = at.try_emplace(t.term, terms.size());
    if (inserted) terms.emplace_back(t.term, 0);
    ++terms[it->second].second;
  }
  return terms;
}

Result<CorpusStats> InvertedIndex::Statistics(std::string_view query) const {
  SEXTANT_ASSIGN_OR_RETURN(auto terms, QueryTerms(query));
  CorpusStats stats;
  stats.documents = size();
  stats.total_length = total_len_;
  for (const auto& [term, count] : terms) {
    auto it = term_ids_.find(term);
    stats.doc_freq[term] = it == term_ids_.end() ? 0 : lists_[it->second].postings.size();
  }
  return stats;
}

Result<std::vector<InvertedIndex::QueryTerm>> InvertedIndex::PrepareQuery(
    std::string_view query, size_t k, const CorpusStats* stats, double* avg_len) const {
  if (k == 0) return Status::OutOfRange("k must be positive");
  SEXTANT_ASSIGN_OR_RETURN(auto query_terms, QueryTerms(query));
  const bool global = stats != nullptr && stats->documents > 0 && stats->total_length > 0;
  const double n = global ? static_cast<double>(stats->documents) : static_cast<double>(size());
  *avg_len = global ? static_cast<double>(stats->total_length) / n
                    : static_cast<double>(total_len_) / static_cast<double>(size());
  std::vector<QueryTerm> terms;
  for (const auto& [term, count] : query_terms) {
    auto it = term_ids_.find(term);
    if (it == term_ids_.end()) continue;
    const PostingList& list = lists_[it->second];
    if (list.postings.empty()) continue;
    double df = static_cast<double>(list.postings.size());
    if (global) {
      auto s = stats->doc_freq.find(term);
      if (s != stats->doc_freq.end()) df = std::max(df, static_cast<double>(s->second));
    }
    const double idf = std::log(1.0 + (std::max(n, df) - df + 0.5) / (df + 0.5));
    terms.push_back({&list, count * idf});
  }
  return terms;
}

float InvertedIndex::Contribution(const QueryTerm& term, const Posting& p,
                                  double avg_len) const {
  const double k1 = params_.k1, b = params_.b;
  const double tf = p.tf;
  const double norm = k1 * (1.0 - b + b * p.doc_len / avg_len);
  return static_cast<float>(term.weight * tf * (k1 + 1.0) / (tf + norm));
}

double InvertedIndex::MaxImpact(const QueryTerm& term, double avg_len) const {
  const double k1 = params_.k1, b = params_.b;
  const double tf = term.list->max_tf;
  const double norm = k1 * (1.0 - b + b * term.list->min_len / avg_len);
  // The inflation covers float rounding of each contribution (2^-24 relative).
  return term.weight * tf * (k1 + 1.0) / (tf + norm) * (1.0 + 1e-6);
}

Result<InvertedIndex::Hits> InvertedIndex::SearchExhaustive(
    std::string_view query, size_t k, const std::function<bool(uint32_t)>* filter,
    const CorpusStats* stats) const {
  double avg_len = 0;
  SEXTANT_ASSIGN_OR_RETURN(std::vector<QueryTerm> terms, PrepareQuery(query, k, stats, &avg_len));
  Hits hits;
  if (terms.empty()) return hits;

  std::unordered_map<uint32_t, double> acc;
  for (const QueryTerm& term : terms) {
    for (const Posting& p : term.list->postings) acc[p.doc] += Contribution(term, p, avg_len);
  }
  for (const auto& [doc, score] : acc) {
    if (filter != nullptr && !(*filter)(doc)) continue;
    hits.emplace_back(doc, static_cast<float>(score));
  }
  const size_t n = std::min(k, hits.size());
  std::partial_sort(hits.begin(), hits.begin() + n, hits.end(), Better);
  hits.resize(n);
  return hits;
}

// MaxScore (Turtle & Flood 1995), document at a time. Terms are sorted by max impact; the
// longest prefix whose impacts sum to at most the current k-th score is "non-essential": a
// document found only in those lists cannot enter the top k, so candidates come from the
// essential lists alone, and non-essential lists are only probed (binary search) while the
// candidate's score plus their remaining bounds could still beat the k-th score.
Result<InvertedIndex::Hits> InvertedIndex::Search(
    std::string_view query, size_t k, const std::function<bool(uint32_t)>* filter,
    const CorpusStats* stats) const {
  double avg_len = 0;
  SEXTANT_ASSIGN_OR_RETURN(std::vector<QueryTerm> terms, PrepareQuery(query, k, stats, &avg_len));
  Hits hits;
  if (terms.empty()) return hits;

  struct Cursor {
    const QueryTerm* term;
    const Posting* pos;
    const Posting* end;
    double max_impact;
  };
  std::vector<Cursor> cursors;
  for (const QueryTerm& t : terms) {
    const auto& v = t.list->postings;
    cursors.push_back({&t, v.data(), v.data() + v.size(), MaxImpact(t, avg_len)});
  }
  std::sort(cursors.begin(), cursors.end(),
            [](const Cursor& a, const Cursor& b) { return a.max_impact < b.max_impact; });
  const size_t n = cursors.size();
  std::vector<double> prefix_bound(n);  // sum of max impacts of cursors [0, i]
  double sum = 0;
  for (size_t i = 0; i < n; ++i) prefix_bound[i] = sum += cursors[i].max_impact;

  // Min-heap on Better: top() is the worst of the current top k.
  std::priority_queue<Hit, std::vector<Hit>, decltype(&Better)> heap(Better);
  double threshold = -std::numeric_limits<double>::infinity();
  size_t first_essential = 0;

  constexpr uint32_t kEnd = std::numeric_limits<uint32_t>::max();
  while (first_essential < n) {
    // Next candidate: the smallest doc among essential cursors. kEnd is a sentinel only;
    // a real doc kEnd is detected via the cursor positions below.
    uint32_t doc = kEnd;
    bool any = false;
    for (size_t i = first_essential; i < n; ++i) {
      if (cursors[i].pos != cursors[i].end) {
        doc = std::min(doc, cursors[i].pos->doc);
        any = true;
      }
    }
    if (!any) break;

    const bool accepted = filter == nullptr || (*filter)(doc);
    double score = 0;
    for (size_t i = first_essential; i < n; ++i) {
      Cursor& c = cursors[i];
      if (c.pos != c.end && c.pos->doc == doc) {
        if (accepted) score += Contribution(*c.term, *c.pos, avg_len);
        ++c.pos;
      }
    }
    if (!accepted) continue;

    // Probe non-essential lists from the largest bound down, while they could still matter.
    for (size_t i = first_essential; i-- > 0;) {
      if (score + prefix_bound[i] <= threshold) break;
      Cursor& c = cursors[i];
      c.pos = std::lower_bound(c.pos, c.end, doc, PostingDocLess());
      if (c.pos != c.end && c.pos->doc == doc) score += Contribution(*c.term, *c.pos, avg_len);
    }

    const Hit hit(doc, static_cast<float>(score));
    if (heap.size() < k) {
      heap.push(hit);
    } else if (Better(hit, heap.top())) {
      heap.pop();
      heap.push(hit);
    } else {
      continue;
    }
    if (heap.size() == k) {
      threshold = heap.top().second;
      while (first_essential < n && prefix_bound[first_essential] <= threshold) {
        ++first_essential;
      }
    }
  }

  hits.reserve(heap.size());
  while (!heap.empty()) {
    hits.push_back(heap.top());
    heap.pop();
  }
  std::reverse(hits.begin(), hits.end());
  return hits;
}

}  // namespace sextant::text
