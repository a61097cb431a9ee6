// Database commands of the `sextant` tool: collection create|list|drop, upsert, query, get,
// delete, count, scroll, snapshot create|restore. Input and output are JSON lines.
#include <chrono>
#include <cstdio>
#include <fstream>
#include <map>
#include <iostream>
#include <string>
#include <unordered_map>

#include "args.h"
#include "codec/collection_json.h"
#include "codec/point_json.h"
#include "codec/query_json.h"
#include "common/json.h"
#include "commands.h"
#include "sextant/database.h"
#include "text/ir_metrics.h"

namespace sextant::cli {
namespace {

using nlohmann::json;

void PrintJson(const json& j) {
  const std::string s = j.dump(-1, ' ', false, json::error_handler_t::replace);
  std::fwrite(s.data(), 1, s.size(), stdout);
  std::fputc('\n', stdout);
  std::fflush(stdout);
}

// Splits "a,b,c" (empty pieces dropped).
std::vector<std::string> SplitCommas(const std::string& s) {
  std::vector<std::string> out;
  size_t start = 0;
  while (start <= s.size()) {
    const size_t comma = std::min(s.find(',', start), s.size());
    if (comma > start) out.push_back(s.substr(start, comma - start));
    start = comma + 1;
  }
  return out;
}

Result<std::unique_ptr<Database>> OpenDb(const Args& args, bool create) {
  SEXTANT_ASSIGN_OR_RETURN(std::string dir, args.Required("db"));
  DatabaseOptions opt;
  opt.create_if_missing = create;
  if (args.Has("relaxed")) opt.durability = Durability::kRelaxed;
  return Database::Open(dir, opt);
}

Result<std::string> OneName(const Args& args, const char* what = "collection name") {
  if (args.positional().size() != 1) {
    return Status::InvalidArgument(std::string("expected exactly one ") + what);
  }
  return args.positional()[0];
}

Result<json> ParseJsonFlag(const Args& args, const std::string& flag) {
  auto j = ParseJson(args.Get(flag));
  if (!j.ok()) return j.status().WithContext("--" + flag);
  return j;
}

json ConfigJson(const CollectionConfig& c) { return codec::CollectionConfigToJson(c, codec::ConfigForm::kReply); }

// `collection create` flags -> the settings' JSON form (a server PUT body), read by the same
// parser with the same limits. Flags only say what they set; the rest keeps the defaults.
Result<CollectionConfig> ConfigFromFlags(const Args& args) {
  SEXTANT_ASSIGN_OR_RETURN(std::string name, OneName(args));
  json body = json::object();
  if (args.Has("embedding")) {
    // --embedding NAME|DIR, and for an OpenAI-compatible provider --embedding-url and friends.
    json e = {{"model", args.Get("embedding")}};
    if (args.Has("embedding-url")) e["url"] = args.Get("embedding-url");
    if (args.Has("embedding-key-env")) e["api_key_env"] = args.Get("embedding-key-env");
    if (args.Has("embedding-dimensions")) {
      SEXTANT_ASSIGN_OR_RETURN(int64_t v, args.GetPositiveInt("embedding-dimensions", 1));
      e["dimensions"] = v;
    }
    body["embedding"] = std::move(e);
  } else {
    for (const char* f : {"embedding-url", "embedding-key-env", "embedding-dimensions"}) {
      if (args.Has(f)) return Status::InvalidArgument(std::string("--") + f + " needs --embedding MODEL");
    }
  }
  if (!args.Has("embedding") || args.Has("dim")) {
    SEXTANT_ASSIGN_OR_RETURN(std::string dim, args.Required("dim"));
    char* end = nullptr;
    const long long d = std::strtoll(dim.c_str(), &end, 10);
    if (dim.empty() || *end != '\0' || d < 0) {
      return Status::InvalidArgument("--dim must be a non-negative integer, got '" + dim + "'");
    }
    body["dimension"] = d;
  }
  if (args.Has("text")) body["text"] = true;
  if (args.Has("analyzer")) {
    if (!args.Has("text")) return Status::InvalidArgument("--analyzer needs --text");
    body["analyzer"] = args.Get("analyzer");
  }
  for (auto [flag, key] : {std::pair{"k1", "k1"}, std::pair{"b", "b"}}) {
    if (!args.Has(flag)) continue;
    const std::string v = args.Get(flag);
    char* e = nullptr;
    const double x = std::strtod(v.c_str(), &e);
    if (v.empty() || *e != '\0') return Status::InvalidArgument(std::string("--") + flag + " must be a number");
    body["bm25"][key] = x;
  }
  if (args.Has("metric")) body["metric"] = args.Get("metric");
  if (args.Has("index")) body["index"] = args.Get("index");
  // Integer flags: --flag -> body[section][key].
  struct IntFlag {
    const char* flag;
    const char* section;
    const char* key;
  };
  static constexpr IntFlag kIntFlags[] = {
      {"M", "hnsw", "M"},           {"ef-construction", "hnsw", "ef_construction"}, {"ef", "hnsw", "ef_search"},
      {"nlist", "quantization", "nlist"}, {"nprobe", "quantization", "nprobe"},   {"m", "quantization", "m"},
      {"nbits", "quantization", "nbits"}, {"rerank", "quantization", "rerank"},
      {"seal-points", "segments", "seal_points"}};
  for (const IntFlag& f : kIntFlags) {
    if (!args.Has(f.flag)) continue;
    SEXTANT_ASSIGN_OR_RETURN(int64_t v, args.GetPositiveInt(f.flag, 1));
    body[f.section][f.key] = v;
  }
  SEXTANT_ASSIGN_OR_RETURN(CollectionConfig c, codec::CollectionSettingsFromJson(body));
  c.name = name;
  return c;
}

Status CollectionCmd(const std::vector<std::string>& argv) {
  if (argv.empty()) return Status::InvalidArgument("expected: collection create|list|drop ...");
  const std::string sub = argv[0];
  SEXTANT_ASSIGN_OR_RETURN(
      Args args, Args::Parse({argv.begin() + 1, argv.end()},
                             {"db", "dim", "metric", "index", "M", "ef-construction", "ef", "analyzer",
                              "k1", "b", "seal-points", "nlist", "nprobe", "m", "nbits", "rerank", "embedding",
                              "embedding-url", "embedding-key-env", "embedding-dimensions"},
                             {"text"}));
  if (sub == "create") {
    SEXTANT_ASSIGN_OR_RETURN(CollectionConfig c, ConfigFromFlags(args));
    SEXTANT_ASSIGN_OR_RETURN(auto db, OpenDb(args, true));
    SEXTANT_ASSIGN_OR_RETURN(std::shared_ptr<Collection> col, db->CreateCollection(c));
    PrintJson({{"created", ConfigJson(col->config())}});
    return Status::OK();
  }
  if (sub == "list") {
    SEXTANT_ASSIGN_OR_RETURN(auto db, OpenDb(args, false));
    for (const auto& c : db->ListCollections()) {
      json j = ConfigJson(c);
      auto col = db->GetCollection(c.name);
      if (col.ok()) {
        const CollectionStats st = (*col)->Stats();
        j["count"] = st.points;
        j["stats"] = codec::StatsToJson(st);
      }
      PrintJson(j);
    }
    // Found on disk but not served: damaged files (see docs/formats/collection.md).
    for (const auto& [name, why] : db->BrokenCollections()) {
      PrintJson({{"name", name}, {"broken", why.ToString()}});
    }
    return Status::OK();
  }
  if (sub == "drop") {
    SEXTANT_ASSIGN_OR_RETURN(std::string name, OneName(args));
    SEXTANT_ASSIGN_OR_RETURN(auto db, OpenDb(args, false));
    SEXTANT_RETURN_IF_ERROR(db->DropCollection(name));
    PrintJson({{"dropped", name}});
    return Status::OK();
  }
  return Status::InvalidArgument("unknown subcommand 'collection " + sub +
                                 "' (expected create, list or drop)");
}

Result<std::shared_ptr<Collection>> OpenCollection(const Args& args, std::unique_ptr<Database>& db) {
  SEXTANT_ASSIGN_OR_RETURN(std::string name, OneName(args));
  SEXTANT_ASSIGN_OR_RETURN(db, OpenDb(args, false));
  return db->GetCollection(name);
}

Status UpsertCmd(const std::vector<std::string>& argv) {
  SEXTANT_ASSIGN_OR_RETURN(Args args, Args::Parse(argv, {"db", "batch"}, {"relaxed", "no-index"}));
  SEXTANT_ASSIGN_OR_RETURN(int64_t batch_size, args.GetPositiveInt("batch", 1000));
  std::unique_ptr<Database> db;
  SEXTANT_ASSIGN_OR_RETURN(std::shared_ptr<Collection> col, OpenCollection(args, db));
  std::vector<Point> batch;
  std::unordered_map<std::string, size_t> batch_ids;  // id -> line, to name duplicates
  size_t acked = 0, line_no = 0, first_line = 1;
  std::string line;
  auto flush = [&]() -> Status {
    if (batch.empty()) return Status::OK();
    auto n = col->Upsert(batch);
    if (!n.ok()) {
      // Name the input line: the message starts "point i ..." within this batch.
      return n.status().WithContext("lines " + std::to_string(first_line) + "-" +
                                    std::to_string(line_no) + " (batch not applied)");
    }
    acked += *n;
    batch.clear();
    batch_ids.clear();
    first_line = line_no + 1;
    PrintJson({{"acked", acked}});
    return Status::OK();
  };
  while (std::getline(std::cin, line)) {
    ++line_no;
    if (line.find_first_not_of(" \t\r") == std::string::npos) continue;
    auto j = ParseJson(line);
    if (!j.ok()) {
      return j.status().WithContext("line " + std::to_string(line_no) + " (batch not applied)");
    }
    auto p = codec::PointFromJson(*j);
    if (!p.ok()) {
      return p.status().WithContext("line " + std::to_string(line_no) + " (batch not applied)");
    }
    Status valid = ValidatePoint(*p, col->config());
    if (!valid.ok()) {
      return valid.WithContext("line " + std::to_string(line_no) + " (batch not applied)");
    }
    if (auto [it, fresh] = batch_ids.emplace(p->id, line_no); !fresh) {
      return Status::InvalidArgument("line " + std::to_string(line_no) + " (batch not applied): id '" +
                                     p->id + "' appears twice in the batch (also on line " +
                                     std::to_string(it->second) + ")");
    }
    batch.push_back(std::move(p).value());
    if (batch.size() >= static_cast<size_t>(batch_size)) SEXTANT_RETURN_IF_ERROR(flush());
  }
  SEXTANT_RETURN_IF_ERROR(flush());
  if (acked == 0) PrintJson({{"acked", 0}});
  // Everything is durable already; index what is left before exiting, so that the next
  // process finds sealed segments instead of rebuilding them.
  if (!args.Has("no-index")) {
    const CollectionStats st = col->Stats();
    if (st.unindexed_points >= 10000 && col->config().index != IndexType::kFlat) {  // a long wait
      std::fprintf(stderr, "sextant upsert: indexing %zu points...\n", st.unindexed_points);
    }
    // The points are acknowledged and durable: an indexing failure is not a failed upsert.
    // The background indexer retries it (in this process until exit, and at the next open).
    if (Status indexed = col->Optimize(); !indexed.ok()) {
      std::fprintf(stderr, "sextant upsert: warning: the points are stored, but indexing them failed (%s); "
                   "it is retried by the next process that opens the collection\n",
                   indexed.ToString().c_str());
    }
  }
  return Status::OK();
}

Status QueryCmd(const std::vector<std::string>& argv) {
  SEXTANT_ASSIGN_OR_RETURN(Args args, Args::Parse(argv, {"db", "k", "ef", "nprobe", "rerank", "include"}, {}));
  // The flags are the defaults of the query lines, which are read by the server's parser.
  codec::QueryDefaults defaults;
  SEXTANT_ASSIGN_OR_RETURN(int64_t k, args.GetPositiveInt("k", 10));
  SEXTANT_ASSIGN_OR_RETURN(int64_t nprobe, args.GetPositiveInt("nprobe", 0));
  SEXTANT_ASSIGN_OR_RETURN(int64_t ef, args.GetPositiveInt("ef", 0));
  defaults.k = static_cast<size_t>(k);
  defaults.nprobe = static_cast<size_t>(nprobe);
  defaults.ef = static_cast<size_t>(ef);
  if (args.Has("rerank")) {
    const std::string v = args.Get("rerank");
    char* end = nullptr;
    const long long r = std::strtoll(v.c_str(), &end, 10);
    if (v.empty() || *end != '\0' || r < 0) return Status::InvalidArgument("--rerank must be a non-negative integer");
    defaults.rerank = static_cast<size_t>(r);
  }
  for (const auto& f : SplitCommas(args.Get("include"))) {
    if (f != "document" && f != "metadata" && f != "vector") {
      return Status::InvalidArgument("--include: unknown field '" + f + "' (expected document, metadata, vector)");
    }
    defaults.include_document |= f == "document";
    defaults.include_metadata |= f == "metadata";
    defaults.include_vector |= f == "vector";
  }
  std::unique_ptr<Database> db;
  SEXTANT_ASSIGN_OR_RETURN(std::shared_ptr<Collection> col, OpenCollection(args, db));
  std::string line;
  size_t line_no = 0, failures = 0;
  while (std::getline(std::cin, line)) {
    ++line_no;
    if (line.find_first_not_of(" \t\r") == std::string::npos) continue;
    auto answer = [&]() -> Result<json> {
      SEXTANT_ASSIGN_OR_RETURN(json j, ParseJson(line));
      SEXTANT_ASSIGN_OR_RETURN(QueryRequest q, codec::QueryFromJson(j, defaults));
      SEXTANT_ASSIGN_OR_RETURN(auto hits, col->Query(q));
      json results = json::array();
      for (const auto& h : hits) results.push_back(codec::HitToJson(h));
      return json{{"results", results}};
    }();
    if (answer.ok()) {
      PrintJson(*answer);
    } else {
      ++failures;
      PrintError("query", "line " + std::to_string(line_no) + ": " + answer.status().message());
      PrintJson({{"error", {{"code", StatusCodeName(answer.status().code())},
                            {"message", "line " + std::to_string(line_no) + ": " +
                                            answer.status().message()}}}});
    }
  }
  if (failures > 0) {
    return Status::InvalidArgument(std::to_string(failures) + " of " + std::to_string(line_no) +
                                   " query lines failed");
  }
  return Status::OK();
}

Status GetCmd(const std::vector<std::string>& argv) {
  SEXTANT_ASSIGN_OR_RETURN(Args args, Args::Parse(argv, {"db", "ids"}, {"no-vector"}));
  SEXTANT_ASSIGN_OR_RETURN(std::string ids_flag, args.Required("ids"));
  std::unique_ptr<Database> db;
  SEXTANT_ASSIGN_OR_RETURN(std::shared_ptr<Collection> col, OpenCollection(args, db));
  const auto ids = SplitCommas(ids_flag);
  SEXTANT_ASSIGN_OR_RETURN(auto points, col->Get(ids, !args.Has("no-vector")));
  for (const auto& p : points) PrintJson(codec::PointToJson(p, !args.Has("no-vector")));
  return Status::OK();
}

Status DeleteCmd(const std::vector<std::string>& argv) {
  SEXTANT_ASSIGN_OR_RETURN(Args args, Args::Parse(argv, {"db", "ids", "filter"}, {}));
  if (args.Has("ids") == args.Has("filter")) {
    return Status::InvalidArgument("give exactly one of --ids or --filter");
  }
  std::unique_ptr<Database> db;
  SEXTANT_ASSIGN_OR_RETURN(std::shared_ptr<Collection> col, OpenCollection(args, db));
  size_t n;
  if (args.Has("ids")) {
    SEXTANT_ASSIGN_OR_RETURN(n, col->Delete(SplitCommas(args.Get("ids"))));
  } else {
    SEXTANT_ASSIGN_OR_RETURN(json f, ParseJsonFlag(args, "filter"));
    SEXTANT_ASSIGN_OR_RETURN(n, col->DeleteByFilter(f));
  }
  PrintJson({{"deleted", n}});
  return Status::OK();
}

Status CountCmd(const std::vector<std::string>& argv) {
  SEXTANT_ASSIGN_OR_RETURN(Args args, Args::Parse(argv, {"db", "filter"}, {}));
  std::unique_ptr<Database> db;
  SEXTANT_ASSIGN_OR_RETURN(std::shared_ptr<Collection> col, OpenCollection(args, db));
  std::optional<json> f;
  if (args.Has("filter")) {
    SEXTANT_ASSIGN_OR_RETURN(f, ParseJsonFlag(args, "filter"));
  }
  SEXTANT_ASSIGN_OR_RETURN(size_t n, col->Count(f));
  PrintJson({{"count", n}});
  return Status::OK();
}

Status ScrollCmd(const std::vector<std::string>& argv) {
  SEXTANT_ASSIGN_OR_RETURN(Args args, Args::Parse(argv, {"db", "limit", "after", "filter"}, {"vectors"}));
  SEXTANT_ASSIGN_OR_RETURN(int64_t limit, args.GetPositiveInt("limit", 100));
  std::unique_ptr<Database> db;
  SEXTANT_ASSIGN_OR_RETURN(std::shared_ptr<Collection> col, OpenCollection(args, db));
  std::optional<json> f;
  if (args.Has("filter")) {
    SEXTANT_ASSIGN_OR_RETURN(f, ParseJsonFlag(args, "filter"));
  }
  SEXTANT_ASSIGN_OR_RETURN(auto page, col->Scroll(args.Get("after"), limit, f, args.Has("vectors")));
  json points = json::array();
  for (const auto& p : page.points) points.push_back(codec::PointToJson(p, args.Has("vectors")));
  PrintJson({{"points", points}, {"next", page.next ? json(*page.next) : json()}});
  return Status::OK();
}

Status SnapshotCmd(const std::vector<std::string>& argv) {
  if (argv.empty()) return Status::InvalidArgument("expected: snapshot create|restore ...");
  const std::string sub = argv[0];
  SEXTANT_ASSIGN_OR_RETURN(Args args, Args::Parse({argv.begin() + 1, argv.end()}, {"db", "out", "from"}, {}));
  if (sub == "create") {
    SEXTANT_ASSIGN_OR_RETURN(std::string out, args.Required("out"));
    std::unique_ptr<Database> db;
    SEXTANT_ASSIGN_OR_RETURN(std::shared_ptr<Collection> col, OpenCollection(args, db));
    SEXTANT_RETURN_IF_ERROR(col->CreateSnapshot(out));
    PrintJson({{"snapshot", out}, {"collection", col->config().name}});
    return Status::OK();
  }
  if (sub == "restore") {
    SEXTANT_ASSIGN_OR_RETURN(std::string from, args.Required("from"));
    SEXTANT_ASSIGN_OR_RETURN(std::string name, OneName(args));
    SEXTANT_ASSIGN_OR_RETURN(auto db, OpenDb(args, true));
    SEXTANT_ASSIGN_OR_RETURN(std::shared_ptr<Collection> col, db->RestoreSnapshot(from, name));
    PrintJson({{"restored", name}, {"count", *col->Count()}});
    return Status::OK();
  }
  return Status::InvalidArgument("unknown subcommand 'snapshot " + sub +
                                 "' (expected create or restore)");
}

// `eval beir`: searches every query named in a BEIR qrels file by text and reports nDCG@10,
// recall@100 and mean latency. The collection's point ids must be the corpus ids.
Status EvalCmd(const std::vector<std::string>& argv) {
  if (argv.empty() || argv[0] != "beir") return Status::InvalidArgument("expected: eval beir ...");
  SEXTANT_ASSIGN_OR_RETURN(Args args, Args::Parse({argv.begin() + 1, argv.end()},
                                                  {"db", "queries", "qrels", "mode", "fusion", "alpha", "rrf-k",
                                                   "vector-weight", "text-weight", "ef"},
                                                  {}));
  // The query every line becomes: its text, and the search settings the flags give (the same
  // fields and rules as a query line's, through the one query parser).
  json base = json::object();
  if (args.Has("mode")) base["mode"] = args.Get("mode");
  if (args.Has("fusion")) base["fusion"] = args.Get("fusion");
  for (auto [flag, key] : {std::pair{"alpha", "alpha"}, std::pair{"rrf-k", "rrf_k"},
                           std::pair{"vector-weight", "vector_weight"}, std::pair{"text-weight", "text_weight"}}) {
    if (!args.Has(flag)) continue;
    const std::string v = args.Get(flag);
    char* e = nullptr;
    const double x = std::strtod(v.c_str(), &e);
    if (v.empty() || *e != '\0') return Status::InvalidArgument(std::string("--") + flag + " must be a number");
    base[key] = x;
  }
  if (args.Has("ef")) {
    SEXTANT_ASSIGN_OR_RETURN(int64_t ef, args.GetPositiveInt("ef", 1));
    base["ef"] = ef;
  }
  {  // Judged once here, not only with the first query: a bad --mode fails even with no query.
    json probe = base;
    probe["text"] = "";
    SEXTANT_RETURN_IF_ERROR(codec::QueryFromJson(probe).status());
  }
  SEXTANT_ASSIGN_OR_RETURN(std::string queries_path, args.Required("queries"));
  SEXTANT_ASSIGN_OR_RETURN(std::string qrels_path, args.Required("qrels"));
  SEXTANT_ASSIGN_OR_RETURN(text::Qrels qrels, text::ReadQrels(qrels_path));
  std::unique_ptr<Database> db;
  SEXTANT_ASSIGN_OR_RETURN(std::shared_ptr<Collection> col, OpenCollection(args, db));
  std::ifstream in(queries_path);
  if (!in) return Status::NotFound("cannot open " + queries_path);
  std::map<std::string, std::string> query_text;
  std::string line;
  for (size_t line_no = 1; std::getline(in, line); ++line_no) {
    if (line.find_first_not_of(" \t\r") == std::string::npos) continue;
    auto parsed = ParseJson(line);
    const json j = parsed.ok() ? std::move(parsed).value() : json();
    if (!j.is_object() || !j.contains("_id") || !j["_id"].is_string() ||
        !j.contains("text") || !j["text"].is_string()) {
      return Status::InvalidArgument(queries_path + " line " + std::to_string(line_no) +
                                     ": expected {\"_id\": ..., \"text\": ...}");
    }
    query_text[j["_id"].get<std::string>()] = j["text"].get<std::string>();
  }
  double ndcg = 0, recall = 0, seconds = 0;
  size_t n = 0;
  for (const auto& [qid, rel] : qrels) {
    auto it = query_text.find(qid);
    if (it == query_text.end()) return Status::InvalidArgument("query '" + qid + "' of the qrels is not in " + queries_path);
    json line_query = base;
    line_query["text"] = it->second;
    line_query["k"] = 100;
    auto parsed_query = codec::QueryFromJson(line_query);
    if (!parsed_query.ok()) return parsed_query.status();
    const QueryRequest& q = *parsed_query;
    const auto start = std::chrono::steady_clock::now();
    auto hits = col->Query(q);
    seconds += std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
    std::vector<std::string> ranked;
    if (hits.ok()) {
      for (const auto& h : *hits) ranked.push_back(h.id);
    } else if (hits.status().message().find("no searchable terms") == std::string::npos &&
               hits.status().message().find("its embedding is zero") == std::string::npos) {
      // (A query with no searchable term, or none the model knows, finds nothing: it counts.)
      return hits.status().WithContext("query '" + qid + "'");
    }
    ndcg += text::NdcgAt(ranked, rel, 10);
    recall += text::RecallAt(ranked, rel, 100);
    ++n;
  }
  json report = {{"ndcg@10", n ? ndcg / n : 0.0}, {"recall@100", n ? recall / n : 0.0},
                 {"ms_per_query", n ? 1000 * seconds / n : 0.0}, {"queries", n}};
  for (const auto& [key, value] : base.items()) report[key] = value;  // the settings measured
  PrintJson(report);
  return Status::OK();
}

}  // namespace

// Indexes the mutable segment and waits for background work; --merge-all merges every segment.
Status OptimizeCmd(const std::vector<std::string>& argv) {
  SEXTANT_ASSIGN_OR_RETURN(Args args, Args::Parse(argv, {"db"}, {"merge-all"}));
  std::unique_ptr<Database> db;
  SEXTANT_ASSIGN_OR_RETURN(std::shared_ptr<Collection> col, OpenCollection(args, db));
  std::fprintf(stderr, "sextant optimize: indexing%s...\n", args.Has("merge-all") ? " and merging all segments" : "");
  SEXTANT_RETURN_IF_ERROR(col->Optimize(args.Has("merge-all")));
  PrintJson(codec::StatsToJson(col->Stats()));
  return Status::OK();
}

int RunDbCommand(const std::string& cmd, const std::vector<std::string>& argv) {
  Status st;
  if (cmd == "collection") st = CollectionCmd(argv);
  else if (cmd == "upsert") st = UpsertCmd(argv);
  else if (cmd == "query") st = QueryCmd(argv);
  else if (cmd == "get") st = GetCmd(argv);
  else if (cmd == "delete") st = DeleteCmd(argv);
  else if (cmd == "count") st = CountCmd(argv);
  else if (cmd == "scroll") st = ScrollCmd(argv);
  else if (cmd == "snapshot") st = SnapshotCmd(argv);
  else if (cmd == "eval") st = EvalCmd(argv);
  else if (cmd == "optimize") st = OptimizeCmd(argv);
  else return -1;
  if (!st.ok()) {
    if (cmd != "query" || st.code() != StatusCode::kInvalidArgument ||
        st.message().find("query lines failed") == std::string::npos) {
      PrintError(cmd, st.message());
    }
    return st.code() == StatusCode::kInvalidArgument ? 2 : 1;
  }
  return 0;
}

}  // namespace sextant::cli
