// The HTTP server end to end over loopback: every route, keys/roles/tenant isolation, every
// bad input the issue lists, limits, TLS, SIGTERM drain and SIGKILL durability (the real
// `sextant serve` as a child process), the OpenAPI document against the route table, and the
// README's curl examples run exactly as written.
#include <arpa/inet.h>
#include <fcntl.h>
#include <gtest/gtest.h>
#include <netinet/in.h>
#include <signal.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <atomic>
#include <chrono>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <map>
#include <mutex>
#include <optional>
#include <random>
#include <regex>
#include <set>
#include <sstream>
#include <string>
#include <thread>
#include <vector>

#include <httplib.h>
#include <nlohmann/json.hpp>

#include "server/server.h"
#include "test_server.h"

namespace {

namespace fs = std::filesystem;
using nlohmann::json;
using sextant::server::LogLevel;
using sextant::server::Server;
using sextant::server::ServerOptions;

constexpr const char* kAdmin = "<admin>";  // Call(): use the admin key
constexpr const char* kNoKey = "";

std::string Slurp(const std::string& path) {
  std::ifstream f(path, std::ios::binary);
  std::stringstream s;
  s << f.rdbuf();
  return s.str();
}

std::string Trim(std::string s) {
  while (!s.empty() && std::isspace(static_cast<unsigned char>(s.back()))) s.pop_back();
  return s;
}

std::string FreshDir(const std::string& tag) {
  static std::atomic<int> counter{0};
  const std::string dir = (fs::temp_directory_path() / ("sextant_server_" + tag + "_" + std::to_string(::getpid()) +
                                                       "_" + std::to_string(counter++))).string();
  fs::remove_all(dir);
  fs::create_directories(dir);
  return dir;
}

std::string PercentEncode(const std::string& s) {
  std::string out;
  for (unsigned char c : s) {
    if (std::isalnum(c) || c == '-' || c == '_' || c == '.' || c == '~') {
      out.push_back(static_cast<char>(c));
    } else {
      char buf[4];
      std::snprintf(buf, sizeof(buf), "%%%02X", c);
      out += buf;
    }
  }
  return out;
}

using sextant::server::testing::Resp;
using sextant::server::testing::Send;

// Every response body is JSON; errors have {"error": {"code", "message"}}.
void ExpectError(const Resp& r, int status, const std::string& code) {
  EXPECT_EQ(r.status, status) << r.raw;
  ASSERT_TRUE(r.body.is_object()) << r.raw;
  ASSERT_TRUE(r.body.contains("error")) << r.raw;
  EXPECT_EQ(r.body["error"].value("code", ""), code) << r.raw;
  EXPECT_FALSE(r.body["error"].value("message", "").empty()) << r.raw;
}

class ServerTest : public ::testing::Test {
 protected:
  void SetUp() override { dir_ = FreshDir("t"); }
  void TearDown() override {
    Stop();
    fs::remove_all(dir_);
  }

  ServerOptions Options() const {
    ServerOptions o;
    o.data_dir = dir_ + "/data";
    o.port = 0;
    o.admin_key_file = dir_ + "/admin.key";
    o.log_level = LogLevel::kOff;
    o.threads = 16;
    return o;
  }
  void Start(const ServerOptions& o) {
    auto s = Server::Create(o);
    ASSERT_TRUE(s.ok()) << s.status().ToString();
    server_ = std::move(s).value();
    port_ = server_->port();
    thread_ = std::thread([this] { EXPECT_TRUE(server_->Run().ok()); });
    if (o.admin_key_file) admin_ = Trim(Slurp(*o.admin_key_file));
    if (!o.tls_cert.empty()) return;
    for (int i = 0; i < 500 && Send(port_, "GET", "/readyz", "", "").status != 200; ++i) {
      std::this_thread::sleep_for(std::chrono::milliseconds(10));
    }
  }
  void Start() { Start(Options()); }
  // A self-signed certificate for localhost and its key, written by openssl.
  static void MakeCertificate(const std::string& cert, const std::string& key) {
    const std::string cmd = "openssl req -x509 -newkey rsa:2048 -nodes -keyout " + key + " -out " + cert +
                            " -days 1 -subj /CN=localhost >/dev/null 2>&1";
    ASSERT_EQ(std::system(cmd.c_str()), 0);
  }
  // GET over TLS, retried while the server is not yet listening (Start does not wait for a TLS
  // server); the status (0: no answer within 2 s) and, when `body` is given, the body.
  static int FirstTlsGet(httplib::SSLClient& tls, const std::string& path, const httplib::Headers& headers,
                         std::string* body) {
    for (int i = 0; i < 200; ++i) {
      if (auto res = tls.Get(path, headers)) {
        if (body != nullptr) *body = res->body;
        return res->status;
      }
      std::this_thread::sleep_for(std::chrono::milliseconds(10));
    }
    return 0;
  }
  void Stop() {
    if (!server_) return;
    server_->Shutdown();
    thread_.join();
    server_.reset();
  }

  Resp Call(const std::string& method, const std::string& path, const std::optional<json>& body = std::nullopt,
            const std::string& key = kAdmin) {
    return Send(port_, method, path, body ? body->dump() : "", key == kAdmin ? admin_ : key);
  }
  Resp CallRaw(const std::string& method, const std::string& path, const std::string& body,
               const std::string& key = kAdmin) {
    return Send(port_, method, path, body, key == kAdmin ? admin_ : key);
  }
  std::string CreateKey(const json& spec) {
    Resp r = Call("POST", "/v1/keys", spec);
    EXPECT_EQ(r.status, 201) << r.raw;
    return r.body.value("key", "");
  }

