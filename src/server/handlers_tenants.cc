// Handlers of the tenant and database routes; the catalog (catalog.h) does the work.
#include "server/server_impl.h"

namespace sextant::server {

using nlohmann::json;

Reply ServerImpl::ListTenants(RequestContext& ctx) {
  json out = json::array();
  for (const std::string& t : catalog_->ListTenants()) {
    if (ctx.principal.CoversTenant(t)) out.push_back({{"name", t}});
  }
  return Reply{200, {{"tenants", out}}};
}

Reply ServerImpl::PutTenant(RequestContext& ctx) {
  if (!ctx.body.empty() && !(ctx.body.is_object() && ctx.body.empty())) {
    return Error(400, "bad_request", "PUT of a tenant takes no fields");
  }
  const std::string& t = ctx.params["tenant"];
  SX_TRY(const bool created, catalog_->CreateTenant(t));
  return Reply{created ? 201 : 200, {{"name", t}, {"created", created}}};
}

Reply ServerImpl::GetTenant(RequestContext& ctx) {
  SX_TRY(const std::vector<std::string> databases, catalog_->ListDatabases(ctx.tenant));
  json dbs = json::array();
  for (const std::string& d : databases) {
    if (ctx.principal.CoversDatabase(ctx.tenant, d)) dbs.push_back(d);
  }
  return Reply{200, {{"name", ctx.tenant}, {"databases", dbs}}};
}

Reply ServerImpl::DeleteTenant(RequestContext& ctx) {
  const std::string& t = ctx.params["tenant"];
  bool in_use = false;
  if (Status st = catalog_->DeleteTenant(t, ctx.query["cascade"] == "true", &in_use); !st.ok()) {
    Reply r = FromStatus(st);
    if (in_use) r.headers.emplace_back("Retry-After", "1");
    return r;
  }
  return Reply{200, {{"deleted", t}}};
}

Reply ServerImpl::ListDatabases(RequestContext& ctx) {
  SX_TRY(const std::vector<std::string> databases, catalog_->ListDatabases(ctx.tenant));
  json out = json::array();
  for (const std::string& d : databases) {
    if (ctx.principal.CoversDatabase(ctx.tenant, d)) out.push_back({{"name", d}});
  }
  return Reply{200, {{"databases", out}}};
}

Reply ServerImpl::PutDatabase(RequestContext& ctx) {
  if (!(ctx.body.is_object() && ctx.body.empty())) {
    return Error(400, "bad_request", "PUT of a database takes no fields");
  }
  SX_TRY(const bool created, catalog_->CreateDatabase(ctx.tenant, ctx.database));
  return Reply{created ? 201 : 200, {{"name", ctx.database}, {"tenant", ctx.tenant}, {"created", created}}};
}

Reply ServerImpl::GetDatabase(RequestContext& ctx) {
  json cols = json::array();
  for (const CollectionConfig& c : ctx.entry->db->ListCollections()) cols.push_back(c.name);
  return Reply{200, {{"name", ctx.database}, {"tenant", ctx.tenant}, {"collections", cols}}};
}

Reply ServerImpl::DeleteDatabase(RequestContext& ctx) {
  SX_TRY_STATUS(catalog_->DeleteDatabase(ctx.tenant, ctx.database, ctx.query["cascade"] == "true"));
  return Reply{200, {{"deleted", ctx.database}, {"tenant", ctx.tenant}}};
}

}  // namespace sextant::server
