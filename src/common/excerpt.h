// Excerpt: user-supplied text quoted in an error message, made safe to print.
#pragma once

#include <algorithm>
#include <cstddef>
#include <string>
#include <string_view>

namespace sextant {

// At most `limit` bytes of `s`, control bytes shown as '?', and "..." when it was cut: a damaged
// file or a hostile request can hold anything, and a message must stay one readable line.
inline std::string Excerpt(std::string_view s, size_t limit = 80) {
  std::string out;
  out.reserve(std::min(s.size(), limit) + 3);
  for (char c : s.substr(0, limit)) out += (static_cast<unsigned char>(c) < 0x20 || c == 0x7f) ? '?' : c;
  if (s.size() > limit) out += "...";
  return out;
}

}  // namespace sextant
