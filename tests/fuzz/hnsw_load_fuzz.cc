// libFuzzer target: HnswIndex::Load on arbitrary bytes. Checksums are switched off so that
// mutations reach the structural checks; whatever Load accepts must be safe to search and
// must pass CheckIntegrity.
#include <unistd.h>

#include <cstdint>
#include <cstdio>
#include <string>
#include <vector>

#include "index/hnsw_index.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  const std::string path = "/tmp/sextant_fuzz_" + std::to_string(::getpid()) + ".hnsw";
  FILE* f = std::fopen(path.c_str(), "wb");
  if (f == nullptr) return 0;
  std::fwrite(data, 1, size, f);
  std::fclose(f);
  auto ix = sextant::index::HnswIndex::Load(path, /*verify_checksums=*/false);
  if (ix.ok()) {
    if (!(*ix)->CheckIntegrity().ok()) __builtin_trap();
    std::vector<float> q((*ix)->dim(), 1.0f);
    (void)(*ix)->Search(q, 5, 16);
  }
  std::remove(path.c_str());
  return 0;
}
