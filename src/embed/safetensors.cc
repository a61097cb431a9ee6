#include "embed/safetensors.h"

#include <algorithm>
#include <bit>
#include <cstring>
#include <limits>
#include <utility>

#include "common/excerpt.h"
#include "common/json.h"
#include "common/mapped_file.h"

namespace sextant::embed {

static_assert(std::endian::native == std::endian::little,
              "safetensors data is little-endian; this reader copies it as is");

namespace {

struct DTypeEntry {
  const char* name;
  DType dtype;
  size_t size;
};
constexpr DTypeEntry kDTypes[] = {
    {"BOOL", DType::kBool, 1}, {"U8", DType::kU8, 1},     {"I8", DType::kI8, 1},
    {"I16", DType::kI16, 2},   {"U16", DType::kU16, 2},   {"F16", DType::kF16, 2},
    {"BF16", DType::kBF16, 2}, {"I32", DType::kI32, 4},   {"U32", DType::kU32, 4},
    {"F32", DType::kF32, 4},   {"F64", DType::kF64, 8},   {"I64", DType::kI64, 8},
    {"U64", DType::kU64, 8},   {"F8_E5M2", DType::kF8E5M2, 1}, {"F8_E4M3", DType::kF8E4M3, 1},
};

template <typename T>
T Load(const uint8_t* p) {
  T v;
  std::memcpy(&v, p, sizeof v);
  return v;
}

bool IsInteger(DType d) {
  switch (d) {
    case DType::kU8: case DType::kI8: case DType::kI16: case DType::kU16: case DType::kI32:
    case DType::kU32: case DType::kI64: case DType::kU64:
      return true;
    default:
      return false;
  }
}

}  // namespace

const char* DTypeName(DType dtype) {
  for (const auto& e : kDTypes) {
    if (e.dtype == dtype) return e.name;
  }
  return "?";
}

size_t DTypeSize(DType dtype) {
  for (const auto& e : kDTypes) {
    if (e.dtype == dtype) return e.size;
  }
  return 0;
}

float HalfToFloat(uint16_t h) {
  const uint32_t sign = static_cast<uint32_t>(h & 0x8000u) << 16;
  const uint32_t exp = (h >> 10) & 0x1fu;
  uint32_t mant = h & 0x3ffu;
  uint32_t bits;
  if (exp == 0x1f) {
    bits = sign | 0x7f800000u | (mant << 13);  // Inf / NaN (payload kept)
  } else if (exp != 0) {
    bits = sign | ((exp + 112) << 23) | (mant << 13);
  } else if (mant == 0) {
    bits = sign;  // +-0
  } else {
    // Subnormal: shift the mantissa up until its leading 1 is the implicit bit.
    int e = -1;
    do {
      ++e;
      mant <<= 1;
    } while ((mant & 0x400u) == 0);
    bits = sign | (static_cast<uint32_t>(112 - e) << 23) | ((mant & 0x3ffu) << 13);
  }
  return std::bit_cast<float>(bits);
}

SafeTensors::SafeTensors(SafeTensors&&) noexcept = default;
SafeTensors& SafeTensors::operator=(SafeTensors&&) noexcept = default;
SafeTensors::~SafeTensors() = default;

Result<SafeTensors> SafeTensors::Open(const std::string& path) {
  SEXTANT_ASSIGN_OR_RETURN(auto file, MappedFile::Open(path));
  SafeTensors st;
  st.source_ = path;
  const std::string_view bytes(reinterpret_cast<const char*>(file->data()), file->size());
  st.file_ = std::move(file);
  SEXTANT_RETURN_IF_ERROR(st.ParseHeader(bytes));
  return st;
}

Result<SafeTensors> SafeTensors::Parse(std::string_view bytes, std::string source) {
  SafeTensors st;
  st.source_ = std::move(source);
  SEXTANT_RETURN_IF_ERROR(st.ParseHeader(bytes));
  return st;
}

Status SafeTensors::ParseHeader(std::string_view bytes) {
  auto corrupt = [&](const std::string& what) { return Status::Corruption(source_ + ": " + what); };
  if (bytes.size() < 8) {
    return corrupt("not a safetensors file: " + std::to_string(bytes.size()) +
                   " bytes, shorter than the 8-byte header length");
  }
  const uint64_t header_len = Load<uint64_t>(reinterpret_cast<const uint8_t*>(bytes.data()));
  if (header_len > kMaxHeaderBytes) {
    return corrupt("header length " + std::to_string(header_len) + " exceeds the limit of " +
                   std::to_string(kMaxHeaderBytes) + " bytes");
  }
  if (header_len > bytes.size() - 8) {
    return corrupt("header length " + std::to_string(header_len) + " runs past the end of the file (" +
                   std::to_string(bytes.size()) + " bytes)");
  }
  const std::string_view header = bytes.substr(8, header_len);
  if (header.empty() || header[0] != '{') return corrupt("the header is not a JSON object");
  auto parsed = ParseJson(header);
  if (!parsed.ok()) return corrupt("header: " + parsed.status().message());
  const nlohmann::json& j = *parsed;
  if (!j.is_object()) return corrupt("the header is not a JSON object");
  data_ = reinterpret_cast<const uint8_t*>(bytes.data()) + 8 + header_len;
  data_size_ = bytes.size() - 8 - header_len;

  for (const auto& [name, v] : j.items()) {
    if (name == "__metadata__") {
      if (!v.is_object()) return corrupt("__metadata__ is not an object");
      for (const auto& [k, s] : v.items()) {
        if (!s.is_string()) return corrupt("__metadata__ value '" + Excerpt(k) + "' is not a string");
        metadata_[k] = s.get<std::string>();
      }
      continue;
    }
    const std::string what = "tensor '" + Excerpt(name) + "'";
    if (!v.is_object()) return corrupt(what + " is not an object");
    for (const auto& [k, unused] : v.items()) {
      if (k != "dtype" && k != "shape" && k != "data_offsets") {
        return corrupt(what + " has an unknown field '" + Excerpt(k) + "'");
      }
    }
    TensorInfo t;
    t.name = name;
    const auto dt = v.find("dtype");
    if (dt == v.end() || !dt->is_string()) return corrupt(what + " has no string dtype");
    const std::string& dname = dt->get_ref<const std::string&>();
    const DTypeEntry* entry = nullptr;
    for (const auto& e : kDTypes) {
      if (dname == e.name) entry = &e;
    }
    if (entry == nullptr) {
      return Status::InvalidArgument(source_ + ": " + what + " has an unknown dtype '" + Excerpt(dname) + "'");
    }
    t.dtype = entry->dtype;
    const auto sh = v.find("shape");
    if (sh == v.end() || !sh->is_array()) return corrupt(what + " has no shape array");
    uint64_t elements = 1;
    for (const auto& d : *sh) {
      if (!d.is_number_unsigned()) return corrupt(what + " has a shape entry that is not a non-negative integer");
      const uint64_t n = d.get<uint64_t>();
      t.shape.push_back(n);
      if (__builtin_mul_overflow(elements, n, &elements)) return corrupt(what + ": shape overflows");
    }
    t.elements = elements;
    uint64_t bytes_needed;
    if (__builtin_mul_overflow(elements, static_cast<uint64_t>(entry->size), &bytes_needed)) {
      return corrupt(what + ": shape overflows");
    }
    const auto off = v.find("data_offsets");
    if (off == v.end() || !off->is_array() || off->size() != 2 || !(*off)[0].is_number_unsigned() ||
        !(*off)[1].is_number_unsigned()) {
      return corrupt(what + " has no data_offsets [begin, end] of non-negative integers");
    }
    t.begin = (*off)[0].get<uint64_t>();
    t.end = (*off)[1].get<uint64_t>();
    if (t.begin > t.end) {
      return corrupt(what + ": data_offsets begin " + std::to_string(t.begin) + " is after end " +
                     std::to_string(t.end));
    }
    if (t.end > data_size_) {
      return corrupt(what + ": data_offsets end " + std::to_string(t.end) + " runs past the data (" +
                     std::to_string(data_size_) + " bytes)");
    }
    if (t.end - t.begin != bytes_needed) {
      return corrupt(what + ": " + std::to_string(t.end - t.begin) + " bytes of data, but dtype " + dname +
                     " and its shape need " + std::to_string(bytes_needed));
    }
    tensors_.push_back(std::move(t));
  }
  // The tensors must tile the buffer: in offset order, each starts where the previous ended.
  std::sort(tensors_.begin(), tensors_.end(), [](const TensorInfo& a, const TensorInfo& b) {
    return a.begin != b.begin ? a.begin < b.begin : a.end < b.end;
  });
  uint64_t at = 0;
  for (const TensorInfo& t : tensors_) {
    if (t.begin < at) {
      return corrupt("tensor '" + Excerpt(t.name) + "' overlaps the tensor before it (bytes " +
                     std::to_string(t.begin) + "-" + std::to_string(t.end) + ")");
    }
    if (t.begin > at) {
      return corrupt("bytes " + std::to_string(at) + "-" + std::to_string(t.begin) +
                     " of the data belong to no tensor (before tensor '" + Excerpt(t.name) + "')");
    }
    at = t.end;
  }
  if (at != data_size_) {
    return corrupt(std::to_string(data_size_ - at) + " bytes after the last tensor belong to no tensor");
  }
  return Status::OK();
}

const TensorInfo* SafeTensors::Find(std::string_view name) const {
  for (const TensorInfo& t : tensors_) {
    if (t.name == name) return &t;
  }
  return nullptr;
}

Result<const TensorInfo*> SafeTensors::Get(std::string_view name) const {
  if (const TensorInfo* t = Find(name)) return t;
  std::string have;
  for (const TensorInfo& t : tensors_) {
    if (have.size() > 200) {
      have += ", ...";
      break;
    }
    have += (have.empty() ? "" : ", ") + Excerpt(t.name);
  }
  return Status::NotFound(source_ + ": no tensor '" + Excerpt(name) + "' (it has: " +
                          (have.empty() ? "none" : have) + ")");
}

std::span<const uint8_t> SafeTensors::Bytes(const TensorInfo& t) const {
  return {data_ + t.begin, static_cast<size_t>(t.end - t.begin)};
}

Status SafeTensors::ToFloat(const TensorInfo& t, float* out) const {
  const uint8_t* p = data_ + t.begin;
  const size_t n = t.elements;
  switch (t.dtype) {
    case DType::kF32: if (n > 0) std::memcpy(out, p, n * 4); return Status::OK();
    case DType::kF16: for (size_t i = 0; i < n; ++i) out[i] = HalfToFloat(Load<uint16_t>(p + 2 * i)); return Status::OK();
    case DType::kBF16: for (size_t i = 0; i < n; ++i) out[i] = BFloat16ToFloat(Load<uint16_t>(p + 2 * i)); return Status::OK();
    case DType::kF64: for (size_t i = 0; i < n; ++i) out[i] = static_cast<float>(Load<double>(p + 8 * i)); return Status::OK();
    case DType::kI8: for (size_t i = 0; i < n; ++i) out[i] = static_cast<int8_t>(p[i]); return Status::OK();
    case DType::kU8: for (size_t i = 0; i < n; ++i) out[i] = p[i]; return Status::OK();
    case DType::kI16: for (size_t i = 0; i < n; ++i) out[i] = Load<int16_t>(p + 2 * i); return Status::OK();
    case DType::kU16: for (size_t i = 0; i < n; ++i) out[i] = Load<uint16_t>(p + 2 * i); return Status::OK();
    case DType::kI32: for (size_t i = 0; i < n; ++i) out[i] = static_cast<float>(Load<int32_t>(p + 4 * i)); return Status::OK();
    case DType::kU32: for (size_t i = 0; i < n; ++i) out[i] = static_cast<float>(Load<uint32_t>(p + 4 * i)); return Status::OK();
    case DType::kI64: for (size_t i = 0; i < n; ++i) out[i] = static_cast<float>(Load<int64_t>(p + 8 * i)); return Status::OK();
    case DType::kU64: for (size_t i = 0; i < n; ++i) out[i] = static_cast<float>(Load<uint64_t>(p + 8 * i)); return Status::OK();
    default:
      return Status::InvalidArgument(source_ + ": tensor '" + Excerpt(t.name) + "' has dtype " + DTypeName(t.dtype) +
                                     ", which Sextant does not convert to float");
  }
}

Result<std::vector<float>> SafeTensors::ToFloat(std::string_view name) const {
  SEXTANT_ASSIGN_OR_RETURN(const TensorInfo* t, Get(name));
  std::vector<float> out(t->elements);
  SEXTANT_RETURN_IF_ERROR(ToFloat(*t, out.data()));
  return out;
}

Result<std::vector<int64_t>> SafeTensors::ToInt64(std::string_view name) const {
  SEXTANT_ASSIGN_OR_RETURN(const TensorInfo* t, Get(name));
  if (!IsInteger(t->dtype)) {
    return Status::InvalidArgument(source_ + ": tensor '" + Excerpt(t->name) + "' has dtype " +
                                   DTypeName(t->dtype) + ", expected an integer type");
  }
  const uint8_t* p = data_ + t->begin;
  std::vector<int64_t> out(t->elements);
  for (size_t i = 0; i < out.size(); ++i) {
    switch (t->dtype) {
      case DType::kU8: out[i] = p[i]; break;
      case DType::kI8: out[i] = static_cast<int8_t>(p[i]); break;
      case DType::kI16: out[i] = Load<int16_t>(p + 2 * i); break;
      case DType::kU16: out[i] = Load<uint16_t>(p + 2 * i); break;
      case DType::kI32: out[i] = Load<int32_t>(p + 4 * i); break;
      case DType::kU32: out[i] = Load<uint32_t>(p + 4 * i); break;
      case DType::kI64: out[i] = Load<int64_t>(p + 8 * i); break;
      default: {
        const uint64_t u = Load<uint64_t>(p + 8 * i);
        if (u > static_cast<uint64_t>(std::numeric_limits<int64_t>::max())) {
          return Status::Corruption(source_ + ": tensor '" + Excerpt(t->name) + "' element " + std::to_string(i) +
                                    " is out of range");
        }
        out[i] = static_cast<int64_t>(u);
      }
    }
  }
  return out;
}

}  // namespace sextant::embed
