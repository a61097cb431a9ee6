// A point read in place: what the write path validates, logs and applies, whether the caller
// gave Points (Collection::Upsert) or columns (Collection::UpsertColumns), so both take one path
// and write the same log record.
#pragma once

#include <optional>
#include <span>
#include <string_view>

#include <nlohmann/json.hpp>

#include "sextant/database.h"

namespace sextant::engine {

struct PointRef {
  std::string_view id;
  std::span<const float> vector;  // empty: none (text-only, or a document to embed)
  std::optional<std::string_view> document;
  const nlohmann::json* metadata = nullptr;  // never null once built
};

inline PointRef RefOf(const Point& p) {
  PointRef r;
  r.id = p.id;
  r.vector = p.vector;
  if (p.document) r.document = std::string_view(*p.document);
  r.metadata = &p.metadata;
  return r;
}

}  // namespace sextant::engine
