// libFuzzer target: the vector file readers (.fvecs/.bvecs/.ivecs/.npy) must reject any malformed
// input with a Status, never crash or read out of bounds. The first byte picks the format.
#include <unistd.h>

#include <cstdint>
#include <cstdio>
#include <string>

#include "dataset/vector_file.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  if (size < 1) return 0;
  static const char* const kExt[] = {".fvecs", ".bvecs", ".ivecs", ".npy"};
  const std::string path = "/tmp/sextant_fuzz_" + std::to_string(::getpid()) + kExt[data[0] % 4];
  FILE* f = std::fopen(path.c_str(), "wb");
  if (f == nullptr) return 0;
  std::fwrite(data + 1, 1, size - 1, f);
  std::fclose(f);
  if (data[0] % 4 == 2 || (data[0] % 4 == 3 && (data[0] & 4))) {
    auto ids = sextant::dataset::ReadIds(path, 1000);
    if (ids.ok() && ids->data.size() != ids->rows * ids->dim) __builtin_trap();
  } else {
    auto m = sextant::dataset::ReadVectors(path, 1000);
    if (m.ok()) {
      if (m->data.size() != m->rows * m->dim) __builtin_trap();
      (void)sextant::dataset::CheckFinite(*m, path);
    }
  }
  std::remove(path.c_str());
  return 0;
}