  std::string dir_;
  std::unique_ptr<Server> server_;
  std::thread thread_;
  int port_ = 0;
  std::string admin_;
};

json ThreePoints() {
  return {{"points",
           {{{"id", "a"}, {"vector", {1, 0, 0}}, {"document", "hello world"}, {"metadata", {{"lang", "en"}, {"n", 1}}}},
            {{"id", "b"}, {"vector", {0, 1, 0}}, {"document", "bonjour"}, {"metadata", {{"lang", "fr"}, {"n", 2}}}},
            {{"id", "c/1"}, {"vector", {0.9, 0.1, 0}}, {"metadata", {{"lang", "en"}, {"n", 3}}}}}}};
}

TEST_F(ServerTest, EveryRouteAnswersAndIsCounted) {
  Start();
  EXPECT_EQ(Call("GET", "/healthz", std::nullopt, kNoKey).body["status"], "ok");
  EXPECT_EQ(Call("GET", "/readyz", std::nullopt, kNoKey).status, 200);
  Resp api = Call("GET", "/openapi.json", std::nullopt, kNoKey);
  ASSERT_EQ(api.status, 200);
  EXPECT_TRUE(api.body.contains("paths"));
  // The web console and what a key may do (tests/server/console_test.cc has the rest).
  EXPECT_EQ(Call("GET", "/console", std::nullopt, kNoKey).status, 200);
  EXPECT_EQ(Call("GET", "/console/app.js", std::nullopt, kNoKey).status, 200);
  EXPECT_EQ(Call("GET", "/v1/whoami").body["role"], "admin");

  // Tenants and databases.
  EXPECT_EQ(Call("PUT", "/v1/tenants/acme").status, 201);
  EXPECT_EQ(Call("PUT", "/v1/tenants/acme").status, 200);  // idempotent
  Resp tenants = Call("GET", "/v1/tenants");
  ASSERT_EQ(tenants.status, 200);
  EXPECT_EQ(tenants.body["tenants"].size(), 2u);  // acme, default
  EXPECT_EQ(Call("GET", "/v1/tenants/acme").body["name"], "acme");
  EXPECT_EQ(Call("PUT", "/v1/tenants/acme/databases/prod").status, 201);
  EXPECT_EQ(Call("PUT", "/v1/tenants/acme/databases/prod").status, 200);
  EXPECT_EQ(Call("GET", "/v1/tenants/acme/databases").body["databases"][0]["name"], "prod");
  ExpectError(Call("PUT", "/v1/tenants/nope/databases/x"), 404, "not_found");

  for (const std::string db : {"/v1/tenants/acme/databases/prod", "/v1"}) {
    SCOPED_TRACE(db);
    const std::string col = db + "/collections/docs";
    Resp created = Call("PUT", col, json{{"dimension", 3}, {"metric", "cosine"}, {"text", true}});
    ASSERT_EQ(created.status, 201) << created.raw;
    EXPECT_EQ(created.body["metric"], "cosine");
    EXPECT_EQ(Call("PUT", col, json{{"dimension", 3}, {"metric", "cosine"}, {"text", true}}).status, 200);
    ExpectError(Call("PUT", col, json{{"dimension", 4}}), 409, "already_exists");
    EXPECT_EQ(Call("GET", db + "/collections").body["collections"][0]["name"], "docs");

    Resp acked = Call("POST", col + "/points", ThreePoints());
    ASSERT_EQ(acked.status, 200) << acked.raw;
    EXPECT_EQ(acked.body, json({{"acked", 3}}));
    Resp info = Call("GET", col);
    EXPECT_EQ(info.body["stats"]["points"], 3);
    EXPECT_EQ(info.body["dimension"], 3);

    Resp point = Call("GET", col + "/points/" + PercentEncode("c/1"));
    ASSERT_EQ(point.status, 200) << point.raw;
    EXPECT_EQ(point.body["id"], "c/1");
    EXPECT_EQ(point.body["vector"].size(), 3u);
    ExpectError(Call("GET", col + "/points/zz"), 404, "not_found");
    EXPECT_EQ(Call("PATCH", col + "/points/a", json{{"metadata", {{"n", 5}}}, {"merge", true}}).status, 200);
    point = Call("GET", col + "/points/a?vector=false");
    EXPECT_EQ(point.body["metadata"], json({{"lang", "en"}, {"n", 5}}));
    EXPECT_FALSE(point.body.contains("vector"));
    // Many points in one request, in the order asked (absent ids left out).
    Resp many = Call("POST", col + "/points/get", json{{"ids", {"c/1", "zz", "a"}}, {"vectors", false}});
    ASSERT_EQ(many.status, 200) << many.raw;
    ASSERT_EQ(many.body["points"].size(), 2u);
    EXPECT_EQ(many.body["points"][0]["id"], "c/1");
    EXPECT_EQ(many.body["points"][1]["metadata"], json({{"lang", "en"}, {"n", 5}}));
    EXPECT_FALSE(many.body["points"][0].contains("vector"));
    EXPECT_EQ(Call("POST", col + "/points/get", json{{"ids", {"a"}}}).body["points"][0]["vector"].size(), 3u);
    ExpectError(Call("POST", col + "/points/get", json{{"ids", "a"}}), 400, "bad_request");
    ExpectError(Call("POST", col + "/points/get", json{{"id", {"a"}}}), 400, "bad_request");
    // The collection's own metadata: replaced by PATCH, shown by GET, judged by the engine.
    EXPECT_FALSE(Call("GET", col).body.contains("metadata"));
    Resp patched = Call("PATCH", col, json{{"metadata", {{"owner", "me"}, {"v", 2}}}});
    ASSERT_EQ(patched.status, 200) << patched.raw;
    EXPECT_EQ(patched.body["metadata"], json({{"owner", "me"}, {"v", 2}}));
    EXPECT_EQ(patched.body["name"], "docs");
    EXPECT_EQ(Call("GET", col).body["metadata"], json({{"owner", "me"}, {"v", 2}}));
    ExpectError(Call("PATCH", col, json{{"metadata", {{"bad", {1, 2}}}}}), 422, "invalid_argument");
    ExpectError(Call("PATCH", col, json{{"metadata", 1}}), 400, "bad_request");
    ExpectError(Call("PATCH", col, json{{"dimension", 4}}), 400, "bad_request");
    EXPECT_EQ(Call("GET", col).body["metadata"], json({{"owner", "me"}, {"v", 2}}));
    // A PUT that leaves the metadata out still matches; one that names other metadata does not.
    EXPECT_EQ(Call("PUT", col, json{{"dimension", 3}, {"metric", "cosine"}, {"text", true}}).status, 200);
    ExpectError(Call("PUT", col, json{{"dimension", 3}, {"metric", "cosine"}, {"text", true}, {"metadata", {{"v", 3}}}}),
                409, "already_exists");

    EXPECT_EQ(Call("GET", col + "/count").body["count"], 3);
    EXPECT_EQ(Call("POST", col + "/count", json{{"filter", {{"lang", "en"}}}}).body["count"], 2);
    Resp page = Call("POST", col + "/scroll", json{{"limit", 2}});
    ASSERT_EQ(page.body["points"].size(), 2u);
    EXPECT_EQ(page.body["next"], "b");
    page = Call("POST", col + "/scroll", json{{"limit", 2}, {"after", "b"}});
    EXPECT_EQ(page.body["points"][0]["id"], "c/1");
    EXPECT_TRUE(page.body["next"].is_null());

    Resp hits = Call("POST", col + "/query", json{{"vector", {1, 0, 0}}, {"k", 2}});
    ASSERT_EQ(hits.status, 200) << hits.raw;
    ASSERT_EQ(hits.body["results"].size(), 2u);
    EXPECT_EQ(hits.body["results"][0]["id"], "a");
    EXPECT_EQ(hits.body["results"][0]["document"], "hello world");
    EXPECT_EQ(hits.body["results"][0]["metadata"]["lang"], "en");
    EXPECT_EQ(hits.body["results"][1]["id"], "c/1");
    hits = Call("POST", col + "/query", json{{"text", "hello"}, {"k", 5}});
    EXPECT_EQ(hits.body["results"][0]["id"], "a") << hits.raw;
    hits = Call("POST", col + "/query",
                json{{"vector", {0, 1, 0}}, {"text", "hello"}, {"fusion", "rrf"}, {"explain", true}, {"k", 3},
                     {"filter", {{"lang", {{"$in", {"fr", "de"}}}}}}});
    ASSERT_EQ(hits.status, 200) << hits.raw;
    EXPECT_EQ(hits.body["results"][0]["id"], "b");
    EXPECT_TRUE(hits.body["results"][0].contains("explain"));

    // Snapshots.
    EXPECT_EQ(Call("POST", col + "/snapshots", json{{"snapshot", "s1"}}).status, 201);
    ExpectError(Call("POST", col + "/snapshots", json{{"snapshot", "s1"}}), 409, "already_exists");
    EXPECT_EQ(Call("GET", db + "/snapshots").body["snapshots"][0]["name"], "s1");
    Resp tar = Call("GET", db + "/snapshots/s1/archive");  // console_test.cc reads it
    ASSERT_EQ(tar.status, 200);
    EXPECT_EQ(tar.raw.substr(0, 3), "s1/");
    Resp restored = Call("POST", db + "/snapshots/s1/restore", json{{"collection", "docs2"}});
    ASSERT_EQ(restored.status, 201) << restored.raw;
    EXPECT_EQ(restored.body["count"], 3);
    EXPECT_EQ(Call("DELETE", db + "/snapshots/s1").status, 200);
    ExpectError(Call("DELETE", db + "/snapshots/s1"), 404, "not_found");
    EXPECT_EQ(Call("DELETE", db + "/collections/docs2").status, 200);
    ExpectError(Call("GET", db + "/collections/docs2"), 404, "not_found");

    // Deletes: one id, ids, filter.
    EXPECT_EQ(Call("DELETE", col + "/points/" + PercentEncode("c/1")).body["deleted"], 1);
    ExpectError(Call("DELETE", col + "/points/" + PercentEncode("c/1")), 404, "not_found");
    EXPECT_EQ(Call("DELETE", col + "/points", json{{"ids", {"b", "zz"}}}).body["deleted"], 1);
    EXPECT_EQ(Call("POST", col + "/points/delete", json{{"filter", {{"lang", "en"}}}}).body["deleted"], 1);
    EXPECT_EQ(Call("GET", col + "/count").body["count"], 0);
  }
  EXPECT_EQ(Call("GET", "/v1/tenants/acme/databases/prod").body["collections"], json({"docs"}));
  ExpectError(Call("DELETE", "/v1/tenants/acme/databases/prod"), 409, "failed_precondition");
  ExpectError(Call("DELETE", "/v1/tenants/acme"), 409, "failed_precondition");
  EXPECT_EQ(Call("DELETE", "/v1/tenants/acme/databases/prod/collections/docs").status, 200);
  EXPECT_EQ(Call("DELETE", "/v1/tenants/acme/databases/prod").status, 200);
  ExpectError(Call("GET", "/v1/tenants/acme/databases/prod/collections"), 404, "not_found");
  EXPECT_EQ(Call("DELETE", "/v1/tenants/acme").status, 200);
  ExpectError(Call("GET", "/v1/tenants/acme"), 404, "not_found");

  // ?cascade=true deletes what is inside too: a database with its collections, a tenant with
  // its databases. Nothing of them is found afterwards, even under the same names.
  for (const std::string t : {"c1", "c2"}) {
    ASSERT_EQ(Call("PUT", "/v1/tenants/" + t).status, 201);
    ASSERT_EQ(Call("PUT", "/v1/tenants/" + t + "/databases/d").status, 201);
    ASSERT_EQ(Call("PUT", "/v1/tenants/" + t + "/databases/d/collections/x", json{{"dimension", 3}}).status, 201);
    ASSERT_EQ(Call("POST", "/v1/tenants/" + t + "/databases/d/collections/x/points", ThreePoints()).status, 200);
  }
  ExpectError(Call("DELETE", "/v1/tenants/c1/databases/d?cascade=false"), 409, "failed_precondition");
  EXPECT_EQ(Call("DELETE", "/v1/tenants/c1/databases/d?cascade=true").status, 200);
  ExpectError(Call("GET", "/v1/tenants/c1/databases/d"), 404, "not_found");
  EXPECT_EQ(Call("DELETE", "/v1/tenants/c2?cascade=true").status, 200);
  ExpectError(Call("GET", "/v1/tenants/c2"), 404, "not_found");
  ASSERT_EQ(Call("PUT", "/v1/tenants/c2").status, 201);
  ASSERT_EQ(Call("PUT", "/v1/tenants/c2/databases/d").status, 201);
  EXPECT_EQ(Call("GET", "/v1/tenants/c2/databases/d").body["collections"], json::array());
  EXPECT_EQ(Call("DELETE", "/v1/tenants/c1?cascade=true").status, 200);
  EXPECT_EQ(Call("DELETE", "/v1/tenants/c2?cascade=true").status, 200);
  EXPECT_FALSE(fs::exists(dir_ + "/data/tenants/c1"));
  EXPECT_FALSE(fs::exists(dir_ + "/data/tenants/c2"));

  // Keys.
  Resp key = Call("POST", "/v1/keys", json{{"role", "reader"}, {"tenant", "default"}});
  ASSERT_EQ(key.status, 201) << key.raw;
  EXPECT_EQ(key.body["key"].get<std::string>().size(), 68u);  // "sxt_" + 64 hex digits
  EXPECT_EQ(Call("GET", "/v1/keys").body["keys"][0]["id"], key.body["id"]);
  EXPECT_FALSE(Call("GET", "/v1/keys").body["keys"][0].contains("key"));  // never shown again
  EXPECT_EQ(Call("DELETE", "/v1/keys/" + key.body["id"].get<std::string>()).status, 200);

  // Embeddings (tests/server/embeddings_test.cc has the rest).
  Resp embedded = Call("POST", "/v1/embeddings", json{{"model", "potion-base-4M"}, {"input", "hello"}});
  ASSERT_EQ(embedded.status, 200) << embedded.raw;
  EXPECT_EQ(embedded.body["data"][0]["embedding"].size(), 128u);
  EXPECT_EQ(Call("GET", "/v1/models").body["data"][0]["id"], "potion-base-4M");
  // Not a cluster node (tests/cluster has the cluster's own tests).
  EXPECT_EQ(Call("GET", "/v1/cluster").status, 404);

  // Metrics: every route has been counted at least once, and collections report sizes.
  Resp metrics = Call("GET", "/metrics");
  ASSERT_EQ(metrics.status, 200);
  std::set<std::pair<std::string, std::string>> seen;
  std::regex line(R"re(^sextant_http_requests_total\{method="([A-Z]+)",route="([^"]+)",status="\d+"\} \d+$)re");
  std::istringstream lines(metrics.raw);
  for (std::string l; std::getline(lines, l);) {
    std::smatch m;
    if (std::regex_match(l, m, line)) seen.emplace(m[1], m[2]);
  }
  for (const auto& route : Server::RouteTable()) {
    if (route.second == "/metrics") continue;  // counted after this response
    EXPECT_TRUE(seen.count(route)) << route.first << " " << route.second << " was not exercised";
  }
  EXPECT_NE(metrics.raw.find("sextant_collection_points{tenant=\"default\",database=\"default\",collection=\"docs\"} 0"),
            std::string::npos);
  EXPECT_NE(metrics.raw.find("sextant_http_request_duration_seconds_bucket{method=\"POST\",route=\"/v1/collections/{collection}/query\",le=\"+Inf\"}"),
            std::string::npos);
}

TEST_F(ServerTest, QuantizedCollectionWithNprobeAndRerank) {
  Start();
  Resp created = Call("PUT", "/v1/collections/q",
                      json{{"dimension", 4}, {"index", "ivf-pq"},
                           {"quantization", {{"nlist", 4}, {"m", 2}, {"nbits", 8}, {"rerank", 20}}},
                           {"segments", {{"seal_points", 300}}}});
  ASSERT_EQ(created.status, 201) << created.raw;
  EXPECT_EQ(created.body["index"], "ivf-pq");
  EXPECT_EQ(created.body["quantization"]["nlist"], 4);
  EXPECT_EQ(created.body["segments"]["seal_points"], 300);
  // PUT is idempotent for the same definition; any other setting is a conflict.
  const json same = {{"dimension", 4}, {"index", "ivf-pq"},
                     {"quantization", {{"nlist", 4}, {"m", 2}, {"nbits", 8}, {"rerank", 20}}},
                     {"segments", {{"seal_points", 300}}}};
  EXPECT_EQ(Call("PUT", "/v1/collections/q", same).status, 200);
  for (const auto& [path, value] : std::vector<std::pair<std::string, json>>{
           {"/quantization/nbits", 4}, {"/quantization/nlist", 8}, {"/segments/seal_points", 400},
           {"/hnsw", json{{"M", 32}}}}) {
    json other = same;
    other[json::json_pointer(path)] = value;
    ExpectError(Call("PUT", "/v1/collections/q", other), 409, "already_exists");
  }
  json points = json::array();
  for (int i = 0; i < 1200; ++i) {
    points.push_back({{"id", std::to_string(i)},
                      {"vector", {std::sin(i * 0.1), std::cos(i * 0.3), std::sin(i * 0.7), (i % 10) * 0.1}}});
  }
  ASSERT_EQ(Call("POST", "/v1/collections/q/points", json{{"points", points}}).status, 200);
  // Point 777 itself is the nearest to its own vector, whichever segment holds it.
  const json q = {{"vector", points[777]["vector"]}, {"k", 3}, {"nprobe", 4}, {"rerank", 50}};
  Resp hits = Call("POST", "/v1/collections/q/query", q);
  ASSERT_EQ(hits.status, 200) << hits.raw;
  EXPECT_EQ(hits.body["results"][0]["id"], "777");
  ExpectError(Call("POST", "/v1/collections/q/query", json{{"vector", {1, 2, 3, 4}}, {"nprobe", 0}}), 422,
              "out_of_range");
  Resp bad = Call("PUT", "/v1/collections/bad",
                  json{{"dimension", 5}, {"index", "ivf-pq"}, {"quantization", {{"m", 2}}}});
  EXPECT_EQ(bad.status, 422) << bad.raw;
  EXPECT_NE(bad.raw.find("divide"), std::string::npos) << bad.raw;
}

TEST_F(ServerTest, KeysRolesAndTenantIsolation) {
  Start();
  for (const char* t : {"a", "b"}) {
    ASSERT_EQ(Call("PUT", std::string("/v1/tenants/") + t).status, 201);
    for (const char* d : {"d1", "d2"}) {
      const std::string db = std::string("/v1/tenants/") + t + "/databases/" + d;
      ASSERT_EQ(Call("PUT", db).status, 201);
      ASSERT_EQ(Call("PUT", db + "/collections/c", json{{"dimension", 3}}).status, 201);
      ASSERT_EQ(Call("POST", db + "/collections/c/points", ThreePoints()).status, 200);
    }
  }
  const std::string a1 = "/v1/tenants/a/databases/d1/collections/c";
  const std::string a2 = "/v1/tenants/a/databases/d2/collections/c";
  const std::string b1 = "/v1/tenants/b/databases/d1/collections/c";
  const json query = {{"vector", {1, 0, 0}}, {"k", 1}};

  // No key, a wrong key, a malformed header.
  Resp r = Call("GET", a1 + "/count", std::nullopt, kNoKey);
  ExpectError(r, 401, "unauthenticated");
  EXPECT_TRUE(r.headers.count("WWW-Authenticate"));
  ExpectError(Call("GET", a1 + "/count", std::nullopt, "sxt_" + std::string(64, '0')), 401, "unauthenticated");
  ExpectError(Resp(Send(port_, "GET", a1 + "/count", "", "", {{"Authorization", "Basic YTpi"}})), 401,
              "unauthenticated");

  const std::string reader = CreateKey({{"role", "reader"}, {"tenant", "a"}});
  EXPECT_EQ(Call("GET", a1 + "/count", std::nullopt, reader).body["count"], 3);
  EXPECT_EQ(Call("POST", a2 + "/query", query, reader).status, 200);
  ExpectError(Call("POST", a1 + "/points", ThreePoints(), reader), 403, "permission_denied");
  ExpectError(Call("DELETE", a1 + "/points/a", std::nullopt, reader), 403, "permission_denied");
  ExpectError(Call("GET", b1 + "/count", std::nullopt, reader), 403, "permission_denied");
  ExpectError(Call("POST", b1 + "/query", query, reader), 403, "permission_denied");
  ExpectError(Call("GET", "/v1/collections/docs/count", std::nullopt, reader), 403, "permission_denied");
  ExpectError(Call("GET", "/v1/tenants/b", std::nullopt, reader), 403, "permission_denied");
  ExpectError(Call("GET", "/metrics", std::nullopt, reader), 403, "permission_denied");
  ExpectError(Call("POST", "/v1/keys", json{{"role", "reader"}, {"tenant", "a"}}, reader), 403, "permission_denied");
  Resp listed = Call("GET", "/v1/tenants", std::nullopt, reader);
  EXPECT_EQ(listed.body["tenants"], json::parse(R"([{"name": "a"}])"));

  const std::string writer = CreateKey({{"role", "writer"}, {"tenant", "a"}, {"database", "d1"}});
  EXPECT_EQ(Call("POST", a1 + "/points", ThreePoints(), writer).status, 200);
  EXPECT_EQ(Call("PUT", "/v1/tenants/a/databases/d1/collections/c2", json{{"dimension", 2}}, writer).status, 201);
  ExpectError(Call("POST", a2 + "/points", ThreePoints(), writer), 403, "permission_denied");
  ExpectError(Call("POST", b1 + "/points", ThreePoints(), writer), 403, "permission_denied");
  ExpectError(Call("PUT", "/v1/tenants/a/databases/d3", std::nullopt, writer), 403, "permission_denied");
  ExpectError(Call("POST", a1 + "/snapshots", json::object(), writer), 403, "permission_denied");
  ExpectError(Call("DELETE", "/v1/tenants/a", std::nullopt, writer), 403, "permission_denied");
  EXPECT_EQ(Call("GET", "/v1/tenants/a/databases", std::nullopt, writer).body["databases"],
            json::parse(R"([{"name": "d1"}])"));

  const std::string tenant_admin = CreateKey({{"role", "admin"}, {"tenant", "a"}});
  EXPECT_EQ(Call("PUT", "/v1/tenants/a/databases/d3", std::nullopt, tenant_admin).status, 201);
  ExpectError(Call("PUT", "/v1/tenants/c", std::nullopt, tenant_admin), 403, "permission_denied");
  ExpectError(Call("PUT", "/v1/tenants/b/databases/d3", std::nullopt, tenant_admin), 403, "permission_denied");
  ExpectError(Call("POST", "/v1/keys", json{{"role", "admin"}}, tenant_admin), 403, "permission_denied");
  ExpectError(Call("POST", "/v1/keys", json{{"role", "reader"}, {"tenant", "b"}}, tenant_admin), 403,
              "permission_denied");
  Resp b_key = Call("POST", "/v1/keys", json{{"role", "reader"}, {"tenant", "b"}});
  ASSERT_EQ(b_key.status, 201);
  Resp own = Call("POST", "/v1/keys", json{{"role", "reader"}, {"tenant", "a"}}, tenant_admin);
  ASSERT_EQ(own.status, 201);
  const Resp scoped_list = Call("GET", "/v1/keys", std::nullopt, tenant_admin);
  for (const json& k : scoped_list.body["keys"]) EXPECT_EQ(k["tenant"], "a");
  ExpectError(Call("DELETE", "/v1/keys/" + b_key.body["id"].get<std::string>(), std::nullopt, tenant_admin), 404,
              "not_found");
  EXPECT_EQ(Call("DELETE", "/v1/keys/" + own.body["id"].get<std::string>(), std::nullopt, tenant_admin).status, 200);
  ExpectError(Call("GET", a1 + "/count", std::nullopt, own.body["key"]), 401, "unauthenticated");
  ExpectError(Call("DELETE", "/v1/keys/admin"), 409, "failed_precondition");
  ExpectError(Call("DELETE", "/v1/keys/key_0000000000000000"), 404, "not_found");

  // Revocation, and the key file: hashes only, and it survives a restart.
  Resp keys = Call("GET", "/v1/keys");
  std::string reader_id;
  for (const json& k : keys.body["keys"]) {
    if (k["role"] == "reader" && k["tenant"] == "a") reader_id = k["id"];
  }
  ASSERT_FALSE(reader_id.empty());
  EXPECT_EQ(Call("DELETE", "/v1/keys/" + reader_id).status, 200);
  ExpectError(Call("GET", a1 + "/count", std::nullopt, reader), 401, "unauthenticated");
  const std::string file = Slurp(dir_ + "/data/keys.json");
  EXPECT_EQ(file.find(writer), std::string::npos);
  EXPECT_EQ(file.find(writer.substr(4)), std::string::npos);
  EXPECT_NE(file.find("sha256"), std::string::npos);
  struct stat st{};
  ASSERT_EQ(::stat((dir_ + "/data/keys.json").c_str(), &st), 0);
  EXPECT_EQ(st.st_mode & 0777, 0600u);
  Stop();
  Start();
  EXPECT_EQ(Call("GET", a1 + "/count", std::nullopt, writer).body["count"], 3);
  ExpectError(Call("GET", a1 + "/count", std::nullopt, reader), 401, "unauthenticated");
  EXPECT_EQ(Call("GET", "/v1/tenants/a/databases/d3", std::nullopt, tenant_admin).status, 200);
}

TEST_F(ServerTest, BadInputGetsJsonErrorsAndTheServerKeepsServing) {
  ServerOptions o = Options();
  o.limits.max_body_bytes = 256 << 10;
  o.limits.max_batch = 100;
  o.limits.max_k = 50;
  Start(o);
  const std::string col = "/v1/collections/docs";
  ASSERT_EQ(Call("PUT", col, json{{"dimension", 3}}).status, 201);
  ASSERT_EQ(Call("POST", col + "/points", ThreePoints()).status, 200);
  struct Case {
    const char* what;
    std::string method, path, body;
    int status;
    const char* code;
  };
  const std::vector<Case> cases = {
      {"malformed JSON", "POST", col + "/points", R"({"points": [)", 400, "bad_request"},
      {"not an object", "POST", col + "/points", "[1, 2]", 400, "bad_request"},
      {"NaN literal", "POST", col + "/points", R"({"points": [{"id": "x", "vector": [NaN, 0, 0]}]})", 400,
       "bad_request"},
      {"overflowing float", "POST", col + "/points", R"({"points": [{"id": "x", "vector": [1e39, 0, 0]}]})", 400,
       "bad_request"},
      {"vector of strings", "POST", col + "/points", R"({"points": [{"id": "x", "vector": ["a", 0, 0]}]})", 400,
       "bad_request"},
      {"numeric id", "POST", col + "/points", R"({"points": [{"id": 7, "vector": [1, 0, 0]}]})", 400, "bad_request"},
      {"unknown field", "POST", col + "/points", R"({"points": [{"id": "x", "vector": [1, 0, 0], "meta": {}}]})",
       400, "bad_request"},
      {"metadata not an object", "POST", col + "/points", R"({"points": [{"id": "x", "vector": [1, 0, 0], "metadata": 3}]})",
       400, "bad_request"},
      {"wrong dimension", "POST", col + "/points", R"({"points": [{"id": "x", "vector": [1, 0]}]})", 422,
       "invalid_argument"},
      {"nested metadata", "POST", col + "/points", R"({"points": [{"id": "x", "vector": [1, 0, 0], "metadata": {"a": {"b": 1}}}]})",
       422, "invalid_argument"},
      {"query wrong dimension", "POST", col + "/query", R"({"vector": [1, 0], "k": 1})", 422, "invalid_argument"},
      {"k as string", "POST", col + "/query", R"({"vector": [1, 0, 0], "k": "5"})", 400, "bad_request"},
      {"k too large", "POST", col + "/query", R"({"vector": [1, 0, 0], "k": 51})", 422, "out_of_range"},
      {"k zero", "POST", col + "/query", R"({"vector": [1, 0, 0], "k": 0})", 422, "out_of_range"},
      {"unknown filter operator", "POST", col + "/query", R"({"vector": [1, 0, 0], "filter": {"n": {"$foo": 1}}})", 422,
       "invalid_argument"},
      {"unknown filter operator in count", "POST", col + "/count", R"({"filter": {"$nor": []}})", 422, "invalid_argument"},
      {"text on a vector collection", "POST", col + "/query", R"({"text": "hello"})", 422, "invalid_argument"},
      {"bad fusion", "POST", col + "/query", R"({"vector": [1, 0, 0], "fusion": "max"})", 422, "invalid_argument"},
      {"too deep", "POST", col + "/query", std::string(100, '[') + std::string(100, ']'), 400, "bad_request"},
      {"batch too large", "POST", col + "/points", [] {
         json pts = json::array();
         for (int i = 0; i < 101; ++i) pts.push_back({{"id", std::to_string(i)}, {"vector", {1, 0, 0}}});
         return json{{"points", pts}}.dump();
       }(), 413, "payload_too_large"},
      {"dimension too large", "PUT", "/v1/collections/big", R"({"dimension": 70000})", 422, "out_of_range"},
      {"dimension missing", "PUT", "/v1/collections/big", R"({"metric": "l2"})", 400, "bad_request"},
      {"unknown metric", "PUT", "/v1/collections/big", R"({"dimension": 3, "metric": "l7"})", 400, "bad_request"},
      {"bad collection name", "PUT", "/v1/collections/a.b", R"({"dimension": 3})", 400, "bad_request"},
      {"bad tenant name", "PUT", "/v1/tenants/" + PercentEncode("../x"), "", 400, "bad_request"},
      {"missing collection", "POST", "/v1/collections/nope/query", R"({"vector": [1, 0, 0]})", 404, "not_found"},
      {"missing tenant", "GET", "/v1/tenants/nope/databases/x/collections", "", 404, "not_found"},
      {"unknown route", "GET", "/v1/nothing/here", "", 404, "not_found"},
      {"unknown route 2", "POST", col + "/points/x/y", "{}", 404, "not_found"},
      {"wrong method", "POST", "/v1/tenants/x", "{}", 405, "method_not_allowed"},
      {"delete with both", "DELETE", col + "/points", R"({"ids": ["a"], "filter": {"n": 1}})", 400, "bad_request"},
      {"scroll limit 0", "POST", col + "/scroll", R"({"limit": 0})", 422, "out_of_range"},
      {"patch missing point", "PATCH", col + "/points/nope", R"({"metadata": {}})", 404, "not_found"},
      {"key with bad role", "POST", "/v1/keys", R"({"role": "root"})", 400, "bad_request"},
  };
  for (const Case& c : cases) {
    SCOPED_TRACE(c.what);
    ExpectError(CallRaw(c.method, c.path, c.body), c.status, c.code);
    EXPECT_EQ(Call("GET", "/healthz", std::nullopt, kNoKey).status, 200);
  }
  // Oversized body: 413 from the HTTP layer, still JSON.
  std::string big = R"({"points": [{"id": "x", "vector": [1, 0, 0], "document": ")" + std::string(300 << 10, 'x') + "\"}]}";
  ExpectError(CallRaw("POST", col + "/points", big), 413, "payload_too_large");
  // Nothing was applied by any of the bad requests.
  EXPECT_EQ(Call("GET", col + "/count").body["count"], 3);

  // X-Request-Id: echoed when given, made up otherwise.
  Resp echoed = Send(port_, "GET", "/healthz", "", "", {{"X-Request-Id", "my-req-42"}});
  EXPECT_EQ(echoed.headers.find("X-Request-Id")->second, "my-req-42");
  Resp made = Send(port_, "GET", "/healthz", "", "", {{"X-Request-Id", "bad id!"}});
  EXPECT_NE(made.headers.find("X-Request-Id")->second, "bad id!");
  EXPECT_FALSE(made.headers.find("X-Request-Id")->second.empty());
}

TEST_F(ServerTest, OverloadIsRejectedWith429) {
  ServerOptions o = Options();
  o.max_inflight = 1;
  o.max_queue = 0;
  Start(o);
  ASSERT_EQ(Call("PUT", "/v1/collections/docs", json{{"dimension", 16}}).status, 201);
  std::atomic<int> ok{0}, rejected{0}, other{0};
  std::vector<std::thread> threads;
  for (int t = 0; t < 6; ++t) {
    threads.emplace_back([&, t] {
      for (int i = 0; i < 25; ++i) {
        json pts = json::array();
        for (int j = 0; j < 200; ++j) {
          pts.push_back({{"id", std::to_string(t) + "-" + std::to_string(i) + "-" + std::to_string(j)},
                         {"vector", std::vector<float>(16, 0.5f + j)}});
        }
        Resp r = Call("POST", "/v1/collections/docs/points", json{{"points", pts}});
        if (r.status == 200) ++ok;
        else if (r.status == 429 && r.ErrorCode() == "too_many_requests" && r.headers.count("Retry-After")) ++rejected;
        else ++other;
      }
    });
  }
  for (auto& th : threads) th.join();
  EXPECT_EQ(other, 0);
  EXPECT_GT(ok, 0);
  EXPECT_GT(rejected, 0) << "six clients against one slot never collided";
  Resp metrics = Call("GET", "/metrics");
  EXPECT_NE(metrics.raw.find("sextant_http_requests_rejected_total{reason=\"overload\"} " + std::to_string(rejected.load())),
            std::string::npos);
}

TEST_F(ServerTest, RequestsPastTheirDeadlineGet503AndApplyNothing) {
  Start();
  ASSERT_EQ(Call("PUT", "/v1/collections/docs", json{{"dimension", 3}}).status, 201);
  ASSERT_EQ(Call("POST", "/v1/collections/docs/points", ThreePoints()).status, 200);
  // A query may set its own, shorter limit; it must be a positive integer.
  const json q = {{"vector", {1, 0, 0}}, {"k", 2}};
  json timed = q;
  timed["timeout_ms"] = 60000;
  Resp r = Call("POST", "/v1/collections/docs/query", timed);
  EXPECT_EQ(r.status, 200) << r.raw;
  timed["timeout_ms"] = 0;
  ExpectError(Call("POST", "/v1/collections/docs/query", timed), 422, "out_of_range");
  timed["timeout_ms"] = "soon";
  ExpectError(Call("POST", "/v1/collections/docs/query", timed), 400, "bad_request");
  Stop();

  // Every admitted request now takes longer than the server's limit.
  ServerOptions o = Options();
  o.handler_timeout_ms = 50;
  o.test_handler_delay_ms = 150;
  Start(o);
  r = Call("POST", "/v1/collections/docs/query", q);
  ExpectError(r, 503, "deadline_exceeded");
  EXPECT_TRUE(r.headers.count("Retry-After")) << r.raw;
  json more = {{"points", {{{"id", "late"}, {"vector", {0, 0, 1}}}}}};
  ExpectError(Call("POST", "/v1/collections/docs/points", more), 503, "deadline_exceeded");
  ExpectError(Call("DELETE", "/v1/collections/docs/points", json{{"ids", {"a"}}}), 503, "deadline_exceeded");
  EXPECT_EQ(Call("GET", "/healthz").status, 200);  // unlimited routes are not delayed
  Resp metrics = Call("GET", "/metrics");
  EXPECT_NE(metrics.raw.find("sextant_http_requests_rejected_total{reason=\"deadline\"} 3"), std::string::npos)
      << metrics.raw.substr(0, 2000);
  Stop();

  // Nothing of the late writes was applied.
  Start();
  r = Call("GET", "/v1/collections/docs/count");
  ASSERT_EQ(r.status, 200) << r.raw;
  EXPECT_EQ(r.body.value("count", 0), 3);
  EXPECT_EQ(Call("GET", "/v1/collections/docs/points/late").status, 404);
  EXPECT_EQ(Call("GET", "/v1/collections/docs/points/a").status, 200);
}

// Requests on a collection keep coming while it is dropped and created again (no lock holds
// them back or makes the drop wait for them): each is answered as if it came just before or
// just after the drop, 200 or 404, never anything else, and the collection created last holds
// only what was written to it.
TEST_F(ServerTest, DropAndRecreateUnderConcurrentRequests) {
  Start();
  const json spec = {{"dimension", 3}};
  ASSERT_EQ(Call("PUT", "/v1/collections/docs", spec).status, 201);
  std::atomic<bool> stop{false};
  std::atomic<int> answered{0};
  std::mutex mu;
  std::vector<std::string> unexpected;  // guarded by mu
  std::vector<std::thread> clients;
  for (int t = 0; t < 4; ++t) {
    clients.emplace_back([&, t] {
      for (int i = 0; !stop; ++i) {
        Resp r;
        switch ((t + i) % 4) {
          case 0: {
            const json point = {{"id", std::to_string(t) + "-" + std::to_string(i)}, {"vector", {1, 0, 0}}};
            r = Call("POST", "/v1/collections/docs/points", json{{"points", {point}}});
            break;
          }
          case 1: r = Call("POST", "/v1/collections/docs/query", json{{"vector", {1, 0, 0}}, {"k", 3}}); break;
          case 2: r = Call("GET", "/v1/collections/docs/count"); break;
          default: r = Call("GET", "/v1/collections/docs"); break;
        }
        if (r.status != 200 && !(r.status == 404 && r.ErrorCode() == "not_found")) {
          std::lock_guard<std::mutex> l(mu);
          unexpected.push_back(std::to_string(r.status) + " " + r.raw);
        }
        ++answered;
      }
    });
  }
  for (int round = 0; round < 10; ++round) {
    const int before = answered.load();
    while (answered.load() < before + 8) std::this_thread::sleep_for(std::chrono::milliseconds(1));
    Resp dropped = Call("DELETE", "/v1/collections/docs");
    EXPECT_EQ(dropped.status, 200) << dropped.raw;
    Resp created = Call("PUT", "/v1/collections/docs", spec);
    EXPECT_EQ(created.status, 201) << created.raw;
  }
  stop = true;
  for (auto& c : clients) c.join();
  EXPECT_TRUE(unexpected.empty()) << unexpected.size() << " unexpected replies, the first: " << unexpected.front();

  // With no client left: a drop and a create, and exactly what is written now is there.
  ASSERT_EQ(Call("DELETE", "/v1/collections/docs").status, 200);
  ASSERT_EQ(Call("PUT", "/v1/collections/docs", spec).status, 201);
  ASSERT_EQ(Call("POST", "/v1/collections/docs/points", ThreePoints()).status, 200);
  Resp count = Call("GET", "/v1/collections/docs/count");
  ASSERT_EQ(count.status, 200) << count.raw;
  EXPECT_EQ(count.body.value("count", 0), 3);
}

// A raw connection, for what an HTTP client library hides: pipelining, 100-continue.
class RawConnection {
 public:
  explicit RawConnection(int port) {
    fd_ = ::socket(AF_INET, SOCK_STREAM, 0);
    sockaddr_in a{};
    a.sin_family = AF_INET;
    a.sin_port = htons(static_cast<uint16_t>(port));
    a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    connected_ = ::connect(fd_, reinterpret_cast<sockaddr*>(&a), sizeof(a)) == 0;
    timeval tv{10, 0};
    ::setsockopt(fd_, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv));
  }
  ~RawConnection() { ::close(fd_); }
  bool connected() const { return connected_; }
  int fd() const { return fd_; }
  void Send(const std::string& s) { ASSERT_EQ(::send(fd_, s.data(), s.size(), MSG_NOSIGNAL), static_cast<ssize_t>(s.size())); }
  // Reads until `count` complete responses (headers + Content-Length body) have arrived.
  std::vector<std::pair<std::string, std::string>> ReadResponses(size_t count) {
    std::vector<std::pair<std::string, std::string>> out;
    while (out.size() < count) {
      const size_t head_end = buf_.find("\r\n\r\n");
      if (head_end != std::string::npos) {
        const std::string head = buf_.substr(0, head_end);
        size_t length = 0;
        std::smatch m;
        if (std::regex_search(head, m, std::regex("[Cc]ontent-[Ll]ength: *([0-9]+)"))) length = std::stoul(m[1]);
        if (buf_.size() >= head_end + 4 + length) {
          out.emplace_back(head, buf_.substr(head_end + 4, length));
          buf_.erase(0, head_end + 4 + length);
          continue;
        }
      }
      char chunk[65536];
      const ssize_t n = ::recv(fd_, chunk, sizeof(chunk), 0);
      if (n <= 0) break;
      buf_.append(chunk, static_cast<size_t>(n));
    }
    return out;
  }

