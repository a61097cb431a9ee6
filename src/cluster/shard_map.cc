#include "cluster/shard_map.h"

#include <algorithm>

namespace sextant::cluster {

using nlohmann::json;

json MetaToJson(const CollectionMeta& meta) {
  return {{"tenant", meta.tenant},   {"database", meta.database},
          {"name", meta.name},       {"uid", meta.uid},
          {"shards", meta.shards},   {"replication_factor", meta.replication_factor},
          {"config", meta.config},   {"replicas", meta.replicas}};
}

Result<CollectionMeta> MetaFromJson(const json& j) {
  auto bad = [](const std::string& why) { return Status::Corruption("collection metadata: " + why); };
  if (!j.is_object()) return bad("not an object");
  CollectionMeta m;
  for (auto [field, out] : {std::pair{"tenant", &m.tenant}, {"database", &m.database}, {"name", &m.name},
                            {"uid", &m.uid}}) {
    auto it = j.find(field);
    if (it == j.end() || !it->is_string()) return bad(std::string("'") + field + "' is not a string");
    *out = it->get<std::string>();
  }
  for (auto [field, out] : {std::pair{"shards", &m.shards}, {"replication_factor", &m.replication_factor}}) {
    auto it = j.find(field);
    if (it == j.end() || !it->is_number_unsigned() || it->get<uint64_t>() == 0 || it->get<uint64_t>() > 1024) {
      return bad(std::string("'") + field + "' is not a count");
    }
    *out = it->get<uint32_t>();
  }
  auto c = j.find("config");
  if (c == j.end() || !c->is_object()) return bad("'config' is not an object");
  m.config = *c;
  auto r = j.find("replicas");
  if (r == j.end() || !r->is_array() || r->size() != m.shards) return bad("'replicas' is not one list per shard");
  for (const json& shard : *r) {
    if (!shard.is_array()) return bad("'replicas' has a shard that is not a list");
    std::vector<std::string> nodes;
    for (const json& n : shard) {
      if (!n.is_string()) return bad("'replicas' names a node that is not a string");
      nodes.push_back(n.get<std::string>());
    }
    m.replicas.push_back(std::move(nodes));
  }
  return m;
}

std::string CollectionKey(const std::string& tenant, const std::string& database, const std::string& name) {
  return "collections." + tenant + "." + database + "." + name;
}

std::string StreamName(const std::string& uid, uint32_t shard) { return "SXLOG_" + uid + "_" + std::to_string(shard); }

std::string StreamSubject(const std::string& uid, uint32_t shard) {
  return "sextant.log." + uid + "." + std::to_string(shard);
}

namespace {

// The least-loaded node of `candidates` not in `exclude` (ties: name order); empty if none.
std::string PickNode(const std::vector<std::string>& candidates, const std::vector<std::string>& exclude,
                     const std::map<std::string, size_t>& load) {
  std::string best;
  size_t best_load = 0;
  for (const std::string& n : candidates) {
    if (std::find(exclude.begin(), exclude.end(), n) != exclude.end()) continue;
    auto it = load.find(n);
    const size_t l = it == load.end() ? 0 : it->second;
    if (best.empty() || l < best_load) {
      best = n;
      best_load = l;
    }
  }
  return best;
}

}  // namespace

std::vector<std::vector<std::string>> AssignReplicas(uint32_t shards, uint32_t replication_factor,
                                                     const std::vector<std::string>& live,
                                                     std::map<std::string, size_t>& load) {
  std::vector<std::string> nodes = live;
  std::sort(nodes.begin(), nodes.end());
  std::vector<std::vector<std::string>> out(shards);
  for (uint32_t s = 0; s < shards; ++s) {
    for (uint32_t r = 0; r < replication_factor; ++r) {
      std::string n = PickNode(nodes, out[s], load);
      if (n.empty()) break;
      ++load[n];
      out[s].push_back(std::move(n));
    }
  }
  return out;
}

std::optional<std::vector<std::vector<std::string>>> RepairReplicas(const CollectionMeta& meta,
                                                                    const std::vector<std::string>& live,
                                                                    const std::set<std::string>& gone,
                                                                    std::map<std::string, size_t>& load) {
  std::vector<std::string> nodes = live;
  std::sort(nodes.begin(), nodes.end());
  auto replicas = meta.replicas;
  bool changed = false;
  for (auto& shard : replicas) {
    for (std::string& node : shard) {
      if (!gone.count(node)) continue;
      std::string n = PickNode(nodes, shard, load);
      if (n.empty()) continue;  // nobody can take it: keep the gone node (it may come back)
      ++load[n];
      if (load[node] > 0) --load[node];
      node = std::move(n);
      changed = true;
    }
    while (shard.size() < meta.replication_factor) {
      std::string n = PickNode(nodes, shard, load);
      if (n.empty()) break;
      ++load[n];
      shard.push_back(std::move(n));
      changed = true;
    }
  }
  if (!changed) return std::nullopt;
  return replicas;
}

std::optional<Move> PlanRebalance(const std::vector<CollectionMeta>& metas, const std::vector<std::string>& live) {
  std::map<std::string, size_t> load;
  for (const std::string& n : live) load[n] = 0;
  for (const CollectionMeta& m : metas) {
    for (const auto& shard : m.replicas) {
      if (shard.size() > m.replication_factor) return std::nullopt;  // a move in progress
      for (const std::string& n : shard) {
        if (load.count(n)) ++load[n];
      }
    }
  }
  if (load.size() < 2) return std::nullopt;
  auto most = load.begin(), least = load.begin();
  for (auto it = load.begin(); it != load.end(); ++it) {
    if (it->second > most->second) most = it;
    if (it->second < least->second) least = it;
  }
  if (most->second < least->second + 2) return std::nullopt;
  std::vector<const CollectionMeta*> sorted;
  for (const CollectionMeta& m : metas) sorted.push_back(&m);
  std::sort(sorted.begin(), sorted.end(), [](const CollectionMeta* a, const CollectionMeta* b) {
    return CollectionKey(a->tenant, a->database, a->name) < CollectionKey(b->tenant, b->database, b->name);
  });
  for (const CollectionMeta* m : sorted) {
    for (uint32_t s = 0; s < m->replicas.size(); ++s) {
      const auto& shard = m->replicas[s];
      const auto has = [&](const std::string& n) { return std::find(shard.begin(), shard.end(), n) != shard.end(); };
      const bool all_live = std::all_of(shard.begin(), shard.end(), [&](const std::string& n) { return load.count(n) > 0; });
      if (all_live && has(most->first) && !has(least->first)) {
        return Move{CollectionKey(m->tenant, m->database, m->name), s, most->first, least->first};
      }
    }
  }
  return std::nullopt;
}

std::optional<std::vector<std::string>> FinishMove(const std::vector<std::string>& shard, uint32_t replication_factor,
                                                   const std::map<std::string, size_t>& load) {
  if (shard.size() <= replication_factor || shard.size() < 2) return std::nullopt;
  size_t drop = 0, drop_load = 0;
  for (size_t i = 0; i + 1 < shard.size(); ++i) {  // the newest (last) stays
    auto it = load.find(shard[i]);
    const size_t l = it == load.end() ? 0 : it->second;
    if (i == 0 || l > drop_load) {
      drop = i;
      drop_load = l;
    }
  }
  std::vector<std::string> out = shard;
  out.erase(out.begin() + static_cast<std::ptrdiff_t>(drop));
  return out;
}

}  // namespace sextant::cluster
