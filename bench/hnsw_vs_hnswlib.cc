// Sextant's HNSW against hnswlib (Debian's libhnswlib-dev headers, compiled here with the same
// flags as this file: -O3 -march=native when built by bench/hnsw_vs_hnswlib.sh) in ONE process,
// on the same vectors, with the searches interleaved: for every ef and every round, each system
// answers every query once, the order alternating round by round. A noisy machine then slows
// both alike. Reports, per system and ef: recall@k, the median over rounds of QPS by wall clock
// and by the searching thread's CPU time (what a busy machine cannot inflate), and build time
// and resident memory added by each index.
//
// usage: sextant_hnsw_vs_hnswlib --base F --query F --groundtruth F [--metric cosine|l2|ip]
//        [--M 16] [--ef-construction 200] [--ef 32,64,128] [--k 10] [--queries 2000]
//        [--build-threads 2] [--threads 1] [--rounds 3] [--storage auto|f32|f16|u8|sq8-f32]
//        [--max-base N]
// One JSON line per build and per (system, ef).
#include <hnswlib/hnswlib.h>
#include <pthread.h>
#include <time.h>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <fstream>
#include <functional>
#include <memory>
#include <string>
#include <thread>
#include <unordered_set>
#include <vector>

#include "bench_util.h"
#include "dataset/vector_file.h"
#include "index/hnsw_index.h"

using namespace sextant;
using bench::Clock;

namespace {

double ThreadCpuSeconds() {
  timespec ts;
  clock_gettime(CLOCK_THREAD_CPUTIME_ID, &ts);
  return ts.tv_sec + ts.tv_nsec * 1e-9;
}

// Resident set size in bytes (from /proc/self/statm).
size_t Rss() {
  std::ifstream f("/proc/self/statm");
  size_t pages = 0, resident = 0;
  f >> pages >> resident;
  return resident * static_cast<size_t>(sysconf(_SC_PAGESIZE));
}

double Median(std::vector<double> v) {
  std::sort(v.begin(), v.end());
  return v.empty() ? 0 : v[v.size() / 2];
}

struct Searcher {
  std::string name;
  // Answers query i into out (labels); returns false on error.
  std::function<bool(size_t i, std::vector<uint64_t>& out)> search;
};

// One pass over the queries on `threads` threads: wall seconds, summed thread CPU seconds,
// and the results.
struct Pass {
  double wall = 0, cpu = 0;
  std::vector<std::vector<uint64_t>> results;
};

Pass RunPass(const Searcher& s, size_t nq, size_t threads) {
  Pass p;
  p.results.resize(nq);
  std::atomic<size_t> next{0};
  std::atomic<bool> failed{false};
  std::vector<double> cpu(threads, 0);
  auto worker = [&](size_t t) {
    const double c0 = ThreadCpuSeconds();
    for (size_t i; (i = next.fetch_add(1)) < nq;) {
      if (!s.search(i, p.results[i])) failed = true;
    }
    cpu[t] = ThreadCpuSeconds() - c0;
  };
  const auto t0 = Clock::now();
  std::vector<std::thread> pool;
  for (size_t t = 1; t < threads; ++t) pool.emplace_back(worker, t);
  worker(0);
  for (auto& t : pool) t.join();
  p.wall = bench::Seconds(t0);
  for (double c : cpu) p.cpu += c;
  if (failed) {
    std::fprintf(stderr, "%s: a search failed\n", s.name.c_str());
    std::exit(1);
  }
  return p;
}

}  // namespace

