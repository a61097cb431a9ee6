// Tests of FaultInjectionEnv: the crash model, error injection, corruption helpers, and its
// use from several threads; plus WAL recovery through a simulated crash.
#include "storage/fault_injection_env.h"

#include <gtest/gtest.h>

#include <atomic>
#include <random>
#include <string>
#include <thread>
#include <vector>

#include "storage/log_reader.h"
#include "storage/log_writer.h"
#include "storage_test_util.h"

namespace sextant::storage {
namespace {

using testing::RandomBytes;
using testing::ScratchDir;

class FaultInjectionTest : public ::testing::Test {
 protected:
  std::string Path(const std::string& name) const { return dir_.Child(name); }

  std::string Contents(const std::string& name) {
    Result<std::string> r = env_.ReadFile(Path(name));
    EXPECT_TRUE(r.ok()) << r.status().ToString();
    return r.ok() ? *r : std::string("<unreadable>");
  }

  // Creates `name` with `contents` through the base Env, durably (as if from an earlier run).
  void Preexisting(const std::string& name, const std::string& contents) {
    ASSERT_TRUE(Env::Default()->WriteFileAtomically(Path(name), contents).ok());
  }

  std::unique_ptr<WritableFile> Open(const std::string& name, bool append) {
    auto file = env_.NewWritableFile(Path(name), append);
    EXPECT_TRUE(file.ok()) << file.status().ToString();
    return file.ok() ? std::move(*file) : nullptr;
  }

