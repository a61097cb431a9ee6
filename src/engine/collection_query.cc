// CollectionImpl's read side: reading points back (get, count, scroll), filters, and the query
// path — vector search through the segments, BM25, and their fusion for hybrid queries.
#include <algorithm>
#include <chrono>
#include <unordered_set>

#include "engine/collection_impl.h"
#include "engine/point_validation.h"

namespace sextant {
namespace engine {
namespace {

constexpr size_t kMaxK = 10000;

Status CheckDeadline(const QueryRequest& q, const char* when) {
  if (q.deadline && std::chrono::steady_clock::now() > *q.deadline) {
    return Status::DeadlineExceeded(std::string("the query's deadline passed ") + when);
  }
  return Status::OK();
}

// How many hits each side of a text query contributes: more than k for hybrid queries, so that
// fusion can promote what both sides agree on; k for keyword-only ones.
size_t SideDepth(const QueryRequest& q) {
  return q.vector.empty() ? q.k : std::max<size_t>(4 * q.k, 50);
}

// The explain of a fused hit (HybridQuery, FuseSides). `text_list`: the keyword side's index in
// the fused lists (the vector side is list 0 when `hybrid`).
nlohmann::json FusedExplain(const text::FusedHit& h, size_t text_list, bool hybrid, const QueryRequest& q,
                            text::FusionMethod method, nlohmann::json matched_terms) {
  nlohmann::json e = nlohmann::json::object();
  if (h.ranks[text_list]) {
    e["bm25"] = *h.scores[text_list];
    e["text_rank"] = *h.ranks[text_list];
  } else {
    e["bm25"] = 0.0;
    e["text_rank"] = nullptr;
  }
  e["matched_terms"] = std::move(matched_terms);
  if (hybrid) {
    e["vector_distance"] = h.scores[0] ? nlohmann::json(*h.scores[0]) : nlohmann::json();
    e["vector_rank"] = h.ranks[0] ? nlohmann::json(*h.ranks[0]) : nlohmann::json();
    e["fused_score"] = h.score;
    e["fusion"] = q.fusion.empty() ? "rrf" : q.fusion;
    if (q.alpha && method == text::FusionMethod::kWeighted) e["alpha"] = *q.alpha;
  }
  return e;
}

std::optional<text::CorpusStats> ToCorpusStats(const std::optional<TextStats>& s) {
  if (!s) return std::nullopt;
  text::CorpusStats out;
  out.documents = s->documents;
  out.total_length = s->total_length;
  out.doc_freq.insert(s->document_frequency.begin(), s->document_frequency.end());
  return out;
}

}  // namespace

Point CollectionImpl::MakePoint(uint32_t internal, bool include_vector) const {
  const Record& r = *records_[internal];
  Point p;
  p.id = r.id;
  p.document = r.document;
  p.metadata = r.metadata;
  if (include_vector && vectors_) {
    auto v = vectors_->GetVector(internal);
    if (v.ok()) {
      p.vector = std::move(v).value();
      if (config_.metric == Metric::kCosine) {
        for (float& x : p.vector) x *= r.norm;  // stored normalised; give back the original
      }
    }
  }
  return p;
}

Result<std::vector<Point>> CollectionImpl::Get(std::span<const std::string> ids,
                                               bool include_vector) const {
  SEXTANT_RETURN_IF_ERROR(CheckOpen());
  std::shared_lock<std::shared_mutex> r(state_mu_);
  std::vector<Point> out;
  for (const auto& id : ids) {
    auto it = ids_.find(id);
    if (it != ids_.end()) out.push_back(MakePoint(it->second, include_vector));
  }
  return out;
}

Result<size_t> CollectionImpl::Count(const std::optional<nlohmann::json>& filter) const {
  SEXTANT_RETURN_IF_ERROR(CheckOpen());
  std::optional<filter::Filter> f;
  if (filter) {
    SEXTANT_ASSIGN_OR_RETURN(f, ParseFilter(*filter));
  }
  std::shared_lock<std::shared_mutex> r(state_mu_);
  if (!f) return ids_.size();
  return static_cast<size_t>(Matching(*f).cardinality());
}

Result<ScrollPage> CollectionImpl::Scroll(const std::string& after, size_t limit,
                                          const std::optional<nlohmann::json>& filter,
                                          bool include_vector) const {
  SEXTANT_RETURN_IF_ERROR(CheckOpen());
  if (limit == 0) return Status::InvalidArgument("limit must be at least 1");
  std::optional<filter::Filter> f;
  if (filter) {
    SEXTANT_ASSIGN_OR_RETURN(f, ParseFilter(*filter));
  }
  std::shared_lock<std::shared_mutex> r(state_mu_);
  std::optional<roaring::Roaring> pass;
  if (f) pass = Matching(*f);
  ScrollPage page;
  auto it = after.empty() ? ids_.begin() : ids_.upper_bound(after);
  for (; it != ids_.end(); ++it) {
    if (pass && !pass->contains(it->second)) continue;
    if (page.points.size() == limit) {
      page.next = page.points.back().id;
      break;
    }
    page.points.push_back(MakePoint(it->second, include_vector));
  }
  return page;
}

Result<std::vector<QueryHit>> CollectionImpl::Query(const QueryRequest& request) const {
  SEXTANT_RETURN_IF_ERROR(CheckOpen());
  // The mode decides which sides run; a text searched by meaning is embedded here, before any
  // lock, and the rest of the query is a vector (and maybe keyword) query like any other.
  SEXTANT_ASSIGN_OR_RETURN(QueryPlan plan, PlanQuery(request, config_.name, text_ != nullptr, embedder_.get()));
  SEXTANT_ASSIGN_OR_RETURN(std::vector<QueryHit> hits, Search(plan.Request(request)));
  if (plan.annotate) {
    for (QueryHit& h : hits) {
      if (h.explain) plan.Explain(*h.explain);
    }
  }
  return hits;
}

Result<TextStats> CollectionImpl::TextStatistics(std::string_view text) const {
  SEXTANT_RETURN_IF_ERROR(CheckOpen());
  SEXTANT_RETURN_IF_ERROR(CheckQueryText(text));
  std::shared_lock<std::shared_mutex> r(state_mu_);
  SEXTANT_ASSIGN_OR_RETURN(text::CorpusStats s, text_->Statistics(text));
  TextStats out;
  out.documents = s.documents;
  out.total_length = s.total_length;
  out.document_frequency.insert(s.doc_freq.begin(), s.doc_freq.end());
  return out;
}

Result<QuerySides> CollectionImpl::SearchSides(const QueryRequest& request) const {
  SEXTANT_RETURN_IF_ERROR(CheckOpen());
  if (embedder_) {
    return Status::InvalidArgument("collection '" + config_.name +
                                   "' has an embedding model: its queries' sides are not searched apart");
  }
  SEXTANT_ASSIGN_OR_RETURN(QueryPlan plan, PlanQuery(request, config_.name, text_ != nullptr, nullptr));
  if (!plan.keyword) return Status::InvalidArgument("a query without a keyword side (a text) has no sides to search");
  QuerySides sides;
  SEXTANT_RETURN_IF_ERROR(Search(request, &sides).status());
  return sides;
}

Status CollectionImpl::CheckQueryText(std::string_view text) const {
  if (!text_) {
    return Status::InvalidArgument("collection '" + config_.name +
                                   "' has no keyword index (create it with text enabled)");
  }
  if (text.find_first_not_of(" \t\r\n") == std::string::npos) {
    return Status::InvalidArgument("text query is empty");
  }
  if (const size_t at = InvalidUtf8At(text); at != std::string_view::npos) {
    return Status::InvalidArgument("text query is not valid UTF-8 at byte " + std::to_string(at));
  }
  return Status::OK();
}

Result<std::vector<QueryHit>> CollectionImpl::Search(const QueryRequest& q, QuerySides* sides) const {
  const bool want_vector = !q.vector.empty();
  const bool want_text = q.text.has_value();
  if (!want_vector && !want_text) {
    return Status::InvalidArgument("a query needs a vector, a text, or both");
  }
  if (want_vector) {
    if (config_.dimension == 0) {
      return Status::InvalidArgument("collection '" + config_.name +
                                     "' is text-only (dimension 0): query with text");
    }
    if (q.vector.size() != config_.dimension) {
      return Status::InvalidArgument("query vector has dimension " + std::to_string(q.vector.size()) +
                                     ", collection has " + std::to_string(config_.dimension));
    }
    SEXTANT_RETURN_IF_ERROR(CheckVectorValues(q.vector, config_.metric, "query"));
  }
  if (want_text) SEXTANT_RETURN_IF_ERROR(CheckQueryText(*q.text));
  if (q.k == 0 || q.k > kMaxK) {
    return Status::InvalidArgument("k must be in [1, " + std::to_string(kMaxK) + "], got " +
                                   std::to_string(q.k));
  }
  SEXTANT_ASSIGN_OR_RETURN(text::FusionMethod fusion, text::ParseFusionMethod(q.fusion.empty() ? "rrf" : q.fusion));
  if (q.alpha && !(*q.alpha >= 0.0 && *q.alpha <= 1.0)) {
    return Status::InvalidArgument("alpha must be in [0, 1], got " + std::to_string(*q.alpha));
  }
  std::optional<filter::Filter> f;
  if (q.filter) {
    SEXTANT_ASSIGN_OR_RETURN(f, ParseFilter(*q.filter));
  }

  std::shared_lock<std::shared_mutex> r(state_mu_);
  SEXTANT_RETURN_IF_ERROR(CheckDeadline(q, "before the search started"));
  if (ids_.empty()) return std::vector<QueryHit>{};
  std::optional<roaring::Roaring> pass;
  if (f) {
    pass = Matching(*f);
    if (pass->cardinality() == 0) return std::vector<QueryHit>{};
    SEXTANT_RETURN_IF_ERROR(CheckDeadline(q, "after evaluating the filter"));
  }
  if (want_text) return HybridQuery(q, fusion, pass ? &*pass : nullptr, sides);

  SEXTANT_ASSIGN_OR_RETURN(auto hits, VectorSearch(q, q.k, pass ? &*pass : nullptr));
  std::vector<QueryHit> out;
  out.reserve(hits.size());
  for (size_t i = 0; i < hits.size(); ++i) {
    const auto& h = hits[i];
    QueryHit hit = MakeHit(static_cast<uint32_t>(h.label), h.distance, q);
    if (q.explain) hit.explain = nlohmann::json{{"vector_distance", h.distance}, {"vector_rank", i + 1}};
    out.push_back(std::move(hit));
  }
  return out;
}

Result<std::vector<index::SearchHit>> CollectionImpl::VectorSearch(
    const QueryRequest& q, size_t k, const roaring::Roaring* pass) const {
  // The filter planner runs per segment (SegmentedIndex::Search).
  SegmentedIndex::QueryParams p;
  p.ef = std::max(q.ef > 0 ? q.ef : config_.hnsw.ef_search, k);
  p.nprobe = q.nprobe > 0 ? q.nprobe : config_.quantization.nprobe;
  p.rerank = q.rerank.value_or(config_.quantization.rerank);
  p.deadline = q.deadline;
  return vectors_->Search(q.vector, k, p, pass);
}

QueryHit CollectionImpl::MakeHit(uint32_t internal, float score, const QueryRequest& q) const {
  const Record& rec = *records_[internal];
  QueryHit hit;
  hit.id = rec.id;
  hit.score = score;
  if (q.include_document) hit.document = rec.document;
  if (q.include_metadata) hit.metadata = rec.metadata;
  if (q.include_vector && vectors_) hit.vector = MakePoint(internal, true).vector;
  return hit;
}

nlohmann::json CollectionImpl::MatchedTerms(uint32_t internal, const std::vector<std::string>& query_terms) const {
  nlohmann::json matched = nlohmann::json::array();
  const Record& rec = *records_[internal];
  if (!rec.document) return matched;
  auto doc_tokens = analyzer_->Analyze(*rec.document);
  if (!doc_tokens.ok()) return matched;
  std::unordered_set<std::string> in_doc;
  for (const auto& tok : *doc_tokens) in_doc.insert(tok.term);
  std::unordered_set<std::string> listed;
  for (const auto& term : query_terms) {
    if (in_doc.count(term) && listed.insert(term).second) matched.push_back(term);
  }
  return matched;
}

Result<std::vector<QueryHit>> CollectionImpl::HybridQuery(const QueryRequest& q,
                                                          text::FusionMethod method,
                                                          const roaring::Roaring* pass,
                                                          QuerySides* sides) const {
  const bool hybrid = !q.vector.empty();
  const size_t depth = SideDepth(q);
  std::function<bool(uint32_t)> accept = [pass](uint32_t id) { return pass->contains(id); };
  const std::optional<text::CorpusStats> stats = ToCorpusStats(q.text_stats);
  SEXTANT_ASSIGN_OR_RETURN(text::InvertedIndex::Hits text_hits,
                           text_->Search(*q.text, depth, pass ? &accept : nullptr, stats ? &*stats : nullptr));
  std::vector<text::RankedList> lists;
  if (hybrid) {
    SEXTANT_RETURN_IF_ERROR(CheckDeadline(q, "after the keyword search"));
    SEXTANT_ASSIGN_OR_RETURN(auto vector_hits, VectorSearch(q, depth, pass));
    text::RankedList v;
    v.higher_is_better = false;
    v.weight = static_cast<float>(q.vector_weight);
    for (const auto& h : vector_hits) v.hits.push_back({static_cast<uint32_t>(h.label), h.distance});
    lists.push_back(std::move(v));
  }
  text::RankedList t;
  t.weight = static_cast<float>(q.text_weight);
  t.hits = std::move(text_hits);
  lists.push_back(std::move(t));

  std::vector<std::string> query_terms;
  if (q.explain) {
    auto tokens = analyzer_->Analyze(*q.text);
    if (tokens.ok()) {
      for (const auto& tok : *tokens) query_terms.push_back(tok.term);
    }
  }
  if (sides) {  // unfused, for a caller that fuses sides from several collections (FuseSides)
    for (size_t l = 0; l < lists.size(); ++l) {
      auto& out = hybrid && l == 0 ? sides->vector : sides->text;
      for (const auto& [doc, score] : lists[l].hits) {
        QueryHit hit = MakeHit(doc, score, q);
        if (q.explain) hit.explain = nlohmann::json{{"matched_terms", MatchedTerms(doc, query_terms)}};
        out.push_back(std::move(hit));
      }
    }
    return std::vector<QueryHit>{};
  }

  text::FusionOptions options{method, q.rrf_k, q.alpha};
  SEXTANT_ASSIGN_OR_RETURN(auto fused, text::Fuse(lists, options, q.k));
  const size_t text_list = lists.size() - 1;
  std::vector<QueryHit> out;
  for (const text::FusedHit& h : fused) {
    // Text-only: the BM25 score itself; hybrid: the fused score (both larger-is-better).
    QueryHit hit = MakeHit(h.doc, hybrid ? static_cast<float>(h.score) : *h.scores[text_list], q);
    if (q.explain) hit.explain = FusedExplain(h, text_list, hybrid, q, method, MatchedTerms(h.doc, query_terms));
    out.push_back(std::move(hit));
  }
  return out;
}

}  // namespace engine

Result<std::vector<QueryHit>> FuseSides(const QueryRequest& q, QuerySides sides) {
  SEXTANT_ASSIGN_OR_RETURN(text::FusionMethod method, text::ParseFusionMethod(q.fusion.empty() ? "rrf" : q.fusion));
  const bool hybrid = !q.vector.empty();
  const size_t depth = engine::SideDepth(q);
  // Each list in its order (equal scores by id), without repeats, cut to the depth.
  auto prepare = [depth](std::vector<QueryHit>& list, bool ascending) {
    std::sort(list.begin(), list.end(), [ascending](const QueryHit& a, const QueryHit& b) {
      if (a.score != b.score) return ascending ? a.score < b.score : a.score > b.score;
      return a.id < b.id;
    });
    std::unordered_set<std::string_view> seen;
    size_t kept = 0;
    for (size_t i = 0; i < list.size() && kept < depth; ++i) {
      if (!seen.insert(list[i].id).second) continue;
      if (kept != i) list[kept] = std::move(list[i]);
      ++kept;
    }
    list.resize(std::min(kept, list.size()));
  };
  prepare(sides.vector, true);
  prepare(sides.text, false);
  if (!hybrid) sides.vector.clear();

  // Documents numbered in id order: Fuse ranks equal fused scores by number, hence by id.
  std::vector<const QueryHit*> docs;
  for (const auto* list : {&sides.text, &sides.vector}) {
    for (const QueryHit& h : *list) docs.push_back(&h);  // the text side's copy first
  }
  std::stable_sort(docs.begin(), docs.end(), [](const QueryHit* a, const QueryHit* b) { return a->id < b->id; });
  docs.erase(std::unique(docs.begin(), docs.end(), [](const QueryHit* a, const QueryHit* b) { return a->id == b->id; }),
             docs.end());
  auto number = [&docs](const QueryHit& h) {
    return static_cast<uint32_t>(std::lower_bound(docs.begin(), docs.end(), h.id,
                                                  [](const QueryHit* d, const std::string& id) { return d->id < id; }) -
                                 docs.begin());
  };
  std::vector<text::RankedList> lists;
  if (hybrid) {
    text::RankedList v;
    v.higher_is_better = false;
    v.weight = static_cast<float>(q.vector_weight);
    for (const QueryHit& h : sides.vector) v.hits.push_back({number(h), h.score});
    lists.push_back(std::move(v));
  }
  text::RankedList t;
  t.weight = static_cast<float>(q.text_weight);
  for (const QueryHit& h : sides.text) t.hits.push_back({number(h), h.score});
  lists.push_back(std::move(t));
  text::FusionOptions options{method, q.rrf_k, q.alpha};
  SEXTANT_ASSIGN_OR_RETURN(auto fused, text::Fuse(lists, options, q.k));

  const size_t text_list = lists.size() - 1;
  std::vector<QueryHit> out;
  for (const text::FusedHit& h : fused) {
    QueryHit hit = *docs[h.doc];
    hit.score = hybrid ? static_cast<float>(h.score) : *h.scores[text_list];
    if (q.explain) {
      nlohmann::json matched = nlohmann::json::array();
      if (hit.explain && hit.explain->contains("matched_terms")) matched = std::move((*hit.explain)["matched_terms"]);
      hit.explain = engine::FusedExplain(h, text_list, hybrid, q, method, std::move(matched));
      // As Query's explain on a collection without an embedding model (SearchSides' only kind).
      if (q.mode != QueryMode::kAuto) (*hit.explain)["mode"] = hybrid ? "hybrid" : "keyword";
    } else {
      hit.explain.reset();
    }
    out.push_back(std::move(hit));
  }
  return out;
}

}  // namespace sextant