int main(int argc, char** argv) {
  std::string base_path, query_path, gt_path, metric_name = "cosine", storage_name = "auto";
  size_t M = 16, efc = 200, k = 10, nq = 2000, build_threads = 2, threads = 1, rounds = 3;
  size_t max_base = dataset::kAllRows;
  std::vector<size_t> efs = {32, 64, 128};
  for (int i = 1; i + 1 < argc; i += 2) {
    const std::string f = argv[i], v = argv[i + 1];
    if (f == "--base") base_path = v;
    else if (f == "--query") query_path = v;
    else if (f == "--groundtruth") gt_path = v;
    else if (f == "--metric") metric_name = v;
    else if (f == "--storage") storage_name = v;
    else if (f == "--M") M = std::stoull(v);
    else if (f == "--ef-construction") efc = std::stoull(v);
    else if (f == "--ef") {
      efs.clear();
      for (int e : bench::ParseList(v)) efs.push_back(static_cast<size_t>(e));
    }
    else if (f == "--k") k = std::stoull(v);
    else if (f == "--queries") nq = std::stoull(v);
    else if (f == "--build-threads") build_threads = std::stoull(v);
    else if (f == "--threads") threads = std::stoull(v);
    else if (f == "--rounds") rounds = std::stoull(v);
    else if (f == "--max-base") max_base = std::stoull(v);
    else {
      std::fprintf(stderr, "unknown flag %s\n", f.c_str());
      return 2;
    }
  }
  if (base_path.empty() || query_path.empty() || gt_path.empty()) {
    std::fprintf(stderr, "usage: %s --base F --query F --groundtruth F [flags]\n", argv[0]);
    return 2;
  }
  auto base = dataset::ReadVectors(base_path, max_base);
  auto queries = dataset::ReadVectors(query_path);
  auto gt = dataset::ReadIds(gt_path);
  if (!base.ok() || !queries.ok() || !gt.ok()) {
    std::fprintf(stderr, "cannot read the data: %s %s %s\n", base.status().ToString().c_str(),
                 queries.status().ToString().c_str(), gt.status().ToString().c_str());
    return 1;
  }
  auto metric = index::ParseMetric(metric_name);
  if (!metric.ok()) {
    std::fprintf(stderr, "%s\n", metric.status().ToString().c_str());
    return 2;
  }
  const size_t dim = base->dim, n = base->rows;
  nq = std::min({nq, queries->rows, gt->rows});
  if (max_base != dataset::kAllRows) {
    std::fprintf(stderr, "--max-base: the ground truth must be for the first %zu rows\n", n);
  }

  // hnswlib: cosine as inner product over normalised vectors (what its Python binding does).
  const bool cosine = *metric == index::Metric::kCosine;
  auto normalised = [&](const float* v, float* out) {
    double s = 0;
    for (size_t j = 0; j < dim; ++j) s += double(v[j]) * v[j];
    const float r = s > 0 ? static_cast<float>(1.0 / std::sqrt(s)) : 0.0f;
    for (size_t j = 0; j < dim; ++j) out[j] = cosine ? v[j] * r : v[j];
  };
  std::vector<float> qn(nq * dim);
  for (size_t i = 0; i < nq; ++i) normalised(queries->row(i), &qn[i * dim]);

  std::unique_ptr<hnswlib::SpaceInterface<float>> space;
  if (*metric == index::Metric::kL2) space = std::make_unique<hnswlib::L2Space>(dim);
  else space = std::make_unique<hnswlib::InnerProductSpace>(dim);

  // Builds, hnswlib first (each index's resident memory is the RSS it adds; the base vectors
  // themselves were read before either).
  size_t rss0 = Rss();
  double cpu0 = bench::CpuSeconds();
  auto t0 = Clock::now();
  auto lib = std::make_unique<hnswlib::HierarchicalNSW<float>>(space.get(), n, M, efc, 100);
  {
    std::atomic<size_t> next{0};
    auto worker = [&] {
      std::vector<float> row(dim);
      for (size_t i; (i = next.fetch_add(1)) < n;) {
        normalised(base->row(i), row.data());
        lib->addPoint(row.data(), i);
      }
    };
    std::vector<std::thread> pool;
    for (size_t t = 1; t < build_threads; ++t) pool.emplace_back(worker);
    worker();
    for (auto& t : pool) t.join();
  }
  const double lib_build = bench::Seconds(t0);
  const double lib_cpu = bench::CpuSeconds() - cpu0;
  const size_t lib_rss = Rss() - rss0;
  std::printf("{\"event\":\"build\",\"system\":\"hnswlib\",\"n\":%zu,\"dim\":%zu,\"build_s\":%.2f,"
              "\"build_cpu_s\":%.2f,\"rss_bytes_per_vector\":%.1f,\"threads\":%zu}\n",
              n, dim, lib_build, lib_cpu, double(lib_rss) / n, build_threads);
  std::fflush(stdout);

  index::HnswOptions opt;
  opt.metric = *metric;
  if (storage_name == "auto") {
    opt.storage = base->source_type == dataset::ElementType::kUint8 && !cosine
                      ? index::StorageType::kUint8
                      : index::StorageType::kSq8F32;
  } else {
    auto st = index::ParseStorageType(storage_name);
    if (!st.ok()) {
      std::fprintf(stderr, "%s\n", st.status().ToString().c_str());
      return 2;
    }
    opt.storage = *st;
  }
  opt.M = M;
  opt.ef_construction = efc;
  opt.initial_capacity = n;
  rss0 = Rss();
  cpu0 = bench::CpuSeconds();
  t0 = Clock::now();
  auto made = index::HnswIndex::Create(dim, opt);
  if (!made.ok()) {
    std::fprintf(stderr, "%s\n", made.status().ToString().c_str());
    return 1;
  }
  std::unique_ptr<index::HnswIndex> sx = std::move(made).value();
  std::vector<uint64_t> labels(n);
  for (size_t i = 0; i < n; ++i) labels[i] = i;
  if (Status st = sx->AddBatch(base->data, labels, build_threads); !st.ok()) {
    std::fprintf(stderr, "%s\n", st.ToString().c_str());
    return 1;
  }
  const double sx_build = bench::Seconds(t0);
  const double sx_cpu = bench::CpuSeconds() - cpu0;
  const size_t sx_rss = Rss() - rss0;
  const std::string sx_name = std::string("sextant-") + index::StorageTypeName(opt.storage);
  std::printf("{\"event\":\"build\",\"system\":\"%s\",\"n\":%zu,\"dim\":%zu,\"build_s\":%.2f,"
              "\"build_cpu_s\":%.2f,\"rss_bytes_per_vector\":%.1f,\"index_bytes_per_vector\":%.1f,"
              "\"threads\":%zu,\"build_ratio\":%.3f,\"build_cpu_ratio\":%.3f}\n",
              sx_name.c_str(), n, dim, sx_build, sx_cpu, double(sx_rss) / n,
              double(sx->MemoryUsage()) / n, build_threads, sx_build / lib_build, sx_cpu / lib_cpu);
  std::fflush(stdout);

  size_t ef = 0;
  Searcher lib_s{"hnswlib", [&](size_t i, std::vector<uint64_t>& out) {
                   auto r = lib->searchKnn(&qn[i * dim], k);
                   out.clear();
                   while (!r.empty()) {
                     out.push_back(r.top().second);
                     r.pop();
                   }
                   return true;
                 }};
  Searcher sx_s{sx_name, [&](size_t i, std::vector<uint64_t>& out) {
                  auto r = sx->Search(std::span<const float>(queries->row(i), dim), k, ef);
                  if (!r.ok()) return false;
                  out.clear();
                  for (const auto& h : *r) out.push_back(h.label);
                  return true;
                }};
  auto recall = [&](const Pass& p) {
    double hits = 0;
    for (size_t i = 0; i < nq; ++i) {
      std::unordered_set<int32_t> want(gt->row(i), gt->row(i) + k);
      for (uint64_t l : p.results[i]) hits += want.count(static_cast<int32_t>(l));
    }
    return hits / double(nq * k);
  };
  for (size_t e : efs) {
    ef = e;
    lib->setEf(e);
    std::vector<double> wall[2], cpu[2];
    double rec[2] = {0, 0};
    for (size_t w = 0; w < 50 && w < nq; ++w) {  // warm-up
      std::vector<uint64_t> out;
      lib_s.search(w, out);
      sx_s.search(w, out);
    }
    for (size_t r = 0; r < rounds; ++r) {
      for (int j = 0; j < 2; ++j) {
        const int s = (r % 2 == 0) ? j : 1 - j;  // alternate who goes first
        const Pass p = RunPass(s == 0 ? lib_s : sx_s, nq, threads);
        wall[s].push_back(nq / p.wall);
        cpu[s].push_back(nq * threads / p.cpu);
        rec[s] = recall(p);
      }
    }
    for (int s = 0; s < 2; ++s) {
      std::printf("{\"event\":\"search\",\"system\":\"%s\",\"ef\":%zu,\"recall\":%.4f,\"qps\":%.1f,"
                  "\"qps_cpu\":%.1f,\"threads\":%zu,\"rounds\":%zu,\"k\":%zu,\"queries\":%zu",
                  s == 0 ? "hnswlib" : sx_name.c_str(), e, rec[s], Median(wall[s]), Median(cpu[s]),
                  threads, rounds, k, nq);
      if (s == 1) {
        std::printf(",\"ratio\":%.3f,\"ratio_cpu\":%.3f", Median(wall[1]) / Median(wall[0]),
                    Median(cpu[1]) / Median(cpu[0]));
      }
      std::printf("}\n");
    }
    std::fflush(stdout);
  }
  return 0;
}
