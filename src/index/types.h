// Types shared by the vector indexes: search hits, filters, the label map and aligned buffers.
#pragma once

#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <cstring>
#include <sys/mman.h>
#include <functional>
#include <memory>
#include <utility>
#include <vector>

namespace sextant::index {

// One search result: the caller's label and its distance to the query (smaller is closer).
struct SearchHit {
  uint64_t label;
  float distance;
  bool operator==(const SearchHit&) const = default;
};

// Decides which labels a search may return. Filters are applied during the search (a graph
// walk still passes through rejected points but never returns them), so a filtered search
// returns k hits whenever k points pass.
// Thread-safety: Accept must be safe to call concurrently from several searching threads.
class SearchFilter {
 public:
  virtual ~SearchFilter() = default;
  virtual bool Accept(uint64_t label) const = 0;
};

// Accepts the labels whose bit is set; labels beyond the bitset are rejected.
class BitsetFilter final : public SearchFilter {
 public:
  explicit BitsetFilter(size_t num_bits) : words_((num_bits + 63) / 64, 0), num_bits_(num_bits) {}
  void Set(uint64_t label) {
    if (label < num_bits_) words_[label >> 6] |= uint64_t{1} << (label & 63);
  }
  bool Accept(uint64_t label) const override {
    return label < num_bits_ && ((words_[label >> 6] >> (label & 63)) & 1);
  }

 private:
  std::vector<uint64_t> words_;
  size_t num_bits_;
};

// Accepts the labels for which a predicate returns true.
class PredicateFilter final : public SearchFilter {
 public:
  explicit PredicateFilter(std::function<bool(uint64_t)> pred) : pred_(std::move(pred)) {}
  bool Accept(uint64_t label) const override { return pred_(label); }

 private:
  std::function<bool(uint64_t)> pred_;
};

// An open-addressing hash map from 64-bit labels to 32-bit slots (linear probing, backward-shift
// deletion): about 23 bytes per entry, a third of std::unordered_map's.
// Thread-safety: none; callers lock.
class LabelMap {
 public:
  static constexpr uint32_t kAbsent = 0xffffffffu;

  uint32_t Find(uint64_t label) const {
    if (slots_.empty()) return kAbsent;
    for (size_t i = Hash(label) & mask_;; i = (i + 1) & mask_) {
      if (slots_[i].value == kAbsent) return kAbsent;
      if (slots_[i].key == label) return slots_[i].value;
    }
  }
  // Inserts or overwrites.
  void Put(uint64_t label, uint32_t value) {
    if ((size_ + 1) * 10 > slots_.size() * 7) Grow();
    for (size_t i = Hash(label) & mask_;; i = (i + 1) & mask_) {
      if (slots_[i].value == kAbsent) {
        slots_[i] = {label, value};
        ++size_;
        return;
      }
      if (slots_[i].key == label) {
        slots_[i].value = value;
        return;
      }
    }
  }
  bool Erase(uint64_t label) {
    if (slots_.empty()) return false;
    size_t i = Hash(label) & mask_;
    for (;; i = (i + 1) & mask_) {
      if (slots_[i].value == kAbsent) return false;
      if (slots_[i].key == label) break;
    }
    // Backward shift: pull later entries of the probe run into the hole.
    size_t hole = i;
    for (size_t j = (i + 1) & mask_; slots_[j].value != kAbsent; j = (j + 1) & mask_) {
      const size_t home = Hash(slots_[j].key) & mask_;
      // Move j into the hole unless its home lies cyclically in (hole, j].
      const bool home_in_range = hole <= j ? (home > hole && home <= j) : (home > hole || home <= j);
      if (!home_in_range) {
        slots_[hole] = slots_[j];
        hole = j;
      }
    }
    slots_[hole] = Slot{};
    --size_;
    return true;
  }
  size_t size() const { return size_; }
  size_t MemoryUsage() const { return slots_.capacity() * sizeof(Slot); }
  void Reserve(size_t n) {
    while (n * 10 > slots_.size() * 7) Grow();
  }

 private:
  struct Slot {
    uint64_t key = 0;
    uint32_t value = kAbsent;
  };
  static size_t Hash(uint64_t x) {
    x ^= x >> 33;
    x *= 0xff51afd7ed558ccdULL;
    x ^= x >> 33;
    return static_cast<size_t>(x);
  }
  void Grow() {
    std::vector<Slot> old = std::move(slots_);
    slots_.assign(old.empty() ? 16 : old.size() * 2, Slot{});
    mask_ = slots_.size() - 1;
    size_ = 0;
    for (const Slot& s : old) {
      if (s.value != kAbsent) Put(s.key, s.value);
    }
  }
  std::vector<Slot> slots_;
  size_t mask_ = 0;
  size_t size_ = 0;
};

// Asks the kernel to back [p, p + n) with transparent huge pages (a hint; ignored where THP
// is off).
inline void AdviseHugePages(void* p, size_t n) {
#ifdef MADV_HUGEPAGE
  madvise(p, n, MADV_HUGEPAGE);
#else
  (void)p;
  (void)n;
#endif
}

// A 64-byte-aligned, zero-initialised byte buffer that can grow (contents kept).
class AlignedBuffer {
 public:
  AlignedBuffer() = default;
  AlignedBuffer(const AlignedBuffer&) = delete;
  AlignedBuffer& operator=(const AlignedBuffer&) = delete;
  AlignedBuffer(AlignedBuffer&& o) noexcept { *this = std::move(o); }
  AlignedBuffer& operator=(AlignedBuffer&& o) noexcept {
    std::swap(data_, o.data_);
    std::swap(size_, o.size_);
    return *this;
  }
  ~AlignedBuffer() { std::free(data_); }

  // Grows (never shrinks) to `n` bytes. Returns false when memory is exhausted.
  bool Resize(size_t n) {
    if (n <= size_) return true;
    // Large buffers (graph arrays, codes) sit on 2 MiB boundaries and ask for transparent
    // huge pages: a search's random reads then miss the TLB far less often.
    const bool huge = n >= kHugeThreshold;
    const size_t align = huge ? kHugePage : 64;
    const size_t alloc = (n + align - 1) / align * align;
    auto* p = static_cast<uint8_t*>(std::aligned_alloc(align, alloc));
    if (p == nullptr) return false;
    if (huge) AdviseHugePages(p, alloc);
    if (size_ > 0) std::memcpy(p, data_, size_);
    std::memset(p + size_, 0, alloc - size_);
    std::free(data_);
    data_ = p;
    size_ = n;
    return true;
  }
  uint8_t* data() { return data_; }
  const uint8_t* data() const { return data_; }
  static constexpr size_t kHugePage = size_t{2} << 20;
  static constexpr size_t kHugeThreshold = size_t{4} << 20;
  size_t size() const { return size_; }

 private:
  uint8_t* data_ = nullptr;
  size_t size_ = 0;
};

}  // namespace sextant::index
