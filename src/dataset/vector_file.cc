#include "dataset/vector_file.h"

#include <algorithm>
#include <bit>
#include <cctype>
#include <cfloat>
#include <cmath>
#include <cstdint>
#include <cstring>
#include <limits>
#include <memory>
#include <random>
#include <string_view>
#include <utility>

#include "common/mapped_file.h"

namespace sextant::dataset {

// Both TEXMEX and the .npy dtypes we accept ('<' or '|') are little-endian; we copy bytes
// straight into native values.
static_assert(std::endian::native == std::endian::little,
              "vector_file.cc assumes a little-endian host");

namespace {

using std::to_string;

enum class Format { kFvecs, kBvecs, kIvecs, kNpy };

constexpr const char* kExpectedExtensions = "expected .fvecs, .bvecs, .ivecs or .npy";

Status Invalid(const std::string& path, const std::string& what) {
  return Status::InvalidArgument(path + ": " + what);
}

Result<Format> FormatFromPath(const std::string& path) {
  const size_t dot = path.find_last_of('.');
  const size_t slash = path.find_last_of('/');
  if (dot == std::string::npos || (slash != std::string::npos && dot < slash)) {
    return Invalid(path, std::string("file name has no extension (") + kExpectedExtensions + ")");
  }
  std::string ext = path.substr(dot);
  std::transform(ext.begin(), ext.end(), ext.begin(),
                 [](unsigned char c) { return static_cast<char>(std::tolower(c)); });
  if (ext == ".fvecs") return Format::kFvecs;
  if (ext == ".bvecs") return Format::kBvecs;
  if (ext == ".ivecs") return Format::kIvecs;
  if (ext == ".npy") return Format::kNpy;
  return Invalid(path,
                 "unknown extension '" + path.substr(dot) + "' (" + kExpectedExtensions + ")");
}

// Unaligned little-endian loads (memcpy compiles to a plain load).
template <typename T>
T Load(const uint8_t* p) {
  T v;
  std::memcpy(&v, p, sizeof(T));
  return v;
}

Status CheckMaxRows(const std::string& path, size_t max_rows) {
  if (max_rows == 0) return Invalid(path, "max_rows is 0, so there is nothing to read");
  return Status::OK();
}

// ---------------------------------------------------------------------------------------
// TEXMEX (.fvecs / .bvecs / .ivecs): rows of [int32 dim][dim values].

struct TexmexLayout {
  size_t rows = 0;
  size_t dim = 0;
  size_t row_bytes = 0;  // 4 + dim * element size
};

// Validates the first min(max_rows, all) rows: every row must declare row 0's dimension and
// be complete. Rows past max_rows are not inspected, so a partial read of a huge file touches
// only the pages it returns.
Result<TexmexLayout> ScanTexmex(const MappedFile& file, size_t elem_size, size_t max_rows) {
  const std::string& path = file.path();
  const uint8_t* p = file.data();
  const size_t size = file.size();
  if (size == 0) return Invalid(path, "file is empty");
  if (size < 4) {
    return Invalid(path, "truncated: file has " + to_string(size) +
                             " bytes, too few for the dimension of row 0");
  }
  const int32_t dim0 = Load<int32_t>(p);
  if (dim0 <= 0 || static_cast<size_t>(dim0) > kMaxFileDim) {
    return Invalid(path, "row 0 declares dimension " + to_string(dim0) +
                             " (must be between 1 and " + to_string(kMaxFileDim) + ")");
  }
  TexmexLayout layout;
  layout.dim = static_cast<size_t>(dim0);
  layout.row_bytes = 4 + layout.dim * elem_size;
  size_t offset = 0;
  while (offset < size && layout.rows < max_rows) {
    const size_t left = size - offset;
    if (left < 4) {
      return Invalid(path, "truncated final row " + to_string(layout.rows) + ": only " +
                               to_string(left) + " bytes, too few for its dimension");
    }
    const int32_t dim = Load<int32_t>(p + offset);
    if (dim != dim0) {
      return Invalid(path, "row " + to_string(layout.rows) + " has dimension " + to_string(dim) +
                               ", expected " + to_string(dim0));
    }
    if (left < layout.row_bytes) {
      return Invalid(path, "truncated final row " + to_string(layout.rows) + ": has " +
                               to_string(left - 4) + " bytes of values, expected " +
                               to_string(layout.row_bytes - 4));
    }
    offset += layout.row_bytes;
    ++layout.rows;
  }
  return layout;
}

// ---------------------------------------------------------------------------------------
// .npy: magic, version, header length, a Python dict literal header, then the raw array.

struct NpyDtype {
  ElementType type;
  size_t item_size;
};

struct NpyArray {
  std::string descr;
  NpyDtype dtype;
  size_t rows = 0;
  size_t dim = 0;
  const uint8_t* data = nullptr;  // rows * dim * item_size bytes, C order
};

// Parses the header dict, e.g. {'descr': '<f4', 'fortran_order': False, 'shape': (3, 4), }.
// Only the literal forms numpy writes are accepted: quoted strings, True/False, int tuples.
class NpyHeaderParser {
 public:
  explicit NpyHeaderParser(std::string_view text) : text_(text) {}

