// A collection end to end on a real data set: ingest through the embedded API (batches of
// 1,000, relaxed and synced durability), time until background indexing is done, then
// single-thread k-NN QPS and recall@10 per ef of the same points in four layouts (searches
// alternating round by round), and for the bare HnswIndex on the same data (the cost of the
// database layer). The layouts:
//   segments  Optimize() and no quiet merge: the segments the tiers leave, nothing unindexed
//   merged    Optimize(merge_all): one segment
//   as-left   no Optimize, no quiet merge: what a client that never calls optimize got before
//             quiet indexing (the tiers' segments and an unindexed tail, scanned exactly)
//   quiet     no Optimize, the default settings: waits until the quiet indexer has merged
//             everything into one segment, and reports how long after the last write
//
//   build/bench/sextant_collection_bench [--data ../shared/data/fashion-mnist] [--nq 2000]
//     [--base F --query F --groundtruth F --metric l2|cosine|ip] [--ef 16,32,64,128]
//     [--sync-ingest 0] [--rounds 3] [--layouts segments,merged,as-left,quiet]
//
// Prints one JSON line per measurement.
#include <algorithm>
#include <chrono>
#include <cstdio>
#include <filesystem>
#include <string>
#include <thread>
#include <unordered_set>
#include <vector>

#include <nlohmann/json.hpp>

#include "bench_util.h"
#include "dataset/vector_file.h"
#include "index/hnsw_index.h"
#include "sextant/database.h"

using namespace sextant;
using bench::Clock;
using bench::Median;
using bench::Seconds;

namespace {

void Print(const nlohmann::json& j) {
  std::printf("%s\n", j.dump().c_str());
  std::fflush(stdout);
}

double RecallAt10(const std::vector<std::vector<uint64_t>>& got, const dataset::IdMatrix& gt) {
  double total = 0;
  for (size_t q = 0; q < got.size(); ++q) {
    std::unordered_set<int64_t> truth(gt.row(q), gt.row(q) + 10);
    size_t found = 0;
    for (uint64_t id : got[q]) found += truth.count(static_cast<int64_t>(id));
    total += found / 10.0;
  }
  return total / got.size();
}

}  // namespace

