// ServerImpl, private to the server: its setup and request path (server.cc) and its handlers,
// grouped by resource in handlers_*.cc (named by the route table, routes.cc).
#pragma once

#include <atomic>
#include <chrono>
#include <cstdint>
#include <map>
#include <memory>
#include <mutex>
#include <optional>
#include <set>
#include <string>
#include <string_view>
#include <vector>

#include <nlohmann/json.hpp>

#include "server/access_log.h"
#include "server/admission.h"
#include "server/catalog.h"
#include "server/key_store.h"
#include "server/metrics.h"
#include "server/reply.h"
#include "server/router.h"
#include "server/routes.h"
#include "server/server.h"

namespace httplib {
struct Request;
struct Response;
class Server;
}  // namespace httplib

namespace sextant::embed {
class EmbeddingModel;
}  // namespace sextant::embed

namespace sextant::server {

// What a handler gets: the request's parameters, its caller and its body.
struct RequestContext {
  std::map<std::string, std::string> params;  // {name} -> decoded path segment
  std::map<std::string, std::string> query;   // the query string, decoded
  Principal principal;                        // non-public routes
  nlohmann::json body = nlohmann::json::object();  // Body::kJson
  std::string_view raw_body;                  // the body as received (Body::kRaw)
  std::string tenant, database;               // Scope::kTenant and kDatabase: the path's, or the defaults
  std::shared_ptr<DbEntry> entry;             // RouteSpec::in_database
  std::optional<std::chrono::steady_clock::time_point> deadline;  // ServerOptions::handler_timeout_ms
  std::string if_none_match;                  // the If-None-Match header (the console's files)
};

// The server behind sextant::server::Server (server.h), whose contracts its public methods keep.
class ServerImpl {
 public:
  explicit ServerImpl(ServerOptions options);
  ~ServerImpl();

  Status Init();
  Status Run();
  void Shutdown();
  int port() const { return port_; }

 private:
  friend std::vector<RouteSpec> Routes();
  using Clock = std::chrono::steady_clock;

  // Setup (server.cc).
  Result<std::optional<std::string>> LoadAdminKey();
  Status MakeHttpServer();
  Status Bind();

  // The request path (server.cc). Handle answers one request in named steps; a step that may
  // end the request early returns the reply that does so, nullopt to go on.
  struct Incoming {
    const httplib::Request& http;
    std::string_view path;          // the target up to '?'
    std::string_view query_string;  // the target after '?' (empty without one)
    std::string_view body;          // read by the caller
    bool body_too_large;            // the body was cut off at the size limit (the reply is 413)
    Clock::time_point start;
  };
  void Handle(const httplib::Request& req, std::string_view body, bool body_too_large, httplib::Response& res);
  Reply Process(const Incoming& in, RouteMatch& match, RequestContext& ctx);
  Reply NoRoute(const Incoming& in, const RouteMatch& match) const;
  std::optional<Reply> Authenticate(const RouteSpec& route, const Incoming& in, RequestContext& ctx) const;
  std::optional<Reply> Authorize(const RouteSpec& route, RequestContext& ctx) const;
  std::optional<Reply> CheckNames(const RequestContext& ctx) const;
  std::optional<Reply> Admit(const RouteSpec& route, const RequestContext& ctx, Limiter::Slot* slot);
  std::optional<Reply> ParseBody(const RouteSpec& route, const Incoming& in, RequestContext& ctx) const;
  std::optional<Reply> FindDatabase(const RouteSpec& route, RequestContext& ctx) const;
  void Send(const Reply& reply, const std::string& request_id, httplib::Response& res);
  void Record(const Incoming& in, const std::string& request_id, int route, const Reply& reply,
              const std::string& key_id);
  Reply BodyTooLarge() const;
  std::string RequestIdOf(const httplib::Request& req);
  std::string NewRequestId();

  // Helpers of the handlers.
  Result<std::shared_ptr<Collection>> GetCollection(RequestContext& ctx);

