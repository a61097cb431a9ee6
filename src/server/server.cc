#include "server/server.h"

#include <sys/socket.h>
#include <sys/stat.h>

#include <algorithm>
#include <atomic>
#include <cerrno>
#include <cmath>
#include <chrono>
#include <condition_variable>
#include <cstdio>
#include <cstring>
#include <ctime>
#include <filesystem>
#include <fstream>
#include <functional>
#include <map>
#include <mutex>
#include <set>
#include <shared_mutex>
#include <sstream>
#include <thread>

#include <httplib.h>
#include <nlohmann/json.hpp>

#include "codec/collection_json.h"
#include "codec/point_json.h"
#include "server/http_transport.h"
#include "server/key_store.h"
#include "server/metrics.h"
#include "server/router.h"

namespace sextant::server {

// The OpenAPI document, embedded from docs/openapi.json at build time (openapi_embed.cc).
extern const char* const kOpenApiJson;

namespace {

namespace fs = std::filesystem;
using nlohmann::json;
using Clock = std::chrono::steady_clock;

constexpr const char* kDefault = "default";

// ---------------------------------------------------------------------------------------
// Replies and errors

struct Reply {
  Reply() = default;
  Reply(int s, json b) : status(s), body(std::move(b)) {}
  int status = 200;
  json body;
  std::vector<std::pair<std::string, std::string>> headers;
  std::string raw;               // when set: sent as is with raw_type
  std::string raw_type;
};

Reply Error(int status, const std::string& code, const std::string& message) {
  return Reply(status, json{{"error", {{"code", code}, {"message", message}}}});
}

// A request whose deadline passed (in the queue, or a query between segments).
Reply DeadlineError(const std::string& detail = "") {
  Reply r = Error(503, "deadline_exceeded",
                  "the request did not finish within its time limit" + (detail.empty() ? "" : " (" + detail + ")"));
  r.headers.emplace_back("Retry-After", "1");
  return r;
}

// An error of the database, mapped by HttpStatusFor.
Reply FromStatus(const Status& st) {
  if (st.code() == StatusCode::kDeadlineExceeded) return DeadlineError(st.message());
  return Error(HttpStatusFor(st.code()), StatusCodeName(st.code()), st.message());
}

// An error of a request parser (request_codec.h): 400 shape, 413 size, 422 range.
Reply FromParseStatus(const Status& st) {
  switch (st.code()) {
    case StatusCode::kResourceExhausted: return Error(413, "payload_too_large", st.message());
    case StatusCode::kOutOfRange: return Error(422, "out_of_range", st.message());
    default: return Error(400, "bad_request", st.message());
  }
}

#define SX_PARSE(lhs, expr)                               \
  auto SEXTANT_CONCAT(_p_, __LINE__) = (expr);             \
  if (!SEXTANT_CONCAT(_p_, __LINE__).ok()) return FromParseStatus(SEXTANT_CONCAT(_p_, __LINE__).status()); \
  lhs = std::move(SEXTANT_CONCAT(_p_, __LINE__)).value()

#define SX_TRY(lhs, expr)                                  \
  auto SEXTANT_CONCAT(_t_, __LINE__) = (expr);             \
  if (!SEXTANT_CONCAT(_t_, __LINE__).ok()) return FromStatus(SEXTANT_CONCAT(_t_, __LINE__).status()); \
  lhs = std::move(SEXTANT_CONCAT(_t_, __LINE__)).value()

#define SX_TRY_STATUS(expr)                                \
  do {                                                     \
    ::sextant::Status _s = (expr);                         \
    if (!_s.ok()) return FromStatus(_s);                   \
  } while (0)

std::string NowIso8601() {
  const auto now = std::chrono::system_clock::now();
  const std::time_t t = std::chrono::system_clock::to_time_t(now);
  const int ms = static_cast<int>(
      std::chrono::duration_cast<std::chrono::milliseconds>(now.time_since_epoch()).count() % 1000);
  std::tm tm{};
  gmtime_r(&t, &tm);
  char buf[96];
  std::snprintf(buf, sizeof(buf), "%04d-%02d-%02dT%02d:%02d:%02d.%03dZ", tm.tm_year + 1900, tm.tm_mon + 1,
                tm.tm_mday, tm.tm_hour, tm.tm_min, tm.tm_sec, ms);
  return buf;
}

json ConfigToJson(const CollectionConfig& c) { return codec::CollectionConfigToJson(c, codec::ConfigForm::kReply); }

// ---------------------------------------------------------------------------------------
// Admission: at most max_inflight handlers at once, at most max_queue waiting.

class Limiter {
 public:
  enum class Outcome { kAdmitted, kQueueFull, kTimeout };
  Limiter(size_t max_inflight, size_t max_queue) : max_inflight_(max_inflight), max_queue_(max_queue) {}

  Outcome Acquire(std::chrono::milliseconds timeout) {
    std::unique_lock lock(mu_);
    if (active_ < max_inflight_) {
      ++active_;
      return Outcome::kAdmitted;
    }
    if (waiting_ >= max_queue_) return Outcome::kQueueFull;
    ++waiting_;
    const bool got = cv_.wait_for(lock, timeout, [&] { return active_ < max_inflight_; });
    --waiting_;
    if (!got) return Outcome::kTimeout;
    ++active_;
    return Outcome::kAdmitted;
  }
  void Release() {
    {
      std::lock_guard lock(mu_);
      --active_;
    }
    cv_.notify_one();
  }

