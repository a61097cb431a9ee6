// Handlers of the snapshot routes. Snapshots are kept by the catalog under the data
// directory (catalog.h), never at a path the client chooses.
#include "server/server_impl.h"
#include "server/snapshot_archive.h"

namespace sextant::server {

using nlohmann::json;

Reply ServerImpl::CreateSnapshot(RequestContext& ctx) {
  SX_TRY(std::shared_ptr<Collection> col, GetCollection(ctx));
  SX_PARSE(std::optional<std::string> name, ParseSnapshotCreate(ctx.body));
  if (!name) name = NewSnapshotName(col->config().name);
  SX_TRY(const std::string path, catalog_->NewSnapshotPath(ctx.tenant, ctx.database, *name));
  SX_TRY_STATUS(col->CreateSnapshot(path));
  return Reply{201, {{"snapshot", *name}, {"collection", col->config().name}}};
}

Reply ServerImpl::ListSnapshots(RequestContext& ctx) {
  json out = json::array();
  for (const std::string& s : catalog_->ListSnapshots(ctx.tenant, ctx.database)) out.push_back({{"name", s}});
  return Reply{200, {{"snapshots", out}}};
}

Reply ServerImpl::DeleteSnapshot(RequestContext& ctx) {
  SX_TRY_STATUS(catalog_->DeleteSnapshot(ctx.tenant, ctx.database, ctx.params["snapshot"]));
  return Reply{200, {{"deleted", ctx.params["snapshot"]}}};
}

Reply ServerImpl::RestoreSnapshot(RequestContext& ctx) {
  SX_TRY(const std::string path, catalog_->SnapshotPath(ctx.tenant, ctx.database, ctx.params["snapshot"]));
  SX_PARSE(std::string name, ParseSnapshotRestore(ctx.body));
  SX_TRY(std::shared_ptr<Collection> col, ctx.entry->db->RestoreSnapshot(path, name));
  SX_TRY(size_t n, col->Count());
  return Reply{201, {{"restored", name}, {"count", n}}};
}

// The snapshot as a tar archive (its directory as `restore` reads it), for the console's
// download and for moving a snapshot to another server's data directory.
Reply ServerImpl::DownloadSnapshot(RequestContext& ctx) {
  const std::string& name = ctx.params["snapshot"];
  SX_TRY(const std::string path, catalog_->SnapshotPath(ctx.tenant, ctx.database, name));
  return SnapshotArchiveReply(path, name);
}

}  // namespace sextant::server
