// Model names and files: pulling models from a local stand-in for the Hugging Face hub (a real
// `python3 -m http.server` laid out as {repo}/resolve/{revision}/{file}), the models folder,
// names resolved by LoadModel / LoadNamedModel, ListModels and ModelInfo, and every failure a
// pull can meet: a missing repository, a damaged model (nothing installed, the older install
// kept), bad names, a server that is down, a body shorter than its Content-Length.
#include "embed/model_store.h"

#include <gtest/gtest.h>

#include <atomic>
#include <cstdlib>
#include <filesystem>
#include <set>
#include <string>
#include <vector>

#include "embed/model.h"
#include "embed_test_util.h"
#include "local_hub.h"
#include "random_bert.h"

namespace sextant::embed {
namespace {

namespace fs = std::filesystem;
using testing::LocalHub;
using testing::RawHttpServer;

const std::vector<std::string> kTexts = {"Where is the cat?", "The feline is sleeping on the sofa.", "",
                                         "Javascript is a programming language."};

std::vector<float> EmbedWith(const std::string& name_or_dir) {
  auto model = LoadModel(name_or_dir);
  EXPECT_TRUE(model.ok()) << model.status().ToString();
  if (!model.ok()) return {};
  auto rows = (*model)->Embed(kTexts);
  EXPECT_TRUE(rows.ok()) << rows.status().ToString();
  return rows.ok() ? *rows : std::vector<float>{};
}

// Hidden entries (a pull's work directories) under `dir`.
std::vector<std::string> Hidden(const std::string& dir) {
  std::vector<std::string> out;
  std::error_code ec;
  for (fs::recursive_directory_iterator it(dir, ec), end; !ec && it != end; it.increment(ec)) {
    const std::string leaf = it->path().filename().string();
    if (!leaf.empty() && leaf[0] == '.' && leaf != ".sextant-source.json") out.push_back(it->path().string());
  }
  return out;
}

class ModelStoreTest : public ::testing::Test {
 protected:
  void SetUp() override {
    dir_ = (fs::temp_directory_path() / ("sextant_model_store_" + std::to_string(::getpid()))).string();
    fs::remove_all(dir_);
    fs::create_directories(dir_);
    models_ = dir_ + "/models";
    ::setenv("SEXTANT_MODELS", models_.c_str(), 1);
    ::unsetenv("HF_TOKEN");
    hub_ = std::make_unique<LocalHub>(dir_ + "/hub");
    // Potion's files as the hub has them, and a small random BERT sentence-transformers model.
    hub_->Publish("minishlab/potion-base-4M", testing::PotionDir());
    testing::RandomBertSpec spec;
    spec.tokenizer_json = testing::Slurp(testing::PotionDir() + "/tokenizer.json");
    spec.max_seq_length = 48;
    testing::WriteRandomBert(dir_ + "/bert", spec);
    hub_->Publish("sextant-test/tiny-bert", dir_ + "/bert");
    ASSERT_TRUE(hub_->Start()) << "python3 -m http.server did not start";
    ::setenv("HF_ENDPOINT", hub_->endpoint().c_str(), 1);
  }
  void TearDown() override {
    hub_.reset();
    ::unsetenv("HF_ENDPOINT");
    ::unsetenv("SEXTANT_MODELS");
    fs::remove_all(dir_);
  }

