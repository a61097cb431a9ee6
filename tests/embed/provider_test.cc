// Embedding providers over real HTTP: OpenProvider's client against fake_openai_server.py (an
// OpenAI-shaped service with injectable faults, run by /usr/bin/python3 on a free loopback port)
// and against a real `sextant serve` (Sextant as the embedding service for another Sextant).
#include "embed/provider.h"

#include <fcntl.h>
#include <signal.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <netinet/in.h>
#include <unistd.h>

#include <httplib.h>
#include <gtest/gtest.h>

#include <atomic>
#include <chrono>
#include <cmath>
#include <cstdint>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <regex>
#include <sstream>
#include <string>
#include <thread>
#include <vector>

#include "embed/model.h"

namespace sextant::embed {
namespace {

namespace fs = std::filesystem;
using json = nlohmann::json;
using Clock = std::chrono::steady_clock;

double Since(Clock::time_point t) { return std::chrono::duration<double>(Clock::now() - t).count(); }

// The fake server's vectors (fake_openai_server.py's vector()): FNV-1a 64 of the text, then a
// splitmix64 stream; each value a multiple of 2^-23 in [-1, 1), exact in float.
std::vector<float> FakeVector(std::string_view text, size_t dim) {
  uint64_t h = 0xCBF29CE484222325ull;
  for (unsigned char b : text) h = (h ^ b) * 0x100000001B3ull;
  std::vector<float> out;
  uint64_t x = h;
  for (size_t d = 0; d < dim; ++d) {
    x += 0x9E3779B97F4A7C15ull;
    uint64_t z = x;
    z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ull;
    z = (z ^ (z >> 27)) * 0x94D049BB133111EBull;
    z ^= z >> 31;
    out.push_back(static_cast<float>(static_cast<double>(z >> 40) / 8388608.0 - 1.0));
  }
  return out;
}

std::vector<float> FakeRows(const std::vector<std::string>& texts, size_t dim) {
  std::vector<float> rows;
  for (const auto& t : texts) {
    auto v = FakeVector(t, dim);
    rows.insert(rows.end(), v.begin(), v.end());
  }
  return rows;
}

// A child process whose stdout is read until a line matches `pattern`; killed at destruction.
class ChildProcess {
 public:
  ChildProcess(std::vector<std::string> args, const std::string& pattern, std::string* match, double wait_s = 20) {
    int fds[2];
    if (::pipe(fds) != 0) return;
    pid_ = ::fork();
    if (pid_ == 0) {
      ::prctl(PR_SET_PDEATHSIG, SIGKILL);  // never outlive a crashed test
      ::dup2(fds[1], 1);
      ::close(fds[0]);
      ::close(fds[1]);
      std::vector<char*> argv;
      for (auto& a : args) argv.push_back(a.data());
      argv.push_back(nullptr);
      ::execv(argv[0], argv.data());
      ::_exit(127);
    }
    ::close(fds[1]);
    out_ = fds[0];
    ::fcntl(out_, F_SETFL, O_NONBLOCK);
    const std::regex re(pattern);
    std::string seen;
    const auto start = Clock::now();
    while (Since(start) < wait_s) {
      char buf[512];
      const ssize_t n = ::read(out_, buf, sizeof buf);
      if (n > 0) seen.append(buf, static_cast<size_t>(n));
      std::smatch m;
      if (std::regex_search(seen, m, re)) {
        *match = m[1];
        return;
      }
      if (n == 0) break;  // the child closed its output: it died
      std::this_thread::sleep_for(std::chrono::milliseconds(10));
    }
  }
  ~ChildProcess() {
    if (pid_ > 0) {
      ::kill(pid_, SIGKILL);
      ::waitpid(pid_, nullptr, 0);
    }
    if (out_ >= 0) ::close(out_);
  }
  ChildProcess(const ChildProcess&) = delete;
  ChildProcess& operator=(const ChildProcess&) = delete;

