// `sextant demo`, part one: documents in, meaning out. The built-in embedding model through the
// public API only: the classic four sentences and a question that shares no word with its
// answer, then a real corpus (BEIR SciFact from ../shared when present, else demo/ of this
// repository) searched by meaning, by keywords and both, side by side, with nDCG@10 per mode.
#include <unistd.h>

#include <chrono>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <map>
#include <set>
#include <string>
#include <vector>

#include "commands.h"
#include "common/json.h"
#include "demo.h"
#include "sextant/database.h"
#include "text/ir_metrics.h"

namespace sextant::cli {
namespace {

using nlohmann::json;

struct Corpus {
  std::string name;
  std::vector<std::pair<std::string, std::string>> docs;  // id, title + " " + text
  std::map<std::string, std::string> titles;
  std::map<std::string, std::string> queries;             // id -> text
  text::Qrels qrels;
};

Result<std::vector<json>> ReadJsonLines(const std::string& path) {
  std::ifstream in(path);
  if (!in) return Status::NotFound("cannot open " + path);
  std::vector<json> out;
  std::string line;
  for (size_t n = 1; std::getline(in, line); ++n) {
    if (line.find_first_not_of(" \t\r") == std::string::npos) continue;
    auto j = ParseJson(line);
    if (!j.ok() || !j->is_object() || !j->contains("_id") || !(*j)["_id"].is_string()) {
      return Status::InvalidArgument(path + " line " + std::to_string(n) + ": expected a JSON object with \"_id\"");
    }
    out.push_back(std::move(j).value());
  }
  return out;
}

Result<Corpus> LoadCorpus(const std::string& dir, const std::string& qrels_file, const std::string& name) {
  Corpus c;
  c.name = name;
  SEXTANT_ASSIGN_OR_RETURN(std::vector<json> docs, ReadJsonLines(dir + "/corpus.jsonl"));
  for (const json& d : docs) {
    const std::string title = d.value("title", "");
    const std::string body = d.value("text", "");
    c.docs.push_back({d["_id"].get<std::string>(), title.empty() ? body : title + " " + body});
    c.titles[d["_id"].get<std::string>()] = title.empty() ? body : title;
  }
  SEXTANT_ASSIGN_OR_RETURN(std::vector<json> queries, ReadJsonLines(dir + "/queries.jsonl"));
  for (const json& q : queries) c.queries[q["_id"].get<std::string>()] = q.value("text", "");
  SEXTANT_ASSIGN_OR_RETURN(c.qrels, text::ReadQrels(qrels_file));
  return c;
}

// The first `width` characters of `s` (UTF-8 aware), padded with spaces to `width` columns.
std::string Column(const std::string& s, size_t width) {
  std::string out;
  size_t cols = 0;
  for (size_t i = 0; i < s.size() && cols < width;) {
    const unsigned char c = static_cast<unsigned char>(s[i]);
    const size_t len = c < 0x80 ? 1 : (c >> 5) == 6 ? 2 : (c >> 4) == 14 ? 3 : 4;
    if (cols + 1 == width && i + len < s.size()) {
      out += "…";
      ++cols;
      break;
    }
    out.append(s, i, len);
    i += len;
    ++cols;
  }
  out.append(width - cols, ' ');
  return out;
}

Status ClassicExample(Database& db) {
  std::printf("\n== 1. Documents in, meaning out ==\n\n");
  CollectionConfig c;
  c.name = "classic";
  c.metric = Metric::kCosine;
  c.embedding = EmbeddingSettings{};  // the built-in potion-base-4M: no download, no network
  SEXTANT_ASSIGN_OR_RETURN(std::shared_ptr<Collection> col, db.CreateCollection(c));
  const std::vector<std::string> sentences = {"The dog barked at the mailman.", "The feline is sleeping on the sofa.",
                                              "I love eating fresh apples.", "Javascript is a programming language."};
  std::vector<Point> points;
  for (size_t i = 0; i < sentences.size(); ++i) {
    Point p;
    p.id = std::to_string(i + 1);
    p.document = sentences[i];  // no vector: the collection's model embeds the document
    points.push_back(std::move(p));
    std::printf("  upsert {\"id\": \"%zu\", \"document\": \"%s\"}\n", i + 1, sentences[i].c_str());
  }
  SEXTANT_RETURN_IF_ERROR(col->Upsert(points).status());
  std::printf("\n  (collection \"classic\": model %s, %zu dimensions, embedded on upsert)\n\n",
              c.embedding->model.c_str(), col->config().dimension);
  QueryRequest q;
  q.text = "Where is the cat?";
  q.k = 4;
  q.include_document = true;
  SEXTANT_ASSIGN_OR_RETURN(std::vector<QueryHit> hits, col->Query(q));
  std::printf("  query {\"text\": \"%s\"}  (no word in common with the answer)\n", q.text->c_str());
  for (size_t i = 0; i < hits.size(); ++i) {
    std::printf("    %zu. similarity %.3f  %s\n", i + 1, 1.0 - hits[i].score, hits[i].document->c_str());
  }
  return Status::OK();
}

Status SideBySide(Database& db, const Corpus& corpus, const std::vector<std::string>& show) {
  std::printf("\n== 2. Semantic, keyword and hybrid search on %s ==\n\n", corpus.name.c_str());
  CollectionConfig c;
  c.name = "corpus";
  c.metric = Metric::kCosine;
  c.embedding = EmbeddingSettings{};
  c.text = true;  // a keyword index (BM25) beside the vectors: text queries are then hybrid
  SEXTANT_ASSIGN_OR_RETURN(std::shared_ptr<Collection> col, db.CreateCollection(c));
  auto t0 = Clock::now();
  std::vector<Point> batch;
  size_t done = 0;
  for (const auto& [id, text] : corpus.docs) {
    Point p;
    p.id = id;
    p.document = text;
    batch.push_back(std::move(p));
    if (batch.size() == 500 || done + batch.size() == corpus.docs.size()) {
      SEXTANT_RETURN_IF_ERROR(col->Upsert(batch).status());
      done += batch.size();
      batch.clear();
      std::fprintf(stderr, "  embedded and indexed %zu/%zu documents\r", done, corpus.docs.size());
    }
  }
  std::fprintf(stderr, "\n");
  std::printf("  %zu documents (title + text) embedded, BM25-indexed and stored in %.1f s\n\n", corpus.docs.size(),
              Seconds(t0));

  const std::vector<std::pair<QueryMode, const char*>> modes = {
      {QueryMode::kSemantic, "semantic"}, {QueryMode::kKeyword, "keyword"}, {QueryMode::kHybrid, "hybrid"}};
  constexpr size_t kWidth = 34;
  for (const std::string& qid : show) {
    auto qt = corpus.queries.find(qid);
    if (qt == corpus.queries.end()) continue;
    std::printf("  query: \"%s\"\n  ", qt->second.c_str());
    for (const auto& [mode, name] : modes) std::printf("   %s", Column(name, kWidth).c_str());
    std::printf("\n");
    std::vector<std::vector<QueryHit>> results;
    for (const auto& [mode, name] : modes) {
      QueryRequest q;
      q.text = qt->second;
      q.mode = mode;
      q.k = 3;
      auto hits = col->Query(q);
      results.push_back(hits.ok() ? std::move(hits).value() : std::vector<QueryHit>{});
    }
    const auto rel = corpus.qrels.find(qid);
    for (size_t rank = 0; rank < 3; ++rank) {
      std::printf("  ");
      for (const auto& hits : results) {
        if (rank >= hits.size()) {
          std::printf("   %s", Column("", kWidth).c_str());
          continue;
        }
        const bool relevant = rel != corpus.qrels.end() && rel->second.count(hits[rank].id) > 0;
        const auto title = corpus.titles.find(hits[rank].id);
        std::printf(" %s %s", relevant ? "✓" : " ",
                    Column(std::to_string(rank + 1) + ". " + (title == corpus.titles.end() ? hits[rank].id : title->second),
                           kWidth)
                        .c_str());
      }
      std::printf("\n");
    }
    std::printf("\n");
  }

  std::printf("  nDCG@10 over the %zu questions with judgements (✓ above: judged relevant):\n", corpus.qrels.size());
  for (const auto& [mode, name] : modes) {
    double ndcg = 0;
    size_t n = 0;
    for (const auto& [qid, rel] : corpus.qrels) {
      auto qt = corpus.queries.find(qid);
      if (qt == corpus.queries.end()) continue;
      QueryRequest q;
      q.text = qt->second;
      q.mode = mode;
      q.k = 10;
      auto hits = col->Query(q);
      std::vector<std::string> ranked;
      if (hits.ok()) {
        for (const auto& h : *hits) ranked.push_back(h.id);
      }
      ndcg += text::NdcgAt(ranked, rel, 10);
      ++n;
    }
    std::printf("    %-9s %.4f\n", name, n ? ndcg / n : 0.0);
  }
  return Status::OK();
}

}  // namespace

Status RunTextTour(const std::string& scifact_dir) {
  const std::string dir = (std::filesystem::temp_directory_path() /
                           ("sextant-demo-" + std::to_string(::getpid())))
                              .string();
  std::filesystem::remove_all(dir);
  Status st = [&]() -> Status {
    SEXTANT_ASSIGN_OR_RETURN(std::unique_ptr<Database> db, Database::Open(dir));
    SEXTANT_RETURN_IF_ERROR(ClassicExample(*db));
    Corpus corpus;
    std::vector<std::string> show;
    if (std::filesystem::exists(scifact_dir + "/corpus.jsonl")) {
      SEXTANT_ASSIGN_OR_RETURN(corpus, LoadCorpus(scifact_dir, scifact_dir + "/qrels/test.tsv",
                                                  "BEIR SciFact (scientific claims vs 5,183 abstracts)"));
      show = {"540", "148", "659"};  // one found by meaning only, two by keywords; hybrid keeps all three
    } else {
      std::printf("\n(%s not found: searching the small corpus this repository ships in demo/)\n",
                  scifact_dir.c_str());
      const std::string demo = SEXTANT_DEMO_DIR;
      SEXTANT_ASSIGN_OR_RETURN(corpus, LoadCorpus(demo, demo + "/qrels.tsv", "the demo corpus (30 how-to documents)"));
      show = {"q1", "q2", "q3"};
    }
    return SideBySide(*db, corpus, show);
  }();
  std::filesystem::remove_all(dir);
  return st;
}

}  // namespace sextant::cli
