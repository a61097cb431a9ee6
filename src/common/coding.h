// Little-endian binary encoding for log records and checkpoint files: fixed-width integers,
// varints, length-prefixed strings, and a bounds-checked decoder that reports truncation
// as Corruption instead of reading past the end.
#pragma once

#include <cstdint>
#include <cstring>
#include <string>
#include <string_view>

#include "sextant/status.h"

namespace sextant {

inline void PutFixed32(std::string* out, uint32_t v) { out->append(reinterpret_cast<const char*>(&v), 4); }
inline void PutFixed64(std::string* out, uint64_t v) { out->append(reinterpret_cast<const char*>(&v), 8); }
inline void PutFloat(std::string* out, float v) { out->append(reinterpret_cast<const char*>(&v), 4); }
inline void PutVarint64(std::string* out, uint64_t v) {
  while (v >= 0x80) {
    out->push_back(static_cast<char>(v | 0x80));
    v >>= 7;
  }
  out->push_back(static_cast<char>(v));
}
inline void PutLengthPrefixed(std::string* out, std::string_view s) {
  PutVarint64(out, s.size());
  out->append(s.data(), s.size());
}

// Reads values in order from a byte range; every getter fails (and stays failed) once the
// input runs out or holds a malformed varint.
class Decoder {
 public:
  explicit Decoder(std::string_view in) : in_(in) {}

  bool GetFixed32(uint32_t* v) { return GetRaw(v, 4); }
  bool GetFixed64(uint64_t* v) { return GetRaw(v, 8); }
  bool GetFloat(float* v) { return GetRaw(v, 4); }
  bool GetByte(uint8_t* v) { return GetRaw(v, 1); }
  bool GetVarint64(uint64_t* v) {
    uint64_t result = 0;
    for (int shift = 0; shift <= 63 && pos_ < in_.size(); shift += 7) {
      const uint8_t b = static_cast<uint8_t>(in_[pos_++]);
      result |= static_cast<uint64_t>(b & 0x7f) << shift;
      if ((b & 0x80) == 0) {
        *v = result;
        return true;
      }
    }
    ok_ = false;
    return false;
  }
  bool GetLengthPrefixed(std::string_view* s) {
    uint64_t n;
    if (!GetVarint64(&n) || n > in_.size() - pos_) return ok_ = false;
    *s = in_.substr(pos_, n);
    pos_ += n;
    return true;
  }
  bool GetFloats(float* out, size_t n) {
    if (!ok_ || n > (in_.size() - pos_) / 4) return ok_ = false;
    if (n == 0) return true;  // `out` may be null then, and memcpy must not see a null pointer
    std::memcpy(out, in_.data() + pos_, n * 4);
    pos_ += n * 4;
    return true;
  }
  bool ok() const { return ok_; }
  bool done() const { return pos_ == in_.size(); }
  size_t position() const { return pos_; }

 private:
  template <typename T>
  bool GetRaw(T* v, size_t n) {
    if (!ok_ || in_.size() - pos_ < n) return ok_ = false;
    std::memcpy(v, in_.data() + pos_, n);
    pos_ += n;
    return true;
  }
  std::string_view in_;
  size_t pos_ = 0;
  bool ok_ = true;
};

}  // namespace sextant