 private:
  int fd_ = -1;
  bool connected_ = false;
  std::string buf_;
};

class TransportTest : public ServerTest, public ::testing::WithParamInterface<int> {};

TEST_P(TransportTest, KeepAlivePipeliningContinueAndLargeMessages) {
  ServerOptions o = Options();
  o.busy_poll_us = GetParam();
  o.admin_key_file.reset();  // no keys: raw requests need no header
  Start(o);
  ASSERT_EQ(Call("PUT", "/v1/collections/t", json{{"dimension", 64}}).status, 201);

  // Many requests on one keep-alive connection, answers checked against what was written. The
  // client leaves Nagle on (httplib's default) and writes headers and body apart; the server's
  // immediate ACKs keep that from costing 40 ms a request.
  httplib::Client cli("127.0.0.1", port_);
  cli.set_keep_alive(true);
  for (int i = 0; i < 40; ++i) {
    std::vector<float> v(64, static_cast<float>(i));
    json pts = {{"points", {{{"id", "k" + std::to_string(i)}, {"vector", v}}}}};
    auto up = cli.Post("/v1/collections/t/points", pts.dump(), "application/json");
    ASSERT_TRUE(up) << i;
    ASSERT_EQ(up->status, 200) << up->body;
    auto q = cli.Post("/v1/collections/t/query", json{{"vector", v}, {"k", 1}}.dump(), "application/json");
    ASSERT_TRUE(q) << i;
    ASSERT_EQ(json::parse(q->body)["results"][0]["id"], "k" + std::to_string(i));
  }

  // Two requests in one packet: two answers, in order.
  RawConnection raw(port_);
  ASSERT_TRUE(raw.connected());
  raw.Send("GET /healthz HTTP/1.1\r\nHost: x\r\n\r\nGET /v1/collections/t/count HTTP/1.1\r\nHost: x\r\n\r\n");
  auto two = raw.ReadResponses(2);
  ASSERT_EQ(two.size(), 2u);
  EXPECT_EQ(two[0].first.substr(0, 12), "HTTP/1.1 200");
  EXPECT_EQ(json::parse(two[0].second)["status"], "ok");
  EXPECT_EQ(json::parse(two[1].second)["count"], 40);

  // Expect: 100-continue: the interim answer comes before the body is sent.
  const std::string body = json{{"vector", std::vector<float>(64, 7.0f)}, {"k", 1}}.dump();
  raw.Send("POST /v1/collections/t/query HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n"
           "Expect: 100-continue\r\nContent-Length: " + std::to_string(body.size()) + "\r\n\r\n");
  auto cont = raw.ReadResponses(1);
  ASSERT_EQ(cont.size(), 1u);
  EXPECT_EQ(cont[0].first.substr(0, 12), "HTTP/1.1 100");
  raw.Send(body);
  auto answer = raw.ReadResponses(1);
  ASSERT_EQ(answer.size(), 1u);
  EXPECT_EQ(json::parse(answer[0].second)["results"][0]["id"], "k7");

  // Bodies larger than the read buffer and replies larger than what is collected per send.
  json big = {{"points", json::array()}};
  for (int i = 0; i < 3000; ++i) {
    big["points"].push_back({{"id", "b" + std::to_string(i)}, {"vector", std::vector<float>(64, 0.001f * i)},
                             {"document", std::string(100, 'x')}});
  }
  auto up = cli.Post("/v1/collections/t/points", big.dump(), "application/json");
  ASSERT_TRUE(up);
  EXPECT_EQ(up->status, 200) << up->body;
  auto page = cli.Post("/v1/collections/t/scroll", json{{"limit", 3100}, {"vectors", true}}.dump(),
                       "application/json");
  ASSERT_TRUE(page);
  ASSERT_EQ(page->status, 200) << page->body.substr(0, 300);
  EXPECT_GT(page->body.size(), size_t{1} << 20);
  EXPECT_EQ(json::parse(page->body)["points"].size(), 3040u);
  Stop();  // returns although connections are still open (spinning or asleep)
}

