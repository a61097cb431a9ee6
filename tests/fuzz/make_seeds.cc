// Writes seed inputs for the fuzz targets into DIR: small valid vector files and index files.
#include <cstdio>
#include <cstring>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "dataset/vector_file.h"
#include "engine/op_codec.h"
#include "index/hnsw_index.h"
#include "index/vector_index.h"
#include "storage/env.h"
#include "storage/log_writer.h"

int main(int argc, char** argv) {
  if (argc != 2) return 2;
  const std::string dir = argv[1];
  auto m = sextant::dataset::GenerateClustered(40, 6, 3, 0.2f, 1);
  std::vector<uint64_t> labels(40);
  for (size_t i = 0; i < 40; ++i) labels[i] = i;
  for (auto storage : {sextant::index::StorageType::kFloat32, sextant::index::StorageType::kUint8}) {
    sextant::index::HnswOptions opt;
    opt.M = 4;
    opt.storage = storage;
    auto ix = std::move(sextant::index::HnswIndex::Create(6, opt)).value();
    std::vector<float> data = m.data;
    if (storage == sextant::index::StorageType::kUint8) {
      for (float& x : data) x = static_cast<float>(static_cast<int>((x + 2) * 50) & 255);
    }
    if (!ix->AddBatch(data, labels).ok()) return 1;
    if (!ix->Save(dir + "/index_" + sextant::index::StorageTypeName(storage) + ".hnsw").ok()) return 1;
  }
  // Vector files: the fuzz target's first byte picks the reader (0 fvecs, 1 bvecs, 3 npy).
  const std::string tmp = dir + "/tmp.fvecs";
  if (!sextant::dataset::WriteFvecs(tmp, m).ok()) return 1;
  FILE* in = std::fopen(tmp.c_str(), "rb");
  std::vector<char> bytes(1 << 16);
  const size_t n = std::fread(bytes.data(), 1, bytes.size(), in);
  std::fclose(in);
  std::remove(tmp.c_str());
  FILE* out = std::fopen((dir + "/vectors_fvecs").c_str(), "wb");
  std::fputc(0, out);
  std::fwrite(bytes.data(), 1, n, out);
  std::fclose(out);
  out = std::fopen((dir + "/vectors_npy").c_str(), "wb");
  const char header[] = "\x93NUMPY\x01\x00\x76\x00{'descr': '<f4', 'fortran_order': False, 'shape': (2, 3), }";
  std::string h(header, sizeof(header) - 1);
  h.resize(127, ' ');  // magic + version + length + dict, padded so the data starts at 128
  h += '\n';
  std::fputc(3, out);
  std::fwrite(h.data(), 1, h.size(), out);
  const float v[6] = {1, 2, 3, 4, 5, 6};
  std::fwrite(v, sizeof v, 1, out);
  std::fclose(out);
  // A small log (wal_reader_fuzz) and a few filters (filter_parse_fuzz).
  {
    auto file = sextant::storage::Env::Default()->NewWritableFile(dir + "/log.wal", false);
    if (!file.ok()) return 1;
    sextant::storage::LogWriter log(file->get());
    for (const char* rec : {"first record", "", "a somewhat longer third record .........."}) {
      if (!log.AddRecord(rec).ok()) return 1;
    }
    (void)(*file)->Close();
  }
  const char* const filters[] = {
      R"({"lang":"en"})",
      R"({"n":{"$gt":1,"$lte":9.5},"tags":{"$contains":"x"}})",
      R"({"$or":[{"a":{"$in":[1,2,"x"]}},{"$not":{"b":{"$exists":true}}}]})",
      R"({"$and":[{"c":{"$ne":true}},{"d":{"$nin":["p","q"]}},{"e.f":{"$lt":"m"}}]})",
  };
  // Request bodies of each kind the server parses (server_request_fuzz), so the fuzzer starts
  // from inside every parser rather than from JSON it has to discover.
  const char* const requests[] = {
      R"({"points":[{"id":"a","vector":[1,0,0.5],"document":"hello","metadata":{"lang":"en","n":1}},)"
      R"({"id":"b","vector":[-1e-3,2.5e2,3]}]})",
      R"({"vector":[0.1,-0.2,3e-1],"k":5,"filter":{"lang":"en"},"include":["document","vector"]})",
      R"({"vector":[1,2,3],"text":"fox","fusion":"weighted","alpha":0.3,"explain":true,"timeout_ms":50})",
      R"({"text":"hello world","k":3,"fusion":"dbsf","rrf_k":60,"vector_weight":1,"text_weight":2})",
      R"({"vector":[1,2,3,4],"nprobe":4,"rerank":20,"ef":64})",
      R"({"dimension":4,"metric":"cosine","index":"ivf-pq","text":true,"analyzer":"standard",)"
      R"("hnsw":{"M":16,"ef_construction":200,"ef_search":64},"quantization":{"nlist":16,"m":2,"nbits":4},)"
      R"("segments":{"seal_points":1000,"merge_factor":4,"compact_deleted_fraction":0.2},"bm25":{"k1":1.2,"b":0.75}})",
      R"({"ids":["a","b"]})",
      R"({"filter":{"n":{"$gte":2}}})",
      R"({"role":"reader","tenant":"acme","database":"prod"})",
      R"({"limit":10,"offset":"p5","filter":{"lang":"fr"}})",
      R"({"snapshot":"nightly"})",
  };
  // Trained segment indexes of each kind (vector_index_load_fuzz).
  {
    auto train = sextant::dataset::GenerateClustered(300, 8, 4, 0.2f, 7);
    std::vector<uint64_t> ids(300);
    for (size_t k = 0; k < ids.size(); ++k) ids[k] = k;
    for (const char* type : {"ivf-flat", "ivf-pq", "pq", "sq8", "hnsw-sq8"}) {
      sextant::index::IndexSpec spec;
      spec.type = type;
      spec.nlist = 4;
      spec.m = 4;
      spec.nbits = std::string(type) == "pq" ? 4 : 8;
      spec.hnsw_M = 4;
      spec.ef_construction = 16;
      auto ix = sextant::index::CreateVectorIndex(8, spec);
      if (!ix.ok() || !(*ix)->Train(train.data).ok() || !(*ix)->Add(train.data, ids).ok() ||
          !(*ix)->Save(dir + "/segment_" + type + ".idx").ok()) {
        return 1;
      }
    }
  }
  // A log record of each kind and a checkpoint (engine_record_fuzz: the first byte picks the
  // decoder, even = a log record with dimension (byte / 2) % 9, odd = a checkpoint whose
  // trailing CRC the target appends itself).
  {
    using sextant::engine::Op;
    std::vector<Op> ops(3);
    ops[0].type = Op::kUpsert;
    ops[0].seq = 7;
    ops[0].points.push_back({"a", {1, 2, 3}, std::string("doc"), {{"k", 1}}});
    ops[0].points.push_back({"b", {0, -1, 0.5f}, std::nullopt, nlohmann::json::object()});
    ops[1].type = Op::kDelete;
    ops[1].seq = 8;
    ops[1].ids = {"a", "zz"};
    ops[2].type = Op::kUpdateMetadata;
    ops[2].seq = 9;
    ops[2].ids = {"b"};
    ops[2].metadata = {{"tag", "x"}, {"n", 2.5}};
    ops[2].merge = true;
    int k = 0;
    for (const Op& op : ops) {
      FILE* o = std::fopen((dir + "/record_" + std::to_string(k++)).c_str(), "wb");
      std::fputc(6, o);  // dimension 3
      const std::string bytes = sextant::engine::EncodeOp(op);
      std::fwrite(bytes.data(), 1, bytes.size(), o);
      std::fclose(o);
    }
    sextant::engine::Checkpoint cp;
    cp.seq = 9;
    cp.dimension = 3;
    for (uint32_t id = 0; id < 3; ++id) {
      sextant::engine::StoredPoint sp;
      sp.internal_id = id;
      sp.segment = id == 2 ? 4 : 0;
      sp.point = {"p" + std::to_string(id), sp.segment ? std::vector<float>{} : std::vector<float>{1, 0, 2},
                  id == 0 ? std::optional<std::string>("text") : std::nullopt, {{"i", id}}};
      cp.points.push_back(sp);
    }
    const std::string bytes = sextant::engine::EncodeCheckpoint(cp);
    FILE* o = std::fopen((dir + "/checkpoint").c_str(), "wb");
    std::fputc(1, o);
    std::fwrite(bytes.data(), 1, bytes.size() - 4, o);  // without its CRC
    std::fclose(o);
  }
  int i = 0;
  for (const char* f : filters) {
    FILE* out2 = std::fopen((dir + "/filter_" + std::to_string(i++) + ".json").c_str(), "wb");
    std::fputs(f, out2);
    std::fclose(out2);
  }
  i = 0;
  for (const char* r : requests) {
    FILE* out2 = std::fopen((dir + "/request_" + std::to_string(i++) + ".json").c_str(), "wb");
    std::fputs(r, out2);
    std::fclose(out2);
  }
  // A small safetensors file with a tensor of each common dtype (safetensors_fuzz), laid out
  // as the format requires: 8-byte header length, JSON header, tensors back to back.
  {
    struct T {
      const char* name;
      const char* dtype;
      std::vector<uint64_t> shape;
      std::string bytes;
    };
    const float f32[6] = {1, -2, 0.5f, 3, 4, 5};
    const uint16_t f16[4] = {0x3C00, 0xC000, 0x0001, 0x7C00};
    const int64_t i64[2] = {7, -1};
    const std::vector<T> tensors = {
        {"embeddings", "F32", {2, 3}, std::string(reinterpret_cast<const char*>(f32), sizeof f32)},
        {"half", "F16", {4}, std::string(reinterpret_cast<const char*>(f16), sizeof f16)},
        {"bf", "BF16", {2}, std::string("\x80\x3f\xa0\xc0", 4)},
        {"q", "I8", {2, 2}, std::string("\x80\x7f\x00\xff", 4)},
        {"mapping", "I64", {2}, std::string(reinterpret_cast<const char*>(i64), sizeof i64)},
        {"empty", "F32", {0, 3}, ""}};
    nlohmann::json h = {{"__metadata__", {{"format", "pt"}}}};
    std::string data;
    for (const T& t : tensors) {
      h[t.name] = {{"dtype", t.dtype}, {"shape", t.shape}, {"data_offsets", {data.size(), data.size() + t.bytes.size()}}};
      data += t.bytes;
    }
    std::string header = h.dump();
    while (header.size() % 8) header += ' ';
    const uint64_t n = header.size();
    std::string file(8, '\0');
    std::memcpy(file.data(), &n, 8);
    file += header + data;
    FILE* o = std::fopen((dir + "/model.safetensors").c_str(), "wb");
    std::fwrite(file.data(), 1, file.size(), o);
    std::fclose(o);
  }
  // Texts for the tokenizer (tokenizer_fuzz): accents, CJK, punctuation, controls, added tokens.
  const char* const texts[] = {
      "The cat sat on the mat, unable!",
      "Caf\xc3\xa9 na\xc3\xafve \xe6\x9d\xb1\xe4\xba\xac \xc4\xb0 \xce\xa3\xcf\x83 [CLS] x[MASK]y \x01\x7f\t\n",
      "\xf0\x9f\xa6\x99 \xe2\x80\x8d\xef\xb8\x8f \xc2\xa0\xe3\x80\x80 ''!!.. aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa",
  };
  i = 0;
  for (const char* t : texts) {
    FILE* out2 = std::fopen((dir + "/text_" + std::to_string(i++) + ".txt").c_str(), "wb");
    std::fputs(t, out2);
    std::fclose(out2);
  }
  return 0;
}
