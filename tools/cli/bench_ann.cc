// `sextant bench ann`: builds an index over a base file, searches a query file at several ef
// values and prints JSON lines with build time, memory, recall@k and QPS.
#include <algorithm>
#include <atomic>
#include <chrono>
#include <cstdio>
#include <memory>
#include <mutex>
#include <thread>
#include <unordered_set>

#include "args.h"
#include "commands.h"
#include "dataset/vector_file.h"
#include "index/flat_index.h"
#include "index/hnsw_index.h"
#include "index/vector_index.h"

namespace sextant::cli {
namespace {

constexpr const char* kUsage =
    "usage: sextant bench ann --base FILE --query FILE --groundtruth FILE\n"
    "         [--metric l2|ip|cosine] [--index flat|hnsw] [--M 16] [--ef-construction 200]\n"
    "         [--ef 10,16,32,64] [--k 10] [--threads 1] [--build-threads 2] [--queries N]\n"
    "         [--storage auto|f32|f16|u8] [--batch]\n"
    "       sextant bench ann ... --index ivf-flat|ivf-pq|ivf-sq8|pq|sq8|hnsw-sq8 [--nlist 256]\n"
    "         [--nprobe 1,2,4,8,16,32,64] [--m 8] [--nbits 4|8] [--rerank N] [--dims D]\n"
    "         [--kmeans-iters 25] [--kmeans-points 256]\n"
    "Files: .fvecs, .bvecs, .ivecs or .npy. Prints JSON lines on stdout.\n";

struct Setup {
  std::string index_name;
  index::Metric metric;
  index::StorageType storage;
  size_t k, threads, build_threads, M, ef_construction;
  std::vector<int64_t> efs;
  bool batch;
  // Trained indexes (index::VectorIndex).
  bool trained_index = false;
  index::IndexSpec spec;
  std::vector<int64_t> nprobes;
  size_t rerank = 0;
};

// Searches every query with `threads` threads; returns (results, seconds).
template <typename SearchFn>
Result<std::pair<std::vector<std::vector<uint64_t>>, double>> RunQueries(
    const dataset::FloatMatrix& queries, size_t nq, size_t threads, SearchFn&& search) {
  std::vector<std::vector<uint64_t>> results(nq);
  std::atomic<size_t> next{0};
  std::mutex mu;
  Status error;
  auto worker = [&] {
    for (size_t i; (i = next.fetch_add(1)) < nq;) {
      auto hits = search(std::span<const float>(queries.row(i), queries.dim));
      if (!hits.ok()) {
        std::lock_guard<std::mutex> l(mu);
        error = hits.status();
        return;
      }
      for (const auto& h : *hits) results[i].push_back(h.label);
    }
  };
  const auto t0 = Clock::now();
  std::vector<std::thread> pool;
  for (size_t t = 1; t < threads; ++t) pool.emplace_back(worker);
  worker();
  for (auto& t : pool) t.join();
  const double secs = Seconds(t0);
  if (!error.ok()) return error;
  return std::make_pair(std::move(results), secs);
}

double Recall(const std::vector<std::vector<uint64_t>>& results, const dataset::IdMatrix& gt,
              size_t k) {
  size_t hits = 0;
  for (size_t i = 0; i < results.size(); ++i) {
    std::unordered_set<int64_t> truth(gt.row(i), gt.row(i) + k);
    for (size_t j = 0; j < std::min(k, results[i].size()); ++j) {
      hits += truth.count(static_cast<int64_t>(results[i][j]));
    }
  }
  return static_cast<double>(hits) / static_cast<double>(results.size() * k);
}

// The trained indexes: train on the base set, add it, then search at each nprobe (ef for
// hnsw-sq8).
Status RunTrained(const Setup& s, const dataset::FloatMatrix& base,
                  const dataset::FloatMatrix& queries, const dataset::IdMatrix& gt, size_t nq) {
  std::vector<uint64_t> labels(base.rows);
  for (size_t i = 0; i < base.rows; ++i) labels[i] = i;
  SEXTANT_ASSIGN_OR_RETURN(std::unique_ptr<index::VectorIndex> ix,
                           index::CreateVectorIndex(base.dim, s.spec));
  const auto t0 = Clock::now();
  SEXTANT_RETURN_IF_ERROR(ix->Train(base.data));
  const double train_s = Seconds(t0);
  const auto t1 = Clock::now();
  SEXTANT_RETURN_IF_ERROR(ix->Add(base.data, labels));
  const double add_s = Seconds(t1);
  const size_t memory = ix->MemoryUsage();
  const bool hnsw = s.index_name == "hnsw-sq8";
  std::string codes = s.index_name == "ivf-flat" ? index::StorageTypeName(s.storage)
                      : s.index_name.find("pq") != std::string::npos
                          ? "pq" + std::to_string(s.spec.nbits)
                          : "sq8";
  std::printf(
      "{\"event\":\"build\",\"index\":\"%s\",\"n\":%zu,\"dim\":%zu,\"build_s\":%.3f,"
      "\"memory_bytes\":%zu,\"bytes_per_vector\":%.1f,\"metric\":\"%s\",\"storage\":\"%s\","
      "\"train_s\":%.3f,\"add_s\":%.3f,\"rerank_bytes\":%zu",
      s.index_name.c_str(), base.rows, base.dim, train_s + add_s, memory,
      static_cast<double>(memory) / static_cast<double>(base.rows), index::MetricName(s.metric),
      codes.c_str(), train_s, add_s, ix->RerankMemoryUsage());
  if (hnsw) {
    std::printf(",\"M\":%zu,\"ef_construction\":%zu,\"build_threads\":%zu", s.M,
                s.ef_construction, s.build_threads);
  } else {
    if (s.index_name.rfind("ivf-", 0) == 0) std::printf(",\"nlist\":%zu", s.spec.nlist);
    if (s.index_name.find("pq") != std::string::npos) {
      std::printf(",\"m\":%zu,\"nbits\":%zu", s.spec.m, s.spec.nbits);
    }
  }
  if (s.rerank > 0) std::printf(",\"rerank\":%zu", s.rerank);
  if (s.spec.search_dims > 0) std::printf(",\"dims\":%zu", s.spec.search_dims);
  std::printf("}\n");
  std::fflush(stdout);

  for (int64_t sweep : hnsw ? s.efs : s.nprobes) {
    index::SearchParams params;
    params.nprobe = static_cast<size_t>(sweep);
    params.ef = static_cast<size_t>(sweep);
    params.rerank = s.rerank;
    auto search = [&](std::span<const float> q) { return ix->Search(q, s.k, params); };
    const size_t warm = std::min<size_t>(nq, 50);
    SEXTANT_RETURN_IF_ERROR(RunQueries(queries, warm, s.threads, search).status());
    SEXTANT_ASSIGN_OR_RETURN(auto run, RunQueries(queries, nq, s.threads, search));
    std::printf(
        "{\"event\":\"search\",\"%s\":%lld,\"recall\":%.4f,\"qps\":%.1f,\"threads\":%zu,"
        "\"k\":%zu,\"queries\":%zu",
        hnsw ? "ef" : "nprobe", static_cast<long long>(sweep), Recall(run.first, gt, s.k),
        static_cast<double>(nq) / run.second, s.threads, s.k, nq);
    if (s.rerank > 0) std::printf(",\"rerank\":%zu", s.rerank);
    std::printf("}\n");
    std::fflush(stdout);
  }
  return Status::OK();
}

Status RunBench(const Args& args) {
  Setup s;
  SEXTANT_ASSIGN_OR_RETURN(std::string base_path, args.Required("base"));
  SEXTANT_ASSIGN_OR_RETURN(std::string query_path, args.Required("query"));
  SEXTANT_ASSIGN_OR_RETURN(std::string gt_path, args.Required("groundtruth"));
  SEXTANT_ASSIGN_OR_RETURN(s.metric, index::ParseMetric(args.Get("metric", "l2")));
  s.index_name = args.Get("index", "hnsw");
  static const char* const kTrained[] = {"ivf-flat", "ivf-pq", "ivf-sq8", "pq", "sq8", "hnsw-sq8"};
  for (const char* t : kTrained) s.trained_index |= s.index_name == t;
  if (s.index_name != "flat" && s.index_name != "hnsw" && !s.trained_index) {
    return Status::InvalidArgument("unknown index '" + s.index_name +
                                   "' (expected flat, hnsw, ivf-flat, ivf-pq, ivf-sq8, pq, sq8 or "
                                   "hnsw-sq8)");
  }
  if (!s.trained_index) {
    for (const char* f : {"nlist", "nprobe", "m", "nbits", "rerank", "dims", "kmeans-iters",
                          "kmeans-points"}) {
      if (args.Has(f)) {
        return Status::InvalidArgument("--" + std::string(f) + " applies to ivf-flat, ivf-pq, "
                                       "ivf-sq8, pq, sq8 and hnsw-sq8, not " + s.index_name);
      }
    }
  }
  {
    const bool coarse = s.index_name.rfind("ivf-", 0) == 0;
    SEXTANT_ASSIGN_OR_RETURN(int64_t nlist, args.GetPositiveInt("nlist", 256));
    SEXTANT_ASSIGN_OR_RETURN(int64_t m, args.GetPositiveInt("m", 8));
    SEXTANT_ASSIGN_OR_RETURN(int64_t nbits, args.GetPositiveInt("nbits", 8));
    SEXTANT_ASSIGN_OR_RETURN(int64_t iters, args.GetPositiveInt("kmeans-iters", 25));
    SEXTANT_ASSIGN_OR_RETURN(int64_t points, args.GetPositiveInt("kmeans-points", 256));
    SEXTANT_ASSIGN_OR_RETURN(s.nprobes, args.GetIntList("nprobe", coarse
                                                                      ? std::vector<int64_t>{1, 2, 4, 8, 16, 32, 64}
                                                                      : std::vector<int64_t>{1}));
    int64_t rerank = 0, dims = 0;
    if (args.Has("rerank")) {
      SEXTANT_ASSIGN_OR_RETURN(rerank, args.GetPositiveInt("rerank", 0));
    }
    if (args.Has("dims")) {
      SEXTANT_ASSIGN_OR_RETURN(dims, args.GetPositiveInt("dims", 0));
    }
    s.spec.type = s.index_name;
    s.spec.nlist = nlist;
    s.spec.m = m;
    s.spec.nbits = nbits;
    s.spec.search_dims = dims;
    s.spec.keep_originals = rerank > 0 || dims > 0;
    s.spec.kmeans.iterations = iters;
    s.spec.kmeans.max_points_per_centroid = points;
    s.rerank = rerank;
  }
  SEXTANT_ASSIGN_OR_RETURN(int64_t k, args.GetPositiveInt("k", 10));
  SEXTANT_ASSIGN_OR_RETURN(int64_t threads, args.GetPositiveInt("threads", 1));
  SEXTANT_ASSIGN_OR_RETURN(int64_t build_threads, args.GetPositiveInt("build-threads", 2));
  SEXTANT_ASSIGN_OR_RETURN(int64_t M, args.GetPositiveInt("M", 16));
  SEXTANT_ASSIGN_OR_RETURN(int64_t efc, args.GetPositiveInt("ef-construction", 200));
  SEXTANT_ASSIGN_OR_RETURN(s.efs, args.GetIntList("ef", {10, 16, 32, 64}));
  SEXTANT_ASSIGN_OR_RETURN(int64_t max_queries, args.GetPositiveInt("queries", INT64_MAX));
  s.k = k;
  s.threads = threads;
  s.build_threads = build_threads;
  s.M = M;
  s.ef_construction = efc;
  s.batch = args.Has("batch");
  s.spec.metric = s.metric;
  s.spec.hnsw_M = s.M;
  s.spec.ef_construction = s.ef_construction;
  s.spec.build_threads = s.build_threads;

  SEXTANT_ASSIGN_OR_RETURN(dataset::FloatMatrix base, dataset::ReadVectors(base_path));
  SEXTANT_ASSIGN_OR_RETURN(dataset::FloatMatrix queries, dataset::ReadVectors(query_path));
  SEXTANT_ASSIGN_OR_RETURN(dataset::IdMatrix gt, dataset::ReadIds(gt_path));
  if (queries.dim != base.dim) {
    return Status::InvalidArgument("query file " + query_path + " has dimension " +
                                   std::to_string(queries.dim) + ", base file has " +
                                   std::to_string(base.dim));
  }
  SEXTANT_RETURN_IF_ERROR(dataset::CheckFinite(base, base_path));
  SEXTANT_RETURN_IF_ERROR(dataset::CheckFinite(queries, query_path));
  const size_t nq = std::min<size_t>(queries.rows, static_cast<size_t>(max_queries));
  if (gt.rows < nq) {
    return Status::InvalidArgument("ground truth " + gt_path + " has " + std::to_string(gt.rows) +
                                   " rows for " + std::to_string(nq) + " queries");
  }
  if (gt.dim < s.k) {
    return Status::InvalidArgument("ground truth " + gt_path + " has " + std::to_string(gt.dim) +
                                   " neighbours per query, fewer than k=" + std::to_string(s.k));
  }
  for (size_t i = 0; i < nq; ++i) {
    for (size_t j = 0; j < s.k; ++j) {
      const int32_t id = gt.row(i)[j];
      if (id < 0 || static_cast<size_t>(id) >= base.rows) {
        return Status::InvalidArgument("ground truth " + gt_path + " row " + std::to_string(i) +
                                       " names id " + std::to_string(id) + ", base has " +
                                       std::to_string(base.rows) + " vectors");
      }
    }
  }

  const std::string storage_flag = args.Get("storage", "auto");
  const bool byte_data = base.source_type == dataset::ElementType::kUint8 &&
                         queries.source_type == dataset::ElementType::kUint8;
  if (storage_flag == "auto") {
    // uint8 data is stored losslessly as bytes; float data in an HNSW graph as sq8-f32 (walked
    // on SQ8 codes, ranked by exact distances); everything else as float32.
    const bool u8 = byte_data && s.metric != index::Metric::kCosine &&
                    (s.index_name == "hnsw" || s.index_name == "ivf-flat");
    s.storage = u8                                             ? index::StorageType::kUint8
                : s.index_name == "hnsw" && s.metric != index::Metric::kL1 ? index::StorageType::kSq8F32
                                                               : index::StorageType::kFloat32;
  } else {
    SEXTANT_ASSIGN_OR_RETURN(s.storage, index::ParseStorageType(storage_flag));
  }
  if (s.trained_index) {
    if (s.storage == index::StorageType::kSq8) {
      return Status::InvalidArgument("--storage sq8: use --index sq8, ivf-sq8 or hnsw-sq8");
    }
    s.spec.storage = s.storage;
    // Re-rank vectors: byte data losslessly as u8.
    s.spec.original_storage = byte_data && s.metric != index::Metric::kCosine
                                  ? index::StorageType::kUint8
                                  : index::StorageType::kFloat32;
    return RunTrained(s, base, queries, gt, nq);
  }

  std::vector<uint64_t> labels(base.rows);
  for (size_t i = 0; i < base.rows; ++i) labels[i] = i;
  const auto t0 = Clock::now();
  std::unique_ptr<index::HnswIndex> hnsw;
  std::unique_ptr<index::FlatIndex> flat;
  size_t memory = 0;
  if (s.index_name == "hnsw") {
    index::HnswOptions opt;
    opt.metric = s.metric;
    opt.storage = s.storage;
    opt.M = s.M;
    opt.ef_construction = s.ef_construction;
    opt.initial_capacity = base.rows;
    SEXTANT_ASSIGN_OR_RETURN(hnsw, index::HnswIndex::Create(base.dim, opt));
    auto last = Clock::now();
    auto progress = [&](size_t done, size_t total) {
      if (Seconds(t0) < 2.0 || Seconds(last) < 1.0) return;
      last = Clock::now();
      std::fprintf(stderr, "{\"event\":\"progress\",\"done\":%zu,\"total\":%zu,\"elapsed_s\":%.1f}\n",
                   done, total, Seconds(t0));
    };
    SEXTANT_RETURN_IF_ERROR(hnsw->AddBatch(base.data, labels, s.build_threads, progress));
    memory = hnsw->MemoryUsage();
  } else {
    if (s.storage != index::StorageType::kFloat32) {
      return Status::InvalidArgument("the flat index stores f32 only");
    }
    SEXTANT_ASSIGN_OR_RETURN(index::FlatIndex f, index::FlatIndex::Create(base.dim, s.metric));
    flat = std::make_unique<index::FlatIndex>(std::move(f));
    SEXTANT_RETURN_IF_ERROR(flat->AddBatch(base.data, labels));
    memory = flat->MemoryUsage();
  }
  const double build_s = Seconds(t0);
  std::printf(
      "{\"event\":\"build\",\"index\":\"%s\",\"n\":%zu,\"dim\":%zu,\"build_s\":%.3f,"
      "\"memory_bytes\":%zu,\"bytes_per_vector\":%.1f,\"metric\":\"%s\",\"storage\":\"%s\","
      "\"M\":%zu,\"ef_construction\":%zu,\"build_threads\":%zu}\n",
      s.index_name.c_str(), base.rows, base.dim, build_s, memory,
      static_cast<double>(memory) / static_cast<double>(base.rows), index::MetricName(s.metric),
      index::StorageTypeName(s.storage), s.M, s.ef_construction, s.build_threads);
  std::fflush(stdout);

  for (int64_t ef : s.efs) {
    auto search = [&](std::span<const float> q) -> Result<std::vector<index::SearchHit>> {
      if (hnsw) return hnsw->Search(q, s.k, static_cast<size_t>(ef));
      return flat->Search(q, s.k);
    };
    // Warm up caches and thread-local scratch before timing.
    const size_t warm = std::min<size_t>(nq, 50);
    SEXTANT_RETURN_IF_ERROR(RunQueries(queries, warm, s.threads, search).status());
    std::vector<std::vector<uint64_t>> results;
    double secs;
    if (flat && s.batch) {
      const auto t1 = Clock::now();
      SEXTANT_ASSIGN_OR_RETURN(
          auto all, flat->SearchBatch(std::span<const float>(queries.data.data(), nq * base.dim),
                                      s.k));
      secs = Seconds(t1);
      for (auto& hits : all) {
        results.emplace_back();
        for (auto& h : hits) results.back().push_back(h.label);
      }
    } else {
      SEXTANT_ASSIGN_OR_RETURN(auto run, RunQueries(queries, nq, s.threads, search));
      results = std::move(run.first);
      secs = run.second;
    }
    std::printf(
        "{\"event\":\"search\",\"ef\":%lld,\"recall\":%.4f,\"qps\":%.1f,\"threads\":%zu,"
        "\"k\":%zu,\"queries\":%zu%s}\n",
        static_cast<long long>(ef), Recall(results, gt, s.k), static_cast<double>(nq) / secs,
        s.threads, s.k, nq, flat ? (s.batch ? ",\"exact\":true,\"batch\":true" : ",\"exact\":true") : "");
    std::fflush(stdout);
  }
  return Status::OK();
}

}  // namespace

int RunBenchAnn(const std::vector<std::string>& argv) {
  auto args = Args::Parse(argv,
                          {"base", "query", "groundtruth", "metric", "index", "M",
                           "ef-construction", "ef", "k", "threads", "build-threads", "queries",
                           "storage", "nlist", "nprobe", "m", "nbits", "rerank", "dims",
                           "kmeans-iters", "kmeans-points"},
                          {"batch", "help"});
  if (!args.ok()) {
    PrintError("bench ann", args.status().message());
    std::fputs(kUsage, stderr);
    return 2;
  }
  if (args->Has("help")) {
    std::fputs(kUsage, stdout);
    return 0;
  }
  Status st = RunBench(*args);
  if (!st.ok()) {
    PrintError("bench ann", st.message());
    return st.code() == StatusCode::kInvalidArgument ? 2 : 1;
  }
  return 0;
}

}  // namespace sextant::cli
