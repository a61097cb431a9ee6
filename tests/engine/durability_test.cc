// Durability: fault injection through the Env seam, and a writer process killed with SIGKILL.
#include <gtest/gtest.h>
#include <signal.h>
#include <spawn.h>
#include <sys/wait.h>
#include <unistd.h>

#include <chrono>
#include <filesystem>
#include <map>
#include <mutex>
#include <random>
#include <thread>

#include "engine_test_util.h"
#include "sextant/database.h"
#include "storage/fault_injection_env.h"

extern char** environ;

namespace sextant {
namespace durability_test {  // named: the test programs are unity builds (tests/CMakeLists.txt)

using testing::PointsFor;
using testing::TempDir;
using testing::VectorFor;

constexpr size_t kDim = 8;
constexpr size_t kBatch = 25;

std::string FindFile(const std::string& dir, const std::string& prefix) {
  for (const auto& e : std::filesystem::directory_iterator(dir)) {
    const std::string name = e.path().filename().string();
    if (name.rfind(prefix, 0) == 0) return e.path().string();
  }
  return "";
}

class DurabilityTest : public ::testing::Test {
 protected:
  DurabilityTest() : env_(storage::Env::Default()) {}

  std::unique_ptr<Database> Open(Durability d = Durability::kSync) {
    DatabaseOptions opt;
    opt.env = &env_;
    opt.durability = d;
    auto db = Database::Open(dir_, opt);
    EXPECT_TRUE(db.ok()) << db.status().ToString();
    return db.ok() ? std::move(db).value() : nullptr;
  }
  Result<std::unique_ptr<Database>> TryOpen() {
    DatabaseOptions opt;
    opt.env = &env_;
    return Database::Open(dir_, opt);
  }
  std::shared_ptr<Collection> Create(Database& db, size_t seal_points = 0) {
    CollectionConfig c;
    c.name = "c";
    c.dimension = kDim;
    c.segments.seal_points = seal_points;
    return *db.CreateCollection(c);
  }
  std::string CollectionDir() const { return dir_ + "/collections/c"; }
  // Every point of the first `batches` batches is present and intact; nothing else is.
  void ExpectBatches(Database& db, size_t batches) {
    auto col = *db.GetCollection("c");
    EXPECT_EQ(*col->Count(), batches * kBatch);
    for (size_t i = 0; i < (batches + 1) * kBatch; ++i) {
      auto got = *col->Get(std::vector<std::string>{"p" + std::to_string(i)});
      if (i < batches * kBatch) {
        ASSERT_EQ(got.size(), 1u) << "acknowledged point p" << i << " is missing";
        EXPECT_EQ(got[0].vector, VectorFor(i, kDim));
      } else {
        EXPECT_TRUE(got.empty()) << "p" << i << " was never acknowledged";
      }
    }
  }

