#include "server/router.h"

namespace sextant::server {
namespace {

std::vector<std::string_view> SplitPath(std::string_view path) {
  std::vector<std::string_view> out;
  size_t i = 0;
  while (i < path.size()) {
    if (path[i] == '/') {
      ++i;
      continue;
    }
    const size_t end = std::min(path.find('/', i), path.size());
    out.push_back(path.substr(i, end - i));
    i = end;
  }
  return out;
}

bool IsParam(const std::string& segment) {
  return segment.size() >= 2 && segment.front() == '{' && segment.back() == '}';
}

int HexValue(char c) {
  if (c >= '0' && c <= '9') return c - '0';
  if (c >= 'a' && c <= 'f') return c - 'a' + 10;
  if (c >= 'A' && c <= 'F') return c - 'A' + 10;
  return -1;
}

}  // namespace

std::optional<std::string> PercentDecode(std::string_view in) {
  std::string out;
  out.reserve(in.size());
  for (size_t i = 0; i < in.size(); ++i) {
    char c = in[i];
    if (c == '%') {
      if (i + 2 >= in.size()) return std::nullopt;
      const int hi = HexValue(in[i + 1]), lo = HexValue(in[i + 2]);
      if (hi < 0 || lo < 0) return std::nullopt;
      c = static_cast<char>(hi * 16 + lo);
      i += 2;
    }
    if (c == '\0') return std::nullopt;
    out.push_back(c);
  }
  return out;
}

std::map<std::string, std::string> ParseQueryString(std::string_view query) {
  std::map<std::string, std::string> out;
  size_t i = 0;
  while (i <= query.size()) {
    const size_t end = std::min(query.find('&', i), query.size());
    std::string_view piece = query.substr(i, end - i);
    i = end + 1;
    if (piece.empty()) continue;
    const size_t eq = piece.find('=');
    std::string key_raw(piece.substr(0, eq));
    std::string value_raw(eq == std::string_view::npos ? "" : piece.substr(eq + 1));
    for (auto* s : {&key_raw, &value_raw}) {
      for (char& c : *s) {
        if (c == '+') c = ' ';
      }
    }
    auto key = PercentDecode(key_raw);
    auto value = PercentDecode(value_raw);
    if (key && value && !key->empty()) out[*key] = *value;
  }
  return out;
}

int Router::Add(const std::string& method, const std::string& pattern) {
  Route r{method, pattern, {}};
  for (std::string_view s : SplitPath(pattern)) r.segments.emplace_back(s);
  routes_.push_back(std::move(r));
  return static_cast<int>(routes_.size()) - 1;
}

RouteMatch Router::Match(std::string_view method, std::string_view path) const {
  RouteMatch result;
  const std::vector<std::string_view> parts = SplitPath(path);
  // Best candidate: the one with the most literal segments in the earliest positions.
  int best = -1;
  std::vector<bool> best_literals;
  for (size_t r = 0; r < routes_.size(); ++r) {
    const Route& route = routes_[r];
    if (route.segments.size() != parts.size()) continue;
    std::vector<bool> literals(parts.size());
    bool ok = true;
    for (size_t i = 0; i < parts.size() && ok; ++i) {
      literals[i] = !IsParam(route.segments[i]);
      if (literals[i]) ok = route.segments[i] == parts[i];
    }
    if (!ok) continue;
    if (route.method != method) {
      result.allowed_methods.push_back(route.method);
      continue;
    }
    if (best < 0 || literals > best_literals) {  // lexicographic: true (literal) > false
      best = static_cast<int>(r);
      best_literals = std::move(literals);
    }
  }
  if (best < 0) return result;
  const Route& route = routes_[best];
  for (size_t i = 0; i < parts.size(); ++i) {
    if (!IsParam(route.segments[i])) continue;
    auto decoded = PercentDecode(parts[i]);
    if (!decoded || decoded->empty()) {
      result.allowed_methods.clear();
      return result;  // no route: a segment that cannot be a name or id
    }
    result.params[route.segments[i].substr(1, route.segments[i].size() - 2)] = std::move(*decoded);
  }
  result.route = best;
  result.allowed_methods.clear();
  return result;
}

}  // namespace sextant::server
