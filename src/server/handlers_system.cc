// Handlers of the system routes: health and readiness probes, the OpenAPI document and the
// Prometheus metrics.

#include "server/server_impl.h"

namespace sextant::server {

// The OpenAPI document, embedded from docs/openapi.json at build time (openapi_embed.cc).
extern const char* const kOpenApiJson;

Reply ServerImpl::Healthz(RequestContext&) { return Reply{200, {{"status", "ok"}}}; }

// A cluster node's hook answers GET /v1/cluster before this (server/cluster_hook.h).
Reply ServerImpl::ClusterStatus(RequestContext&) {
  return Error(404, "not_found", "this server is not a cluster node (sextant serve --cluster ... --node-id ...)");
}

Reply ServerImpl::Readyz(RequestContext&) {
  if (draining_) return Error(503, "unavailable", "the server is shutting down");
  if (!ready_) return Error(503, "unavailable", "the server is starting");
  return Reply{200, {{"status", "ready"}}};
}

Reply ServerImpl::OpenApi(RequestContext&) {
  Reply r;
  r.raw = kOpenApiJson;
  r.raw_type = "application/json";
  return r;
}

Reply ServerImpl::Metrics(RequestContext&) {
  std::string out = metrics_->Render();
  const std::vector<std::shared_ptr<DbEntry>> entries = catalog_->Databases();
  struct Family {
    const char* name;
    const char* type;
    const char* help;
    double (*get)(const CollectionStats&);
  };
  static const Family kFamilies[] = {
      {"sextant_collection_points", "gauge", "Live points.", [](const CollectionStats& s) { return double(s.points); }},
      {"sextant_collection_memory_bytes", "gauge", "Memory held by indexes, points and metadata.",
       [](const CollectionStats& s) { return double(s.memory_bytes); }},
      {"sextant_collection_disk_bytes", "gauge", "Bytes of the collection's files.",
       [](const CollectionStats& s) { return double(s.disk_bytes); }},
      {"sextant_collection_segments", "gauge", "Vector segments.", [](const CollectionStats& s) { return double(s.segments); }},
      {"sextant_collection_unindexed_points", "gauge", "Points answered by exact scan until indexed.",
       [](const CollectionStats& s) { return double(s.unindexed_points); }},
      {"sextant_collection_deleted_pending", "gauge", "Deleted vectors awaiting a merge.",
       [](const CollectionStats& s) { return double(s.deleted_pending); }},
      {"sextant_collection_wal_bytes", "gauge", "Size of the current write-ahead log.",
       [](const CollectionStats& s) { return double(s.wal_bytes); }},
      {"sextant_collection_wal_records_total", "counter", "Log records appended since the server started.",
       [](const CollectionStats& s) { return double(s.wal_records); }},
      {"sextant_collection_checkpoints_total", "counter", "Checkpoints since the server started.",
       [](const CollectionStats& s) { return double(s.checkpoints); }},
      {"sextant_collection_segments_sealed_total", "counter", "Segments indexed in the background.",
       [](const CollectionStats& s) { return double(s.segments_sealed); }},
      {"sextant_collection_segments_merged_total", "counter", "Merges/compactions of sealed segments.",
       [](const CollectionStats& s) { return double(s.segments_merged); }},
      {"sextant_collection_index_errors_total", "counter", "Background builds that failed (and are retried).",
       [](const CollectionStats& s) { return double(s.index_errors); }},
      {"sextant_collection_write_stalls_total", "counter", "Writes that waited for the indexer to catch up.",
       [](const CollectionStats& s) { return double(s.write_stalls); }},
  };
  std::vector<std::pair<std::string, CollectionStats>> stats;
  for (const auto& e : entries) {
    for (const CollectionConfig& c : e->db->ListCollections()) {
      auto col = e->db->GetCollection(c.name);
      if (!col.ok()) continue;
      stats.emplace_back("tenant=\"" + EscapeLabel(e->tenant) + "\",database=\"" + EscapeLabel(e->name) +
                             "\",collection=\"" + EscapeLabel(c.name) + "\"",
                         (*col)->Stats());
    }
  }
  for (const Family& f : kFamilies) {
    AppendFamily(&out, f.name, f.type, f.help);
    for (const auto& [labels, s] : stats) AppendSample(&out, f.name, labels, f.get(s));
  }
  AppendFamily(&out, "sextant_databases", "gauge", "Open databases.");
  AppendSample(&out, "sextant_databases", "", static_cast<double>(entries.size()));
  AppendFamily(&out, "sextant_api_keys", "gauge", "API keys (the bootstrap admin key excluded).");
  AppendSample(&out, "sextant_api_keys", "", static_cast<double>(keys_->List().size()));
  Reply r;
  r.raw = std::move(out);
  r.raw_type = "text/plain; version=0.0.4";
  return r;
}

}  // namespace sextant::server