  TempDir tmp_;
  std::string dir_ = tmp_.path();  // the database directory
  storage::FaultInjectionEnv env_;
};

TEST_F(DurabilityTest, SyncedWritesSurviveLostPageCache) {
  {
    auto db = Open();
    auto col = Create(*db);
    for (size_t b = 0; b < 6; ++b) ASSERT_TRUE(col->Upsert(PointsFor(b * kBatch, kBatch, kDim)).ok());
  }
  ASSERT_TRUE(env_.DropUnsyncedData().ok());
  auto db = Open();
  ExpectBatches(*db, 6);
}

TEST_F(DurabilityTest, RelaxedModeLosesOnlyWholeRecentBatches) {
  {
    auto db = Open();
    Create(*db);
  }
  {
    auto db = Open(Durability::kRelaxed);
    auto col = *db->GetCollection("c");
    for (size_t b = 0; b < 6; ++b) ASSERT_TRUE(col->Upsert(PointsFor(b * kBatch, kBatch, kDim)).ok());
  }
  ASSERT_TRUE(env_.DropUnsyncedData().ok());
  auto db = Open();
  auto col = *db->GetCollection("c");
  const size_t n = *col->Count();
  EXPECT_EQ(n % kBatch, 0u);
  ExpectBatches(*db, n / kBatch);
}

TEST_F(DurabilityTest, TornLogTailIsCutAndWritesContinue) {
  std::string manifest_while_open;
  {
    auto db = Open();
    auto col = Create(*db);
    for (size_t b = 0; b < 5; ++b) ASSERT_TRUE(col->Upsert(PointsFor(b * kBatch, kBatch, kDim)).ok());
    manifest_while_open = *env_.ReadFile(CollectionDir() + "/MANIFEST");
  }
  // A crash leaves the manifest as it was while the process ran (a clean close records the
  // log's length in it, after which a shorter log is corruption: see the hostile tests).
  ASSERT_TRUE(env_.WriteFileAtomically(CollectionDir() + "/MANIFEST", manifest_while_open).ok());
  ASSERT_TRUE(env_.TruncateTail(FindFile(CollectionDir(), "wal-"), 11).ok());
  {
    auto db = Open();
    ExpectBatches(*db, 4);
    auto col = *db->GetCollection("c");
    ASSERT_TRUE(col->Upsert(PointsFor(4 * kBatch, kBatch, kDim)).ok());
  }
  auto db = Open();
  ExpectBatches(*db, 5);
}

TEST_F(DurabilityTest, FlippedByteInTheLogIsReportedNotServed) {
  {
    auto db = Open();
    auto col = Create(*db);
    for (size_t b = 0; b < 5; ++b) ASSERT_TRUE(col->Upsert(PointsFor(b * kBatch, kBatch, kDim)).ok());
  }
  const std::string wal = FindFile(CollectionDir(), "wal-");
  ASSERT_TRUE(env_.FlipByte(wal, 100, 0x10).ok());
  // The database opens; the damaged collection is not served, and its files stay.
  auto db = TryOpen();
  ASSERT_TRUE(db.ok()) << db.status().ToString();
  auto col = (*db)->GetCollection("c");
  ASSERT_FALSE(col.ok());
  EXPECT_EQ(col.status().code(), StatusCode::kCorruption);
  EXPECT_NE(col.status().message().find("wal-"), std::string::npos) << col.status().message();
  EXPECT_EQ((*db)->BrokenCollections().count("c"), 1u);
  EXPECT_TRUE(std::filesystem::exists(wal));
}

TEST_F(DurabilityTest, FlippedByteInACheckpointIsReported) {
  for (const char* prefix : {"points-", "seg-"}) {
    dir_ = tmp_.sub(prefix);  // a new database for each case
    {
      auto db = Open();
      auto col = Create(*db, /*seal_points=*/64);
      for (size_t b = 0; b < 4; ++b) ASSERT_TRUE(col->Upsert(PointsFor(b * kBatch, kBatch, kDim)).ok());
      ASSERT_TRUE(col->Optimize().ok());
      ASSERT_TRUE(col->Checkpoint().ok());
    }
    const std::string file = FindFile(CollectionDir(), prefix);
    ASSERT_FALSE(file.empty());
    ASSERT_TRUE(env_.FlipByte(file, std::filesystem::file_size(file) / 2, 0x01).ok());
    auto db = TryOpen();
    ASSERT_TRUE(db.ok()) << prefix;
    auto col = (*db)->GetCollection("c");
    ASSERT_FALSE(col.ok()) << prefix;
    EXPECT_EQ(col.status().code(), StatusCode::kCorruption) << col.status().ToString();
    EXPECT_NE(col.status().message().find(prefix), std::string::npos) << col.status().ToString();
    EXPECT_TRUE(std::filesystem::exists(file));
  }
}

// A machine crash at every write of a workload that seals, merges and compacts segments: the
// Env lets the first n writes through (segment, vector and index files go through it like the
// log, checkpoints and manifests), then fails every write — the machine stops there — and drops
// whatever was not synced. The reopened collection must hold exactly the acknowledged state.
TEST_F(DurabilityTest, CrashAtEveryWriteOfSealsMergesAndCompactions) {
  for (const IndexType index : {IndexType::kHnsw, IndexType::kSq8}) {
    size_t completed_runs = 0;
    for (uint64_t n = 0; completed_runs == 0 && n < 400; n += n < 60 ? 1 : 3) {
      const std::string dir = tmp_.sub(std::string(IndexTypeToString(index)) + "-" + std::to_string(n));
      storage::FaultInjectionEnv env(storage::Env::Default());
      DatabaseOptions opt;
      opt.env = &env;
      opt.index_threads = 1;
      std::map<std::string, std::vector<float>> expected;  // the acknowledged state
      bool died = false;
      {
        auto db = std::move(Database::Open(dir, opt)).value();
        CollectionConfig c;
        c.name = "c";
        c.dimension = kDim;
        c.index = index;
        c.quantization.nlist = 2;
        c.segments.seal_points = 32;
        std::shared_ptr<Collection> col = *db->CreateCollection(c);
        env.FailAfterWrites(n);
        // Six sealed segments of 32 (a merge of four), then 60% of the first two deleted (a
        // compaction), then everything optimised.
        for (size_t b = 0; b < 8 && !died; ++b) {
          auto points = PointsFor(b * 24, 24, kDim);
          if (!col->Upsert(points).ok()) {
            died = true;
            break;
          }
          for (const Point& p : points) expected[p.id] = p.vector;
        }
        std::vector<std::string> doomed;
        for (size_t i = 0; i < 64; ++i) {
          if (i % 5 < 3) doomed.push_back("p" + std::to_string(i));
        }
        if (!died && col->Delete(doomed).ok()) {
          for (const auto& id : doomed) expected.erase(id);
        } else {
          died = true;
        }
        if (!died && !col->Optimize().ok()) died = true;
        if (!died && !col->Checkpoint().ok()) died = true;
      }
      ASSERT_TRUE(env.DropUnsyncedData().ok());
      env.SetWriteError(false);
      auto db = Database::Open(dir, opt);
      ASSERT_TRUE(db.ok()) << "crash after " << n << " writes: " << db.status().ToString();
      auto col = (*db)->GetCollection("c");
      ASSERT_TRUE(col.ok()) << "crash after " << n << " writes: " << col.status().ToString();
      ASSERT_EQ(*(*col)->Count(), expected.size()) << "crash after " << n << " writes";
      for (size_t i = 0; i < 8 * 24; ++i) {
        const std::string id = "p" + std::to_string(i);
        auto got = *(*col)->Get(std::vector<std::string>{id}, true);
        auto it = expected.find(id);
        if (it == expected.end()) {
          EXPECT_TRUE(got.empty()) << id << " after a crash at write " << n;
        } else {
          ASSERT_EQ(got.size(), 1u) << id << " lost after a crash at write " << n;
          EXPECT_EQ(got[0].vector, it->second) << id;
        }
      }
      if (!expected.empty()) {
        QueryRequest q;
        q.vector = expected.begin()->second;
        q.k = 1;
        auto hits = (*col)->Query(q);
        ASSERT_TRUE(hits.ok());
        ASSERT_EQ(hits->size(), 1u);
      }
      if (!died) ++completed_runs;
    }
    EXPECT_EQ(completed_runs, 1u) << IndexTypeToString(index) << ": the sweep never reached a run without a crash";
  }
}

// Passes every call to `base` until the machine stops: StopAfter(n) lets n more changes of the
// file system through (new files, whole-file writes, renames, removals, new directories,
// directory syncs; appends to files already open are not counted, a drop makes none), then
// every change fails and does nothing. A tree removal that the stop interrupts has removed
// half its entries first, durably, as a crash midway through it would leave them.
class StoppingEnv final : public storage::Env {
 public:
  explicit StoppingEnv(storage::Env* base) : base_(base) {}
  void StopAfter(uint64_t n) {
    std::lock_guard<std::mutex> l(mu_);
    left_ = n;
  }
  bool stopped() {
    std::lock_guard<std::mutex> l(mu_);
    return stopped_;
  }