  // On success fills descr, fortran_order and shape; the error text excludes the path.
  bool Parse(std::string* descr, bool* fortran_order, std::vector<size_t>* shape) {
    bool have_descr = false, have_order = false, have_shape = false;
    SkipSpace();
    if (!Consume('{')) return Fail("expected '{'");
    while (true) {
      SkipSpace();
      if (Consume('}')) break;
      std::string key;
      if (!ParseString(&key)) return Fail("expected a quoted key");
      SkipSpace();
      if (!Consume(':')) return Fail("expected ':' after key '" + key + "'");
      SkipSpace();
      if (key == "descr") {
        if (Peek() == '[') {
          return Fail("structured dtypes (a list as 'descr') are not supported", true);
        }
        if (!ParseString(descr)) return Fail("expected a quoted string for 'descr'");
        have_descr = true;
      } else if (key == "fortran_order") {
        if (ConsumeWord("True")) {
          *fortran_order = true;
        } else if (ConsumeWord("False")) {
          *fortran_order = false;
        } else {
          return Fail("expected True or False for 'fortran_order'");
        }
        have_order = true;
      } else if (key == "shape") {
        if (!ParseTuple(shape)) return false;
        have_shape = true;
      } else {
        return Fail("unexpected key '" + key + "'");
      }
      SkipSpace();
      if (Consume(',')) continue;
      if (Consume('}')) break;
      return Fail("expected ',' or '}' after the value of '" + key + "'");
    }
    SkipSpace();
    if (pos_ != text_.size()) return Fail("unexpected text after the closing '}'");
    if (!have_descr) return Fail("missing key 'descr'");
    if (!have_order) return Fail("missing key 'fortran_order'");
    if (!have_shape) return Fail("missing key 'shape'");
    return true;
  }

  const std::string& error() const { return error_; }

 private:
  char Peek() const { return pos_ < text_.size() ? text_[pos_] : '\0'; }
  void SkipSpace() {
    while (pos_ < text_.size() && (text_[pos_] == ' ' || text_[pos_] == '\n' ||
                                   text_[pos_] == '\t' || text_[pos_] == '\r')) {
      ++pos_;
    }
  }
  bool Consume(char c) {
    if (Peek() != c) return false;
    ++pos_;
    return true;
  }
  bool ConsumeWord(std::string_view word) {
    if (text_.substr(pos_, word.size()) != word) return false;
    pos_ += word.size();
    return true;
  }
  bool ParseString(std::string* out) {
    const char quote = Peek();
    if (quote != '\'' && quote != '"') return false;
    const size_t end = text_.find(quote, pos_ + 1);
    if (end == std::string_view::npos) return false;
    *out = std::string(text_.substr(pos_ + 1, end - pos_ - 1));
    pos_ = end + 1;
    return true;
  }
  bool ParseTuple(std::vector<size_t>* out) {
    out->clear();
    if (!Consume('(')) return Fail("expected a tuple '(...)' for 'shape'");
    while (true) {
      SkipSpace();
      if (Consume(')')) return true;
      if (Peek() < '0' || Peek() > '9') return Fail("expected a non-negative integer in 'shape'");
      size_t v = 0;
      while (Peek() >= '0' && Peek() <= '9') {
        const size_t digit = static_cast<size_t>(Peek() - '0');
        if (v > (SIZE_MAX - digit) / 10) return Fail("a 'shape' entry is too large");
        v = v * 10 + digit;
        ++pos_;
      }
      Consume('L');  // Python 2 long literal, written by old numpy versions.
      out->push_back(v);
      SkipSpace();
      if (Consume(',')) continue;
      if (Consume(')')) return true;
      return Fail("expected ',' or ')' in 'shape'");
    }
  }
  // `unsupported` marks a well-formed header we choose not to read (not a parse error).
  bool Fail(std::string what, bool unsupported = false) {
    error_ = unsupported
                 ? std::move(what)
                 : "malformed .npy header: " + what + " at header offset " + to_string(pos_);
    return false;
  }

