// Route table of the HTTP server: patterns such as
// "/v1/tenants/{tenant}/databases/{database}/collections/{collection}" matched segment by
// segment against a request path. Parameters are percent-decoded after splitting, so a point
// id may contain "/" when the client encodes it as %2F.
//
// Pure and self-contained (no HTTP library) so that it can be unit-tested and fuzzed.
// Thread-safety: Add must finish before Match is called; Match is const and may run in
// many threads at once.
#pragma once

#include <map>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace sextant::server {

struct RouteMatch {
  int route = -1;  // index given by Add; -1 when no route matched
  // Methods of the routes whose pattern matched the path (for 405 + Allow) when the method
  // did not.
  std::vector<std::string> allowed_methods;
  std::map<std::string, std::string> params;  // {name} -> decoded segment
};

class Router {
 public:
  // Registers `method` (upper case) on `pattern`; returns the route's index. A pattern starts
  // with '/', segments are literals or "{name}".
  int Add(const std::string& method, const std::string& pattern);

  // The route for `method` and `path` (the path part of a request target, without '?').
  // Literal segments win over parameters at the same position. A segment that does not
  // percent-decode cleanly (bad escape, NUL) matches no parameter.
  RouteMatch Match(std::string_view method, std::string_view path) const;

  struct Route {
    std::string method;
    std::string pattern;
    std::vector<std::string> segments;  // "{x}" kept verbatim
  };
  const std::vector<Route>& routes() const { return routes_; }

 private:
  std::vector<Route> routes_;
};

// Percent-decodes `in` ("%2F" -> "/", '+' is kept); nullopt on a malformed escape or NUL.
std::optional<std::string> PercentDecode(std::string_view in);

// Splits "a=1&b=x%20y" into decoded pairs; malformed pieces are skipped.
std::map<std::string, std::string> ParseQueryString(std::string_view query);

}  // namespace sextant::server
