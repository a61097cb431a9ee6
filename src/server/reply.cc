// Replies of the HTTP server and the one mapping from errors to HTTP statuses.
#include "server/reply.h"

#include "server/server.h"

namespace sextant::server {

int HttpStatusFor(StatusCode code) {
  switch (code) {
    case StatusCode::kOk: return 200;
    case StatusCode::kInvalidArgument: return 422;
    case StatusCode::kOutOfRange: return 422;
    case StatusCode::kNotFound: return 404;
    case StatusCode::kAlreadyExists: return 409;
    case StatusCode::kFailedPrecondition: return 409;
    case StatusCode::kResourceExhausted: return 503;
    case StatusCode::kDeadlineExceeded: return 503;
    case StatusCode::kCorruption:
    case StatusCode::kIOError:
    case StatusCode::kInternal: return 500;
  }
  return 500;
}

Reply Error(int status, const std::string& code, const std::string& message) {
  return Reply(status, nlohmann::json{{"error", {{"code", code}, {"message", message}}}});
}

Reply DeadlineError(const std::string& detail) {
  Reply r = Error(503, "deadline_exceeded",
                  "the request did not finish within its time limit" + (detail.empty() ? "" : " (" + detail + ")"));
  r.headers.emplace_back("Retry-After", "1");
  return r;
}

Reply FromStatus(const Status& st) {
  if (st.code() == StatusCode::kDeadlineExceeded) return DeadlineError(st.message());
  return Error(HttpStatusFor(st.code()), StatusCodeName(st.code()), st.message());
}

Reply FromParseStatus(const Status& st) {
  switch (st.code()) {
    case StatusCode::kResourceExhausted: return Error(413, "payload_too_large", st.message());
    case StatusCode::kOutOfRange: return Error(422, "out_of_range", st.message());
    default: return Error(400, "bad_request", st.message());
  }
}

}  // namespace sextant::server
