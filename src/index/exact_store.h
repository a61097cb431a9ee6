// ExactStore: the exact float32 vectors of an sq8-f32 HNSW index, held losslessly in three
// bytes per value beside the SQ8 codes the index keeps anyway (3/4 of float32's memory, plus
// about 8 bytes per vector).
//
// A value x whose SQ8 code is c is predicted as p = fma(step, c, lower), the code's centre, and
// stored as the difference key(x) - key(p) of the integers that order like the floats
// (simd::Sq8OrderedKey): within half a code step of p, that is about 2^17 for GloVe-100 (unit
// vectors, 100-d) and fits 24 bits whenever x and p are more than a few steps' worth of
// floats apart from zero. The few values within a step of zero, where floats are dense (about
// one per GloVe-100 vector), store the marker simd::kSq8ResidualEscape and their bits in the
// slot's run of escapes. Decoding (simd::QuantKernels::sq8_residual_decode) gives back the very
// bits that were stored: rankings, GetVector and saved files see the exact vectors.
//
// A slot's row is 3 * dim bytes: dim u16 low halves, then dim i8 high bytes. Rows are stored
// at `rows()` (owned, or a view into a mapped file); each slot's escapes are a run of u32 bit
// patterns in `escapes()` starting at `escape_start()[slot]`, one per marker, in dimension order.
//
// Thread-safety: Put, Release and Reserve need the caller's exclusion from each other and from
// readers (HnswIndex: Put under meta_mu_, the others exclusive); Get and Decode are const and
// may run concurrently with each other.
#pragma once

#include <cstddef>
#include <cstdint>
#include <span>
#include <vector>

#include "index/types.h"
#include "index/vector_codec.h"
#include "sextant/status.h"
#include "simd/quant.h"

namespace sextant::index {

class ExactStore {
 public:
  explicit ExactStore(size_t dim) : dim_(dim) {}

  size_t dim() const { return dim_; }
  size_t row_bytes() const { return 3 * dim_; }

  // The row for value vector `x` (dim floats, finite) whose SQ8 code under `sq8` is `code`
  // (any code works; the nearer, the fewer escapes): writes row_bytes() bytes to `row` and the
  // escaped values' bits to `escaped` (room for dim). Returns how many values escaped.
  static size_t EncodeRow(const VectorCodec& sq8, const uint8_t* code, const float* x,
                          uint8_t* row, uint32_t* escaped);

  // Room for `slots` slots (owned memory; a mapped view is copied first). False when out of
  // memory.
  bool Reserve(size_t slots);
  // Stores a row and its escapes for `slot` (< reserved slots); a previous occupant must have
  // been Released.
  void Put(uint32_t slot, const uint8_t* row, std::span<const uint32_t> escaped);
  // The slot no longer holds a vector: its escapes become garbage, dropped by the next
  // Compact.
  void Release(uint32_t slot);
  // Drops released escapes when they are at least half of all (and many): `live[s]` says
  // which slots of the first `slots` hold vectors.
  void CompactIfWasteful(const std::vector<uint8_t>& live, size_t slots);
  // Rewrites the escapes of the live slots in slot order, without spare capacity (after slots
  // were filled out of order: a batch placing its rows in reserved slots).
  void Compact(const std::vector<uint8_t>& live, size_t slots);

  // Renumbers the first order.size() slots: new slot i holds what slot order[i] held (`live`
  // says which old slots hold vectors; the others' escapes are dropped). False when out of
  // memory (nothing changes then).
  bool Permute(std::span<const uint32_t> order, const std::vector<uint8_t>& live);

  // The exact vector of `slot`, whose SQ8 code under `sq8` is `code`, into `out` (dim floats).
  void Get(const VectorCodec& sq8, uint32_t slot, const uint8_t* code, float* out) const;

  // Save/Load. Rows of the first `slots` slots; escape_start per slot; the escapes.
  const uint8_t* rows() const { return rows_; }
  const std::vector<uint32_t>& escape_start() const { return escape_start_; }
  const std::vector<uint32_t>& escapes() const { return escapes_; }
  // Uses `rows` (slots rows, e.g. in a mapped file, kept alive by the caller) in place until
  // the next Reserve, with the given escapes. Corruption when an escape run is out of bounds
  // for a slot that `live` marks.
  Status Adopt(const uint8_t* rows, size_t slots, std::vector<uint32_t> escape_start,
               std::vector<uint32_t> escapes, const std::vector<uint8_t>& live);

  // Bytes held: owned rows (not a mapped view), escape tables.
  size_t MemoryUsage() const;

 private:
  // Escape markers in a row.
  size_t CountEscapes(const uint8_t* row) const;

  size_t dim_;
  AlignedBuffer owned_;
  uint8_t* rows_ = nullptr;  // owned_.data() or a mapped view
  size_t slots_ = 0;         // rows addressable at rows_
  std::vector<uint32_t> escape_start_;
  std::vector<uint32_t> escapes_;
  size_t dead_escapes_ = 0;  // escapes of released slots still in escapes_
};

}  // namespace sextant::index