TEST_P(TransportTest, IdleKeepAliveConnectionsGiveTheirThreadsToWaitingOnes) {
  ServerOptions o = Options();
  o.busy_poll_us = GetParam();
  o.threads = 2;                 // two connections served at once
  o.keep_alive_timeout_s = 60;   // an idle connection could otherwise hold its thread a minute
  o.admin_key_file.reset();
  Start(o);
  std::vector<std::unique_ptr<httplib::Client>> idle;
  for (int i = 0; i < 2; ++i) {
    idle.push_back(std::make_unique<httplib::Client>("127.0.0.1", port_));
    idle.back()->set_keep_alive(true);
    auto r = idle.back()->Get("/healthz");
    ASSERT_TRUE(r);
    ASSERT_EQ(r->status, 200);
  }
  // Both threads now sit on idle keep-alive connections. A third client is served at once
  // (an idle connection closes and frees its thread), not after the keep-alive timeout.
  httplib::Client third("127.0.0.1", port_);
  third.set_read_timeout(20, 0);
  const auto start = std::chrono::steady_clock::now();
  auto r = third.Get("/healthz");
  const double seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
  ASSERT_TRUE(r);
  EXPECT_EQ(r->status, 200);
  EXPECT_LT(seconds, 10.0) << "the third connection waited for a keep-alive timeout";
  // The clients whose connections were closed reconnect on their next request.
  for (auto& c : idle) {
    auto again = c->Get("/healthz");
    ASSERT_TRUE(again);
    EXPECT_EQ(again->status, 200);
  }
}

