#include "cluster/op_log.h"

#include <cstring>

namespace sextant::cluster {
namespace {

void PutU32(std::string& out, uint32_t v) {
  char b[4];
  for (int i = 0; i < 4; ++i) b[i] = static_cast<char>((v >> (8 * i)) & 0xff);
  out.append(b, 4);
}

void PutStr(std::string& out, std::string_view s) {
  PutU32(out, static_cast<uint32_t>(s.size()));
  out.append(s);
}

class Reader {
 public:
  explicit Reader(std::string_view data) : data_(data) {}
  bool U8(uint8_t* v) {
    if (pos_ + 1 > data_.size()) return false;
    *v = static_cast<uint8_t>(data_[pos_++]);
    return true;
  }
  bool U32(uint32_t* v) {
    if (pos_ + 4 > data_.size()) return false;
    *v = 0;
    for (int i = 0; i < 4; ++i) *v |= static_cast<uint32_t>(static_cast<uint8_t>(data_[pos_ + i])) << (8 * i);
    pos_ += 4;
    return true;
  }
  bool Str(std::string* s) {
    uint32_t n = 0;
    if (!U32(&n) || n > data_.size() - pos_) return false;
    s->assign(data_.substr(pos_, n));
    pos_ += n;
    return true;
  }
  bool Floats(std::vector<float>* v, uint32_t n) {
    if (static_cast<uint64_t>(n) * 4 > data_.size() - pos_) return false;
    v->resize(n);
    if (n > 0) std::memcpy(v->data(), data_.data() + pos_, size_t{n} * 4);  // little-endian hosts
    pos_ += size_t{n} * 4;
    return true;
  }
  bool AtEnd() const { return pos_ == data_.size(); }
  size_t pos() const { return pos_; }

 private:
  std::string_view data_;
  size_t pos_ = 0;
};

Result<nlohmann::json> JsonField(const std::string& text, const char* what) {
  auto j = nlohmann::json::parse(text, nullptr, /*allow_exceptions=*/false);
  if (j.is_discarded()) return Status::Corruption(std::string("log record: ") + what + " is not JSON");
  return j;
}

}  // namespace

std::string EncodeOp(const WriteOp& op) {
  std::string out = "SXOP";
  out.push_back(1);
  out.push_back(static_cast<char>(op.kind));
  switch (op.kind) {
    case OpKind::kUpsert:
      PutU32(out, static_cast<uint32_t>(op.points.size()));
      for (const Point& p : op.points) {
        PutStr(out, p.id);
        PutU32(out, static_cast<uint32_t>(p.vector.size()));
        out.append(reinterpret_cast<const char*>(p.vector.data()), p.vector.size() * sizeof(float));
        out.push_back(p.document ? 1 : 0);
        if (p.document) PutStr(out, *p.document);
        PutStr(out, p.metadata.dump());
      }
      break;
    case OpKind::kDelete:
      PutU32(out, static_cast<uint32_t>(op.ids.size()));
      for (const std::string& id : op.ids) PutStr(out, id);
      break;
    case OpKind::kDeleteByFilter: PutStr(out, op.filter.dump()); break;
    case OpKind::kUpdateMetadata:
      PutStr(out, op.id);
      PutStr(out, op.metadata.dump());
      out.push_back(op.merge ? 1 : 0);
      break;
  }
  return out;
}

Result<WriteOp> DecodeOp(std::string_view data) {
  auto bad = [](const std::string& why) { return Status::Corruption("log record: " + why); };
  if (data.size() < 6 || data.substr(0, 4) != "SXOP") return bad("no SXOP header");
  Reader r(data.substr(4));
  uint8_t version = 0, kind = 0;
  if (!r.U8(&version) || version != 1) return bad("unknown version " + std::to_string(version));
  if (!r.U8(&kind)) return bad("truncated");
  WriteOp op;
  switch (kind) {
    case static_cast<uint8_t>(OpKind::kUpsert): {
      op.kind = OpKind::kUpsert;
      uint32_t n = 0;
      if (!r.U32(&n)) return bad("truncated point count");
      for (uint32_t i = 0; i < n; ++i) {
        Point p;
        uint32_t dim = 0;
        uint8_t has_doc = 0;
        std::string meta;
        if (!r.Str(&p.id) || !r.U32(&dim) || !r.Floats(&p.vector, dim) || !r.U8(&has_doc)) {
          return bad("point " + std::to_string(i) + " is truncated");
        }
        if (has_doc > 1) return bad("point " + std::to_string(i) + ": bad document flag");
        if (has_doc) {
          std::string doc;
          if (!r.Str(&doc)) return bad("point " + std::to_string(i) + ": truncated document");
          p.document = std::move(doc);
        }
        if (!r.Str(&meta)) return bad("point " + std::to_string(i) + ": truncated metadata");
        SEXTANT_ASSIGN_OR_RETURN(p.metadata, JsonField(meta, "metadata"));
        op.points.push_back(std::move(p));
      }
      break;
    }
    case static_cast<uint8_t>(OpKind::kDelete): {
      op.kind = OpKind::kDelete;
      uint32_t n = 0;
      if (!r.U32(&n)) return bad("truncated id count");
      for (uint32_t i = 0; i < n; ++i) {
        std::string id;
        if (!r.Str(&id)) return bad("id " + std::to_string(i) + " is truncated");
        op.ids.push_back(std::move(id));
      }
      break;
    }
    case static_cast<uint8_t>(OpKind::kDeleteByFilter): {
      op.kind = OpKind::kDeleteByFilter;
      std::string f;
      if (!r.Str(&f)) return bad("truncated filter");
      SEXTANT_ASSIGN_OR_RETURN(op.filter, JsonField(f, "filter"));
      break;
    }
    case static_cast<uint8_t>(OpKind::kUpdateMetadata): {
      op.kind = OpKind::kUpdateMetadata;
      std::string meta;
      uint8_t merge = 0;
      if (!r.Str(&op.id) || !r.Str(&meta) || !r.U8(&merge) || merge > 1) return bad("truncated metadata update");
      SEXTANT_ASSIGN_OR_RETURN(op.metadata, JsonField(meta, "metadata"));
      op.merge = merge == 1;
      break;
    }
    default: return bad("unknown kind " + std::to_string(kind));
  }
  if (!r.AtEnd()) return bad("trailing bytes after the record");
  return op;
}

Result<size_t> ApplyOp(Collection& collection, const WriteOp& op) {
  switch (op.kind) {
    case OpKind::kUpsert: return collection.Upsert(op.points);
    case OpKind::kDelete: return collection.Delete(op.ids);
    case OpKind::kDeleteByFilter: return collection.DeleteByFilter(op.filter);
    case OpKind::kUpdateMetadata: {
      SEXTANT_RETURN_IF_ERROR(collection.UpdateMetadata(op.id, op.metadata, op.merge));
      return size_t{1};
    }
  }
  return Status::Internal("unknown log record kind");
}

uint32_t ShardOf(std::string_view id, uint32_t shards) {
  uint64_t h = 14695981039346656037ull;  // FNV-1a 64 offset basis
  for (unsigned char c : id) {
    h ^= c;
    h *= 1099511628211ull;
  }
  return shards == 0 ? 0 : static_cast<uint32_t>(h % shards);
}

}  // namespace sextant::cluster
