// libFuzzer target: LoadVectorIndex (IVF-Flat, IVF-PQ, PQ, SQ8 and hnsw-sq8 segment files) on
// arbitrary bytes, with checksums off so that mutations reach the structural checks; whatever
// loads must be safe to search.
#include <unistd.h>

#include <cstdint>
#include <cstdio>
#include <string>
#include <vector>

#include "index/vector_index.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  const std::string path = "/tmp/sextant_fuzz_vi_" + std::to_string(::getpid()) + ".idx";
  FILE* f = std::fopen(path.c_str(), "wb");
  if (f == nullptr) return 0;
  std::fwrite(data, 1, size, f);
  std::fclose(f);
  auto ix = sextant::index::LoadVectorIndex(path, /*verify_checksums=*/false);
  if (ix.ok() && (*ix)->dim() > 0 && (*ix)->dim() <= 4096) {
    std::vector<float> q((*ix)->dim(), 0.5f);
    sextant::index::SearchParams params;
    params.nprobe = 4;
    params.rerank = 8;
    (void)(*ix)->Search(q, 5, params);
  }
  std::remove(path.c_str());
  std::remove((path + ".rerank").c_str());
  return 0;
}