  // Handlers: handlers_system.cc.
  Reply Healthz(RequestContext&);
  Reply Readyz(RequestContext&);
  Reply Metrics(RequestContext&);
  Reply OpenApi(RequestContext&);
  // GET /v1/cluster without a cluster (a cluster node's hook answers it first).
  Reply ClusterStatus(RequestContext&);
  // handlers_keys.cc.
  Reply CreateKey(RequestContext&);
  Reply ListKeys(RequestContext&);
  Reply RevokeKey(RequestContext&);
  // handlers_tenants.cc: tenants and databases.
  Reply ListTenants(RequestContext&);
  Reply PutTenant(RequestContext&);
  Reply GetTenant(RequestContext&);
  Reply DeleteTenant(RequestContext&);
  Reply ListDatabases(RequestContext&);
  Reply PutDatabase(RequestContext&);
  Reply GetDatabase(RequestContext&);
  Reply DeleteDatabase(RequestContext&);
  // handlers_collections.cc: collections, points and queries.
  Reply ListCollections(RequestContext&);
  Reply PutCollection(RequestContext&);
  Reply GetCollectionInfo(RequestContext&);
  Reply PatchCollection(RequestContext&);
  Reply DropCollection(RequestContext&);
  Reply Upsert(RequestContext&);
  Reply DeletePoints(RequestContext&);
  Reply GetPoint(RequestContext&);
  Reply GetPoints(RequestContext&);
  Reply PatchPoint(RequestContext&);
  Reply DeletePoint(RequestContext&);
  Reply Count(RequestContext&);
  Reply Scroll(RequestContext&);
  Reply Query(RequestContext&);
  // handlers_snapshots.cc.
  Reply CreateSnapshot(RequestContext&);
  Reply ListSnapshots(RequestContext&);
  Reply DeleteSnapshot(RequestContext&);
  Reply RestoreSnapshot(RequestContext&);
  Reply DownloadSnapshot(RequestContext&);
  // handlers_embeddings.cc: OpenAI-compatible embeddings and the models that make them.
  Reply CreateEmbeddings(RequestContext&);
  Reply ListModels(RequestContext&);
  struct EmbeddingModels;
  static std::shared_ptr<EmbeddingModels> NewEmbeddingModels();
  // A built-in or pulled model by name (embed::LoadNamedModel), loaded once per server.
  Result<std::shared_ptr<const embed::EmbeddingModel>> LoadEmbeddingModel(const std::string& name);
  // handlers_console.cc: the web console's page and files, and what the caller's key may do.
  Reply ConsolePage(RequestContext&);
  Reply ConsoleFile(RequestContext&);
  Reply WhoAmI(RequestContext&);

  ServerOptions options_;
  std::vector<RouteSpec> routes_;
  Router router_;
  std::unique_ptr<HttpMetrics> metrics_;
  std::unique_ptr<Limiter> limiter_;
  std::shared_ptr<KeyStore> keys_;  // shared with a cluster node (ClusterHook::AttachKeyStore)
  bool auth_enabled_ = false;
  std::unique_ptr<httplib::Server> http_;
  int port_ = 0;
  // TLS (httplib's own listener, whose idle keep-alive connections would hold a stop for up
  // to the keep-alive timeout): the connections serving a request, by peer address and port,
  // from the request's head until its response has gone out. CloseIdleTlsConnections, after
  // the listener stops, ends every other connection to port_.
  std::mutex tls_busy_mu_;
  std::set<std::pair<std::string, int>> tls_busy_;
  void CloseIdleTlsConnections();
  std::atomic<bool> draining_{false};
  std::atomic<bool> ready_{false};
  std::atomic<int> run_phase_{0};  // 0 not started, 1 running, 2 returned

  std::unique_ptr<Catalog> catalog_;
  AccessLog log_;
  std::string request_id_prefix_;
  std::atomic<uint64_t> request_counter_{0};
  std::shared_ptr<EmbeddingModels> embedding_models_ = NewEmbeddingModels();
};

}  // namespace sextant::server
