// CollectionImpl's read side: reading points back (get, count, scroll), filters, and the query
// path — vector search through the segments, BM25, and their fusion for hybrid queries.
#include <algorithm>
#include <chrono>
#include <unordered_set>

#include "engine/collection_impl.h"
#include "engine/point_validation.h"

namespace sextant::engine {
namespace {

constexpr size_t kMaxK = 10000;

Status CheckDeadline(const QueryRequest& q, const char* when) {
  if (q.deadline && std::chrono::steady_clock::now() > *q.deadline) {
    return Status::DeadlineExceeded(std::string("the query's deadline passed ") + when);
  }
  return Status::OK();
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
  const bool has_vector = !request.vector.empty();
  const bool has_text = request.text.has_value();
  bool embed_text = false, keyword = has_text;
  const std::string no_model = "collection '" + config_.name + "' has no embedding model";
  switch (request.mode) {
    case QueryMode::kAuto:
      if (has_text && !has_vector && embedder_) {
        embed_text = true;
        keyword = text_ != nullptr;
      }
      break;
    case QueryMode::kKeyword:
      if (!has_text) return Status::InvalidArgument("mode keyword needs a text");
      if (has_vector) return Status::InvalidArgument("mode keyword takes a text, not a vector");
      break;
    case QueryMode::kSemantic:
      if (has_text && has_vector) return Status::InvalidArgument("mode semantic takes a text or a vector, not both");
      if (has_text && !embedder_) {
        return Status::InvalidArgument(no_model + ": mode semantic needs a vector (or a collection made with one)");
      }
      embed_text = has_text;
      keyword = false;
      break;
    case QueryMode::kHybrid:
      if (!has_text) return Status::InvalidArgument("mode hybrid needs a text");
      if (!text_) {
        return Status::InvalidArgument("collection '" + config_.name +
                                       "' has no keyword index: mode hybrid needs one (create it with text enabled)");
      }
      if (!has_vector && !embedder_) {
        return Status::InvalidArgument(no_model + ": mode hybrid needs a vector beside the text");
      }
      embed_text = !has_vector;
      break;
  }
  QueryRequest resolved;
  const QueryRequest* qp = &request;
  bool embedded = false;
  if (embed_text) {
    if (request.text->find_first_not_of(" \t\r\n") == std::string::npos) {
      return Status::InvalidArgument("text query is empty");
    }
    if (const size_t at = InvalidUtf8At(*request.text); at != std::string_view::npos) {
      return Status::InvalidArgument("text query is not valid UTF-8 at byte " + std::to_string(at));
    }
    const std::string_view text = *request.text;
    SEXTANT_ASSIGN_OR_RETURN(std::vector<float> v, embedder_->Embed(embed::TextKind::kQuery, {&text, 1}));
    resolved = request;
    const bool zero = std::all_of(v.begin(), v.end(), [](float x) { return x == 0.0f; });
    if (zero && !keyword) {
      return Status::InvalidArgument("the query text has no token embedding model '" + config_.embedding->model +
                                     "' knows: its embedding is zero, there is nothing to search by meaning");
    }
    if (!zero) {  // a zero embedding in a hybrid query: the keyword side alone answers
      resolved.vector = std::move(v);
      embedded = true;
      if (keyword && request.fusion.empty()) {  // the collection's way of fusing its two sides
        resolved.fusion = "weighted";
        if (!resolved.alpha) resolved.alpha = config_.embedding->hybrid_alpha.value_or(0.5);
      }
    }
    qp = &resolved;
  }
  if (!keyword && has_text) {
    if (qp != &resolved) {
      resolved = request;
      qp = &resolved;
    }
    resolved.text.reset();
  }
  const QueryRequest& q = *qp;
  SEXTANT_ASSIGN_OR_RETURN(std::vector<QueryHit> hits, Search(q));
  if (request.explain && (embedder_ || request.mode != QueryMode::kAuto)) {
    const char* mode = keyword && !q.vector.empty() ? "hybrid" : keyword ? "keyword" : "semantic";
    for (QueryHit& h : hits) {
      if (!h.explain) continue;
      (*h.explain)["mode"] = mode;
      if (embedded) (*h.explain)["embedded_query"] = true;
    }
  }
  return hits;
}

Result<std::vector<QueryHit>> CollectionImpl::Search(const QueryRequest& q) const {
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
  if (want_text) {
    if (!text_) {
      return Status::InvalidArgument("collection '" + config_.name +
                                     "' has no keyword index (create it with text enabled)");
    }
    if (q.text->find_first_not_of(" \t\r\n") == std::string::npos) {
      return Status::InvalidArgument("text query is empty");
    }
    if (const size_t at = InvalidUtf8At(*q.text); at != std::string_view::npos) {
      return Status::InvalidArgument("text query is not valid UTF-8 at byte " + std::to_string(at));
    }
  }
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
  if (want_text) return HybridQuery(q, fusion, pass ? &*pass : nullptr);

  SEXTANT_ASSIGN_OR_RETURN(auto hits, VectorSearch(q, q.k, pass ? &*pass : nullptr));
  std::vector<QueryHit> out;
  out.reserve(hits.size());
  for (size_t i = 0; i < hits.size(); ++i) {
    const auto& h = hits[i];
    const Record& rec = *records_[h.label];
    QueryHit hit;
    hit.id = rec.id;
    hit.score = h.distance;
    if (q.include_document) hit.document = rec.document;
    if (q.include_metadata) hit.metadata = rec.metadata;
    if (q.include_vector) hit.vector = MakePoint(static_cast<uint32_t>(h.label), true).vector;
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

Result<std::vector<QueryHit>> CollectionImpl::HybridQuery(const QueryRequest& q,
                                                          text::FusionMethod method,
                                                          const roaring::Roaring* pass) const {
  const bool hybrid = !q.vector.empty();
  // Each side contributes more candidates than k, so fusion can promote what both agree on.
  const size_t depth = hybrid ? std::max<size_t>(4 * q.k, 50) : q.k;
  std::function<bool(uint32_t)> accept = [pass](uint32_t id) { return pass->contains(id); };
  SEXTANT_ASSIGN_OR_RETURN(text::InvertedIndex::Hits text_hits,
                           text_->Search(*q.text, depth, pass ? &accept : nullptr));
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
  text::FusionOptions options{method, q.rrf_k, q.alpha};
  SEXTANT_ASSIGN_OR_RETURN(auto fused, text::Fuse(lists, options, q.k));

  std::vector<std::string> query_terms;
  if (q.explain) {
    auto tokens = analyzer_->Analyze(*q.text);
    if (tokens.ok()) {
      for (const auto& tok : *tokens) query_terms.push_back(tok.term);
    }
  }
  const size_t text_list = lists.size() - 1;
  std::vector<QueryHit> out;
  for (const text::FusedHit& h : fused) {
    const Record& rec = *records_[h.doc];
    QueryHit hit;
    hit.id = rec.id;
    // Text-only: the BM25 score itself; hybrid: the fused score (both larger-is-better).
    hit.score = hybrid ? static_cast<float>(h.score) : *h.scores[text_list];
    if (q.include_document) hit.document = rec.document;
    if (q.include_metadata) hit.metadata = rec.metadata;
    if (q.include_vector && vectors_) hit.vector = MakePoint(h.doc, true).vector;
    if (q.explain) {
      nlohmann::json e = nlohmann::json::object();
      if (h.ranks[text_list]) {
        e["bm25"] = *h.scores[text_list];
        e["text_rank"] = *h.ranks[text_list];
      } else {
        e["bm25"] = 0.0;
        e["text_rank"] = nullptr;
      }
      nlohmann::json matched = nlohmann::json::array();
      if (rec.document) {
        auto doc_tokens = analyzer_->Analyze(*rec.document);
        if (doc_tokens.ok()) {
          std::unordered_set<std::string> in_doc;
          for (const auto& tok : *doc_tokens) in_doc.insert(tok.term);
          std::unordered_set<std::string> listed;
          for (const auto& term : query_terms) {
            if (in_doc.count(term) && listed.insert(term).second) matched.push_back(term);
          }
        }
      }
      e["matched_terms"] = matched;
      if (hybrid) {
        e["vector_distance"] = h.scores[0] ? nlohmann::json(*h.scores[0]) : nlohmann::json();
        e["vector_rank"] = h.ranks[0] ? nlohmann::json(*h.ranks[0]) : nlohmann::json();
        e["fused_score"] = h.score;
        e["fusion"] = q.fusion.empty() ? "rrf" : q.fusion;
        if (q.alpha && method == text::FusionMethod::kWeighted) e["alpha"] = *q.alpha;
      }
      hit.explain = std::move(e);
    }
    out.push_back(std::move(hit));
  }
  return out;
}

}  // namespace sextant::engine
