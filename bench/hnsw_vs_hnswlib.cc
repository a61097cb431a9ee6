// Sextant's HNSW against hnswlib (Debian's libhnswlib-dev headers, compiled here with the same
// flags as this file: -O3 -march=native) and, when Debian's libfaiss-dev is installed, FAISS's
// IndexHNSWFlat, in ONE process, on the same vectors, with the searches interleaved: for every ef
// and every round, each system answers every query once, the order rotating round by round. A
// noisy machine then slows all alike. Reports, per system and ef: recall@k, the median over rounds of QPS by wall clock
// and by the searching thread's CPU time (what a busy machine cannot inflate), and build time
// and memory added by each index: resident (the process's RSS), resident after malloc_trim
// (without the free heap memory the build left behind) and the heap bytes live in malloc.
//
// usage: sextant_hnsw_vs_hnswlib --base F --query F --groundtruth F [--metric cosine|l2|ip]
//        [--M 16] [--ef-construction 200] [--ef 32,64,128] [--k 10] [--queries 2000]
//        [--build-threads 2] [--threads 1[,2,...]] [--rounds 3] [--storage auto|f32|f16|u8|sq8-f32[,...]]
//        (a name ending in -unscreened: that storage without HnswOptions::screen; in
//        -unordered: built without HnswIndex::Reorder; in -reordered: a loaded index reordered)
//        [--max-base N] [--peers hnswlib,faiss] [--sextant-index FILE] [--build-rounds 1]
// --build-rounds R: every index is built R times, the systems taking turns (who goes first
// rotating as for the searches); build times are the medians, memory is the first round's
// (built into a clean process), and the searches use the last round's indexes.
// --sextant-index: load Sextant's index from FILE if it exists (no build figures then), else
// build it and save it there: search experiments without rebuilding.
// One JSON line per build and per (system, ef); ratios are against the first system built
// (hnswlib, unless --peers leaves it out: --peers none times Sextant alone, e.g. for a profile).
#include <hnswlib/hnswlib.h>
#if SEXTANT_BENCH_FAISS
#include <faiss/IndexHNSW.h>
#include <omp.h>
#endif
#include <malloc.h>
#include <pthread.h>
#include <unistd.h>
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
using bench::Median;

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
  std::string peers = "hnswlib,faiss", index_file;
  size_t M = 16, efc = 200, k = 10, nq = 2000, build_threads = 2, rounds = 3, build_rounds = 1;
  std::vector<size_t> thread_counts = {1};
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
    else if (f == "--threads") {
      thread_counts.clear();
      for (int t : bench::ParseList(v)) thread_counts.push_back(static_cast<size_t>(std::max(t, 1)));
    }
    else if (f == "--rounds") rounds = std::stoull(v);
    else if (f == "--build-rounds") build_rounds = std::max<size_t>(1, std::stoull(v));
    else if (f == "--max-base") max_base = std::stoull(v);
    else if (f == "--peers") peers = v;
    else if (f == "--sextant-index") index_file = v;
    else {
      std::fprintf(stderr, "unknown flag %s\n", f.c_str());
      return 2;
    }
  }
  if (base_path.empty() || query_path.empty() || gt_path.empty()) {
    std::fprintf(stderr, "usage: %s --base F --query F --groundtruth F [flags]\n", argv[0]);
    return 2;
  }
  const std::vector<std::string> storage_names = bench::SplitList(storage_name);
  if (storage_names.empty()) {
    std::fprintf(stderr, "--storage names no storage\n");
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
  if (k == 0 || k > 1024 || k > gt->dim) {
    std::fprintf(stderr, "--k must be in [1, %zu] (the ground truth's depth, at most 1024)\n",
                 std::min<size_t>(gt->dim, 1024));
    return 2;
  }
#if !SEXTANT_BENCH_FAISS
  if (peers.find("faiss") != std::string::npos) {
    std::fprintf(stderr, "FAISS left out: built without libfaiss-dev (scripts/setup.sh --peers)\n");
  }
#endif
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

  // Each system: a name, how to set its beam, how to answer query i. Index 0 is hnswlib (when
  // built), the last one Sextant; ratios are against index 0.
  struct System {
    Searcher searcher;
    std::function<void(size_t ef)> set_ef;
    // `drop` frees the index a previous round built (outside the measurement), `build` builds
    // it; empty for an index loaded from a file. `after` runs once the last round is built
    // (Sextant: the save) and returns what the build line adds.
    std::function<void()> drop, build;
    std::function<std::string()> after;
    std::vector<double> walls, cpus;  // per build round
    double build_s = 0, build_cpu = 0;
    double rss = 0, rss_trimmed = 0, heap_live = 0;  // bytes per vector, first round
  };
  std::vector<System> systems;
  auto print_build = [&](const System& s, const std::string& extra) {
    std::printf("{\"event\":\"build\",\"system\":\"%s\",\"n\":%zu,\"dim\":%zu,\"build_s\":%.2f,"
                "\"build_cpu_s\":%.2f,\"rss_bytes_per_vector\":%.1f,"
                "\"rss_trimmed_bytes_per_vector\":%.1f,\"heap_live_bytes_per_vector\":%.1f,"
                "\"threads\":%zu",
                s.searcher.name.c_str(), n, dim, s.build_s, s.build_cpu, s.rss,
                s.rss_trimmed, s.heap_live, build_threads);
    if (&s != &systems[0]) {
      std::printf(",\"build_ratio\":%.3f,\"build_cpu_ratio\":%.3f", s.build_s / systems[0].build_s,
                  s.build_cpu / systems[0].build_cpu);
    }
    if (s.cpus.size() > 1) {
      std::printf(",\"build_rounds\":%zu,\"build_cpu_s_rounds\":[", s.cpus.size());
      for (size_t r = 0; r < s.cpus.size(); ++r) std::printf("%s%.2f", r ? "," : "", s.cpus[r]);
      std::printf("]");
    }
    std::printf("%s}\n", extra.c_str());
    std::fflush(stdout);
  };
  // Runs `build` and records its wall and process CPU time and the memory it added (the base
  // vectors themselves were read before any build): resident, returned as it is; resident once
  // malloc_trim has handed free heap memory back (what a build's freed scratch leaves resident
  // depends on what ran before it in this process); live malloc bytes (all arenas, mmapped
  // blocks included).
  auto heap_live = [] {
    const struct mallinfo2 m = mallinfo2();
    return static_cast<double>(m.uordblks + m.hblkhd);
  };
  auto measure = [&](System& s) {
    s.drop();
    malloc_trim(0);
    const size_t rss0 = Rss();
    const double heap0 = heap_live();
    const double cpu0 = bench::CpuSeconds();
    const auto t0 = Clock::now();
    s.build();
    s.walls.push_back(bench::Seconds(t0));
    s.cpus.push_back(bench::CpuSeconds() - cpu0);
    if (s.cpus.size() > 1) return;
    s.rss = double(Rss() - rss0) / n;
    malloc_trim(0);
    s.rss_trimmed = (double(Rss()) - double(rss0)) / n;
    s.heap_live = (heap_live() - heap0) / n;
  };

  // hnswlib: cosine as inner product over normalised vectors (what its Python binding does).
  std::unique_ptr<hnswlib::HierarchicalNSW<float>> lib;
  if (peers.find("hnswlib") != std::string::npos) {
    System s;
    s.searcher = {"hnswlib", [&](size_t i, std::vector<uint64_t>& out) {
                    auto r = lib->searchKnn(&qn[i * dim], k);
                    out.clear();
                    while (!r.empty()) {
                      out.push_back(r.top().second);
                      r.pop();
                    }
                    return true;
                  }};
    s.set_ef = [&](size_t e) { lib->setEf(e); };
    s.drop = [&] { lib.reset(); };
    s.build = [&] {
      lib = std::make_unique<hnswlib::HierarchicalNSW<float>>(space.get(), n, M, efc, 100);
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
    };
    systems.push_back(std::move(s));
  }

#if SEXTANT_BENCH_FAISS
  // FAISS IndexHNSWFlat (OpenMP threads for the build; one OpenMP thread per searching thread).
  std::unique_ptr<faiss::IndexHNSWFlat> fx;
  std::vector<float> rows;  // FAISS's input, made before any build: input, not index
  if (peers.find("faiss") != std::string::npos) {
    rows.resize(n * dim);
    for (size_t i = 0; i < n; ++i) normalised(base->row(i), &rows[i * dim]);
    System s;
    s.searcher = {"faiss-hnsw", [&](size_t i, std::vector<uint64_t>& out) {
                    thread_local bool one = (omp_set_num_threads(1), true);
                    (void)one;
                    float dist[1024];
                    faiss::Index::idx_t ids[1024];
                    fx->search(1, &qn[i * dim], static_cast<faiss::Index::idx_t>(k), dist, ids);
                    out.assign(ids, ids + k);
                    return true;
                  }};
    s.set_ef = [&](size_t e) { fx->hnsw.efSearch = static_cast<int>(e); };
    s.drop = [&] { fx.reset(); };
    s.build = [&] {
      fx = std::make_unique<faiss::IndexHNSWFlat>(
          static_cast<int>(dim), static_cast<int>(M),
          *metric == index::Metric::kL2 ? faiss::METRIC_L2 : faiss::METRIC_INNER_PRODUCT);
      fx->hnsw.efConstruction = static_cast<int>(efc);
      omp_set_num_threads(static_cast<int>(build_threads));
      fx->add(static_cast<faiss::Index::idx_t>(n), rows.data());
      omp_set_num_threads(1);
    };
    systems.push_back(std::move(s));
  }
#endif

  // One Sextant index per --storage name (a list: "f32,auto" compares storages in one run).
  // With --sextant-index every name loads the same file ("auto,auto-reordered" compares orders).
  std::vector<std::unique_ptr<index::HnswIndex>> sextants(storage_names.size());
  size_t ef = 0;
  for (size_t v = 0; v < storage_names.size(); ++v) {
    index::HnswOptions opt;
    opt.metric = *metric;
    // "f32-unscreened": f32 without the 1-bit screen (HnswOptions::screen), to measure it.
    std::string storage = storage_names[v];
    const std::string unscreened = "-unscreened";
    // "-unordered": built without HnswIndex::Reorder (HnswOptions::reorder_min_points 0);
    // "-reordered": a loaded index reordered after loading.
    std::string suffix;
    for (const std::string end : {"-unordered", "-reordered"}) {
      if (storage.size() > end.size() && storage.ends_with(end)) {
        storage.resize(storage.size() - end.size());
        suffix = end;
      }
    }
    if (suffix == "-unordered") opt.reorder_min_points = 0;
    if (storage.size() > unscreened.size() && storage.ends_with(unscreened)) {
      storage.resize(storage.size() - unscreened.size());
      opt.screen = false;
    }
    if (storage == "auto") {
      opt.storage = base->source_type == dataset::ElementType::kUint8 && !cosine
                        ? index::StorageType::kUint8
                        : index::StorageType::kSq8F32;
    } else {
      auto st = index::ParseStorageType(storage);
      if (!st.ok()) {
        std::fprintf(stderr, "%s\n", st.status().ToString().c_str());
        return 2;
      }
      opt.storage = *st;
    }
    opt.M = M;
    opt.ef_construction = efc;
    opt.initial_capacity = n;
    std::unique_ptr<index::HnswIndex>& sx = sextants[v];
    System s;
    s.searcher = {std::string("sextant-") + index::StorageTypeName(opt.storage) + (opt.screen ? "" : unscreened) + suffix,
                  [&, ix = &sx](size_t i, std::vector<uint64_t>& out) {
                    auto r = (*ix)->Search(std::span<const float>(queries->row(i), dim), k, ef);
                    if (!r.ok()) return false;
                    out.clear();
                    for (const auto& h : *r) out.push_back(h.label);
                    return true;
                  }};
    s.set_ef = [&](size_t e) { ef = e; };
    if (!index_file.empty() && access(index_file.c_str(), R_OK) == 0) {
      auto loaded = index::HnswIndex::Load(index_file);
      if (!loaded.ok()) {
        std::fprintf(stderr, "%s\n", loaded.status().ToString().c_str());
        return 1;
      }
      sx = std::move(loaded).value();
      // In owned memory like a built index (a loaded one is searched from its file's map).
      if (Status own = sx->Reserve(sx->slot_count() + 1); !own.ok()) {
        std::fprintf(stderr, "%s\n", own.ToString().c_str());
        return 1;
      }
      if (suffix == "-reordered") {
        const double cpu0 = bench::CpuSeconds();
        const auto t0 = Clock::now();
        if (Status r = sx->Reorder(build_threads); !r.ok()) {
          std::fprintf(stderr, "%s\n", r.ToString().c_str());
          return 1;
        }
        std::fprintf(stderr, "reordered in %.2f s (%.2f CPU s)\n", bench::Seconds(t0), bench::CpuSeconds() - cpu0);
      }
      std::fprintf(stderr, "loaded %s (no build figures)\n", index_file.c_str());
    } else {
      s.drop = [ix = &sx] { ix->reset(); };
      s.build = [&, ix = &sx, opt] {
        auto made = index::HnswIndex::Create(dim, opt);
        Status built = made.status();
        if (made.ok()) {
          *ix = std::move(made).value();
          std::vector<uint64_t> labels(n);
          for (size_t i = 0; i < n; ++i) labels[i] = i;
          built = (*ix)->AddBatch(base->data, labels, build_threads);
        }
        if (!built.ok()) {
          std::fprintf(stderr, "%s\n", built.ToString().c_str());
          std::exit(1);
        }
      };
      s.after = [&, ix = &sx] {
        if (!index_file.empty()) {
          if (Status saved = (*ix)->Save(index_file); !saved.ok()) {
            std::fprintf(stderr, "%s\n", saved.ToString().c_str());
            std::exit(1);
          }
        }
        char extra[64];
        std::snprintf(extra, sizeof extra, ",\"index_bytes_per_vector\":%.1f",
                      double((*ix)->MemoryUsage()) / n);
        return std::string(extra);
      };
    }
    systems.push_back(std::move(s));
  }

  // The builds, round by round, the systems taking turns; then one line per built system.
  std::vector<System*> to_build;
  for (System& s : systems) {
    if (s.build) to_build.push_back(&s);
  }
  for (size_t r = 0; r < build_rounds; ++r) {
    for (size_t j = 0; j < to_build.size(); ++j) measure(*to_build[(r + j) % to_build.size()]);
  }
  for (System* s : to_build) {
    s->build_s = Median(s->walls);
    s->build_cpu = Median(s->cpus);
  }
  for (System* s : to_build) print_build(*s, s->after ? s->after() : std::string());

  auto recall = [&](const Pass& p) {
    double hits = 0;
    for (size_t i = 0; i < nq; ++i) {
      std::unordered_set<int32_t> want(gt->row(i), gt->row(i) + k);
      for (uint64_t l : p.results[i]) hits += want.count(static_cast<int32_t>(l));
    }
    return hits / double(nq * k);
  };
  const size_t ns = systems.size();
  for (size_t threads : thread_counts) {  // searching threads; each count a full sweep
    for (size_t e : efs) {
      for (System& s : systems) s.set_ef(e);
      std::vector<std::vector<double>> wall(ns), cpu(ns);
      std::vector<double> rec(ns, 0);
      for (size_t w = 0; w < 50 && w < nq; ++w) {  // warm-up
        std::vector<uint64_t> out;
        for (System& s : systems) s.searcher.search(w, out);
      }
      for (size_t r = 0; r < rounds; ++r) {
        for (size_t j = 0; j < ns; ++j) {
          const size_t s = (r + j) % ns;  // rotate who goes first
          const Pass p = RunPass(systems[s].searcher, nq, threads);
          wall[s].push_back(nq / p.wall);
          cpu[s].push_back(nq * threads / p.cpu);
          rec[s] = recall(p);
        }
      }
      for (size_t s = 0; s < ns; ++s) {
        std::printf("{\"event\":\"search\",\"system\":\"%s\",\"ef\":%zu,\"recall\":%.4f,\"qps\":%.1f,"
                    "\"qps_cpu\":%.1f,\"threads\":%zu,\"rounds\":%zu,\"k\":%zu,\"queries\":%zu",
                    systems[s].searcher.name.c_str(), e, rec[s], Median(wall[s]), Median(cpu[s]),
                    threads, rounds, k, nq);
        if (s > 0) {
          std::printf(",\"ratio\":%.3f,\"ratio_cpu\":%.3f", Median(wall[s]) / Median(wall[0]),
                      Median(cpu[s]) / Median(cpu[0]));
        }
        std::printf("}\n");
      }
      std::fflush(stdout);
    }
  }
  return 0;
}
