#include "engine/op_codec.h"

#include <cstring>

#include "common/coding.h"
#include "common/crc32c.h"
#include "common/json.h"

namespace sextant::engine {
namespace {

constexpr char kCheckpointMagic[8] = {'S', 'X', 'P', 'O', 'I', 'N', 'T', 'S'};
// Version 1 had one flag for all points (vectors in the file, or all in one index file);
// version 2 names each point's segment. Both are read; version 2 is written.
constexpr uint32_t kCheckpointVersion = 2;

void PutPoint(std::string* out, const PointRef& p, bool with_vector) {
  PutLengthPrefixed(out, p.id);
  out->push_back(p.document.has_value() ? 1 : 0);
  if (p.document) PutLengthPrefixed(out, *p.document);
  PutLengthPrefixed(out, p.metadata->dump());
  if (with_vector) {
    PutVarint64(out, p.vector.size());
    if (!p.vector.empty()) {
      out->append(reinterpret_cast<const char*>(p.vector.data()), p.vector.size() * sizeof(float));
    }
  }
}

bool GetJson(Decoder& d, nlohmann::json* out) {
  std::string_view text;
  if (!d.GetLengthPrefixed(&text)) return false;
  auto parsed = ParseJson(text);
  if (!parsed.ok()) return false;
  *out = std::move(parsed).value();
  return true;
}

bool GetPoint(Decoder& d, Point* p, bool with_vector, size_t dim) {
  std::string_view id;
  uint8_t has_doc;
  if (!d.GetLengthPrefixed(&id) || !d.GetByte(&has_doc)) return false;
  p->id.assign(id);
  if (has_doc > 1) return false;
  if (has_doc) {
    std::string_view doc;
    if (!d.GetLengthPrefixed(&doc)) return false;
    p->document = std::string(doc);
  }
  if (!GetJson(d, &p->metadata)) return false;
  if (with_vector) {
    uint64_t n;
    if (!d.GetVarint64(&n) || n != dim) return false;
    p->vector.resize(n);
    if (!d.GetFloats(p->vector.data(), n)) return false;
  }
  return true;
}

}  // namespace

std::string EncodeUpsert(uint64_t seq, std::span<const PointRef> points) {
  std::string out;
  size_t guess = 32;  // most records are written once: grow the buffer once
  for (const PointRef& p : points) {
    guess += p.id.size() + (p.document ? p.document->size() : 0) + p.vector.size() * sizeof(float) + 24;
  }
  out.reserve(guess);
  out.push_back(static_cast<char>(Op::kUpsert));
  PutVarint64(&out, seq);
  PutVarint64(&out, points.size());
  for (const PointRef& p : points) PutPoint(&out, p, /*with_vector=*/true);
  return out;
}

std::string EncodeOp(const Op& op) {
  if (op.type == Op::kUpsert) {
    std::vector<PointRef> refs;
    refs.reserve(op.points.size());
    for (const Point& p : op.points) refs.push_back(RefOf(p));
    return EncodeUpsert(op.seq, refs);
  }
  std::string out;
  out.push_back(static_cast<char>(op.type));
  PutVarint64(&out, op.seq);
  switch (op.type) {
    case Op::kUpsert:
      break;
    case Op::kDelete:
      PutVarint64(&out, op.ids.size());
      for (const auto& id : op.ids) PutLengthPrefixed(&out, id);
      break;
    case Op::kUpdateMetadata:
      PutLengthPrefixed(&out, op.ids.at(0));
      out.push_back(op.merge ? 1 : 0);
      PutLengthPrefixed(&out, op.metadata.dump());
      break;
  }
  return out;
}

Result<Op> DecodeOp(std::string_view bytes, size_t dimension) {
  Decoder d(bytes);
  Op op;
  uint8_t type;
  uint64_t n;
  auto bad = [](const std::string& why) { return Status::Corruption("malformed log record: " + why); };
  if (!d.GetByte(&type) || !d.GetVarint64(&op.seq)) return bad("truncated header");
  switch (type) {
    case Op::kUpsert:
      op.type = Op::kUpsert;
      if (!d.GetVarint64(&n) || n > bytes.size()) return bad("bad point count");
      op.points.resize(n);
      for (auto& p : op.points) {
        if (!GetPoint(d, &p, true, dimension)) return bad("bad point");
      }
      break;
    case Op::kDelete:
      op.type = Op::kDelete;
      if (!d.GetVarint64(&n) || n > bytes.size()) return bad("bad id count");
      op.ids.resize(n);
      for (auto& id : op.ids) {
        std::string_view s;
        if (!d.GetLengthPrefixed(&s)) return bad("bad id");
        id.assign(s);
      }
      break;
    case Op::kUpdateMetadata: {
      op.type = Op::kUpdateMetadata;
      std::string_view id;
      uint8_t merge;
      if (!d.GetLengthPrefixed(&id) || !d.GetByte(&merge) || !GetJson(d, &op.metadata)) {
        return bad("bad metadata update");
      }
      op.ids.emplace_back(id);
      op.merge = merge != 0;
      break;
    }
    default:
      return bad("unknown type " + std::to_string(type));
  }
  if (!d.done()) return bad("trailing bytes");
  return op;
}

std::string EncodeCheckpoint(const Checkpoint& cp) {
  std::string out(kCheckpointMagic, sizeof kCheckpointMagic);
  PutFixed32(&out, kCheckpointVersion);
  PutFixed32(&out, 0);  // flags: none defined
  PutFixed64(&out, cp.seq);
  PutFixed64(&out, cp.points.size());
  PutFixed32(&out, static_cast<uint32_t>(cp.dimension));
  for (const StoredPoint& sp : cp.points) {
    PutVarint64(&out, sp.internal_id);
    PutVarint64(&out, sp.segment);
    PutFloat(&out, sp.norm);
    PutPoint(&out, RefOf(sp.point), sp.segment == 0 && cp.dimension > 0);
  }
  PutFixed32(&out, Crc32c(out.data(), out.size()));
  return out;
}

Result<Checkpoint> DecodeCheckpoint(std::string_view bytes, const std::string& what) {
  auto bad = [&](const std::string& why) { return Status::Corruption(what + ": " + why); };
  if (bytes.size() < sizeof kCheckpointMagic + 32) return bad("too short to be a checkpoint");
  if (std::memcmp(bytes.data(), kCheckpointMagic, sizeof kCheckpointMagic) != 0) {
    return bad("not a checkpoint file");
  }
  uint32_t stored_crc;
  std::memcpy(&stored_crc, bytes.data() + bytes.size() - 4, 4);
  if (Crc32c(bytes.data(), bytes.size() - 4) != stored_crc) return bad("checksum mismatch");
  Decoder d(bytes.substr(sizeof kCheckpointMagic, bytes.size() - 4 - sizeof kCheckpointMagic));
  uint32_t version, flags, dim;
  uint64_t count;
  Checkpoint cp;
  if (!d.GetFixed32(&version) || !d.GetFixed32(&flags) || !d.GetFixed64(&cp.seq) ||
      !d.GetFixed64(&count) || !d.GetFixed32(&dim)) {
    return bad("truncated header");
  }
  if (version != 1 && version != kCheckpointVersion) {
    return Status::InvalidArgument(what + ": checkpoint format version " + std::to_string(version) +
                                   " is not supported");
  }
  if (count > bytes.size()) return bad("bad point count");
  cp.dimension = dim;
  cp.points.resize(count);
  for (StoredPoint& sp : cp.points) {
    uint64_t internal;
    if (!d.GetVarint64(&internal) || internal > 0xffffffffu) return bad("malformed point record");
    if (version == 1) {
      sp.segment = (flags & 1) || dim == 0 ? 0 : kLegacyIndexSegment;
    } else if (!d.GetVarint64(&sp.segment)) {
      return bad("malformed point record");
    }
    if (!d.GetFloat(&sp.norm) || !GetPoint(d, &sp.point, sp.segment == 0 && dim > 0, dim)) {
      return bad("malformed point record");
    }
    sp.internal_id = static_cast<uint32_t>(internal);
  }
  if (!d.done()) return bad("trailing bytes");
  return cp;
}

}  // namespace sextant::engine
