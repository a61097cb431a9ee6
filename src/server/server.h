// `sextant serve`: the embedded database as an HTTP/JSON service (docs/openapi.json).
//
// Resources nest tenants -> databases -> collections. Each (tenant, database) is one
// sextant::Database opened on DATA/tenants/T/databases/D; "/v1/collections/..." is shorthand
// for tenant "default", database "default". Clients authenticate with
// "Authorization: Bearer KEY" (see key_store.h for roles and scopes); without an admin key
// file the server has no authentication and listens on loopback only.
//
// Every error is {"error": {"code": "...", "message": "..."}} with a fitting status; the
// mapping from sextant::Status lives in one place (HttpStatusFor). Writes are acknowledged
// only once durable (Durability::kSync), so a SIGKILL loses no acknowledged write.
//
// Thread-safety: Run blocks the calling thread and serves requests on a pool of threads;
// Shutdown may be called from any thread (e.g. a signal-waiting thread).
#pragma once

#include <cstddef>
#include <memory>
#include <optional>
#include <string>
#include <utility>
#include <vector>

#include "sextant/database.h"
#include "sextant/status.h"
#include "server/request_codec.h"

namespace sextant::server {

enum class LogLevel { kInfo, kWarn, kError, kOff };

class ClusterHook;  // server/cluster_hook.h

struct ServerOptions {
  std::string data_dir;              // created if missing
  std::string host = "127.0.0.1";
  int port = 8080;                   // 0: any free port (see Server::port())
  // Holds the bootstrap admin key (one line). Created with a new random key (mode 0600) when
  // the file does not exist. Absent: no authentication, loopback only.
  std::optional<std::string> admin_key_file;
  std::string tls_cert, tls_key;     // both or neither (PEM files)
  Limits limits;
  size_t threads = 64;               // connection threads (one per open keep-alive connection)
  size_t max_inflight = 0;           // handlers running at once; 0: 2 x hardware threads
  size_t max_queue = 1024;           // requests waiting for a slot; beyond it: 429
  int queue_timeout_ms = 10000;      // longest wait for a slot; then 503
  // Plain HTTP: from a request's first byte, reading its headers may take at most
  // header_timeout_ms and reading all of it (headers and body) read_timeout_s; past either the
  // client gets 408 and the connection closes. Writing a reply: write_timeout_s per write.
  int read_timeout_s = 30;
  int write_timeout_s = 30;
  int header_timeout_ms = 10000;
  // Plain HTTP: open connections from one client address; one more is answered 429 and closed.
  size_t max_connections_per_client = 256;
  // Per request, from the moment its body has been read: the wait for a slot and the work.
  // Past it the server answers 503 deadline_exceeded; a query is abandoned between segments,
  // a write that has not started is not applied (one that has started completes). 0: none.
  int handler_timeout_ms = 30000;
  // Plain HTTP: after a response the connection's thread spins this long for the client's
  // next request before sleeping (http_transport.h); at most half the hardware threads spin.
  // 0: sleep at once. Costs up to this much CPU per request when clients are slower.
  int busy_poll_us = 200;
  int test_handler_delay_ms = 0;     // tests only: each admitted request first sleeps this long
  int keep_alive_timeout_s = 5;
  LogLevel log_level = LogLevel::kInfo;  // JSON lines on stderr
  Durability durability = Durability::kSync;
  // A cluster node (`--cluster`, src/cluster): answers the collection routes and GET
  // /v1/cluster for the whole cluster once a request has passed authentication, authorization
  // and admission. Null: a single node.
  std::shared_ptr<ClusterHook> cluster;
};

// HTTP status for an error of the database (the one place this mapping lives):
// invalid_argument/out_of_range 422, not_found 404, already_exists and failed_precondition
// 409, resource_exhausted and deadline_exceeded 503, corruption/io_error/internal 500.
int HttpStatusFor(StatusCode code);

class ServerImpl;

class Server {
 public:
  // Opens every database under the data directory, loads the keys and binds the port.
  // Errors: InvalidArgument for bad options (a non-loopback host without an admin key file,
  // half a TLS pair), FailedPrecondition when the port cannot be bound or a database is
  // locked by another process, and what Database::Open reports.
  static Result<std::unique_ptr<Server>> Create(const ServerOptions& options);
  ~Server();

  int port() const;
  // Serves until Shutdown; returns after in-flight requests have been answered.
  Status Run();
  // Stops accepting connections and lets in-flight requests finish; idempotent.
  void Shutdown();

  // Every (method, path pattern) the server answers, in registration order; the OpenAPI
  // document lists exactly these.
  static std::vector<std::pair<std::string, std::string>> RouteTable();

 private:
  explicit Server(std::unique_ptr<ServerImpl> impl);
  std::unique_ptr<ServerImpl> impl_;
};

}  // namespace sextant::server
