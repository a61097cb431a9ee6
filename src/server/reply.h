// Replies of the HTTP server and the one mapping from errors to HTTP statuses: every error
// is {"error": {"code": "...", "message": "..."}}, built here.
#pragma once

#include <string>
#include <utility>
#include <vector>

#include <nlohmann/json.hpp>

#include "sextant/status.h"

namespace sextant::server {

// What a handler answers: a JSON body, or (raw_type set) a body sent as is.
struct Reply {
  Reply() = default;
  Reply(int s, nlohmann::json b) : status(s), body(std::move(b)) {}
  int status = 200;
  nlohmann::json body;
  std::vector<std::pair<std::string, std::string>> headers;
  std::string raw;  // when raw_type is set: sent as is with that content type
  std::string raw_type;
};

Reply Error(int status, const std::string& code, const std::string& message);

// A request whose deadline passed (in the queue, or a query between segments): 503
// deadline_exceeded with Retry-After; `detail` is appended in parentheses.
Reply DeadlineError(const std::string& detail = "");

// An error of the database, with the status HttpStatusFor (server.h) gives its code.
Reply FromStatus(const Status& st);

// An error of a request parser (request_codec.h): 400 shape, 413 size, 422 range.
Reply FromParseStatus(const Status& st);

// In a handler: `lhs = value of expr`, or return the error reply of a parser (SX_PARSE) or
// of the database (SX_TRY, SX_TRY_STATUS).
#define SX_PARSE(lhs, expr)                                                                                  \
  auto SEXTANT_CONCAT(_p_, __LINE__) = (expr);                                                               \
  if (!SEXTANT_CONCAT(_p_, __LINE__).ok()) return FromParseStatus(SEXTANT_CONCAT(_p_, __LINE__).status()); \
  lhs = std::move(SEXTANT_CONCAT(_p_, __LINE__)).value()

#define SX_TRY(lhs, expr)                                                                               \
  auto SEXTANT_CONCAT(_t_, __LINE__) = (expr);                                                          \
  if (!SEXTANT_CONCAT(_t_, __LINE__).ok()) return FromStatus(SEXTANT_CONCAT(_t_, __LINE__).status()); \
  lhs = std::move(SEXTANT_CONCAT(_t_, __LINE__)).value()

#define SX_TRY_STATUS(expr)              \
  do {                                   \
    ::sextant::Status _s = (expr);       \
    if (!_s.ok()) return FromStatus(_s); \
  } while (0)

}  // namespace sextant::server