 private:
  pid_t pid_ = -1;
  int out_ = -1;
};

// The fake service, one for the whole suite; each test resets it.
class ProviderTest : public ::testing::Test {
 protected:
  static void SetUpTestSuite() {
    std::string port;
    fake_ = new ChildProcess({"/usr/bin/python3", SEXTANT_EMBED_TEST_DIR "/fake_openai_server.py"}, R"(PORT (\d+))", &port);
    if (!port.empty()) port_ = std::stoi(port);
    for (int i = 0; i < 500 && port_ > 0; ++i) {  // until it answers
      httplib::Client c("127.0.0.1", port_);
      if (auto r = c.Get("/health"); r && r->status == 200) return;
      std::this_thread::sleep_for(std::chrono::milliseconds(10));
    }
    port_ = 0;
  }
  static void TearDownTestSuite() {
    delete fake_;
    fake_ = nullptr;
  }
  void SetUp() override {
    ASSERT_GT(port_, 0) << "the fake OpenAI server did not start (/usr/bin/python3 fake_openai_server.py)";
    Post("/reset", json::object());
  }

  static json Post(const std::string& path, const json& body) {
    httplib::Client c("127.0.0.1", port_);
    auto r = c.Post(path, body.dump(), "application/json");
    EXPECT_TRUE(r && r->status == 200) << path;
    return r ? json::parse(r->body) : json();
  }
  static void Script(const std::vector<std::string>& modes) { Post("/control", {{"script", modes}}); }
  static json Requests() {
    httplib::Client c("127.0.0.1", port_);
    auto r = c.Get("/requests");
    EXPECT_TRUE(r && r->status == 200);
    return r ? json::parse(r->body) : json::array();
  }

  static ProviderOptions Options() {
    ProviderOptions o;
    o.url = "http://127.0.0.1:" + std::to_string(port_) + "/v1";
    o.model = "fake-model";
    o.dimensions = 8;
    o.timeout_s = 5;
    return o;
  }
  static std::shared_ptr<const EmbeddingModel> Open(const ProviderOptions& o) {
    auto m = OpenProvider(o);
    EXPECT_TRUE(m.ok()) << m.status().ToString();
    return m.ok() ? *m : nullptr;
  }

