// `sextant serve`: runs the HTTP server (src/server) until SIGTERM or SIGINT, then drains
// in-flight requests and exits 0.
#include <signal.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstdio>
#include <thread>

#include "args.h"
#include "commands.h"
#include "server/server.h"
#ifdef SEXTANT_HAVE_CLUSTER
#include "cluster/cluster_node.h"
#endif

namespace sextant::cli {
namespace {

constexpr const char* kServeUsage =
    "usage: sextant serve --data DIR [--port 8080] [--host 127.0.0.1] [--admin-key-file F]\n"
    "                     [--tls-cert F --tls-key F] [--max-body-bytes N] [--max-batch N]\n"
    "                     [--max-k N] [--max-dimension N] [--threads N] [--max-inflight N]\n"
    "                     [--max-queue N] [--queue-timeout-ms N] [--request-timeout-s N]\n"
    "                     [--header-timeout-s 10] [--max-connections-per-client 256]\n"
    "                     [--busy-poll-us 200] [--log-level info|warn|error|off]\n"
    "                     [--embedding-provider-urls PREFIX,...]\n"
    "                     [--cluster nats://HOST:PORT[,...] --node-id NAME [--advertise URL]\n"
    "                      [--cluster-stream-replicas N] [--cluster-node-timeout-ms 3000]\n"
    "                      [--cluster-reassign-timeout-s 30] [--cluster-compact-messages 100000]]\n"
    "Without --admin-key-file there is no authentication and only 127.0.0.1 is allowed.\n"
    "The admin key file is created with a new random key when it does not exist.\n"
    "Collections may name an embedding provider (an OpenAI-compatible URL) only under one of\n"
    "the --embedding-provider-urls prefixes (none by default).\n"
    "--cluster makes the server a node of a cluster on NATS JetStream (docs/cluster.md).\n";

int g_signal_pipe[2] = {-1, -1};

void OnSignal(int) {
  const int saved = errno;
  const char c = 's';
  (void)!::write(g_signal_pipe[1], &c, 1);
  errno = saved;
}

Result<server::LogLevel> ParseLogLevel(const std::string& s) {
  if (s == "info") return server::LogLevel::kInfo;
  if (s == "warn") return server::LogLevel::kWarn;
  if (s == "error") return server::LogLevel::kError;
  if (s == "off") return server::LogLevel::kOff;
  return Status::InvalidArgument("--log-level must be info, warn, error or off, got '" + s + "'");
}

Status Serve(const std::vector<std::string>& argv) {
  SEXTANT_ASSIGN_OR_RETURN(
      Args args, Args::Parse(argv,
                             {"data", "port", "host", "admin-key-file", "tls-cert", "tls-key", "max-body-bytes",
                              "max-batch", "max-k", "max-dimension", "threads", "max-inflight", "max-queue",
                              "queue-timeout-ms", "request-timeout-s", "header-timeout-s", "max-connections-per-client",
                              "busy-poll-us", "log-level", "embedding-provider-urls", "cluster", "node-id",
                              "advertise", "cluster-stream-replicas", "cluster-node-timeout-ms",
                              "cluster-reassign-timeout-s", "cluster-compact-messages"},
                             {}));
  if (!args.positional().empty()) return Status::InvalidArgument("unexpected argument '" + args.positional()[0] + "'");
  server::ServerOptions opt;
  SEXTANT_ASSIGN_OR_RETURN(opt.data_dir, args.Required("data"));
  opt.host = args.Get("host", "127.0.0.1");
  if (args.Has("port") && args.Get("port") == "0") {
    opt.port = 0;
  } else {
    SEXTANT_ASSIGN_OR_RETURN(int64_t port, args.GetPositiveInt("port", 8080));
    if (port > 65535) return Status::InvalidArgument("--port must be at most 65535");
    opt.port = static_cast<int>(port);
  }
  if (args.Has("admin-key-file")) opt.admin_key_file = args.Get("admin-key-file");
  opt.tls_cert = args.Get("tls-cert");
  opt.tls_key = args.Get("tls-key");
  SEXTANT_ASSIGN_OR_RETURN(int64_t body, args.GetPositiveInt("max-body-bytes", opt.limits.max_body_bytes));
  SEXTANT_ASSIGN_OR_RETURN(int64_t batch, args.GetPositiveInt("max-batch", opt.limits.max_batch));
  SEXTANT_ASSIGN_OR_RETURN(int64_t k, args.GetPositiveInt("max-k", opt.limits.max_k));
  SEXTANT_ASSIGN_OR_RETURN(int64_t dim, args.GetPositiveInt("max-dimension", opt.limits.max_dimension));
  SEXTANT_ASSIGN_OR_RETURN(int64_t threads, args.GetPositiveInt("threads", opt.threads));
  SEXTANT_ASSIGN_OR_RETURN(int64_t inflight, args.GetPositiveInt("max-inflight", 1));
  SEXTANT_ASSIGN_OR_RETURN(int64_t queue, args.GetPositiveInt("max-queue", opt.max_queue));
  SEXTANT_ASSIGN_OR_RETURN(int64_t queue_ms, args.GetPositiveInt("queue-timeout-ms", opt.queue_timeout_ms));
  SEXTANT_ASSIGN_OR_RETURN(int64_t timeout_s, args.GetPositiveInt("request-timeout-s", opt.read_timeout_s));
  SEXTANT_ASSIGN_OR_RETURN(int64_t header_s, args.GetPositiveInt("header-timeout-s", opt.header_timeout_ms / 1000));
  SEXTANT_ASSIGN_OR_RETURN(int64_t per_client,
                           args.GetPositiveInt("max-connections-per-client", opt.max_connections_per_client));
  opt.header_timeout_ms = static_cast<int>(std::min<int64_t>(header_s, 1 << 20) * 1000);
  opt.max_connections_per_client = static_cast<size_t>(per_client);
  opt.limits.max_body_bytes = static_cast<size_t>(body);
  opt.limits.max_batch = static_cast<size_t>(batch);
  opt.limits.max_k = static_cast<size_t>(k);
  opt.limits.max_dimension = static_cast<size_t>(dim);
  opt.threads = static_cast<size_t>(threads);
  if (args.Has("max-inflight")) opt.max_inflight = static_cast<size_t>(inflight);
  opt.max_queue = static_cast<size_t>(queue);
  opt.queue_timeout_ms = static_cast<int>(queue_ms);
  opt.read_timeout_s = opt.write_timeout_s = static_cast<int>(timeout_s);
  if (args.Has("busy-poll-us")) {
    int64_t spin = 0;
    if (args.Get("busy-poll-us") != "0") {
      SEXTANT_ASSIGN_OR_RETURN(spin, args.GetPositiveInt("busy-poll-us", opt.busy_poll_us));
    }
    if (spin > 100000) return Status::InvalidArgument("--busy-poll-us must be at most 100000");
    opt.busy_poll_us = static_cast<int>(spin);
  }
  if (args.Has("embedding-provider-urls")) {
    std::string list = args.Get("embedding-provider-urls");
    for (size_t start = 0; start <= list.size();) {
      const size_t comma = std::min(list.find(',', start), list.size());
      std::string prefix = list.substr(start, comma - start);
      if (prefix.rfind("http://", 0) != 0 && prefix.rfind("https://", 0) != 0) {
        return Status::InvalidArgument("--embedding-provider-urls: '" + prefix + "' is not an http(s) URL prefix");
      }
      opt.limits.embedding_provider_urls.push_back(std::move(prefix));
      start = comma + 1;
    }
  }
  opt.handler_timeout_ms = static_cast<int>(std::min<int64_t>(timeout_s, 1 << 20) * 1000);
  SEXTANT_ASSIGN_OR_RETURN(opt.log_level, ParseLogLevel(args.Get("log-level", "info")));
  for (const char* flag : {"node-id", "advertise", "cluster-stream-replicas", "cluster-node-timeout-ms",
                           "cluster-reassign-timeout-s", "cluster-compact-messages"}) {
    if (args.Has(flag) && !args.Has("cluster")) {
      return Status::InvalidArgument(std::string("--") + flag + " needs --cluster");
    }
  }
#ifdef SEXTANT_HAVE_CLUSTER
  std::shared_ptr<cluster::ClusterNode> node;
  if (args.Has("cluster")) {
    cluster::ClusterOptions copt;
    std::string list = args.Get("cluster");
    for (size_t start = 0; start <= list.size();) {
      const size_t comma = std::min(list.find(',', start), list.size());
      if (comma > start) copt.nats_urls.push_back(list.substr(start, comma - start));
      start = comma + 1;
    }
    SEXTANT_ASSIGN_OR_RETURN(copt.node_id, args.Required("node-id"));
    copt.advertise = args.Get("advertise", "http://" + opt.host + ":" + std::to_string(opt.port));
    copt.data_dir = opt.data_dir + "/cluster";
    copt.snapshots_dir = opt.data_dir + "/snapshots";  // where the server keeps them (catalog.h)
    copt.limits = opt.limits;
    SEXTANT_ASSIGN_OR_RETURN(int64_t replicas, args.GetPositiveInt("cluster-stream-replicas", 1));
    if (args.Has("cluster-stream-replicas")) copt.stream_replicas = static_cast<int>(std::min<int64_t>(replicas, 99));
    SEXTANT_ASSIGN_OR_RETURN(int64_t node_ms, args.GetPositiveInt("cluster-node-timeout-ms", copt.node_timeout_ms));
    copt.node_timeout_ms = static_cast<int>(std::min<int64_t>(node_ms, 3600000));
    SEXTANT_ASSIGN_OR_RETURN(int64_t reassign_s,
                             args.GetPositiveInt("cluster-reassign-timeout-s", copt.reassign_timeout_ms / 1000));
    copt.reassign_timeout_ms = static_cast<int>(std::min<int64_t>(reassign_s, 86400) * 1000);
    if (args.Get("cluster-compact-messages") == "0") {  // 0: streams keep everything
      copt.compact_messages = 0;
    } else {
      SEXTANT_ASSIGN_OR_RETURN(int64_t compact, args.GetPositiveInt("cluster-compact-messages",
                                                                    static_cast<int64_t>(copt.compact_messages)));
      copt.compact_messages = static_cast<uint64_t>(compact);
    }
    copt.on_wait = [](const std::string& message) {
      std::fprintf(stderr, "sextant serve: waiting: %s\n", message.c_str());
      std::fflush(stderr);
    };
    SEXTANT_ASSIGN_OR_RETURN(node, cluster::ClusterNode::Start(copt));
    opt.cluster = node;
  }
#else
  if (args.Has("cluster")) {
    return Status::FailedPrecondition("this sextant was built without the cluster layer (libnats-dev was not found)");
  }
#endif

  // SIGTERM/SIGINT: the handler only writes a byte to a pipe (async-signal-safe); a thread
  // reading the pipe starts the drain. (Blocking the signals and sigwait-ing is not enough:
  // threads started before main, e.g. OpenBLAS's, would still take them.)
  if (::pipe(g_signal_pipe) != 0) return Status::IOError("pipe failed");
  struct sigaction sa {};
  sa.sa_handler = OnSignal;
  sigemptyset(&sa.sa_mask);
  sigaction(SIGTERM, &sa, nullptr);
  sigaction(SIGINT, &sa, nullptr);
  signal(SIGPIPE, SIG_IGN);

  SEXTANT_ASSIGN_OR_RETURN(auto srv, server::Server::Create(opt));
  std::printf("{\"event\":\"listening\",\"host\":\"%s\",\"port\":%d,\"tls\":%s}\n", opt.host.c_str(), srv->port(),
              opt.tls_cert.empty() ? "false" : "true");
  std::fflush(stdout);
  std::thread signals([&] {
    char c = 0;
    while (::read(g_signal_pipe[0], &c, 1) < 0 && errno == EINTR) {
    }
    if (c == 's') srv->Shutdown();  // 'q': Run returned by itself
  });
  Status st = srv->Run();
  const char quit = 'q';
  (void)!::write(g_signal_pipe[1], &quit, 1);
  signals.join();
  srv.reset();  // closes the databases
#ifdef SEXTANT_HAVE_CLUSTER
  if (node) node->Stop();
#endif
  return st;
}

}  // namespace

int RunServe(const std::vector<std::string>& args) {
  for (const auto& a : args) {
    if (a == "--help" || a == "-h") {
      std::fputs(kServeUsage, stdout);
      return 0;
    }
  }
  Status st = Serve(args);
  if (!st.ok()) {
    PrintError("serve", st.message());
    if (st.code() == StatusCode::kInvalidArgument) std::fputs(kServeUsage, stderr);
    return st.code() == StatusCode::kInvalidArgument ? 2 : 1;
  }
  return 0;
}

}  // namespace sextant::cli