  std::string dir_, models_;
  std::unique_ptr<LocalHub> hub_;
};

TEST_F(ModelStoreTest, ModelsDirFollowsTheEnvironment) {
  EXPECT_EQ(ModelsDir(), models_);
  ::setenv("SEXTANT_MODELS", (models_ + "/").c_str(), 1);
  EXPECT_EQ(ModelsDir(), models_);
  const char* home = std::getenv("HOME");
  const std::string saved_home = home ? home : "";
  ::unsetenv("SEXTANT_MODELS");
  ::setenv("HOME", "/home/someone", 1);
  EXPECT_EQ(ModelsDir(), "/home/someone/.cache/sextant/models");
  if (home) ::setenv("HOME", saved_home.c_str(), 1);
  ::setenv("SEXTANT_MODELS", models_.c_str(), 1);
}

TEST_F(ModelStoreTest, PulledModelsEmbedExactlyLikeTheirSource) {
  std::vector<PullProgress> events;
  PullOptions options;
  options.progress = [&](const PullProgress& p) { events.push_back(p); };
  auto potion = PullModel("minishlab/potion-base-4M", options);
  ASSERT_TRUE(potion.ok()) << potion.status().ToString();
  EXPECT_EQ(*potion, models_ + "/minishlab/potion-base-4M");
  auto bert = PullModel("sextant-test/tiny-bert");
  ASSERT_TRUE(bert.ok()) << bert.status().ToString();
  EXPECT_EQ(*bert, models_ + "/sextant-test/tiny-bert");

  // The same floats as the directories they came from; the name resolves through the folder.
  EXPECT_EQ(EmbedWith("minishlab/potion-base-4M"), EmbedWith(testing::PotionDir()));
  EXPECT_EQ(EmbedWith("sextant-test/tiny-bert"), EmbedWith(dir_ + "/bert"));
  auto named = LoadNamedModel("sextant-test/tiny-bert");
  ASSERT_TRUE(named.ok()) << named.status().ToString();
  EXPECT_EQ((*named)->name(), "sextant-test/tiny-bert");
  EXPECT_EQ((*named)->dimension(), 32u);
  EXPECT_EQ((*LoadModel("minishlab/potion-base-4M"))->name(), "minishlab/potion-base-4M");

  // Files: the required ones, the optional ones the repository has; nothing else, no leftovers.
  for (const char* f : {"config.json", "model.safetensors", "tokenizer.json", "modules.json", "README.md", "LICENSE"}) {
    EXPECT_TRUE(fs::exists(*potion + "/" + f)) << f;
  }
  for (const char* f : {"config.json", "model.safetensors", "tokenizer.json", "modules.json", "1_Pooling/config.json",
                        "sentence_bert_config.json"}) {
    EXPECT_TRUE(fs::exists(*bert + "/" + f)) << f;
  }
  EXPECT_FALSE(fs::exists(*potion + "/vocab.txt"));  // a 404 of an optional file: skipped
  EXPECT_TRUE(Hidden(models_).empty());

  // Progress: each file that arrived is reported done with its size.
  std::set<std::string> done;
  for (const auto& e : events) {
    if (!e.done) continue;
    done.insert(e.file);
    EXPECT_EQ(e.received, fs::file_size(*potion + "/" + e.file)) << e.file;
    EXPECT_EQ(e.total, e.received);
  }
  EXPECT_EQ(done, (std::set<std::string>{"config.json", "model.safetensors", "tokenizer.json", "modules.json",
                                         "README.md", "LICENSE"}));

  // Pulled again: replaced by the new copy, still complete.
  ASSERT_TRUE(PullModel("minishlab/potion-base-4M").ok());
  EXPECT_EQ(EmbedWith("minishlab/potion-base-4M"), EmbedWith(testing::PotionDir()));
  EXPECT_TRUE(Hidden(models_).empty());
}

TEST_F(ModelStoreTest, ListAndInfo) {
  ASSERT_TRUE(PullModel("minishlab/potion-base-4M").ok());
  ASSERT_TRUE(PullModel("sextant-test/tiny-bert").ok());
  // A model placed directly in the folder, and a folder that is not a model.
  fs::copy(testing::PotionDir(), models_ + "/local-potion", fs::copy_options::recursive);
  fs::create_directories(models_ + "/empty-owner/nothing");
  auto list = ListModels();
  ASSERT_TRUE(list.ok()) << list.status().ToString();
  ASSERT_EQ(list->size(), 4u);
  EXPECT_EQ((*list)[0].name, "potion-base-4M");
  EXPECT_TRUE((*list)[0].builtin);
  EXPECT_EQ((*list)[0].dimension, 128u);
  EXPECT_TRUE((*list)[0].path.empty());
  EXPECT_GT((*list)[0].bytes, 3000000u);
  EXPECT_EQ((*list)[1].name, "local-potion");
  EXPECT_EQ((*list)[2].name, "minishlab/potion-base-4M");
  EXPECT_EQ((*list)[2].kind, "model2vec");
  EXPECT_EQ((*list)[2].dimension, 128u);
  EXPECT_EQ((*list)[2].path, models_ + "/minishlab/potion-base-4M");
  EXPECT_FALSE((*list)[2].builtin);
  EXPECT_EQ((*list)[3].name, "sextant-test/tiny-bert");
  EXPECT_EQ((*list)[3].kind, "bert");
  EXPECT_EQ((*list)[3].dimension, 32u);
  EXPECT_GT((*list)[3].bytes, 0u);
  for (const auto& e : *list) EXPECT_TRUE(e.error.empty()) << e.name << ": " << e.error;
  EXPECT_EQ((*LoadNamedModel("local-potion"))->dimension(), 128u);

  // A damaged model is listed with its error, not skipped, and not served.
  fs::resize_file(models_ + "/local-potion/model.safetensors", 10);
  list = ListModels();
  ASSERT_TRUE(list.ok());
  EXPECT_FALSE((*list)[1].error.empty());
  EXPECT_FALSE(LoadNamedModel("local-potion").ok());

  auto info = ModelInfo("sextant-test/tiny-bert");
  ASSERT_TRUE(info.ok()) << info.status().ToString();
  EXPECT_EQ((*info)["kind"], "bert");
  EXPECT_EQ((*info)["dimension"], 32);
  EXPECT_EQ((*info)["max_tokens"], 48);
  EXPECT_EQ((*info)["pooling"], "mean");
  EXPECT_EQ((*info)["normalize"], true);
  EXPECT_EQ((*info)["builtin"], false);
  EXPECT_EQ((*info)["path"], models_ + "/sextant-test/tiny-bert");
  EXPECT_EQ((*info)["source"]["repo"], "sextant-test/tiny-bert");
  EXPECT_EQ((*info)["source"]["revision"], "main");
  std::set<std::string> files;
  for (const auto& f : (*info)["files"]) files.insert(f["name"].get<std::string>());
  EXPECT_TRUE(files.count("1_Pooling/config.json"));
  EXPECT_FALSE(files.count(".sextant-source.json"));

  info = ModelInfo("minishlab/potion-base-4M");
  ASSERT_TRUE(info.ok()) << info.status().ToString();
  EXPECT_EQ((*info)["kind"], "model2vec");
  EXPECT_EQ((*info)["license"], "MIT License");
  EXPECT_EQ((*info)["max_tokens"], 512);
  info = ModelInfo("potion-base-4M");
  ASSERT_TRUE(info.ok());
  EXPECT_EQ((*info)["builtin"], true);
  EXPECT_EQ((*info)["dimension"], 128);
  EXPECT_FALSE(info->contains("path"));
  info = ModelInfo(dir_ + "/bert");  // a directory as given
  ASSERT_TRUE(info.ok()) << info.status().ToString();
  EXPECT_EQ((*info)["path"], dir_ + "/bert");
  EXPECT_FALSE(ModelInfo("nobody/nothing").ok());
}

TEST_F(ModelStoreTest, NamedModelsAreNeverPaths) {
  ASSERT_TRUE(PullModel("sextant-test/tiny-bert").ok());
  for (const std::string& name : {dir_ + "/bert", std::string("../models/sextant-test/tiny-bert"),
                                  std::string("sextant-test/../sextant-test/tiny-bert"), std::string("/etc"),
                                  std::string("a/b/c"), std::string(".hidden")}) {
    auto m = LoadNamedModel(name);
    ASSERT_FALSE(m.ok()) << name;
    EXPECT_EQ(m.status().code(), StatusCode::kInvalidArgument) << name << ": " << m.status().ToString();
  }
  auto m = LoadNamedModel("nobody/nothing");
  ASSERT_FALSE(m.ok());
  EXPECT_EQ(m.status().code(), StatusCode::kNotFound);
  EXPECT_EQ(m.status().message(),
            "unknown model 'nobody/nothing': not a built-in model (potion-base-4M) nor a model in the models folder "
            "('sextant model list' lists them)");
  auto any = LoadModel("nobody/nothing");  // LoadModel may say where the folder is
  ASSERT_FALSE(any.ok());
  EXPECT_NE(any.status().message().find(models_), std::string::npos) << any.status().message();
  EXPECT_TRUE(LoadNamedModel("potion-base-4M").ok());
  // LoadModel takes a directory too.
  EXPECT_TRUE(LoadModel(dir_ + "/bert").ok());
}

TEST_F(ModelStoreTest, AMissingRepositoryNamesTheUrlAndStatus) {
  auto r = PullModel("nobody/nothing");
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.status().code(), StatusCode::kNotFound);
  EXPECT_NE(r.status().message().find(hub_->endpoint() + "/nobody/nothing/resolve/main/config.json"), std::string::npos)
      << r.status().message();
  EXPECT_NE(r.status().message().find("HTTP 404"), std::string::npos) << r.status().message();
  EXPECT_FALSE(fs::exists(models_ + "/nobody/nothing"));
  EXPECT_TRUE(Hidden(models_).empty());
  // A required file missing from an otherwise complete repository.
  fs::remove(hub_->FilePath("sextant-test/tiny-bert", "tokenizer.json"));
  r = PullModel("sextant-test/tiny-bert");
  ASSERT_FALSE(r.ok());
  EXPECT_NE(r.status().message().find("/sextant-test/tiny-bert/resolve/main/tokenizer.json: HTTP 404"),
            std::string::npos)
      << r.status().message();
  EXPECT_FALSE(fs::exists(models_ + "/sextant-test/tiny-bert"));
}

TEST_F(ModelStoreTest, ADamagedDownloadInstallsNothingAndKeepsTheOlderModel) {
  ASSERT_TRUE(PullModel("sextant-test/tiny-bert").ok());
  const std::vector<float> good = EmbedWith("sextant-test/tiny-bert");
  // Revision "broken": the weights cut short.
  hub_->Publish("sextant-test/tiny-bert", dir_ + "/bert", "broken");
  const std::string weights = hub_->FilePath("sextant-test/tiny-bert", "model.safetensors", "broken");
  fs::resize_file(weights, fs::file_size(weights) / 2);
  PullOptions options;
  options.revision = "broken";
  auto r = PullModel("sextant-test/tiny-bert", options);
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.status().code(), StatusCode::kInvalidArgument);
  EXPECT_NE(r.status().message().find("does not load"), std::string::npos) << r.status().message();
  EXPECT_NE(r.status().message().find("model.safetensors"), std::string::npos) << r.status().message();
  EXPECT_EQ(EmbedWith("sextant-test/tiny-bert"), good);
  EXPECT_TRUE(Hidden(models_).empty());
  // A model never pulled before: nothing at all is left.
  hub_->Publish("sextant-test/broken", dir_ + "/bert");
  fs::resize_file(hub_->FilePath("sextant-test/broken", "model.safetensors"), 100);
  EXPECT_FALSE(PullModel("sextant-test/broken").ok());
  EXPECT_FALSE(fs::exists(models_ + "/sextant-test/broken"));
  EXPECT_TRUE(Hidden(models_).empty());
}