 private:
  const size_t max_inflight_, max_queue_;
  std::mutex mu_;
  std::condition_variable cv_;
  size_t active_ = 0, waiting_ = 0;
};

// ---------------------------------------------------------------------------------------
// Catalog: tenants (directories) and their open databases.

// One open database. Requests hold a shared_ptr while they use it; dropping the database
// removes it from the catalog and its directory goes when the last user lets go.
struct DbEntry {
  std::string tenant, name, path;
  std::unique_ptr<Database> db;
  // Shared by requests that use a Collection*; exclusive for DropCollection (which frees it).
  std::shared_mutex collections_mu;
  std::atomic<bool> drop_on_close{false};
  ~DbEntry() {
    db.reset();  // releases the directory lock
    if (drop_on_close) {
      std::error_code ec;
      fs::remove_all(path, ec);
    }
  }
};

}  // namespace

int HttpStatusFor(StatusCode code) {
  switch (code) {
    case StatusCode::kOk: return 200;
    case StatusCode::kInvalidArgument: return 422;
    case StatusCode::kOutOfRange: return 422;
    case StatusCode::kNotFound: return 404;
    case StatusCode::kAlreadyExists: return 409;
    case StatusCode::kFailedPrecondition: return 409;
    case StatusCode::kResourceExhausted: return 503;
    case StatusCode::kDeadlineExceeded: return 503;
    case StatusCode::kCorruption:
    case StatusCode::kIOError:
    case StatusCode::kInternal: return 500;
  }
  return 500;
}

// ---------------------------------------------------------------------------------------

enum class Scope {
  kPublic,    // no key needed
  kGlobal,    // a key without a tenant scope
  kAnyKey,    // any valid key; the handler filters by scope
  kTenant,    // {tenant} must be covered by the key
  kDatabase,  // {tenant}/{database} (or the defaults) must be covered by the key
};

struct RequestContext {
  const httplib::Request* http = nullptr;
  std::map<std::string, std::string> params;
  std::map<std::string, std::string> query;
  Principal principal;
  json body = json::object();
  std::string_view raw_body;  // the body as received (query and upsert parse it themselves)
  std::string tenant, database;  // for kTenant/kDatabase routes
  std::shared_ptr<DbEntry> entry;  // for kDatabase routes
  std::shared_lock<std::shared_mutex> collections_lock;
  std::optional<std::chrono::steady_clock::time_point> deadline;  // handler_timeout_ms
};

// What Handle leaves for the log line, written once the response is out (same thread).
struct PendingLog {
  bool set = false;
  LogLevel level = LogLevel::kInfo;
  std::string request_id, route, path, key_id, error_code, error;
  int status = 0;
  double duration_ms = 0;
  size_t bytes_in = 0;
};
thread_local PendingLog pending_log;

// Writes log lines on its own thread, so a request's thread (which on a keep-alive
// connection serves the next request) only hands the fields over; formatting and the write
// to stderr happen off the request path. The destructor writes what is queued.
class AsyncLog {
 public:
  AsyncLog() : thread_([this] { Loop(); }) {}
  ~AsyncLog() {
    {
      std::lock_guard lock(mu_);
      stop_ = true;
    }
    cv_.notify_one();
    thread_.join();
  }
  void Push(json line) {
    {
      std::lock_guard lock(mu_);
      queue_.push_back(std::move(line));
    }
    cv_.notify_one();
  }

 private:
  void Loop() {
    std::unique_lock lock(mu_);
    for (;;) {
      cv_.wait(lock, [&] { return stop_ || !queue_.empty(); });
      if (queue_.empty() && stop_) return;
      std::vector<json> batch(std::make_move_iterator(queue_.begin()), std::make_move_iterator(queue_.end()));
      queue_.clear();
      lock.unlock();
      std::string text;
      for (const json& line : batch) {
        text += line.dump(-1, ' ', false, json::error_handler_t::replace);
        text += '\n';
      }
      std::fwrite(text.data(), 1, text.size(), stderr);
      std::fflush(stderr);
      lock.lock();
    }
  }
  std::mutex mu_;
  std::condition_variable cv_;
  std::vector<json> queue_;
  bool stop_ = false;
  std::thread thread_;
};

class ServerImpl {
 public:
  using Handler = Reply (ServerImpl::*)(RequestContext&);
  struct RouteSpec {
    std::string method, pattern;
    Role role;
    Scope scope;
    bool limited;     // goes through the admission limiter
    bool has_body;
    Handler handler;
  };

  explicit ServerImpl(ServerOptions options) : options_(std::move(options)) {}
  ~ServerImpl() {
    if (run_phase_ == 1) Shutdown();  // Run is still serving (the owner should have stopped it)
  }

  static std::vector<RouteSpec> Routes();
  Status Init();
  Status Run();
  void Shutdown() {
    bool expected = false;
    if (!draining_.compare_exchange_strong(expected, true)) return;
    Log(LogLevel::kInfo, {{"msg", "draining: finishing in-flight requests, then stopping"}});
    if (!http_) return;
    // Run may be between its draining_ check and listening: wait until it listens (or ends)
    // so that stop() has a socket to close.
    const auto deadline = Clock::now() + std::chrono::seconds(10);
    while (run_phase_ == 1 && !http_->is_running() && Clock::now() < deadline) {
      std::this_thread::sleep_for(std::chrono::milliseconds(1));
    }
    http_->stop();
  }
  int port() const { return port_; }

 private:
  // `body` is the request body, read by the caller; `body_too_large` when it was cut off at
  // the size limit (the reply is then 413).
  void Handle(const httplib::Request& req, std::string_view body, bool body_too_large, httplib::Response& res);
  void Send(const Reply& reply, const std::string& request_id, httplib::Response& res);
  void WritePendingLog(const httplib::Request& req, const httplib::Response& res);
  void Log(LogLevel level, json fields);
  std::string NewRequestId();

  Status OpenCatalog();
  Result<std::shared_ptr<DbEntry>> OpenDatabase(const std::string& tenant, const std::string& name);
  std::shared_ptr<DbEntry> FindDatabase(const std::string& tenant, const std::string& name);
  std::string TenantPath(const std::string& t) const { return options_.data_dir + "/tenants/" + t; }
  std::string DatabasePath(const std::string& t, const std::string& d) const {
    return TenantPath(t) + "/databases/" + d;
  }
  std::string SnapshotDir(const std::string& t, const std::string& d) const {
    return options_.data_dir + "/snapshots/" + t + "/" + d;
  }
  bool TenantExists(const std::string& t) const {
    std::error_code ec;
    return fs::is_directory(TenantPath(t), ec);
  }
  std::vector<std::string> ListDir(const std::string& path) const;
  Result<Collection*> GetCollection(RequestContext& ctx);

  // Handlers.
  Reply Healthz(RequestContext&);
  Reply Readyz(RequestContext&);
  Reply Metrics(RequestContext&);
  Reply OpenApi(RequestContext&);
  Reply CreateKey(RequestContext&);
  Reply ListKeys(RequestContext&);
  Reply RevokeKey(RequestContext&);
  Reply ListTenants(RequestContext&);
  Reply PutTenant(RequestContext&);
  Reply GetTenant(RequestContext&);
  Reply DeleteTenant(RequestContext&);
  Reply ListDatabases(RequestContext&);
  Reply PutDatabase(RequestContext&);
  Reply GetDatabase(RequestContext&);
  Reply DeleteDatabase(RequestContext&);
  Reply ListCollections(RequestContext&);
  Reply PutCollection(RequestContext&);
  Reply GetCollectionInfo(RequestContext&);
  Reply DropCollection(RequestContext&);
  Reply Upsert(RequestContext&);
  Reply DeletePoints(RequestContext&);
  Reply GetPoint(RequestContext&);
  Reply PatchPoint(RequestContext&);
  Reply DeletePoint(RequestContext&);
  Reply Count(RequestContext&);
  Reply Scroll(RequestContext&);
  Reply Query(RequestContext&);
  Reply CreateSnapshot(RequestContext&);
  Reply ListSnapshots(RequestContext&);
  Reply DeleteSnapshot(RequestContext&);
  Reply RestoreSnapshot(RequestContext&);

  ServerOptions options_;
  std::vector<RouteSpec> routes_;
  Router router_;
  std::unique_ptr<HttpMetrics> metrics_;
  std::unique_ptr<Limiter> limiter_;
  std::unique_ptr<KeyStore> keys_;
  bool auth_enabled_ = false;
  std::unique_ptr<httplib::Server> http_;
  int port_ = 0;
  std::atomic<bool> draining_{false};
  std::atomic<bool> ready_{false};
  std::atomic<int> run_phase_{0};  // 0 not started, 1 running, 2 returned