int main(int argc, char** argv) {
  std::string data = "../shared/data/fashion-mnist";
  std::string base_path, query_path, gt_path, metric = "l2";
  size_t nq = 2000, rounds = 3;
  bool sync_ingest = true;
  std::vector<std::string> layouts = {"segments", "merged", "as-left", "quiet"};
  std::vector<size_t> efs = {16, 32, 64, 128};
  for (int i = 1; i + 1 < argc; i += 2) {
    const std::string flag = argv[i], v = argv[i + 1];
    if (flag == "--data") data = v;
    else if (flag == "--nq") nq = std::stoul(v);
    else if (flag == "--rounds") rounds = std::max<size_t>(1, std::stoul(v));
    else if (flag == "--base") base_path = v;
    else if (flag == "--query") query_path = v;
    else if (flag == "--groundtruth") gt_path = v;
    else if (flag == "--metric") metric = v;
    else if (flag == "--sync-ingest") sync_ingest = v != "0";
    else if (flag == "--layouts") {
      layouts.clear();
      for (size_t at = 0; at <= v.size();) {
        const size_t comma = std::min(v.find(',', at), v.size());
        layouts.push_back(v.substr(at, comma - at));
        at = comma + 1;
      }
    }
    else if (flag == "--ef") {
      efs.clear();
      for (int e : bench::ParseList(v)) efs.push_back(static_cast<size_t>(e));
    } else {
      std::fprintf(stderr, "unknown flag %s\n", flag.c_str());
      return 2;
    }
  }
  // --data DIR: Fashion-MNIST's files; or --base/--query/--groundtruth with --metric.
  if (base_path.empty()) base_path = data + "/base.bvecs";
  if (query_path.empty()) query_path = data + "/query.bvecs";
  if (gt_path.empty()) gt_path = data + "/groundtruth_l2.ivecs";
  auto base = dataset::ReadVectors(base_path);
  auto queries = dataset::ReadVectors(query_path, nq);
  auto gt = dataset::ReadIds(gt_path, nq);
  if (!base.ok() || !queries.ok() || !gt.ok()) {
    std::fprintf(stderr, "cannot read %s, %s, %s\n", base_path.c_str(), query_path.c_str(), gt_path.c_str());
    return 1;
  }
  nq = queries->rows;
  const size_t n = base->rows, dim = base->dim;
  const std::string dir = (std::filesystem::temp_directory_path() / "sextant_collection_bench").string();

  std::filesystem::remove_all(dir);
  // Ingests every point into a new collection `name` of `db` and waits for the indexer: with
  // Optimize() (`layout` "segments", "merged"), until it is idle ("as-left"), or until the
  // quiet indexer has left one segment ("quiet").
  auto ingest = [&](Database& db, const std::string& name, Durability durability,
                    const std::string& layout = "segments") -> std::shared_ptr<Collection> {
    CollectionConfig config;
    config.name = name;
    config.dimension = dim;
    config.metric = metric == "cosine" ? Metric::kCosine : metric == "ip" ? Metric::kInnerProduct : Metric::kL2;
    if (layout != "quiet") config.segments.quiet_seconds = 0;
    std::shared_ptr<Collection> col = *db.CreateCollection(config);
    std::vector<Point> batch;
    auto start = Clock::now();
    for (size_t i = 0; i < n; ++i) {
      Point p;
      p.id = std::to_string(i);
      p.vector.assign(base->row(i), base->row(i) + dim);
      batch.push_back(std::move(p));
      if (batch.size() == 1000 || i + 1 == n) {
        if (!col->Upsert(batch).ok()) return nullptr;
        batch.clear();
      }
    }
    const double ingest_s = Seconds(start);
    if (layout == "segments" || layout == "merged") {
      if (!col->Optimize().ok()) return nullptr;
    } else {
      // Idle: the segments and the unindexed points unchanged for 15 s (longer than a seal or
      // a merge of these takes); quiet: one segment, nothing unindexed.
      size_t same = 0;
      for (CollectionStats last = col->Stats();;) {
        std::this_thread::sleep_for(std::chrono::milliseconds(100));
        const CollectionStats now = col->Stats();
        if (layout == "quiet" ? now.segments <= 1 && now.unindexed_points == 0
                              : now.segments == last.segments && now.unindexed_points == last.unindexed_points &&
                                    now.segments_sealed == last.segments_sealed &&
                                    now.segments_merged == last.segments_merged && ++same >= 150) {
          break;
        }
        if (now.segments != last.segments || now.unindexed_points != last.unindexed_points ||
            now.segments_sealed != last.segments_sealed || now.segments_merged != last.segments_merged) {
          same = 0;
        }
        last = now;
      }
    }
    const double indexed = Seconds(start);
    const CollectionStats stats = col->Stats();
    Print({{"phase", "ingest"}, {"collection", name}, {"layout", layout},
           {"settled_after_last_write_s", indexed - ingest_s}, {"unindexed_points", stats.unindexed_points},
           {"durability", durability == Durability::kSync ? "sync" : "relaxed"}, {"points", n},
           {"batch", 1000}, {"ingest_s", ingest_s}, {"points_per_s", n / ingest_s},
           {"indexed_s", indexed}, {"segments", stats.segments}, {"memory_bytes", stats.memory_bytes},
           {"disk_bytes", stats.disk_bytes}});
    return col;
  };
  if (sync_ingest) {  // the synced write path's ingest rate (queries are measured below)
    DatabaseOptions options;
    options.durability = Durability::kSync;
    auto db = std::move(Database::Open(dir, options)).value();
    if (!ingest(*db, "bench", Durability::kSync)) return 1;
    db.reset();
    std::filesystem::remove_all(dir);
  }
  {
    // The same points twice: one collection left with the segments its indexer sealed, one
    // merged into a single segment. Their searches alternate, round by round, so a noisy
    // machine slows both alike; QPS is the median of the rounds.
    DatabaseOptions options;
    options.durability = Durability::kRelaxed;
    auto db = std::move(Database::Open(dir, options)).value();
    const size_t nc = layouts.size();
    std::vector<std::shared_ptr<Collection>> cols;
    for (const std::string& layout : layouts) {
      cols.push_back(ingest(*db, layout, Durability::kRelaxed, layout));
      if (!cols.back()) return 1;
      if (layout == "merged") {
        auto start = Clock::now();
        if (!cols.back()->Optimize(/*merge_all=*/true).ok()) return 1;
        Print({{"phase", "merge_all"}, {"seconds", Seconds(start)}, {"segments", cols.back()->Stats().segments}});
      }
    }
    for (size_t ef : efs) {
      std::vector<std::vector<double>> qps(nc), qps_cpu(nc);
      std::vector<double> recall(nc, 0);
      for (size_t round = 0; round < rounds; ++round) {
        for (size_t j = 0; j < nc; ++j) {
          const size_t c = (j + round) % nc;  // who goes first rotates
          std::vector<std::vector<uint64_t>> got(nq);
          QueryRequest q;
          q.k = 10;
          q.ef = ef;
          const auto start = Clock::now();
          const double cpu0 = bench::CpuSeconds();
          for (size_t i = 0; i < nq; ++i) {
            q.vector.assign(queries->row(i), queries->row(i) + dim);
            auto hits = cols[c]->Query(q);
            if (!hits.ok()) return 1;
            for (const auto& h : *hits) got[i].push_back(std::stoull(h.id));
          }
          const double secs = Seconds(start), cpu = bench::CpuSeconds() - cpu0;
          qps[c].push_back(nq / secs);
          qps_cpu[c].push_back(nq / cpu);
          recall[c] = RecallAt10(got, *gt);
        }
      }
      // qps: one client, wall clock (segments are searched at once on the search pool);
      // qps_cpu: queries per CPU second of the whole process (what the query costs).
      for (size_t c = 0; c < nc; ++c) {
        Print({{"phase", "query"}, {"api", "collection"}, {"collection", layouts[c]},
               {"segments", cols[c]->Stats().segments}, {"ef", ef}, {"rounds", rounds},
               {"qps", Median(qps[c])}, {"qps_cpu", Median(qps_cpu[c])}, {"recall@10", recall[c]}});
      }
    }
  }

  // The bare index, for the cost of the database layer.
  index::HnswOptions o;
  o.metric = metric == "cosine" ? index::Metric::kCosine
             : metric == "ip"   ? index::Metric::kInnerProduct
                                : index::Metric::kL2;
  o.storage = index::StorageType::kSq8F32;  // what the collection's segments use
  auto hnsw = std::move(index::HnswIndex::Create(dim, o)).value();
  std::vector<uint64_t> labels(n);
  for (size_t i = 0; i < n; ++i) labels[i] = i;
  auto start = Clock::now();
  if (!hnsw->AddBatch(base->data, labels, 2).ok()) return 1;
  Print({{"phase", "build"}, {"api", "hnsw_index"}, {"threads", 2}, {"seconds", Seconds(start)}});
  for (size_t ef : efs) {
    std::vector<std::vector<uint64_t>> got(nq);
    start = Clock::now();
    for (size_t i = 0; i < nq; ++i) {
      auto hits = hnsw->Search({queries->row(i), dim}, 10, ef);
      if (!hits.ok()) return 1;
      for (const auto& h : *hits) got[i].push_back(h.label);
    }
    const double secs = Seconds(start);
    Print({{"phase", "query"}, {"api", "hnsw_index"}, {"ef", ef}, {"qps", nq / secs},
           {"recall@10", RecallAt10(got, *gt)}});
  }
  std::filesystem::remove_all(dir);
  return 0;
}