TEST_P(TransportTest, BrokenAndHostileConnectionsLeaveTheServerServing) {
  ServerOptions o = Options();
  o.busy_poll_us = GetParam();
  o.admin_key_file.reset();
  Start(o);
  std::mt19937 rng(11);
  auto random_bytes = [&](size_t n) {
    std::string s(n, '\0');
    for (char& c : s) c = static_cast<char>(rng() & 0xff);
    return s;
  };
  const std::string body = R"({"points":[{"id":"a","vector":[1,2,3]}]})";
  const std::vector<std::string> inputs = {
      random_bytes(10), random_bytes(5000), random_bytes(70000),
      "GET /healthz HTTP/1.1\r\n",                                   // headers never end
      "POST /v1/collections/x/points HTTP/1.1\r\nContent-Length: 1000\r\n\r\n{\"poi",  // body cut short
      "POST /v1/collections/x/points HTTP/1.1\r\nContent-Length: -5\r\n\r\n",
      "POST /v1/collections/x/points HTTP/1.1\r\nContent-Length: 99999999999999999999\r\n\r\n",
      "POST /v1/collections/x/points HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\nzz\r\nabc\r\n",
      "GET /" + std::string(100000, 'a') + " HTTP/1.1\r\n\r\n",
      "GET /healthz HTTP/1.1\r\n" + std::string(9000, 'X') + ": y\r\n\r\n",
      std::string("GET /healthz HTTP/1.1\r\nHost: x\r\n\r\n") + random_bytes(300),
      "PUT /v1/collections/x HTTP/1.1\r\nContent-Length: " + std::to_string(body.size()) + "\r\n\r\n" +
          body.substr(0, body.size() / 2),
  };
  for (const std::string& in : inputs) {
    RawConnection raw(port_);
    ASSERT_TRUE(raw.connected());
    ::send(raw.fd(), in.data(), in.size(), MSG_NOSIGNAL);
    ::shutdown(raw.fd(), SHUT_WR);  // end of input: an incomplete request stops here
    // Each gets an answer: a JSON error (400, 413, 414, 431), or for the one valid request its 200.
    auto got = raw.ReadResponses(1);
    ASSERT_EQ(got.size(), 1u) << in.substr(0, 80);
    const int status = std::atoi(got[0].first.c_str() + 9);
    EXPECT_TRUE(status == 200 || status == 400 || status == 413 || status == 414 || status == 431) << got[0].first;
    const json reply = json::parse(got[0].second, nullptr, false);
    EXPECT_TRUE(status == 200 || (reply.is_object() && reply.contains("error"))) << got[0].second;
  }
  // Twenty more connections that send a prefix of a valid request and vanish.
  const std::string valid = "POST /v1/collections/t/query HTTP/1.1\r\nHost: x\r\nContent-Length: 40\r\n\r\n"
                            "{\"vector\":[1,2,3],\"k\":1,\"include\":[]}xxxx";
  for (int i = 0; i < 20; ++i) {
    RawConnection raw(port_);
    const std::string part = valid.substr(0, static_cast<size_t>(rng() % valid.size()));
    ::send(raw.fd(), part.data(), part.size(), MSG_NOSIGNAL);
  }
  // Everyone else is still served.
  EXPECT_EQ(Call("GET", "/healthz").status, 200);
  EXPECT_EQ(Call("PUT", "/v1/collections/t", json{{"dimension", 3}}).status, 201);
  EXPECT_EQ(Call("POST", "/v1/collections/t/points", ThreePoints()).status, 200);
  EXPECT_EQ(Call("GET", "/v1/collections/t/count").body.value("count", -1), 3);
}

