// The server's setup (options, keys, catalog, the HTTP listener) and its request path:
// Handle takes each request through named steps, from its route to its reply and log line.
#include "server/server.h"

#include <dirent.h>
#include <netdb.h>
#include <sys/socket.h>

#include <algorithm>
#include <cerrno>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <thread>

#include <httplib.h>

#include "server/cluster_hook.h"
#include "server/http_transport.h"
#include "server/server_impl.h"

namespace sextant::server {

using nlohmann::json;

// ---------------------------------------------------------------------------------------
// Setup

ServerImpl::ServerImpl(ServerOptions options) : options_(std::move(options)), log_(options_.log_level) {}

ServerImpl::~ServerImpl() {
  if (run_phase_ == 1) Shutdown();  // Run is still serving (the owner should have stopped it)
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
  std::filesystem::create_directories(options_.data_dir, ec);
  if (ec) return Status::IOError("cannot create " + options_.data_dir + ": " + ec.message());
  request_id_prefix_ = RandomHex(4);

  SEXTANT_ASSIGN_OR_RETURN(std::optional<std::string> admin_secret, LoadAdminKey());
  auth_enabled_ = admin_secret.has_value();
  SEXTANT_ASSIGN_OR_RETURN(keys_, KeyStore::Open(options_.data_dir + "/keys.json", admin_secret));
  if (options_.cluster) options_.cluster->AttachKeyStore(keys_);
  catalog_ = std::make_unique<Catalog>(options_.data_dir, options_.durability);
  SEXTANT_RETURN_IF_ERROR(catalog_->Open());

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

  SEXTANT_RETURN_IF_ERROR(MakeHttpServer());
  return Bind();
}

// The bootstrap admin key from its file, created with a new random key when missing;
// nullopt without an admin key file (no authentication).
Result<std::optional<std::string>> ServerImpl::LoadAdminKey() {
  if (!options_.admin_key_file) return std::optional<std::string>();
  const std::string& f = *options_.admin_key_file;
  std::ifstream in(f);
  if (in) {
    std::string line;
    std::getline(in, line);
    while (!line.empty() && (line.back() == '\r' || line.back() == ' ' || line.back() == '\t')) line.pop_back();
    if (line.size() < 16) return Status::InvalidArgument(f + ": the admin key must be at least 16 characters");
    return std::optional<std::string>(line);
  }
  const std::string hex = RandomHex(32);
  if (hex.empty()) return Status::Internal("the random generator failed");
  const std::string secret = "sxt_" + hex;
  SEXTANT_RETURN_IF_ERROR(WriteFileAtomic(f, secret + "\n").WithContext("admin key file"));
  log_.Write(LogLevel::kWarn, {{"msg", "created a new admin key"}, {"file", f}});
  return std::optional<std::string>(secret);
}

// The listener (TLS: httplib's own; plain HTTP: the polling transport) and its hooks.
Status ServerImpl::MakeHttpServer() {
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
      log_.Write(LogLevel::kWarn, {{"msg", "request"}, {"request_id", id}, {"status", status}, {"error_code", code},
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
      case 413: r = BodyTooLarge(); break;
      case 414: r = Error(414, "uri_too_long", "the request target is too long"); break;
      case 404: r = Error(404, "not_found", "no route for " + req.method + " " + req.path); break;
      default: r = Error(res.status, "bad_request", "the request could not be read"); break;
    }
    const std::string id = NewRequestId();
    Send(r, id, res);
    metrics_->Observe(-1, res.status, 0);
    log_.Write(LogLevel::kWarn, {{"msg", "request"}, {"request_id", id}, {"method", req.method},
                                 {"status", res.status}, {"error_code", r.body["error"]["code"]}});
  });
  const bool tls = !options_.tls_cert.empty();
  if (tls) {
    http_->set_pre_routing_handler([this](const httplib::Request& req, httplib::Response&) {
      std::lock_guard<std::mutex> l(tls_busy_mu_);
      tls_busy_.emplace(req.remote_addr, req.remote_port);
      return httplib::Server::HandlerResponse::Unhandled;
    });
  }
  // The request's line, held by Handle, is written once its response has gone out.
  http_->set_logger([this, tls](const httplib::Request& req, const httplib::Response& res) {
    log_.WriteRequestLine(req.method, req.remote_addr, res.body.size());
    if (tls) {
      std::lock_guard<std::mutex> l(tls_busy_mu_);
      tls_busy_.erase({req.remote_addr, req.remote_port});
    }
  });
  http_->set_exception_handler([](const httplib::Request&, httplib::Response& res, std::exception_ptr) {
    res.status = 500;
    res.set_content(R"({"error":{"code":"internal","message":"unexpected exception"}})", "application/json");
  });
  return Status::OK();
}