TEST_F(ModelStoreTest, BadNamesAreRefusedBeforeAnyRequest) {
  for (const std::string& name : std::vector<std::string>{"", "../etc", "a/b/c", ".hidden/x", "owner/..", "owner/.x",
                                                          "a b/c", "owner/", "/name", "owner/na..me",
                                                          std::string(97, 'a')}) {
    auto r = PullModel(name);
    ASSERT_FALSE(r.ok()) << name;
    EXPECT_EQ(r.status().code(), StatusCode::kInvalidArgument) << name << ": " << r.status().ToString();
  }
  EXPECT_TRUE(CheckRepoName("BAAI/bge-small-en-v1.5").ok());
  EXPECT_TRUE(CheckRepoName("bert-base-uncased").ok());
  PullOptions options;
  options.revision = "../x";
  EXPECT_EQ(PullModel("a/b", options).status().code(), StatusCode::kInvalidArgument);
  EXPECT_FALSE(fs::exists(models_));
}

TEST_F(ModelStoreTest, AServerThatIsDownIsAnIoError) {
  hub_->Stop();
  auto r = PullModel("minishlab/potion-base-4M");
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.status().code(), StatusCode::kIOError);
  EXPECT_NE(r.status().message().find(hub_->endpoint()), std::string::npos) << r.status().message();
  EXPECT_FALSE(fs::exists(models_ + "/minishlab/potion-base-4M"));
  EXPECT_TRUE(Hidden(models_).empty());
  ::setenv("HF_ENDPOINT", "ftp://example.org", 1);
  EXPECT_EQ(PullModel("a/b").status().code(), StatusCode::kInvalidArgument);
}

