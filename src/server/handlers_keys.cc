// Handlers of the API-key routes: create, list and revoke keys, each within the caller's scope.
#include "server/server_impl.h"

namespace sextant::server {
namespace {

using nlohmann::json;

json KeyToJson(const KeyRecord& k) {
  return {{"id", k.id}, {"role", RoleName(k.role)}, {"tenant", k.tenant ? json(*k.tenant) : json()},
          {"database", k.database ? json(*k.database) : json()}, {"created", k.created_unix}};
}

// Whether a key scoped to (tenant, database) lies within the principal's own scope.
bool KeyWithinScope(const Principal& p, const std::optional<std::string>& tenant,
                    const std::optional<std::string>& database) {
  if (p.tenant && (!tenant || *tenant != *p.tenant)) return false;
  if (p.database && (!database || *database != *p.database)) return false;
  return true;
}

}  // namespace

Reply ServerImpl::CreateKey(RequestContext& ctx) {
  SX_PARSE(KeySpec spec, ParseKeySpec(ctx.body));
  if (!KeyWithinScope(ctx.principal, spec.tenant, spec.database)) {
    return Error(403, "permission_denied", "a scoped admin key can only create keys within its own scope");
  }
  SX_TRY(auto created, keys_->Create(*RoleFromName(spec.role), spec.tenant, spec.database));
  json j = KeyToJson(created.first);
  j["key"] = created.second;
  log_.Write(LogLevel::kInfo, {{"msg", "key created"}, {"key", created.first.id}, {"by", ctx.principal.key_id},
                               {"role", spec.role}});
  return Reply{201, j};
}

Reply ServerImpl::ListKeys(RequestContext& ctx) {
  json keys = json::array();
  for (const KeyRecord& k : keys_->List()) {
    if (KeyWithinScope(ctx.principal, k.tenant, k.database)) keys.push_back(KeyToJson(k));
  }
  return Reply{200, {{"keys", keys}}};
}

Reply ServerImpl::RevokeKey(RequestContext& ctx) {
  const std::string& id = ctx.params["key_id"];
  auto record = keys_->Find(id);
  if (!record || !KeyWithinScope(ctx.principal, record->tenant, record->database)) {
    if (id == "admin") return FromStatus(keys_->Revoke(id));
    return Error(404, "not_found", "no key with id '" + id + "'");
  }
  SX_TRY_STATUS(keys_->Revoke(id));
  log_.Write(LogLevel::kInfo, {{"msg", "key revoked"}, {"key", id}, {"by", ctx.principal.key_id}});
  return Reply{200, {{"revoked", id}}};
}

}  // namespace sextant::server