  static inline ChildProcess* fake_ = nullptr;
  static inline int port_ = 0;
};

std::vector<std::string> Texts(size_t n) {
  std::vector<std::string> t;
  for (size_t i = 0; i < n; ++i) t.push_back("text number " + std::to_string(i) + (i % 3 == 0 ? " — ünïcode" : ""));
  return t;
}

TEST_F(ProviderTest, ProbesTheDimensionOnceAtOpen) {
  ProviderOptions o = Options();
  o.dimensions = 0;
  auto m = Open(o);
  ASSERT_TRUE(m);
  EXPECT_EQ(m->dimension(), 8u);  // the fake's default
  EXPECT_EQ(m->name(), "provider:fake-model");
  json log = Requests();
  ASSERT_EQ(log.size(), 1u);
  EXPECT_EQ(log[0]["body"]["input"].size(), 1u);
  EXPECT_FALSE(log[0]["body"].contains("dimensions")) << "dimensions 0 is not sent";
  // Then checked like a given dimension.
  auto v = m->Embed(std::vector<std::string>{"a", "b"});
  ASSERT_TRUE(v.ok()) << v.status().ToString();
  EXPECT_EQ(*v, FakeRows({"a", "b"}, 8));
}

TEST_F(ProviderTest, GivenDimensionsAreSentAndNothingIsProbed) {
  ProviderOptions o = Options();
  o.dimensions = 16;
  auto m = Open(o);
  ASSERT_TRUE(m);
  EXPECT_EQ(m->dimension(), 16u);
  EXPECT_TRUE(Requests().empty());
  auto v = m->Embed(std::vector<std::string>{"hello"});
  ASSERT_TRUE(v.ok()) << v.status().ToString();
  EXPECT_EQ(*v, FakeRows({"hello"}, 16));
  json log = Requests();
  ASSERT_EQ(log.size(), 1u);
  EXPECT_EQ(log[0]["body"], json({{"model", "fake-model"}, {"input", {"hello"}}, {"encoding_format", "float"}, {"dimensions", 16}}));
}

TEST_F(ProviderTest, BatchesInOrder) {
  ProviderOptions o = Options();
  o.batch_size = 4;
  auto m = Open(o);
  ASSERT_TRUE(m);
  const auto texts = Texts(10);
  auto v = m->Embed(texts);
  ASSERT_TRUE(v.ok()) << v.status().ToString();
  EXPECT_EQ(*v, FakeRows(texts, 8));
  json log = Requests();
  ASSERT_EQ(log.size(), 3u);  // ceil(10 / 4)
  size_t next = 0;
  for (size_t r = 0; r < 3; ++r) {
    const auto& input = log[r]["body"]["input"];
    EXPECT_EQ(input.size(), r < 2 ? 4u : 2u);
    for (const auto& t : input) EXPECT_EQ(t.get<std::string>(), texts[next++]);
    EXPECT_EQ(log[r]["authorization"], "") << "no key named, none sent";
  }
  EXPECT_EQ(next, texts.size());

  // Exactly a multiple: 8 texts in 2 requests. No text: no request.
  Post("/reset", json::object());
  ASSERT_TRUE(m->Embed(Texts(8)).ok());
  EXPECT_EQ(Requests().size(), 2u);
  Post("/reset", json::object());
  auto none = m->Embed(std::vector<std::string>{});
  ASSERT_TRUE(none.ok());
  EXPECT_TRUE(none->empty());
  EXPECT_TRUE(Requests().empty());
}

TEST_F(ProviderTest, RowsAreReorderedByIndexAndEmptyTextIsSentAsIs) {
  auto m = Open(Options());
  ASSERT_TRUE(m);
  Script({"shuffle"});
  const std::vector<std::string> texts = {"first", "", "third"};
  auto v = m->Embed(texts);
  ASSERT_TRUE(v.ok()) << v.status().ToString();
  EXPECT_EQ(*v, FakeRows(texts, 8));
  EXPECT_EQ(Requests()[0]["body"]["input"], json(texts));
}

TEST_F(ProviderTest, KeyComesFromTheNamedEnvironmentVariable) {
  Post("/control", {{"key", "sk-test-secret"}});
  ProviderOptions o = Options();
  o.api_key_env = "SEXTANT_PROVIDER_TEST_KEY";
  ::unsetenv("SEXTANT_PROVIDER_TEST_KEY");
  auto missing = OpenProvider(o);
  ASSERT_FALSE(missing.ok());
  EXPECT_EQ(missing.status().code(), StatusCode::kInvalidArgument);
  EXPECT_NE(missing.status().message().find("$SEXTANT_PROVIDER_TEST_KEY"), std::string::npos) << missing.status().message();
  EXPECT_NE(missing.status().message().find("not set"), std::string::npos) << missing.status().message();
  ::setenv("SEXTANT_PROVIDER_TEST_KEY", "", 1);
  auto empty = OpenProvider(o);
  ASSERT_FALSE(empty.ok());
  EXPECT_NE(empty.status().message().find("empty"), std::string::npos) << empty.status().message();
  EXPECT_TRUE(Requests().empty()) << "nothing sent before the options are right";

  ::setenv("SEXTANT_PROVIDER_TEST_KEY", "sk-test-secret", 1);
  auto m = Open(o);
  ASSERT_TRUE(m);
  ::unsetenv("SEXTANT_PROVIDER_TEST_KEY");  // read at open, held by the provider
  auto v = m->Embed(std::vector<std::string>{"x"});
  ASSERT_TRUE(v.ok()) << v.status().ToString();
  EXPECT_EQ(Requests()[0]["authorization"], "Bearer sk-test-secret");
  EXPECT_EQ(ProviderOptionsToJson(o).dump().find("sk-test"), std::string::npos) << "the key is never in the settings";

  // A refused key: 401, not retried, the provider's message, never the key.
  ::setenv("SEXTANT_PROVIDER_TEST_KEY", "sk-wrong-key", 1);
  auto wrong = Open(o);
  ::unsetenv("SEXTANT_PROVIDER_TEST_KEY");
  ASSERT_TRUE(wrong);
  Post("/reset", json::object());
  Post("/control", {{"key", "sk-test-secret"}});
  auto refused = wrong->Embed(std::vector<std::string>{"x"});
  ASSERT_FALSE(refused.ok());
  EXPECT_EQ(refused.status().code(), StatusCode::kFailedPrecondition);
  const std::string& msg = refused.status().message();
  EXPECT_NE(msg.find("HTTP 401"), std::string::npos) << msg;
  EXPECT_NE(msg.find("Incorrect API key provided"), std::string::npos) << msg;
  EXPECT_NE(msg.find("$SEXTANT_PROVIDER_TEST_KEY"), std::string::npos) << msg;
  EXPECT_EQ(msg.find("sk-wrong-key"), std::string::npos) << msg;
  EXPECT_EQ(Requests().size(), 1u);

  // No key named, the service wants one: the probe at open fails and says what to set.
  o.api_key_env.clear();
  o.dimensions = 0;
  auto anonymous = OpenProvider(o);
  ASSERT_FALSE(anonymous.ok());
  EXPECT_NE(anonymous.status().message().find("api_key_env"), std::string::npos) << anonymous.status().message();
}

TEST_F(ProviderTest, TimeoutIsAnErrorNamingIt) {
  ProviderOptions o = Options();
  o.timeout_s = 0.3;
  o.max_retries = 0;
  auto m = Open(o);
  ASSERT_TRUE(m);
  Script({"slow:3"});
  const auto start = Clock::now();
  auto v = m->Embed(std::vector<std::string>{"a"});
  ASSERT_FALSE(v.ok());
  EXPECT_LT(Since(start), 2.0);
  EXPECT_EQ(v.status().code(), StatusCode::kIOError);
  EXPECT_NE(v.status().message().find("no answer within 0.3 s"), std::string::npos) << v.status().message();
  EXPECT_NE(v.status().message().find("http://127.0.0.1:" + std::to_string(port_) + "/v1/embeddings"), std::string::npos)
      << v.status().message();
}

TEST_F(ProviderTest, TimeoutsAndDroppedConnectionsAreRetried) {
  ProviderOptions o = Options();
  o.timeout_s = 0.3;
  o.max_retries = 3;
  auto m = Open(o);
  ASSERT_TRUE(m);
  Script({"slow:2", "drop", "ok"});
  auto v = m->Embed(std::vector<std::string>{"a", "b"});
  ASSERT_TRUE(v.ok()) << v.status().ToString();
  EXPECT_EQ(*v, FakeRows({"a", "b"}, 8));
  EXPECT_EQ(Requests().size(), 3u);
}

TEST_F(ProviderTest, ServerErrorsAreRetriedWithBackoffThenSucceed) {
  auto m = Open(Options());
  ASSERT_TRUE(m);
  Script({"status:500", "status:503", "ok"});
  const auto start = Clock::now();
  auto v = m->Embed(std::vector<std::string>{"a"});
  ASSERT_TRUE(v.ok()) << v.status().ToString();
  EXPECT_EQ(*v, FakeRows({"a"}, 8));
  json log = Requests();
  ASSERT_EQ(log.size(), 3u);
  // Backoff 0.5 s then 1 s, each times 0.75-1.
  const double gap1 = log[1]["time"].get<double>() - log[0]["time"].get<double>();
  const double gap2 = log[2]["time"].get<double>() - log[1]["time"].get<double>();
  EXPECT_GE(gap1, 0.37);
  EXPECT_GE(gap2, 0.74);
  EXPECT_GT(gap2, gap1);
  EXPECT_LT(Since(start), 5.0);
}

TEST_F(ProviderTest, RetryAfterIsHonoured) {
  auto m = Open(Options());
  ASSERT_TRUE(m);
  Script({"status:429:2", "ok"});
  auto v = m->Embed(std::vector<std::string>{"a"});
  ASSERT_TRUE(v.ok()) << v.status().ToString();
  json log = Requests();
  ASSERT_EQ(log.size(), 2u);
  EXPECT_GE(log[1]["time"].get<double>() - log[0]["time"].get<double>(), 1.95);
}

TEST_F(ProviderTest, RetriesExhaustedFailTheWholeCall) {
  ProviderOptions o = Options();
  o.max_retries = 1;
  o.batch_size = 2;
  auto m = Open(o);
  ASSERT_TRUE(m);
  // The first batch passes, the second fails twice: the call returns no vectors at all.
  Script({"ok", "status:502", "status:502"});
  auto v = m->Embed(Texts(4));
  ASSERT_FALSE(v.ok());
  EXPECT_EQ(v.status().code(), StatusCode::kIOError);
  const std::string& msg = v.status().message();
  EXPECT_NE(msg.find("http://127.0.0.1:" + std::to_string(port_) + "/v1/embeddings"), std::string::npos) << msg;
  EXPECT_NE(msg.find("HTTP 502"), std::string::npos) << msg;
  EXPECT_NE(msg.find("injected failure 502"), std::string::npos) << msg;
  EXPECT_NE(msg.find("gave up after 2 attempts"), std::string::npos) << msg;
  EXPECT_NE(msg.find("texts 2-3 of 4"), std::string::npos) << msg;
  EXPECT_EQ(Requests().size(), 3u);
}

TEST_F(ProviderTest, ClientErrorsAreNotRetried) {
  auto m = Open(Options());
  ASSERT_TRUE(m);
  Script({"status:400"});
  auto v = m->Embed(std::vector<std::string>{"a"});
  ASSERT_FALSE(v.ok());
  EXPECT_EQ(v.status().code(), StatusCode::kInvalidArgument);
  EXPECT_NE(v.status().message().find("HTTP 400: injected failure 400"), std::string::npos) << v.status().message();
  EXPECT_EQ(Requests().size(), 1u);
}

TEST_F(ProviderTest, UnreachableProviderIsATransportError) {
  int port = 0;
  {  // a port nobody listens on
    const int fd = ::socket(AF_INET, SOCK_STREAM, 0);
    sockaddr_in a{};
    a.sin_family = AF_INET;
    a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    ASSERT_EQ(::bind(fd, reinterpret_cast<sockaddr*>(&a), sizeof a), 0);
    socklen_t len = sizeof a;
    ::getsockname(fd, reinterpret_cast<sockaddr*>(&a), &len);
    port = ntohs(a.sin_port);
    ::close(fd);
  }
  ProviderOptions o = Options();
  o.url = "http://127.0.0.1:" + std::to_string(port) + "/v1/";
  o.max_retries = 1;
  o.dimensions = 0;
  auto m = OpenProvider(o);  // the probe fails
  ASSERT_FALSE(m.ok());
  EXPECT_EQ(m.status().code(), StatusCode::kIOError);
  EXPECT_NE(m.status().message().find("transport error"), std::string::npos) << m.status().message();
  EXPECT_NE(m.status().message().find("learning the dimension"), std::string::npos) << m.status().message();
  EXPECT_NE(m.status().message().find("127.0.0.1:" + std::to_string(port) + "/v1/embeddings"), std::string::npos)
      << m.status().message();
}

TEST_F(ProviderTest, HttpsToAPlainHttpServerIsATransportError) {
  ProviderOptions o = Options();
  o.url = "https://127.0.0.1:" + std::to_string(port_) + "/v1";
  o.max_retries = 0;
  o.dimensions = 0;
  auto m = OpenProvider(o);  // the TLS handshake fails: an error, no crash, no plain-text retry
  ASSERT_FALSE(m.ok());
  EXPECT_EQ(m.status().code(), StatusCode::kIOError);
  EXPECT_NE(m.status().message().find("transport error"), std::string::npos) << m.status().message();
  EXPECT_NE(m.status().message().find("https://127.0.0.1:"), std::string::npos) << m.status().message();
}

TEST_F(ProviderTest, BadAnswersAreErrors) {
  ProviderOptions o = Options();
  o.batch_size = 3;
  auto m = Open(o);
  ASSERT_TRUE(m);
  const std::vector<std::pair<std::string, std::string>> cases = {
      {"wrong_dim", "has dimension 9, expected 8"},
      {"wrong_count", "1 embedding for 2 texts"},
      {"nan", "not JSON"},  // Python's NaN literal is not JSON
      {"huge", "non-finite value"},
      {"no_data", "no \"data\" array"},
      {"not_json", "not JSON"},
  };
  for (const auto& [mode, expected] : cases) {
    SCOPED_TRACE(mode);
    Post("/reset", json::object());
    Script({"ok", mode});  // the second batch is bad: nothing comes back
    auto v = m->Embed(Texts(5));
    ASSERT_FALSE(v.ok());
    EXPECT_EQ(v.status().code(), StatusCode::kIOError);
    EXPECT_NE(v.status().message().find(expected), std::string::npos) << v.status().message();
    EXPECT_NE(v.status().message().find("bad answer"), std::string::npos) << v.status().message();
    EXPECT_EQ(Requests().size(), 2u) << "a bad answer is not retried";
  }
  // A wrong dimension at the probe is caught on the next answer.
  o.dimensions = 0;
  Post("/reset", json::object());
  auto probed = Open(o);
  ASSERT_TRUE(probed);
  Script({"wrong_dim"});
  EXPECT_FALSE(probed->Embed(std::vector<std::string>{"x"}).ok());
}

TEST_F(ProviderTest, InvalidUtf8IsRefusedBeforeSending) {
  auto m = Open(Options());
  ASSERT_TRUE(m);
  auto v = m->Embed(std::vector<std::string>{"fine", std::string("bad \xff byte")});
  ASSERT_FALSE(v.ok());
  EXPECT_EQ(v.status().code(), StatusCode::kInvalidArgument);
  EXPECT_NE(v.status().message().find("text 1"), std::string::npos) << v.status().message();
  EXPECT_TRUE(Requests().empty());
}

TEST_F(ProviderTest, ManyThreadsShareOneProvider) {
  ProviderOptions o = Options();
  o.batch_size = 3;
  auto m = Open(o);
  ASSERT_TRUE(m);
  std::atomic<int> good{0};
  std::vector<std::thread> threads;
  for (int t = 0; t < 6; ++t) {
    threads.emplace_back([&, t] {
      std::vector<std::string> texts;
      for (int i = 0; i < 7; ++i) texts.push_back("thread " + std::to_string(t) + " text " + std::to_string(i));
      for (int round = 0; round < 3; ++round) {
        auto v = m->Embed(texts);
        if (v.ok() && *v == FakeRows(texts, 8)) ++good;
      }
    });
  }
  for (auto& th : threads) th.join();
  EXPECT_EQ(good.load(), 18);
  EXPECT_EQ(Requests().size(), 6u * 3 * 3);
}

TEST(ProviderOptionsTest, JsonRoundTripAndDefaults) {
  ProviderOptions o;
  o.url = "https://api.openai.com/v1";
  o.model = "text-embedding-3-small";
  o.api_key_env = "OPENAI_API_KEY";
  o.dimensions = 256;
  o.batch_size = 100;
  o.timeout_s = 12.5;
  o.max_retries = 5;
  const json j = ProviderOptionsToJson(o);
  EXPECT_EQ(j, json::parse(R"({"url":"https://api.openai.com/v1","model":"text-embedding-3-small","api_key_env":"OPENAI_API_KEY",
                               "dimensions":256,"batch_size":100,"timeout_s":12.5,"max_retries":5})"));
  auto back = ProviderOptionsFromJson(j);
  ASSERT_TRUE(back.ok()) << back.status().ToString();
  EXPECT_EQ(ProviderOptionsToJson(*back), j);

  auto minimal = ProviderOptionsFromJson(json::parse(R"({"url":"http://127.0.0.1:11434/v1","model":"nomic-embed-text"})"));
  ASSERT_TRUE(minimal.ok()) << minimal.status().ToString();
  const ProviderOptions defaults;
  EXPECT_EQ(minimal->api_key_env, "");
  EXPECT_EQ(minimal->dimensions, defaults.dimensions);
  EXPECT_EQ(minimal->batch_size, defaults.batch_size);
  EXPECT_EQ(minimal->timeout_s, defaults.timeout_s);
  EXPECT_EQ(minimal->max_retries, defaults.max_retries);
}

TEST(ProviderOptionsTest, StrictJsonNamesTheField) {
  const auto error_of = [](const std::string& text) {
    auto r = ProviderOptionsFromJson(json::parse(text));
    EXPECT_FALSE(r.ok()) << text;
    if (r.ok()) return std::string();
    EXPECT_EQ(r.status().code(), StatusCode::kInvalidArgument) << text;
    return r.status().message();
  };
  const std::string base = R"("url":"http://h/v1","model":"m")";
  const std::vector<std::pair<std::string, std::string>> cases = {
      {R"([1])", "JSON object"},
      {"{" + base + R"(,"api_key":"sk-1"})", "unknown setting 'api_key'"},
      {R"({"model":"m"})", "'url' is required"},
      {R"({"url":"http://h"})", "'model' is required"},
      {R"({"url":7,"model":"m"})", "'url' must be a string"},
      {R"({"url":"http://h","model":["m"]})", "'model' must be a string"},
      {"{" + base + R"(,"api_key_env":1})", "'api_key_env' must be a string"},
      {"{" + base + R"(,"dimensions":"8"})", "'dimensions'"},
      {"{" + base + R"(,"dimensions":-1})", "'dimensions'"},
      {"{" + base + R"(,"dimensions":1.5})", "'dimensions'"},
      {"{" + base + R"(,"dimensions":70000})", "'dimensions'"},
      {"{" + base + R"(,"batch_size":0})", "'batch_size'"},
      {"{" + base + R"(,"batch_size":5000})", "'batch_size'"},
      {"{" + base + R"(,"timeout_s":"30"})", "'timeout_s'"},
      {"{" + base + R"(,"timeout_s":0})", "'timeout_s'"},
      {"{" + base + R"(,"timeout_s":-2})", "'timeout_s'"},
      {"{" + base + R"(,"max_retries":true})", "'max_retries'"},
      {"{" + base + R"(,"max_retries":11})", "'max_retries'"},
      {"{" + base + R"(,"api_key_env":"MY KEY"})", "'api_key_env'"},
      {R"({"url":"ftp://h/v1","model":"m"})", "http:// or https://"},
      {R"({"url":"h:8080/v1","model":"m"})", "http:// or https://"},
      {R"({"url":"http:///v1","model":"m"})", "no host"},
      {R"({"url":"http://h:99999/v1","model":"m"})", "port"},
      {R"({"url":"http://user:pw@h/v1","model":"m"})", "user name"},
      {R"({"url":"http://h/v1?x=1","model":"m"})", "query"},
      {R"({"url":"http://h/v1/embeddings","model":"m"})", "without '/embeddings'"},
      {R"({"url":"http://h/v1","model":""})", "'model'"},
  };
  for (const auto& [text, expected] : cases) {
    const std::string msg = error_of(text);
    EXPECT_NE(msg.find(expected), std::string::npos) << text << " -> " << msg;
  }
  // OpenProvider makes the same checks.
  ProviderOptions o;
  o.url = "http://h/v1";
  o.model = "m";
  o.batch_size = 0;
  EXPECT_FALSE(OpenProvider(o).ok());
  o.batch_size = 1;
  o.url = "file:///etc/passwd";
  EXPECT_FALSE(OpenProvider(o).ok());
}

// ---------------------------------------------------------------------------------------
// Sextant as the embedding service for another Sextant: a real `sextant serve`'s
// POST /v1/embeddings gives exactly the built-in model's vectors.

#ifdef SEXTANT_CLI
TEST(ProviderServeTest, SextantServeIsAnEmbeddingProvider) {
  const fs::path dir = fs::temp_directory_path() / ("sextant_provider_test_" + std::to_string(::getpid()));
  fs::remove_all(dir);
  fs::create_directories(dir);
  std::string port;
  {
    ChildProcess serve({SEXTANT_CLI, "serve", "--data", (dir / "data").string(), "--port", "0", "--admin-key-file",
                        (dir / "admin.key").string(), "--log-level", "error"},
                       R"re("port":(\d+))re", &port, 60);
    ASSERT_FALSE(port.empty()) << "sextant serve did not start";
    std::string key;
    std::ifstream(dir / "admin.key") >> key;
    ASSERT_FALSE(key.empty());
    ::setenv("SEXTANT_PROVIDER_TEST_ADMIN_KEY", key.c_str(), 1);

    ProviderOptions o;
    o.url = "http://127.0.0.1:" + port + "/v1";
    o.model = std::string(kDefaultModel);
    o.api_key_env = "SEXTANT_PROVIDER_TEST_ADMIN_KEY";
    o.batch_size = 5;
    o.max_retries = 0;
    {  // Is the route there yet?
      httplib::Client c("127.0.0.1", std::stoi(port));
      auto r = c.Post("/v1/embeddings", {{"Authorization", "Bearer " + key}},
                      json({{"model", o.model}, {"input", {"x"}}}).dump(), "application/json");
      ASSERT_TRUE(r) << "sextant serve does not answer";
      if (r->status == 404 || r->status == 405) {
        ::unsetenv("SEXTANT_PROVIDER_TEST_ADMIN_KEY");
        GTEST_SKIP() << "sextant serve has no POST /v1/embeddings route yet (HTTP " << r->status << ")";
      }
    }
    auto provider = OpenProvider(o);
    ::unsetenv("SEXTANT_PROVIDER_TEST_ADMIN_KEY");
    ASSERT_TRUE(provider.ok()) << provider.status().ToString();
    auto local = LoadModel(kDefaultModel);
    ASSERT_TRUE(local.ok()) << local.status().ToString();
    EXPECT_EQ((*provider)->dimension(), (*local)->dimension());
    EXPECT_EQ((*provider)->name(), "provider:" + o.model);

    const std::vector<std::string> texts = {"The dog barked at the mailman.", "The feline is sleeping on the sofa.",
                                            "I love eating fresh apples.", "Javascript is a programming language.",
                                            "Where is the cat?", "", "ünïcödé and 漢字", "one more text over the batch"};
    auto remote = (*provider)->Embed(texts);
    ASSERT_TRUE(remote.ok()) << remote.status().ToString();
    auto expected = (*local)->Embed(texts);
    ASSERT_TRUE(expected.ok()) << expected.status().ToString();
    EXPECT_EQ(*remote, *expected);

    // An unknown model is the service's refusal, named.
    o.model = "no-such-model";
    o.dimensions = 0;
    ::setenv("SEXTANT_PROVIDER_TEST_ADMIN_KEY", key.c_str(), 1);
    auto unknown = OpenProvider(o);
    ::unsetenv("SEXTANT_PROVIDER_TEST_ADMIN_KEY");
    ASSERT_FALSE(unknown.ok());
    EXPECT_NE(unknown.status().message().find("no-such-model"), std::string::npos) << unknown.status().message();
  }
  fs::remove_all(dir);
}
#endif

}  // namespace
}  // namespace sextant::embed