TEST_F(ModelStoreTest, RedirectsAreFollowedAndShortBodiesRefused) {
  // A front that redirects every file to a "CDN" on another port (as huggingface.co redirects
  // to its CDN); the token goes to the endpoint's own host only.
  std::atomic<int> front_with_token{0}, cdn_with_token{0};
  RawHttpServer cdn([&](const std::string& path, const std::string& head) {
    if (head.find("Authorization:") != std::string::npos) ++cdn_with_token;
    const std::string file = hub_->root() + path;
    if (!fs::is_regular_file(file)) return std::string("HTTP/1.1 404 Not Found\r\nContent-Length: 0\r\n\r\n");
    const std::string bytes = testing::Slurp(file);
    return "HTTP/1.1 200 OK\r\nContent-Length: " + std::to_string(bytes.size()) + "\r\n\r\n" + bytes;
  });
  RawHttpServer front([&](const std::string& path, const std::string& head) {
    if (head.find("Authorization: Bearer hf_secret\r\n") != std::string::npos) ++front_with_token;
    return "HTTP/1.1 302 Found\r\nLocation: " + cdn.endpoint() + path + "\r\nContent-Length: 0\r\n\r\n";
  });
  ::setenv("HF_ENDPOINT", front.endpoint().c_str(), 1);
  ::setenv("HF_TOKEN", "hf_secret", 1);
  auto r = PullModel("minishlab/potion-base-4M");
  ::unsetenv("HF_TOKEN");
  ASSERT_TRUE(r.ok()) << r.status().ToString();
  EXPECT_EQ(EmbedWith("minishlab/potion-base-4M"), EmbedWith(testing::PotionDir()));
  EXPECT_GE(front.requests(), 12);
  EXPECT_EQ(front_with_token, front.requests());
  EXPECT_EQ(cdn.requests(), front.requests());
  EXPECT_EQ(cdn_with_token, 0);
  // A relative Location ("/path") stays on the same host.
  RawHttpServer relative([&](const std::string& path, const std::string&) {
    if (path.rfind("/moved", 0) == 0) {
      return "HTTP/1.1 307 Temporary Redirect\r\nLocation: " + cdn.endpoint() + path.substr(6) +
             "\r\nContent-Length: 0\r\n\r\n";
    }
    return "HTTP/1.1 307 Temporary Redirect\r\nLocation: /moved" + path + "\r\nContent-Length: 0\r\n\r\n";
  });
  ::setenv("HF_ENDPOINT", relative.endpoint().c_str(), 1);
  EXPECT_TRUE(PullModel("sextant-test/tiny-bert").ok());
  fs::remove_all(models_ + "/sextant-test");

  // A body shorter than its Content-Length, then the connection closed.
  RawHttpServer liar([](const std::string&, const std::string&) {
    return std::string("HTTP/1.1 200 OK\r\nContent-Length: 1000\r\nConnection: close\r\n\r\n0123456789");
  });
  ::setenv("HF_ENDPOINT", liar.endpoint().c_str(), 1);
  auto short_body = PullModel("sextant-test/tiny-bert");
  ASSERT_FALSE(short_body.ok());
  EXPECT_EQ(short_body.status().code(), StatusCode::kIOError);
  EXPECT_NE(short_body.status().message().find("config.json"), std::string::npos) << short_body.status().message();
  EXPECT_NE(short_body.status().message().find("1000"), std::string::npos) << short_body.status().message();
  EXPECT_FALSE(fs::exists(models_ + "/sextant-test/tiny-bert"));
  EXPECT_TRUE(Hidden(models_).empty());

  // An endpoint with a path prefix (a mirror under /hf).
  fs::create_directories(hub_->root() + "/hf");
  fs::rename(hub_->root() + "/sextant-test", hub_->root() + "/hf/sextant-test");
  ::setenv("HF_ENDPOINT", (hub_->endpoint() + "/hf/").c_str(), 1);
  EXPECT_TRUE(PullModel("sextant-test/tiny-bert").ok());
}

}  // namespace
}  // namespace sextant::embed
