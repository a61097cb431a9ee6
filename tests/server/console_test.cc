// The web console as the server serves it: the page and its files without a key, with their
// content types, a strict Content-Security-Policy and revalidation by ETag; no file refers to
// anything outside the server; GET /v1/whoami tells the page what a key may do. (The console
// itself is tested in a real browser: tests/console/, `make console-test`.)
#include <filesystem>
#include <fstream>
#include <iterator>
#include <regex>
#include <string>

#include <gtest/gtest.h>

#include "server/console_assets.h"
#include "test_server.h"

namespace sextant::server {
namespace {

using nlohmann::json;
using testing::Resp;
using testing::Send;
using testing::TestServer;

std::string ConsoleDir() {
  static int n = 0;
  const auto dir = std::filesystem::temp_directory_path() /
                   ("sextant_console_" + std::to_string(::getpid()) + "_" + std::to_string(n++));
  std::filesystem::remove_all(dir);
  return dir.string();
}

std::string Header(const Resp& r, const std::string& name) {
  auto it = r.headers.find(name);
  return it == r.headers.end() ? "" : it->second;
}

TEST(ConsoleTest, PageAndFilesAreServedWithoutAKeyWithTheirTypesAndPolicy) {
  TestServer server(ConsoleDir());
  Resp page = Send(server.port(), "GET", "/console", "", "");
  ASSERT_EQ(page.status, 200);
  EXPECT_EQ(Header(page, "Content-Type"), "text/html; charset=utf-8");
  EXPECT_NE(page.raw.find("<script type=\"module\" src=\"/console/app.js\">"), std::string::npos);
  const std::string csp = Header(page, "Content-Security-Policy");
  EXPECT_NE(csp.find("default-src 'none'"), std::string::npos) << csp;
  EXPECT_NE(csp.find("script-src 'self'"), std::string::npos) << csp;
  EXPECT_EQ(csp.find("unsafe-inline"), std::string::npos) << csp;
  EXPECT_EQ(csp.find("unsafe-eval"), std::string::npos) << csp;
  EXPECT_EQ(Header(page, "X-Content-Type-Options"), "nosniff");
  EXPECT_EQ(Header(page, "Cache-Control"), "no-cache");
  EXPECT_EQ(Send(server.port(), "GET", "/console/", "", "").raw, page.raw);

  // Every embedded file, by its URL, with the type of its extension.
  const std::map<std::string, std::string> kTypes = {{".html", "text/html; charset=utf-8"},
                                                     {".js", "text/javascript; charset=utf-8"},
                                                     {".css", "text/css; charset=utf-8"},
                                                     {".svg", "image/svg+xml"}};
  ASSERT_GE(ConsoleAssets().size(), 5u);
  for (const ConsoleAsset& a : ConsoleAssets()) {
    const std::string name(a.name);
    Resp r = Send(server.port(), "GET", "/console/" + name, "", "");
    ASSERT_EQ(r.status, 200) << name;
    EXPECT_EQ(Header(r, "Content-Type"), kTypes.at(std::filesystem::path(name).extension().string())) << name;
    EXPECT_EQ(r.raw, std::string(a.content)) << name;
    EXPECT_FALSE(Header(r, "Content-Security-Policy").empty()) << name;
    // Revalidation: the same ETag gets 304 and no body.
    const std::string etag = Header(r, "ETag");
    ASSERT_FALSE(etag.empty()) << name;
    Resp again = Send(server.port(), "GET", "/console/" + name, "", "", {{"If-None-Match", etag}});
    EXPECT_EQ(again.status, 304) << name;
    EXPECT_TRUE(again.raw.empty()) << name;
  }
  EXPECT_EQ(Send(server.port(), "GET", "/console/app.js", "", "", {{"If-None-Match", "\"stale\""}}).status, 200);

  Resp missing = Send(server.port(), "GET", "/console/nope.js", "", "");
  EXPECT_EQ(missing.status, 404);
  EXPECT_EQ(missing.ErrorCode(), "not_found");
  EXPECT_EQ(Send(server.port(), "GET", "/console/..%2Fkeys.json", "", "").status, 404);
  EXPECT_EQ(Send(server.port(), "POST", "/console", "{}", "").status, 405);
}

// Nothing is fetched from elsewhere: no URL with a scheme or a protocol-relative one in any
// file, but the SVG namespace (a name, never fetched); no inline script or style attribute
// the policy would block.
TEST(ConsoleTest, NoFileRefersToAnythingOutsideTheServer) {
  static const std::regex kExternal(R"re((https?:|ftp:|wss?:)//|(src|href)\s*=\s*["']//|url\(\s*["']?(https?:)?//|@import)re",
                                    std::regex::icase);
  for (const ConsoleAsset& a : ConsoleAssets()) {
    std::string text(a.content);
    for (const std::string ns : {"http://www.w3.org/2000/svg"}) {
      for (size_t p = text.find(ns); p != std::string::npos; p = text.find(ns)) text.erase(p, ns.size());
    }
    std::smatch m;
    EXPECT_FALSE(std::regex_search(text, m, kExternal)) << a.name << ": " << m.str();
    if (a.name == "index.html") {
      EXPECT_EQ(text.find("<script>"), std::string::npos) << "an inline script";
      EXPECT_EQ(text.find("style="), std::string::npos) << "an inline style";
      static const std::regex kHandler(R"re(\son[a-z]+\s*=)re");
      EXPECT_FALSE(std::regex_search(text, m, kHandler)) << "an inline event handler: " << m.str();
    }
  }
}

TEST(ConsoleTest, WhoAmITellsTheRoleAndScopeOfTheKey) {
  TestServer server(ConsoleDir());
  Resp admin = server.Call("GET", "/v1/whoami");
  ASSERT_EQ(admin.status, 200) << admin.raw;
  EXPECT_EQ(admin.body["role"], "admin");
  EXPECT_EQ(admin.body["key_id"], "admin");
  EXPECT_TRUE(admin.body["tenant"].is_null());
  EXPECT_EQ(admin.body["auth"], true);

  ASSERT_EQ(server.Call("PUT", "/v1/tenants/acme").status, 201);
  Resp made = server.Call("POST", "/v1/keys", json{{"role", "reader"}, {"tenant", "acme"}, {"database", "default"}});
  ASSERT_EQ(made.status, 201) << made.raw;
  const std::string reader = made.body["key"];
  Resp me = Send(server.port(), "GET", "/v1/whoami", "", reader);
  ASSERT_EQ(me.status, 200) << me.raw;
  EXPECT_EQ(me.body["role"], "reader");
  EXPECT_EQ(me.body["key_id"], made.body["id"]);
  EXPECT_EQ(me.body["tenant"], "acme");
  EXPECT_EQ(me.body["database"], "default");

  EXPECT_EQ(Send(server.port(), "GET", "/v1/whoami", "", "").status, 401);
  EXPECT_EQ(Send(server.port(), "GET", "/v1/whoami", "", "sxt_not_a_key").status, 401);
  ASSERT_EQ(server.Call("DELETE", "/v1/keys/" + made.body["id"].get<std::string>()).status, 200);
  EXPECT_EQ(Send(server.port(), "GET", "/v1/whoami", "", reader).status, 401);  // revoked
}

// The console's snapshot download: the snapshot's directory as a ustar archive, each header's
// checksum right and each file's bytes those on disk, under NAME/; admins only.
TEST(ConsoleTest, SnapshotDownloadIsATarOfTheSnapshotDirectory) {
  const std::string dir = ConsoleDir();
  TestServer server(dir);
  ASSERT_EQ(server.Call("PUT", "/v1/collections/docs", json{{"dimension", 2}, {"text", true}}).status, 201);
  ASSERT_EQ(server.Call("POST", "/v1/collections/docs/points",
                        json{{"points", {{{"id", "a"}, {"vector", {1, 0}}, {"document", "hello"}},
                                         {{"id", "b"}, {"vector", {0, 1}}, {"metadata", {{"k", 1}}}}}}})
                .status,
            200);
  ASSERT_EQ(server.Call("POST", "/v1/collections/docs/snapshots", json{{"snapshot", "snap1"}}).status, 201);
  Resp r = server.Call("GET", "/v1/snapshots/snap1/archive");
  ASSERT_EQ(r.status, 200) << r.raw.substr(0, 300);
  EXPECT_EQ(Header(r, "Content-Type"), "application/x-tar");
  EXPECT_EQ(Header(r, "Content-Disposition"), "attachment; filename=\"snap1.tar\"");
  ASSERT_EQ(r.raw.size() % 512, 0u);

  const std::filesystem::path on_disk = std::filesystem::path(dir) / "data/snapshots/default/default/snap1";
  size_t files = 0;
  size_t pos = 0;
  bool ended = false;
  while (pos + 512 <= r.raw.size()) {
    const std::string block = r.raw.substr(pos, 512);
    if (block == std::string(512, '\0')) {
      ended = true;
      break;
    }
    unsigned sum = 0;
    for (size_t i = 0; i < 512; ++i) sum += (i >= 148 && i < 156) ? ' ' : static_cast<unsigned char>(block[i]);
    EXPECT_EQ(std::stoul(block.substr(148, 6), nullptr, 8), sum) << "header checksum at " << pos;
    EXPECT_EQ(block.substr(257, 6), std::string("ustar\0", 6));
    const std::string name = block.substr(0, block.find('\0'));
    ASSERT_EQ(name.rfind("snap1/", 0), 0u) << name;
    const size_t size = std::stoul(block.substr(124, 11), nullptr, 8);
    pos += 512;
    if (block[156] == '0') {
      std::ifstream in(on_disk / name.substr(6), std::ios::binary);
      const std::string want((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
      EXPECT_TRUE(in.good() || in.eof()) << name;
      EXPECT_EQ(r.raw.substr(pos, size), want) << name;
      ++files;
    } else {
      EXPECT_EQ(block[156], '5') << name;
      EXPECT_EQ(size, 0u) << name;
    }
    pos += (size + 511) / 512 * 512;
  }
  EXPECT_TRUE(ended) << "no end-of-archive blocks";
  size_t want_files = 0;
  for (const auto& e : std::filesystem::recursive_directory_iterator(on_disk)) want_files += e.is_regular_file();
  EXPECT_EQ(files, want_files);
  EXPECT_GT(files, 0u);

  EXPECT_EQ(server.Call("GET", "/v1/snapshots/nope/archive").status, 404);
  Resp writer = server.Call("POST", "/v1/keys", json{{"role", "writer"}});
  EXPECT_EQ(Send(server.port(), "GET", "/v1/snapshots/snap1/archive", "", writer.body["key"]).status, 403);
}

}  // namespace
}  // namespace sextant::server