  Result<std::unique_ptr<storage::WritableFile>> NewWritableFile(const std::string& path, bool append) override {
    SEXTANT_RETURN_IF_ERROR(Change());
    return base_->NewWritableFile(path, append);
  }
  Result<std::string> ReadFile(const std::string& path) override { return base_->ReadFile(path); }
  Status WriteFileAtomically(const std::string& path, std::string_view data) override {
    SEXTANT_RETURN_IF_ERROR(Change());
    return base_->WriteFileAtomically(path, data);
  }
  Status RenameFile(const std::string& from, const std::string& to) override {
    SEXTANT_RETURN_IF_ERROR(Change());
    return base_->RenameFile(from, to);
  }
  Status RemoveFile(const std::string& path) override {
    SEXTANT_RETURN_IF_ERROR(Change());
    return base_->RemoveFile(path);
  }
  Status CreateDirs(const std::string& path) override {
    SEXTANT_RETURN_IF_ERROR(Change());
    return base_->CreateDirs(path);
  }
  Status RemoveDirRecursively(const std::string& path) override {
    bool stops_here = false;
    if (Status st = Change(&stops_here); !st.ok()) {
      if (auto names = base_->ListDir(path); names.ok() && stops_here) {
        for (size_t i = 0; i < names->size() / 2; ++i) (void)base_->RemoveFile(path + "/" + (*names)[i]);
        (void)base_->SyncDir(path);
      }
      return st;
    }
    return base_->RemoveDirRecursively(path);
  }
  Status SyncDir(const std::string& path) override {
    SEXTANT_RETURN_IF_ERROR(Change());
    return base_->SyncDir(path);
  }
  Result<std::vector<std::string>> ListDir(const std::string& path) override { return base_->ListDir(path); }
  bool FileExists(const std::string& path) override { return base_->FileExists(path); }
  Result<uint64_t> GetFileSize(const std::string& path) override { return base_->GetFileSize(path); }
  Status TruncateFile(const std::string& path, uint64_t size) override {
    SEXTANT_RETURN_IF_ERROR(Change());
    return base_->TruncateFile(path, size);
  }
  Result<std::unique_ptr<storage::FileLock>> LockFile(const std::string& path) override {
    return base_->LockFile(path);
  }
  Status CopyFile(const std::string& from, const std::string& to) override {
    SEXTANT_RETURN_IF_ERROR(Change());
    return base_->CopyFile(from, to);
  }