Status ServerImpl::Bind() {
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
  log_.Write(LogLevel::kInfo, {{"msg", "listening"}, {"host", options_.host}, {"port", port_},
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
  log_.Write(LogLevel::kInfo, {{"msg", "stopped"}});
  return Status::OK();
}

void ServerImpl::Shutdown() {
  bool expected = false;
  if (!draining_.compare_exchange_strong(expected, true)) return;
  log_.Write(LogLevel::kInfo, {{"msg", "draining: finishing in-flight requests, then stopping"}});
  if (!http_) return;
  // Run may be between its draining_ check and listening: wait until it listens (or ends)
  // so that stop() has a socket to close.
  const auto deadline = Clock::now() + std::chrono::seconds(10);
  while (run_phase_ == 1 && !http_->is_running() && Clock::now() < deadline) {
    std::this_thread::sleep_for(std::chrono::milliseconds(1));
  }
  http_->stop();
  if (!options_.tls_cert.empty()) CloseIdleTlsConnections();
}

void ServerImpl::CloseIdleTlsConnections() {
  // httplib keeps no list of its connections: find them among the process's sockets, by
  // the local port and the peer a busy request was recorded under.
  std::vector<int> fds;
  if (DIR* dir = ::opendir("/proc/self/fd")) {
    while (const dirent* e = ::readdir(dir)) {
      if (e->d_name[0] >= '0' && e->d_name[0] <= '9') fds.push_back(std::atoi(e->d_name));
    }
    ::closedir(dir);
  }
  auto port_of = [](const sockaddr_storage& a) {
    if (a.ss_family == AF_INET) return static_cast<int>(ntohs(reinterpret_cast<const sockaddr_in&>(a).sin_port));
    if (a.ss_family == AF_INET6) return static_cast<int>(ntohs(reinterpret_cast<const sockaddr_in6&>(a).sin6_port));
    return -1;
  };
  std::lock_guard<std::mutex> l(tls_busy_mu_);
  for (const int fd : fds) {
    sockaddr_storage local{}, peer{};
    socklen_t local_len = sizeof local, peer_len = sizeof peer;
    if (::getsockname(fd, reinterpret_cast<sockaddr*>(&local), &local_len) != 0) continue;  // not a socket
    if (port_of(local) != port_) continue;
    if (::getpeername(fd, reinterpret_cast<sockaddr*>(&peer), &peer_len) != 0) continue;  // the listener
    char host[NI_MAXHOST];
    if (::getnameinfo(reinterpret_cast<sockaddr*>(&peer), peer_len, host, sizeof host, nullptr, 0, NI_NUMERICHOST) != 0) {
      continue;
    }
    if (tls_busy_.count({host, port_of(peer)}) != 0) continue;  // ends after its response
    // Its thread waits for a next request: end of input wakes it, and it closes. (Writes
    // stay open, so a response still on its way is not cut.)
    ::shutdown(fd, SHUT_RD);
  }
}

// ---------------------------------------------------------------------------------------
// The request path

// One request: Route, Process (the steps that decide the reply), Send, Record (metrics, log).
void ServerImpl::Handle(const httplib::Request& req, std::string_view body, bool body_too_large,
                        httplib::Response& res) {
  const std::string_view target = req.target;
  const size_t qmark = target.find('?');
  const Incoming in{.http = req,
                    .path = target.substr(0, qmark),
                    .query_string = qmark == std::string_view::npos ? std::string_view() : target.substr(qmark + 1),
                    .body = body,
                    .body_too_large = body_too_large,
                    .start = Clock::now()};
  const std::string request_id = RequestIdOf(req);
  RouteMatch match = router_.Match(req.method == "HEAD" ? "GET" : req.method, in.path);
  RequestContext ctx;

  metrics_->AddInFlight(1);
  Reply reply;
  try {
    reply = Process(in, match, ctx);
  } catch (const std::exception& e) {
    reply = Error(500, "internal", std::string("unexpected exception: ") + e.what());
  }
  metrics_->AddInFlight(-1);
  Send(reply, request_id, res);
  Record(in, request_id, match.route, reply, ctx.principal.key_id);
}

// Route -> Authenticate -> Authorize -> CheckNames -> Admit -> ParseBody -> FindDatabase -> the
// route's handler. The request's admission slot is let go when this returns, before the reply
// is sent.
Reply ServerImpl::Process(const Incoming& in, RouteMatch& match, RequestContext& ctx) {
  if (in.body_too_large) return BodyTooLarge();
  if (match.route < 0) return NoRoute(in, match);
  const RouteSpec& route = routes_[match.route];
  ctx.params = std::move(match.params);
  ctx.query = ParseQueryString(in.query_string);
  ctx.if_none_match = in.http.get_header_value("If-None-Match");
  if (auto stop = Authenticate(route, in, ctx)) return std::move(*stop);
  if (auto stop = Authorize(route, ctx)) return std::move(*stop);
  if (auto stop = CheckNames(ctx)) return std::move(*stop);
  if (options_.handler_timeout_ms > 0) {
    ctx.deadline = in.start + std::chrono::milliseconds(options_.handler_timeout_ms);
  }
  Limiter::Slot slot;
  if (auto stop = Admit(route, ctx, &slot)) return std::move(*stop);
  if (auto stop = ParseBody(route, in, ctx)) return std::move(*stop);
  if (options_.cluster) {  // a cluster node: the cluster answers the routes it owns
    const ClusterRequest request{.method = route.method, .pattern = route.pattern, .params = ctx.params,
                                 .query = ctx.query, .body = ctx.body, .raw_body = ctx.raw_body,
                                 .tenant = ctx.tenant, .database = ctx.database, .deadline = ctx.deadline,
                                 .principal = ctx.principal};
    if (auto reply = options_.cluster->Handle(request)) return std::move(*reply);
  }
  if (auto stop = FindDatabase(route, ctx)) return std::move(*stop);
  return (this->*route.handler)(ctx);
}

// 405 with Allow when the path has routes for other methods, 404 otherwise.
Reply ServerImpl::NoRoute(const Incoming& in, const RouteMatch& match) const {
  const std::string& method = in.http.method;
  if (match.allowed_methods.empty()) {
    return Error(404, "not_found", "no route for " + method + " " + std::string(in.path.substr(0, 200)));
  }
  std::string allow;
  for (const auto& m : match.allowed_methods) allow += (allow.empty() ? "" : ", ") + m;
  Reply r = Error(405, "method_not_allowed",
                  method + " is not allowed on " + std::string(in.path) + " (allowed: " + allow + ")");
  r.headers.emplace_back("Allow", allow);
  return r;
}

// Who is calling: the principal of the bearer key; without authentication, an anonymous admin.
std::optional<Reply> ServerImpl::Authenticate(const RouteSpec& route, const Incoming& in,
                                              RequestContext& ctx) const {
  if (route.scope == Scope::kPublic) return std::nullopt;
  if (!auth_enabled_) {
    ctx.principal = Principal{"anonymous", Role::kAdmin, std::nullopt, std::nullopt};
    return std::nullopt;
  }
  // The whole value (get_header_value would cut it at a NUL); the plain-HTTP transport has
  // already refused control characters, a TLS connection gets here with them.
  const auto auth = in.http.headers.find("Authorization");
  const std::string header = auth == in.http.headers.end() ? std::string() : auth->second;
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
  return std::nullopt;
}

// Whether the principal's role and scope allow the route; sets ctx.tenant and ctx.database
// for routes scoped to them.
std::optional<Reply> ServerImpl::Authorize(const RouteSpec& route, RequestContext& ctx) const {
  if (route.scope == Scope::kPublic) return std::nullopt;
  if (ctx.principal.role < route.role) {
    return Error(403, "permission_denied", std::string("this route needs the ") + RoleName(route.role) +
                                               " role; the key has " + RoleName(ctx.principal.role));
  }
  if (route.scope == Scope::kGlobal && ctx.principal.tenant) {
    return Error(403, "permission_denied", "this route needs a key that is not scoped to a tenant");
  }
  if (route.scope == Scope::kTenant || route.scope == Scope::kDatabase) {
    auto t = ctx.params.find("tenant");
    ctx.tenant = t == ctx.params.end() ? kDefaultName : t->second;
    auto d = ctx.params.find("database");
    ctx.database = d == ctx.params.end() ? kDefaultName : d->second;
    if (!ctx.principal.CoversTenant(ctx.tenant) ||
        (route.scope == Scope::kDatabase && !ctx.principal.CoversDatabase(ctx.tenant, ctx.database))) {
      return Error(403, "permission_denied", "the key is not allowed to access tenant '" + ctx.tenant +
                                                 (route.scope == Scope::kDatabase ? "' database '" + ctx.database : "") +
                                                 "'");
    }
  }
  return std::nullopt;
}

// Names in the path become directory names: only valid ones get further.
std::optional<Reply> ServerImpl::CheckNames(const RequestContext& ctx) const {
  for (const char* p : {"tenant", "database", "collection", "snapshot", "key_id"}) {
    auto it = ctx.params.find(p);
    if (it == ctx.params.end()) continue;
    if (Status st = CheckName(it->second, p == std::string("key_id") ? "key" : p); !st.ok()) {
      return Error(400, "bad_request", st.message());
    }
  }
  return std::nullopt;
}

// Waits for an admission slot (routes that take one), within the queue timeout and the
// request's deadline.
std::optional<Reply> ServerImpl::Admit(const RouteSpec& route, const RequestContext& ctx, Limiter::Slot* slot) {
  if (route.admitted) {
    auto wait = std::chrono::milliseconds(options_.queue_timeout_ms);
    if (ctx.deadline) {
      wait = std::min(wait, std::chrono::duration_cast<std::chrono::milliseconds>(*ctx.deadline - Clock::now()));
    }
    switch (limiter_->Acquire(std::max(wait, std::chrono::milliseconds(0)), slot)) {
      case Limiter::Outcome::kQueueFull: {
        metrics_->Reject("overload");
        Reply r = Error(429, "too_many_requests", "the server is at its limit of concurrent requests; retry later");
        r.headers.emplace_back("Retry-After", "1");
        return r;
      }
      case Limiter::Outcome::kTimeout: {
        if (ctx.deadline && Clock::now() >= *ctx.deadline) return DeadlineError();
        metrics_->Reject("queue_timeout");
        Reply r = Error(503, "timeout", "no capacity to handle the request within " +
                                            std::to_string(options_.queue_timeout_ms) + " ms; retry later");
        r.headers.emplace_back("Retry-After", "1");
        return r;
      }
      case Limiter::Outcome::kAdmitted:
        if (options_.test_handler_delay_ms > 0) {
          std::this_thread::sleep_for(std::chrono::milliseconds(options_.test_handler_delay_ms));
        }
        break;
    }
  }
  // Nothing has been applied yet: a request whose time ran out in the queue stops here.
  if (ctx.deadline && Clock::now() > *ctx.deadline) return DeadlineError();
  return std::nullopt;
}

std::optional<Reply> ServerImpl::ParseBody(const RouteSpec& route, const Incoming& in, RequestContext& ctx) const {
  switch (route.body) {
    case Body::kJson: {
      auto parsed = ParseJsonBody(in.body, options_.limits.max_json_depth);
      if (!parsed.ok()) return FromParseStatus(parsed.status());
      ctx.body = std::move(parsed).value();
      break;
    }
    case Body::kRaw: ctx.raw_body = in.body; break;
    case Body::kNone:
      // A body on DELETE has no defined meaning (RFC 9110) but some clients send one: ignored.
      if (!in.body.empty() && route.method != "DELETE") {
        return Error(400, "bad_request", "this route takes no request body");
      }
      break;
  }
  return std::nullopt;
}

std::optional<Reply> ServerImpl::FindDatabase(const RouteSpec& route, RequestContext& ctx) const {
  if (!route.in_database) return std::nullopt;
  ctx.entry = catalog_->FindDatabase(ctx.tenant, ctx.database);
  if (!ctx.entry) return Error(404, "not_found", "no database '" + ctx.database + "' in tenant '" + ctx.tenant + "'");
  return std::nullopt;
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

// The request's metrics, and its log line (written by the logger hook once the response has
// gone out).
void ServerImpl::Record(const Incoming& in, const std::string& request_id, int route, const Reply& reply,
                        const std::string& key_id) {
  // Wherever the deadline passed (in the queue, before the handler, in a query), counted once.
  if (reply.status == 503 && reply.body.contains("error") &&
      reply.body.at("error").value("code", "") == "deadline_exceeded") {
    metrics_->Reject("deadline");
  }
  const double seconds = std::chrono::duration<double>(Clock::now() - in.start).count();
  metrics_->Observe(route, reply.status, seconds);

  const LogLevel level = reply.status >= 500 ? LogLevel::kError : reply.status >= 400 ? LogLevel::kWarn : LogLevel::kInfo;
  if (!log_.Enabled(level)) return;
  RequestLine line;
  line.level = level;
  line.request_id = request_id;
  line.route = route >= 0 ? routes_[route].pattern : "unmatched";
  line.path = std::string(in.path.substr(0, 512));
  line.status = reply.status;
  line.duration_ms = seconds * 1000;
  line.bytes_in = in.body.size();
  line.key_id = key_id;
  if (reply.status >= 400 && reply.body.contains("error")) {
    line.error_code = reply.body.at("error").value("code", "");
    line.error = reply.body.at("error").value("message", "");
  }
  log_.HoldRequestLine(std::move(line));
}

Reply ServerImpl::BodyTooLarge() const {
  return Error(413, "payload_too_large",
               "the request body is larger than " + std::to_string(options_.limits.max_body_bytes) + " bytes");
}

// The client's X-Request-Id when it is acceptable, else a new one.
std::string ServerImpl::RequestIdOf(const httplib::Request& req) {
  if (req.has_header("X-Request-Id")) {
    if (auto id = SanitizeRequestId(req.get_header_value("X-Request-Id"))) return *id;
  }
  return NewRequestId();
}

std::string ServerImpl::NewRequestId() {
  char buf[32];
  std::snprintf(buf, sizeof(buf), "%s-%06llx", request_id_prefix_.c_str(),
                static_cast<unsigned long long>(request_counter_.fetch_add(1) + 1));
  return buf;
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
  for (const RouteSpec& r : Routes()) out.emplace_back(r.method, r.pattern);
  return out;
}

}  // namespace sextant::server
