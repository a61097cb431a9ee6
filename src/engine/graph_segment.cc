#include "engine/graph_segment.h"

namespace sextant::engine {

Result<std::unique_ptr<GraphSegment>> GraphSegment::Write(uint64_t id, std::unique_ptr<index::HnswIndex> graph,
                                                          const std::string& dir, FileWriter* files) {
  std::string file = FileName(id);
  SEXTANT_RETURN_IF_ERROR(graph->Save(dir + "/" + file, files));
  return std::unique_ptr<GraphSegment>(new GraphSegment(id, std::move(graph), std::move(file)));
}

Result<std::unique_ptr<GraphSegment>> GraphSegment::Open(uint64_t id, const std::string& dir,
                                                         const std::string& file, size_t dim,
                                                         index::Metric metric) {
  const std::string path = dir + "/" + file;
  SEXTANT_ASSIGN_OR_RETURN(std::unique_ptr<index::HnswIndex> graph, index::HnswIndex::Load(path));
  if (graph->dim() != dim || graph->options().metric != metric) {
    return Status::Corruption(path + ": segment dimension or metric differs from the collection's");
  }
  return std::unique_ptr<GraphSegment>(new GraphSegment(id, std::move(graph), file));
}

}  // namespace sextant::engine