INSTANTIATE_TEST_SUITE_P(BusyPoll, TransportTest, ::testing::Values(0, 500),
                         [](const auto& info) { return "busy_poll_us_" + std::to_string(info.param); });

TEST_F(ServerTest, LoopbackOnlyWithoutAnAdminKey) {
  ServerOptions o = Options();
  o.admin_key_file.reset();
  o.host = "0.0.0.0";
  auto refused = Server::Create(o);
  ASSERT_FALSE(refused.ok());
  EXPECT_NE(refused.status().message().find("127.0.0.1"), std::string::npos);
  o.host = "127.0.0.1";
  Start(o);
  EXPECT_EQ(Call("PUT", "/v1/collections/docs", json{{"dimension", 2}}, kNoKey).status, 201);  // no auth
}

TEST_F(ServerTest, AdminKeyFileIsCreatedOnceAndPrivate) {
  Start();
  ASSERT_EQ(admin_.size(), 68u);
  struct stat st{};
  ASSERT_EQ(::stat((dir_ + "/admin.key").c_str(), &st), 0);
  EXPECT_EQ(st.st_mode & 0777, 0600u);
  const std::string first = admin_;
  Stop();
  Start();
  EXPECT_EQ(admin_, first);
  EXPECT_EQ(Call("GET", "/v1/keys").status, 200);
  Stop();
  std::ofstream(dir_ + "/short.key") << "short\n";
  ServerOptions o = Options();
  o.admin_key_file = dir_ + "/short.key";
  EXPECT_FALSE(Server::Create(o).ok());
}

