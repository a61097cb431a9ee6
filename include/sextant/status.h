// Status and Result<T>: errors as values for Sextant's core.
//
// A Status is either OK or carries a code and a human-readable message that names what
// was wrong ("query has dimension 12, index has 784"). Result<T> holds a T or a non-OK Status.
// Both are [[nodiscard]]: an ignored error is a compile warning (an error under -Werror).
// Thread-safety: plain values; safe to copy between threads.
#pragma once

#include <cassert>
#include <string>
#include <utility>
#include <variant>

namespace sextant {

enum class StatusCode {
  kOk = 0,
  kInvalidArgument,   // bad input from the caller: wrong dimension, NaN, unknown name
  kNotFound,          // a missing file, id or collection
  kAlreadyExists,
  kOutOfRange,        // a value outside its allowed range (k <= 0, dim too large)
  kFailedPrecondition,  // the object is not in a state for this call (e.g. index not trained)
  kCorruption,        // stored data failed its checksum or format check
  kIOError,           // the operating system refused a read/write/open
  kResourceExhausted, // out of capacity or memory
  kInternal,          // a bug: an invariant did not hold
  kDeadlineExceeded,  // the caller's deadline passed before the work finished (nothing applied)
};

// Returns a stable lower-case name for `code` ("invalid_argument").
const char* StatusCodeName(StatusCode code);

class [[nodiscard]] Status {
 public:
  Status() = default;
  Status(StatusCode code, std::string message) : code_(code), message_(std::move(message)) {}

  static Status OK() { return Status(); }
  static Status InvalidArgument(std::string m) { return {StatusCode::kInvalidArgument, std::move(m)}; }
  static Status NotFound(std::string m) { return {StatusCode::kNotFound, std::move(m)}; }
  static Status AlreadyExists(std::string m) { return {StatusCode::kAlreadyExists, std::move(m)}; }
  static Status OutOfRange(std::string m) { return {StatusCode::kOutOfRange, std::move(m)}; }
  static Status FailedPrecondition(std::string m) {
    return {StatusCode::kFailedPrecondition, std::move(m)};
  }
  static Status Corruption(std::string m) { return {StatusCode::kCorruption, std::move(m)}; }
  static Status IOError(std::string m) { return {StatusCode::kIOError, std::move(m)}; }
  static Status ResourceExhausted(std::string m) {
    return {StatusCode::kResourceExhausted, std::move(m)};
  }
  static Status Internal(std::string m) { return {StatusCode::kInternal, std::move(m)}; }
  static Status DeadlineExceeded(std::string m) {
    return {StatusCode::kDeadlineExceeded, std::move(m)};
  }

  bool ok() const { return code_ == StatusCode::kOk; }
  StatusCode code() const { return code_; }
  const std::string& message() const { return message_; }
  // "invalid_argument: query has dimension 12, index has 784"
  std::string ToString() const;

  // Returns a copy whose message is prefixed with `context` ("base.fvecs: ...").
  Status WithContext(const std::string& context) const;

 private:
  StatusCode code_ = StatusCode::kOk;
  std::string message_;
};

// Holds either a value of type T or a non-OK Status.
template <typename T>
class [[nodiscard]] Result {
 public:
  Result(T value) : v_(std::move(value)) {}  // NOLINT: implicit by design
  Result(Status status) : v_(std::move(status)) {  // NOLINT: implicit by design
    assert(!std::get<Status>(v_).ok() && "Result constructed from an OK status");
  }

  bool ok() const { return std::holds_alternative<T>(v_); }
  const Status& status() const {
    static const Status kOk;
    return ok() ? kOk : std::get<Status>(v_);
  }
  T& value() & { return std::get<T>(v_); }
  const T& value() const& { return std::get<T>(v_); }
  T&& value() && { return std::get<T>(std::move(v_)); }
  T* operator->() { return &value(); }
  const T* operator->() const { return &value(); }
  T& operator*() & { return value(); }
  const T& operator*() const& { return value(); }

 private:
  std::variant<T, Status> v_;
};

}  // namespace sextant

// Propagates a non-OK Status from an expression returning Status.
#define SEXTANT_RETURN_IF_ERROR(expr)          \
  do {                                         \
    ::sextant::Status _st = (expr);            \
    if (!_st.ok()) return _st;                 \
  } while (0)

#define SEXTANT_CONCAT_INNER(a, b) a##b
#define SEXTANT_CONCAT(a, b) SEXTANT_CONCAT_INNER(a, b)
// Assigns the value of a Result expression to `lhs`, or returns its Status.
#define SEXTANT_ASSIGN_OR_RETURN(lhs, expr) \
  SEXTANT_ASSIGN_OR_RETURN_IMPL(SEXTANT_CONCAT(_res_, __LINE__), lhs, expr)
#define SEXTANT_ASSIGN_OR_RETURN_IMPL(tmp, lhs, expr) \
  auto tmp = (expr);                                  \
  if (!tmp.ok()) return tmp.status();                 \
  lhs = std::move(tmp).value()
