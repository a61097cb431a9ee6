// Tests of the POSIX Env: file operations, their errors, and lock file exclusivity.
#include "storage/env.h"

#include <gtest/gtest.h>
#include <sys/wait.h>
#include <unistd.h>

#include <atomic>
#include <random>
#include <string>
#include <thread>
#include <vector>

#include "storage_test_util.h"

namespace sextant::storage {
namespace {

using testing::RandomBytes;
using testing::ScratchDir;

Env* env() { return Env::Default(); }

std::string MustRead(const std::string& path) {
  Result<std::string> r = env()->ReadFile(path);
  EXPECT_TRUE(r.ok()) << r.status().ToString();
  return r.ok() ? *r : std::string();
}

bool Contains(const std::string& haystack, const std::string& needle) {
  return haystack.find(needle) != std::string::npos;
}

TEST(EnvTest, DefaultIsASingleton) { EXPECT_EQ(Env::Default(), Env::Default()); }

TEST(EnvTest, WritableFileAppendsAndCountsSize) {
  ScratchDir dir;
  const std::string path = dir.Child("f");
  auto file = env()->NewWritableFile(path, /*append=*/false);
  ASSERT_TRUE(file.ok()) << file.status().ToString();
  EXPECT_EQ((*file)->Size(), 0u);
  SEXTANT_ASSERT_OK((*file)->Append("hello "));
  SEXTANT_ASSERT_OK((*file)->Append(""));
  SEXTANT_ASSERT_OK((*file)->Append("world"));
  EXPECT_EQ((*file)->Size(), 11u);
  SEXTANT_ASSERT_OK((*file)->Sync());
  SEXTANT_ASSERT_OK((*file)->Close());
  SEXTANT_ASSERT_OK((*file)->Close());  // idempotent
  EXPECT_EQ(MustRead(path), "hello world");

  // Using a closed file is a caller error, reported rather than crashing.
  const Status st = (*file)->Append("x");
  EXPECT_EQ(st.code(), StatusCode::kFailedPrecondition) << st.ToString();
  EXPECT_EQ((*file)->Sync().code(), StatusCode::kFailedPrecondition);
}

TEST(EnvTest, AppendModeKeepsContentsAndTruncateModeDropsThem) {
  ScratchDir dir;
  const std::string path = dir.Child("f");
  SEXTANT_ASSERT_OK(env()->WriteFileAtomically(path, "abc"));
  {
    auto file = env()->NewWritableFile(path, /*append=*/true);
    ASSERT_TRUE(file.ok());
    EXPECT_EQ((*file)->Size(), 3u);
    SEXTANT_ASSERT_OK((*file)->Append("def"));
    EXPECT_EQ((*file)->Size(), 6u);
  }  // the destructor closes without an explicit Close
  EXPECT_EQ(MustRead(path), "abcdef");
  {
    auto file = env()->NewWritableFile(path, /*append=*/false);
    ASSERT_TRUE(file.ok());
    EXPECT_EQ((*file)->Size(), 0u);
    SEXTANT_ASSERT_OK((*file)->Append("z"));
    SEXTANT_ASSERT_OK((*file)->Close());
  }
  EXPECT_EQ(MustRead(path), "z");
}

TEST(EnvTest, LargeAppendRoundTrips) {
  ScratchDir dir;
  const std::string path = dir.Child("big");
  std::mt19937_64 rng(7);
  const std::string data = RandomBytes(rng, 9 << 20);
  auto file = env()->NewWritableFile(path, false);
  ASSERT_TRUE(file.ok());
  SEXTANT_ASSERT_OK((*file)->Append(data));
  SEXTANT_ASSERT_OK((*file)->Sync());
  SEXTANT_ASSERT_OK((*file)->Close());
  EXPECT_EQ(MustRead(path), data);
  auto size = env()->GetFileSize(path);
  ASSERT_TRUE(size.ok());
  EXPECT_EQ(*size, data.size());
}

TEST(EnvTest, ErrorsNameThePathAndTheCall) {
  ScratchDir dir;
  const std::string missing = dir.Child("no/such/file");

  auto w = env()->NewWritableFile(missing, false);
  ASSERT_FALSE(w.ok());
  EXPECT_EQ(w.status().code(), StatusCode::kNotFound);
  EXPECT_TRUE(Contains(w.status().message(), missing)) << w.status().ToString();
  EXPECT_TRUE(Contains(w.status().message(), "open")) << w.status().ToString();
  EXPECT_TRUE(Contains(w.status().message(), "No such file or directory"))
      << w.status().ToString();

  auto r = env()->ReadFile(missing);
  EXPECT_EQ(r.status().code(), StatusCode::kNotFound);
  EXPECT_TRUE(Contains(r.status().message(), missing));

  auto sz = env()->GetFileSize(missing);
  EXPECT_EQ(sz.status().code(), StatusCode::kNotFound);
  EXPECT_TRUE(Contains(sz.status().message(), "stat"));

  Status st = env()->RemoveFile(missing);
  EXPECT_EQ(st.code(), StatusCode::kNotFound);
  EXPECT_TRUE(Contains(st.message(), "unlink")) << st.ToString();

  st = env()->RenameFile(missing, dir.Child("x"));
  EXPECT_EQ(st.code(), StatusCode::kNotFound);
  EXPECT_TRUE(Contains(st.message(), missing) && Contains(st.message(), dir.Child("x")))
      << st.ToString();

  st = env()->TruncateFile(missing, 0);
  EXPECT_EQ(st.code(), StatusCode::kNotFound);
  st = env()->SyncDir(missing);
  EXPECT_EQ(st.code(), StatusCode::kNotFound);
  auto ls = env()->ListDir(missing);
  EXPECT_EQ(ls.status().code(), StatusCode::kNotFound);
  st = env()->CopyFile(missing, dir.Child("copy"));
  EXPECT_EQ(st.code(), StatusCode::kNotFound);
  EXPECT_FALSE(env()->FileExists(dir.Child("copy")));

  // A directory where a file is expected.
  auto rd = env()->ReadFile(dir.path());
  EXPECT_EQ(rd.status().code(), StatusCode::kIOError);
  EXPECT_TRUE(Contains(rd.status().message(), "directory")) << rd.status().ToString();
  auto gs = env()->GetFileSize(dir.path());
  EXPECT_EQ(gs.status().code(), StatusCode::kIOError);
  auto wd = env()->NewWritableFile(dir.path(), true);
  EXPECT_EQ(wd.status().code(), StatusCode::kIOError);
  EXPECT_TRUE(Contains(wd.status().message(), "Is a directory")) << wd.status().ToString();
  st = env()->RemoveFile(dir.path());
  EXPECT_FALSE(st.ok());
}

TEST(EnvTest, WriteFileAtomicallyReplacesAndLeavesNoTemporary) {
  ScratchDir dir;
  const std::string path = dir.Child("CURRENT");
  SEXTANT_ASSERT_OK(env()->WriteFileAtomically(path, "one"));
  SEXTANT_ASSERT_OK(env()->WriteFileAtomically(path, "two, longer"));
  EXPECT_EQ(MustRead(path), "two, longer");
  SEXTANT_ASSERT_OK(env()->WriteFileAtomically(path, ""));
  EXPECT_EQ(MustRead(path), "");
  auto names = env()->ListDir(dir.path());
  ASSERT_TRUE(names.ok());
  EXPECT_EQ(*names, std::vector<std::string>{"CURRENT"});

  const Status st = env()->WriteFileAtomically(dir.Child("missing/CURRENT"), "x");
  EXPECT_FALSE(st.ok());
  EXPECT_TRUE(Contains(st.message(), dir.Child("missing/CURRENT"))) << st.ToString();
}

TEST(EnvTest, RenameRemoveExistsAndSize) {
  ScratchDir dir;
  const std::string a = dir.Child("a");
  const std::string b = dir.Child("b");
  SEXTANT_ASSERT_OK(env()->WriteFileAtomically(a, "12345"));
  SEXTANT_ASSERT_OK(env()->WriteFileAtomically(b, "old"));
  EXPECT_TRUE(env()->FileExists(a));
  SEXTANT_ASSERT_OK(env()->RenameFile(a, b));  // replaces b
  EXPECT_FALSE(env()->FileExists(a));
  EXPECT_EQ(MustRead(b), "12345");
  auto size = env()->GetFileSize(b);
  ASSERT_TRUE(size.ok());
  EXPECT_EQ(*size, 5u);
  SEXTANT_ASSERT_OK(env()->RemoveFile(b));
  EXPECT_FALSE(env()->FileExists(b));
  EXPECT_TRUE(env()->FileExists(dir.path()));  // directories exist too
}

TEST(EnvTest, TruncateCutsAndExtendsWithZeros) {
  ScratchDir dir;
  const std::string path = dir.Child("t");
  SEXTANT_ASSERT_OK(env()->WriteFileAtomically(path, "abcdefgh"));
  SEXTANT_ASSERT_OK(env()->TruncateFile(path, 3));
  EXPECT_EQ(MustRead(path), "abc");
  SEXTANT_ASSERT_OK(env()->TruncateFile(path, 6));
  EXPECT_EQ(MustRead(path), std::string("abc\0\0\0", 6));
  SEXTANT_ASSERT_OK(env()->TruncateFile(path, 0));
  EXPECT_EQ(MustRead(path), "");
}

TEST(EnvTest, CreateDirsIsRecursiveAndIdempotent) {
  ScratchDir dir;
  const std::string deep = dir.Child("a/b/c/d");
  SEXTANT_ASSERT_OK(env()->CreateDirs(deep));
  SEXTANT_ASSERT_OK(env()->CreateDirs(deep));
  SEXTANT_ASSERT_OK(env()->CreateDirs(dir.Child("a/b/")));
  SEXTANT_ASSERT_OK(env()->CreateDirs(dir.path() + "//a//b2"));
  EXPECT_TRUE(env()->FileExists(deep));
  EXPECT_TRUE(env()->FileExists(dir.Child("a/b2")));
  SEXTANT_ASSERT_OK(env()->WriteFileAtomically(deep + "/f", "x"));

  // A component that is a file.
  const Status st = env()->CreateDirs(deep + "/f/g");
  EXPECT_EQ(st.code(), StatusCode::kIOError);
  EXPECT_TRUE(Contains(st.message(), deep + "/f")) << st.ToString();
  EXPECT_TRUE(Contains(st.message(), "not a directory")) << st.ToString();
  EXPECT_EQ(env()->CreateDirs("").code(), StatusCode::kInvalidArgument);
}

TEST(EnvTest, ListDirIsSortedWithoutDots) {
  ScratchDir dir;
  for (const char* name : {"zeta", "alpha", "mid", ".hidden"}) {
    SEXTANT_ASSERT_OK(env()->WriteFileAtomically(dir.Child(name), name));
  }
  SEXTANT_ASSERT_OK(env()->CreateDirs(dir.Child("sub")));
  auto names = env()->ListDir(dir.path());
  ASSERT_TRUE(names.ok()) << names.status().ToString();
  EXPECT_EQ(*names, (std::vector<std::string>{".hidden", "alpha", "mid", "sub", "zeta"}));
  auto not_dir = env()->ListDir(dir.Child("alpha"));
  EXPECT_EQ(not_dir.status().code(), StatusCode::kIOError);
}

TEST(EnvTest, RemoveDirRecursively) {
  ScratchDir dir;
  const std::string root = dir.Child("db");
  SEXTANT_ASSERT_OK(env()->CreateDirs(root + "/x/y"));
  SEXTANT_ASSERT_OK(env()->WriteFileAtomically(root + "/f", "1"));
  SEXTANT_ASSERT_OK(env()->WriteFileAtomically(root + "/x/g", "2"));
  SEXTANT_ASSERT_OK(env()->WriteFileAtomically(root + "/x/y/h", "3"));
  // A symbolic link to a directory outside is removed, not followed.
  SEXTANT_ASSERT_OK(env()->CreateDirs(dir.Child("outside")));
  SEXTANT_ASSERT_OK(env()->WriteFileAtomically(dir.Child("outside/keep"), "k"));
  ASSERT_EQ(::symlink(dir.Child("outside").c_str(), (root + "/link").c_str()), 0);

  SEXTANT_ASSERT_OK(env()->RemoveDirRecursively(root));
  EXPECT_FALSE(env()->FileExists(root));
  EXPECT_EQ(MustRead(dir.Child("outside/keep")), "k");
  SEXTANT_ASSERT_OK(env()->RemoveDirRecursively(root));  // missing: fine
  // A plain file is removed too.
  SEXTANT_ASSERT_OK(env()->RemoveDirRecursively(dir.Child("outside/keep")));
  EXPECT_FALSE(env()->FileExists(dir.Child("outside/keep")));
}

TEST(EnvTest, SyncDir) {
  ScratchDir dir;
  SEXTANT_EXPECT_OK(env()->SyncDir(dir.path()));
  SEXTANT_ASSERT_OK(env()->WriteFileAtomically(dir.Child("f"), "x"));
  EXPECT_FALSE(env()->SyncDir(dir.Child("f")).ok());  // not a directory
}

TEST(EnvTest, CopyFile) {
  ScratchDir dir;
  std::mt19937_64 rng(3);
  const std::string data = RandomBytes(rng, (3 << 20) + 17);  // several copy chunks
  SEXTANT_ASSERT_OK(env()->WriteFileAtomically(dir.Child("src"), data));
  SEXTANT_ASSERT_OK(env()->WriteFileAtomically(dir.Child("dst"), std::string(5 << 20, 'x')));
  SEXTANT_ASSERT_OK(env()->CopyFile(dir.Child("src"), dir.Child("dst")));
  EXPECT_EQ(MustRead(dir.Child("dst")), data);
  SEXTANT_ASSERT_OK(env()->CopyFile(dir.Child("src"), dir.Child("new")));
  EXPECT_EQ(MustRead(dir.Child("new")), data);
  // Copying a file onto itself must not destroy it.
  const Status st = env()->CopyFile(dir.Child("src"), dir.path() + "/./src");
  EXPECT_EQ(st.code(), StatusCode::kInvalidArgument) << st.ToString();
  EXPECT_EQ(MustRead(dir.Child("src")), data);
}

TEST(EnvTest, ParentDir) {
  EXPECT_EQ(ParentDir("a/b/c"), "a/b");
  EXPECT_EQ(ParentDir("a/b/"), "a");
  EXPECT_EQ(ParentDir("a//b"), "a");
  EXPECT_EQ(ParentDir("c"), ".");
  EXPECT_EQ(ParentDir(""), ".");
  EXPECT_EQ(ParentDir("/c"), "/");
  EXPECT_EQ(ParentDir("/"), "/");
}

// --- Lock files ---

const std::string kInUse = "database directory is in use by another process (lock file ";

TEST(EnvLockTest, SecondLockInTheSameProcessFails) {
  ScratchDir dir;
  const std::string path = dir.Child("LOCK");
  auto lock = env()->LockFile(path);
  ASSERT_TRUE(lock.ok()) << lock.status().ToString();
  EXPECT_EQ((*lock)->path(), path);

  auto again = env()->LockFile(path);
  ASSERT_FALSE(again.ok());
  EXPECT_EQ(again.status().code(), StatusCode::kFailedPrecondition);
  EXPECT_EQ(again.status().message(), kInUse + path + ")");
  // Another spelling of the same file is the same lock.
  auto other_spelling = env()->LockFile(dir.path() + "/./LOCK");
  EXPECT_EQ(other_spelling.status().code(), StatusCode::kFailedPrecondition);

  lock->reset();  // release
  EXPECT_TRUE(env()->FileExists(path));  // the lock file stays
  auto after = env()->LockFile(path);
  ASSERT_TRUE(after.ok()) << after.status().ToString();
}

TEST(EnvLockTest, DifferentFilesAreIndependent) {
  ScratchDir dir;
  auto a = env()->LockFile(dir.Child("LOCK_A"));
  auto b = env()->LockFile(dir.Child("LOCK_B"));
  EXPECT_TRUE(a.ok() && b.ok());
}

TEST(EnvLockTest, MissingDirectoryIsNotFound) {
  ScratchDir dir;
  auto lock = env()->LockFile(dir.Child("none/LOCK"));
  EXPECT_EQ(lock.status().code(), StatusCode::kNotFound);
}

TEST(EnvLockTest, ConcurrentLockersOnlyOneWins) {
  ScratchDir dir;
  const std::string path = dir.Child("LOCK");
  for (int round = 0; round < 20; ++round) {
    std::atomic<int> winners{0};
    std::vector<std::unique_ptr<FileLock>> held(8);
    std::vector<std::thread> threads;
    for (int t = 0; t < 8; ++t) {
      threads.emplace_back([&, t] {
        auto lock = env()->LockFile(path);
        if (lock.ok()) {
          ++winners;
          held[t] = std::move(*lock);
        } else {
          EXPECT_EQ(lock.status().code(), StatusCode::kFailedPrecondition);
        }
      });
    }
    for (auto& th : threads) th.join();
    EXPECT_EQ(winners.load(), 1) << "round " << round;
  }
}

// Runs `child` in a forked process and returns its exit code (or -1 if it did not exit).
template <typename Fn>
int RunInChild(Fn child) {
  const pid_t pid = ::fork();
  if (pid == 0) ::_exit(child());
  int status = 0;
  if (pid < 0 || ::waitpid(pid, &status, 0) != pid) return -1;
  return WIFEXITED(status) ? WEXITSTATUS(status) : -1;
}

TEST(EnvLockTest, LockHeldByAnotherProcess) {
  ScratchDir dir;
  const std::string path = dir.Child("LOCK");
  // A child takes the lock and holds it until told to exit: the parent's registry of locks
  // is empty, so only the flock itself can refuse the parent.
  int to_child[2], from_child[2];
  ASSERT_EQ(::pipe(to_child), 0);
  ASSERT_EQ(::pipe(from_child), 0);
  const pid_t pid = ::fork();
  ASSERT_GE(pid, 0);
  if (pid == 0) {
    auto lock = env()->LockFile(path);
    const char ok = lock.ok() ? 'L' : 'E';
    if (::write(from_child[1], &ok, 1) != 1) ::_exit(2);
    char c;
    (void)!::read(to_child[0], &c, 1);  // wait for the parent
    ::_exit(lock.ok() ? 0 : 1);
  }
  char reply = 0;
  ASSERT_EQ(::read(from_child[0], &reply, 1), 1);
  EXPECT_EQ(reply, 'L');
  auto lock = env()->LockFile(path);
  EXPECT_FALSE(lock.ok());
  EXPECT_EQ(lock.status().code(), StatusCode::kFailedPrecondition);
  EXPECT_EQ(lock.status().message(), kInUse + path + ")");

  ASSERT_EQ(::write(to_child[1], "x", 1), 1);
  int status = 0;
  ASSERT_EQ(::waitpid(pid, &status, 0), pid);
  EXPECT_TRUE(WIFEXITED(status) && WEXITSTATUS(status) == 0);
  for (int fd : {to_child[0], to_child[1], from_child[0], from_child[1]}) ::close(fd);

  // The child's exit released it.
  auto after = env()->LockFile(path);
  ASSERT_TRUE(after.ok()) << after.status().ToString();

  // And now the parent holds it: a fresh child process is refused with the same message.
  const int child_rc = RunInChild([&] {
    // The forked child shares the parent's open lock, so a fresh open in it must be refused
    // (by the copied registry or by flock); the message must be the documented one.
    auto l = env()->LockFile(path);
    if (l.ok()) return 1;
    if (l.status().code() != StatusCode::kFailedPrecondition) return 2;
    if (l.status().message() != kInUse + path + ")") return 3;
    return 0;
  });
  EXPECT_EQ(child_rc, 0);
}

}  // namespace
}  // namespace sextant::storage