  std::string_view text_;
  size_t pos_ = 0;
  std::string error_;
};

Result<NpyDtype> ParseDtype(const std::string& path, const std::string& descr) {
  std::string_view code = descr;
  char order = '=';
  if (!code.empty() && std::strchr("<>|=", code.front()) != nullptr) {
    order = code.front();
    code.remove_prefix(1);
  }
  NpyDtype dt;
  if (code == "f4") {
    dt = {ElementType::kFloat32, 4};
  } else if (code == "f8") {
    dt = {ElementType::kFloat64, 8};
  } else if (code == "u1") {
    dt = {ElementType::kUint8, 1};
  } else if (code == "i1") {
    dt = {ElementType::kInt8, 1};
  } else if (code == "i4") {
    dt = {ElementType::kInt32, 4};
  } else if (code == "i8") {
    dt = {ElementType::kInt64, 8};
  } else {
    return Invalid(path, "unsupported dtype '" + descr +
                             "' (supported: float32 '<f4', float64 '<f8', uint8 '|u1', "
                             "int8 '|i1', int32 '<i4', int64 '<i8')");
  }
  if (order == '>' && dt.item_size > 1) {
    return Invalid(path, "unsupported dtype '" + descr + "': big-endian " +
                             ElementTypeName(dt.type) + " is not supported, only little-endian");
  }
  return dt;
}

// Maps nothing by itself: returns a view into `file` after validating everything the header
// claims against the file's actual size.
Result<NpyArray> ParseNpy(const MappedFile& file) {
  const std::string& path = file.path();
  const uint8_t* p = file.data();
  const size_t size = file.size();
  if (size == 0) return Invalid(path, "file is empty");
  static constexpr char kMagic[] = "\x93NUMPY";
  if (size < 6 || std::memcmp(p, kMagic, 6) != 0) {
    return Invalid(path, "bad magic: not a .npy file (it must start with \\x93NUMPY)");
  }
  if (size < 8) return Invalid(path, "truncated .npy file: no version bytes");
  const int major = p[6], minor = p[7];
  size_t header_len = 0, header_start = 0;
  if (major == 1) {
    if (size < 10) return Invalid(path, "truncated .npy file: no header length");
    header_len = Load<uint16_t>(p + 8);
    header_start = 10;
  } else if (major == 2 || major == 3) {
    if (size < 12) return Invalid(path, "truncated .npy file: no header length");
    header_len = Load<uint32_t>(p + 8);
    header_start = 12;
  } else {
    return Invalid(path, "unsupported .npy version " + to_string(major) + "." + to_string(minor) +
                             " (supported: 1.x, 2.x, 3.x)");
  }
  if (header_len > size - header_start) {
    return Invalid(path, "truncated .npy header: declares " + to_string(header_len) +
                             " bytes, file has " + to_string(size - header_start) +
                             " after the preamble");
  }
  const std::string_view header_text(reinterpret_cast<const char*>(p + header_start), header_len);

  NpyArray arr;
  bool fortran_order = false;
  std::vector<size_t> shape;
  NpyHeaderParser parser(header_text);
  if (!parser.Parse(&arr.descr, &fortran_order, &shape)) return Invalid(path, parser.error());
  SEXTANT_ASSIGN_OR_RETURN(arr.dtype, ParseDtype(path, arr.descr));
  if (fortran_order) {
    return Invalid(path,
                   "array is in Fortran (column-major) order (fortran_order True); only "
                   "C order is supported (save np.ascontiguousarray(x))");
  }
  if (shape.size() != 2) {
    std::string dims;
    for (size_t i = 0; i < shape.size(); ++i) dims += (i ? ", " : "") + to_string(shape[i]);
    if (shape.size() == 1) dims += ",";
    return Invalid(path, "array is " + to_string(shape.size()) + "-D with shape (" + dims +
                             "); expected a 2-D array of shape (rows, dim)");
  }
  arr.rows = shape[0];
  arr.dim = shape[1];
  if (arr.rows == 0) return Invalid(path, "array has zero rows");
  if (arr.dim == 0 || arr.dim > kMaxFileDim) {
    return Invalid(path, "dimension " + to_string(arr.dim) +
                             " out of range (must be between 1 and " + to_string(kMaxFileDim) +
                             ")");
  }
  const size_t row_bytes = arr.dim * arr.dtype.item_size;  // <= 8 MiB, cannot overflow
  const size_t data_start = header_start + header_len;
  const size_t data_bytes = size - data_start;
  const std::string shape_text =
      "shape (" + to_string(arr.rows) + ", " + to_string(arr.dim) + ") of " + arr.descr;
  if (arr.rows > SIZE_MAX / row_bytes) return Invalid(path, shape_text + " is too large");
  if (arr.rows * row_bytes != data_bytes) {
    return Invalid(path, "data size mismatch: " + shape_text + " needs " +
                             to_string(arr.rows * row_bytes) + " bytes, file has " +
                             to_string(data_bytes) + " after the header");
  }
  arr.data = p + data_start;
  return arr;
}

// Converts n little-endian values of type T at src to float.
template <typename T>
void ConvertToFloat(const uint8_t* src, size_t n, float* dst) {
  for (size_t i = 0; i < n; ++i) dst[i] = static_cast<float>(Load<T>(src + i * sizeof(T)));
}

void ConvertFloat64(const uint8_t* src, size_t n, float* dst) {
  constexpr float kInf = std::numeric_limits<float>::infinity();
  for (size_t i = 0; i < n; ++i) {
    const double v = Load<double>(src + i * sizeof(double));
    // A finite double beyond float's range is undefined behaviour to cast; make it +-inf,
    // which CheckFinite then reports.
    if (std::isfinite(v) && std::fabs(v) > FLT_MAX) {
      dst[i] = v > 0 ? kInf : -kInf;
    } else {
      dst[i] = static_cast<float>(v);
    }
  }
}

Result<FloatMatrix> ReadNpyVectors(const MappedFile& file, size_t max_rows) {
  SEXTANT_ASSIGN_OR_RETURN(NpyArray arr, ParseNpy(file));
  FloatMatrix m;
  m.rows = std::min(arr.rows, max_rows);
  m.dim = arr.dim;
  m.source_type = arr.dtype.type;
  const size_t n = m.rows * m.dim;
  m.data.resize(n);
  switch (arr.dtype.type) {
    case ElementType::kFloat32: std::memcpy(m.data.data(), arr.data, n * sizeof(float)); break;
    case ElementType::kFloat64: ConvertFloat64(arr.data, n, m.data.data()); break;
    case ElementType::kUint8: ConvertToFloat<uint8_t>(arr.data, n, m.data.data()); break;
    case ElementType::kInt8: ConvertToFloat<int8_t>(arr.data, n, m.data.data()); break;
    case ElementType::kInt32: ConvertToFloat<int32_t>(arr.data, n, m.data.data()); break;
    case ElementType::kInt64: ConvertToFloat<int64_t>(arr.data, n, m.data.data()); break;
  }
  return m;
}

Result<IdMatrix> ReadNpyIds(const MappedFile& file, size_t max_rows) {
  SEXTANT_ASSIGN_OR_RETURN(NpyArray arr, ParseNpy(file));
  const ElementType type = arr.dtype.type;
  if (type != ElementType::kInt32 && type != ElementType::kInt64) {
    return Invalid(file.path(), "unsupported dtype '" + arr.descr + "' (" + ElementTypeName(type) +
                                    ") for ids (expected int32 '<i4' or int64 '<i8')");
  }
  IdMatrix m;
  m.rows = std::min(arr.rows, max_rows);
  m.dim = arr.dim;
  const size_t n = m.rows * m.dim;
  m.data.resize(n);
  if (type == ElementType::kInt32) {
    std::memcpy(m.data.data(), arr.data, n * sizeof(int32_t));
    return m;
  }
  for (size_t i = 0; i < n; ++i) {
    const int64_t v = Load<int64_t>(arr.data + i * sizeof(int64_t));
    if (v < std::numeric_limits<int32_t>::min() || v > std::numeric_limits<int32_t>::max()) {
      return Invalid(file.path(), "row " + to_string(i / m.dim) + " column " +
                                      to_string(i % m.dim) + " holds id " + to_string(v) +
                                      ", outside the int32 range");
    }
    m.data[i] = static_cast<int32_t>(v);
  }
  return m;
}

// Serialises rows of T as TEXMEX and writes the file atomically.
template <typename T>
Status WriteTexmex(const std::string& path, size_t rows, size_t dim, const std::vector<T>& data) {
  if (dim == 0 || dim > kMaxFileDim) {
    return Invalid(path, "cannot write dimension " + to_string(dim) + " (must be between 1 and " +
                             to_string(kMaxFileDim) + ")");
  }
  if (rows == 0) return Invalid(path, "nothing to write: the matrix has zero rows");
  if (data.size() != rows * dim) {
    return Invalid(path, "matrix holds " + to_string(data.size()) +
                             " values, expected rows * dim = " + to_string(rows * dim));
  }
  // One buffer and one write: a piece per row would cost two system calls per row.
  const size_t row_bytes = 4 + dim * sizeof(T);
  std::vector<uint8_t> buf(rows * row_bytes);
  const int32_t dim32 = static_cast<int32_t>(dim);
  for (size_t r = 0; r < rows; ++r) {
    uint8_t* out = buf.data() + r * row_bytes;
    std::memcpy(out, &dim32, 4);
    std::memcpy(out + 4, data.data() + r * dim, dim * sizeof(T));
  }
  return WriteFileAtomically(path, {FilePiece{buf.data(), buf.size()}});
}

}  // namespace

const char* ElementTypeName(ElementType t) {
  switch (t) {
    case ElementType::kFloat32: return "float32";
    case ElementType::kFloat64: return "float64";
    case ElementType::kUint8: return "uint8";
    case ElementType::kInt8: return "int8";
    case ElementType::kInt32: return "int32";
    case ElementType::kInt64: return "int64";
  }
  return "unknown";
}

Result<FloatMatrix> ReadVectors(const std::string& path, size_t max_rows) {
  SEXTANT_ASSIGN_OR_RETURN(const Format format, FormatFromPath(path));
  if (format == Format::kIvecs) {
    return Invalid(path,
                   ".ivecs files hold neighbour ids, not vectors (read them with ReadIds; "
                   "vectors come from .fvecs, .bvecs or .npy)");
  }
  SEXTANT_RETURN_IF_ERROR(CheckMaxRows(path, max_rows));
  SEXTANT_ASSIGN_OR_RETURN(const std::unique_ptr<MappedFile> file, MappedFile::Open(path));
  if (format == Format::kNpy) return ReadNpyVectors(*file, max_rows);

  const bool bytes = format == Format::kBvecs;
  SEXTANT_ASSIGN_OR_RETURN(const TexmexLayout layout,
                           ScanTexmex(*file, bytes ? 1 : sizeof(float), max_rows));
  FloatMatrix m;
  m.rows = layout.rows;
  m.dim = layout.dim;
  m.source_type = bytes ? ElementType::kUint8 : ElementType::kFloat32;
  m.data.resize(m.rows * m.dim);
  for (size_t r = 0; r < m.rows; ++r) {
    const uint8_t* src = file->data() + r * layout.row_bytes + 4;
    float* dst = m.data.data() + r * m.dim;
    if (bytes) {
      for (size_t j = 0; j < m.dim; ++j) dst[j] = static_cast<float>(src[j]);
    } else {
      std::memcpy(dst, src, m.dim * sizeof(float));
    }
  }
  return m;
}

Result<IdMatrix> ReadIds(const std::string& path, size_t max_rows) {
  SEXTANT_ASSIGN_OR_RETURN(const Format format, FormatFromPath(path));
  if (format == Format::kFvecs || format == Format::kBvecs) {
    return Invalid(path,
                   "ids are read from .ivecs or .npy files, not from .fvecs/.bvecs "
                   "(read vectors with ReadVectors)");
  }
  SEXTANT_RETURN_IF_ERROR(CheckMaxRows(path, max_rows));
  SEXTANT_ASSIGN_OR_RETURN(const std::unique_ptr<MappedFile> file, MappedFile::Open(path));
  if (format == Format::kNpy) return ReadNpyIds(*file, max_rows);

  SEXTANT_ASSIGN_OR_RETURN(const TexmexLayout layout, ScanTexmex(*file, sizeof(int32_t), max_rows));
  IdMatrix m;
  m.rows = layout.rows;
  m.dim = layout.dim;
  m.data.resize(m.rows * m.dim);
  for (size_t r = 0; r < m.rows; ++r) {
    std::memcpy(m.data.data() + r * m.dim, file->data() + r * layout.row_bytes + 4,
                m.dim * sizeof(int32_t));
  }
  return m;
}

Status CheckFinite(const FloatMatrix& m, const std::string& what) {
  if (m.data.size() != m.rows * m.dim) {
    return Status::InvalidArgument(what + ": matrix holds " + to_string(m.data.size()) +
                                   " values, expected rows * dim = " + to_string(m.rows * m.dim));
  }
  for (size_t i = 0; i < m.data.size(); ++i) {
    const float v = m.data[i];
    if (std::isfinite(v)) continue;
    const char* kind = std::isnan(v) ? "NaN" : (v > 0 ? "+Inf" : "-Inf");
    return Status::InvalidArgument(what + ": row " + to_string(i / m.dim) + " column " +
                                   to_string(i % m.dim) + " is " + kind +
                                   " (vectors must be finite)");
  }
  return Status::OK();
}

Status WriteFvecs(const std::string& path, const FloatMatrix& m) {
  return WriteTexmex(path, m.rows, m.dim, m.data);
}

Status WriteIvecs(const std::string& path, const IdMatrix& m) {
  return WriteTexmex(path, m.rows, m.dim, m.data);
}

FloatMatrix GenerateClustered(size_t n, size_t dim, size_t clusters, float sigma, uint64_t seed) {
  // mt19937_64's output is fixed by the standard; the distributions are not, so the data is
  // reproducible for a given seed and standard library (libstdc++ here).
  std::mt19937_64 rng(seed);
  clusters = std::max<size_t>(clusters, 1);  // zero clusters would leave no centre to draw from
  std::uniform_real_distribution<float> uniform(-1.0f, 1.0f);
  std::normal_distribution<float> normal(0.0f, 1.0f);
  std::uniform_int_distribution<size_t> pick(0, clusters - 1);

  std::vector<float> centres(clusters * dim);
  for (float& c : centres) c = uniform(rng);

  FloatMatrix m;
  m.rows = n;
  m.dim = dim;
  m.source_type = ElementType::kFloat32;
  m.data.resize(n * dim);
  for (size_t i = 0; i < n; ++i) {
    const float* centre = centres.data() + pick(rng) * dim;
    float* out = m.data.data() + i * dim;
    for (size_t j = 0; j < dim; ++j) out[j] = centre[j] + sigma * normal(rng);
  }
  return m;
}

}  // namespace sextant::dataset
