#include "filter/payload_index.h"

#include <algorithm>
#include <cmath>
#include <vector>

namespace sextant::filter {
namespace {

using nlohmann::json;

// Keys a filter can name as a top-level field: not empty, not an operator ("$..."), and
// without '.', which a filter path always reads as a step into a nested object.
bool IsIndexableKey(const std::string& key) {
  return !key.empty() && key[0] != '$' && key.find('.') == std::string::npos;
}

bool CanAnswerNode(const FilterNode& n) {
  if (n.kind == FilterNode::Kind::kField) return n.segments.size() == 1;
  for (const FilterNode& c : n.children) {
    if (!CanAnswerNode(c)) return false;
  }
  return true;
}

// Union of `parts`; fastunion merges many bitmaps at once instead of one by one.
Bitmap Union(const std::vector<const Bitmap*>& parts) {
  if (parts.empty()) return Bitmap();
  if (parts.size() == 1) return *parts[0];
  std::vector<const Bitmap*> copy(parts);  // fastunion takes a non-const array of pointers
  return Bitmap::fastunion(copy.size(), copy.data());
}

// Heap bytes of a std::string beyond the object itself (libstdc++ keeps <= 15 chars inline).
size_t StringHeap(const std::string& s) { return s.capacity() > 15 ? s.capacity() + 1 : 0; }

// Compressed contents of a bitmap plus the object; close to what roaring allocates.
size_t BitmapBytes(const Bitmap& b) { return sizeof(Bitmap) + b.getSizeInBytes(false); }

// A red-black tree node's bookkeeping (colour, parent, left, right) besides the value.
constexpr size_t kMapNodeOverhead = 4 * sizeof(void*);

}  // namespace

void PayloadIndex::Insert(uint32_t id, const nlohmann::json& metadata) {
  if (!metadata.is_object()) return;
  for (auto it = metadata.begin(); it != metadata.end(); ++it) {
    if (!IsIndexableKey(it.key())) continue;
    FieldIndex& field = fields_[it.key()];
    auto add_scalar = [&](const json& v) {
      if (v.is_string()) {
        field.strings[v.get_ref<const std::string&>()].add(id);
      } else if (v.is_number()) {
        const Number n = Number::FromJson(v);
        if (!n.is_nan()) field.numbers[n].add(id);  // NaN equals nothing, orders nowhere
      } else if (v.is_boolean()) {
        (v.get<bool>() ? field.trues : field.falses).add(id);
      }
      // null, objects and arrays nested in arrays never equal a scalar operand: only
      // `present` records them.
    };
    const json& value = it.value();
    field.present.add(id);
    if (value.is_array()) {
      field.arrays.add(id);
      for (const json& e : value) add_scalar(e);
    } else {
      add_scalar(value);
    }
  }
}

void PayloadIndex::Erase(uint32_t id, const nlohmann::json& metadata) {
  if (!metadata.is_object()) return;
  for (auto it = metadata.begin(); it != metadata.end(); ++it) {
    auto fit = fields_.find(it.key());
    if (fit == fields_.end()) continue;
    FieldIndex& field = fit->second;
    // Drops `id` from the bitmap under `key` in `map`, and the entry once it is empty.
    auto remove_from = [id](auto& map, const auto& key) {
      auto entry = map.find(key);
      if (entry == map.end()) return;
      entry->second.remove(id);
      if (entry->second.isEmpty()) map.erase(entry);
    };
    auto remove_scalar = [&](const json& v) {
      if (v.is_string()) {
        remove_from(field.strings, v.get_ref<const std::string&>());
      } else if (v.is_number()) {
        const Number n = Number::FromJson(v);
        if (!n.is_nan()) remove_from(field.numbers, n);
      } else if (v.is_boolean()) {
        (v.get<bool>() ? field.trues : field.falses).remove(id);
      }
    };
    const json& value = it.value();
    if (value.is_array()) {
      field.arrays.remove(id);
      for (const json& e : value) remove_scalar(e);
    } else {
      remove_scalar(value);
    }
    field.present.remove(id);
    // Every indexed value of a point is also in `present`, so an empty `present` means the
    // whole field is empty: free it.
    if (field.present.isEmpty()) fields_.erase(fit);
  }
}

bool PayloadIndex::CanAnswer(const Filter& filter) { return CanAnswerNode(filter.root()); }

std::optional<Bitmap> PayloadIndex::Evaluate(const Filter& filter, const Bitmap& universe) const {
  if (!CanAnswer(filter)) return std::nullopt;
  return EvalNode(filter.root(), universe);
}

Bitmap PayloadIndex::EvalNode(const FilterNode& node, const Bitmap& universe) const {
  switch (node.kind) {
    case FilterNode::Kind::kAll: return universe;
    case FilterNode::Kind::kAnd: {
      // Each child only has to look at what survived the previous ones.
      Bitmap acc = EvalNode(node.children[0], universe);
      for (size_t i = 1; i < node.children.size() && !acc.isEmpty(); ++i) {
        acc = EvalNode(node.children[i], acc);
      }
      return acc;
    }
    case FilterNode::Kind::kOr: {
      Bitmap acc;
      for (const FilterNode& c : node.children) acc |= EvalNode(c, universe);
      return acc;
    }
    case FilterNode::Kind::kNot: return universe - EvalNode(node.children[0], universe);
    case FilterNode::Kind::kField: return EvalField(node, universe);
  }
  return Bitmap();
}

Bitmap PayloadIndex::EvalField(const FilterNode& leaf, const Bitmap& universe) const {
  auto it = fields_.find(leaf.path);
  const FieldIndex* field = it == fields_.end() ? nullptr : &it->second;
  switch (leaf.op) {
    case FieldOp::kExists:
      if (field == nullptr) return leaf.exists ? Bitmap() : universe;
      return leaf.exists ? universe & field->present : universe - field->present;
    case FieldOp::kNe:
    case FieldOp::kNin:
      // Mongo: "no element equals", which includes points without the field.
      if (field == nullptr) return universe;
      return universe - Positive(*field, leaf);
    default:
      if (field == nullptr) return Bitmap();
      return universe & Positive(*field, leaf);
  }
}

Bitmap PayloadIndex::Positive(const FieldIndex& field, const FilterNode& leaf) const {
  std::vector<const Bitmap*> parts;
  auto add_equal = [&](const Scalar& s) {
    if (const Number* d = std::get_if<Number>(&s)) {
      auto e = field.numbers.find(*d);
      if (e != field.numbers.end()) parts.push_back(&e->second);
    } else if (const std::string* str = std::get_if<std::string>(&s)) {
      auto e = field.strings.find(*str);
      if (e != field.strings.end()) parts.push_back(&e->second);
    } else {
      parts.push_back(std::get<bool>(s) ? &field.trues : &field.falses);
    }
  };
  // Every entry of `map` in [first, last).
  auto add_range = [&](auto first, auto last) {
    for (; first != last; ++first) parts.push_back(&first->second);
  };
  // Ranges over one ordered map; `key` is the operand of the map's type.
  auto add_ordered = [&](const auto& map, const auto& key) {
    switch (leaf.op) {
      case FieldOp::kGt: add_range(map.upper_bound(key), map.end()); break;
      case FieldOp::kGte: add_range(map.lower_bound(key), map.end()); break;
      case FieldOp::kLt: add_range(map.begin(), map.lower_bound(key)); break;
      case FieldOp::kLte: add_range(map.begin(), map.upper_bound(key)); break;
      default: break;
    }
  };

  switch (leaf.op) {
    case FieldOp::kEq:
    case FieldOp::kNe:
    case FieldOp::kIn:
    case FieldOp::kNin:
      for (const Scalar& s : leaf.values) add_equal(s);
      return Union(parts);
    case FieldOp::kGt:
    case FieldOp::kGte:
    case FieldOp::kLt:
    case FieldOp::kLte:
      if (const Number* d = std::get_if<Number>(&leaf.values[0])) {
        add_ordered(field.numbers, *d);
      } else if (const std::string* str = std::get_if<std::string>(&leaf.values[0])) {
        add_ordered(field.strings, *str);
      }
      return Union(parts);
    case FieldOp::kContains: {
      const std::string* needle = std::get_if<std::string>(&leaf.values[0]);
      add_equal(leaf.values[0]);
      Bitmap equal = Union(parts);  // array element equal, or scalar equal
      if (needle == nullptr) return equal;
      // Substring containment applies to string-valued (non-array) points only.
      parts.clear();
      for (const auto& [key, ids] : field.strings) {
        if (key.find(*needle) != std::string::npos) parts.push_back(&ids);
      }
      Bitmap substring = Union(parts);
      substring -= field.arrays;
      substring |= equal;
      return substring;
    }
    case FieldOp::kExists: break;  // answered by EvalField
  }
  return Bitmap();
}

std::optional<uint64_t> PayloadIndex::EstimateCount(const Filter& filter,
                                                    uint64_t universe_size) const {
  if (!CanAnswer(filter)) return std::nullopt;
  return EstimateNode(filter.root(), universe_size);
}

uint64_t PayloadIndex::EstimateNode(const FilterNode& node, uint64_t universe_size) const {
  const uint64_t u = universe_size;
  switch (node.kind) {
    case FilterNode::Kind::kAll: return u;
    case FilterNode::Kind::kAnd: {
      uint64_t best = u;
      for (const FilterNode& c : node.children) best = std::min(best, EstimateNode(c, u));
      return best;
    }
    case FilterNode::Kind::kOr: {
      uint64_t sum = 0;
      for (const FilterNode& c : node.children) sum = std::min(u, sum + EstimateNode(c, u));
      return sum;
    }
    case FilterNode::Kind::kNot: return u - std::min(u, EstimateNode(node.children[0], u));
    case FilterNode::Kind::kField: break;
  }
  auto it = fields_.find(node.path);
  if (node.op == FieldOp::kExists) {
    const uint64_t have = it == fields_.end() ? 0 : std::min(u, it->second.present.cardinality());
    return node.exists ? have : u - have;
  }
  uint64_t positive = 0;
  if (it != fields_.end()) {
    const FieldIndex& field = it->second;
    auto add = [&](const Bitmap& b) { positive += b.cardinality(); };
    auto add_range = [&](auto first, auto last) {
      for (; first != last; ++first) add(first->second);
    };
    auto add_ordered = [&](const auto& map, const auto& key) {
      switch (node.op) {
        case FieldOp::kGt: add_range(map.upper_bound(key), map.end()); break;
        case FieldOp::kGte: add_range(map.lower_bound(key), map.end()); break;
        case FieldOp::kLt: add_range(map.begin(), map.lower_bound(key)); break;
        case FieldOp::kLte: add_range(map.begin(), map.upper_bound(key)); break;
        default: break;
      }
    };
    for (const Scalar& s : node.values) {
      const bool ranged = node.op == FieldOp::kGt || node.op == FieldOp::kGte ||
                          node.op == FieldOp::kLt || node.op == FieldOp::kLte;
      if (const Number* d = std::get_if<Number>(&s)) {
        if (ranged) {
          add_ordered(field.numbers, *d);
        } else if (auto e = field.numbers.find(*d); e != field.numbers.end()) {
          add(e->second);
        }
      } else if (const std::string* str = std::get_if<std::string>(&s)) {
        if (ranged) {
          add_ordered(field.strings, *str);
        } else if (node.op == FieldOp::kContains) {
          for (const auto& [key, ids] : field.strings) {
            if (key.find(*str) != std::string::npos) add(ids);
          }
        } else if (auto e = field.strings.find(*str); e != field.strings.end()) {
          add(e->second);
        }
      } else {
        add(std::get<bool>(s) ? field.trues : field.falses);
      }
    }
    // Array points can be counted more than once; never more than the points having it.
    positive = std::min(positive, field.present.cardinality());
  }
  positive = std::min(positive, u);
  const bool negated = node.op == FieldOp::kNe || node.op == FieldOp::kNin;
  return negated ? u - positive : positive;
}

uint64_t PayloadIndex::FieldCount(std::string_view field) const {
  auto it = fields_.find(field);
  return it == fields_.end() ? 0 : it->second.present.cardinality();
}

size_t PayloadIndex::MemoryUsage() const {
  size_t bytes = 0;
  for (const auto& [name, field] : fields_) {
    bytes += kMapNodeOverhead + sizeof(std::string) + StringHeap(name) + sizeof(FieldIndex);
    bytes += BitmapBytes(field.present) + BitmapBytes(field.arrays) + BitmapBytes(field.trues) +
             BitmapBytes(field.falses);
    // The FieldIndex already holds one Bitmap object each; count only their contents.
    bytes -= 4 * sizeof(Bitmap);
    for (const auto& [key, ids] : field.strings) {
      bytes += kMapNodeOverhead + sizeof(std::string) + StringHeap(key) + BitmapBytes(ids);
    }
    for (const auto& [key, ids] : field.numbers) {
      bytes += kMapNodeOverhead + sizeof(Number) + BitmapBytes(ids);
    }
  }
  return bytes;
}

}  // namespace sextant::filter