TEST_F(ServerTest, Tls) {
  if (std::system("command -v openssl >/dev/null 2>&1") != 0) GTEST_SKIP() << "openssl not installed";
  const std::string cert = dir_ + "/cert.pem", key = dir_ + "/key.pem";
  ASSERT_NO_FATAL_FAILURE(MakeCertificate(cert, key));
  ServerOptions o = Options();
  o.tls_cert = cert;
  o.tls_key = dir_ + "/missing.pem";
  EXPECT_FALSE(Server::Create(o).ok());
  o.tls_key = key;
  Start(o);
  httplib::SSLClient tls("127.0.0.1", port_);
  tls.enable_server_certificate_verification(false);
  std::string body;
  EXPECT_EQ(FirstTlsGet(tls, "/v1/tenants", {{"Authorization", "Bearer " + admin_}}, &body), 200);
  EXPECT_NE(body.find("default"), std::string::npos);
  auto unauth = tls.Get("/v1/tenants");
  ASSERT_TRUE(unauth);
  EXPECT_EQ(unauth->status, 401);
  Resp plain = Send(port_, "GET", "/healthz", "", "");  // plain HTTP to a TLS port
  EXPECT_NE(plain.status, 200);
}

// A stop does not wait for idle keep-alive connections (httplib's TLS listener alone would
// wait out the keep-alive timeout: 30 s here).
TEST_F(ServerTest, TlsStopClosesIdleConnections) {
  if (std::system("command -v openssl >/dev/null 2>&1") != 0) GTEST_SKIP() << "openssl not installed";
  const std::string cert = dir_ + "/cert.pem", key = dir_ + "/key.pem";
  ASSERT_NO_FATAL_FAILURE(MakeCertificate(cert, key));
  ServerOptions o = Options();
  o.tls_cert = cert;
  o.tls_key = key;
  o.keep_alive_timeout_s = 30;
  Start(o);
  std::vector<std::unique_ptr<httplib::SSLClient>> clients;
  for (int c = 0; c < 3; ++c) {
    auto tls = std::make_unique<httplib::SSLClient>("127.0.0.1", port_);
    tls->enable_server_certificate_verification(false);
    tls->set_keep_alive(true);
    ASSERT_EQ(FirstTlsGet(*tls, "/healthz", {}, nullptr), 200);
    clients.push_back(std::move(tls));  // its connection stays open, idle
  }
  const auto start = std::chrono::steady_clock::now();
  Stop();
  const double seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
  EXPECT_LT(seconds, 10.0) << "the stop waited for idle connections";
}

TEST(OpenApiTest, DocumentListsExactlyTheServedRoutes) {
  const std::string text = Slurp(std::string(SEXTANT_SOURCE_DIR) + "/docs/openapi.json");
  const json doc = json::parse(text, nullptr, false);
  ASSERT_FALSE(doc.is_discarded()) << "docs/openapi.json is not valid JSON";
  ASSERT_TRUE(doc.contains("openapi") && doc["openapi"].get<std::string>().rfind("3.", 0) == 0);
  std::set<std::pair<std::string, std::string>> documented, served;
  for (const auto& [path, item] : doc["paths"].items()) {
    for (const auto& [method, op] : item.items()) {
      if (method == "parameters") continue;
      std::string upper = method;
      for (char& c : upper) c = static_cast<char>(std::toupper(static_cast<unsigned char>(c)));
      documented.emplace(upper, path);
      EXPECT_TRUE(op.contains("responses")) << upper << " " << path;
    }
  }
  for (const auto& r : Server::RouteTable()) served.insert(r);
  for (const auto& r : served) EXPECT_TRUE(documented.count(r)) << "served, not documented: " << r.first << " " << r.second;
  for (const auto& r : documented) EXPECT_TRUE(served.count(r)) << "documented, not served: " << r.first << " " << r.second;
}

// ---------------------------------------------------------------------------------------
// The real program as a child process.

struct Child {
  pid_t pid = -1;
  int port = 0;
  std::string out;
};

Child SpawnServer(const std::string& dir, const std::vector<std::string>& extra = {}) {
  Child c;
  c.out = dir + "/serve.out";
  std::vector<std::string> args = {SEXTANT_CLI, "serve", "--data", dir + "/data", "--port", "0",
                                   "--admin-key-file", dir + "/admin.key", "--log-level", "warn"};
  args.insert(args.end(), extra.begin(), extra.end());
  fs::remove(c.out);  // the previous run's port must not be read
  c.pid = ::fork();
  if (c.pid == 0) {
    const int fd = ::open(c.out.c_str(), O_WRONLY | O_CREAT | O_TRUNC, 0644);
    const int err = ::open((dir + "/serve.err").c_str(), O_WRONLY | O_CREAT | O_APPEND, 0644);
    ::dup2(fd, 1);
    ::dup2(err, 2);
    std::vector<char*> argv;
    for (auto& a : args) argv.push_back(a.data());
    argv.push_back(nullptr);
    ::execv(argv[0], argv.data());
    ::_exit(127);
  }
  for (int i = 0; i < 1000 && c.port == 0; ++i) {
    std::smatch m;
    const std::string out = Slurp(c.out);
    static const std::regex kPort(R"re("port":(\d+))re");
    if (std::regex_search(out, m, kPort)) c.port = std::stoi(m[1]);
    else std::this_thread::sleep_for(std::chrono::milliseconds(10));
  }
  return c;
}

// Waits up to `seconds` for the child; returns its exit code, 128+signal, or -1 (still running).
int WaitChild(pid_t pid, double seconds) {
  const auto deadline = std::chrono::steady_clock::now() + std::chrono::duration<double>(seconds);
  while (std::chrono::steady_clock::now() < deadline) {
    int status = 0;
    if (::waitpid(pid, &status, WNOHANG) == pid) {
      return WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status);
    }
    std::this_thread::sleep_for(std::chrono::milliseconds(10));
  }
  return -1;
}

class ServeProcessTest : public ::testing::Test {
 protected:
  void SetUp() override { dir_ = FreshDir("p"); }
  void TearDown() override {
    if (child_.pid > 0 && WaitChild(child_.pid, 0) == -1) {
      ::kill(child_.pid, SIGKILL);
      WaitChild(child_.pid, 10);
    }
    fs::remove_all(dir_);
  }
  void Spawn() {
    child_ = SpawnServer(dir_);
    ASSERT_GT(child_.port, 0) << Slurp(dir_ + "/serve.err");
    key_ = Trim(Slurp(dir_ + "/admin.key"));
  }
  Resp Call(const std::string& method, const std::string& path, const std::optional<json>& body = std::nullopt) {
    return Send(child_.port, method, path, body ? body->dump() : "", key_);
  }
  std::string dir_, key_;
  Child child_;
};

int ConnectLoopback(int port) {
  const int fd = ::socket(AF_INET, SOCK_STREAM, 0);
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  addr.sin_port = htons(static_cast<uint16_t>(port));
  addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  if (::connect(fd, reinterpret_cast<sockaddr*>(&addr), sizeof(addr)) != 0) {
    ::close(fd);
    return -1;
  }
  return fd;
}

