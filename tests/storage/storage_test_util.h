// Helpers shared by the storage tests: a scratch directory and status matchers.
#pragma once

#include <gtest/gtest.h>
#include <unistd.h>

#include <cstdlib>
#include <random>
#include <string>

#include "sextant/status.h"
#include "storage/env.h"

namespace sextant::storage::testing {

// A fresh directory under $TMPDIR (or /tmp), removed with everything in it on destruction.
class ScratchDir {
 public:
  ScratchDir() {
    const char* tmp = std::getenv("TMPDIR");
    std::string pattern = std::string(tmp != nullptr && *tmp != '\0' ? tmp : "/tmp") +
                          "/sextant_storage_test_XXXXXX";
    if (::mkdtemp(pattern.data()) == nullptr) {
      ADD_FAILURE() << "mkdtemp " << pattern << " failed";
    }
    path_ = pattern;
  }
  ~ScratchDir() { (void)Env::Default()->RemoveDirRecursively(path_); }
  ScratchDir(const ScratchDir&) = delete;
  ScratchDir& operator=(const ScratchDir&) = delete;

  const std::string& path() const { return path_; }
  std::string Child(const std::string& name) const { return path_ + "/" + name; }

 private:
  std::string path_;
};

// Random bytes of length n.
inline std::string RandomBytes(std::mt19937_64& rng, size_t n) {
  std::string s(n, '\0');
  for (char& c : s) c = static_cast<char>(rng() & 0xFF);
  return s;
}

}  // namespace sextant::storage::testing

#define SEXTANT_ASSERT_OK(expr)                     \
  do {                                              \
    const ::sextant::Status _s = (expr);            \
    ASSERT_TRUE(_s.ok()) << _s.ToString();          \
  } while (0)
#define SEXTANT_EXPECT_OK(expr)                     \
  do {                                              \
    const ::sextant::Status _s = (expr);            \
    EXPECT_TRUE(_s.ok()) << _s.ToString();          \
  } while (0)
