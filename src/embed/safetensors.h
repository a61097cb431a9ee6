// A reader of .safetensors files (the format Hugging Face models ship their weights in):
//
//   [8 bytes: N, little-endian u64] [N bytes: JSON header] [byte buffer]
//
// The header maps each tensor name to {"dtype", "shape", "data_offsets": [begin, end]} (offsets
// into the byte buffer) and may hold a "__metadata__" object of strings. Everything is checked
// before a byte of tensor data is used: the header's length against the file, the JSON (depth,
// duplicate names), each dtype and shape (element count without overflow), each tensor's byte
// range against its shape and the buffer, and that the tensors cover the buffer exactly, in
// order, with no overlap and no hole (as the format requires). Damaged input is a Corruption
// (or, for a dtype Sextant cannot convert, InvalidArgument) Status naming the file and tensor,
// never a crash.
//
// Thread-safety: immutable after Open/Parse; safe to read from many threads.
#pragma once

#include <cstddef>
#include <cstdint>
#include <map>
#include <memory>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "sextant/status.h"

namespace sextant {
class MappedFile;
}

namespace sextant::embed {

// The element types of the format. All are read for layout checks; ToFloat converts F32, F16,
// BF16, F64 and the integer types; ToInt64 converts the integer types.
enum class DType : uint8_t { kBool, kU8, kI8, kI16, kU16, kF16, kBF16, kI32, kU32, kF32, kF64, kI64, kU64, kF8E5M2, kF8E4M3 };

// "F32", "BF16", ... as the header spells it.
const char* DTypeName(DType dtype);
// Bytes per element.
size_t DTypeSize(DType dtype);

struct TensorInfo {
  std::string name;
  DType dtype;
  std::vector<uint64_t> shape;  // empty for a scalar
  uint64_t begin = 0;           // byte range in the byte buffer after the header
  uint64_t end = 0;
  uint64_t elements = 0;        // product of shape (1 for a scalar)
};

class SafeTensors {
 public:
  // Largest header accepted (the reference implementation's bound).
  static constexpr uint64_t kMaxHeaderBytes = 100u << 20;

  // Maps the file at `path` read-only and parses it; the mapping lives as long as the object.
  // Errors: NotFound/IOError from opening; Corruption/InvalidArgument naming `path` and the
  // tensor for a damaged file.
  static Result<SafeTensors> Open(const std::string& path);
  // Parses `bytes`, which must outlive the returned object (tensor data points into them).
  // `source` names the buffer in error messages.
  static Result<SafeTensors> Parse(std::string_view bytes, std::string source = "<memory>");

  SafeTensors(SafeTensors&&) noexcept;
  SafeTensors& operator=(SafeTensors&&) noexcept;
  ~SafeTensors();

  const std::string& source() const { return source_; }
  // The tensors in byte-buffer order.
  const std::vector<TensorInfo>& tensors() const { return tensors_; }
  const std::map<std::string, std::string>& metadata() const { return metadata_; }

  // The tensor called `name`, or nullptr.
  const TensorInfo* Find(std::string_view name) const;
  // As Find, but a missing tensor is NotFound naming the file and the tensors it has.
  Result<const TensorInfo*> Get(std::string_view name) const;
  // The tensor's raw little-endian bytes (t.end - t.begin of them; not necessarily aligned).
  std::span<const uint8_t> Bytes(const TensorInfo& t) const;

  // The tensor's elements as float (integers as their value, F64 rounded). `out` must hold
  // t.elements floats. Errors: InvalidArgument naming the file, tensor and dtype for BOOL and
  // the 8-bit float types.
  Status ToFloat(const TensorInfo& t, float* out) const;
  Result<std::vector<float>> ToFloat(std::string_view name) const;
  // An integer tensor's elements as int64 (U64 above INT64_MAX is Corruption). Errors:
  // InvalidArgument for a float or bool dtype.
  Result<std::vector<int64_t>> ToInt64(std::string_view name) const;

 private:
  SafeTensors() = default;
  Status ParseHeader(std::string_view bytes);

  std::string source_;
  std::unique_ptr<MappedFile> file_;  // when opened from a file
  const uint8_t* data_ = nullptr;     // the byte buffer
  size_t data_size_ = 0;
  std::vector<TensorInfo> tensors_;
  std::map<std::string, std::string> metadata_;
};

// IEEE half and bfloat16 to float (exact).
float HalfToFloat(uint16_t h);
inline float BFloat16ToFloat(uint16_t b) {
  const uint32_t bits = static_cast<uint32_t>(b) << 16;
  float f;
  __builtin_memcpy(&f, &bits, 4);
  return f;
}

}  // namespace sextant::embed
