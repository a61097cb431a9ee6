#include "index/exact_store.h"

#include <algorithm>
#include <cmath>
#include <cstring>

namespace sextant::index {

namespace {

int32_t FloatBits(float f) {
  int32_t b;
  std::memcpy(&b, &f, sizeof b);
  return b;
}

int32_t RowResidual(const uint8_t* row, size_t dim, size_t d) {
  return simd::Sq8Residual(row, reinterpret_cast<const int8_t*>(row + 2 * dim), d);
}

}  // namespace

size_t ExactStore::EncodeRow(const VectorCodec& sq8, const uint8_t* code, const float* x,
                             uint8_t* row, uint32_t* escaped) {
  const size_t dim = sq8.dim();
  const float* lower = sq8.sq8_lower().data();
  const float* step = sq8.sq8_step().data();
  size_t escapes = 0;
  for (size_t d = 0; d < dim; ++d) {
    // The prediction exactly as sq8_residual_decode computes it (fma: one rounding, the same
    // everywhere).
    const float p = simd::Sq8Prediction(lower[d], step[d], code[d]);
    const int64_t r = int64_t{simd::Sq8OrderedKey(FloatBits(x[d]))} -
                      int64_t{simd::Sq8OrderedKey(FloatBits(p))};
    int32_t stored = static_cast<int32_t>(r);
    if (r <= simd::kSq8ResidualEscape || r >= -int64_t{simd::kSq8ResidualEscape}) {
      stored = simd::kSq8ResidualEscape;
      escaped[escapes++] = static_cast<uint32_t>(FloatBits(x[d]));
    }
    const auto lo = static_cast<uint16_t>(static_cast<uint32_t>(stored) & 0xffff);
    std::memcpy(row + 2 * d, &lo, sizeof lo);
    row[2 * dim + d] = static_cast<uint8_t>((static_cast<uint32_t>(stored) >> 16) & 0xff);
  }
  return escapes;
}

bool ExactStore::Reserve(size_t slots) {
  if (slots <= slots_ && rows_ == owned_.data()) return true;
  if (rows_ != nullptr && rows_ != owned_.data()) {  // a mapped view: copy it first
    AlignedBuffer copy;
    if (!copy.Resize(std::max(slots, slots_) * row_bytes())) return false;
    std::memcpy(copy.data(), rows_, slots_ * row_bytes());
    owned_ = std::move(copy);
  } else if (!owned_.Resize(slots * row_bytes())) {
    return false;
  }
  rows_ = owned_.data();
  slots_ = std::max(slots, slots_);
  escape_start_.resize(slots_, 0);
  return true;
}

void ExactStore::Put(uint32_t slot, const uint8_t* row, std::span<const uint32_t> escaped) {
  std::memcpy(rows_ + static_cast<size_t>(slot) * row_bytes(), row, row_bytes());
  escape_start_[slot] = static_cast<uint32_t>(escapes_.size());
  escapes_.insert(escapes_.end(), escaped.begin(), escaped.end());
}

void ExactStore::Release(uint32_t slot) {
  dead_escapes_ += CountEscapes(rows_ + static_cast<size_t>(slot) * row_bytes());
}

void ExactStore::CompactIfWasteful(const std::vector<uint8_t>& live, size_t slots) {
  if (dead_escapes_ < 4096 || 2 * dead_escapes_ < escapes_.size()) return;
  Compact(live, slots);
}

void ExactStore::Compact(const std::vector<uint8_t>& live, size_t slots) {
  std::vector<uint32_t> kept;
  kept.reserve(escapes_.size() - dead_escapes_);
  for (size_t s = 0; s < slots; ++s) {
    if (!live[s]) continue;
    const size_t count = CountEscapes(rows_ + s * row_bytes());
    const uint32_t start = escape_start_[s];
    escape_start_[s] = static_cast<uint32_t>(kept.size());
    kept.insert(kept.end(), escapes_.begin() + start, escapes_.begin() + start + count);
  }
  escapes_ = std::move(kept);
  dead_escapes_ = 0;
}

bool ExactStore::Permute(std::span<const uint32_t> order, const std::vector<uint8_t>& live) {
  AlignedBuffer rows;
  if (!rows.Resize(std::max(slots_, order.size()) * row_bytes())) return false;
  std::vector<uint32_t> start(std::max(slots_, order.size()), 0);
  std::vector<uint32_t> escapes;
  escapes.reserve(escapes_.size() - dead_escapes_);
  for (size_t s = 0; s < order.size(); ++s) {
    const uint32_t from = order[s];
    const uint8_t* row = rows_ + static_cast<size_t>(from) * row_bytes();
    std::memcpy(rows.data() + s * row_bytes(), row, row_bytes());
    start[s] = static_cast<uint32_t>(escapes.size());
    if (!live[from]) continue;
    const size_t count = CountEscapes(row);
    escapes.insert(escapes.end(), escapes_.begin() + escape_start_[from],
                   escapes_.begin() + escape_start_[from] + count);
  }
  owned_ = std::move(rows);
  rows_ = owned_.data();
  slots_ = std::max(slots_, order.size());
  escape_start_ = std::move(start);
  escapes_ = std::move(escapes);
  dead_escapes_ = 0;
  return true;
}

size_t ExactStore::CountEscapes(const uint8_t* row) const {
  size_t n = 0;
  for (size_t d = 0; d < dim_; ++d) n += RowResidual(row, dim_, d) == simd::kSq8ResidualEscape;
  return n;
}

void ExactStore::Get(const VectorCodec& sq8, uint32_t slot, const uint8_t* code, float* out) const {
  const uint8_t* row = rows_ + static_cast<size_t>(slot) * row_bytes();
  const size_t escapes = simd::QuantBest().sq8_residual_decode(
      code, row, reinterpret_cast<const int8_t*>(row + 2 * dim_),
      sq8.sq8_lower().data(), sq8.sq8_step().data(), dim_, out);
  if (escapes == 0) return;
  const uint32_t* value = escapes_.data() + escape_start_[slot];
  for (size_t d = 0; d < dim_; ++d) {
    if (RowResidual(row, dim_, d) == simd::kSq8ResidualEscape) std::memcpy(out + d, value++, sizeof(float));
  }
}

Status ExactStore::Adopt(const uint8_t* rows, size_t slots, std::vector<uint32_t> escape_start,
                         std::vector<uint32_t> escapes, const std::vector<uint8_t>& live) {
  if (escape_start.size() != slots || live.size() < slots) {
    return Status::Corruption("escape table has " + std::to_string(escape_start.size()) +
                              " entries for " + std::to_string(slots) + " slots");
  }
  size_t used = 0;
  for (size_t s = 0; s < slots; ++s) {
    if (!live[s]) continue;
    const size_t count = CountEscapes(rows + s * row_bytes());
    if (escape_start[s] > escapes.size() || count > escapes.size() - escape_start[s]) {
      return Status::Corruption("slot " + std::to_string(s) + "'s escaped values are out of bounds");
    }
    used += count;
  }
  owned_ = AlignedBuffer();
  rows_ = const_cast<uint8_t*>(rows);
  slots_ = slots;
  escape_start_ = std::move(escape_start);
  escapes_ = std::move(escapes);
  dead_escapes_ = escapes_.size() > used ? escapes_.size() - used : 0;
  return Status::OK();
}

size_t ExactStore::MemoryUsage() const {
  return (rows_ == owned_.data() ? owned_.size() : 0) + escape_start_.capacity() * sizeof(uint32_t) +
         escapes_.capacity() * sizeof(uint32_t);
}

}  // namespace sextant::index