  ScratchDir dir_;
  FaultInjectionEnv env_{Env::Default()};
};

TEST_F(FaultInjectionTest, UnsyncedAppendsDisappearSyncedDataStays) {
  auto file = Open("f", false);
  SEXTANT_ASSERT_OK(env_.SyncDir(dir_.path()));  // the name itself is durable
  SEXTANT_ASSERT_OK(file->Append("synced "));
  SEXTANT_ASSERT_OK(file->Sync());
  SEXTANT_ASSERT_OK(file->Append("lost"));
  EXPECT_EQ(Contents("f"), "synced lost");  // before the crash everything is visible
  auto synced = env_.SyncedSize(Path("f"));
  ASSERT_TRUE(synced.ok());
  EXPECT_EQ(*synced, 7u);

  SEXTANT_ASSERT_OK(env_.DropUnsyncedData());
  EXPECT_EQ(Contents("f"), "synced ");
  // The handle belongs to the crashed "process".
  EXPECT_EQ(file->Append("x").code(), StatusCode::kIOError);
  EXPECT_EQ(file->Sync().code(), StatusCode::kIOError);
  SEXTANT_EXPECT_OK(file->Close());
  EXPECT_EQ(Contents("f"), "synced ");
}

TEST_F(FaultInjectionTest, FilesCreatedWithoutSyncDirVanish) {
  auto kept = Open("kept", false);
  auto lost = Open("lost", false);
  SEXTANT_ASSERT_OK(lost->Append("data"));
  SEXTANT_ASSERT_OK(lost->Sync());  // synced data, but the name never was
  SEXTANT_ASSERT_OK(env_.CreateDirs(Path("sub")));
  auto other_dir = Open("sub/other", false);
  SEXTANT_ASSERT_OK(env_.SyncDir(dir_.path()));  // covers "kept" and "lost", not "sub/other"
  auto late = Open("late", false);                // created after the SyncDir

  SEXTANT_ASSERT_OK(env_.DropUnsyncedData());
  EXPECT_TRUE(env_.FileExists(Path("kept")));
  EXPECT_TRUE(env_.FileExists(Path("lost")));
  EXPECT_EQ(Contents("lost"), "data");
  EXPECT_FALSE(env_.FileExists(Path("sub/other")));
  EXPECT_FALSE(env_.FileExists(Path("late")));
}

TEST_F(FaultInjectionTest, NewFileNeverSyncedVanishesEvenWithSyncedData) {
  auto file = Open("wal", false);
  SEXTANT_ASSERT_OK(file->Append("abc"));
  SEXTANT_ASSERT_OK(file->Sync());
  SEXTANT_ASSERT_OK(env_.DropUnsyncedData());
  EXPECT_FALSE(env_.FileExists(Path("wal")));
}

TEST_F(FaultInjectionTest, PreexistingBytesCountAsDurable) {
  Preexisting("old", "before|");
  auto file = Open("old", /*append=*/true);
  SEXTANT_ASSERT_OK(file->Append("after"));
  SEXTANT_ASSERT_OK(env_.DropUnsyncedData());
  EXPECT_EQ(Contents("old"), "before|");

  // Opening with truncation discards the old bytes; nothing new was synced.
  Preexisting("trunc", "old contents");
  auto t = Open("trunc", /*append=*/false);
  SEXTANT_ASSERT_OK(t->Append("new"));
  SEXTANT_ASSERT_OK(env_.DropUnsyncedData());
  EXPECT_EQ(Contents("trunc"), "");
}

TEST_F(FaultInjectionTest, RenameWithoutSyncDirIsUndone) {
  // The atomic-replace pattern done wrong: tmp written and synced, renamed, no SyncDir.
  Preexisting("CURRENT", "old");
  auto tmp = Open("CURRENT.tmp", false);
  SEXTANT_ASSERT_OK(tmp->Append("new"));
  SEXTANT_ASSERT_OK(tmp->Sync());
  SEXTANT_ASSERT_OK(tmp->Close());
  SEXTANT_ASSERT_OK(env_.RenameFile(Path("CURRENT.tmp"), Path("CURRENT")));
  EXPECT_EQ(Contents("CURRENT"), "new");
  SEXTANT_ASSERT_OK(env_.DropUnsyncedData());
  EXPECT_EQ(Contents("CURRENT"), "old");
  EXPECT_FALSE(env_.FileExists(Path("CURRENT.tmp")));  // created without SyncDir too

  // Done right: SyncDir after the rename keeps it.
  tmp = Open("CURRENT.tmp", false);
  SEXTANT_ASSERT_OK(tmp->Append("new"));
  SEXTANT_ASSERT_OK(tmp->Sync());
  SEXTANT_ASSERT_OK(env_.RenameFile(Path("CURRENT.tmp"), Path("CURRENT")));
  SEXTANT_ASSERT_OK(env_.SyncDir(dir_.path()));
  SEXTANT_ASSERT_OK(env_.DropUnsyncedData());
  EXPECT_EQ(Contents("CURRENT"), "new");
  EXPECT_FALSE(env_.FileExists(Path("CURRENT.tmp")));
}

TEST_F(FaultInjectionTest, RenamedFileKeepsItsSyncedLength) {
  auto file = Open("a", false);
  SEXTANT_ASSERT_OK(file->Append("12"));
  SEXTANT_ASSERT_OK(file->Sync());
  SEXTANT_ASSERT_OK(file->Append("34"));
  SEXTANT_ASSERT_OK(env_.RenameFile(Path("a"), Path("b")));
  SEXTANT_ASSERT_OK(file->Append("56"));  // still the same file, now named b
  SEXTANT_ASSERT_OK(env_.SyncDir(dir_.path()));
  SEXTANT_ASSERT_OK(env_.DropUnsyncedData());
  EXPECT_FALSE(env_.FileExists(Path("a")));
  EXPECT_EQ(Contents("b"), "12");
}

TEST_F(FaultInjectionTest, RemoveWithoutSyncDirIsUndone) {
  Preexisting("doomed", "still here");
  SEXTANT_ASSERT_OK(env_.RemoveFile(Path("doomed")));
  EXPECT_FALSE(env_.FileExists(Path("doomed")));
  SEXTANT_ASSERT_OK(env_.DropUnsyncedData());
  EXPECT_EQ(Contents("doomed"), "still here");

  SEXTANT_ASSERT_OK(env_.RemoveFile(Path("doomed")));
  SEXTANT_ASSERT_OK(env_.SyncDir(dir_.path()));
  SEXTANT_ASSERT_OK(env_.DropUnsyncedData());
  EXPECT_FALSE(env_.FileExists(Path("doomed")));
}

TEST_F(FaultInjectionTest, WriteFileAtomicallyIsDurableAndSyncsItsDirectory) {
  auto pending = Open("pending", false);
  SEXTANT_ASSERT_OK(pending->Append("p"));
  SEXTANT_ASSERT_OK(pending->Sync());
  SEXTANT_ASSERT_OK(env_.WriteFileAtomically(Path("MANIFEST"), "m"));
  SEXTANT_ASSERT_OK(env_.DropUnsyncedData());
  EXPECT_EQ(Contents("MANIFEST"), "m");
  EXPECT_EQ(Contents("pending"), "p");  // its name was made durable by the directory fsync
}

TEST_F(FaultInjectionTest, CopyFileDataIsSyncedButTheNewNameIsNot) {
  Preexisting("src", "payload");
  Preexisting("existing", "old");
  SEXTANT_ASSERT_OK(env_.CopyFile(Path("src"), Path("copy")));
  SEXTANT_ASSERT_OK(env_.CopyFile(Path("src"), Path("existing")));
  SEXTANT_ASSERT_OK(env_.DropUnsyncedData());
  EXPECT_FALSE(env_.FileExists(Path("copy")));
  EXPECT_EQ(Contents("existing"), "payload");
}

TEST_F(FaultInjectionTest, TruncateFileIsDurable) {
  auto file = Open("t", false);
  SEXTANT_ASSERT_OK(env_.SyncDir(dir_.path()));
  SEXTANT_ASSERT_OK(file->Append("abcdef"));
  SEXTANT_ASSERT_OK(env_.TruncateFile(Path("t"), 4));
  SEXTANT_ASSERT_OK(file->Append("XY"));
  SEXTANT_ASSERT_OK(env_.DropUnsyncedData());
  EXPECT_EQ(Contents("t"), "abcd");
}

TEST_F(FaultInjectionTest, RemoveDirRecursivelyForgetsItsFiles) {
  SEXTANT_ASSERT_OK(env_.CreateDirs(Path("db")));
  auto file = Open("db/wal", false);
  SEXTANT_ASSERT_OK(file->Append("x"));
  SEXTANT_ASSERT_OK(env_.RemoveDirRecursively(Path("db")));
  SEXTANT_ASSERT_OK(env_.DropUnsyncedData());
  EXPECT_FALSE(env_.FileExists(Path("db")));
}

TEST_F(FaultInjectionTest, RenamedDirectoryTakesItsBookkeepingAlong) {
  SEXTANT_ASSERT_OK(env_.CreateDirs(Path("staging")));
  auto file = Open("staging/wal", false);
  SEXTANT_ASSERT_OK(file->Append("synced"));
  SEXTANT_ASSERT_OK(file->Sync());
  SEXTANT_ASSERT_OK(file->Append("+lost"));
  SEXTANT_ASSERT_OK(env_.SyncDir(Path("staging")));
  auto unsynced_name = Open("staging/new", false);
  SEXTANT_ASSERT_OK(env_.RenameFile(Path("staging"), Path("live")));
  EXPECT_EQ(Contents("live/wal"), "synced+lost");
  SEXTANT_ASSERT_OK(env_.DropUnsyncedData());
  EXPECT_FALSE(env_.FileExists(Path("staging")));
  EXPECT_EQ(Contents("live/wal"), "synced");
  EXPECT_FALSE(env_.FileExists(Path("live/new")));
  // Removing a directory with RemoveFile fails cleanly (and is not recorded as a file).
  EXPECT_FALSE(env_.RemoveFile(Path("live")).ok());
  SEXTANT_ASSERT_OK(env_.DropUnsyncedData());
  EXPECT_TRUE(env_.FileExists(Path("live/wal")));
}

TEST_F(FaultInjectionTest, WriteErrors) {
  auto file = Open("f", false);
  SEXTANT_ASSERT_OK(file->Append("ok"));
  env_.SetWriteError(true);
  Status st = file->Append("no");
  EXPECT_EQ(st.code(), StatusCode::kIOError);
  EXPECT_NE(st.message().find(Path("f")), std::string::npos) << st.ToString();
  EXPECT_NE(st.message().find("injected"), std::string::npos) << st.ToString();
  EXPECT_EQ(file->Sync().code(), StatusCode::kIOError);
  EXPECT_EQ(env_.WriteFileAtomically(Path("g"), "x").code(), StatusCode::kIOError);
  EXPECT_EQ(env_.TruncateFile(Path("f"), 0).code(), StatusCode::kIOError);
  EXPECT_EQ(env_.CopyFile(Path("f"), Path("h")).code(), StatusCode::kIOError);
  EXPECT_FALSE(env_.FileExists(Path("g")));
  EXPECT_FALSE(env_.FileExists(Path("h")));
  EXPECT_EQ(file->Size(), 2u);
  EXPECT_EQ(Contents("f"), "ok");  // a failed write writes nothing
  env_.SetWriteError(false);
  SEXTANT_ASSERT_OK(file->Append("!"));
  SEXTANT_ASSERT_OK(file->Sync());
  EXPECT_EQ(Contents("f"), "ok!");
}

TEST_F(FaultInjectionTest, FailAfterWrites) {
  auto file = Open("f", false);
  env_.FailAfterWrites(3);
  SEXTANT_ASSERT_OK(file->Append("a"));
  SEXTANT_ASSERT_OK(file->Sync());
  SEXTANT_ASSERT_OK(file->Append("b"));
  EXPECT_EQ(file->Append("c").code(), StatusCode::kIOError);
  EXPECT_EQ(file->Append("d").code(), StatusCode::kIOError);  // stays failed
  EXPECT_EQ(file->Sync().code(), StatusCode::kIOError);
  env_.SetWriteError(false);
  SEXTANT_ASSERT_OK(file->Append("e"));
  EXPECT_EQ(Contents("f"), "abe");
  env_.FailAfterWrites(0);
  EXPECT_EQ(file->Append("f").code(), StatusCode::kIOError);
}

TEST_F(FaultInjectionTest, CorruptionHelpers) {
  Preexisting("f", "abcdef");
  SEXTANT_ASSERT_OK(env_.FlipByte(Path("f"), 1));
  EXPECT_EQ(Contents("f"), std::string("a") + static_cast<char>('b' ^ 0xFF) + "cdef");
  SEXTANT_ASSERT_OK(env_.FlipByte(Path("f"), 1));
  SEXTANT_ASSERT_OK(env_.FlipByte(Path("f"), 0, 0x01));
  EXPECT_EQ(Contents("f"), "`bcdef");
  EXPECT_EQ(env_.FlipByte(Path("f"), 6).code(), StatusCode::kOutOfRange);
  EXPECT_EQ(env_.FlipByte(Path("missing"), 0).code(), StatusCode::kNotFound);
  SEXTANT_ASSERT_OK(env_.TruncateTail(Path("f"), 2));
  EXPECT_EQ(Contents("f"), "`bcd");
  SEXTANT_ASSERT_OK(env_.AppendRaw(Path("f"), std::string(3, '\0')));
  EXPECT_EQ(Contents("f"), std::string("`bcd\0\0\0", 7));
  SEXTANT_ASSERT_OK(env_.TruncateTail(Path("f"), 100));
  EXPECT_EQ(Contents("f"), "");
  // Helpers are damage, not writes: injected errors do not stop them.
  env_.SetWriteError(true);
  SEXTANT_EXPECT_OK(env_.AppendRaw(Path("f"), "z"));
  env_.SetWriteError(false);
}

// The WAL through a crash: every synced record survives, unsynced ones may go, and the
// reader reports at most a torn tail, never corruption.
TEST_F(FaultInjectionTest, WalSurvivesSimulatedCrashes) {
  std::mt19937_64 rng(11);
  for (int round = 0; round < 20; ++round) {
    const std::string name = "wal-" + std::to_string(round) + ".log";
    auto file = Open(name, false);
    SEXTANT_ASSERT_OK(env_.SyncDir(dir_.path()));
    LogWriter writer(file.get());
    std::vector<std::string> written;
    size_t synced_records = 0;
    const int n = 1 + static_cast<int>(rng() % 40);
    for (int i = 0; i < n; ++i) {
      written.push_back(RandomBytes(rng, rng() % 3000));
      SEXTANT_ASSERT_OK(writer.AddRecord(written.back()));
      if (rng() % 4 == 0) {
        SEXTANT_ASSERT_OK(writer.Sync());
        synced_records = written.size();
      }
    }
    // Model a torn last write: a few bytes of a further record reach the disk.
    if (rng() % 2 == 0) {
      SEXTANT_ASSERT_OK(writer.Sync());
      synced_records = written.size();
      const std::string partial = "\x12\x34\x56\x78\x10\x00\x00\x00\x01partial";
      SEXTANT_ASSERT_OK(env_.AppendRaw(Path(name), partial.substr(0, 1 + rng() % partial.size())));
    }
    SEXTANT_ASSERT_OK(env_.DropUnsyncedData());

    const std::string contents = Contents(name);
    LogReader reader{std::string_view(contents)};
    std::vector<std::string> recovered;
    std::string payload;
    while (true) {
      auto r = reader.ReadRecord(&payload);
      ASSERT_TRUE(r.ok()) << "round " << round << ": " << r.status().ToString();
      if (*r == LogReader::Outcome::kEof) break;
      recovered.push_back(payload);
    }
    ASSERT_GE(recovered.size(), synced_records) << "round " << round;
    ASSERT_LE(recovered.size(), written.size());
    for (size_t i = 0; i < recovered.size(); ++i) ASSERT_EQ(recovered[i], written[i]);
    // Recovery: cut the torn tail, append, and the log reads cleanly.
    SEXTANT_ASSERT_OK(env_.TruncateFile(Path(name), reader.last_good_offset()));
    auto again = Open(name, true);
    LogWriter writer2(again.get());
    SEXTANT_ASSERT_OK(writer2.AddRecord("after recovery"));
    SEXTANT_ASSERT_OK(writer2.Sync());
    const std::string fixed = Contents(name);
    LogReader reader2{std::string_view(fixed)};
    size_t count = 0;
    while (true) {
      auto r = reader2.ReadRecord(&payload);
      ASSERT_TRUE(r.ok()) << r.status().ToString();
      if (*r == LogReader::Outcome::kEof) break;
      ++count;
    }
    EXPECT_EQ(count, recovered.size() + 1);
    EXPECT_FALSE(reader2.tail_dropped());
  }
}

std::string ThreadFile(int t) {
  std::string name = "thread-";
  name += std::to_string(t);  // (not "a" + b: GCC 12 warns falsely with -Wrestrict)
  return name;
}

// Several writer threads, a thread toggling write errors and one crashing the env: no data
// race (ThreadSanitizer), and every file keeps at least what was synced before the crash.
TEST_F(FaultInjectionTest, ConcurrentUse) {
  constexpr int kThreads = 4;
  std::atomic<bool> stop{false};
  std::vector<std::thread> threads;
  std::vector<uint64_t> synced_at_crash(kThreads, 0);
  std::atomic<bool> crashed{false};
  std::vector<std::unique_ptr<WritableFile>> files(kThreads);
  for (int t = 0; t < kThreads; ++t) files[t] = Open(ThreadFile(t), false);
  SEXTANT_ASSERT_OK(env_.SyncDir(dir_.path()));

  for (int t = 0; t < kThreads; ++t) {
    threads.emplace_back([&, t] {
      WritableFile* file = files[t].get();
      std::mt19937_64 rng(t);
      for (int i = 0; i < 400 && !stop.load(); ++i) {
        (void)file->Append(RandomBytes(rng, rng() % 64));
        if (i % 8 == 0) (void)file->Sync();
        (void)file->Size();
        (void)env_.SyncedSize(Path(ThreadFile(t)));
      }
    });
  }
  threads.emplace_back([&] {
    for (int i = 0; i < 50; ++i) {
      env_.SetWriteError(i % 2 == 0);
      std::this_thread::yield();
    }
    env_.FailAfterWrites(100);
  });
  threads.emplace_back([&] {
    std::this_thread::sleep_for(std::chrono::milliseconds(2));
    for (int t = 0; t < kThreads; ++t) {
      auto s = env_.SyncedSize(Path(ThreadFile(t)));
      if (s.ok()) synced_at_crash[t] = *s;
    }
    // Writers may sync more between the reads above and the crash, never less.
    EXPECT_TRUE(env_.DropUnsyncedData().ok());
    crashed = true;
  });
  for (auto& th : threads) th.join();
  ASSERT_TRUE(crashed);
  for (int t = 0; t < kThreads; ++t) {
    auto size = env_.GetFileSize(Path(ThreadFile(t)));
    ASSERT_TRUE(size.ok());
    EXPECT_GE(*size, synced_at_crash[t]);
    // After the crash the handles are dead, so nothing was added later.
    EXPECT_EQ(files[t]->Append("x").code(), StatusCode::kIOError);
  }
}

}  // namespace
}  // namespace sextant::storage
