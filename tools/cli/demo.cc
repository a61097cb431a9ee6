// `sextant demo`: the end-to-end tour that `make run` shows a newcomer. Part one (demo_text.cc)
// is documents in and semantic, keyword and hybrid search out; part two (here) indexes real
// vectors (Fashion-MNIST from ../shared/data when present, generated clustered vectors
// otherwise), searches them with HNSW, checks the answers against exact search, saves the index,
// reopens it by mmap and searches again.
#include <chrono>
#include <cstdio>
#include <filesystem>
#include <unordered_set>

#include "args.h"
#include "commands.h"
#include "demo.h"
#include "dataset/vector_file.h"
#include "index/flat_index.h"
#include "index/hnsw_index.h"
#include "simd/distance.h"

namespace sextant::cli {

Status RunVectorTour(const std::string& data_dir, int64_t limit) {
  std::printf("\n== 3. Vectors: HNSW against exact search ==\n\n");
  dataset::FloatMatrix base, queries;
  index::StorageType storage = index::StorageType::kFloat32;
  if (std::filesystem::exists(data_dir + "/base.bvecs")) {
    std::printf("Loading Fashion-MNIST from %s ...\n", data_dir.c_str());
    SEXTANT_ASSIGN_OR_RETURN(base, dataset::ReadVectors(data_dir + "/base.bvecs", limit));
    SEXTANT_ASSIGN_OR_RETURN(queries, dataset::ReadVectors(data_dir + "/query.bvecs", 1000));
    storage = index::StorageType::kUint8;  // pixel values 0..255: stored losslessly as bytes
  } else {
    std::printf("%s not found: generating 20,000 clustered 128-d vectors instead.\n",
                data_dir.c_str());
    base = dataset::GenerateClustered(std::min<int64_t>(limit, 20000), 128, 50, 0.1f, 1);
    queries = dataset::GenerateClustered(1000, 128, 50, 0.1f, 2);
  }
  std::printf("%zu vectors of dimension %zu, %zu queries; SIMD kernels: %s\n", base.rows,
              base.dim, queries.rows, simd::Best().isa);

  std::vector<uint64_t> labels(base.rows);
  for (size_t i = 0; i < base.rows; ++i) labels[i] = i;
  index::HnswOptions opt;
  opt.storage = storage;
  opt.initial_capacity = base.rows;
  SEXTANT_ASSIGN_OR_RETURN(auto hnsw, index::HnswIndex::Create(base.dim, opt));
  auto t0 = Clock::now();
  SEXTANT_RETURN_IF_ERROR(hnsw->AddBatch(base.data, labels, 2, [&](size_t done, size_t total) {
    if (done % (total / 10 + 1) == 0 || done == total) {
      std::fprintf(stderr, "  indexed %zu/%zu\r", done, total);
    }
  }));
  std::fprintf(stderr, "\n");
  std::printf("HNSW (M=16, ef_construction=200, storage %s) built in %.1f s, %.1f MB\n",
              index::StorageTypeName(storage), Seconds(t0), hnsw->MemoryUsage() / 1e6);

  SEXTANT_ASSIGN_OR_RETURN(index::FlatIndex flat, index::FlatIndex::Create(base.dim, opt.metric));
  SEXTANT_RETURN_IF_ERROR(flat.AddBatch(base.data, labels));
  t0 = Clock::now();
  SEXTANT_ASSIGN_OR_RETURN(
      auto exact, flat.SearchBatch(std::span<const float>(queries.data), 10));
  std::printf("Exact top-10 for %zu queries (flat index, BLAS): %.2f s\n", queries.rows,
              Seconds(t0));

  for (size_t ef : {16, 64}) {
    size_t hits = 0;
    t0 = Clock::now();
    for (size_t q = 0; q < queries.rows; ++q) {
      SEXTANT_ASSIGN_OR_RETURN(auto res,
                               hnsw->Search(std::span<const float>(queries.row(q), base.dim), 10, ef));
      std::unordered_set<uint64_t> truth;
      for (const auto& h : exact[q]) truth.insert(h.label);
      for (const auto& h : res) hits += truth.count(h.label);
    }
    const double secs = Seconds(t0);
    std::printf("HNSW ef=%-3zu recall@10 %.3f, %.0f queries/s (1 thread)\n", ef,
                hits / (10.0 * queries.rows), queries.rows / secs);
  }

  SEXTANT_ASSIGN_OR_RETURN(auto first, hnsw->Search(std::span<const float>(queries.row(0), base.dim), 5, 64));
  std::printf("Query 0, nearest 5:");
  for (const auto& h : first) std::printf("  #%llu (d=%.0f)", static_cast<unsigned long long>(h.label), h.distance);
  std::printf("\n");

  const std::string path =
      (std::filesystem::temp_directory_path() / "sextant-demo.hnsw").string();
  t0 = Clock::now();
  SEXTANT_RETURN_IF_ERROR(hnsw->Save(path));
  const double save_s = Seconds(t0);
  t0 = Clock::now();
  SEXTANT_ASSIGN_OR_RETURN(auto reopened, index::HnswIndex::Load(path));
  const double load_s = Seconds(t0);
  SEXTANT_ASSIGN_OR_RETURN(auto again, reopened->Search(std::span<const float>(queries.row(0), base.dim), 5, 64));
  std::printf("Saved to %s in %.2f s, reopened (mmap, checksums verified) in %.3f s: %s\n",
              path.c_str(), save_s, load_s, again == first ? "same answers" : "DIFFERENT answers");
  std::filesystem::remove(path);
  return again == first ? Status::OK() : Status::Internal("reopened index answered differently");
}

namespace {

Status RunTours(const Args& args) {
  const std::string only = args.Get("only", "");
  if (!only.empty() && only != "text" && only != "vectors") {
    return Status::InvalidArgument("--only must be text or vectors, got '" + only + "'");
  }
  if (only != "vectors") SEXTANT_RETURN_IF_ERROR(RunTextTour(args.Get("scifact", "../shared/data/scifact/beir_format")));
  if (only == "text") return Status::OK();
  SEXTANT_ASSIGN_OR_RETURN(int64_t limit, args.GetPositiveInt("n", 60000));
  return RunVectorTour(args.Get("data", "../shared/data/fashion-mnist"), limit);
}

}  // namespace

int RunDemo(const std::vector<std::string>& argv) {
  auto args = Args::Parse(argv, {"data", "n", "scifact", "only"}, {});
  if (!args.ok()) {
    PrintError("demo", args.status().message());
    return 2;
  }
  Status st = RunTours(*args);
  if (!st.ok()) {
    PrintError("demo", st.message());
    return st.code() == StatusCode::kInvalidArgument ? 2 : 1;
  }
  return 0;
}

}  // namespace sextant::cli
