// Handlers of the collection routes: collections, their points, counts, scrolls and queries.
// Each holds the collection it works on by its handle, so a drop (or a restore under the same
// name) may run at the same time: the handle then answers NotFound, never another collection.
#include "codec/collection_json.h"
#include "codec/point_json.h"
#include "server/server_impl.h"

namespace sextant::server {
namespace {

using nlohmann::json;

json ConfigToJson(const CollectionConfig& c) { return codec::CollectionConfigToJson(c, codec::ConfigForm::kReply); }

}  // namespace

Result<std::shared_ptr<Collection>> ServerImpl::GetCollection(RequestContext& ctx) {
  return ctx.entry->db->GetCollection(ctx.params["collection"]);
}

Reply ServerImpl::ListCollections(RequestContext& ctx) {
  json out = json::array();
  for (const CollectionConfig& c : ctx.entry->db->ListCollections()) {
    json j = ConfigToJson(c);
    auto col = ctx.entry->db->GetCollection(c.name);
    if (col.ok()) j["points"] = (*col)->Stats().points;
    out.push_back(std::move(j));
  }
  json reply = {{"collections", out}};
  // Collections on disk that could not be opened (damaged files): listed, never served.
  for (const auto& [name, why] : ctx.entry->db->BrokenCollections()) {
    reply["broken"].push_back({{"name", name}, {"error", why.ToString()}});
  }
  return Reply{200, reply};
}

Reply ServerImpl::PutCollection(RequestContext& ctx) {
  SX_PARSE(CollectionSpec spec, ParseCollectionSpec(ctx.body, options_.limits));
  spec.config.name = ctx.params["collection"];
  auto created = ctx.entry->db->CreateCollection(spec.config);
  if (!created.ok() && created.status().code() == StatusCode::kAlreadyExists) {
    // Idempotent PUT: the same definition again is fine, a different one is a conflict.
    auto existing = ctx.entry->db->GetCollection(spec.config.name);
    if (existing.ok()) {
      const CollectionConfig& c = (*existing)->config();
      // What a definition with an embedding model leaves out, the create filled in from the
      // model (the dimension, the hybrid fusion weight): the same definition asks for those.
      CollectionConfig asked = spec.config;
      // A definition without metadata matches whatever metadata the collection has now.
      if (asked.metadata.empty()) asked.metadata = c.metadata;
      if (asked.embedding && c.embedding) {
        if (asked.dimension == 0) asked.dimension = c.dimension;
        if (!asked.embedding->hybrid_alpha) asked.embedding->hybrid_alpha = c.embedding->hybrid_alpha;
      }
      // Every setting, defaults included (the stored form has them all).
      if (codec::CollectionConfigToJson(c, codec::ConfigForm::kStored) ==
          codec::CollectionConfigToJson(asked, codec::ConfigForm::kStored)) {
        json j = ConfigToJson(c);
        j["created"] = false;
        return Reply{200, j};
      }
    }
    return Error(409, "already_exists", "collection '" + spec.config.name +
                                            "' already exists with a different definition");
  }
  if (!created.ok()) return FromStatus(created.status());
  json j = ConfigToJson((*created)->config());
  j["created"] = true;
  return Reply{201, j};
}

Reply ServerImpl::GetCollectionInfo(RequestContext& ctx) {
  SX_TRY(std::shared_ptr<Collection> col, GetCollection(ctx));
  json j = ConfigToJson(col->config());
  j["stats"] = codec::StatsToJson(col->Stats());
  return Reply{200, j};
}

Reply ServerImpl::PatchCollection(RequestContext& ctx) {
  SX_TRY(std::shared_ptr<Collection> col, GetCollection(ctx));
  SX_PARSE(json metadata, ParseCollectionPatch(ctx.body));
  SX_TRY_STATUS(col->SetMetadata(metadata));
  return Reply{200, ConfigToJson(col->config())};
}

Reply ServerImpl::DropCollection(RequestContext& ctx) {
  SX_TRY_STATUS(ctx.entry->db->DropCollection(ctx.params["collection"]));
  return Reply{200, {{"dropped", ctx.params["collection"]}}};
}

Reply ServerImpl::Upsert(RequestContext& ctx) {
  SX_TRY(std::shared_ptr<Collection> col, GetCollection(ctx));
  SX_PARSE(std::vector<Point> points, ParseUpsertBody(ctx.raw_body, options_.limits));
  SX_TRY(size_t n, col->Upsert(points));
  return Reply{200, {{"acked", n}}};
}

Reply ServerImpl::DeletePoints(RequestContext& ctx) {
  SX_TRY(std::shared_ptr<Collection> col, GetCollection(ctx));
  SX_PARSE(DeleteSpec spec, ParseDelete(ctx.body, options_.limits));
  size_t n = 0;
  if (spec.filter) {
    SX_TRY(n, col->DeleteByFilter(*spec.filter));
  } else {
    SX_TRY(n, col->Delete(spec.ids));
  }
  return Reply{200, {{"deleted", n}}};
}

Reply ServerImpl::GetPoint(RequestContext& ctx) {
  SX_TRY(std::shared_ptr<Collection> col, GetCollection(ctx));
  const bool with_vector = ctx.query["vector"] != "false";
  const std::string& id = ctx.params["id"];
  SX_TRY(auto points, col->Get(std::span<const std::string>(&id, 1), with_vector));
  if (points.empty()) return Error(404, "not_found", "no point '" + id.substr(0, 200) + "'");
  return Reply{200, codec::PointToJson(points[0], with_vector)};
}

Reply ServerImpl::GetPoints(RequestContext& ctx) {
  SX_TRY(std::shared_ptr<Collection> col, GetCollection(ctx));
  SX_PARSE(GetPointsSpec spec, ParseGetPoints(ctx.body, options_.limits));
  SX_TRY(auto points, col->Get(spec.ids, spec.vectors));
  json out = json::array();
  for (const Point& p : points) out.push_back(codec::PointToJson(p, spec.vectors));
  return Reply{200, {{"points", std::move(out)}}};
}

Reply ServerImpl::PatchPoint(RequestContext& ctx) {
  SX_TRY(std::shared_ptr<Collection> col, GetCollection(ctx));
  SX_PARSE(MetadataPatch patch, ParseMetadataPatch(ctx.body));
  SX_TRY_STATUS(col->UpdateMetadata(ctx.params["id"], patch.metadata, patch.merge));
  return Reply{200, {{"updated", ctx.params["id"]}}};
}

Reply ServerImpl::DeletePoint(RequestContext& ctx) {
  SX_TRY(std::shared_ptr<Collection> col, GetCollection(ctx));
  const std::string& id = ctx.params["id"];
  SX_TRY(size_t n, col->Delete(std::span<const std::string>(&id, 1)));
  if (n == 0) return Error(404, "not_found", "no point '" + id.substr(0, 200) + "'");
  return Reply{200, {{"deleted", n}}};
}

Reply ServerImpl::Count(RequestContext& ctx) {
  SX_TRY(std::shared_ptr<Collection> col, GetCollection(ctx));
  SX_PARSE(std::optional<json> filter, ParseCount(ctx.body));
  SX_TRY(size_t n, col->Count(filter));
  return Reply{200, {{"count", n}}};
}

Reply ServerImpl::Scroll(RequestContext& ctx) {
  SX_TRY(std::shared_ptr<Collection> col, GetCollection(ctx));
  SX_PARSE(ScrollSpec spec, ParseScroll(ctx.body, options_.limits));
  SX_TRY(ScrollPage page, col->Scroll(spec.after, spec.limit, spec.filter, spec.vectors));
  json points = json::array();
  for (const Point& p : page.points) points.push_back(codec::PointToJson(p, spec.vectors));
  return Reply{200, {{"points", points}, {"next", page.next ? json(*page.next) : json()}}};
}

Reply ServerImpl::Query(RequestContext& ctx) {
  SX_TRY(std::shared_ptr<Collection> col, GetCollection(ctx));
  SX_PARSE(QueryRequest q, ParseQueryBody(ctx.raw_body, options_.limits));
  if (ctx.deadline && (!q.deadline || *ctx.deadline < *q.deadline)) q.deadline = ctx.deadline;
  SX_TRY(std::vector<QueryHit> hits, col->Query(q));
  json results = json::array();
  for (const QueryHit& h : hits) results.push_back(codec::HitToJson(h));
  return Reply{200, {{"results", std::move(results)}}};
}

}  // namespace sextant::server
