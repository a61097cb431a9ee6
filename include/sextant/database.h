// Sextant's embedded database API: a data directory holding named collections of points.
//
//   auto db = sextant::Database::Open("./data");                 // creates the directory
//   auto col = (*db)->CreateCollection({.name = "docs", .dimension = 384});
//   (*col)->Upsert(points);                                      // durable when it returns
//   auto hits = (*col)->Query({.vector = q, .k = 10, .filter = json{{"lang", "en"}}});
//
// A point has a string id, a float vector, an optional document text and JSON metadata (an
// object whose values are strings, numbers, booleans or arrays of these). Filters use the
// Mongo/Chroma syntax described in docs/filters.md.
//
// Durability: every write (Upsert, Delete, DeleteByFilter, UpdateMetadata) is appended to the
// collection's write-ahead log as one record and, with Durability::kSync (the default),
// fsynced before the call returns; a batch is applied entirely or not at all, also across a
// crash. Reopening replays the log. See docs/formats/collection.md.
//
// Thread-safety: a Database and its Collections may be used from many threads. Reads (Get,
// Query, Count, Scroll) run concurrently with each other; writes to one collection are
// serialised, and readers wait only while a write is applied in memory, not while it is
// written to disk. A collection is handed out as a shared_ptr that stays safe to use after
// the collection is dropped or the Database is closed (see Database::CreateCollection).
#pragma once

#include <chrono>
#include <cstddef>
#include <cstdint>
#include <map>
#include <memory>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include <nlohmann/json.hpp>

#include "sextant/status.h"