bool WriteAll(int fd, const std::string& s) {
  size_t done = 0;
  while (done < s.size()) {
    const ssize_t n = ::send(fd, s.data() + done, s.size() - done, MSG_NOSIGNAL);
    if (n <= 0) return false;
    done += static_cast<size_t>(n);
  }
  return true;
}

TEST_F(ServeProcessTest, SigtermFinishesTheRequestInFlightThenExitsCleanly) {
  Spawn();
  ASSERT_EQ(Call("PUT", "/v1/collections/docs", json{{"dimension", 8}}).status, 201);
  json pts = json::array();
  for (int i = 0; i < 2000; ++i) pts.push_back({{"id", "p" + std::to_string(i)}, {"vector", std::vector<float>(8, i * 0.5f)}});
  const std::string body = json{{"points", pts}}.dump();
  const int fd = ConnectLoopback(child_.port);
  ASSERT_GE(fd, 0);
  const std::string head = "POST /v1/collections/docs/points HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer " + key_ +
                           "\r\nContent-Type: application/json\r\nContent-Length: " + std::to_string(body.size()) +
                           "\r\n\r\n";
  ASSERT_TRUE(WriteAll(fd, head + body.substr(0, body.size() / 2)));
  std::this_thread::sleep_for(std::chrono::milliseconds(200));
  ASSERT_EQ(::kill(child_.pid, SIGTERM), 0);  // the request is half-way through its body
  std::this_thread::sleep_for(std::chrono::milliseconds(300));
  EXPECT_EQ(ConnectLoopback(child_.port), -1) << "still accepting connections while draining";
  ASSERT_TRUE(WriteAll(fd, body.substr(body.size() / 2)));
  std::string response;
  char buf[4096];
  for (ssize_t n; (n = ::recv(fd, buf, sizeof(buf), 0)) > 0;) response.append(buf, static_cast<size_t>(n));
  ::close(fd);
  EXPECT_EQ(response.rfind("HTTP/1.1 200", 0), 0u) << response;
  EXPECT_NE(response.find(R"({"acked":2000})"), std::string::npos) << response;
  EXPECT_EQ(WaitChild(child_.pid, 15), 0) << Slurp(dir_ + "/serve.err");
  const std::string log = Slurp(dir_ + "/serve.err");
  EXPECT_EQ(log.find("\"level\":\"error\""), std::string::npos) << log;

  Spawn();  // the acknowledged batch is there after a restart
  EXPECT_EQ(Call("GET", "/v1/collections/docs/count").body["count"], 2000);
}

TEST_F(ServeProcessTest, SigkillLosesNoAcknowledgedWrite) {
  Spawn();
  ASSERT_EQ(Call("PUT", "/v1/collections/docs", json{{"dimension", 4}}).status, 201);
  constexpr int kWriters = 3, kBatch = 50;
  std::vector<std::vector<int>> acked(kWriters);
  std::vector<int> attempted(kWriters, -1);
  std::atomic<bool> stop{false};
  std::vector<std::thread> writers;
  for (int w = 0; w < kWriters; ++w) {
    writers.emplace_back([&, w] {
      for (int b = 0; !stop; ++b) {
        json pts = json::array();
        for (int i = 0; i < kBatch; ++i) {
          pts.push_back({{"id", "w" + std::to_string(w) + "-" + std::to_string(b) + "-" + std::to_string(i)},
                         {"vector", {w, b, i, 1}}});
        }
        attempted[w] = b;
        Resp r = Call("POST", "/v1/collections/docs/points", json{{"points", pts}});
        if (r.status != 200) break;  // the server is gone
        acked[w].push_back(b);
      }
    });
  }
  std::this_thread::sleep_for(std::chrono::milliseconds(800));
  ASSERT_EQ(::kill(child_.pid, SIGKILL), 0);
  EXPECT_EQ(WaitChild(child_.pid, 10), 128 + SIGKILL);
  stop = true;
  for (auto& t : writers) t.join();
  size_t total_acked = 0;
  for (const auto& a : acked) total_acked += a.size();
  ASSERT_GT(total_acked, 0u);

  Spawn();
  std::set<std::string> ids;
  std::string after;
  for (;;) {
    json req = {{"limit", 10000}};
    if (!after.empty()) req["after"] = after;
    Resp page = Call("POST", "/v1/collections/docs/scroll", req);
    ASSERT_EQ(page.status, 200) << page.raw;
    for (const json& p : page.body["points"]) ids.insert(p["id"].get<std::string>());
    if (page.body["next"].is_null()) break;
    after = page.body["next"];
  }
  for (int w = 0; w < kWriters; ++w) {
    for (int b : acked[w]) {
      for (int i = 0; i < kBatch; ++i) {
        ASSERT_TRUE(ids.count("w" + std::to_string(w) + "-" + std::to_string(b) + "-" + std::to_string(i)))
            << "acknowledged batch " << b << " of writer " << w << " lost";
      }
    }
    // The batch in flight at the kill is all there or not at all.
    if (attempted[w] >= 0 && (acked[w].empty() || acked[w].back() != attempted[w])) {
      int present = 0;
      for (int i = 0; i < kBatch; ++i) {
        present += ids.count("w" + std::to_string(w) + "-" + std::to_string(attempted[w]) + "-" + std::to_string(i));
      }
      EXPECT_TRUE(present == 0 || present == kBatch) << present;
    }
  }
  EXPECT_LE(total_acked * kBatch, ids.size());
}

// The README's "Server" section: every `$ command` of its console blocks runs, in order, in
// one shell, exactly as written, and prints what the README shows ("..." matches anything).
TEST(ReadmeTest, ServerCurlExamplesWorkAsWritten) {
  if (std::system("command -v curl >/dev/null 2>&1") != 0) GTEST_SKIP() << "curl not installed";
  const std::string readme = Slurp(std::string(SEXTANT_SOURCE_DIR) + "/README.md");
  const size_t start = readme.find("\n## Server");
  ASSERT_NE(start, std::string::npos) << "README.md has no '## Server' section";
  const size_t end = readme.find("\n## ", start + 1);
  const std::string section = readme.substr(start, end == std::string::npos ? std::string::npos : end - start);
  // Commands and their expected output.
  struct Step {
    std::string command, expected;
  };
  std::vector<Step> steps;
  std::istringstream in(section);
  bool in_block = false;
  for (std::string line; std::getline(in, line);) {
    if (line.rfind("```", 0) == 0) {
      in_block = !in_block && line == "```console";
      continue;
    }
    if (!in_block) continue;
    if (line.rfind("$ ", 0) == 0) {
      steps.push_back({line.substr(2), ""});
      while (!steps.back().command.empty() && steps.back().command.back() == '\\' && std::getline(in, line)) {
        steps.back().command += "\n" + line;
      }
    } else if (!steps.empty()) {
      steps.back().expected += line + "\n";
    }
  }
  ASSERT_GE(steps.size(), 5u);
  // The examples use port 8080 and build/sextant, run from a scratch directory.
  {
    const int fd = ConnectLoopback(8080);
    if (fd >= 0) {
      ::close(fd);
      GTEST_SKIP() << "port 8080 is in use";
    }
  }
  const std::string dir = FreshDir("readme");
  fs::create_directories(dir + "/build");
  fs::create_symlink(SEXTANT_CLI, dir + "/build/sextant");
  std::string script = "echo $$ > " + dir + "/pgid\ncd " + dir + "\n";
  for (size_t i = 0; i < steps.size(); ++i) {
    script += "echo '@@step " + std::to_string(i) + "'\n" + steps[i].command + "\necho \"@@rc $?\"\n";
  }
  script += "echo '@@end'\nkill %1 2>/dev/null; wait\n";
  std::ofstream(dir + "/script.sh") << script;
  const std::string cmd = "timeout 30 setsid bash " + dir + "/script.sh > " + dir + "/out.txt 2>&1";
  const int rc = std::system(cmd.c_str());
  const std::string pgid = Trim(Slurp(dir + "/pgid"));
  if (!pgid.empty()) ::kill(-std::stoi(pgid), SIGKILL);  // whatever the script left running
  const std::string out = Slurp(dir + "/out.txt");
  EXPECT_EQ(rc, 0) << out;
  for (size_t i = 0; i < steps.size(); ++i) {
    SCOPED_TRACE("README step: " + steps[i].command);
    const std::string begin = "@@step " + std::to_string(i) + "\n";
    const size_t b = out.find(begin);
    ASSERT_NE(b, std::string::npos) << out;
    const size_t e = out.find("@@rc ", b);
    ASSERT_NE(e, std::string::npos) << out;
    const std::string got = out.substr(b + begin.size(), e - b - begin.size());
    EXPECT_EQ(out.substr(e, 7), "@@rc 0\n") << got;
    // Expected output with "..." as a wildcard.
    std::string pattern;
    const std::string& want = steps[i].expected;
    for (size_t p = 0; p < want.size();) {
      if (want.compare(p, 3, "...") == 0) {
        pattern += "[\\s\\S]*";
        p += 3;
      } else {
        const char c = want[p++];
        if (std::string("\\^$.|?*+()[]{}").find(c) != std::string::npos) pattern += '\\';
        pattern += c;
      }
    }
    EXPECT_TRUE(std::regex_match(got, std::regex(pattern))) << "got:\n" << got << "want:\n" << want;
  }
  fs::remove_all(dir);
}

}  // namespace