  std::mutex catalog_mu_;  // guards dbs_ and tenant directory changes
  std::map<std::pair<std::string, std::string>, std::shared_ptr<DbEntry>> dbs_;

  AsyncLog log_;
  std::string request_id_prefix_;
  std::atomic<uint64_t> request_counter_{0};
};

std::vector<ServerImpl::RouteSpec> ServerImpl::Routes() {
  using S = ServerImpl;
  std::vector<RouteSpec> r = {
      {"GET", "/healthz", Role::kReader, Scope::kPublic, false, false, &S::Healthz},
      {"GET", "/readyz", Role::kReader, Scope::kPublic, false, false, &S::Readyz},
      {"GET", "/metrics", Role::kReader, Scope::kGlobal, false, false, &S::Metrics},
      {"GET", "/openapi.json", Role::kReader, Scope::kPublic, false, false, &S::OpenApi},
      {"POST", "/v1/keys", Role::kAdmin, Scope::kAnyKey, true, true, &S::CreateKey},
      {"GET", "/v1/keys", Role::kAdmin, Scope::kAnyKey, true, false, &S::ListKeys},
      {"DELETE", "/v1/keys/{key_id}", Role::kAdmin, Scope::kAnyKey, true, false, &S::RevokeKey},
      {"GET", "/v1/tenants", Role::kReader, Scope::kAnyKey, true, false, &S::ListTenants},
      {"PUT", "/v1/tenants/{tenant}", Role::kAdmin, Scope::kGlobal, true, true, &S::PutTenant},
      {"GET", "/v1/tenants/{tenant}", Role::kReader, Scope::kTenant, true, false, &S::GetTenant},
      {"DELETE", "/v1/tenants/{tenant}", Role::kAdmin, Scope::kGlobal, true, false, &S::DeleteTenant},
      {"GET", "/v1/tenants/{tenant}/databases", Role::kReader, Scope::kTenant, true, false, &S::ListDatabases},
      {"PUT", "/v1/tenants/{tenant}/databases/{database}", Role::kAdmin, Scope::kDatabase, true, true,
       &S::PutDatabase},
      {"GET", "/v1/tenants/{tenant}/databases/{database}", Role::kReader, Scope::kDatabase, true, false,
       &S::GetDatabase},
      {"DELETE", "/v1/tenants/{tenant}/databases/{database}", Role::kAdmin, Scope::kDatabase, true, false,
       &S::DeleteDatabase},
  };
  // Routes inside one database, under the full prefix and the /v1 shorthand.
  const std::vector<RouteSpec> in_database = {
      {"GET", "/collections", Role::kReader, Scope::kDatabase, true, false, &S::ListCollections},
      {"PUT", "/collections/{collection}", Role::kWriter, Scope::kDatabase, true, true, &S::PutCollection},
      {"GET", "/collections/{collection}", Role::kReader, Scope::kDatabase, true, false, &S::GetCollectionInfo},
      {"DELETE", "/collections/{collection}", Role::kWriter, Scope::kDatabase, true, false, &S::DropCollection},
      {"POST", "/collections/{collection}/points", Role::kWriter, Scope::kDatabase, true, true, &S::Upsert},
      {"DELETE", "/collections/{collection}/points", Role::kWriter, Scope::kDatabase, true, true, &S::DeletePoints},
      {"POST", "/collections/{collection}/points/delete", Role::kWriter, Scope::kDatabase, true, true,
       &S::DeletePoints},
      {"GET", "/collections/{collection}/points/{id}", Role::kReader, Scope::kDatabase, true, false, &S::GetPoint},
      {"PATCH", "/collections/{collection}/points/{id}", Role::kWriter, Scope::kDatabase, true, true,
       &S::PatchPoint},
      {"DELETE", "/collections/{collection}/points/{id}", Role::kWriter, Scope::kDatabase, true, false,
       &S::DeletePoint},
      {"GET", "/collections/{collection}/count", Role::kReader, Scope::kDatabase, true, false, &S::Count},
      {"POST", "/collections/{collection}/count", Role::kReader, Scope::kDatabase, true, true, &S::Count},
      {"POST", "/collections/{collection}/scroll", Role::kReader, Scope::kDatabase, true, true, &S::Scroll},
      {"POST", "/collections/{collection}/query", Role::kReader, Scope::kDatabase, true, true, &S::Query},
      {"POST", "/collections/{collection}/snapshots", Role::kAdmin, Scope::kDatabase, true, true,
       &S::CreateSnapshot},
      {"GET", "/snapshots", Role::kAdmin, Scope::kDatabase, true, false, &S::ListSnapshots},
      {"DELETE", "/snapshots/{snapshot}", Role::kAdmin, Scope::kDatabase, true, false, &S::DeleteSnapshot},
      {"POST", "/snapshots/{snapshot}/restore", Role::kAdmin, Scope::kDatabase, true, true, &S::RestoreSnapshot},
  };
  for (const char* prefix : {"/v1/tenants/{tenant}/databases/{database}", "/v1"}) {
    for (RouteSpec spec : in_database) {
      spec.pattern = prefix + spec.pattern;
      r.push_back(spec);
    }
  }
  return r;
}

void ServerImpl::Log(LogLevel level, json fields) {
  if (level < options_.log_level || options_.log_level == LogLevel::kOff) return;
  static const char* kNames[] = {"info", "warn", "error", "off"};
  json line = {{"ts", NowIso8601()}, {"level", kNames[static_cast<int>(level)]}};
  line.update(fields);
  log_.Push(std::move(line));
}

std::string ServerImpl::NewRequestId() {
  char buf[32];
  std::snprintf(buf, sizeof(buf), "%s-%06llx", request_id_prefix_.c_str(),
                static_cast<unsigned long long>(request_counter_.fetch_add(1) + 1));
  return buf;
}

std::vector<std::string> ServerImpl::ListDir(const std::string& path) const {
  std::vector<std::string> out;
  std::error_code ec;
  for (fs::directory_iterator it(path, ec), end; !ec && it != end; it.increment(ec)) {
    const std::string name = it->path().filename().string();
    if (it->is_directory(ec) && IsValidName(name)) out.push_back(name);
  }
  std::sort(out.begin(), out.end());
  return out;
}

Result<std::shared_ptr<DbEntry>> ServerImpl::OpenDatabase(const std::string& tenant, const std::string& name) {
  auto entry = std::make_shared<DbEntry>();
  entry->tenant = tenant;
  entry->name = name;
  entry->path = DatabasePath(tenant, name);
  DatabaseOptions opt;
  opt.durability = options_.durability;
  opt.create_if_missing = true;
  SEXTANT_ASSIGN_OR_RETURN(entry->db, Database::Open(entry->path, opt));
  return entry;
}

std::shared_ptr<DbEntry> ServerImpl::FindDatabase(const std::string& tenant, const std::string& name) {
  std::lock_guard lock(catalog_mu_);
  auto it = dbs_.find({tenant, name});
  return it == dbs_.end() ? nullptr : it->second;
}

Status ServerImpl::OpenCatalog() {
  std::error_code ec;
  fs::create_directories(DatabasePath(kDefault, kDefault), ec);
  if (ec) return Status::IOError("cannot create " + DatabasePath(kDefault, kDefault) + ": " + ec.message());
  for (const std::string& t : ListDir(options_.data_dir + "/tenants")) {
    for (const std::string& d : ListDir(TenantPath(t) + "/databases")) {
      auto entry = OpenDatabase(t, d);
      if (!entry.ok()) return entry.status().WithContext("tenant '" + t + "' database '" + d + "'");
      dbs_[{t, d}] = *entry;
    }
  }
  return Status::OK();
}

Status ServerImpl::Init() {
  const std::string& host = options_.host;
  const bool loopback = host == "127.0.0.1" || host == "localhost" || host == "::1";
  if (!options_.admin_key_file && !loopback) {
    return Status::InvalidArgument("without --admin-key-file the server listens on 127.0.0.1 only, not '" +
                                   host + "'");
  }
  if (options_.tls_cert.empty() != options_.tls_key.empty()) {
    return Status::InvalidArgument("--tls-cert and --tls-key go together");
  }
  if (options_.data_dir.empty()) return Status::InvalidArgument("--data is required");
  while (options_.data_dir.size() > 1 && options_.data_dir.back() == '/') options_.data_dir.pop_back();
  std::error_code ec;
  fs::create_directories(options_.data_dir, ec);
  if (ec) return Status::IOError("cannot create " + options_.data_dir + ": " + ec.message());
  request_id_prefix_ = RandomHex(4);

  std::optional<std::string> admin_secret;
  if (options_.admin_key_file) {
    const std::string& f = *options_.admin_key_file;
    std::ifstream in(f);
    if (in) {
      std::string line;
      std::getline(in, line);
      while (!line.empty() && (line.back() == '\r' || line.back() == ' ' || line.back() == '\t')) line.pop_back();
      if (line.size() < 16) {
        return Status::InvalidArgument(f + ": the admin key must be at least 16 characters");
      }
      admin_secret = line;
    } else {
      const std::string hex = RandomHex(32);
      if (hex.empty()) return Status::Internal("the random generator failed");
      admin_secret = "sxt_" + hex;
      SEXTANT_RETURN_IF_ERROR(WriteFileAtomic(f, *admin_secret + "\n").WithContext("admin key file"));
      Log(LogLevel::kWarn, {{"msg", "created a new admin key"}, {"file", f}});
    }
    auth_enabled_ = true;
  }
  SEXTANT_ASSIGN_OR_RETURN(keys_, KeyStore::Open(options_.data_dir + "/keys.json", admin_secret));
  SEXTANT_RETURN_IF_ERROR(OpenCatalog());

  routes_ = Routes();
  std::vector<std::pair<std::string, std::string>> labels;
  for (const RouteSpec& r : routes_) {
    router_.Add(r.method, r.pattern);
    labels.emplace_back(r.method, r.pattern);
  }
  metrics_ = std::make_unique<HttpMetrics>(labels);
  size_t inflight = options_.max_inflight;
  if (inflight == 0) inflight = 2 * std::max(1u, std::thread::hardware_concurrency());
  limiter_ = std::make_unique<Limiter>(inflight, options_.max_queue);

  if (!options_.tls_cert.empty()) {
    auto ssl = std::make_unique<httplib::SSLServer>(options_.tls_cert.c_str(), options_.tls_key.c_str());
    if (!ssl->is_valid()) {
      return Status::InvalidArgument("cannot load the TLS certificate '" + options_.tls_cert + "' or key '" +
                                     options_.tls_key + "'");
    }
    http_ = std::move(ssl);
  } else {
    TransportOptions transport;
    transport.busy_poll_us = options_.busy_poll_us;
    transport.threads = std::max<size_t>(options_.threads, 2);
    transport.header_timeout_ms = options_.header_timeout_ms;
    transport.max_connections_per_client = options_.max_connections_per_client;
    // Errors the transport answers itself (framing, deadlines, the connection cap) are
    // counted and logged like the others.
    transport.on_error = [this](int status, const std::string& code, const std::string& message) {
      const std::string id = NewRequestId();
      metrics_->Observe(-1, status, 0);
      Log(LogLevel::kWarn, {{"msg", "request"}, {"request_id", id}, {"status", status}, {"error_code", code},
                            {"error", message}});
      return id;
    };
    http_ = std::make_unique<PollingHttpServer>(std::move(transport));
  }
  // httplib's default sets SO_REUSEPORT, which lets a second server bind the same port and
  // take half its connections: only SO_REUSEADDR (a restart may bind over TIME_WAIT).
  http_->set_socket_options([](socket_t sock) {
    const int yes = 1;
    ::setsockopt(sock, SOL_SOCKET, SO_REUSEADDR, &yes, sizeof(yes));
  });
  if (!options_.tls_cert.empty()) {
    const size_t threads = std::max<size_t>(options_.threads, 2);
    http_->new_task_queue = [threads] { return new httplib::ThreadPool(threads); };
  }
  http_->set_tcp_nodelay(true);
  http_->set_keep_alive_max_count(1u << 30);
  http_->set_keep_alive_timeout(options_.keep_alive_timeout_s);
  http_->set_read_timeout(options_.read_timeout_s, 0);
  http_->set_write_timeout(options_.write_timeout_s, 0);
  http_->set_payload_max_length(options_.limits.max_body_bytes);
  // Bodies are read through a content reader rather than into req.body: httplib would
  // otherwise parse curl's default form content type and cap such bodies at 8 KiB.
  auto no_body = [this](const httplib::Request& req, httplib::Response& res) { Handle(req, "", false, res); };
  auto with_body = [this](const httplib::Request& req, httplib::Response& res, const httplib::ContentReader& reader) {
    std::string body;
    bool too_large = false;
    const size_t max = options_.limits.max_body_bytes;
    if (!req.has_header("Content-Length") && !req.has_header("Transfer-Encoding")) {
      Handle(req, "", false, res);  // no body (e.g. `curl -X PUT` without -d)
      return;
    }
    const bool ok = reader([&](const char* data, size_t n) {
      if (body.size() + n > max) {
        too_large = true;
        return false;
      }
      body.append(data, n);
      return true;
    });
    if (!ok && !too_large) {
      too_large = res.status == 413;
      if (!too_large) {  // the client went away or sent a broken body
        Send(Error(400, "bad_request", "the request body could not be read"), NewRequestId(), res);
        res.set_header("Connection", "close");
        return;
      }
    }
    if (too_large) res.set_header("Connection", "close");  // the rest of the body is unread
    Handle(req, body, too_large, res);
  };
  http_->Get(".*", no_body);
  http_->Options(".*", no_body);
  http_->Post(".*", with_body);
  http_->Put(".*", with_body);
  http_->Patch(".*", with_body);
  http_->Delete(".*", with_body);
  // Responses httplib makes itself (an oversized body, a malformed request line) get the same
  // JSON error shape; our own error replies already have a body.
  http_->set_error_handler([this](const httplib::Request& req, httplib::Response& res) {
    if (!res.body.empty()) return;
    Reply r;
    switch (res.status) {
      case 413:
        r = Error(413, "payload_too_large",
                  "the request body is larger than " + std::to_string(options_.limits.max_body_bytes) + " bytes");
        break;
      case 414: r = Error(414, "uri_too_long", "the request target is too long"); break;
      case 404: r = Error(404, "not_found", "no route for " + req.method + " " + req.path); break;
      default: r = Error(res.status, "bad_request", "the request could not be read"); break;
    }
    const std::string id = NewRequestId();
    Send(r, id, res);
    metrics_->Observe(-1, res.status, 0);
    Log(LogLevel::kWarn, {{"msg", "request"}, {"request_id", id}, {"method", req.method}, {"status", res.status},
                          {"error_code", r.body["error"]["code"]}});
  });
  http_->set_logger([this](const httplib::Request& req, const httplib::Response& res) { WritePendingLog(req, res); });
  http_->set_exception_handler([](const httplib::Request&, httplib::Response& res, std::exception_ptr) {
    res.status = 500;
    res.set_content(R"({"error":{"code":"internal","message":"unexpected exception"}})", "application/json");
  });

  if (options_.port == 0) {
    port_ = http_->bind_to_any_port(options_.host);
    if (port_ <= 0) return Status::FailedPrecondition("cannot bind " + options_.host + " on any port");
  } else {
    errno = 0;
    if (!http_->bind_to_port(options_.host, options_.port)) {
      const int err = errno;
      if (err == EADDRINUSE) {
        return Status::FailedPrecondition("cannot listen on " + options_.host + ":" + std::to_string(options_.port) +
                                          ": port " + std::to_string(options_.port) +
                                          " is already in use (another server?)");
      }
      return Status::FailedPrecondition("cannot bind " + options_.host + ":" + std::to_string(options_.port) +
                                        " (in use, or not an address of this machine)" +
                                        (err != 0 ? std::string(": ") + std::strerror(err) : std::string()));
    }
    port_ = options_.port;
  }
  if (auto* polling = dynamic_cast<PollingHttpServer*>(http_.get())) (void)polling->WidenListenBacklog();
  return Status::OK();
}

Status ServerImpl::Run() {
  ready_ = true;
  Log(LogLevel::kInfo, {{"msg", "listening"}, {"host", options_.host}, {"port", port_},
                        {"tls", !options_.tls_cert.empty()}, {"auth", auth_enabled_},
                        {"data", options_.data_dir}});
  run_phase_ = 1;
  if (draining_) {
    run_phase_ = 2;
    return Status::OK();
  }
  const bool ok = http_->listen_after_bind();
  run_phase_ = 2;
  ready_ = false;
  if (!ok && !draining_) return Status::IOError("the listening socket failed");
  Log(LogLevel::kInfo, {{"msg", "stopped"}});
  return Status::OK();
}

void ServerImpl::Send(const Reply& reply, const std::string& request_id, httplib::Response& res) {
  res.status = reply.status;
  for (const auto& [k, v] : reply.headers) res.set_header(k, v);
  res.set_header("X-Request-Id", request_id);
  if (!reply.raw_type.empty()) {
    res.set_content(reply.raw, reply.raw_type);
  } else {
    // A final newline, so that curl output ends its line.
    res.set_content(reply.body.dump(-1, ' ', false, json::error_handler_t::replace) + "\n", "application/json");
  }
}

void ServerImpl::Handle(const httplib::Request& req, std::string_view body, bool body_too_large,
                        httplib::Response& res) {
  const auto start = Clock::now();
  std::string request_id;
  if (req.has_header("X-Request-Id")) {
    if (auto id = SanitizeRequestId(req.get_header_value("X-Request-Id"))) request_id = *id;
  }
  if (request_id.empty()) request_id = NewRequestId();

  const std::string_view target = req.target;
  const size_t qmark = target.find('?');
  const std::string_view path = target.substr(0, qmark);
  RouteMatch match = router_.Match(req.method == "HEAD" ? "GET" : req.method, path);
  RequestContext ctx;
  ctx.http = &req;
  std::string key_id;
  bool admitted = false;

  auto run = [&]() -> Reply {
    if (body_too_large) {
      return Error(413, "payload_too_large",
                   "the request body is larger than " + std::to_string(options_.limits.max_body_bytes) + " bytes");
    }
    if (match.route < 0) {
      if (!match.allowed_methods.empty()) {
        std::string allow;
        for (const auto& m : match.allowed_methods) allow += (allow.empty() ? "" : ", ") + m;
        Reply r = Error(405, "method_not_allowed", req.method + " is not allowed on " + std::string(path) +
                                                       " (allowed: " + allow + ")");
        r.headers.emplace_back("Allow", allow);
        return r;
      }
      return Error(404, "not_found", "no route for " + req.method + " " + std::string(path.substr(0, 200)));
    }
    const RouteSpec& route = routes_[match.route];
    ctx.params = std::move(match.params);
    if (qmark != std::string_view::npos) ctx.query = ParseQueryString(target.substr(qmark + 1));

    // Authentication and authorisation.
    if (route.scope != Scope::kPublic) {
      if (auth_enabled_) {
        // The whole value (get_header_value would cut it at a NUL); the plain-HTTP transport
        // has already refused control characters, a TLS connection gets here with them.
        const auto auth = req.headers.find("Authorization");
        const std::string header = auth == req.headers.end() ? std::string() : auth->second;
        if (std::any_of(header.begin(), header.end(), [](char c) {
              const auto u = static_cast<unsigned char>(c);
              return (u < 0x20 && c != '\t') || u == 0x7f;
            })) {
          return Error(400, "bad_request", "a control character in the Authorization header");
        }
        auto token = ParseBearer(header);
        if (!token) {
          Reply r = Error(401, "unauthenticated",
                          header.empty() ? "missing 'Authorization: Bearer KEY' header"
                                         : "malformed Authorization header (expected 'Bearer KEY')");
          r.headers.emplace_back("WWW-Authenticate", "Bearer");
          return r;
        }
        auto principal = keys_->Authenticate(*token);
        if (!principal) {
          Reply r = Error(401, "unauthenticated", "unknown or revoked API key");
          r.headers.emplace_back("WWW-Authenticate", "Bearer error=\"invalid_token\"");
          return r;
        }
        ctx.principal = std::move(*principal);
      } else {
        ctx.principal = Principal{"anonymous", Role::kAdmin, std::nullopt, std::nullopt};
      }
      key_id = ctx.principal.key_id;
      if (ctx.principal.role < route.role) {
        return Error(403, "permission_denied", std::string("this route needs the ") + RoleName(route.role) +
                                                   " role; the key has " + RoleName(ctx.principal.role));
      }
      if (route.scope == Scope::kGlobal && ctx.principal.tenant) {
        return Error(403, "permission_denied", "this route needs a key that is not scoped to a tenant");
      }
      if (route.scope == Scope::kTenant || route.scope == Scope::kDatabase) {
        auto t = ctx.params.find("tenant");
        ctx.tenant = t == ctx.params.end() ? kDefault : t->second;
        auto d = ctx.params.find("database");
        ctx.database = d == ctx.params.end() ? kDefault : d->second;
        if (!ctx.principal.CoversTenant(ctx.tenant) ||
            (route.scope == Scope::kDatabase && !ctx.principal.CoversDatabase(ctx.tenant, ctx.database))) {
          return Error(403, "permission_denied", "the key is not allowed to access tenant '" + ctx.tenant +
                                                     (route.scope == Scope::kDatabase ? "' database '" + ctx.database : "") +
                                                     "'");
        }
      }
    }
    for (const char* p : {"tenant", "database", "collection", "snapshot", "key_id"}) {
      auto it = ctx.params.find(p);
      if (it == ctx.params.end()) continue;
      if (Status st = CheckName(it->second, p == std::string("key_id") ? "key" : p); !st.ok()) {
        return Error(400, "bad_request", st.message());
      }
    }

    if (options_.handler_timeout_ms > 0) {
      ctx.deadline = start + std::chrono::milliseconds(options_.handler_timeout_ms);
    }
    if (route.limited) {
      auto wait = std::chrono::milliseconds(options_.queue_timeout_ms);
      if (ctx.deadline) {
        wait = std::min(wait, std::chrono::duration_cast<std::chrono::milliseconds>(*ctx.deadline - Clock::now()));
      }
      const Limiter::Outcome outcome = limiter_->Acquire(std::max(wait, std::chrono::milliseconds(0)));
      if (outcome == Limiter::Outcome::kQueueFull) {
        metrics_->Reject("overload");
        Reply r = Error(429, "too_many_requests", "the server is at its limit of concurrent requests; retry later");
        r.headers.emplace_back("Retry-After", "1");
        return r;
      }
      if (outcome == Limiter::Outcome::kTimeout && ctx.deadline && Clock::now() >= *ctx.deadline) {
        return DeadlineError();
      }
      if (outcome == Limiter::Outcome::kTimeout) {
        metrics_->Reject("queue_timeout");
        Reply r = Error(503, "timeout", "no capacity to handle the request within " +
                                             std::to_string(options_.queue_timeout_ms) + " ms; retry later");
        r.headers.emplace_back("Retry-After", "1");
        return r;
      }
      admitted = true;
      if (options_.test_handler_delay_ms > 0) {
        std::this_thread::sleep_for(std::chrono::milliseconds(options_.test_handler_delay_ms));
      }
    }
    // Nothing has been applied yet: a request whose time ran out in the queue stops here.
    if (ctx.deadline && Clock::now() > *ctx.deadline) {
      return DeadlineError();
    }
    ctx.raw_body = body;
    const bool parses_itself = route.handler == &ServerImpl::Query || route.handler == &ServerImpl::Upsert;
    if (route.has_body && !parses_itself) {
      auto parsed = ParseJsonBody(body, options_.limits.max_json_depth);
      if (!parsed.ok()) return FromParseStatus(parsed.status());
      ctx.body = std::move(parsed).value();
    } else if (!route.has_body && !body.empty() && route.method != "DELETE") {
      return Error(400, "bad_request", "this route takes no request body");
    }
    if (route.scope == Scope::kDatabase && route.handler != &ServerImpl::PutDatabase) {
      ctx.entry = FindDatabase(ctx.tenant, ctx.database);
      if (!ctx.entry) {
        return Error(404, "not_found", "no database '" + ctx.database + "' in tenant '" + ctx.tenant + "'");
      }
      if (route.handler != &ServerImpl::DropCollection && route.handler != &ServerImpl::RestoreSnapshot &&
          route.handler != &ServerImpl::DeleteDatabase) {
        ctx.collections_lock = std::shared_lock(ctx.entry->collections_mu);
      }
    }
    return (this->*route.handler)(ctx);
  };

  Reply reply;
  metrics_->AddInFlight(1);
  try {
    reply = run();
  } catch (const std::exception& e) {
    reply = Error(500, "internal", std::string("unexpected exception: ") + e.what());
  }
  if (ctx.collections_lock.owns_lock()) ctx.collections_lock.unlock();
  if (admitted) limiter_->Release();
  metrics_->AddInFlight(-1);
  // Wherever the deadline passed (in the queue, before the handler, in a query), counted once.
  if (reply.status == 503 && reply.body.contains("error") && reply.body["error"].value("code", "") == "deadline_exceeded") {
    metrics_->Reject("deadline");
  }
  Send(reply, request_id, res);
  const double seconds = std::chrono::duration<double>(Clock::now() - start).count();
  metrics_->Observe(match.route, reply.status, seconds);
  // The log line is written by the logger hook, after the response has gone out.
  const LogLevel level = reply.status >= 500 ? LogLevel::kError : reply.status >= 400 ? LogLevel::kWarn : LogLevel::kInfo;
  if (level >= options_.log_level && options_.log_level != LogLevel::kOff) {
    PendingLog& p = pending_log;
    p.set = true;
    p.level = level;
    p.request_id = request_id;
    p.route = match.route >= 0 ? routes_[match.route].pattern : "unmatched";
    p.path = std::string(path.substr(0, 512));
    p.status = reply.status;
    p.duration_ms = seconds * 1000;
    p.bytes_in = body.size();
    p.key_id = key_id;
    p.error_code.clear();
    p.error.clear();
    if (reply.status >= 400 && reply.body.contains("error")) {
      p.error_code = reply.body["error"].value("code", "");
      p.error = reply.body["error"].value("message", "");
    }
  }
}

void ServerImpl::WritePendingLog(const httplib::Request& req, const httplib::Response& res) {
  PendingLog& p = pending_log;
  if (!p.set) return;
  p.set = false;
  json fields = {{"msg", "request"}, {"request_id", p.request_id}, {"method", req.method}, {"route", p.route},
                 {"path", p.path}, {"status", p.status}, {"duration_ms", p.duration_ms},
                 {"bytes_in", p.bytes_in}, {"bytes_out", res.body.size()}, {"remote", req.remote_addr}};
  if (!p.key_id.empty()) fields["key_id"] = p.key_id;
  if (!p.error_code.empty()) {
    fields["error_code"] = p.error_code;
    fields["error"] = p.error;
  }
  Log(p.level, std::move(fields));
}

// ---------------------------------------------------------------------------------------
// System routes

Reply ServerImpl::Healthz(RequestContext&) { return Reply{200, {{"status", "ok"}}}; }

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
  std::vector<std::shared_ptr<DbEntry>> entries;
  {
    std::lock_guard lock(catalog_mu_);
    for (const auto& [key, e] : dbs_) entries.push_back(e);
  }
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
    std::shared_lock lock(e->collections_mu);
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

// ---------------------------------------------------------------------------------------
// Keys

namespace {
json KeyToJson(const KeyRecord& k) {
  return {{"id", k.id}, {"role", RoleName(k.role)}, {"tenant", k.tenant ? json(*k.tenant) : json()},
          {"database", k.database ? json(*k.database) : json()}, {"created", k.created_unix}};
}
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
  Log(LogLevel::kInfo, {{"msg", "key created"}, {"key", created.first.id}, {"by", ctx.principal.key_id},
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
  Log(LogLevel::kInfo, {{"msg", "key revoked"}, {"key", id}, {"by", ctx.principal.key_id}});
  return Reply{200, {{"revoked", id}}};
}

// ---------------------------------------------------------------------------------------
// Tenants and databases

Reply ServerImpl::ListTenants(RequestContext& ctx) {
  json out = json::array();
  for (const std::string& t : ListDir(options_.data_dir + "/tenants")) {
    if (ctx.principal.CoversTenant(t)) out.push_back({{"name", t}});
  }
  return Reply{200, {{"tenants", out}}};
}

Reply ServerImpl::PutTenant(RequestContext& ctx) {
  if (!ctx.body.empty() && !(ctx.body.is_object() && ctx.body.empty())) {
    return Error(400, "bad_request", "PUT of a tenant takes no fields");
  }
  const std::string& t = ctx.params["tenant"];
  std::lock_guard lock(catalog_mu_);
  const bool existed = TenantExists(t);
  std::error_code ec;
  fs::create_directories(TenantPath(t) + "/databases", ec);
  if (ec) return FromStatus(Status::IOError("cannot create tenant '" + t + "': " + ec.message()));
  return Reply{existed ? 200 : 201, {{"name", t}, {"created", !existed}}};
}

Reply ServerImpl::GetTenant(RequestContext& ctx) {
  if (!TenantExists(ctx.tenant)) return Error(404, "not_found", "no tenant '" + ctx.tenant + "'");
  json dbs = json::array();
  for (const std::string& d : ListDir(TenantPath(ctx.tenant) + "/databases")) {
    if (ctx.principal.CoversDatabase(ctx.tenant, d)) dbs.push_back(d);
  }
  return Reply{200, {{"name", ctx.tenant}, {"databases", dbs}}};
}

Reply ServerImpl::DeleteTenant(RequestContext& ctx) {
  const std::string& t = ctx.params["tenant"];
  if (t == kDefault) return Error(409, "failed_precondition", "the default tenant cannot be deleted");
  const bool cascade = ctx.query["cascade"] == "true";
  std::lock_guard lock(catalog_mu_);
  if (!TenantExists(t)) return Error(404, "not_found", "no tenant '" + t + "'");
  if (!ListDir(TenantPath(t) + "/databases").empty()) {
    if (!cascade) {
      return Error(409, "failed_precondition",
                   "tenant '" + t + "' still has databases; delete them first or add ?cascade=true");
    }
    // Requests find a database under catalog_mu_, which this holds: no new user can appear,
    // and one still running keeps its entry's use count above one.
    for (const auto& [key, entry] : dbs_) {
      if (key.first == t && entry.use_count() > 1) {
        Reply r = Error(409, "failed_precondition", "database '" + key.second + "' of tenant '" + t +
                                                        "' is in use by a request; retry");
        r.headers.emplace_back("Retry-After", "1");
        return r;
      }
    }
    for (auto it = dbs_.begin(); it != dbs_.end();) {
      it = it->first.first == t ? dbs_.erase(it) : std::next(it);  // closes the database
    }
  }
  std::error_code ec;
  fs::remove_all(TenantPath(t), ec);
  if (ec) return FromStatus(Status::IOError("cannot delete tenant '" + t + "': " + ec.message()));
  return Reply{200, {{"deleted", t}}};
}

Reply ServerImpl::ListDatabases(RequestContext& ctx) {
  if (!TenantExists(ctx.tenant)) return Error(404, "not_found", "no tenant '" + ctx.tenant + "'");
  json out = json::array();
  for (const std::string& d : ListDir(TenantPath(ctx.tenant) + "/databases")) {
    if (ctx.principal.CoversDatabase(ctx.tenant, d)) out.push_back({{"name", d}});
  }
  return Reply{200, {{"databases", out}}};
}

Reply ServerImpl::PutDatabase(RequestContext& ctx) {
  if (!(ctx.body.is_object() && ctx.body.empty())) {
    return Error(400, "bad_request", "PUT of a database takes no fields");
  }
  std::lock_guard lock(catalog_mu_);
  if (!TenantExists(ctx.tenant)) return Error(404, "not_found", "no tenant '" + ctx.tenant + "'");
  if (dbs_.count({ctx.tenant, ctx.database})) {
    return Reply{200, {{"name", ctx.database}, {"tenant", ctx.tenant}, {"created", false}}};
  }
  SX_TRY(auto entry, OpenDatabase(ctx.tenant, ctx.database));
  dbs_[{ctx.tenant, ctx.database}] = entry;
  return Reply{201, {{"name", ctx.database}, {"tenant", ctx.tenant}, {"created", true}}};
}

Reply ServerImpl::GetDatabase(RequestContext& ctx) {
  json cols = json::array();
  for (const CollectionConfig& c : ctx.entry->db->ListCollections()) cols.push_back(c.name);
  return Reply{200, {{"name", ctx.database}, {"tenant", ctx.tenant}, {"collections", cols}}};
}

Reply ServerImpl::DeleteDatabase(RequestContext& ctx) {
  if (ctx.tenant == kDefault && ctx.database == kDefault) {
    return Error(409, "failed_precondition", "the default database cannot be deleted");
  }
  std::lock_guard lock(catalog_mu_);
  auto it = dbs_.find({ctx.tenant, ctx.database});
  if (it == dbs_.end()) return Error(404, "not_found", "no database '" + ctx.database + "'");
  if ((!it->second->db->ListCollections().empty() || !it->second->db->BrokenCollections().empty()) &&
      ctx.query["cascade"] != "true") {
    return Error(409, "failed_precondition",
                 "database '" + ctx.database + "' still has collections; drop them first or add ?cascade=true");
  }
  it->second->drop_on_close = true;  // the directory goes with the last user
  dbs_.erase(it);
  return Reply{200, {{"deleted", ctx.database}, {"tenant", ctx.tenant}}};
}

// ---------------------------------------------------------------------------------------
// Collections and points

Result<Collection*> ServerImpl::GetCollection(RequestContext& ctx) {
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
      // Every setting, defaults included (the stored form has them all).
      if (codec::CollectionConfigToJson(c, codec::ConfigForm::kStored) ==
          codec::CollectionConfigToJson(spec.config, codec::ConfigForm::kStored)) {
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
  SX_TRY(Collection * col, GetCollection(ctx));
  json j = ConfigToJson(col->config());
  j["stats"] = codec::StatsToJson(col->Stats());
  return Reply{200, j};
}

Reply ServerImpl::DropCollection(RequestContext& ctx) {
  std::unique_lock lock(ctx.entry->collections_mu);  // no request is using a Collection*
  SX_TRY_STATUS(ctx.entry->db->DropCollection(ctx.params["collection"]));
  return Reply{200, {{"dropped", ctx.params["collection"]}}};
}

Reply ServerImpl::Upsert(RequestContext& ctx) {
  SX_TRY(Collection * col, GetCollection(ctx));
  SX_PARSE(std::vector<Point> points, ParseUpsertBody(ctx.raw_body, options_.limits));
  SX_TRY(size_t n, col->Upsert(points));
  return Reply{200, {{"acked", n}}};
}

Reply ServerImpl::DeletePoints(RequestContext& ctx) {
  SX_TRY(Collection * col, GetCollection(ctx));
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
  SX_TRY(Collection * col, GetCollection(ctx));
  const bool with_vector = ctx.query["vector"] != "false";
  const std::string& id = ctx.params["id"];
  SX_TRY(auto points, col->Get(std::span<const std::string>(&id, 1), with_vector));
  if (points.empty()) return Error(404, "not_found", "no point '" + id.substr(0, 200) + "'");
  return Reply{200, codec::PointToJson(points[0], with_vector)};
}

Reply ServerImpl::PatchPoint(RequestContext& ctx) {
  SX_TRY(Collection * col, GetCollection(ctx));
  SX_PARSE(MetadataPatch patch, ParseMetadataPatch(ctx.body));
  SX_TRY_STATUS(col->UpdateMetadata(ctx.params["id"], patch.metadata, patch.merge));
  return Reply{200, {{"updated", ctx.params["id"]}}};
}

Reply ServerImpl::DeletePoint(RequestContext& ctx) {
  SX_TRY(Collection * col, GetCollection(ctx));
  const std::string& id = ctx.params["id"];
  SX_TRY(size_t n, col->Delete(std::span<const std::string>(&id, 1)));
  if (n == 0) return Error(404, "not_found", "no point '" + id.substr(0, 200) + "'");
  return Reply{200, {{"deleted", n}}};
}

Reply ServerImpl::Count(RequestContext& ctx) {
  SX_TRY(Collection * col, GetCollection(ctx));
  SX_PARSE(std::optional<json> filter, ParseCount(ctx.body));
  SX_TRY(size_t n, col->Count(filter));
  return Reply{200, {{"count", n}}};
}

Reply ServerImpl::Scroll(RequestContext& ctx) {
  SX_TRY(Collection * col, GetCollection(ctx));
  SX_PARSE(ScrollSpec spec, ParseScroll(ctx.body, options_.limits));
  SX_TRY(ScrollPage page, col->Scroll(spec.after, spec.limit, spec.filter, spec.vectors));
  json points = json::array();
  for (const Point& p : page.points) points.push_back(codec::PointToJson(p, spec.vectors));
  return Reply{200, {{"points", points}, {"next", page.next ? json(*page.next) : json()}}};
}

Reply ServerImpl::Query(RequestContext& ctx) {
  SX_TRY(Collection * col, GetCollection(ctx));
  SX_PARSE(QueryRequest q, ParseQueryBody(ctx.raw_body, options_.limits));
  if (ctx.deadline && (!q.deadline || *ctx.deadline < *q.deadline)) q.deadline = ctx.deadline;
  SX_TRY(std::vector<QueryHit> hits, col->Query(q));
  json results = json::array();
  for (const QueryHit& h : hits) results.push_back(codec::HitToJson(h));
  return Reply{200, {{"results", std::move(results)}}};
}

// ---------------------------------------------------------------------------------------
// Snapshots: kept under DATA/snapshots/TENANT/DATABASE/NAME, never at a client-chosen path.

Reply ServerImpl::CreateSnapshot(RequestContext& ctx) {
  SX_TRY(Collection * col, GetCollection(ctx));
  SX_PARSE(std::optional<std::string> name, ParseSnapshotCreate(ctx.body));
  if (!name) {
    char stamp[32];
    const std::time_t t = std::time(nullptr);
    std::tm tm{};
    gmtime_r(&t, &tm);
    std::strftime(stamp, sizeof(stamp), "%Y%m%d-%H%M%S", &tm);
    name = col->config().name + "-" + stamp + "-" + RandomHex(2);
  }
  const std::string dir = SnapshotDir(ctx.tenant, ctx.database);
  std::error_code ec;
  fs::create_directories(dir, ec);
  if (ec) return FromStatus(Status::IOError("cannot create " + dir + ": " + ec.message()));
  if (fs::exists(dir + "/" + *name, ec)) {
    return Error(409, "already_exists", "snapshot '" + *name + "' already exists");
  }
  SX_TRY_STATUS(col->CreateSnapshot(dir + "/" + *name));
  return Reply{201, {{"snapshot", *name}, {"collection", col->config().name}}};
}

Reply ServerImpl::ListSnapshots(RequestContext& ctx) {
  json out = json::array();
  for (const std::string& s : ListDir(SnapshotDir(ctx.tenant, ctx.database))) out.push_back({{"name", s}});
  return Reply{200, {{"snapshots", out}}};
}

Reply ServerImpl::DeleteSnapshot(RequestContext& ctx) {
  const std::string path = SnapshotDir(ctx.tenant, ctx.database) + "/" + ctx.params["snapshot"];
  std::error_code ec;
  if (!fs::is_directory(path, ec)) return Error(404, "not_found", "no snapshot '" + ctx.params["snapshot"] + "'");
  fs::remove_all(path, ec);
  if (ec) return FromStatus(Status::IOError("cannot delete the snapshot: " + ec.message()));
  return Reply{200, {{"deleted", ctx.params["snapshot"]}}};
}

Reply ServerImpl::RestoreSnapshot(RequestContext& ctx) {
  const std::string path = SnapshotDir(ctx.tenant, ctx.database) + "/" + ctx.params["snapshot"];
  std::error_code ec;
  if (!fs::is_directory(path, ec)) return Error(404, "not_found", "no snapshot '" + ctx.params["snapshot"] + "'");
  SX_PARSE(std::string name, ParseSnapshotRestore(ctx.body));
  std::unique_lock lock(ctx.entry->collections_mu);
  SX_TRY(Collection * col, ctx.entry->db->RestoreSnapshot(path, name));
  SX_TRY(size_t n, col->Count());
  return Reply{201, {{"restored", name}, {"count", n}}};
}

// ---------------------------------------------------------------------------------------

Server::Server(std::unique_ptr<ServerImpl> impl) : impl_(std::move(impl)) {}
Server::~Server() = default;

Result<std::unique_ptr<Server>> Server::Create(const ServerOptions& options) {
  auto impl = std::make_unique<ServerImpl>(options);
  SEXTANT_RETURN_IF_ERROR(impl->Init());
  return std::unique_ptr<Server>(new Server(std::move(impl)));
}

int Server::port() const { return impl_->port(); }
Status Server::Run() { return impl_->Run(); }
void Server::Shutdown() { impl_->Shutdown(); }

std::vector<std::pair<std::string, std::string>> Server::RouteTable() {
  std::vector<std::pair<std::string, std::string>> out;
  for (const auto& r : ServerImpl::Routes()) out.emplace_back(r.method, r.pattern);
  return out;
}

}  // namespace sextant::server
