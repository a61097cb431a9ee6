// The seam between the HTTP server and a cluster layer (src/cluster, `sextant serve
// --cluster`): after a request is authenticated, authorized, admitted and its body read, the
// server offers it to the hook, which answers the routes it owns (the collection, tenant and
// database routes and GET /v1/cluster) for the whole cluster and leaves the others (nullopt)
// to the local server. API keys stay with the server's KeyStore, which the cluster keeps in
// step with every node (AttachKeyStore).
#pragma once

#include <chrono>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <string_view>

#include <nlohmann/json.hpp>

#include "server/key_store.h"
#include "server/reply.h"

namespace sextant::server {

// One request as the server has read it. References stay valid for the call only.
struct ClusterRequest {
  const std::string& method;
  const std::string& pattern;                        // the matched route's pattern
  const std::map<std::string, std::string>& params;  // {name} -> decoded path segment
  const std::map<std::string, std::string>& query;   // the query string, decoded
  const nlohmann::json& body;                        // Body::kJson routes
  std::string_view raw_body;                         // Body::kRaw routes
  const std::string& tenant;                         // the path's, or "default"
  const std::string& database;
  std::optional<std::chrono::steady_clock::time_point> deadline;
  const Principal& principal;                        // who is calling (lists are filtered by scope)
};

// Thread-safety: Handle is called from many request threads at once.
class ClusterHook {
 public:
  virtual ~ClusterHook() = default;
  // The reply for a route the cluster owns; nullopt for the others.
  virtual std::optional<Reply> Handle(const ClusterRequest& request) = 0;
  // The server's API keys, given once when the server starts: the cluster keeps keys in its
  // own store (KeyStore::SetReplicator) and brings the other nodes' changes into this one.
  virtual void AttachKeyStore(std::shared_ptr<KeyStore> keys) = 0;
};

}  // namespace sextant::server
