// How HNSW build time, memory and recall grow with the number of vectors, on generated
// clustered data (no files needed).
// usage: sextant_hnsw_scaling [--n 10000,100000,1000000] [--dim 128] [--M 16]
//        [--ef-construction 200] [--build-threads 2] [--storage f32|f16|u8]
// Prints one JSON line per size: build_s, memory_bytes, bytes_per_vector, recall@10 at ef 64
// (against exact search on 200 queries) and single-thread QPS at ef 64.
#include <chrono>
#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <string>
#include <unordered_set>
#include <vector>

#include "dataset/vector_file.h"
#include "index/flat_index.h"
#include "index/hnsw_index.h"

using namespace sextant;
using Clock = std::chrono::steady_clock;

static double Since(Clock::time_point t) {
  return std::chrono::duration<double>(Clock::now() - t).count();
}

int main(int argc, char** argv) {
  std::vector<size_t> sizes = {10000, 100000, 1000000};
  size_t dim = 128, M = 16, efc = 200, threads = 2;
  std::string storage = "f32";
  for (int i = 1; i + 1 < argc; i += 2) {
    const std::string f = argv[i], v = argv[i + 1];
    if (f == "--n") {
      sizes.clear();
      for (size_t p = 0; p <= v.size();) {
        const size_t c = std::min(v.find(',', p), v.size());
        sizes.push_back(std::stoull(v.substr(p, c - p)));
        p = c + 1;
      }
    } else if (f == "--dim") {
      dim = std::stoull(v);
    } else if (f == "--M") {
      M = std::stoull(v);
    } else if (f == "--ef-construction") {
      efc = std::stoull(v);
    } else if (f == "--build-threads") {
      threads = std::stoull(v);
    } else if (f == "--storage") {
      storage = v;
    } else {
      std::fprintf(stderr, "unknown flag %s\n", f.c_str());
      return 2;
    }
  }
  auto st = index::ParseStorageType(storage);
  if (!st.ok()) {
    std::fprintf(stderr, "%s\n", st.status().ToString().c_str());
    return 2;
  }
  const size_t nq = 200;
  for (size_t n : sizes) {
    auto base = dataset::GenerateClustered(n, dim, 100, 0.2f, 1);
    auto queries = dataset::GenerateClustered(nq, dim, 100, 0.2f, 2);
    if (*st == index::StorageType::kUint8) {  // map [-2, 2] onto bytes
      for (auto* m : {&base, &queries}) {
        for (float& x : m->data) x = std::nearbyint(std::fmin(std::fmax((x + 2) * 64, 0.f), 255.f));
      }
    }
    std::vector<uint64_t> labels(n);
    for (size_t i = 0; i < n; ++i) labels[i] = i;
    index::HnswOptions opt;
    opt.M = M;
    opt.ef_construction = efc;
    opt.storage = *st;
    opt.initial_capacity = n;
    auto ix = std::move(index::HnswIndex::Create(dim, opt)).value();
    auto t0 = Clock::now();
    Status s = ix->AddBatch(base.data, labels, threads, [&](size_t done, size_t total) {
      if (done % (total / 10) == 0) std::fprintf(stderr, "  n=%zu: %zu/%zu %.0f s\n", n, done, total, Since(t0));
    });
    if (!s.ok()) {
      std::fprintf(stderr, "%s\n", s.ToString().c_str());
      return 1;
    }
    const double build_s = Since(t0);
    auto flat = std::move(index::FlatIndex::Create(dim, index::Metric::kL2)).value();
    (void)flat.AddBatch(base.data, labels);
    auto truth = std::move(flat.SearchBatch(queries.data, 10)).value();
    size_t hits = 0;
    t0 = Clock::now();
    for (size_t q = 0; q < nq; ++q) {
      auto r = std::move(ix->Search({queries.row(q), dim}, 10, 64)).value();
      std::unordered_set<uint64_t> t;
      for (auto& h : truth[q]) t.insert(h.label);
      for (auto& h : r) hits += t.count(h.label);
    }
    const double qps = nq / Since(t0);
    std::printf(
        "{\"n\":%zu,\"dim\":%zu,\"storage\":\"%s\",\"M\":%zu,\"ef_construction\":%zu,"
        "\"build_threads\":%zu,\"build_s\":%.2f,\"memory_bytes\":%zu,\"bytes_per_vector\":%.1f,"
        "\"recall_at_ef64\":%.4f,\"qps_at_ef64\":%.0f}\n",
        n, dim, storage.c_str(), M, efc, threads, build_s, ix->MemoryUsage(),
        static_cast<double>(ix->MemoryUsage()) / n, hits / (10.0 * nq), qps);
    std::fflush(stdout);
  }
  return 0;
}
