// The route table of the HTTP server.
#include "server/routes.h"

#include "server/server_impl.h"

namespace sextant::server {

std::vector<RouteSpec> Routes() {
  using S = ServerImpl;
  std::vector<RouteSpec> routes = {
      {.method = "GET", .pattern = "/healthz", .handler = &S::Healthz, .admitted = false},
      {.method = "GET", .pattern = "/readyz", .handler = &S::Readyz, .admitted = false},
      {.method = "GET", .pattern = "/metrics", .handler = &S::Metrics, .scope = Scope::kGlobal, .admitted = false},
      {.method = "GET", .pattern = "/openapi.json", .handler = &S::OpenApi, .admitted = false},
      // The web console: its page and files need no key (the page asks for one).
      {.method = "GET", .pattern = "/console", .handler = &S::ConsolePage, .admitted = false},
      {.method = "GET", .pattern = "/console/{asset}", .handler = &S::ConsoleFile, .admitted = false},
      {.method = "POST", .pattern = "/v1/keys", .handler = &S::CreateKey, .role = Role::kAdmin,
       .scope = Scope::kAnyKey, .body = Body::kJson},
      {.method = "GET", .pattern = "/v1/keys", .handler = &S::ListKeys, .role = Role::kAdmin,
       .scope = Scope::kAnyKey},
      {.method = "DELETE", .pattern = "/v1/keys/{key_id}", .handler = &S::RevokeKey, .role = Role::kAdmin,
       .scope = Scope::kAnyKey},
      {.method = "GET", .pattern = "/v1/tenants", .handler = &S::ListTenants, .scope = Scope::kAnyKey},
      {.method = "PUT", .pattern = "/v1/tenants/{tenant}", .handler = &S::PutTenant, .role = Role::kAdmin,
       .scope = Scope::kGlobal, .body = Body::kJson},
      {.method = "GET", .pattern = "/v1/tenants/{tenant}", .handler = &S::GetTenant, .scope = Scope::kTenant},
      {.method = "DELETE", .pattern = "/v1/tenants/{tenant}", .handler = &S::DeleteTenant, .role = Role::kAdmin,
       .scope = Scope::kGlobal},
      {.method = "GET", .pattern = "/v1/tenants/{tenant}/databases", .handler = &S::ListDatabases,
       .scope = Scope::kTenant},
      {.method = "PUT", .pattern = "/v1/tenants/{tenant}/databases/{database}", .handler = &S::PutDatabase,
       .role = Role::kAdmin, .scope = Scope::kDatabase, .body = Body::kJson},
      {.method = "GET", .pattern = "/v1/tenants/{tenant}/databases/{database}", .handler = &S::GetDatabase,
       .scope = Scope::kDatabase, .in_database = true},
      // Only marks the database for deletion (the catalog closes it with its last user).
      {.method = "DELETE", .pattern = "/v1/tenants/{tenant}/databases/{database}", .handler = &S::DeleteDatabase,
       .role = Role::kAdmin, .scope = Scope::kDatabase, .in_database = true},
      // OpenAI-compatible embeddings with the built-in and pulled models: any valid key.
      {.method = "POST", .pattern = "/v1/embeddings", .handler = &S::CreateEmbeddings, .scope = Scope::kAnyKey,
       .body = Body::kJson},
      {.method = "GET", .pattern = "/v1/models", .handler = &S::ListModels, .scope = Scope::kAnyKey},
      // A cluster node's view of the cluster (src/cluster); 404 on a single node.
      {.method = "GET", .pattern = "/v1/cluster", .handler = &S::ClusterStatus, .scope = Scope::kAnyKey},
      {.method = "GET", .pattern = "/v1/whoami", .handler = &S::WhoAmI, .scope = Scope::kAnyKey},
  };
  // Routes inside one database (each finds it first), under the full prefix and the /v1
  // shorthand.
  const std::vector<RouteSpec> in_database = {
      {.method = "GET", .pattern = "/collections", .handler = &S::ListCollections, .scope = Scope::kDatabase},
      {.method = "PUT", .pattern = "/collections/{collection}", .handler = &S::PutCollection, .role = Role::kWriter,
       .scope = Scope::kDatabase, .body = Body::kJson},
      {.method = "GET", .pattern = "/collections/{collection}", .handler = &S::GetCollectionInfo,
       .scope = Scope::kDatabase},
      {.method = "PATCH", .pattern = "/collections/{collection}", .handler = &S::PatchCollection,
       .role = Role::kWriter, .scope = Scope::kDatabase, .body = Body::kJson},
      {.method = "DELETE", .pattern = "/collections/{collection}", .handler = &S::DropCollection,
       .role = Role::kWriter, .scope = Scope::kDatabase},
      {.method = "POST", .pattern = "/collections/{collection}/points", .handler = &S::Upsert,
       .role = Role::kWriter, .scope = Scope::kDatabase, .body = Body::kRaw},
      {.method = "DELETE", .pattern = "/collections/{collection}/points", .handler = &S::DeletePoints,
       .role = Role::kWriter, .scope = Scope::kDatabase, .body = Body::kJson},
      {.method = "POST", .pattern = "/collections/{collection}/points/delete", .handler = &S::DeletePoints,
       .role = Role::kWriter, .scope = Scope::kDatabase, .body = Body::kJson},
      {.method = "POST", .pattern = "/collections/{collection}/points/get", .handler = &S::GetPoints,
       .scope = Scope::kDatabase, .body = Body::kJson},
      {.method = "GET", .pattern = "/collections/{collection}/points/{id}", .handler = &S::GetPoint,
       .scope = Scope::kDatabase},
      {.method = "PATCH", .pattern = "/collections/{collection}/points/{id}", .handler = &S::PatchPoint,
       .role = Role::kWriter, .scope = Scope::kDatabase, .body = Body::kJson},
      {.method = "DELETE", .pattern = "/collections/{collection}/points/{id}", .handler = &S::DeletePoint,
       .role = Role::kWriter, .scope = Scope::kDatabase},
      {.method = "GET", .pattern = "/collections/{collection}/count", .handler = &S::Count, .scope = Scope::kDatabase},
      {.method = "POST", .pattern = "/collections/{collection}/count", .handler = &S::Count,
       .scope = Scope::kDatabase, .body = Body::kJson},
      {.method = "POST", .pattern = "/collections/{collection}/scroll", .handler = &S::Scroll,
       .scope = Scope::kDatabase, .body = Body::kJson},
      {.method = "POST", .pattern = "/collections/{collection}/query", .handler = &S::Query,
       .scope = Scope::kDatabase, .body = Body::kRaw},
      {.method = "POST", .pattern = "/collections/{collection}/snapshots", .handler = &S::CreateSnapshot,
       .role = Role::kAdmin, .scope = Scope::kDatabase, .body = Body::kJson},
      {.method = "GET", .pattern = "/snapshots", .handler = &S::ListSnapshots, .role = Role::kAdmin,
       .scope = Scope::kDatabase},
      {.method = "DELETE", .pattern = "/snapshots/{snapshot}", .handler = &S::DeleteSnapshot, .role = Role::kAdmin,
       .scope = Scope::kDatabase},
      {.method = "POST", .pattern = "/snapshots/{snapshot}/restore", .handler = &S::RestoreSnapshot,
       .role = Role::kAdmin, .scope = Scope::kDatabase, .body = Body::kJson},
      {.method = "GET", .pattern = "/snapshots/{snapshot}/archive", .handler = &S::DownloadSnapshot,
       .role = Role::kAdmin, .scope = Scope::kDatabase},
  };
  for (const char* prefix : {"/v1/tenants/{tenant}/databases/{database}", "/v1"}) {
    for (RouteSpec spec : in_database) {
      spec.pattern = prefix + spec.pattern;
      spec.in_database = true;
      routes.push_back(std::move(spec));
    }
  }
  return routes;
}

}  // namespace sextant::server
