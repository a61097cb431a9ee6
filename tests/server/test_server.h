// The server tests' client and in-process server: one HTTP request on a fresh connection
// (Send), its reply (Resp), and a server on a free port with its own data directory and admin
// key (TestServer). Shared by server_test.cc, embeddings_test.cc and
// embedding_collection_test.cc.
#pragma once

#include <chrono>
#include <filesystem>
#include <fstream>
#include <functional>
#include <memory>
#include <string>
#include <thread>

#include <gtest/gtest.h>
#include <httplib.h>
#include <nlohmann/json.hpp>

#include "server/server.h"

namespace sextant::server::testing {

struct Resp {
  int status = 0;  // 0: no response
  nlohmann::json body;
  std::string raw;
  httplib::Headers headers;
  std::string ErrorCode() const {
    return body.is_object() && body.contains("error") ? body["error"].value("code", "") : "";
  }
  std::string ErrorMessage() const {
    return body.is_object() && body.contains("error") ? body["error"].value("message", "") : "";
  }
};

// One request on a fresh connection; `key` (when not empty) as a Bearer token.
inline Resp Send(int port, const std::string& method, const std::string& path, const std::string& body,
                 const std::string& key, const httplib::Headers& extra = {}, int read_timeout_s = 30) {
  httplib::Client cli("127.0.0.1", port);
  cli.set_url_encode(false);
  cli.set_read_timeout(read_timeout_s, 0);
  httplib::Request req;
  req.method = method;
  req.path = path;
  req.headers = extra;
  if (!key.empty()) req.headers.emplace("Authorization", "Bearer " + key);
  if (!body.empty() || method == "POST" || method == "PUT" || method == "PATCH") {
    req.body = body;
    req.headers.emplace("Content-Type", "application/json");
  }
  auto res = cli.send(req);
  Resp r;
  if (!res) return r;
  r.status = res->status;
  r.raw = res->body;
  r.headers = res->headers;
  r.body = nlohmann::json::parse(res->body, nullptr, false);
  return r;
}

// A server on a free port with its data directory and admin key under `dir`; `adjust` changes
// the options before it starts. Ready (answering /readyz) when constructed.
class TestServer {
 public:
  explicit TestServer(const std::string& dir, const std::function<void(ServerOptions&)>& adjust = {}) {
    std::filesystem::create_directories(dir);
    ServerOptions o;
    o.data_dir = dir + "/data";
    o.port = 0;
    o.admin_key_file = dir + "/admin.key";
    o.log_level = LogLevel::kOff;
    o.threads = 8;
    if (adjust) adjust(o);
    auto s = Server::Create(o);
    if (!s.ok()) {
      ADD_FAILURE() << s.status().ToString();
      return;
    }
    server_ = std::move(s).value();
    port_ = server_->port();
    thread_ = std::thread([this] { EXPECT_TRUE(server_->Run().ok()); });
    std::ifstream key(dir + "/admin.key");
    std::getline(key, admin_);
    for (int i = 0; i < 500 && Send(port_, "GET", "/readyz", "", "").status != 200; ++i) {
      std::this_thread::sleep_for(std::chrono::milliseconds(10));
    }
  }
  ~TestServer() { Stop(); }
  void Stop() {
    if (!server_) return;
    server_->Shutdown();
    thread_.join();
    server_.reset();
  }
  bool running() const { return server_ != nullptr; }
  int port() const { return port_; }
  const std::string& admin() const { return admin_; }

  // A request with the admin key and a JSON body (none when null).
  Resp Call(const std::string& method, const std::string& path, const nlohmann::json& body = nullptr) const {
    return Send(port_, method, path, body.is_null() ? "" : body.dump(), admin_, {}, 60);
  }

 private:
  std::string admin_;
  std::unique_ptr<Server> server_;
  std::thread thread_;
  int port_ = 0;
};

}  // namespace sextant::server::testing