namespace sextant {

namespace storage {
class Env;
}

enum class Metric { kL2, kInnerProduct, kCosine };
// How sealed segments index their vectors (the mutable segment is always exact):
//   kHnsw     graph over float32 vectors (default)
//   kFlat     no sealing: one exact segment
//   kIvfFlat  k-means inverted lists of full vectors (nlist, nprobe)
//   kIvfPq    inverted lists of product-quantized residuals (nlist, nprobe, m, nbits)
//   kPq       product quantization without lists (m, nbits)
//   kSq8      scalar quantization, one byte per dimension
//   kHnswSq8  graph over SQ8 codes
// The quantized kinds keep each sealed segment's full vectors in a memory-mapped file beside
// it, for exact re-ranking (QueryRequest::rerank), Get and merges.
enum class IndexType { kHnsw, kFlat, kIvfFlat, kIvfPq, kPq, kSq8, kHnswSq8 };

// "l2" | "ip" | "cosine"; "hnsw" | "flat" | "ivf-flat" | "ivf-pq" | "pq" | "sq8" | "hnsw-sq8".
const char* MetricToString(Metric m);
Result<Metric> MetricFromString(const std::string& s);
const char* IndexTypeToString(IndexType t);
Result<IndexType> IndexTypeFromString(const std::string& s);

struct HnswParams {
  size_t M = 16;
  size_t ef_construction = 200;
  size_t ef_search = 128;  // default beam for queries that do not set one
};

// How a collection keeps its vectors in segments (docs/formats/collection.md): new vectors go
// to a mutable segment searched exactly; at seal_points it is sealed and indexed (HNSW) in the
// background; sealed segments are merged merge_factor at a time and compacted once
// compact_deleted_fraction of their vectors are deleted.
struct SegmentParams {
  size_t seal_points = 0;  // 0: chosen from the dimension (about 16 MiB of floats, 2,048..50,000)
  size_t merge_factor = 4;
  double compact_deleted_fraction = 0.2;
  // Once no write has come for this many seconds, the indexer also indexes the mutable
  // segment's points (when it holds at least seal_points / 32) and merges the sealed segments
  // into one (the smallest first, up to 64 x seal_points vectors): a collection left alone
  // answers from one graph without `optimize`. 0 turns this off.
  double quiet_seconds = 10;
};

// Parameters of the quantized index kinds (IndexType kIvfFlat .. kHnswSq8).
struct QuantizationParams {
  size_t nlist = 256;  // ivf-*: inverted lists (a segment too small to train them uses fewer)
  size_t nprobe = 8;   // ivf-*: lists scanned by a query that does not say
  size_t m = 0;        // pq, ivf-pq: sub-quantizers; must divide the dimension (0: about dim/4)
  size_t nbits = 8;    // pq, ivf-pq: bits per code, 4 (fast scan) or 8
  size_t rerank = 0;   // candidates re-ranked exactly by a query that does not say (0: none)
};

// A collection that embeds its documents itself (docs/embeddings.md): a point upserted with a
// document and no vector gets the document's embedding (computed before the write is logged, so
// recovery never embeds again), and a query's text is embedded to search by meaning.
struct EmbeddingSettings {
  // In-process: a built-in model ("potion-base-4M"), a pulled model's name (`sextant model
  // pull`) or a model directory. With `url`: the provider's model name.
  std::string model = "potion-base-4M";
  // An OpenAI-compatible embeddings API ("https://api.openai.com/v1"; requests go to
  // url + "/embeddings") instead of an in-process model; empty: in-process.
  std::string url;
  // The environment variable holding the provider's key (the key is never stored).
  std::string api_key_env;
  // 0: the model's own dimension. Else fewer: in-process models are cut and re-normalised
  // (Matryoshka); a provider is asked for them ("dimensions").
  size_t dimensions = 0;
  size_t batch_size = 64;   // provider: texts per request
  double timeout_s = 30;    // provider: per request
  size_t max_retries = 3;   // provider: on timeouts, 408/429/5xx
  // A text query answered by both sides (mode auto on a collection with a keyword index, or
  // hybrid) and not saying how to fuse them is fused "weighted" (min-max normalised scores) with
  // this weight on the meaning side. Unset at create: 0.3 for the built-in potion-base-4M (a
  // static model weaker than BM25 on SciFact: RRF with equal weights there gives nDCG@10 0.594,
  // below keyword search alone, 0.686; weighted 0.3 gives 0.685, and 0.705 vs 0.692 on the train
  // split where it was chosen), 0.5 for every other model.
  std::optional<double> hybrid_alpha;
};

// What a query's text is searched with, on a collection that embeds (QueryRequest::mode).
//   kAuto      a text alone: hybrid when the collection has both an embedding model and a
//              keyword index, semantic with only the model, keyword with only the index; a
//              vector and a text: the vector and the text's keywords (hybrid)
//   kSemantic  by meaning: the text's embedding (or the vector) searched by vector
//   kKeyword   BM25 over the documents only
//   kHybrid    both, fused (the vector side is the given vector, else the text's embedding)
enum class QueryMode { kAuto, kSemantic, kKeyword, kHybrid };
// "auto" | "semantic" | "keyword" | "hybrid".
const char* QueryModeToString(QueryMode m);
Result<QueryMode> QueryModeFromString(const std::string& s);

struct CollectionConfig {
  std::string name;  // [A-Za-z0-9_-], 1..64 characters
  // 0: a text-only collection (requires text = true), or with `embedding`, the model's.
  size_t dimension = 0;
  Metric metric = Metric::kL2;
  IndexType index = IndexType::kHnsw;
  HnswParams hnsw;  // hnsw and hnsw-sq8
  QuantizationParams quantization;
  SegmentParams segments;
  // Keyword search over each point's document (BM25), see docs/analyzers.md.
  bool text = false;
  std::string analyzer = "english";  // "standard" | "english" | "cjk"
  float bm25_k1 = 0.9f;
  float bm25_b = 0.4f;
  // Documents embedded by a model (dimension then comes from it); see EmbeddingSettings.
  std::optional<EmbeddingSettings> embedding;
  // The collection's own metadata (what Chroma calls a collection's metadata): a JSON object
  // of strings, finite numbers and booleans, at most 64 KiB as JSON, kept in config.json. The
  // only setting that can change after create: Collection::SetMetadata.
  nlohmann::json metadata = nlohmann::json::object();
};

struct Point {
  std::string id;
  std::vector<float> vector;
  std::optional<std::string> document;
  nlohmann::json metadata = nlohmann::json::object();
};

// A batch of points as columns borrowed from the caller for the duration of one
// Collection::UpsertColumns call (e.g. a numpy matrix and Python strings, without building a
// Point per row). Row i is the point ids[i].
struct PointColumns {
  std::span<const std::string_view> ids;
  // Row-major, ids.size() x dimension floats; nullptr: no vectors (a text-only collection, or
  // one with an embedding model, which then embeds every row's document).
  const float* vectors = nullptr;
  size_t dimension = 0;  // the row length of `vectors`
  // Empty, or one per id (nullopt: no document).
  std::span<const std::optional<std::string_view>> documents;
  // Empty (every point's metadata is {}), or one JSON object per id.
  std::span<const nlohmann::json> metadata;
};

// The statistics BM25 scores with (docs/analyzers.md), for a query text: the number of
// documents in the keyword index, the sum of their lengths in token positions (the average
// document length is total_length / documents), and per distinct analysed query term the
// number of documents holding it. Statistics of collections holding disjoint parts of one
// collection (a cluster's shards) add up, field by field, to the whole's.
struct TextStats {
  uint64_t documents = 0;
  uint64_t total_length = 0;
  std::map<std::string, uint64_t> document_frequency;
};

struct QueryRequest {
  std::vector<float> vector;        // empty: no vector search
  // Keyword (BM25) search on a collection with a keyword index; on a collection with an
  // embedding model also semantic search (see `mode`).
  std::optional<std::string> text;
  QueryMode mode = QueryMode::kAuto;
  size_t k = 10;
  std::optional<nlohmann::json> filter;
  size_t ef = 0;  // 0: the collection's ef_search
  size_t nprobe = 0;  // ivf-* collections; 0: the collection's nprobe
  // Quantized collections: candidates re-ranked with exact distances from the full vectors
  // (unset: the collection's default).
  std::optional<size_t> rerank;
  bool include_document = false;
  bool include_metadata = false;
  bool include_vector = false;
  // With both vector and text: "rrf", "weighted" (min-max normalised scores, alpha weighting
  // the vector side) or "dbsf" (distribution-based). Empty: "rrf", except for a text searched
  // both ways on a collection with an embedding model, which is fused "weighted" with the
  // model's hybrid_alpha (EmbeddingSettings) unless the query gives an alpha.
  std::string fusion;
  std::optional<double> alpha;  // [0, 1]
  double rrf_k = 60;
  // Per-list weights (RRF, and weighted/DBSF when alpha is not given); non-negative.
  double vector_weight = 1.0;
  double text_weight = 1.0;
  bool explain = false;  // fill QueryHit::explain
  // Give up with DeadlineExceeded once this time has passed. Checked before the search
  // starts (after waiting for a writer), between segments and between the keyword and vector
  // halves of a hybrid query; a segment's own search is not interrupted.
  std::optional<std::chrono::steady_clock::time_point> deadline;
  // BM25 statistics to score the keyword side with instead of the collection's own: a
  // collection holding one part of a larger one (a cluster's shard), given the whole's (its
  // parts' Collection::TextStatistics added up), scores each of its documents exactly as the
  // whole would. A term they do not list, or list with fewer documents than this collection
  // holds, counts with this collection's own number.
  std::optional<TextStats> text_stats;
};

struct QueryHit {
  std::string id;
  // Vector-only queries: a distance, smaller is closer (squared L2, 1 - dot, 1 - cosine
  // similarity). Text-only queries: the BM25 score, larger is better. Hybrid queries: the
  // fused score, larger is better.
  float score = 0;
  std::optional<std::string> document;
  std::optional<nlohmann::json> metadata;
  std::optional<std::vector<float>> vector;
  // With QueryRequest::explain: {"mode", "bm25", "matched_terms", "text_rank",
  // "vector_distance", "vector_rank", "fused_score", "fusion", "embedded_query"} — the parts
  // that apply ("embedded_query": the vector side is the query text's embedding).
  std::optional<nlohmann::json> explain;
};

// A collection's vital signs (for monitoring): sizes now, and activity counters since open.
// The two ranked lists a keyword or hybrid query fuses (Collection::SearchSides), each hit with
// the fields the query includes and, with explain, {"matched_terms": [...]} (the query's terms
// its document holds).
struct QuerySides {
  std::vector<QueryHit> vector;  // score = distance, ascending; empty for a keyword-only query
  std::vector<QueryHit> text;    // score = BM25, descending
};

// Fuses the sides of `request` as Collection::Query fuses them (same hits, scores and explain),
// for sides searched separately in several collections holding disjoint parts of one (a
// cluster's shards, each given the whole's text_stats): `sides` may be their lists
// concatenated. Each list is ordered (vector: distance ascending, text: BM25 descending; equal
// scores by id) and cut to the depth one collection searches before fusing. Equal scores rank
// by id here and by insertion order in one collection, so the two agree exactly when ties
// are absent or the points were inserted in id order. Errors: InvalidArgument for bad fusion
// settings (as Query). Thread-safe (a pure function).
Result<std::vector<QueryHit>> FuseSides(const QueryRequest& request, QuerySides sides);

struct CollectionStats {
  size_t points = 0;           // live points
  size_t memory_bytes = 0;     // as MemoryUsage()
  size_t disk_bytes = 0;       // the collection directory's files
  size_t segments = 0;         // vector segments: sealed, being built and the mutable one
  size_t unindexed_points = 0; // points in mutable or sealing segments (answered by exact scan)
  size_t deleted_pending = 0;  // deleted vectors still held by sealed segments until a merge
  uint64_t wal_bytes = 0;      // size of the current log
  uint64_t wal_records = 0;    // records appended since open
  uint64_t checkpoints = 0;    // since open
  uint64_t segments_sealed = 0;  // since open: mutable segments indexed in the background
  uint64_t segments_merged = 0;  // since open: merges/compactions of sealed segments
  uint64_t index_errors = 0;     // since open: failed background builds/merges (each is retried)
  std::string last_index_error;  // the last one's message; empty if none failed
  uint64_t write_stalls = 0;     // since open: writes that waited for the indexer to catch up
};

struct ScrollPage {
  std::vector<Point> points;            // in id order
  std::optional<std::string> next;      // pass as `after` for the next page; absent at the end
};

enum class Durability {
  kSync,     // fsync the log before a write returns (default): an acknowledged write survives a crash
  kRelaxed,  // leave flushing to the OS: much faster bulk loads; a crash may lose recent writes
             // (never half a batch, never corrupt the database)
};

struct DatabaseOptions {
  Durability durability = Durability::kSync;
  bool create_if_missing = true;
  // The log is folded into a new checkpoint once it grows past this many bytes.
  uint64_t checkpoint_log_bytes = 64ull << 20;
  // File-system seam for tests (fault injection); nullptr: the real file system.
  storage::Env* env = nullptr;
  // Threads each collection's background indexer uses to build and merge segments' graphs
  // (HNSW and hnsw-sq8). 0: one per hardware thread. The indexer runs beside queries and
  // writes, so on a busy server fewer leave them more of the machine.
  size_t index_threads = 0;
};

// Collection names (and the server's tenant, database, snapshot and key-id names): 1 to 64
// characters of A-Z a-z 0-9 _ - (safe as a directory name, no dots, no separators).
inline bool IsValidName(std::string_view name) {
  if (name.empty() || name.size() > 64) return false;
  for (char c : name) {
    const bool ok = (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '_' || c == '-';
    if (!ok) return false;
  }
  return true;
}

// Checks one point against a collection's dimension and metric: an id of 1 to 1024 bytes of
// UTF-8 without control characters; a vector of the right dimension with finite values whose
// squared length is at most 1e37 (so every distance stays finite in float32) and, for cosine,
// a length of at least 1e-30; metadata an object of strings, numbers, booleans or arrays of
// these. The message names the field ("vector value NaN at dimension 3").
Status ValidatePoint(const Point& point, size_t dimension, Metric metric = Metric::kL2);
// As above for a collection's settings: with an embedding model, a point may leave the vector
// out if it has a document (which the model embeds at upsert); a point with neither is refused.
Status ValidatePoint(const Point& point, const CollectionConfig& config);

class Collection {
 public:
  virtual ~Collection() = default;
  // The collection's settings, as a copy (its metadata may change meanwhile: SetMetadata).
  virtual CollectionConfig config() const = 0;
  // Replaces the collection's metadata (CollectionConfig::metadata, same rules as at create:
  // InvalidArgument naming the key). Durable when it returns: config.json is rewritten with a
  // crash-safe whole-file write (a crash leaves the old metadata or the new, never a mix), and
  // snapshots taken afterwards carry it.
  virtual Status SetMetadata(const nlohmann::json& metadata) = 0;

  // Inserts or replaces points. All-or-nothing: bad input (empty or duplicate id in the batch,
  // wrong dimension, NaN/Inf, metadata that is not an object of allowed values) is an
  // InvalidArgument naming the point's position and field, and nothing is applied.
  // Returns the number of points written.
  virtual Result<size_t> Upsert(std::span<const Point> points) = 0;
  // Upsert of the same points given as columns (PointColumns), read in place: the same checks
  // (the whole batch before anything is logged; also columns of the wrong length or row
  // length), the same log record and the same result as Upsert of the equivalent Points,
  // without copying the rows into Points first. The columns are not used after the call.
  virtual Result<size_t> UpsertColumns(const PointColumns& columns) = 0;
  // Points found among `ids` (absent ids are skipped), in the order asked.
  virtual Result<std::vector<Point>> Get(std::span<const std::string> ids,
                                         bool include_vector = true) const = 0;
  // Deletes the given ids; returns how many existed.
  virtual Result<size_t> Delete(std::span<const std::string> ids) = 0;
  virtual Result<size_t> DeleteByFilter(const nlohmann::json& filter) = 0;
  // Replaces (merge = false) or merges (merge = true, top-level keys) a point's metadata.
  // NotFound if the id is absent.
  virtual Status UpdateMetadata(const std::string& id, const nlohmann::json& metadata,
                                bool merge) = 0;
  virtual Result<size_t> Count(const std::optional<nlohmann::json>& filter = std::nullopt) const = 0;
  // Up to `limit` points with ids greater than `after` (all when empty), in id order.
  virtual Result<ScrollPage> Scroll(const std::string& after, size_t limit,
                                    const std::optional<nlohmann::json>& filter = std::nullopt,
                                    bool include_vector = false) const = 0;
  // k nearest points (ascending score) among those passing the filter.
  virtual Result<std::vector<QueryHit>> Query(const QueryRequest& request) const = 0;
  // The BM25 statistics of this collection's keyword index for `text` (TextStats).
  // Errors: InvalidArgument for a collection without a keyword index, an empty text, invalid
  // UTF-8 or a text without searchable terms (as Query).
  virtual Result<TextStats> TextStatistics(std::string_view text) const = 0;
  // A keyword or hybrid query's two sides before fusion (QuerySides; FuseSides fuses them),
  // each as long as the query searches it (k for a keyword-only query, more for hybrid).
  // Same checks as Query; also InvalidArgument for a query without a keyword side (no text,
  // mode semantic) and on a collection with an embedding model (whose queries may embed).
  virtual Result<QuerySides> SearchSides(const QueryRequest& request) const = 0;
  // Folds the log into a new checkpoint (also done automatically); frees the space of
  // deleted and replaced points on disk.
  virtual Status Checkpoint() = 0;
  // Writes a consistent copy of the collection to `dir` (which must not exist) while writes
  // continue (they pause only for the moment the files are linked).
  virtual Status CreateSnapshot(const std::string& dir) = 0;
  // Bytes of memory the collection holds (indexes, points, metadata).
  virtual size_t MemoryUsage() const = 0;
  virtual CollectionStats Stats() const = 0;
  // Seals the mutable segment and waits until background indexing and merging are done:
  // afterwards every point is in an indexed segment and deleted points' space is reclaimed.
  // With merge_all, also merges every sealed segment into one (the fastest queries; costs a
  // merge of the whole collection).
  virtual Status Optimize(bool merge_all = false) = 0;
};

class Database {
 public:
  // Opens (and with create_if_missing, creates) the data directory. One process owns a
  // directory at a time: a second opener gets FailedPrecondition naming the lock file. A
  // directory that is neither empty nor a database (no collections/ folder) is refused with
  // FailedPrecondition, and nothing is written into it.
  // A collection whose files are damaged (a metadata file, checkpoint, log or segment that
  // fails its checks) is not served and not touched: GetCollection returns the Corruption
  // naming the file, BrokenCollections lists it, CreateCollection refuses its name, and only
  // DropCollection removes it.
  static Result<std::unique_ptr<Database>> Open(const std::string& dir,
                                                const DatabaseOptions& options = {});
  // Closes every collection (handles still held then fail, see below) and releases the
  // directory's lock.
  virtual ~Database() = default;

  // Errors: InvalidArgument (bad name, dimension 0 or > 65536, bad parameters),
  // AlreadyExists.
  //
  // Handles: a collection is shared by the Database and every caller that holds it; a handle
  // stays a valid object for as long as it is held, and it only ever reaches its own
  // collection, never a later one of the same name (created, or restored from a snapshot).
  // Once the collection is dropped, every call through an old handle fails with NotFound
  // "collection 'NAME' was dropped"; once the Database is destroyed, with FailedPrecondition
  // "collection 'NAME' is closed: its Database was closed". Calls already running then finish
  // as usual (a drop waits for a write or checkpoint in progress, never for reads), except an
  // Optimize waiting for the indexer, which gets that error. config(), Stats() and
  // MemoryUsage() keep answering from memory (Stats with disk_bytes and wal_bytes 0). The
  // collection's memory is freed with the last handle.
  virtual Result<std::shared_ptr<Collection>> CreateCollection(const CollectionConfig& config) = 0;
  virtual Result<std::shared_ptr<Collection>> GetCollection(const std::string& name) = 0;
  virtual std::vector<CollectionConfig> ListCollections() const = 0;
  // Collections found on disk that could not be opened, by name, with the reason.
  virtual std::map<std::string, Status> BrokenCollections() const = 0;
  // Deletes the collection and its files (also a broken one); handles to it fail from then on
  // (above). NotFound if absent. Crash-safe: the directory is renamed to a hidden name before
  // anything is removed (what a crash leaves of it is removed at the next Open), so a crash
  // leaves the whole collection or nothing of it.
  virtual Status DropCollection(const std::string& name) = 0;
  // Creates collection `name` (which must be free: AlreadyExists otherwise) from a snapshot
  // directory written by CreateSnapshot.
  virtual Result<std::shared_ptr<Collection>> RestoreSnapshot(const std::string& snapshot_dir,
                                                              const std::string& name) = 0;
};

}  // namespace sextant