 private:
  // OK, or the error of a stopped machine; *stops_here: this change is the one that stops it.
  Status Change(bool* stops_here = nullptr) {
    std::lock_guard<std::mutex> l(mu_);
    if (left_ == 0) {
      if (stops_here) *stops_here = !stopped_;
      stopped_ = true;
      return Status::IOError("the machine stopped");
    }
    --left_;
    return Status::OK();
  }

  storage::Env* const base_;
  std::mutex mu_;
  uint64_t left_ = UINT64_MAX;
  bool stopped_ = false;
};

// A machine crash at every step of a drop (the rename to a hidden name, the directory sync, the
// removal of the renamed tree, which the crash cuts off halfway): the reopened database holds
// the whole collection or nothing of it (never a damaged one, never a hidden leftover), the
// other collection is untouched, and a free name can be used again. The sweep ends with a drop
// that completes.
TEST_F(DurabilityTest, CrashAtEveryStepOfADrop) {
  bool completed = false;
  uint64_t n = 0, whole = 0, gone = 0;  // crashes that left the collection, and none of it
  for (; !completed && n < 20; ++n) {
    dir_ = tmp_.sub("drop-" + std::to_string(n));
    StoppingEnv env(&env_);
    DatabaseOptions opt;
    opt.env = &env;
    {
      auto db = std::move(Database::Open(dir_, opt)).value();
      auto col = Create(*db, /*seal_points=*/32);
      for (size_t b = 0; b < 4; ++b) ASSERT_TRUE(col->Upsert(PointsFor(b * kBatch, kBatch, kDim)).ok());
      ASSERT_TRUE(col->Optimize().ok());  // sealed segment files too
      CollectionConfig k;
      k.name = "keep";
      k.dimension = kDim;
      auto keep = *db->CreateCollection(k);
      ASSERT_TRUE(keep->Upsert(PointsFor(0, kBatch, kDim)).ok());
      env.StopAfter(n);
      const Status dropped = db->DropCollection("c");
      completed = dropped.ok() && !env.stopped();
      env.StopAfter(0);  // the machine stops here at the latest: closing writes nothing
    }
    ASSERT_TRUE(env_.DropUnsyncedData().ok());
    auto db = Open();
    ASSERT_NE(db, nullptr) << "crash after " << n << " changes";
    const std::vector<std::string> names = *env_.ListDir(dir_ + "/collections");
    EXPECT_TRUE(db->BrokenCollections().empty()) << "crash after " << n << " changes";
    auto col = db->GetCollection("c");
    if (col.ok()) {
      ++whole;
      EXPECT_FALSE(completed);
      EXPECT_EQ(names, (std::vector<std::string>{"c", "keep"})) << "crash after " << n << " changes";
      ExpectBatches(*db, 4);
    } else {
      gone += !completed;
      EXPECT_EQ(col.status().code(), StatusCode::kNotFound) << col.status().ToString();
      EXPECT_EQ(names, std::vector<std::string>{"keep"}) << "crash after " << n << " changes";
      CollectionConfig again;
      again.name = "c";
      again.dimension = kDim;
      EXPECT_TRUE(db->CreateCollection(again).ok()) << "crash after " << n << " changes";
    }
    EXPECT_EQ(*(*db->GetCollection("keep"))->Count(), kBatch);
  }
  EXPECT_TRUE(completed) << "no drop completed in " << n << " tries";
  EXPECT_GT(whole, 0u);
  EXPECT_GT(gone, 0u);
}

TEST_F(DurabilityTest, FailedLogWriteStopsWritesUntilTheLogCanBeRepaired) {
  auto db = Open();
  auto col = Create(*db);
  ASSERT_TRUE(col->Upsert(PointsFor(0, kBatch, kDim)).ok());
  env_.SetWriteError(true);  // a full disk
  auto failed = col->Upsert(PointsFor(kBatch, kBatch, kDim));
  EXPECT_FALSE(failed.ok());
  auto refused = col->Upsert(PointsFor(kBatch, kBatch, kDim));
  EXPECT_FALSE(refused.ok());
  EXPECT_EQ(*col->Count(), kBatch);  // reads still work, and see only acknowledged data
  // Space is freed: the next write cuts the log back to its last whole record and goes on.
  env_.SetWriteError(false);
  auto resumed = col->Upsert(PointsFor(kBatch, kBatch, kDim));
  ASSERT_TRUE(resumed.ok()) << resumed.status().ToString();
  EXPECT_EQ(*col->Count(), 2 * kBatch);
  db.reset();
  ASSERT_TRUE(env_.DropUnsyncedData().ok());
  db = Open();
  ExpectBatches(*db, 2);
}

// Kills `sextant upsert` with SIGKILL at random moments; every acknowledged batch must be there
// after reopening, intact, and no batch may be visible in part.
TEST(CrashTest, SigkillNeverLosesAcknowledgedWrites) {
  ::signal(SIGPIPE, SIG_IGN);
  std::mt19937 rng(12345);
  const int rounds = 12;
  size_t rounds_with_acks = 0;
  for (int round = 0; round < rounds; ++round) {
    TempDir tmp;
    {
      auto db = Database::Open(tmp.path());
      ASSERT_TRUE(db.ok());
      CollectionConfig c;
      c.name = "c";
      c.dimension = kDim;
      c.text = true;  // the keyword index must come back too
      // Small segments: the writer is killed while segments are sealed, merged and checkpointed.
      c.segments.seal_points = 64;
      ASSERT_TRUE((*db)->CreateCollection(c).ok());
    }
    int in_pipe[2], out_pipe[2];
    ASSERT_EQ(::pipe(in_pipe), 0);
    ASSERT_EQ(::pipe(out_pipe), 0);
    posix_spawn_file_actions_t actions;
    posix_spawn_file_actions_init(&actions);
    posix_spawn_file_actions_adddup2(&actions, in_pipe[0], 0);
    posix_spawn_file_actions_adddup2(&actions, out_pipe[1], 1);
    posix_spawn_file_actions_addclose(&actions, in_pipe[1]);
    posix_spawn_file_actions_addclose(&actions, out_pipe[0]);
    std::string batch = std::to_string(kBatch);
    std::vector<std::string> args = {SEXTANT_CLI, "upsert", "--db", tmp.path(), "c", "--batch", batch};
    std::vector<char*> argv;
    for (auto& a : args) argv.push_back(a.data());
    argv.push_back(nullptr);
    pid_t pid;
    ASSERT_EQ(posix_spawn(&pid, SEXTANT_CLI, &actions, nullptr, argv.data(), environ), 0);
    posix_spawn_file_actions_destroy(&actions);
    ::close(in_pipe[0]);
    ::close(out_pipe[1]);

    std::thread feeder([fd = in_pipe[1]] {
      for (size_t i = 0; i < 200000; ++i) {
        nlohmann::json j = {{"id", "p" + std::to_string(i)}, {"vector", VectorFor(i, kDim)},
                            {"document", "point w" + std::to_string(i) + "x"},
                            {"metadata", {{"n", i}}}};
        const std::string line = j.dump() + "\n";
        if (::write(fd, line.data(), line.size()) != static_cast<ssize_t>(line.size())) break;
      }
      ::close(fd);
    });
    size_t acked = 0;
    std::thread reader([&acked, fd = out_pipe[0]] {
      std::string buf;
      char chunk[4096];
      for (ssize_t n; (n = ::read(fd, chunk, sizeof chunk)) > 0;) {
        buf.append(chunk, n);
        for (size_t nl; (nl = buf.find('\n')) != std::string::npos; buf.erase(0, nl + 1)) {
          auto j = nlohmann::json::parse(buf.substr(0, nl), nullptr, false);
          if (j.is_object() && j.contains("acked")) acked = j["acked"].get<size_t>();
        }
      }
      ::close(fd);
    });
    std::this_thread::sleep_for(std::chrono::milliseconds(std::uniform_int_distribution<>(50, 600)(rng)));
    ::kill(pid, SIGKILL);
    int status;
    ::waitpid(pid, &status, 0);
    reader.join();
    feeder.join();
    ASSERT_TRUE(WIFSIGNALED(status)) << "the writer finished before it was killed";
    rounds_with_acks += acked > 0;

    auto db = Database::Open(tmp.path());
    ASSERT_TRUE(db.ok()) << db.status().ToString();
    auto col = *(*db)->GetCollection("c");
    const size_t n = *col->Count();
    EXPECT_GE(n, acked) << "round " << round << ": acknowledged points lost";
    EXPECT_EQ(n % kBatch, 0u) << "round " << round << ": a batch is visible in part";
    std::vector<std::string> ids;
    for (size_t i = 0; i < n + kBatch; ++i) ids.push_back("p" + std::to_string(i));
    auto got = *col->Get(ids);
    ASSERT_EQ(got.size(), n) << "round " << round << ": points beyond the count, or holes";
    for (size_t i = 0; i < got.size(); ++i) {
      ASSERT_EQ(got[i].id, "p" + std::to_string(i));
      ASSERT_EQ(got[i].vector, VectorFor(i, kDim)) << got[i].id << " is damaged";
    }
    // The keyword index was rebuilt from the log: acknowledged documents are found by text.
    for (size_t i : {size_t{0}, n / 2, n > 0 ? n - 1 : 0}) {
      if (i >= n) continue;
      QueryRequest q;
      q.text = "w" + std::to_string(i) + "x";
      q.k = 1;
      auto hits = col->Query(q);
      ASSERT_TRUE(hits.ok()) << hits.status().ToString();
      ASSERT_EQ(hits->size(), 1u) << "document of p" << i << " not found by text";
      EXPECT_EQ((*hits)[0].id, "p" + std::to_string(i));
    }
  }
  EXPECT_GT(rounds_with_acks, rounds / 2) << "the writer was killed too early to test anything";
}

}  // namespace durability_test
}  // namespace sextant
